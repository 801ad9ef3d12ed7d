"""The one inference interface for relative camera pose: `PoseEstimator`.

Every pose method (the geometric estimator, the learned audio-visual models, their baselines) implements
it, and every caller (the ROS nodes, `av-pose bag`, `av-pose eval`, the demo, calibration) uses only it.

Conventions (docs/CONTRACTS.md):
- A pair is two views, a = the earlier frame (Reloc3r "view 1") and b = the later one ("view 2").
- `T_a_b` (4×4) maps camera-b points into camera-a coordinates (the Reloc3r "2→1" pose, ground truth
  inv(T_world_a)·T_world_b); `T_b_a` is its inverse. Camera frames are OpenCV optical (z forward, x right,
  y down).
- The translation of a monocular estimate is a direction: unit length when known, zero when unknown
  (`translation_known` False, and its variance huge). Never an invented magnitude.
- `covariance` is the 6×6 covariance of the error of `T_a_b`, as a tangent vector in camera-a coordinates,
  ordered (tx, ty, tz, rx, ry, rz) as ROS messages have it (REP-103): translation in (unit-direction)²,
  rotation in rad². Rotation error = so3_log(R_trueᵀ · R_est) (radians, camera-a axes).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from av_pose.audio.arrays import MicArray
from av_pose.geometry import UNKNOWN_VARIANCE, array_mount, invert_transform


@dataclass(frozen=True)
class Sensors:
    """What the estimator must know about the rig to use a pair.

    Attributes:
        K: 3×3 pinhole intrinsics (pixels) of the images as given, or None when unknown (the geometric
            vision path then cannot run; learned models do not need it).
        array: the microphone array (channel order of the audio windows), or None for no audio.
        sample_rate: audio sample rate (Hz) of the windows.
        T_cam_array: 4×4 mount, maps array-frame points (REP-103) into the camera optical frame.
        planar_up: for a rig that moves on a level floor (a ground robot: it turns only about its up axis and
            travels only across it), that up axis in the camera optical frame, a unit 3-vector ((0, −1, 0) for a
            level camera); None for free 6-DoF motion. Estimators that can use the constraint do
            (`geometric`); the others ignore it.
    """

    K: np.ndarray | None = None
    array: MicArray | None = None
    sample_rate: int | None = None
    T_cam_array: np.ndarray = field(default_factory=array_mount)
    planar_up: np.ndarray | None = None


@dataclass(frozen=True)
class View:
    """One frame of the rig.

    Attributes:
        stamp_s: time of the image (seconds, the data's own clock).
        image: H×W×3 uint8 RGB, or None when there is no usable image.
        audio: C×N float32 window (samples in [-1, 1]) centred on `stamp_s`, channels in the array's order,
            or None when there is no audio.
        audio_coverage: fraction in [0, 1] of the window that holds recorded samples (the rest is zeros).
    """

    stamp_s: float
    image: np.ndarray | None = None
    audio: np.ndarray | None = None
    audio_coverage: float = 1.0


@dataclass(frozen=True)
class PosePair:
    """Two views (a earlier, b later) and the sensors that recorded them.

    `translation_prior_m`: where the caller has a motion model (the odometry: its known distance along the last
    known direction of travel), the camera's expected displacement from a to b in camera-a coordinates (3,),
    metres (T_a_b's translation); None when unknown. A hint, not a measurement: estimators that can use it do
    (`geometric`: the parallax it adds to the audio yaw, `av_pose.pose.parallax`); the others ignore it.
    """

    view_a: View
    view_b: View
    sensors: Sensors
    translation_prior_m: np.ndarray | None = None


@dataclass
class PoseEstimate:
    """The relative pose of one pair (see the module docstring for frames and units).

    Attributes:
        T_a_b: 4×4 camera b → camera a. Translation = unit direction, or zeros when unknown.
        covariance: 6×6, (tx, ty, tz, rx, ry, rz) in camera-a coordinates.
        translation_known: False when the estimate says nothing about the translation direction.
        valid: False when no rotation could be estimated at all (T_a_b is then identity and the rotation
            variance UNKNOWN_VARIANCE); callers publish nothing for invalid estimates.
        used: which inputs the answer rests on: a subset of {'vision', 'audio'} as a sorted tuple.
        confidence: in [0, 1], higher is better (for display and gating; the covariance is the number to
            fuse with).
        info: method-specific diagnostics (plain floats/ints/strs/bools): inlier counts, audio shift, flags
            such as 'audio_unavailable' (a short or non-finite window) or 'audio_refused' (sound field changed).
    """

    T_a_b: np.ndarray
    covariance: np.ndarray
    translation_known: bool = True
    valid: bool = True
    used: tuple[str, ...] = ()
    confidence: float = 1.0
    info: dict = field(default_factory=dict)

    @property
    def T_b_a(self) -> np.ndarray:
        """4×4 camera a → camera b: the inverse of T_a_b (Reloc3r's "1→2")."""
        return invert_transform(self.T_a_b)

    @classmethod
    def invalid(cls, reason: str) -> PoseEstimate:
        """An estimate that says nothing (identity, unknown everything), with the reason in `info`."""
        return cls(T_a_b=np.eye(4), covariance=np.eye(6) * UNKNOWN_VARIANCE, translation_known=False,
                   valid=False, used=(), confidence=0.0, info={'reason': reason})


class PoseEstimator(ABC):
    """Two views → relative pose both ways, with a covariance. Batched; any device.

    Subclasses implement `estimate_batch`. They never raise on bad data (a missing image, a short or NaN audio
    window): they answer from what is usable and say so in `PoseEstimate.used` / `info`, or return
    `PoseEstimate.invalid(reason)`. They never return NaN.
    """

    name: str = 'pose'
    needs_intrinsics: bool = False
    """True when the estimator cannot use images without `Sensors.K`."""

    @abstractmethod
    def estimate_batch(self, pairs: Sequence[PosePair]) -> list[PoseEstimate]:
        """One estimate per pair, in order."""

    def estimate(self, pair: PosePair) -> PoseEstimate:
        """Estimate one pair."""
        return self.estimate_batch([pair])[0]

    def forget(self) -> None:
        """Drop caches built from earlier pairs (e.g. analysed windows). The default keeps nothing."""
        return None

    def release(self) -> None:
        """Free what the estimator holds (tensors, the CUDA cache). The default holds nothing."""
        return None
