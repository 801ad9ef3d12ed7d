"""A short history of stamped poses, looked up at any time (odometry in, the pose at an audio stamp out)."""
from __future__ import annotations

from collections import deque

import numpy as np

from av_pose.geometry import interpolate_poses


class PoseHistory:
    """Stamped 4×4 poses T_world_body, interpolated (slerp + linear) at query times.

    Args:
        capacity_s: Poses older than this before the newest are dropped, seconds.
        max_extrapolation_s: A query up to this far outside the stored span gets the nearest pose; further
            out it gets None (the pose is unknown, not guessed).
    """

    def __init__(self, capacity_s: float = 30.0, max_extrapolation_s: float = 0.25) -> None:
        self.capacity_s = float(capacity_s)
        self.max_extrapolation_s = float(max_extrapolation_s)
        self._stamps: deque[float] = deque()
        self._poses: deque[np.ndarray] = deque()

    def __len__(self) -> int:
        return len(self._stamps)

    def push(self, stamp_s: float, T_world_body: np.ndarray) -> bool:
        """Add a pose; False (and nothing stored) for a non-finite pose. Time going back clears the history."""
        T = np.asarray(T_world_body, dtype=np.float64)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)) or not np.isfinite(stamp_s):
            return False
        if self._stamps and stamp_s <= self._stamps[-1]:
            if stamp_s == self._stamps[-1]:
                self._poses[-1] = T
                return True
            self.clear()  # a bag restarted or the clock jumped back
        self._stamps.append(float(stamp_s))
        self._poses.append(T)
        while self._stamps[-1] - self._stamps[0] > self.capacity_s:
            self._stamps.popleft()
            self._poses.popleft()
        return True

    def clear(self) -> None:
        """Forget every pose."""
        self._stamps.clear()
        self._poses.clear()

    def at(self, stamp_s: float) -> np.ndarray | None:
        """T_world_body at `stamp_s`, or None when outside the history (beyond `max_extrapolation_s`)."""
        if not self._stamps:
            return None
        margin = self.max_extrapolation_s
        if stamp_s < self._stamps[0] - margin or stamp_s > self._stamps[-1] + margin:
            return None
        return interpolate_poses(np.asarray(self._stamps), np.stack(self._poses), float(stamp_s))
