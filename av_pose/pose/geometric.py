"""The geometric relative-pose estimator: the essential matrix of two images fused with the audio yaw.

No weights. Vision (`av_pose.vision.two_view`) gives R_a_b, a translation direction and their 6×6 covariance;
audio (`av_pose.pose.audio_yaw`) gives the rig's yaw ψ about the array z axis from the shift of the two windows'
DOA spectra. Frames and covariance conventions are those of `av_pose.pose.base` (camera-a optical axes, (tx, ty,
tz, rx, ry, rz), unit-direction² and rad²).

Fusion, on SO(3): the audio yaw is a 1-D measurement h(R) = yaw of R_caᵀ·R·R_ca (R_ca: the mount's rotation) with
variance σ_a², one Kalman update of the 6-D error state (translation direction, rotation vector) linearised at the
vision rotation, so the translation moves with the rotation through their cross-covariance. Of vision's local
solutions (a near-planar view fits two) the audio yaw first chooses one (`_fuse`), updated with its own covariance,
not the solutions' spread (docs/results.md, "The weightless geometric estimator"). Gate: beyond `gate_sigma`
standard deviations of innovation the half with the smaller yaw variance is kept alone and the other flagged.

σ_a² = (alignment std)² + (parallax std)²: a translating rig sees near sources move. A pair alone cannot tell it, so
it is bounded: `parallax_deg_per_s` × the pair's gap (8°/s, calibrated on moving ShoeboxAV rigs), dropped when vision
says the rig only rotated. Where the caller predicts the rig's travel (`PosePair.translation_prior_m`: the odometry of
pose_node, the bag tool and the demo), the audio yaw that answers alone includes the parallax it predicts for the
heard sources (`av_pose.pose.parallax`; the bound stays); fused with vision or the image shift, the alignment's own
yaw is used (`AudioYaw.alignment_yaw_deg`), which kept the odometry's heading better (docs/results.md, "The reference
odometry's travel").

When the essential matrix fails (too few inliers: blur, noise, darkness), the vision half falls back on the
global shift of the two images (`av_pose.vision.image_shift`: phase correlation, which blur and noise leave
intact): a yaw and pitch with a 1-σ from the correlation's response, roll from the pitch/roll prior, translation
unknown, and no answer when the response is low. Where the pair brings the rig's travel, the turn its parallax fakes
in the shift (content 2.5 m away) is taken out, except with planar motion (measured in docs/results.md). The audio
yaw updates that fallback as it updates the essential matrix (same gate); with planar motion only its turn about `up`
is kept. Where the shift's peak is too low to answer on its own, its correlation surface is read around the audio
yaw instead (`guided_image_shift`: the surface's evidence times the audio yaw's Gaussian, cell by cell, and the
posterior mean; flag `image_shift_guided`; not where the audio yaw carries a travel's parallax correction): on the
corrupted moving sets where the audio had answered alone, median yaw error 4.6° → 2.8° (docs/results.md). When
vision fails altogether (no image, no intrinsics), the audio yaw alone carries the rotation: R = R_ca·Rz(ψ)·R_caᵀ with
variance σ_a² about the array z axis and a pitch/roll prior (`pitch_roll_prior_deg`, default 3°) about the other
two; the translation is unknown (zeros, UNKNOWN_VARIANCE), never invented. When both fail, the estimate is invalid.

Planar motion (`Sensors.planar_up` set: a ground robot): vision fits only the turn about that axis and the
translation's heading across it (`estimate_two_view(..., up=...)`), and the audio-only pitch/roll prior is the
floor's PLANAR_TILT_STD_DEG.

Speed: vision runs first; the audio is analysed only where it can change the answer: vision failed or its yaw 1-σ
exceeds `audio_skip_below_deg` (0.5°; 0 analyses every pair).

`PoseEstimate.info`: flags `vision_failed`, `audio_unavailable`, `audio_refused` (the sound field changed),
`audio_skipped`, `audio_rejected`, `vision_rejected` (the gate), `image_shift_used`, `image_shift_guided`; the
vision's `vision_model`, `matches`, `inliers`, `inlier_ratio`, `vision_reason`; the audio's `audio_status`,
`audio_reason`, `audio_shift_deg` (array yaw, with `audio_parallax_deg` where a travel predicted it),
`audio_match_score`, `audio_std_deg` (with the parallax bound); `image_shift_px`, `image_shift_response`,
`image_shift_guided_z`; `innovation_sigma` and `vision_solution` when fused; `rotation_std_deg`; `reason` if invalid.

Names: `geometric` (fused), `geometric-vision` (vision only), `geometric-audio` (audio yaw only).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from av_pose.audio.doa import resolve_device
from av_pose.errors import UserInputError
from av_pose.geometry import make_transform, planar_up_axis, so3_exp, so3_log
from av_pose.pose.audio_yaw import AudioYaw, AudioYawEstimator
from av_pose.pose.base import UNKNOWN_VARIANCE, PoseEstimate, PoseEstimator, PosePair
from av_pose.pose.parallax import SOURCE_DISTANCE_M
from av_pose.pose.yaw import yaw_rotation_in_camera, yaw_update
from av_pose.vision.epipolar import PLANAR_TILT_STD_DEG, planar_rotation_covariance
from av_pose.vision.image_shift import PARALLAX_SHARE, ImageShift, guided_image_shift, image_shift_rotation
from av_pose.vision.local_solutions import solution_spread
from av_pose.vision.two_view import TwoViewGeometry, estimate_two_view

PITCH_ROLL_PRIOR_DEG = 3.0
"""1-σ of the rig's pitch and roll change between the two views when only the audio yaw is known, degrees
(ShoeboxAV rigs 1 s apart: 1.6° roll, 2.7° pitch)."""
PARALLAX_DEG_PER_S = 8.0
"""1-σ of the audio yaw error a translating rig adds per second of gap (near sources move), degrees/s."""
MAX_PARALLAX_DEG = 30.0
"""Cap of the parallax term, degrees."""
AUDIO_SKIP_BELOW_DEG = 0.5
"""Vision yaw standard deviation below which the audio is not analysed, degrees: the audio's own is at least 2°
(`audio_yaw.STD_FLOOR_DEG`), so its weight in the fused yaw would stay under 6 %."""
SWITCH_ODDS = 3.0
"""Posterior odds that another of vision's local solutions must reach against the reported one before the audio
yaw replaces it: an audio yaw with a std of several degrees hardly tells solutions a few degrees apart, and the
reported one has the lower image cost."""
GATE_SIGMA = 4.0
"""Innovations beyond this many standard deviations mean vision and audio disagree."""
CONFIDENCE_SCALE_DEG = 2.0
"""confidence = 1 / (1 + rotation std / CONFIDENCE_SCALE_DEG)."""


def _flags(**flags: bool) -> dict:
    return {name: bool(value) for name, value in flags.items()}


class GeometricPoseEstimator(PoseEstimator):
    """Essential matrix (vision) and DOA-spectrum yaw (audio), fused on SO(3) (see the module docstring).

    Args:
        use_vision: run the two-view geometry (needs `Sensors.K` and both images).
        use_audio: run the audio yaw (needs the array, the sample rate and both audio windows).
        device: torch device of the DOA ('auto', 'cpu', 'cuda').
        detector: image features, 'orb' | 'akaze' | 'sift'.
        method: DOA method for pressure arrays ('normmusic', 'music', 'srp_phat'); FOA arrays use 'intensity'.
        max_features, min_inliers: passed to `estimate_two_view`.
        pitch_roll_prior_deg, parallax_deg_per_s, gate_sigma, audio_skip_below_deg: see the module constants.
        source_distance_m: where a pair brings the rig's predicted travel, the distance at which the heard sources
            are placed to predict its parallax (`av_pose.pose.parallax.SOURCE_DISTANCE_M`; 0: never corrected).
    """

    needs_intrinsics = True

    def __init__(self, *, use_vision: bool = True, use_audio: bool = True, device: str = 'auto',
                 detector: str = 'orb', method: str = 'normmusic', max_features: int = 2000, min_inliers: int = 15,
                 pitch_roll_prior_deg: float = PITCH_ROLL_PRIOR_DEG, parallax_deg_per_s: float = PARALLAX_DEG_PER_S,
                 gate_sigma: float = GATE_SIGMA, audio_skip_below_deg: float = AUDIO_SKIP_BELOW_DEG,
                 source_distance_m: float = SOURCE_DISTANCE_M) -> None:
        if not (use_vision or use_audio):
            raise UserInputError('the geometric estimator needs vision, audio or both')
        from av_pose.vision.features import make_detector

        if use_vision:  # fails here, in one line, for an unknown detector or one this OpenCV build lacks
            make_detector(detector, int(max_features))
        self.use_vision, self.use_audio = bool(use_vision), bool(use_audio)
        self.name = 'geometric' if use_vision and use_audio else 'geometric-vision' if use_vision else 'geometric-audio'
        self.needs_intrinsics = self.use_vision
        self.detector, self.max_features, self.min_inliers = detector, int(max_features), int(min_inliers)
        self.pitch_roll_prior_deg = float(pitch_roll_prior_deg)
        self.parallax_deg_per_s = float(parallax_deg_per_s)
        self.gate_sigma = float(gate_sigma)
        self.audio_skip_below_deg = float(audio_skip_below_deg) if use_vision else -1.0
        self.audio = AudioYawEstimator(method=method, device=str(resolve_device(device)),
                                       source_distance_m=source_distance_m) if use_audio else None

    def forget(self) -> None:
        """Drop the audio half's cached window analyses."""
        if self.audio is not None:
            self.audio.forget()

    def release(self) -> None:
        """Free the DOA estimators."""
        if self.audio is not None:
            self.audio.release()

    # --- halves -------------------------------------------------------------------------------------------

    def _vision(self, pair: PosePair) -> TwoViewGeometry:
        image_a, image_b, K = pair.view_a.image, pair.view_b.image, pair.sensors.K
        if image_a is None or image_b is None:
            return TwoViewGeometry.failed('no image')
        if K is None:
            return TwoViewGeometry.failed('no camera intrinsics K')
        try:
            return estimate_two_view(image_a, image_b, K, detector=self.detector, max_features=self.max_features,
                                     min_inliers=self.min_inliers, up=pair.sensors.planar_up)
        except UserInputError as err:  # a malformed image or K: say so, never raise on data
            return TwoViewGeometry.failed(str(err))

    def _image_shift(self, pair: PosePair, vision: TwoViewGeometry | None) -> ImageShift | None:
        """The image-shift fallback where the essential matrix failed on two images with intrinsics, else None."""
        if vision is None or vision.ok:
            return None
        image_a, image_b, K = pair.view_a.image, pair.view_b.image, pair.sensors.K
        if image_a is None or image_b is None or K is None:
            return None
        return image_shift_rotation(image_a, image_b, K, up=pair.sensors.planar_up, travel_m=self._shift_travel(pair))

    @staticmethod
    def _shift_travel(pair: PosePair) -> np.ndarray | None:
        """The travel taken out of the image shift: the pair's prior, but none with planar motion (stop 47)."""
        return pair.translation_prior_m if pair.sensors.planar_up is None else None

    def _vision_yaw_std_deg(self, pair: PosePair, vision: TwoViewGeometry) -> float:
        axis = np.asarray(pair.sensors.T_cam_array, dtype=np.float64)[:3, 2]
        return float(np.degrees(np.sqrt(max(axis @ vision.covariance[3:, 3:] @ axis, 0.0))))

    def _audio_std_deg(self, pair: PosePair, audio: AudioYaw, vision: TwoViewGeometry | None) -> float:
        """Audio yaw 1-σ: alignment and the parallax bound (none when vision saw a pure rotation)."""
        rotation_only = vision is not None and vision.ok and vision.model == 'rotation'
        gap_s = abs(pair.view_b.stamp_s - pair.view_a.stamp_s)
        parallax = 0.0 if rotation_only else min(MAX_PARALLAX_DEG, self.parallax_deg_per_s * gap_s)
        return float(np.hypot(audio.std_deg, parallax))

    # --- estimation ---------------------------------------------------------------------------------------

    def estimate_batch(self, pairs: Sequence[PosePair]) -> list[PoseEstimate]:
        """One estimate per pair; the audio of all pairs that need it is analysed in one batched call."""
        visions = [self._vision(pair) if self.use_vision else None for pair in pairs]
        audios: list[AudioYaw | None] = [None] * len(pairs)
        if self.audio is not None:
            wanted = [i for i, (pair, vision) in enumerate(zip(pairs, visions))
                      if vision is None or not vision.ok
                      or self._vision_yaw_std_deg(pair, vision) > self.audio_skip_below_deg]
            for i, result in zip(wanted, self.audio.estimate_batch([pairs[i] for i in wanted])):
                audios[i] = result
        return [self._combine(pair, vision, audio) for pair, vision, audio in zip(pairs, visions, audios)]

    def _combine(self, pair: PosePair, vision: TwoViewGeometry | None, audio: AudioYaw | None) -> PoseEstimate:
        info: dict = {}
        vision_ok = vision is not None and vision.ok
        if vision is not None:
            info.update(vision_model=vision.model, matches=int(vision.matches), inliers=int(vision.inliers),
                        inlier_ratio=float(vision.inlier_ratio), vision_reason=vision.reason)
        audio_ok = audio is not None and audio.ok
        if audio is not None:
            info.update(audio_status=audio.status, audio_reason=audio.reason, audio_shift_deg=float(audio.yaw_deg),
                        audio_match_score=float(np.nan_to_num(audio.score)))
            if audio.parallax_deg is not None:
                info['audio_parallax_deg'] = float(audio.parallax_deg)
        info.update(_flags(vision_failed=vision is not None and not vision_ok,
                           audio_unavailable=audio is not None and audio.status == 'unavailable',
                           audio_refused=audio is not None and audio.status == 'refused',
                           audio_skipped=self.audio is not None and audio is None,
                           audio_rejected=False, vision_rejected=False, image_shift_used=False,
                           image_shift_guided=False))
        if audio_ok:
            info['audio_std_deg'] = self._audio_std_deg(pair, audio, vision)
        if vision_ok and audio_ok:
            return self._fuse(pair, vision, audio, info)
        if vision_ok:
            return self._from_vision(vision, info)
        shift = self._image_shift(pair, vision)
        if shift is not None:
            info.update(image_shift_px=tuple(float(v) for v in shift.shift_px),
                        image_shift_response=float(shift.response), image_shift_used=shift.ok)
        if shift is not None and shift.ok:
            return self._fuse_shift(pair, shift, audio, info) if audio_ok else self._from_shift(pair, shift, info)
        # a faint shift is read around the audio yaw, unless the audio carries a travel's parallax correction: the
        # image's own parallax depends on the scene's depth, which nothing measures (docs/results.md, stop 46)
        if audio_ok and shift is not None and audio.parallax_deg is None:
            return self._guided_by_audio(pair, audio, info)
        if audio_ok:
            return self._from_audio(pair, audio, info)
        reasons = [f'vision: {vision.reason}' if vision is not None else '',
                   f'audio: {audio.reason}' if audio is not None else '']
        estimate = PoseEstimate.invalid('; '.join(r for r in reasons if r) or 'nothing to estimate from')
        estimate.info.update(info)
        return estimate

    @staticmethod
    def _finish(T_a_b: np.ndarray, covariance: np.ndarray, translation_known: bool, used: tuple[str, ...],
                info: dict) -> PoseEstimate:
        covariance = 0.5 * (covariance + covariance.T)
        rotation_std_deg = float(np.degrees(np.sqrt(max(np.trace(covariance[3:, 3:]), 0.0))))
        info['rotation_std_deg'] = rotation_std_deg
        return PoseEstimate(T_a_b=T_a_b, covariance=covariance, translation_known=translation_known, valid=True,
                            used=used, confidence=1.0 / (1.0 + rotation_std_deg / CONFIDENCE_SCALE_DEG), info=info)

    def _from_vision(self, vision: TwoViewGeometry, info: dict) -> PoseEstimate:
        return self._finish(vision.T_a_b, vision.covariance.copy(), bool(vision.translation_ok), ('vision',), info)

    def _tilt_std_deg(self, pair: PosePair) -> float:
        """1-σ of the pitch and roll the audio cannot see: the prior, or the floor's tilt with planar motion."""
        return self.pitch_roll_prior_deg if pair.sensors.planar_up is None else PLANAR_TILT_STD_DEG

    def _yaw_covariance(self, pair: PosePair, yaw_std_deg: float) -> np.ndarray:
        """6×6: translation unknown, `yaw_std_deg` about the array z axis and the tilt prior about the other two."""
        R_cam_array = np.asarray(pair.sensors.T_cam_array, dtype=np.float64)[:3, :3]
        tilt_deg = self._tilt_std_deg(pair)
        covariance = np.zeros((6, 6))
        covariance[:3, :3] = np.eye(3) * UNKNOWN_VARIANCE
        covariance[3:, 3:] = R_cam_array @ np.diag(np.radians([tilt_deg, tilt_deg, yaw_std_deg]) ** 2) @ R_cam_array.T
        return covariance

    def _from_audio(self, pair: PosePair, audio: AudioYaw, info: dict) -> PoseEstimate:
        T_a_b = make_transform(yaw_rotation_in_camera(audio.yaw_deg, pair.sensors.T_cam_array), np.zeros(3))
        return self._finish(T_a_b, self._yaw_covariance(pair, info['audio_std_deg']), False, ('audio',), info)

    def _shift_covariance(self, pair: PosePair, std_deg: float) -> np.ndarray:
        """6×6 covariance of the image-shift fallback whose pitch and yaw have the 1-σ `std_deg` (degrees).

        Translation unknown; pitch and yaw `std_deg` and roll the prior, or with planar motion `std_deg` about `up`
        and the floor's tilt about the other two axes.
        """
        covariance = np.zeros((6, 6))
        covariance[:3, :3] = np.eye(3) * UNKNOWN_VARIANCE
        up = pair.sensors.planar_up
        if up is None:
            covariance[3:, 3:] = np.diag(np.radians([std_deg, std_deg, self.pitch_roll_prior_deg]) ** 2)
        else:
            covariance[3:, 3:] = planar_rotation_covariance(np.radians(std_deg) ** 2, planar_up_axis(up))
        return covariance

    def _from_shift(self, pair: PosePair, shift: ImageShift, info: dict) -> PoseEstimate:
        return self._finish(make_transform(shift.R_a_b, np.zeros(3)), self._shift_covariance(pair, shift.std_deg),
                            False, ('vision',), info)

    def _guided_by_audio(self, pair: PosePair, audio: AudioYaw, info: dict) -> PoseEstimate:
        """The image shift searched around the audio yaw where the shift alone was too weak to answer.

        The correlation surface's evidence and the audio yaw's Gaussian are combined cell by cell
        (`guided_image_shift`); the yaw's 1-σ is the posterior's. Without a usable surface, the audio alone.
        """
        T_cam_array = np.asarray(pair.sensors.T_cam_array, dtype=np.float64)
        guided = guided_image_shift(pair.view_a.image, pair.view_b.image, pair.sensors.K, T_cam_array[:3, 2],
                                    audio.yaw_deg, info['audio_std_deg'], self._tilt_std_deg(pair),
                                    up=pair.sensors.planar_up, travel_m=self._shift_travel(pair))
        if guided is None:
            return self._from_audio(pair, audio, info)
        info.update(image_shift_guided=True, image_shift_guided_z=guided.peak_z,
                    image_shift_px=tuple(float(v) for v in guided.shift_px))
        return self._finish(make_transform(guided.R_a_b, np.zeros(3)), self._yaw_covariance(pair, guided.yaw_std_deg),
                            False, ('audio', 'vision'), info)

    def _rejected_half(self, innovation_sigma: float, vision_yaw_std_deg: float, audio_std_deg: float,
                       info: dict) -> str | None:
        """The gate: None when the halves agree within `gate_sigma`, else the less certain half.

        Returns 'audio' or 'vision', the half to drop, flagged in `info` as rejected.
        """
        if innovation_sigma <= self.gate_sigma:
            return None
        rejected = 'audio' if vision_yaw_std_deg <= audio_std_deg else 'vision'
        info[f'{rejected}_rejected'] = True
        return rejected

    def _fuse_shift(self, pair: PosePair, shift: ImageShift, audio: AudioYaw, info: dict) -> PoseEstimate:
        """The image-shift rotation updated with the audio yaw; the better one alone when they disagree.

        The shift's error is two populations: most pairs within the correlation peak's precision
        (`peak_std_deg`), a `PARALLAX_SHARE` of them off by a translating camera's parallax (`std_deg`). Each
        component is updated with the audio yaw and weighted by its prior share times the likelihood of the
        audio yaw under it; the result is their moment-matched mixture. So an audio yaw that agrees with a
        sharp shift barely moves it, and one that disagrees with it by more than the peak allows pulls it as
        far as the parallax component says. The gate uses the wide component.
        """
        T_cam_array = np.asarray(pair.sensors.T_cam_array, dtype=np.float64)
        audio_std = info['audio_std_deg']
        components = [(1.0 - PARALLAX_SHARE, shift.peak_std_deg), (PARALLAX_SHARE, shift.std_deg)]
        updates = [yaw_update(shift.R_a_b, np.zeros(3), self._shift_covariance(pair, std_deg),
                              audio.alignment_yaw_deg, audio_std, T_cam_array) for _, std_deg in components]
        wide = updates[-1]
        info['innovation_sigma'] = wide.innovation_sigma
        rejected = self._rejected_half(wide.innovation_sigma, wide.prior_yaw_std_deg, audio_std, info)
        if rejected == 'audio':
            return self._from_shift(pair, shift, info)
        if rejected == 'vision':
            return self._from_audio(pair, audio, info)
        log_weight = np.array([np.log(share) - 0.5 * u.innovation_sigma ** 2
                               - np.log(np.hypot(u.prior_yaw_std_deg, audio_std))
                               for (share, _), u in zip(components, updates)])
        weight = np.exp(log_weight - log_weight.max())
        weight /= weight.sum()
        info['image_shift_parallax_weight'] = float(weight[-1])
        deltas = np.array([so3_log(wide.R_a_b.T @ u.R_a_b) for u in updates])  # rotations about the wide one
        mean = weight @ deltas
        covariance = sum(w * u.covariance for w, u in zip(weight, updates))
        covariance[3:, 3:] += sum(w * np.outer(d - mean, d - mean) for w, d in zip(weight, deltas))
        return self._finish(make_transform(wide.R_a_b @ so3_exp(mean), np.zeros(3)), covariance, False,
                            ('audio', 'vision'), info)

    def _fuse(self, pair: PosePair, vision: TwoViewGeometry, audio: AudioYaw, info: dict) -> PoseEstimate:
        """The vision solution the audio yaw favours, updated with it; or the better half alone when they disagree.

        Each of vision's local solutions k (the reported one and its `alternatives`, prior p_k) is scored by
        p_k·N(ψ_audio − ψ_k; 0, S_k), S_k being the yaw variance of that solution alone plus the audio's. The
        best one (if its posterior odds against the reported one reach SWITCH_ODDS, else the reported one) gets
        the Kalman update with its own covariance; the others' spread, weighted by their posterior, is added
        back. So an audio yaw several degrees off cannot pull a good vision fix (the spread of a planar scene's
        solutions no longer counts as vision's uncertainty), while it still picks the right planar solution.
        """
        T_cam_array = np.asarray(pair.sensors.T_cam_array, dtype=np.float64)
        audio_std = info['audio_std_deg']
        own = vision.covariance if vision.solution_covariance is None else vision.solution_covariance
        solutions = [(vision.R_a_b, vision.t_a_b, 1.0 - sum(p for *_, p in vision.alternatives)),
                     *vision.alternatives]
        updates = [yaw_update(R, t, own, audio.alignment_yaw_deg, audio_std, T_cam_array) for R, t, _ in solutions]
        log_posterior = np.array([np.log(max(p, 1e-12)) - 0.5 * u.innovation_sigma ** 2
                                  - np.log(np.hypot(u.prior_yaw_std_deg, audio_std))
                                  for (_, _, p), u in zip(solutions, updates)])
        best = int(np.argmax(log_posterior))
        if log_posterior[best] - log_posterior[0] < np.log(SWITCH_ODDS):
            best = 0  # the audio cannot tell the solutions apart: keep vision's own choice (the lower cost)
        update = updates[best]
        info.update(innovation_sigma=update.innovation_sigma, vision_solution=best)
        rejected = self._rejected_half(update.innovation_sigma, self._vision_yaw_std_deg(pair, vision), audio_std, info)
        if rejected == 'audio':
            return self._from_vision(vision, info)
        if rejected == 'vision':
            info['audio_std_deg'] = self._audio_std_deg(pair, audio, None)  # vision's "no parallax" is doubtful too
            return self._from_audio(pair, audio, info)
        posterior = np.exp(log_posterior - log_posterior.max())
        posterior /= posterior.sum()
        t = update.t_a_b if vision.translation_ok else vision.t_a_b
        others = [(R, t_k, float(posterior[k])) for k, (R, t_k, _) in enumerate(solutions) if k != best]
        covariance = update.covariance + solution_spread(update.R_a_b, t, others)
        return self._finish(make_transform(update.R_a_b, t), covariance, bool(vision.translation_ok),
                            ('audio', 'vision'), info)


def make_geometric(**options) -> GeometricPoseEstimator:
    """`geometric`: vision and audio fused (options: see GeometricPoseEstimator)."""
    return GeometricPoseEstimator(use_vision=True, use_audio=True, **options)


def make_geometric_vision(**options) -> GeometricPoseEstimator:
    """`geometric-vision`: the essential-matrix half alone."""
    return GeometricPoseEstimator(use_vision=True, use_audio=False, **options)


def make_geometric_audio(**options) -> GeometricPoseEstimator:
    """`geometric-audio`: the audio-yaw half alone (rotation only; translation unknown)."""
    return GeometricPoseEstimator(use_vision=False, use_audio=True, **options)
