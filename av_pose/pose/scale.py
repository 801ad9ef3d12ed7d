"""Translation scale of monocular relative poses: how far the rig moved between two stamps.

Monocular relative poses give a translation *direction*. `NoScale` keeps translation at zero with
UNKNOWN_VARIANCE (rotation-only odometry), `FixedSpeed` assumes a speed, `ReferenceScale` takes the
distance travelled over the same interval from another odometry source (wheels), the usual monocular fix; given
that source's orientations and where the camera sits on its body, it also says which way the camera went
(`ScalePolicy.travel`). `scaled_relative` applies a scale to a `PoseEstimate`. No ROS here.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass

import numpy as np

from av_pose.errors import UserInputError
from av_pose.geometry import interpolate_poses, invert_transform, make_transform, symmetric
from av_pose.pose.base import UNKNOWN_VARIANCE, PoseEstimate

SCALE_POLICIES = ('none', 'fixed', 'odometry')
STAMP_TOLERANCE_S = 1e-6
"""Slack on every gap decision (s): stamps on the ROS clock (about 1.7e9 s) carry up to 2.4e-7 s of float64 rounding,
so frames exactly `min_gap_s` or `max_gap_s` apart must not fall on either side by chance (with `pair_gap_s` 1.2,
frames stamped exactly 0.6 s apart read 0.59999990 s on six of ten such stamps: too young to pair, where the same
frames on a scene's own clock paired)."""


@dataclass(frozen=True)
class Scale:
    """Distance travelled between two stamps: `distance_m` and its variance (m²)."""

    distance_m: float
    variance_m2: float


class ScalePolicy(ABC):
    """Gives the translation magnitude of a relative pose between stamps t_a < t_b (seconds)."""

    name: str

    @abstractmethod
    def scale(self, t_a: float, t_b: float) -> Scale | None:
        """The distance between the two stamps, or None when it is not known."""

    def travel(self, t_a: float, t_b: float) -> np.ndarray | None:
        """The sensor's displacement from t_a to t_b (3,) in its own axes at t_a, metres, or None when not known.

        Only a reference odometry with orientations and the sensor's extrinsic knows it (`ReferenceScale`).
        """
        return None

    def describe(self) -> str:
        """One line for logs, diagnostics and `Odometry` consumers."""
        return self.name

    def reset(self) -> None:
        """Forget stored data (after a time jump)."""
        return None


class NoScale(ScalePolicy):
    """No scale: rotation-only odometry (translation zero, variance UNKNOWN_VARIANCE)."""

    name = 'none'

    def scale(self, t_a: float, t_b: float) -> Scale | None:
        """Always unknown."""
        return None

    def describe(self) -> str:
        """One line."""
        return 'none (rotation only; translation unknown)'


class FixedSpeed(ScalePolicy):
    """A speed prior: distance = speed · (t_b − t_a), standard deviation `relative_sigma` of it."""

    name = 'fixed'

    def __init__(self, speed_mps: float, relative_sigma: float = 0.5) -> None:
        if not (math.isfinite(speed_mps) and speed_mps >= 0 and relative_sigma > 0):
            raise UserInputError(f'fixed scale needs a speed >= 0 m/s and a positive relative sigma, got '
                                 f'{speed_mps} and {relative_sigma}')
        self.speed_mps, self.relative_sigma = float(speed_mps), float(relative_sigma)

    def scale(self, t_a: float, t_b: float) -> Scale:
        """Speed · dt with a standard deviation of `relative_sigma` · speed · dt (at least 1 cm)."""
        distance = self.speed_mps * max(0.0, t_b - t_a)
        return Scale(distance, max(self.relative_sigma * distance, 0.01) ** 2)

    def describe(self) -> str:
        """One line."""
        return f'fixed ({self.speed_mps:g} m/s prior, ±{100 * self.relative_sigma:.0f} %)'


class ReferenceScale(ScalePolicy):
    """Distance over [t_a, t_b] from another odometry source's poses (e.g. wheel odometry).

    Positions are linearly interpolated between stamped samples; an interval not covered by the samples has
    no scale. The standard deviation is `relative_sigma` · distance + `floor_m`.

    Samples given with their orientation (`add(..., rotation)`), and with `T_body_sensor` set (the sensor, e.g. the
    camera, in the reference's body frame; identity when the reference poses the sensor itself), also give the
    sensor's own travel (`travel`): its displacement in its axes at t_a, lever arm included; the distance is then
    that travel's length (a camera ahead of the wheels' axle moves further than the axle in a turn).
    """

    name = 'odometry'

    def __init__(self, history_s: float = 30.0, relative_sigma: float = 0.05, floor_m: float = 0.01,
                 T_body_sensor: np.ndarray | None = None) -> None:
        self.history_s, self.relative_sigma, self.floor_m = float(history_s), float(relative_sigma), float(floor_m)
        self.T_body_sensor = None if T_body_sensor is None else np.asarray(T_body_sensor, dtype=np.float64)
        self._stamps: deque[float] = deque()
        self._positions: deque[np.ndarray] = deque()
        self._rotations: deque[np.ndarray | None] = deque()

    def add(self, stamp_s: float, position_m, rotation: np.ndarray | None = None) -> bool:
        """Add a sample; False if rejected.

        Args:
            stamp_s: seconds.
            position_m: (3,) body position in the reference's own frame, metres.
            rotation: 3×3 body orientation in that frame, or None (distances only around this sample).
        """
        position = np.asarray(position_m, dtype=np.float64).reshape(3)
        if not (math.isfinite(stamp_s) and np.all(np.isfinite(position))):
            return False
        if rotation is not None:
            rotation = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
            if not (np.all(np.isfinite(rotation)) and np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-4)):
                rotation = None
        if self._stamps and stamp_s <= self._stamps[-1]:
            if stamp_s < self._stamps[-1] - 1.0:  # a jump back (bag loop): start over
                self.reset()
            else:
                return False
        self._stamps.append(float(stamp_s))
        self._positions.append(position)
        self._rotations.append(rotation)
        while self._stamps and self._stamps[0] < stamp_s - self.history_s:
            self._stamps.popleft()
            self._positions.popleft()
            self._rotations.popleft()
        return True

    def _bracket(self, t: float) -> tuple[int, float] | None:
        """(i, w): `t` lies between samples i − 1 and i at weight w of sample i; None outside the samples."""
        stamps = self._stamps
        if not stamps or t < stamps[0] - STAMP_TOLERANCE_S or t > stamps[-1] + STAMP_TOLERANCE_S:
            return None
        if len(stamps) == 1:
            return 0, 1.0
        i = min(max(bisect_left(stamps, t), 1), len(stamps) - 1)
        t0, t1 = stamps[i - 1], stamps[i]
        return i, 0.0 if t1 == t0 else min(max((t - t0) / (t1 - t0), 0.0), 1.0)

    def position_at(self, t: float) -> np.ndarray | None:
        """Interpolated position at `t`, or None outside the stored samples."""
        bracket = self._bracket(t)
        if bracket is None:
            return None
        i, w = bracket
        if len(self._stamps) == 1:
            return self._positions[0].copy()
        return (1.0 - w) * self._positions[i - 1] + w * self._positions[i]

    def pose_at(self, t: float) -> np.ndarray | None:
        """T_reference_body (4×4) at `t`, or None outside the samples or without their orientations.

        `interpolate_poses` (slerp, linear) between the two samples around `t`.
        """
        bracket = self._bracket(t)
        if bracket is None:
            return None
        ends = [bracket[0]] if len(self._stamps) == 1 else [bracket[0] - 1, bracket[0]]
        if any(self._rotations[k] is None for k in ends):
            return None
        poses = np.stack([make_transform(self._rotations[k], self._positions[k]) for k in ends])
        return interpolate_poses(np.array([self._stamps[k] for k in ends]), poses, float(t))

    def travel(self, t_a: float, t_b: float) -> np.ndarray | None:
        """The sensor's displacement from t_a to t_b in its axes at t_a (3,), metres (`ScalePolicy.travel`)."""
        if self.T_body_sensor is None:
            return None
        T_a, T_b = self.pose_at(t_a), self.pose_at(t_b)
        if T_a is None or T_b is None:
            return None
        T_sensor_a_b = invert_transform(T_a @ self.T_body_sensor) @ T_b @ self.T_body_sensor
        return T_sensor_a_b[:3, 3].copy()

    def scale(self, t_a: float, t_b: float) -> Scale | None:
        """Straight-line distance between the interpolated positions at t_a and t_b (the sensor's, if `travel`)."""
        travel = self.travel(t_a, t_b)
        if travel is not None:
            distance = float(np.linalg.norm(travel))
        else:
            p_a, p_b = self.position_at(t_a), self.position_at(t_b)
            if p_a is None or p_b is None:
                return None
            distance = float(np.linalg.norm(p_b - p_a))
        return Scale(distance, (self.relative_sigma * distance + self.floor_m) ** 2)

    def reset(self) -> None:
        """Forget all samples."""
        self._stamps.clear()
        self._positions.clear()
        self._rotations.clear()

    def describe(self) -> str:
        """One line."""
        travel = ('; with its orientations, also the direction of travel' if self.T_body_sensor is not None
                  and any(R is not None for R in self._rotations) else '')
        return f'odometry (distance from the reference odometry topic over each interval{travel})'


