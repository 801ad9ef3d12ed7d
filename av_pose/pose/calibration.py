"""Array ↔ camera self-calibration from motion: the array's yaw on the rig, a mirrored channel order, a wrong preset.

What each kind of motion reveals (array frame REP-103; the default mount has array x = camera forward):
- A turn by ψ about the array's z axis moves every far source's azimuth by −ψ, *whatever the array's yaw offset
  Y on the rig* (rotations about one axis commute). So turning alone cannot reveal Y. It does reveal a mirrored
  channel order (a reflection θ → −θ, also what an upside-down ring gives): the DOA spectrum then shifts by +ψ.
  And it reveals a wrong preset or channel permutation: the spectra then follow neither ±ψ. The test is the
  median ratio of spectrum shift (`spectrum_shift.circular_shift`) to visual yaw over view pairs `turn_gap_s` apart:
  about +1 as wired (less where reflections and array artefacts stay put), −1 mirrored, about 0 otherwise.
- Translation reveals Y. After removing the rotation, a static source's bearing drifts with the rig's travel by
  about (baseline / range)·sin(θ − φ), φ being the travel direction in the array frame, i.e. the camera's travel
  direction (vision) turned by the unknown mount. Globally: with the rig's path and the right Y, the world
  bearings of a static source all meet at one point. That is what is solved here: bearing-only triangulation of
  the DOA peaks along the visual path, jointly for Y and the source positions (a Hough vote over Y and the
  horizontal plane, then robust least squares), with a jackknife over time blocks for Y's uncertainty
  (`av_pose.pose.mount_yaw.solve_yaw`).
- A source of known direction reveals Y while turning. When the user knows where a static source was at the
  first view (faced it: bearing 0), the visual rotations say where it is in every later view of the rig's frame,
  and the DOA says where it is in the array's: their difference is Y, from every confident peak
  (`source_bearing_deg`, `av_pose.pose.mount_yaw.solve_yaw_from_bearing`). The DOA's bias from room
  reflections, which turning does not average out, stays in that estimate.

Inputs per pair of views a → b: the visual relative pose (R_a_b, t_a_b, camera optical frames, from
`av_pose.vision.two_view`) and the DOA of both audio windows (`av_pose.audio.streaming.DoaFrame`). Pairs chain
into a path when a pair's view a is an earlier pair's view b (same stamp): consecutive keyframes do. What t_a_b's
length means is set by `translation` ('direction', 'scaled' by monocular scale chaining, or 'metric').

Limits, measured on ShoeboxAV (`av-pose synth`; docs/results.md, "Array mount"): the turn test is reliable; the
yaw from travel is not. A constant DOA bias is indistinguishable from a yaw offset, and the room's reflections bias
NormMUSIC by a few degrees for seconds at a time; the monocular path (translation directions off by 10–30° at
256×192, unknown speeds) is too wrong for triangulation, so with `motion='vision'` the yaw is mostly reported as not
observable. With a metric path (`motion='odometry'`: a robot's wheel odometry, a scene's ground truth) the solver
reaches the Cramér–Rao bound on true bearings with 3° of noise (within 2° on 6 of 8 scenes after 60 s of travel;
the bound itself is 2.4–2.9° after 20 s), but the DOA's own bearings leave 2 of 8 within 2° (NormMUSIC or ZoneNet;
`tools/mount_yaw_bound.py`). Sources must be static (moving ones end up as outliers) and the array plane near
horizontal. With a known source bearing, 20 s of turning gave the yaw with a median error of 0.6° (clicks, pink
noise) to 1.3° (babble, pink noise) on 50 scenes, 48 within 5°; the keyframe DOA's onset emphasis took the worst
click scene from 18° to 3°.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from av_pose.audio.arrays import MicArray
from av_pose.audio.mount import mirror_channel_order
from av_pose.audio.streaming import DoaFrame
from av_pose.errors import UserInputError
from av_pose.geometry import R_CAM_ARRAY_DEFAULT, array_mount
from av_pose.pose.base import PoseEstimate
from av_pose.pose.mount_yaw import UNOBSERVABLE_STD_DEG, Rays, YawFit, solve_yaw, solve_yaw_from_bearing
from av_pose.pose.spectrum_shift import circular_shift

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


def shows_visual_turn(estimate: PoseEstimate) -> bool:
    """Whether a `PoseEstimate`'s rotation was measured by vision, for the mount calibration's pairs.

    `used` names vision, and the turn is not the image shift read around the audio yaw (`geometric`'s
    `image_shift_guided`: that turn leans on the audio, which the calibration would then compare with itself).
    """
    return 'vision' in estimate.used and not estimate.info.get('image_shift_guided', False)


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
        source_bearing_deg: when a static source's direction at the first view is known, its azimuth there in the
            camera's heading frame (degrees counter-clockwise from the camera's forward axis: 0 for a loudspeaker
            centred in the first image). The yaw then comes from it (`solve_yaw_from_bearing`; turning suffices)
            instead of from triangulation.
        source_elevation_deg: that source's elevation above the camera's heading plane, degrees (only matters
            when the rig tilts).
        bearing_stamp_s: the time of the view the bearing refers to (default: the first view added); when the
            first chain of pairs does not start there, the yaw is reported unobservable.
    """

    def __init__(self, array: MicArray | None = None, *, max_history_s: float = 120.0, turn_gap_s: float = 2.0,
                 min_turn_deg: float = 5.0, min_confidence: float = 0.2, bearing_sigma_deg: float = 5.0,
                 min_shift_slope: float = 0.2, translation: str = 'direction',
                 evidence_temperature: float = 5.0, source_bearing_deg: float | None = None,
                 source_elevation_deg: float = 0.0, bearing_stamp_s: float | None = None) -> None:
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
        known = [source_bearing_deg, source_elevation_deg] + ([] if bearing_stamp_s is None else [bearing_stamp_s])
        if source_bearing_deg is not None and not np.all(np.isfinite(np.asarray(known, dtype=np.float64))):
            raise UserInputError(f'the source bearing, elevation and stamp must be finite, got {known}')
        if abs(float(source_elevation_deg)) >= 90.0:
            raise UserInputError(f'source elevation must lie in (−90°, 90°), got {source_elevation_deg}')
        self.source_bearing_deg = None if source_bearing_deg is None else float(source_bearing_deg)
        self.source_elevation_deg = float(source_elevation_deg)
        self.bearing_stamp_s = None if bearing_stamp_s is None else float(bearing_stamp_s)
        self.reset()

    def reset(self) -> None:
        """Forget everything."""
        self._views: dict[int, _View] = {}
        self._segments = 0
        self._first_stamp_s: float | None = None   # first view of segment 0
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
            if self._segments == 0:
                self._first_stamp_s = float(doa_a.stamp_s)
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

    def _rays(self, mirrored: bool) -> Rays | None:
        views = sorted(self._views.values(), key=lambda v: v.stamp_s)
        rows = [(v, k) for v in views for k in range(len(v.weights)) if v.weights[k] > 0]
        if not rows:
            return None
        stamps = np.array([v.stamp_s for v, _ in rows])
        edges = np.linspace(stamps.min(), stamps.max() + 1e-9, 11)
        sign = -1.0 if mirrored else 1.0
        return Rays(origin=np.array([v.position for v, _ in rows]), R_origin=np.array([v.R_origin for v, _ in rows]),
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
        fit, why = self._fit(rays)
        if fit is None:
            return MountCalibration(0.0, UNOBSERVABLE_STD_DEG, False, rays_used=0, sources=0,
                                    message=f'{checks}; yaw unobservable: {why}', **common)
        observable = fit.std_deg <= MAX_OBSERVABLE_STD_DEG
        sources = (f'the source at bearing {self.source_bearing_deg:+.1f}° (first view)'
                   if self.source_bearing_deg is not None else f'{fit.sources} source(s)')
        message = (f'{checks}; yaw {fit.yaw_deg:.1f}° ± {fit.std_deg:.1f}° from {fit.rays} bearings of {sources}'
                   + ('' if observable else ': poorly determined, record more travel'))
        common['diagnostics'].update(profile_yaw_deg=fit.profile_yaw_deg, profile_likelihood=fit.profile_likelihood)
        return MountCalibration(float(fit.yaw_deg), float(fit.std_deg), observable, rays_used=fit.rays,
                                sources=fit.sources, message=message, **common)


    def _fit(self, rays: Rays | None) -> tuple[YawFit | None, str]:
        """The yaw fit (known source bearing, else triangulation), or None and why not."""
        if rays is None:
            return None, 'no DOA peaks'
        if self.source_bearing_deg is None:
            fit = solve_yaw(rays, self.bearing_sigma_deg, self.evidence_temperature,
                            trust_residuals=self.translation == 'metric')
            return fit, ('no stretch of the visual path long enough to triangulate (the rig did not travel, or '
                         'vision lost the chain); turning alone cannot show the yaw, a known source bearing can')
        if self.bearing_stamp_s is not None and (self._first_stamp_s is None
                                                 or abs(self._first_stamp_s - self.bearing_stamp_s) > 1e-3):
            return None, (f'the source bearing refers to t = {self.bearing_stamp_s:.3f} s, but the first chain of '
                          f'visual pairs starts at t = {self._first_stamp_s} s')
        fit = solve_yaw_from_bearing(rays, self.source_bearing_deg, self.source_elevation_deg, segment=0)
        return fit, 'too few confident DOA peaks chained to the first view'


def _describe_checks(mirrored: bool, preset_ok: bool | None, slope: float, turns: int) -> str:
    if preset_ok is None:
        return f'{turns} turning view pair(s): too few to check the channel order and preset'
    if not preset_ok:
        return (f'the DOA spectra do not follow the turns (shift/turn slope {slope:+.2f} over {turns} view pairs): '
                'wrong array preset or channel order')
    return ('channel order mirrored' if mirrored else 'channel order as the preset') + \
        f' (shift/turn slope {slope:+.2f} over {turns} turning view pairs)'


# ------------------------------------------------------------------------------------------ offline driver
def calibrate_recording(recording, *, gap_s: float = 0.5, window_s: float = 1.0, method: str = 'normmusic',
                        detector: str = 'orb', motion: str = 'vision', max_duration_s: float | None = None,
                        device: str = 'cpu', progress: bool = False, onset_emphasis: bool = True,
                        **options) -> MountCalibration:
    """Calibrate the mount from a whole recording: a scene folder's `SceneRecord` or a bag's `BagRecording`.

    Keyframes `gap_s` apart; DOA (`method`, the two strongest peaks; with `onset_emphasis` its spectrum plus an
    onset-weighted one, `av_pose.audio.doa.onset`, which halves the reflections' pull on clicks) of `window_s`
    windows centred on them;
    visual relative poses of consecutive keyframes (`estimate_from_features`, `detector`) whose translation lengths
    are chained by `relative_scale` (kept from the last known ratio where it is missing), or with
    `motion='odometry'` (or its older name 'ground-truth') the recording's own T_world_cam: a bag's /tf poses (a
    robot's wheel odometry), a scene's ground truth; a metric path, which the yaw from travel needs. `options` go to
    `OnlineMountCalibrator`; a `source_bearing_deg` there refers to the first keyframe.
    """
    from tqdm import tqdm

    from av_pose.geometry import relative_pose
    from av_pose.pose.sequence import keyframe_doa, keyframe_indices
    from av_pose.vision.features import detect_features
    from av_pose.vision.monocular_scale import relative_scale
    from av_pose.vision.two_view import estimate_from_features

    if motion not in ('vision', 'odometry', 'ground-truth'):
        raise UserInputError(f'unknown motion source {motion!r}: use vision or odometry')
    motion = 'odometry' if motion == 'ground-truth' else motion
    if motion == 'odometry' and getattr(recording, 'T_world_cam', None) is None:
        raise UserInputError('this recording has no camera poses (a bag: /tf from --world-frame to the camera; '
                             'or use --motion vision)')
    if motion == 'vision' and recording.K is None:
        raise UserInputError('the recording has no camera intrinsics (camera info), which vision needs')
    array = recording.mic_array
    keys = keyframe_indices(recording.frame_times_s, gap_s, max_duration_s)
    if len(keys) < 3:
        raise UserInputError(f'only {len(keys)} keyframes {gap_s:g} s apart: the recording is too short')
    times = recording.frame_times_s[keys]
    doas = keyframe_doa(recording, [int(k) for k in keys], window_s, method, num_sources=2, device=device,
                        onset_emphasis=onset_emphasis)
    if options.get('source_bearing_deg') is not None:
        options.setdefault('bearing_stamp_s', float(times[0]))
    calibrator = OnlineMountCalibrator(array, translation='metric' if motion == 'odometry' else 'scaled',
                                       **options)
    features: dict[int, object] = {}
    previous, scale = None, 1.0   # the last pair's geometry and translation length (path units)
    for n in tqdm(range(len(keys) - 1), desc='calibrate', unit='pair', disable=not progress):
        if doas[n].coverage < 0.5 or doas[n + 1].coverage < 0.5:
            previous = None
            continue
        if motion == 'odometry':
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
