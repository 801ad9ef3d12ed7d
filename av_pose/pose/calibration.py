"""Array ↔ camera self-calibration from motion: the array's yaw on the rig, a mirrored channel order, a wrong preset.

What each kind of motion reveals (array frame REP-103; the default mount has array x = camera forward):
- A turn by ψ about the array's z axis moves every far source's azimuth by −ψ, *whatever the array's yaw offset
  Y on the rig* (rotations about one axis commute). So turning alone cannot reveal Y. It does reveal a mirrored
  channel order (a reflection θ → −θ, also what an upside-down ring gives): the DOA spectrum then shifts by +ψ.
  And it reveals a wrong preset or channel permutation: the spectra then follow neither ±ψ. The test is the
  median ratio of spectrum shift (`audio_yaw.circular_shift`) to visual yaw over view pairs `turn_gap_s` apart:
  about +1 as wired (less where reflections and array artefacts stay put), −1 mirrored, about 0 otherwise.
- Translation reveals Y. After removing the rotation, a static source's bearing drifts with the rig's travel by
  about (baseline / range)·sin(θ − φ), φ being the travel direction in the array frame, i.e. the camera's travel
  direction (vision) turned by the unknown mount. Globally: with the rig's path and the right Y, the world
  bearings of a static source all meet at one point. That is what is solved here: bearing-only triangulation of
  the DOA peaks along the visual path, jointly for Y and the source positions (a Hough vote over Y and the
  horizontal plane, then robust least squares), with a jackknife over time blocks for Y's uncertainty.

Inputs per pair of views a → b: the visual relative pose (R_a_b, t_a_b, camera optical frames, from
`av_pose.vision.two_view`) and the DOA of both audio windows (`av_pose.audio.streaming.DoaFrame`). Pairs chain
into a path when a pair's view a is an earlier pair's view b (same stamp): consecutive keyframes do. What t_a_b's
length means is set by `translation` ('direction', 'scaled' by monocular scale chaining, or 'metric').

Limits, measured on ShoeboxAV (`av-pose synth`, 20 s, see test_calibration.py): the turn test is reliable; the
yaw is not. A constant DOA bias is indistinguishable from a yaw offset, and NormMUSIC is biased by a few degrees
in these rooms; worse, the monocular path (translation directions off by 10–30° at 256×192, unknown speeds) is
too wrong for triangulation, so the yaw is mostly reported as not observable. With the true (metric) path and
the true bearings plus 3° of random error, 20 s of travel gave yaw errors of 2° and 15° on two scenes with static
sources; the solver itself is exact (≤ 0.1°) on exact bearings. Sources must be static (moving ones end up as
outliers) and the array plane near horizontal.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import least_squares

from av_pose.audio.arrays import MicArray
from av_pose.audio.mount import mirror_channel_order
from av_pose.audio.streaming import DoaFrame
from av_pose.errors import UserInputError
from av_pose.geometry import R_CAM_ARRAY_DEFAULT, array_mount, rotation_from_ypr
from av_pose.metrics.azimuth import wrap_signed_deg
from av_pose.pose.audio_yaw import circular_shift

UNOBSERVABLE_STD_DEG = 180.0
"""yaw_std_deg reported when the recording does not determine the yaw (no translation, no static source)."""
TRANSLATION_KINDS = ('direction', 'scaled', 'metric')
"""What t_a_b's length means in `OnlineMountCalibrator.add_pair` (see its `translation` argument)."""
MAX_OBSERVABLE_STD_DEG = 20.0
"""Above this yaw_std_deg the yaw counts as not observable (`MountCalibration.observable` False)."""


