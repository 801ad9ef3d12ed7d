"""Smooth camera trajectories with guaranteed speed limits, evaluable at any time.

A trajectory is a uniform cubic B-spline over control points (x, y, z, yaw, pitch, roll) of the rig body
frame (REP-103: x forward, y left, z up; yaw/pitch/roll in radians, z-y-x order, so positive pitch tilts
the view down). The camera looks along the body x axis: R_world_cam = R_world_body · R_CAM_ARRAY_DEFAULTᵀ,
so the default microphone array (T_cam_array with R_CAM_ARRAY_DEFAULT) coincides with the body frame.

B-spline properties give the guarantees the generator relies on: between knots the curve is a convex
combination of four consecutive control points (so it stays in their bounding box), and its derivative is a
convex combination of control-point differences divided by the knot interval (so speeds are bounded by the
largest step). Four equal control points give an exactly still interval.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from av_pose.errors import UserInputError
from av_pose.geometry import R_CAM_ARRAY_DEFAULT, make_transform, rotation_from_ypr
from av_pose.scene.room import Room

TRAJECTORY_MODES = ('free', 'rotation', 'ground', 'drive')
"""free: smooth 6-DoF motion through the room; rotation: the camera stays at one point and only turns
(yaw sweeps with small pitch and roll, the SLfM setting); ground: a robot on the floor, the free mode's paths
and turns at one height with no pitch or roll (planar motion; the heading of travel is independent of the yaw,
as for a holonomic base); drive: a differential-drive robot on the floor, which travels along its heading (its body
x axis, where the camera looks), turns while it drives, and turns in place where a wall or furniture is ahead."""

DRIVE_MAX_TURN_SHARE = 0.5
"""Drive mode: while driving, the turn per knot is at most this share of the angular budget (a faster turn while
moving lets the spline's velocity lag the heading); in place it may use all of it."""

# Shares of the angular step budget per knot; their sum (1.0) keeps |ω| ≤ the angular speed limit.
_YAW_SHARE, _PITCH_SHARE, _ROLL_SHARE = 0.7, 0.2, 0.1


def frame_count(duration_s: float, fps: float) -> int:
    """Frames at t = k / fps for k = 0, 1, ... that fit in [0, duration_s] (both ends included)."""
    return int(np.floor(duration_s * fps + 1e-9)) + 1


def _bspline_weights(tau: np.ndarray) -> np.ndarray:
    """N×4 uniform cubic B-spline basis weights at local parameters tau ∈ [0, 1]."""
    tau2, tau3 = tau * tau, tau * tau * tau
    return np.stack([(1 - tau) ** 3, 3 * tau3 - 6 * tau2 + 4, -3 * tau3 + 3 * tau2 + 3 * tau + 1, tau3],
                    axis=-1) / 6.0


@dataclass(frozen=True)
class Trajectory:
    """Rig poses over time.

    Attributes:
        control_points: M×6 (M ≥ 4) rows of x, y, z (world metres), yaw, pitch, roll (radians).
        knot_interval_s: Time between knots; the trajectory lasts (M − 3) knot intervals.
        start_s: Time of the first pose in seconds.
    """

    control_points: np.ndarray
    knot_interval_s: float
    start_s: float = 0.0

    def __post_init__(self) -> None:
        points = np.asarray(self.control_points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 6 or points.shape[0] < 4 or not np.all(np.isfinite(points)):
            raise UserInputError(f'trajectory control points must be M×6 (M ≥ 4) finite values, got {points.shape}')
        if not self.knot_interval_s > 0:
            raise UserInputError(f'knot interval must be positive, got {self.knot_interval_s} s')
        object.__setattr__(self, 'control_points', points)

    @property
    def duration_s(self) -> float:
        """Length of the trajectory in seconds."""
        return (len(self.control_points) - 3) * self.knot_interval_s

    def state_at(self, times_s) -> np.ndarray:
        """N×6 (x, y, z, yaw, pitch, roll) at times (N,); times outside the trajectory are clamped to its ends."""
        times = np.atleast_1d(np.asarray(times_s, dtype=np.float64))
        segments = len(self.control_points) - 3
        knots = np.clip((times - self.start_s) / self.knot_interval_s, 0.0, segments)
        index = np.minimum(np.floor(knots).astype(np.int64), segments - 1)
        weights = _bspline_weights(knots - index)
        neighbours = self.control_points[index[:, None] + np.arange(4)]
        # Written relative to the first neighbour so that equal control points give exactly equal poses.
        offsets = neighbours[:, 1:] - neighbours[:, :1]
        return neighbours[:, 0] + np.einsum('nk,nkd->nd', weights[:, 1:], offsets)

    def sample(self, times_s) -> np.ndarray:
        """Camera poses T_world_cam (N×4×4, OpenCV optical axes) at times (N,) in seconds."""
        state = self.state_at(times_s)
        R_world_body = rotation_from_ypr(state[:, 3], state[:, 4], state[:, 5])
        return make_transform(R_world_body @ R_CAM_ARRAY_DEFAULT.T, state[:, :3])

    def pose_at(self, time_s: float) -> np.ndarray:
        """Camera pose T_world_cam (4×4) at one time in seconds."""
        return self.sample([time_s])[0]

    def frames(self, fps: float) -> tuple[np.ndarray, np.ndarray]:
        """Frame times (N,) = start + k/fps covering the trajectory, and their poses N×4×4."""
        if not fps > 0:
            raise UserInputError(f'frame rate must be positive, got {fps}')
        times = self.start_s + np.arange(frame_count(self.duration_s, fps)) / fps
        return times, self.sample(times)

    def still_intervals(self) -> list[tuple[float, float]]:
        """Time intervals (start, end) in seconds during which the pose is exactly constant."""
        points = self.control_points
        same = np.all(points[1:] == points[:-1], axis=1)
        still = [bool(np.all(same[i:i + 3])) for i in range(len(points) - 3)]
        intervals: list[tuple[float, float]] = []
        for i, is_still in enumerate(still):
            t0, t1 = self.start_s + i * self.knot_interval_s, self.start_s + (i + 1) * self.knot_interval_s
            if is_still and intervals and intervals[-1][1] == t0:
                intervals[-1] = (intervals[-1][0], t1)
            elif is_still:
                intervals.append((t0, t1))
        return intervals

    def to_dict(self) -> dict:
        """Plain-data (JSON-able) form."""
        return {'control_points': self.control_points.tolist(), 'knot_interval_s': float(self.knot_interval_s),
                'start_s': float(self.start_s)}

    @classmethod
    def from_dict(cls, data: dict) -> Trajectory:
        """Inverse of to_dict."""
        try:
            return cls(np.asarray(data['control_points'], dtype=np.float64), float(data['knot_interval_s']),
                       float(data.get('start_s', 0.0)))
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, UserInputError):
                raise
            raise UserInputError(f'malformed trajectory: {type(error).__name__}: {error}') from None


def _segment_box_is_free(room: Room, points: np.ndarray, margin_m: float) -> bool:
    """True when the bounding box of `points` (K×3) stays `margin_m` clear of the walls and every box."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    if np.any(lo < margin_m) or np.any(hi > np.asarray(room.size_m) - margin_m):
        return False
    return not any(np.all(lo < np.asarray(b.max_m) + margin_m) and np.all(hi > np.asarray(b.min_m) - margin_m)
                   for b in room.boxes)


def _start_position(room: Room, rng: np.random.Generator, margin_m: float, heights: tuple[float, float]):
    for _ in range(1000):
        candidate = np.array([rng.uniform(0, room.size_m[0]), rng.uniform(0, room.size_m[1]), rng.uniform(*heights)])
        if room.is_free(candidate, margin_m):
            return candidate
    raise UserInputError(f'no free space for the camera {margin_m} m from walls and furniture in this room')


def random_trajectory(room: Room, rng: np.random.Generator | int, duration_s: float, mode: str = 'free',
                      max_speed_m_s: float = 0.5, max_angular_speed_deg_s: float = 45.0,
                      knot_interval_s: float = 1.0, margin_m: float = 0.5, height_range_m=(1.2, 1.8),
                      max_pitch_deg: float = 10.0, max_roll_deg: float = 5.0, still_probability: float = 0.1,
                      still_knots: tuple[int, int] = (1, 3), start_s: float = 0.0) -> Trajectory:
    """A random smooth trajectory in `room`, deterministic given the seed / generator state.

    Guarantees (by construction, see the module docstring): linear speed ≤ `max_speed_m_s`, angular speed
    ≤ `max_angular_speed_deg_s`, the camera stays `margin_m` from walls and furniture, its height within
    `height_range_m` (clipped to the room), |pitch| ≤ `max_pitch_deg`, |roll| ≤ `max_roll_deg`. It starts and
    ends at rest. After each knot, with probability `still_probability` the camera holds its pose for a
    uniformly drawn number of knot intervals in `still_knots`. Mode 'ground' draws as 'free' does and then
    holds the height, pitch and roll: the same seed gives the same room and, seen from above, a similar path.
    """
    if mode not in TRAJECTORY_MODES:
        raise UserInputError(f'unknown trajectory mode {mode!r}; choose from {", ".join(TRAJECTORY_MODES)}')
    if not (duration_s > 0 and max_speed_m_s > 0 and max_angular_speed_deg_s > 0 and knot_interval_s > 0):
        raise UserInputError('trajectory duration, speed limits and knot interval must be positive')
    rng = np.random.default_rng(rng)
    heights = (max(height_range_m[0], margin_m), min(height_range_m[1], room.size_m[2] - margin_m))
    if heights[0] > heights[1]:
        raise UserInputError(f'camera height range {height_range_m} m does not fit the room with margin {margin_m} m')
    count = int(np.ceil(duration_s / knot_interval_s - 1e-9)) + 3
    step_m = max_speed_m_s * knot_interval_s
    angle_budget = np.radians(max_angular_speed_deg_s) * knot_interval_s
    max_pitch, max_roll = np.radians(max_pitch_deg), np.radians(max_roll_deg)

    start = np.concatenate([_start_position(room, rng, margin_m, heights),
                            [rng.uniform(-np.pi, np.pi), rng.uniform(-max_pitch, max_pitch) / 2, 0.0]])
    if mode in ('ground', 'drive'):
        start[4] = 0.0
    points = [start, start, start]  # three equal points: the spline starts exactly here, at rest
    if mode == 'drive':
        points = _drive_points(room, rng, points, count, step_m, angle_budget, margin_m, still_probability,
                               still_knots)
        return Trajectory(np.array(points), knot_interval_s, start_s)
    heading, yaw_direction = rng.uniform(-np.pi, np.pi), rng.choice([-1.0, 1.0])
    while len(points) < count - 2:
        previous = points[-1]
        if rng.random() < still_probability:
            points.extend([previous] * (int(rng.integers(still_knots[0], still_knots[1] + 1)) + 2))
            continue
        new = previous.copy()
        if mode != 'rotation':
            heading, new[:3] = _next_position(room, rng, np.array(points[-3:])[:, :3], heading, step_m,
                                              margin_m, heights)
            if mode == 'ground':
                new[2] = start[2]
        if rng.random() < 0.2:
            yaw_direction = -yaw_direction  # sweeps: keep turning one way for a while
        new[3] += yaw_direction * rng.uniform(0.3, 1.0) * _YAW_SHARE * angle_budget
        for column, limit, share in ((4, max_pitch, _PITCH_SHARE), (5, max_roll, _ROLL_SHARE)):
            change = np.clip(rng.uniform(-limit, limit) - previous[column], -share * angle_budget,
                             share * angle_budget)
            new[column] = 0.0 if mode == 'ground' else np.clip(previous[column] + change, -limit, limit)
        points.append(new)
    points = points[:count - 2]
    points += [points[-1], points[-1]]  # end at rest
    return Trajectory(np.array(points), knot_interval_s, start_s)


def _drive_points(room: Room, rng: np.random.Generator, points: list[np.ndarray], count: int, step_m: float,
                  angle_budget: float, margin_m: float, still_probability: float,
                  still_knots: tuple[int, int]) -> list[np.ndarray]:
    """Control points of a differential-drive robot (mode 'drive'), from the three equal start points.

    Each knot turns the heading ψ by Δ (a drift that keeps its sign for a while, at most DRIVE_MAX_TURN_SHARE of
    the budget while driving) and moves a step along (ψ_old + ψ_new) / 2, so that for a steady turn the spline's
    velocity lies along its yaw; where no step ahead keeps the segment clear of walls and furniture, the robot
    turns in place (up to the whole budget) instead. Ends at rest.
    """
    turn_sign, in_place = rng.choice([-1.0, 1.0]), True
    while len(points) < count - 2:
        previous = points[-1]
        if rng.random() < still_probability:
            points.extend([previous] * (int(rng.integers(still_knots[0], still_knots[1] + 1)) + 2))
            in_place = True
            continue
        if rng.random() < 0.2:
            turn_sign = -turn_sign
        new = previous.copy()
        turn = turn_sign * rng.uniform(0.0, 1.0) * DRIVE_MAX_TURN_SHARE * angle_budget
        heading = previous[3] + 0.5 * turn
        length = rng.uniform(0.4, 1.0) * step_m
        new[:2] = previous[:2] + length * np.array([np.cos(heading), np.sin(heading)])
        driving = _segment_box_is_free(room, np.vstack([np.array(points[-3:])[:, :3], new[:3]]), margin_m)
        if driving:
            new[3] = previous[3] + turn
        else:   # blocked: turn in place, the way it was turning
            new[:3] = previous[:3]
            new[3] = previous[3] + turn_sign * rng.uniform(0.5, 1.0) * angle_budget
        if driving != (not in_place):   # from driving to turning in place or back: stop for a knot first, so
            points.append(previous)     # that the spline's position and yaw do not blend the two (no sideways slip)
        in_place = not driving
        points.append(new)
    points = points[:count - 2]
    return points + [points[-1], points[-1]]


def _next_position(room: Room, rng: np.random.Generator, recent: np.ndarray, heading: float, step_m: float,
                   margin_m: float, heights: tuple[float, float], tries: int = 30) -> tuple[float, np.ndarray]:
    """Next control-point position and heading.

    A step of at most `step_m` along a slowly turning heading, such that the bounding box of it and the three
    `recent` positions (3×3) is free. Stays put (and turns back) when nothing fits.
    """
    for attempt in range(tries):
        turn = rng.normal(0.0, 0.6) if attempt < tries // 2 else rng.uniform(-np.pi, np.pi)
        candidate_heading = heading + turn
        length = rng.uniform(0.3, 1.0) * step_m
        climb = rng.uniform(-0.2, 0.2) * length
        horizontal = np.sqrt(length**2 - climb**2)
        candidate = recent[-1] + np.array([horizontal * np.cos(candidate_heading),
                                           horizontal * np.sin(candidate_heading), climb])
        candidate[2] = np.clip(candidate[2], *heights)
        if _segment_box_is_free(room, np.vstack([recent, candidate]), margin_m):
            return candidate_heading, candidate
    return heading + np.pi, recent[-1].copy()
