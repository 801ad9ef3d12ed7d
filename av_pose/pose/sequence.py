"""Offline odometry over a whole recording: the pair schedule and integration of `pose_node`, without ROS.

`run_odometry(recording, {name: estimator}, ...)` does what the node does with a played bag, deterministically:
keyframes on a `1 / rate_hz` grid of image time (`keyframe_indices`), each paired with the keyframe about
`gap_s` earlier (`OdometryIntegrator.partner_for`), batches of keyframes closer together than the shortest gap
(so none is another's partner) → `PoseEstimator.estimate_batch` → `OdometryIntegrator.add`. Every estimator has
its own integrator; the images are decoded once for all.

An invalid (or non-finite) estimate is dropped, as the node drops it: the keyframe is not integrated, and the next
keyframe pairs across it with an older one (`partner_for`), or, after more than `max_gap_s` without a pose, the chain
restarts there with UNKNOWN_VARIANCE added (`OdometryIntegrator.anchor`; a restarted chain whose anchor cannot be
paired restarts at the next keyframe: `OdometryIntegrator.drop`). So each estimator keeps its own keyframes
and pairs; every estimated pair, dropped or not, is in `OdometryTrack.pairs` for the pair scores.

A recording is anything with the accessors of `SceneRecord` / `BagRecording`: `frame_times_s` (N,), `frame(i)`
(H×W×3 uint8 RGB), `audio_window(center_s, duration_s)` → (C×n float32, coverage), `K`, `mic_array`,
`sample_rate`, `T_cam_array`, and optionally `T_world_cam` (N×4×4 ground truth, for `ground_truth_scale`).
Poses are of the camera optical frame; odom = the camera at the first keyframe.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from av_pose.audio.arrays import MicArray
from av_pose.audio.doa import DoaEstimator
from av_pose.audio.doa.onset import OnsetEmphasisDoa
from av_pose.audio.streaming import DoaFrame
from av_pose.errors import UserInputError
from av_pose.geometry import planar_up_axis
from av_pose.pose.base import PoseEstimate, PoseEstimator, PosePair, Sensors, View
from av_pose.pose.odometry import (
    DEFAULT_DIRECTION_HOLD_S,
    OdometryIntegrator,
    OdometryStep,
    checked_estimate,
    hold_frame_for,
)
from av_pose.pose.scale import STAMP_TOLERANCE_S, ReferenceScale, ScalePolicy
from av_pose.pose.smoothing import ChainSmoother, chain_smoother

ImageHook = Callable[[np.ndarray, int], np.ndarray]
"""(H×W×3 uint8 image, frame index) → the image the estimators see (e.g. a corruption)."""
KeyframeHook = Callable[[str, int, np.ndarray, 'SequenceStep | None'], None]
"""(estimator name, frame index, T_odom_cam 4×4, the step or None for an anchor)."""


DEFAULT_SMOOTHER = chain_smoother()
"""pose_node's default smoother (lag and prior: `av_pose.pose.smoothing`)."""


def keyframe_indices(frame_times_s: np.ndarray, gap_s: float, max_duration_s: float | None = None) -> np.ndarray:
    """Indices of frames at least `gap_s` apart (from the first), within `max_duration_s` of the first frame."""
    chosen: list[int] = []
    for index, t in enumerate(np.asarray(frame_times_s, dtype=np.float64)):
        if max_duration_s is not None and t - frame_times_s[0] > max_duration_s + 1e-9:
            break
        if not chosen or t - frame_times_s[chosen[-1]] >= gap_s - 1e-6:
            chosen.append(index)
    return np.asarray(chosen, dtype=np.int64)


@dataclass(frozen=True)
class PairAttempt:
    """One estimated pair: frame indices of b (the newer keyframe) and a (its partner), b's stamp (s), the estimate."""

    frame: int
    partner: int
    stamp_s: float
    estimate: PoseEstimate


@dataclass(frozen=True)
class SequenceStep:
    """One integrated keyframe: frame indices of b (this keyframe) and a (its partner), the estimate, the step."""

    frame: int
    partner: int
    estimate: PoseEstimate
    odometry: OdometryStep