@dataclass(frozen=True)
class MountCalibration:
    """What a recording says about the array's mounting (see the module docstring).

    Attributes:
        yaw_offset_deg: yaw Y (degrees, (−180, 180]) of the array about its own z axis from the default mount,
            as `av-pose synth --array-rpy 0 0 Y` sets it; of the channel-reordered array when `mirrored`.
            The best guess even when not observable; 0 when nothing could be fitted.
        yaw_std_deg: 1-σ of Y (degrees): the larger of a time-block jackknife spread and the spread of the yaw's
            likelihood profile; UNOBSERVABLE_STD_DEG when nothing could be fitted.
        observable: yaw_std_deg ≤ MAX_OBSERVABLE_STD_DEG: False when the recording does not determine Y (too
            little translation, no static source, a wrong preset, or a path too uncertain).
        mirrored: the DOA spectra shift with the turns instead of against them (mirrored wiring or an
            upside-down array).
        preset_ok: the spectra shift rigidly with the turns (under ±ψ); None when too few turning pairs.
        pairs_used: pairs added (vision ok). turning_pairs: those that turned ≥ min_turn_deg with directional
            sound, used for `mirrored` and `preset_ok`. rays_used: DOA bearings the final fit kept.
        sources: static sources the triangulation found.
        shift_slope: median over turning view pairs of (DOA spectrum shift / visual yaw): about +1 for a well
            wired preset (less where part of the spectrum stays put: reflections, array artefacts), −1 mirrored,
            about 0 when the spectra do not follow the turns (wrong preset or channel permutation).
        channel_order: when mirrored, the permutation that undoes it (`av_pose.audio.mount`), else None.
        message: one line for people.
    """

    yaw_offset_deg: float
    yaw_std_deg: float
    observable: bool
    mirrored: bool
    preset_ok: bool | None
    pairs_used: int
    turning_pairs: int
    rays_used: int
    sources: int
    shift_slope: float
    channel_order: list[int] | None = None
    message: str = ''
    diagnostics: dict = field(default_factory=dict, repr=False, compare=False)
    """For plots, not in `to_dict`: 'turns' T×2 (visual yaw, spectrum shift) in degrees, and when the yaw was
    solved 'profile_yaw_deg' / 'profile_likelihood'."""

    def T_cam_array(self, offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
        """4×4 mount with the calibrated yaw (array centre at `offset_m` in the camera optical frame)."""
        return array_mount(offset_m, (0.0, 0.0, self.yaw_offset_deg))

    def to_dict(self) -> dict:
        """JSON-able form (NaN → None)."""
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()
                if k != 'diagnostics'}


@dataclass
class _View:
    stamp_s: float
    segment: int
    R_origin: np.ndarray       # 3×3: this view's default-array frame → its segment's first one
    position: np.ndarray       # (3,) in the segment's first default-array frame, path units
    spectrum: np.ndarray       # 360 DOA spectrum
    azimuths_deg: np.ndarray   # K DOA peaks
    weights: np.ndarray        # K confidences, 0 for unusable peaks
    directional: bool          # the strongest peak is confident enough for the shift test


@dataclass(frozen=True)
class _Rays:
    """Bearings of the DOA peaks of the views, M of them (see `_refine` for how they are used)."""

    origin: np.ndarray     # M×3 view positions in their segment's first default-array frame (path units)
    R_origin: np.ndarray   # M×3×3 view's default-array frame → segment's first one
    azimuth: np.ndarray    # M degrees, array frame, mirror-corrected
    weight: np.ndarray     # M DOA confidences
    segment: np.ndarray    # M segment ids
    block: np.ndarray      # M time blocks (0..9) for the jackknife

    def subset(self, keep: np.ndarray) -> _Rays:
        """The rays where `keep` is True."""
        return _Rays(*(getattr(self, name)[keep] for name in ('origin', 'R_origin', 'azimuth', 'weight', 'segment',
                                                                'block')))

    def world_angles(self, yaw_deg: float, index=slice(None)) -> np.ndarray:
        """Horizontal angle (radians, segment frame) of each bearing for the mount yaw `yaw_deg`."""
        theta = np.radians(self.azimuth[index])
        local = np.stack([np.cos(theta), np.sin(theta), np.zeros_like(theta)], axis=-1)
        direction = np.einsum('mij,mj->mi', self.R_origin[index] @ rotation_from_ypr(np.radians(yaw_deg), 0, 0),
                              local)
        return np.arctan2(direction[:, 1], direction[:, 0])


