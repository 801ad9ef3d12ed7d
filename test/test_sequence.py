"""Offline odometry (`av_pose.pose.sequence`): the node's pair schedule over a recording, integration of every
estimate (invalid ones as identity with UNKNOWN_VARIANCE), ground-truth scale, and the evo/AUC scores of a track."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from av_pose.audio.arrays import load_array
from av_pose.eval.odometry import odometry_summary, step_errors, world_poses
from av_pose.geometry import UNKNOWN_VARIANCE, array_mount, make_transform, relative_pose, rotation_angle_deg
from av_pose.pose.base import PoseEstimate, PoseEstimator
from av_pose.pose.odometry import make_scale_policy
from av_pose.pose.sequence import ground_truth_scale, run_odometry
from av_pose.scene.trajectory import Trajectory

FPS = 10.0


@dataclass
class FakeRecording:
    """A recording with exact poses and blank images/audio: the schedule and the integration are tested alone."""

    T_world_cam: np.ndarray
    frame_times_s: np.ndarray
    K = np.array([[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]])
    mic_array = load_array('respeaker4')
    sample_rate = 16000
    T_cam_array = array_mount()

    def frame(self, index: int) -> np.ndarray:
        return np.full((48, 64, 3), index % 255, dtype=np.uint8)

    def audio_window(self, center_s: float, duration_s: float):
        return np.zeros((4, int(duration_s * self.sample_rate)), dtype=np.float32), 1.0


def walking_recording(duration_s: float = 12.0) -> FakeRecording:
    """A rig that walks (0.3 m/s) and turns (about 15°/s) along a smooth path."""
    times = np.arange(int(duration_s) + 4) - 1.0
    points = np.stack([0.3 * times, 0.5 * np.sin(0.3 * times), 1.5 + 0 * times, np.radians(15.0) * times,
                       0.05 * np.sin(times), 0 * times], axis=1)
    trajectory = Trajectory(points, 1.0)
    frame_times = np.arange(int(duration_s * FPS) + 1) / FPS
    return FakeRecording(trajectory.sample(frame_times), frame_times)


class Oracle(PoseEstimator):
    """Ground-truth relative poses (unit translation direction), optionally biased in yaw or invalid in a window."""

    def __init__(self, recording: FakeRecording, yaw_bias_deg: float = 0.0, invalid_between=None) -> None:
        self.recording, self.yaw_bias_deg, self.invalid_between = recording, yaw_bias_deg, invalid_between
        self.pairs: list[tuple[float, float]] = []

    def _pose(self, stamp_s: float) -> np.ndarray:
        return self.recording.T_world_cam[int(round(stamp_s * FPS))]

    def estimate_batch(self, pairs):
        out = []
        for pair in pairs:
            a, b = pair.view_a.stamp_s, pair.view_b.stamp_s
            assert b > a
            self.pairs.append((a, b))
            if self.invalid_between is not None and self.invalid_between[0] <= b < self.invalid_between[1]:
                out.append(PoseEstimate.invalid('blind'))
                continue
            T = relative_pose(self._pose(a), self._pose(b))
            angle = np.radians(self.yaw_bias_deg)  # about the camera's y axis (down): a heading error
            bias = make_transform(np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0],
                                            [-np.sin(angle), 0, np.cos(angle)]]), np.zeros(3))
            T = bias @ T
            T[:3, 3] /= np.linalg.norm(T[:3, 3])
            out.append(PoseEstimate(T, np.eye(6) * 1e-4, used=('vision',)))
        return out


def test_ground_truth_estimates_and_scale_rebuild_the_path():
    recording = walking_recording()
    oracle = Oracle(recording)
    tracks = run_odometry(recording, {'oracle': oracle}, lambda: ground_truth_scale(recording), gap_s=1.0,
                          rate_hz=5.0, smoother=None)   # exact chains; the smoother's prior bends a path slightly
    track = tracks['oracle']
    # keyframes every 0.2 s; those at 0.2 and 0.4 s have no partner old enough (min gap 0.5 s) and are skipped
    assert track.frames[:3] == [0, 6, 8] and len(track.frames) == 59 and len(track.steps) == 58
    np.testing.assert_allclose(world_poses(track, recording.T_world_cam), recording.T_world_cam[track.frames],
                               atol=1e-9)
    gaps = np.array([b - a for a, b in oracle.pairs])
    stamps_b = np.array([b for _, b in oracle.pairs])
    assert gaps.min() >= 0.6 - 1e-9 and gaps.max() <= 1.2 + 1e-9  # the nearest keyframe to 1 s back, as the node
    np.testing.assert_allclose(gaps[stamps_b >= 2.0], 1.0, atol=1e-9)  # once the grid is full: exactly the gap
    summary = odometry_summary(track, recording.T_world_cam, rpe_delta=5)
    assert summary['ate_m'] == pytest.approx(0.0, abs=1e-6) and summary['rpe_rot_deg'] == pytest.approx(0.0, abs=1e-4)
    assert summary['rotation_auc'] == pytest.approx([1.0, 1.0, 1.0]) and summary['pairs'] == 58
    assert summary['scale'].startswith('ground truth')
    smoothed = run_odometry(recording, {'oracle': Oracle(recording)}, lambda: ground_truth_scale(recording),
                            gap_s=1.0, rate_hz=5.0)['oracle']   # pose_node's default smoothing
    errors = [float(rotation_angle_deg(e[:3, :3], t[:3, :3])) for e, t in
              zip(world_poses(smoothed, recording.T_world_cam), recording.T_world_cam[smoothed.frames])]
    assert max(errors) < 0.1, max(errors)   # measured 0.02°


def test_every_estimator_sees_the_same_pairs():
    recording = walking_recording(6.0)
    first, second = Oracle(recording), Oracle(recording, yaw_bias_deg=3.0)
    tracks = run_odometry(recording, {'a': first, 'b': second}, lambda: make_scale_policy('none'), gap_s=1.0,
                          rate_hz=5.0, batch_size=3)
    assert first.pairs == second.pairs and tracks['a'].frames == tracks['b'].frames
    assert [(s.partner, s.frame) for s in tracks['a'].steps] == [(s.partner, s.frame) for s in tracks['b'].steps]


def test_a_yaw_bias_shows_in_rpe_mae_and_ate():
    recording = walking_recording()
    tracks = run_odometry(recording, {'biased': Oracle(recording, yaw_bias_deg=2.0)},
                          lambda: ground_truth_scale(recording), gap_s=1.0, rate_hz=1.0)
    track = tracks['biased']
    assert len(track.steps) == 12  # one chain: each pair continues the last
    summary = odometry_summary(track, recording.T_world_cam, rpe_delta=1)
    assert summary['rotation_mae_deg'] == pytest.approx(2.0, abs=1e-6)
    assert summary['rpe_rot_deg'] == pytest.approx(2.0, abs=0.05)
    # AUC@5 of twelve 2° errors (trapezoid from 0, recall 1/12 at the first): (3 + 2 · 1/24) / 5
    assert summary['rotation_auc'][0] == pytest.approx((3.0 + 2.0 / 24.0) / 5.0, abs=1e-9)
    assert summary['ate_m'] > 0.05  # the heading drifts by 2° per metre-ish step


def test_invalid_estimates_are_integrated_as_identity_with_unknown_variance():
    recording = walking_recording()
    blind = Oracle(recording, invalid_between=(5.0, 7.0))
    track = run_odometry(recording, {'blind': blind}, lambda: ground_truth_scale(recording), gap_s=1.0,
                         rate_hz=1.0, smoother=None)['blind']   # the smoother would fill the gap (test_smoothing)
    assert len(track.frames) == 13 and track.stamps_s == [float(t) for t in range(13)]
    invalid = [s for s in track.steps if not s.estimate.valid]
    assert [recording.frame_times_s[s.frame] for s in invalid] == [5.0, 6.0]
    poses = track.poses()
    for step in invalid:  # identity rotation, zero translation over the blind pair
        k = track.frames.index(step.frame)
        np.testing.assert_allclose(poses[k], poses[k - 1], atol=1e-12)
    later = track.covariances[track.frames.index(invalid[0].frame):]
    assert all(np.all(np.diag(c)[3:] >= UNKNOWN_VARIANCE) for c in later)  # never forgotten
    errors = step_errors(track, recording.T_world_cam)
    assert np.isnan(errors.rotation_deg[~errors.valid]).all() and errors.valid.sum() == 10
    truth = recording.T_world_cam[track.frames]
    final_error = rotation_angle_deg(truth[-1][:3, :3] @ np.linalg.inv(truth[4][:3, :3]),
                                     poses[-1][:3, :3] @ np.linalg.inv(poses[4][:3, :3]))
    assert final_error > 20.0  # the 2 s of turning (about 30°) that nobody saw is missing