def make_scale_policy(name: str, speed_mps: float = 0.0) -> ScalePolicy:
    """`none` | `fixed` (needs `speed_mps`) | `odometry`."""
    if name == 'none':
        return NoScale()
    if name == 'fixed':
        return FixedSpeed(speed_mps)
    if name == 'odometry':
        return ReferenceScale()
    raise UserInputError(f'translation_scale must be one of {", ".join(SCALE_POLICIES)}, got {name!r}')


def scaled_relative(estimate: PoseEstimate, scale: Scale | None) -> tuple[np.ndarray, np.ndarray]:
    """T_a_b with a metric translation, and its 6×6 covariance (camera-a axes, metres and radians).

    The unit direction d is scaled to s·d; its covariance becomes s²·Σ_dir + σ_s²·d·dᵀ, and the
    translation-rotation cross terms scale by s. Without a scale or a known direction the translation is
    zero with UNKNOWN_VARIANCE on each axis, uncorrelated with the rotation.
    """
    T = np.array(estimate.T_a_b, dtype=np.float64)
    cov = np.array(estimate.covariance, dtype=np.float64)
    direction = T[:3, 3]
    norm = float(np.linalg.norm(direction))
    out = np.zeros((6, 6))
    out[3:, 3:] = cov[3:, 3:]
    if scale is None or not estimate.translation_known or norm < 1e-9:
        T[:3, 3] = 0.0
        out[:3, :3] = np.eye(3) * UNKNOWN_VARIANCE
        return T, out
    unit = direction / norm
    s = scale.distance_m
    T[:3, 3] = s * unit
    out[:3, :3] = s**2 * cov[:3, :3] + scale.variance_m2 * np.outer(unit, unit)
    out[:3, 3:] = s * cov[:3, 3:]
    out[3:, :3] = s * cov[3:, :3]
    return T, symmetric(out)