class OnlineMountCalibrator:
    """Accumulates visual pairs and their DOA, and solves for the mount on demand (`result()`).

    The same object serves `av-pose calibrate` (all pairs of a recording, then one result) and `pose_node`
    (`calibrate_array: true`: a pair per keyframe, a result now and then for diagnostics; `result()` takes
    1–4 s of one CPU core for 40 views with two DOA peaks each, so call it from a slow timer, not per pair).

    Args:
        array: the microphone array as configured (for the channel order that undoes a mirror); optional.
        max_history_s: views older than this (before the newest) are forgotten.
        turn_gap_s: views this far apart (along chained pairs) are compared for the mirror and preset tests.
        min_turn_deg: view pairs turning less are not used for those tests.
        min_confidence: DOA peaks below this confidence are ignored (and windows whose strongest peak is
            below it take no part in the shift test).
        bearing_sigma_deg: scale of the robust bearing residuals (degrees).
        min_shift_slope: the preset is accepted when |shift_slope| is at least this.
        translation: what t_a_b's length means. 'direction': nothing (the rig is taken to move at one path unit
            per second while vision sees a translation); 'scaled': a relative length (monocular scale chaining,
            `relative_scale`); 'metric': the distance travelled from a trusted source (wheel odometry, ground
            truth). Only a metric path lets small bearing residuals narrow the yaw's uncertainty below what
            σ = bearing_sigma_deg gives, since monocular paths can be wrong in ways the bearings absorb.
        evidence_temperature: the yaw's likelihood is exp(−Δcost / this): > 1 because neighbouring DOA windows
            overlap and the path is approximate; 5 makes the reported σ match the errors met on ShoeboxAV scenes.
    """

    def __init__(self, array: MicArray | None = None, *, max_history_s: float = 120.0, turn_gap_s: float = 2.0,
                 min_turn_deg: float = 5.0, min_confidence: float = 0.2, bearing_sigma_deg: float = 5.0,
                 min_shift_slope: float = 0.2, translation: str = 'direction',
                 evidence_temperature: float = 5.0) -> None:
        self.array = array
        self.max_history_s = float(max_history_s)
        self.turn_gap_s = float(turn_gap_s)
        self.min_turn_deg = float(min_turn_deg)
        self.min_confidence = float(min_confidence)
        self.bearing_sigma_deg = float(bearing_sigma_deg)
        self.min_shift_slope = float(min_shift_slope)
        if translation not in TRANSLATION_KINDS:
            raise UserInputError(f'translation must be one of {", ".join(TRANSLATION_KINDS)}, got {translation!r}')
        self.translation = translation
        self.evidence_temperature = max(1.0, float(evidence_temperature))
        self.reset()

    def reset(self) -> None:
        """Forget everything."""
        self._views: dict[int, _View] = {}
        self._segments = 0
        self.pairs_used = 0

    @staticmethod
    def _key(stamp_s: float) -> int:
        return int(round(stamp_s * 1e4))  # views are matched by stamp to 0.1 ms

    def _view(self, doa: DoaFrame, segment: int, R_origin: np.ndarray, position: np.ndarray) -> _View:
        azimuths = np.asarray(doa.azimuths_deg, dtype=np.float64).reshape(-1)
        confidence = np.asarray(doa.confidence, dtype=np.float64).reshape(-1)
        usable = np.isfinite(azimuths) & np.isfinite(confidence) & (confidence >= self.min_confidence)
        return _View(float(doa.stamp_s), segment, R_origin, position, np.asarray(doa.spectrum, dtype=np.float64),
                     np.where(usable, azimuths, 0.0), np.where(usable, confidence, 0.0),
                     bool(usable.size and usable[0]))

    def add_pair(self, R_a_b: np.ndarray, t_a_b: np.ndarray | None, doa_a: DoaFrame, doa_b: DoaFrame, *,
                 translation_ok: bool | None = None) -> None:
        """Add one pair of views a (earlier) → b whose visual pose is known (add nothing when vision failed).

        Args:
            R_a_b: 3×3 visual rotation, camera b → camera a (OpenCV optical frames).
            t_a_b: (3,) direction of camera b's origin in camera a (any length), or None / zeros when unknown.
            doa_a: DOA of the audio window centred on view a (its stamp is view a's time, seconds).
            doa_b: the same for view b.
            translation_ok: whether vision saw a translation; default: t_a_b is given and non-zero.
        """
        R_a_b = np.asarray(R_a_b, dtype=np.float64)
        t = np.zeros(3) if t_a_b is None else np.asarray(t_a_b, dtype=np.float64).reshape(3)
        length = float(np.linalg.norm(t)) if np.all(np.isfinite(t)) else 0.0
        moved = (length > 1e-9 if translation_ok is None else bool(translation_ok)) and length > 1e-9
        self.pairs_used += 1
        start = self._views.get(self._key(doa_a.stamp_s))
        if start is None:  # not chained to an earlier pair: a new segment (its own frame and sources)
            start = self._view(doa_a, self._segments, np.eye(3), np.zeros(3))
            self._views[self._key(doa_a.stamp_s)] = start
            self._segments += 1
        step = 0.0
        if moved:
            distance = doa_b.stamp_s - doa_a.stamp_s if self.translation == 'direction' else length
            step = start.R_origin @ (R_CAM_ARRAY_DEFAULT.T @ t) * (distance / length)
        R_da_db = R_CAM_ARRAY_DEFAULT.T @ R_a_b @ R_CAM_ARRAY_DEFAULT
        self._views[self._key(doa_b.stamp_s)] = self._view(doa_b, start.segment, start.R_origin @ R_da_db,
                                                           start.position + step)
        newest = max(view.stamp_s for view in self._views.values())
        for key in [k for k, v in self._views.items() if v.stamp_s < newest - self.max_history_s]:
            del self._views[key]

    # ------------------------------------------------------------------------------------------- result
    def _turns(self) -> np.ndarray:
        """T×2 (visual yaw, audio spectrum shift) in degrees of view pairs about `turn_gap_s` apart that turned."""
        views = sorted(self._views.values(), key=lambda v: v.stamp_s)
        rows = []
        for i, view in enumerate(views):
            later = [v for v in views[i + 1:] if v.segment == view.segment and v.directional
                     and v.stamp_s - view.stamp_s >= 0.5 * self.turn_gap_s]
            if not view.directional or not later:
                continue
            partner = min(later, key=lambda v: abs(v.stamp_s - view.stamp_s - self.turn_gap_s))
            R = view.R_origin.T @ partner.R_origin   # default-array frame of the partner → that of `view`
            visual = float(np.degrees(np.arctan2(R[1, 0], R[0, 0])))
            if abs(visual) >= self.min_turn_deg:
                shift, _ = circular_shift(view.spectrum, partner.spectrum)
                rows.append((visual, float(np.ravel(shift)[0])))
        return np.array(rows, dtype=np.float64).reshape(-1, 2)

    def _shift_test(self, turns: np.ndarray) -> tuple[bool, bool | None, float]:
        """(mirrored, preset_ok, shift slope): do the spectra follow the turns (slope +1), mirror them (−1) or not."""
        if len(turns) < 3:
            return False, None, float('nan')
        visual, audio = turns.T
        slope = float(np.median(np.clip(audio / visual, -3.0, 3.0)))  # audio_yaw's shift is the rig yaw itself
        return slope <= -self.min_shift_slope, abs(slope) >= self.min_shift_slope, slope

    def _rays(self, mirrored: bool) -> _Rays | None:
        views = sorted(self._views.values(), key=lambda v: v.stamp_s)
        rows = [(v, k) for v in views for k in range(len(v.weights)) if v.weights[k] > 0]
        if not rows:
            return None
        stamps = np.array([v.stamp_s for v, _ in rows])
        edges = np.linspace(stamps.min(), stamps.max() + 1e-9, 11)
        sign = -1.0 if mirrored else 1.0
        return _Rays(origin=np.array([v.position for v, _ in rows]), R_origin=np.array([v.R_origin for v, _ in rows]),
                     azimuth=np.array([sign * v.azimuths_deg[k] for v, k in rows]),
                     weight=np.array([v.weights[k] for v, k in rows]), segment=np.array([v.segment for v, _ in rows]),
                     block=np.clip(np.searchsorted(edges, stamps, side='right') - 1, 0, 9))

    def result(self) -> MountCalibration:
        """The calibration from everything added so far (never raises; says what it could not determine)."""
        turns = self._turns()
        mirrored, preset_ok, slope = self._shift_test(turns)
        order = mirror_channel_order(self.array) if (mirrored and self.array is not None) else None
        common = dict(mirrored=mirrored, preset_ok=preset_ok, pairs_used=self.pairs_used, turning_pairs=len(turns),
                      shift_slope=slope, channel_order=order, diagnostics={'turns': turns})
        checks = _describe_checks(mirrored, preset_ok, slope, len(turns))
        if mirrored and self.array is not None and order is None:
            checks += f' (array {self.array.name} has no channel order that undoes it)'
        if preset_ok is False:
            return MountCalibration(0.0, UNOBSERVABLE_STD_DEG, False, rays_used=0, sources=0,
                                    message=f'{checks}; yaw not estimated', **common)
        rays = self._rays(mirrored)
        fit = None if rays is None else solve_yaw(rays, self.bearing_sigma_deg, self.evidence_temperature,
                                                  trust_residuals=self.translation == 'metric')
        if fit is None:
            why = 'no DOA peaks' if rays is None else 'the rig did not translate (turning alone cannot show it)'
            return MountCalibration(0.0, UNOBSERVABLE_STD_DEG, False, rays_used=0, sources=0,
                                    message=f'{checks}; yaw unobservable: {why}', **common)
        observable = fit.std_deg <= MAX_OBSERVABLE_STD_DEG
        message = (f'{checks}; yaw {fit.yaw_deg:.1f}° ± {fit.std_deg:.1f}° from {fit.rays} bearings of '
                   f'{fit.sources} source(s)' + ('' if observable else ': poorly determined, record more travel'))
        common['diagnostics'].update(profile_yaw_deg=fit.profile_yaw_deg, profile_likelihood=fit.profile_likelihood)
        return MountCalibration(float(fit.yaw_deg), float(fit.std_deg), observable, rays_used=fit.rays,
                                sources=fit.sources, message=message, **common)


