"""What the pose outputs hold, without any message library.

Shared by `pose_node` (rclpy messages) and `av-pose bag` (rosbags messages), so both draw and clamp alike.

Poses are 4×4 `T_parent_child`; covariances 6×6 ordered (x, y, z, rot x, rot y, rot z) as ROS messages have
them. Marker types and actions are the visualization_msgs/Marker integer codes.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from av_pose.geometry import UNKNOWN_VARIANCE

MARKER_NAMESPACES = ('trajectory', 'camera', 'sound')
ARROW, LINE_STRIP, LINE_LIST = 0, 4, 5
"""visualization_msgs/Marker types."""
ADD, DELETEALL = 0, 3
"""visualization_msgs/Marker actions."""


def finite_covariance(covariance: np.ndarray) -> list[float]:
    """6×6 → 36 floats (row-major), symmetric, with non-finite or > UNKNOWN_VARIANCE entries clamped."""
    cov = np.asarray(covariance, dtype=np.float64).reshape(6, 6)
    cov = np.where(np.isfinite(cov), cov, UNKNOWN_VARIANCE)
    cov = np.clip(0.5 * (cov + cov.T), -UNKNOWN_VARIANCE, UNKNOWN_VARIANCE)
    return [float(v) for v in cov.reshape(-1)]


def frustum_lines(T_frame_cam: np.ndarray, K: np.ndarray | None, image_size: tuple[int, int] | None,
                  depth_m: float = 0.3) -> np.ndarray:
    """Line-list vertices (16×3) of a camera frustum `depth_m` deep, in the frame of T_frame_cam.

    Corners come from the intrinsics and image size (W, H); without them a 60°×45° field of view is drawn.
    """
    if K is not None and image_size is not None:
        width, height = image_size
        pixels = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
        rays = np.c_[(pixels - K[:2, 2]) / np.diag(K)[:2], np.ones(4)]
    else:
        rays = np.array([[-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=np.float64) * [0.577, 0.414, 1]
    corners = rays * depth_m / rays[:, 2:3]
    apex = np.zeros(3)
    local = np.array([v for i in range(4) for v in (apex, corners[i])]
                     + [v for i in range(4) for v in (corners[i], corners[(i + 1) % 4])])
    return local @ T_frame_cam[:3, :3].T + T_frame_cam[:3, 3]


def sound_directions(azimuths_deg: Sequence[float], confidence: Sequence[float],
                     T_frame_array: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(origin (3,), unit direction (3,), confidence) in the frame of T_frame_array for each finite DOA peak.

    The azimuths (degrees, CCW from the array's x axis) are horizontal in the array frame (REP-103).
    """
    out = []
    for azimuth, weight in zip(azimuths_deg, confidence):
        if np.isfinite(azimuth) and np.isfinite(weight):
            direction = np.array([math.cos(math.radians(azimuth)), math.sin(math.radians(azimuth)), 0.0])
            out.append((T_frame_array[:3, 3].copy(), T_frame_array[:3, :3] @ direction, float(weight)))
    return out


@dataclass(frozen=True)
class MarkerSpec:
    """One visualization_msgs/Marker, library-free.

    `points` N×3 in the markers' frame, `color` RGBA in [0, 1], `scale` (x, y, z) as Marker.scale means it for
    the type, `lifetime_s` 0 = forever.
    """

    ns: str
    id: int
    type: int
    action: int
    points: np.ndarray
    color: tuple[float, float, float, float]
    scale: tuple[float, float, float]
    lifetime_s: float = 0.0


class TrajectoryTrail:
    """The positions the trajectory marker draws, thinned, bounded, and re-sent only now and then.

    A LINE_STRIP carries every point in each message, and a viewer keeps the last one it got (the marker never
    expires), so sending it with every estimate costs O(points) per estimate for nothing new: 2000 points were
    about 49 KiB and 5 ms of message building and serialising, ten times a second. Here a position joins when
    it lies at least `min_step_m` from the last one kept (a robot standing still adds none), the oldest are
    dropped beyond `max_points`, and `add` hands the points out once per `period_s` of stamp time (0: every
    time), also while nothing moved, for a viewer that subscribes late.

    Args:
        max_points: Points kept (≥ 2).
        min_step_m: Least distance, metres, between consecutive points kept (0: every position).
        period_s: Least stamp time, seconds, between two markers sent; a stamp that goes back (a bag replayed
            again) sends at once.
    """

    def __init__(self, max_points: int = 2000, min_step_m: float = 0.01, period_s: float = 1.0) -> None:
        self.points: deque[np.ndarray] = deque(maxlen=max(2, int(max_points)))
        self.min_step_m = float(min_step_m)
        self.period_s = float(period_s)
        self._sent_s = -math.inf

    def clear(self) -> None:
        """Forget the points (the odometry restarted: no line back to the old path); the next one goes at once."""
        self.points.clear()
        self._sent_s = -math.inf

    def add(self, stamp_s: float, position: np.ndarray) -> np.ndarray | None:
        """Offer a position (3,) at `stamp_s`; returns the N×3 points when a marker is due, else None."""
        position = np.asarray(position, dtype=np.float64).reshape(3)
        if np.all(np.isfinite(position)) and (not self.points or np.linalg.norm(
                position - self.points[-1]) >= self.min_step_m):
            self.points.append(position.copy())
        due = stamp_s < self._sent_s or stamp_s - self._sent_s >= self.period_s
        if not (due and self.points):
            return None
        self._sent_s = stamp_s
        return np.array(self.points)


def pose_marker_specs(trajectory: np.ndarray | None, T_frame_cam: np.ndarray, K: np.ndarray | None,
                      image_size: tuple[int, int] | None,
                      sounds: Sequence[tuple[np.ndarray, np.ndarray, float]] = (),
                      lifetime_s: float = 0.0) -> list[MarkerSpec]:
    """Trajectory (LINE_STRIP of N×3 positions; None: not in this message), a camera frustum, and sound arrows.

    `sounds`: (origin (3,), unit direction (3,), confidence in [0, 1]) in the markers' frame, as from
    `sound_directions`. The first spec deletes the previous arrows; the trajectory never expires (a viewer
    keeps the last one sent: `TrajectoryTrail` says when to send it again); the frustum and arrows live
    `lifetime_s` (0 = forever).
    """
    trajectory_ns, camera_ns, sound_ns = MARKER_NAMESPACES
    empty = np.zeros((0, 3))
    specs = [MarkerSpec(sound_ns, 0, ARROW, DELETEALL, empty, (0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0))]
    if trajectory is not None:
        specs.append(MarkerSpec(trajectory_ns, 0, LINE_STRIP, ADD,
                                np.asarray(trajectory, dtype=np.float64).reshape(-1, 3), (0.1, 0.8, 1.0, 1.0),
                                (0.02, 0.0, 0.0)))
    specs.append(MarkerSpec(camera_ns, 0, LINE_LIST, ADD, frustum_lines(T_frame_cam, K, image_size),
                            (1.0, 0.9, 0.2, 1.0), (0.01, 0.0, 0.0), lifetime_s))
    for k, (origin, direction, confidence) in enumerate(sounds):
        length = max(0.1, float(confidence))
        points = np.array([origin, np.asarray(origin) + length * np.asarray(direction)], dtype=np.float64)
        specs.append(MarkerSpec(sound_ns, k, ARROW, ADD, points, (1.0, 0.3, 0.2, 0.5 + 0.5 * float(confidence)),
                                (0.03, 0.06, 0.08), lifetime_s))  # shaft and head diameters, head length
    return specs
