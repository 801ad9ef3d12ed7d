"""Translation scale of monocular relative poses: how far the rig moved between two stamps.

Monocular relative poses give a translation *direction*. `NoScale` keeps translation at zero with
UNKNOWN_VARIANCE (rotation-only odometry), `FixedSpeed` assumes a speed, `ReferenceScale` takes the
distance travelled over the same interval from another odometry source (wheels), the usual monocular fix.
`scaled_relative` applies a scale to a `PoseEstimate`. No ROS here.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass

import numpy as np

from av_pose.errors import UserInputError
from av_pose.geometry import symmetric
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
    """Distance over [t_a, t_b] from another odometry source's positions (e.g. wheel odometry).

    Positions are linearly interpolated between stamped samples; an interval not covered by the samples has
    no scale. The standard deviation is `relative_sigma` · distance + `floor_m`.
    """

    name = 'odometry'

    def __init__(self, history_s: float = 30.0, relative_sigma: float = 0.05, floor_m: float = 0.01) -> None:
        self.history_s, self.relative_sigma, self.floor_m = float(history_s), float(relative_sigma), float(floor_m)
        self._stamps: deque[float] = deque()
        self._positions: deque[np.ndarray] = deque()

    def add(self, stamp_s: float, position_m) -> bool:
        """Add a sample (stamp in seconds, position (3,) in the reference's own frame); False if rejected."""
        position = np.asarray(position_m, dtype=np.float64).reshape(3)
        if not (math.isfinite(stamp_s) and np.all(np.isfinite(position))):
            return False
        if self._stamps and stamp_s <= self._stamps[-1]:
            if stamp_s < self._stamps[-1] - 1.0:  # a jump back (bag loop): start over
                self.reset()
            else:
                return False
        self._stamps.append(float(stamp_s))
        self._positions.append(position)
        while self._stamps and self._stamps[0] < stamp_s - self.history_s:
            self._stamps.popleft()
            self._positions.popleft()
        return True

    def position_at(self, t: float) -> np.ndarray | None:
        """Interpolated position at `t`, or None outside the stored samples."""
        stamps = self._stamps
        if not stamps or t < stamps[0] - STAMP_TOLERANCE_S or t > stamps[-1] + STAMP_TOLERANCE_S:
            return None
        i = min(max(bisect_left(stamps, t), 1), len(stamps) - 1) if len(stamps) > 1 else 0
        if len(stamps) == 1:
            return self._positions[0].copy()
        t0, t1 = stamps[i - 1], stamps[i]
        w = 0.0 if t1 == t0 else min(max((t - t0) / (t1 - t0), 0.0), 1.0)
        return (1.0 - w) * self._positions[i - 1] + w * self._positions[i]

    def scale(self, t_a: float, t_b: float) -> Scale | None:
        """Straight-line distance between the interpolated positions at t_a and t_b."""
        p_a, p_b = self.position_at(t_a), self.position_at(t_b)
        if p_a is None or p_b is None:
            return None
        distance = float(np.linalg.norm(p_b - p_a))
        return Scale(distance, (self.relative_sigma * distance + self.floor_m) ** 2)

    def reset(self) -> None:
        """Forget all samples."""
        self._stamps.clear()
        self._positions.clear()

    def describe(self) -> str:
        """One line."""
        return 'odometry (distance from the reference odometry topic over each interval)'


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