def _describe_checks(mirrored: bool, preset_ok: bool | None, slope: float, turns: int) -> str:
    if preset_ok is None:
        return f'{turns} turning view pair(s): too few to check the channel order and preset'
    if not preset_ok:
        return (f'the DOA spectra do not follow the turns (shift/turn slope {slope:+.2f} over {turns} view pairs): '
                'wrong array preset or channel order')
    return ('channel order mirrored' if mirrored else 'channel order as the preset') + \
        f' (shift/turn slope {slope:+.2f} over {turns} turning view pairs)'


# ---------------------------------------------------------------------------------------------------- solver
@dataclass(frozen=True)
class YawFit:
    """Result of `solve_yaw`.

    Yaw and its 1-σ (degrees), bearings kept, sources found, robust cost, and the profile (yaw grid in degrees,
    its likelihood with a peak of 1).
    """

    yaw_deg: float
    std_deg: float
    rays: int
    sources: int
    cost: float
    profile_yaw_deg: np.ndarray
    profile_likelihood: np.ndarray


_HOUGH_STEP_DEG = 6.0
_HOUGH_CELLS = 48           # cells along the larger side of each segment's search area
_AREA_MARGIN = 2.5          # search area = path bounding box ± this × path extent
_PATH_CLEARANCE = 0.15      # sources are not sought closer to the path than this × extent
_ASSIGN_GATE_DEG = 20.0     # a bearing further than this from every source is an outlier
_MIN_EXTENT = 0.3           # path units (≈ seconds of travel): less gives no triangulation baseline
_MIN_RESIDUAL_DEG = 1.0     # bearings are never trusted beyond this when the profile is read as a likelihood