@dataclass
class OdometryTrack:
    """One estimator's odometry over a recording.

    Attributes:
        name: the estimator's display name.
        frames: K frame indices of the integrated keyframes (the first is the anchor).
        stamps_s: K keyframe times (s, the recording's clock).
        T_odom_cam: K×4×4 camera poses in odom; `covariances` K×6×6 (own axes, metres and radians).
        steps: one per integrated keyframe after an anchor, in order (K − 1 when the chain never restarted).
        pairs: every pair estimated, in order, the dropped (invalid) ones included: what the pair scores count.
        restarts: how often the chain restarted after no pose for longer than `max_gap_s` (pose_node's
            "chain restarts").
        scale: the scale policy's description.
        seconds: wall time inside `estimate_batch` (s).
    """

    name: str
    frames: list[int] = field(default_factory=list)
    stamps_s: list[float] = field(default_factory=list)
    T_odom_cam: list[np.ndarray] = field(default_factory=list)
    covariances: list[np.ndarray] = field(default_factory=list)
    steps: list[SequenceStep] = field(default_factory=list)
    pairs: list[PairAttempt] = field(default_factory=list)
    restarts: int = 0
    scale: str = ''
    seconds: float = 0.0

    def poses(self) -> np.ndarray:
        """K×4×4 T_odom_cam."""
        return np.array(self.T_odom_cam).reshape(-1, 4, 4)


def recording_sensors(recording: Any, planar_up: Sequence[float] | None = None) -> Sensors:
    """The `Sensors` of a recording (intrinsics, array, sample rate, array mount; `planar_up`: see `Sensors`)."""
    return Sensors(K=recording.K, array=recording.mic_array, sample_rate=int(recording.sample_rate),
                   T_cam_array=np.asarray(recording.T_cam_array, dtype=np.float64),
                   planar_up=planar_up_axis(planar_up))


class GroundTruthScale(ReferenceScale):
    """`ReferenceScale` fed with ground-truth camera positions: an oracle standing in for wheel odometry."""

    name = 'ground-truth'

    def describe(self) -> str:
        """One line."""
        return 'ground truth (the distance the true camera travelled over each pair)'


def ground_truth_scale(recording: Any) -> GroundTruthScale:
    """A `GroundTruthScale` holding the recording's ground-truth camera positions (all of them)."""
    scale = GroundTruthScale()
    _fill_reference(scale, recording, with_rotations=False)
    return scale


def recording_odometry_scale(recording: Any) -> ReferenceScale:
    """A `ReferenceScale` holding the recording's camera poses with their orientations (`T_world_cam`).

    In a bag these are the camera's poses in `world_frame`: a robot's wheel odometry through its frame tree
    (`av-pose bag --translation-scale odometry`, what pose_node's `translation_scale: odometry` gets from its
    topic); in a scene, the ground truth. Each pair then knows the camera's travel, direction included
    (`ReferenceScale.travel`).
    """
    scale = ReferenceScale(T_body_sensor=np.eye(4))
    _fill_reference(scale, recording, with_rotations=True)
    return scale


def _fill_reference(scale: ReferenceScale, recording: Any, with_rotations: bool) -> None:
    if getattr(recording, 'T_world_cam', None) is None:
        raise UserInputError('a scale from the recording needs its camera poses (a scene, or a bag with /tf '
                             'world_frame → camera)')
    times = np.asarray(recording.frame_times_s, dtype=np.float64)
    scale.history_s = float(np.ptp(times)) + 1.0 if len(times) else 1.0
    for t, T in zip(times, recording.T_world_cam):
        scale.add(float(t), T[:3, 3], T[:3, :3] if with_rotations else None)


