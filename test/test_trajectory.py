"""Camera trajectories: speed limits, free space, rotation-only and still segments, determinism."""
import numpy as np
import pytest

from av_pose.errors import UserInputError
from av_pose.geometry import R_CAM_ARRAY_DEFAULT, rotation_angle_deg, ypr_from_rotation
from av_pose.scene.room import Box, Room, Surface
from av_pose.scene.trajectory import Trajectory, random_trajectory

MAX_SPEED_M_S = 0.5
MAX_ANGULAR_DEG_S = 45.0
MARGIN_M = 0.5


def _furnished_room() -> Room:
    """5×4×2.8 m with three boxes, leaving a U-shaped free area."""
    surface = Surface('noise', 1, 1.0)
    boxes = (Box((2.0, 1.5, 0.0), (3.0, 2.5, 2.0), surface),
             Box((0.0, 0.0, 0.0), (1.0, 1.2, 0.8), surface),
             Box((4.0, 3.0, 0.0), (5.0, 4.0, 1.0), surface))
    return Room((5.0, 4.0, 2.8), (surface,) * 6, boxes)


def _dense(trajectory: Trajectory, dt: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    times = np.arange(trajectory.start_s, trajectory.start_s + trajectory.duration_s + dt / 2, dt)
    return times, trajectory.sample(times)


def _speeds(poses: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Finite-difference linear (m/s) and angular (deg/s) speeds; chords never exceed the true speeds."""
    linear = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1) / dt
    angular = rotation_angle_deg(poses[:-1, :3, :3], poses[1:, :3, :3]) / dt
    return linear, angular


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('room_kind', ['random', 'furnished'])
def test_free_motion_respects_limits_and_free_space(seed, room_kind):
    room = Room.random(np.random.default_rng(seed)) if room_kind == 'random' else _furnished_room()
    trajectory = random_trajectory(room, seed, 40.0, max_speed_m_s=MAX_SPEED_M_S,
                                   max_angular_speed_deg_s=MAX_ANGULAR_DEG_S, margin_m=MARGIN_M)
    assert trajectory.duration_s >= 40.0
    _, poses = _dense(trajectory)
    linear, angular = _speeds(poses, 0.01)
    assert linear.max() <= MAX_SPEED_M_S + 1e-9
    assert angular.max() <= MAX_ANGULAR_DEG_S + 1e-9
    assert linear.max() > 0.2 * MAX_SPEED_M_S and angular.max() > 0.2 * MAX_ANGULAR_DEG_S  # it does move
    positions = poses[:, :3, 3]
    assert np.all(room.is_free(positions, margin_m=MARGIN_M - 1e-9))
    assert np.ptp(positions[:, :2], axis=0).max() > 0.5
    yaw_pitch_roll = np.degrees(ypr_from_rotation(poses[:, :3, :3] @ R_CAM_ARRAY_DEFAULT))
    assert np.abs(yaw_pitch_roll[:, 1]).max() <= 10.0 + 1e-9
    assert np.abs(yaw_pitch_roll[:, 2]).max() <= 5.0 + 1e-9
    assert np.all((positions[:, 2] >= 1.2 - 1e-9) & (positions[:, 2] <= 1.8 + 1e-9))


def test_camera_axes_follow_the_body_frame():
    trajectory = random_trajectory(Room.random(np.random.default_rng(0)), 5, 10.0)
    state = trajectory.state_at([3.3])[0]
    pose = trajectory.pose_at(3.3)
    yaw, pitch = state[3], state[4]
    forward = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), -np.sin(pitch)])
    np.testing.assert_allclose(pose[:3, 2], forward, atol=1e-12)  # optical z = body x
    np.testing.assert_allclose(pose[:3, 3], state[:3], atol=1e-12)
    np.testing.assert_allclose(pose, trajectory.sample([3.3])[0])


@pytest.mark.parametrize('seed', range(3))
def test_rotation_only_keeps_position_fixed(seed):
    room = Room.random(np.random.default_rng(seed))
    trajectory = random_trajectory(room, seed, 30.0, mode='rotation', max_angular_speed_deg_s=30.0)
    _, poses = _dense(trajectory)
    positions = poses[:, :3, 3]
    assert np.all(positions == positions[0])
    _, angular = _speeds(poses, 0.01)
    assert angular.max() <= 30.0 + 1e-9
    yaw = np.unwrap(ypr_from_rotation(poses[:, :3, :3] @ R_CAM_ARRAY_DEFAULT)[:, 0])
    assert np.degrees(np.ptp(yaw)) > 30.0


@pytest.mark.parametrize('seed', range(3))
def test_ground_robot_moves_on_a_level_floor(seed):
    """Mode 'ground': travels and turns like 'free', at one height with no pitch or roll (planar motion)."""
    room = Room.random(np.random.default_rng(seed))
    trajectory = random_trajectory(room, seed, 30.0, mode='ground', max_speed_m_s=MAX_SPEED_M_S)
    _, poses = _dense(trajectory)
    positions = poses[:, :3, 3]
    assert np.all(positions[:, 2] == positions[0, 2]) and np.all(room.is_free(positions, margin_m=MARGIN_M - 1e-9))
    assert np.ptp(positions[:, :2], axis=0).max() > 0.5
    yaw_pitch_roll = ypr_from_rotation(poses[:, :3, :3] @ R_CAM_ARRAY_DEFAULT)
    assert np.abs(yaw_pitch_roll[:, 1:]).max() < 1e-12 and np.degrees(np.ptp(np.unwrap(yaw_pitch_roll[:, 0]))) > 20.0
    np.testing.assert_allclose(poses[:, :3, 1], [[0.0, 0.0, -1.0]] * len(poses), atol=1e-12)  # optical y: down
    linear, _ = _speeds(poses, 0.01)
    assert linear.max() <= MAX_SPEED_M_S + 1e-9


@pytest.mark.parametrize('seed', range(3))
@pytest.mark.parametrize('room_kind', ['random', 'furnished'])
def test_a_differential_drive_robot_travels_along_its_heading(seed, room_kind):
    """Mode 'drive': on a level floor, within the limits and free space, moving along the camera's forward axis
    (a wheeled base cannot step sideways), and turning in place where it is blocked."""
    room = Room.random(np.random.default_rng(seed)) if room_kind == 'random' else _furnished_room()
    trajectory = random_trajectory(room, seed, 40.0, mode='drive', max_speed_m_s=MAX_SPEED_M_S,
                                   max_angular_speed_deg_s=MAX_ANGULAR_DEG_S, margin_m=MARGIN_M)
    _, poses = _dense(trajectory)
    positions = poses[:, :3, 3]
    assert np.all(positions[:, 2] == positions[0, 2]) and np.all(room.is_free(positions, margin_m=MARGIN_M - 1e-9))
    yaw_pitch_roll = ypr_from_rotation(poses[:, :3, :3] @ R_CAM_ARRAY_DEFAULT)
    assert np.abs(yaw_pitch_roll[:, 1:]).max() < 1e-12
    linear, angular = _speeds(poses, 0.01)
    assert linear.max() <= MAX_SPEED_M_S + 1e-9 and angular.max() <= MAX_ANGULAR_DEG_S + 1e-9
    assert np.sum(linear) * 0.01 > 1.0                                  # it drives (metres of path)
    steps = np.diff(positions[:, :2], axis=0)
    moving = linear > 0.1
    travel = np.arctan2(steps[moving, 1], steps[moving, 0])
    slip = np.degrees(np.abs((travel - yaw_pitch_roll[:-1, 0][moving] + np.pi) % (2 * np.pi) - np.pi))
    assert np.median(slip) < 2.0 and np.percentile(slip, 95) < 8.0, (np.median(slip), np.percentile(slip, 95))
    assert np.any((linear < 0.01) & (angular > 10.0))                   # turning in place


def test_still_segments_have_zero_motion():
    room = _furnished_room()
    trajectory = random_trajectory(room, 7, 60.0, still_probability=0.3)
    intervals = trajectory.still_intervals()
    assert len(intervals) >= 2
    for start, end in intervals:
        poses = trajectory.sample(np.linspace(start, end, 25))
        assert np.all(poses == poses[0])
    times, poses = _dense(trajectory)
    linear, angular = _speeds(poses, 0.01)
    in_still = np.zeros(len(times) - 1, dtype=bool)
    for start, end in intervals:
        in_still |= (times[:-1] >= start) & (times[1:] <= end)
    moving = np.mean((linear[~in_still] > 0) | (angular[~in_still] > 0))
    assert np.all(linear[in_still] == 0) and np.all(angular[in_still] == 0)
    assert moving > 0.9  # outside the still intervals the camera keeps moving
    assert random_trajectory(room, 7, 60.0, still_probability=0.0).still_intervals() == []


def test_trajectories_are_deterministic_and_serialisable():
    room = Room.random(np.random.default_rng(2))
    first = random_trajectory(room, 123, 20.0)
    second = random_trajectory(room, np.random.default_rng(123), 20.0)
    times = np.linspace(-1.0, 25.0, 300)  # beyond the ends the poses are clamped
    np.testing.assert_array_equal(first.sample(times), second.sample(times))
    assert not np.allclose(first.sample(times), random_trajectory(room, 124, 20.0).sample(times))
    restored = Trajectory.from_dict(first.to_dict())
    np.testing.assert_array_equal(restored.sample(times), first.sample(times))
    np.testing.assert_array_equal(first.pose_at(-1.0), first.pose_at(0.0))


def test_frames_and_start_time():
    room = Room.random(np.random.default_rng(1))
    trajectory = random_trajectory(room, 3, 4.0, start_s=100.0)
    times, poses = trajectory.frames(fps=10.0)
    assert len(times) == 41 and times[0] == 100.0 and times[-1] == pytest.approx(104.0)
    assert poses.shape == (41, 4, 4)
    np.testing.assert_allclose(poses[:, 3], np.tile([0.0, 0.0, 0.0, 1.0], (41, 1)))
    np.testing.assert_allclose(poses[:, :3, :3] @ np.swapaxes(poses[:, :3, :3], 1, 2),
                               np.broadcast_to(np.eye(3), (41, 3, 3)), atol=1e-12)


def test_bad_trajectory_requests_are_rejected():
    room = Room.random(np.random.default_rng(0))
    with pytest.raises(UserInputError):
        random_trajectory(room, 0, 10.0, mode='spiral')
    with pytest.raises(UserInputError):
        random_trajectory(room, 0, -1.0)
    with pytest.raises(UserInputError):
        random_trajectory(room, 0, 10.0, height_range_m=(2.9, 3.2), margin_m=0.5)
    with pytest.raises(UserInputError):
        Trajectory(np.zeros((3, 6)), 1.0)
    with pytest.raises(UserInputError):
        Trajectory.from_dict({'knot_interval_s': 1.0})