def _segment_extent(origin: np.ndarray) -> float:
    """Horizontal extent of a segment's path (path units)."""
    return float(max(np.ptp(origin[:, 0]), np.ptp(origin[:, 1])))


def _segment_grid(origin: np.ndarray) -> np.ndarray:
    """Candidate source cells (G×2, horizontal plane) around a segment's path (M×3)."""
    extent = _segment_extent(origin)
    low, high = origin[:, :2].min(0) - _AREA_MARGIN * extent, origin[:, :2].max(0) + _AREA_MARGIN * extent
    step = float((high - low).max()) / _HOUGH_CELLS
    gx, gy = np.meshgrid(np.arange(low[0], high[0], step), np.arange(low[1], high[1], step))
    cells = np.stack([gx.ravel(), gy.ravel()], axis=1)
    path = origin[:: max(1, len(origin) // 200), :2]
    clearance = np.min(np.linalg.norm(cells[:, None] - path[None], axis=-1), axis=1)
    return cells[clearance > _PATH_CLEARANCE * extent]


def _hough(rays: _Rays, segments: list[int], sigma_deg: float):
    """Votes of every bearing for every (yaw, horizontal cell), per segment: {segment: (cells G×2, votes Y×G)}.

    The yaw only turns each bearing about its view's z axis, which near-level views make a shift of its
    horizontal angle; the votes use that approximation, the refinement (`_refine`) is exact.
    """
    kappa = 1.0 / np.radians(2.0 * sigma_deg) ** 2   # a von Mises kernel twice as wide as the residual scale
    yaws = np.arange(-180.0, 180.0, _HOUGH_STEP_DEG)
    base = rays.world_angles(0.0)
    accumulators: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for segment in segments:
        index = np.flatnonzero(rays.segment == segment)
        cells = _segment_grid(rays.origin[index])
        towards = cells[None, :, :] - rays.origin[index, None, :2]
        angle = np.arctan2(towards[..., 1], towards[..., 0]) - base[index, None]
        cos_part, sin_part = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
        weight = rays.weight[index, None].astype(np.float32)
        votes = [(weight * np.exp(kappa * (cos_part * np.cos(yaw) + sin_part * np.sin(yaw) - 1.0))).sum(0)
                 for yaw in np.radians(yaws)]
        accumulators[segment] = (cells, np.array(votes))
    return yaws, accumulators


def _peaks(cells: np.ndarray, votes: np.ndarray, min_distance: float, count: int = 2,
           relative: float = 0.4) -> np.ndarray:
    """Up to `count` cells with the most votes, `min_distance` apart, each with ≥ `relative` × the top votes."""
    order = np.argsort(votes)[::-1]
    chosen: list[int] = []
    for i in order:
        if votes[i] < relative * votes[order[0]] or len(chosen) == count:
            break
        if all(np.linalg.norm(cells[i] - cells[j]) >= min_distance for j in chosen):
            chosen.append(int(i))
    return cells[chosen]


def _refine(rays: _Rays, yaw0: float, sources: np.ndarray, owner: np.ndarray, sigma: float,
            keep: np.ndarray | None = None, rounds: int = 2, fit_yaw: bool = True, max_nfev: int = 400):
    """Robust least squares over the source positions S×3 (and the yaw when `fit_yaw`).

    The residual of a bearing is its measured azimuth minus the azimuth of the source in that view's array frame
    (exact in 3-D: tilted views included); a source's height has a weak prior at the path's mean height. Bearings
    are assigned to the nearest source of their segment within _ASSIGN_GATE_DEG; the others are outliers.
    Returns (yaw, sources, inlier mask, cost, robust residual scale in degrees) or None when too few bearings fit;
    the cost (Cauchy, capped at the gate) counts every bearing in `keep`, so costs of different yaws compare.
    """
    gate = np.radians(_ASSIGN_GATE_DEG)
    mask = np.ones(len(rays.weight), bool) if keep is None else keep
    yaw, sources = float(yaw0), sources.copy()
    other_segment = rays.segment[:, None] != owner[None, :]
    height = np.array([rays.origin[rays.segment == o, 2].mean() for o in owner])
    height_scale = np.array([max(_segment_extent(rays.origin[rays.segment == o]), 1e-6) for o in owner])
    theta = np.radians(rays.azimuth)

    def residuals(yaw_deg: float, points: np.ndarray, rows=slice(None)) -> np.ndarray:
        offset = points[None, :, :] - rays.origin[rows, None, :]                  # M×S×3 in segment frames
        local = np.einsum('mji,msj->msi', rays.R_origin[rows], offset)            # in each view's default frame
        predicted = np.arctan2(local[..., 1], local[..., 0]) - np.radians(yaw_deg)
        r = np.angle(np.exp(1j * (theta[rows, None] - predicted)))
        return np.where(other_segment[rows], np.pi, r)

    for _ in range(rounds):
        r = residuals(yaw, sources)
        assign = np.argmin(np.abs(r), axis=1)
        inlier = mask & (np.abs(r[np.arange(len(assign)), assign]) < gate)
        if inlier.sum() < 3 * len(sources) + 2:
            return None
        rows = np.flatnonzero(inlier)
        scale = np.sqrt(rays.weight[rows]) / sigma
        picked = assign[rows]

        def fun(params: np.ndarray) -> np.ndarray:
            yaw_deg, points = (params[0], params[1:]) if fit_yaw else (yaw, params)  # noqa: B023
            points = points.reshape(-1, 3)
            bearing = residuals(yaw_deg, points, rows)[np.arange(len(rows)), picked] * scale  # noqa: B023
            return np.concatenate([bearing, 0.1 * (points[:, 2] - height) / height_scale])

        start = np.concatenate([[yaw], sources.ravel()]) if fit_yaw else sources.ravel()
        solution = least_squares(fun, start, loss='cauchy', f_scale=1.0, diff_step=1e-6, max_nfev=max_nfev,
                                 xtol=1e-10, ftol=1e-10)
        yaw, sources = (float(solution.x[0]), solution.x[1:]) if fit_yaw else (yaw, solution.x)
        sources = sources.reshape(-1, 3)
    r = np.abs(residuals(yaw, sources)).min(axis=1)
    cost = float(np.sum(rays.weight[mask] * np.log1p((np.minimum(r[mask], gate) / sigma) ** 2)))
    inlier = mask & (r < gate)
    return yaw, sources, inlier, cost, float(np.degrees(1.4826 * np.median(r[inlier])))


def solve_yaw(rays: _Rays, sigma_deg: float = 5.0, temperature: float = 5.0,
              trust_residuals: bool = False) -> YawFit | None:
    """Mount yaw from bearings along the path (module docstring); None when no segment has a baseline.

    A profile over the yaw (sources seeded by the Hough votes and refitted at each yaw of the grid), the best yaw
    refined jointly with the sources, and its 1-σ: the larger of the time-block jackknife spread and the spread
    of the profile read as a likelihood exp(−Δcost·(σ/s)² / `temperature`): the cost is the bearings' Cauchy
    negative log-likelihood at scale σ = `sigma_deg`, s the robust scale of the fitted residuals (at least 1°
    when `trust_residuals`, i.e. a metric path, else at least σ), and the temperature discounts the overlap of
    neighbouring DOA windows and the approximate path.
    """
    segments = [s for s in np.unique(rays.segment)
                if _segment_extent(rays.origin[rays.segment == s]) >= _MIN_EXTENT and np.sum(rays.segment == s) >= 8]
    if not segments:
        return None
    rays = rays.subset(np.isin(rays.segment, segments))
    sigma = np.radians(sigma_deg)
    yaws, accumulators = _hough(rays, segments, sigma_deg)
    profile = np.full(len(yaws), np.inf)
    starts: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(yaws)
    for k, yaw in enumerate(yaws):
        points, owner = [], []
        for segment in segments:
            cells, votes = accumulators[segment]
            origin = rays.origin[rays.segment == segment]
            found = _peaks(cells, votes[k], 0.3 * _segment_extent(origin))
            points += [[x, y, origin[:, 2].mean()] for x, y in found]
            owner += [segment] * len(found)
        fit = _refine(rays, yaw, np.array(points), np.array(owner), sigma, rounds=1, fit_yaw=False, max_nfev=40)
        if fit is not None:
            profile[k], starts[k] = fit[3], (fit[1], np.array(owner))
    if not np.isfinite(profile).any():
        return None
    best = int(np.argmin(profile))
    fit = _refine(rays, yaws[best], *starts[best], sigma)
    if fit is None:
        return None
    yaw, sources, inlier, cost, residual_deg = fit
    owner = starts[best][1]
    jackknife = [wrap_signed_deg(f[0] - yaw) for block in np.unique(rays.block)
                 if (f := _refine(rays, yaw, sources, owner, sigma, keep=rays.block != block, rounds=1)) is not None]
    n = len(jackknife)
    spread = np.sqrt((n - 1) / n * np.sum((np.array(jackknife) - np.mean(jackknife)) ** 2)) if n >= 3 \
        else UNOBSERVABLE_STD_DEG
    finite = np.isfinite(profile)
    floor = _MIN_RESIDUAL_DEG if trust_residuals else sigma_deg
    sharpen = (sigma_deg / max(residual_deg, floor)) ** 2   # the cost assumed σ; the fit may show less
    likelihood = np.exp(-(profile[finite] - profile[finite].min()) * sharpen / temperature)
    offsets = np.radians(wrap_signed_deg(yaws[finite] - yaw))
    resultant = np.abs(np.sum(likelihood * np.exp(1j * offsets))) / likelihood.sum()
    profile_std = np.degrees(np.sqrt(-2.0 * np.log(max(resultant, 1e-12))))
    std = float(min(max(spread, profile_std), UNOBSERVABLE_STD_DEG))
    return YawFit(float(wrap_signed_deg(yaw)), std, int(inlier.sum()), len(sources), cost, yaws[finite], likelihood)


# ------------------------------------------------------------------------------------------ offline driver
def keyframe_indices(frame_times_s: np.ndarray, gap_s: float, max_duration_s: float | None = None) -> np.ndarray:
    """Indices of frames at least `gap_s` apart (from the first), within `max_duration_s` of the first frame."""
    chosen: list[int] = []
    for index, t in enumerate(np.asarray(frame_times_s, dtype=np.float64)):
        if max_duration_s is not None and t - frame_times_s[0] > max_duration_s + 1e-9:
            break
        if not chosen or t - frame_times_s[chosen[-1]] >= gap_s - 1e-6:
            chosen.append(index)
    return np.asarray(chosen, dtype=np.int64)


def _depths(points_near: np.ndarray, points_far: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray,
            near_is_a: bool) -> tuple[np.ndarray, np.ndarray]:
    """Depths (z, unit baseline) of matched points in the shared view, and their parallax angles (degrees).

    The pair maps view-b rays into view a: λ_a·f_a = λ_b·R·f_b + t. `near_is_a` says which side is the shared view.
    """
    from av_pose.vision.epipolar import normalized_points

    f_a, f_b = (points_near, points_far) if near_is_a else (points_far, points_near)
    f_a, f_b = normalized_points(f_a, K), normalized_points(f_b, K) @ R.T
    A = np.stack([f_a, -f_b], axis=-1)                                          # N×3×2
    lam = np.linalg.solve(np.einsum('nij,nik->njk', A, A) + 1e-12 * np.eye(2), np.einsum('nij,i->nj', A, t)[..., None])
    cos = np.einsum('ni,ni->n', f_a, f_b) / (np.linalg.norm(f_a, axis=1) * np.linalg.norm(f_b, axis=1))
    return lam[:, 0 if near_is_a else 1, 0], np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def relative_scale(first, second, K: np.ndarray, min_points: int = 8) -> float | None:
    """Length ratio |t_bc| / |t_ab| of consecutive visual pairs a → b → c (`TwoViewGeometry`), or None.

    Monocular scale propagation: keypoints of view b that are inliers of both pairs (the same detections, so the
    same pixel coordinates) are triangulated with each pair's unit baseline; the same point's depth in b gives the
    ratio (median over points seen with ≥ 0.5° of parallax in both pairs).
    """
    if not (first.translation_ok and second.translation_ok):
        return None
    in_b = {tuple(point): i for i, point in enumerate(np.round(first.inlier_points[1], 3))}
    common = [(in_b[tuple(point)], j) for j, point in enumerate(np.round(second.inlier_points[0], 3))
              if tuple(point) in in_b]
    if len(common) < min_points:
        return None
    i, j = np.array(common).T
    depth_ab, angle_ab = _depths(first.inlier_points[1][i], first.inlier_points[0][i], first.R_a_b, first.t_a_b, K,
                                 near_is_a=False)
    depth_bc, angle_bc = _depths(second.inlier_points[0][j], second.inlier_points[1][j], second.R_a_b, second.t_a_b,
                                 K, near_is_a=True)
    good = (depth_ab > 0) & (depth_bc > 0) & (angle_ab > 0.5) & (angle_bc > 0.5)
    return float(np.median(depth_ab[good] / depth_bc[good])) if good.sum() >= min_points else None


def calibrate_recording(recording, *, gap_s: float = 0.5, window_s: float = 1.0, method: str = 'normmusic',
                        detector: str = 'orb', motion: str = 'vision', max_duration_s: float | None = None,
                        device: str = 'cpu', progress: bool = False, **options) -> MountCalibration:
    """Calibrate the mount from a whole recording: a scene folder's `SceneRecord` or a bag's `BagRecording`.

    Keyframes `gap_s` apart; DOA (`method`, the two strongest peaks) of `window_s` windows centred on them;
    visual relative poses of consecutive keyframes (`estimate_from_features`, `detector`) whose translation lengths
    are chained by `relative_scale` (kept from the last known ratio where it is missing), or with
    `motion='ground-truth'` the recording's own T_world_cam (a diagnostic for synthetic data: metric path, exact
    rotations). `options` go to `OnlineMountCalibrator`.
    """
    from tqdm import tqdm

    from av_pose.audio.doa import make_estimator
    from av_pose.geometry import relative_pose
    from av_pose.vision.features import detect_features
    from av_pose.vision.two_view import estimate_from_features

    if motion not in ('vision', 'ground-truth'):
        raise UserInputError(f'unknown motion source {motion!r}: use vision or ground-truth')
    if motion == 'ground-truth' and getattr(recording, 'T_world_cam', None) is None:
        raise UserInputError('this recording has no ground-truth poses (use --motion vision)')
    if motion == 'vision' and recording.K is None:
        raise UserInputError('the recording has no camera intrinsics (camera info), which vision needs')
    array = recording.mic_array
    keys = keyframe_indices(recording.frame_times_s, gap_s, max_duration_s)
    if len(keys) < 3:
        raise UserInputError(f'only {len(keys)} keyframes {gap_s:g} s apart: the recording is too short')
    estimator = make_estimator(method, array, recording.sample_rate, num_sources=min(2, array.num_channels - 1),
                               device=device)
    times = recording.frame_times_s[keys]
    doas = []
    for first in range(0, len(keys), 32):
        windows = [recording.audio_window(t, window_s) for t in times[first:first + 32]]
        result = estimator.estimate(np.stack([samples for samples, _ in windows]))
        doas += [DoaFrame(float(t), result.spectrum[k], result.azimuths_deg[k], result.confidence[k], coverage)
                 for k, (t, (_, coverage)) in enumerate(zip(times[first:first + 32], windows))]
    estimator.release()
    calibrator = OnlineMountCalibrator(array, translation='metric' if motion == 'ground-truth' else 'scaled',
                                       **options)
    features: dict[int, object] = {}
    previous, scale = None, 1.0   # the last pair's geometry and translation length (path units)
    for n in tqdm(range(len(keys) - 1), desc='calibrate', unit='pair', disable=not progress):
        if doas[n].coverage < 0.5 or doas[n + 1].coverage < 0.5:
            previous = None
            continue
        if motion == 'ground-truth':
            T = relative_pose(recording.T_world_cam[keys[n]], recording.T_world_cam[keys[n + 1]])
            calibrator.add_pair(T[:3, :3], T[:3, 3], doas[n], doas[n + 1], translation_ok=True)
            continue
        for index in (keys[n], keys[n + 1]):
            if index not in features:
                features[index] = detect_features(recording.frame(int(index)), detector)
        geometry = estimate_from_features(features.pop(keys[n]), features[keys[n + 1]], recording.K)
        if not geometry.ok:
            previous = None
            continue
        ratio = None if previous is None else relative_scale(previous, geometry, recording.K)
        if ratio is not None:
            scale *= float(np.clip(ratio, 0.2, 5.0))
        previous = geometry if geometry.translation_ok else None
        calibrator.add_pair(geometry.R_a_b, geometry.t_a_b * scale, doas[n], doas[n + 1],
                            translation_ok=geometry.translation_ok)
    return calibrator.result()