def run_odometry(recording: Any, estimators: Mapping[str, PoseEstimator],
                 scale: Callable[[], ScalePolicy], *, gap_s: float = 1.0, rate_hz: float = 5.0,
                 window_s: float = 1.0, batch_size: int = 16, image_hook: ImageHook | None = None,
                 progress: bool = False, on_keyframe: KeyframeHook | None = None,
                 planar_up: Sequence[float] | None = None, smoother: ChainSmoother | None = DEFAULT_SMOOTHER,
                 direction_hold_s: float = DEFAULT_DIRECTION_HOLD_S, direction_hold_frame: str | None = None
                 ) -> dict[str, OdometryTrack]:
    """Integrate every estimator's relative poses over the recording (see the module docstring).

    Args:
        recording: a scene or bag recording.
        estimators: display name → estimator; all see the same pairs.
        scale: makes a fresh scale policy for each estimator (`make_scale_policy`, `ground_truth_scale`, ...).
        gap_s: preferred time between the frames of a pair (s; accepted 0.5–4 × gap as in the node).
        rate_hz: keyframes per second of image time.
        window_s: audio window centred on each keyframe (s).
        batch_size: most pairs per `estimate_batch` call.
        image_hook: applied to each decoded image before the estimators see it.
        progress: a tqdm bar over keyframes on stderr.
        on_keyframe: called for each integrated keyframe, the anchor included, e.g. to write messages.
        planar_up: the rig moves on a level floor with this up axis (camera frame; `Sensors.planar_up`).
        smoother: ties the interleaved pair chains together (`av_pose.pose.smoothing`; pose_node's default);
            None: each keyframe is its partner's pose times its estimate.
        direction_hold_s: where vision gives no translation direction but the scale is known, move along the last
            known direction of travel for at most this long (s; pose_node's `direction_hold_s`; 0: off).
        direction_hold_frame: `sensor` | `odom` | None: the rig's own axes with `planar_up` (a ground robot drives
            along its heading), else odom (`odometry.hold_frame_for`).

    Returns:
        name → OdometryTrack.
    """
    from tqdm import tqdm

    if not estimators:
        raise UserInputError('run_odometry needs at least one estimator')
    if not (rate_hz > 0 and window_s > 0 and batch_size >= 1):
        raise UserInputError(f'need rate_hz > 0, window_s > 0, batch_size >= 1; got {rate_hz}, {window_s}, '
                             f'{batch_size}')
    times = np.asarray(recording.frame_times_s, dtype=np.float64)
    keys = [int(k) for k in keyframe_indices(times, 1.0 / rate_hz)]
    sensors = recording_sensors(recording, planar_up)
    hold = {'direction_hold_s': direction_hold_s,
            'direction_hold_frame': direction_hold_frame or hold_frame_for(planar_up is not None)}
    integrators = {name: OdometryIntegrator(scale(), gap_s=gap_s, smoother=smoother, **hold) for name in estimators}
    tracks = {name: OdometryTrack(name, scale=integrators[name].scale.describe()) for name in estimators}
    lead = integrators[next(iter(estimators))]   # the gaps are the same for all
    for estimator in estimators.values():
        estimator.forget()
    views: dict[int, View] = {}

    def view(index: int) -> View:
        if index not in views:
            image = recording.frame(index)
            if image_hook is not None:
                image = image_hook(image, index)
            audio, coverage = recording.audio_window(float(times[index]), window_s)
            views[index] = View(float(times[index]), image, audio, float(coverage))
        return views[index]

    def record(name: str, index: int, keyframe_pose: np.ndarray, covariance: np.ndarray,
               step: SequenceStep | None = None) -> None:
        track = tracks[name]
        if step is not None:
            track.steps.append(step)
        if on_keyframe is not None:
            on_keyframe(name, index, keyframe_pose, step)
        track.frames.append(index)
        track.stamps_s.append(float(times[index]))
        track.T_odom_cam.append(keyframe_pose)
        track.covariances.append(covariance)

    def estimate(name: str, batch: list[int]) -> None:
        """Plan `batch` in `name`'s chain, estimate its pairs, settle them, then the deferred restarts.

        `OdometryIntegrator.plan`, `settle` and `finish`, as pose_node's worker calls them.
        """
        integrator, stamps = integrators[name], [float(times[index]) for index in batch]
        plan = integrator.plan(stamps, batch)
        for position, keyframe in plan.anchors:
            record(name, batch[position], keyframe.T_odom_sensor, keyframe.covariance)
        if plan.pairs:
            pairs = [PosePair(view(partner.payload), view(batch[position]), sensors,
                              integrator.translation_prior(partner, stamps[position]))
                     for position, partner in plan.pairs]
            began = time.perf_counter()
            estimates = estimators[name].estimate_batch(pairs)
            tracks[name].seconds += time.perf_counter() - began
            if len(estimates) != len(pairs):
                raise RuntimeError(f'{name} returned {len(estimates)} estimates for {len(pairs)} pairs')
            for (position, partner), result in zip(plan.pairs, estimates):
                b, result = batch[position], checked_estimate(result)
                tracks[name].pairs.append(PairAttempt(b, partner.payload, stamps[position], result))
                outcome = integrator.settle(partner, stamps[position], result, payload=b)
                if isinstance(outcome, OdometryStep):
                    record(name, b, outcome.T_odom_sensor, outcome.covariance,
                           SequenceStep(b, partner.payload, result, outcome))
                elif outcome is not None:   # dropped, and the chain restarted here
                    record(name, b, outcome.T_odom_sensor, outcome.covariance)
        for position, keyframe in integrator.finish(plan, stamps, batch):
            record(name, batch[position], keyframe.T_odom_sensor, keyframe.covariance)
        tracks[name].restarts = integrator.restarts

    position = 0
    with tqdm(total=len(keys), unit='frame', desc='odometry', disable=not progress) as bar:
        while position < len(keys):
            start_s = times[keys[position]]
            batch = []
            while position < len(keys) and len(batch) < batch_size \
                    and times[keys[position]] - start_s < lead.min_gap_s - STAMP_TOLERANCE_S:
                batch.append(keys[position])
                position += 1
            for name in estimators:
                estimate(name, batch)
            oldest = min((b for b in views), default=None)
            while oldest is not None and times[oldest] < times[batch[-1]] - lead.max_gap_s - STAMP_TOLERANCE_S:
                del views[oldest]
                oldest = min((b for b in views), default=None)
            bar.update(len(batch))
    return tracks


def keyframe_estimator(array: MicArray, sample_rate: float, method: str | None = None, num_sources: int = 2,
                       device: str = 'cpu', onset_emphasis: bool = True) -> DoaEstimator | OnsetEmphasisDoa:
    """The keyframes' DOA (sound arrows, mount calibration), as `pose_node`, the bag tool and `calibrate` use it.

    `method` defaults to NormMUSIC (intensity for FOA arrays), up to `num_sources` peaks; with `onset_emphasis`
    an onset-weighted spectrum is added (`av_pose.audio.doa.onset`: the room's reflections pull less).
    """
    from av_pose.audio.doa import make_estimator

    method = method or ('intensity' if array.kind == 'foa' else 'normmusic')
    return make_estimator(method, array, sample_rate, onset_emphasis, device=device,
                          num_sources=min(num_sources, array.num_channels - 1))


def keyframe_doa(recording: Any, frames: list[int], window_s: float = 1.0, method: str | None = None,
                 num_sources: int = 2, batch_size: int = 32, device: str = 'cpu',
                 onset_emphasis: bool = True) -> list[DoaFrame]:
    """DOA (`keyframe_estimator`: spectrum, strongest peaks) of the `window_s` window centred on each of `frames`."""
    estimator = keyframe_estimator(recording.mic_array, int(recording.sample_rate), method, num_sources, device,
                                   onset_emphasis)
    times = np.asarray(recording.frame_times_s, dtype=np.float64)
    out: list[DoaFrame] = []
    try:
        for first in range(0, len(frames), batch_size):
            chunk = frames[first:first + batch_size]
            windows = [recording.audio_window(float(times[i]), window_s) for i in chunk]
            result = estimator.estimate(np.stack([samples for samples, _ in windows]))
            out += [DoaFrame(float(times[i]), result.spectrum[k], result.azimuths_deg[k], result.confidence[k],
                             float(coverage)) for k, (i, (_, coverage)) in enumerate(zip(chunk, windows))]
    finally:
        estimator.release()
    return out
