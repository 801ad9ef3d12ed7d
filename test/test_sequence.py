"""Offline odometry (`av_pose.pose.sequence`): the node's pair schedule over a recording, integration of every
estimate (invalid ones dropped and paired across, as in the node), ground-truth scale, and the evo/AUC scores of a
track."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from av_pose.audio.arrays import load_array
from av_pose.eval.odometry import frame_poses, odometry_summary, track_pair_errors, world_poses
from av_pose.geometry import UNKNOWN_VARIANCE, array_mount, make_transform, relative_pose, rotation_angle_deg
from av_pose.pose.base import PoseEstimate, PoseEstimator
from av_pose.pose.scale import make_scale_policy
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


def test_invalid_estimates_are_dropped_and_the_next_keyframe_pairs_across_them():
    recording = walking_recording()
    blind = Oracle(recording, invalid_between=(5.0, 7.0))
    track = run_odometry(recording, {'blind': blind}, lambda: ground_truth_scale(recording), gap_s=1.0,
                         rate_hz=1.0, smoother=None)['blind']
    assert track.stamps_s == [0.0, 1.0, 2.0, 3.0, 4.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]   # 5 and 6 s: no pose
    assert blind.pairs[4:7] == [(4.0, 5.0), (4.0, 6.0), (4.0, 7.0)]   # as the node: the older partner, 1–3 s back
    assert [(p.partner, p.frame, p.estimate.valid) for p in track.pairs[4:7]] == [
        (40, 50, False), (40, 60, False), (40, 70, True)]
    np.testing.assert_allclose(world_poses(track, recording.T_world_cam), recording.T_world_cam[track.frames],
                               atol=1e-9)   # bridged: the 3 s pair saw all the motion of the blind stretch
    errors = track_pair_errors(track, recording.T_world_cam)
    assert np.isnan(errors.rotation_deg[~errors.valid]).all() and errors.valid.sum() == 10 and len(errors.valid) == 12
    summary = odometry_summary(track, recording.T_world_cam, rpe_delta=1)
    assert summary['failed'] == 2 and summary['pairs'] == 12 and track.restarts == 0


def test_frame_scores_count_the_keyframes_an_estimator_could_not_pose():
    recording = walking_recording()
    oracles = {'sees': Oracle(recording), 'blind': Oracle(recording, invalid_between=(5.0, 7.0))}
    tracks = {name: run_odometry(recording, {name: oracle}, lambda: ground_truth_scale(recording), gap_s=1.0,
                                 rate_hz=1.0, smoother=None)[name] for name, oracle in oracles.items()}
    sees, blind = (odometry_summary(tracks[name], recording.T_world_cam, rpe_delta=1) for name in ('sees', 'blind'))
    assert sees['ate_m'] < 1e-9 and blind['ate_m'] < 1e-9   # every keyframe blind has a pose for is exact ...
    frames, poses = frame_poses(tracks['blind'], recording.T_world_cam)
    assert frames.tolist() == list(range(121)) and np.allclose(poses[50:70], poses[40])   # ... but 4–7 s hold 4 s
    assert blind['frame_ate_m'] > sees['frame_ate_m'] + 0.05       # the metre walked in between is missing there
    assert blind['frame_heading_rmse_deg'] > sees['frame_heading_rmse_deg'] + 2.0   # and the turn (15°/s)
    assert sees['frame_ate_m'] < 0.2                                # between keyframes 1 s apart the pose is held


def test_a_blind_stretch_longer_than_the_longest_gap_restarts_the_chain_with_unknown_variance():
    recording = walking_recording()
    blind = Oracle(recording, invalid_between=(5.0, 10.0))
    track = run_odometry(recording, {'blind': blind}, lambda: ground_truth_scale(recording), gap_s=1.0,
                         rate_hz=1.0, smoother=None)['blind']
    assert track.stamps_s == [0.0, 1.0, 2.0, 3.0, 4.0, 9.0, 10.0, 11.0, 12.0]
    assert (4.0, 8.0) in blind.pairs and (4.0, 9.0) not in blind.pairs   # 5 s back is older than max_gap_s 4 s
    restart = track.frames.index(90)
    assert track.restarts == 1
    poses = track.poses()
    np.testing.assert_allclose(poses[restart], poses[restart - 1], atol=1e-12)   # continues from the last pose
    assert all(np.all(np.diag(c) >= UNKNOWN_VARIANCE) for c in track.covariances[restart:])   # never forgotten
    truth = recording.T_world_cam[track.frames]
    final_error = rotation_angle_deg(truth[-1][:3, :3] @ np.linalg.inv(truth[4][:3, :3]),
                                     poses[-1][:3, :3] @ np.linalg.inv(poses[4][:3, :3]))
    assert final_error > 50.0  # the 5 s of turning (about 75°) that nobody saw is missing


def test_plots_draw_estimators_with_different_keyframes(tmp_path):
    from av_pose.eval.plots import write_odometry_plots

    recording = walking_recording(8.0)
    tracks = run_odometry(recording, {'sighted': Oracle(recording), 'blind': Oracle(recording, invalid_between=(3, 5))},
                          lambda: ground_truth_scale(recording), gap_s=1.0, rate_hz=2.0)
    assert len(tracks['blind'].frames) < len(tracks['sighted'].frames)
    written = write_odometry_plots(tmp_path, recording, tracks, [], shaded=[(3.0, 5.0, 'blind')])
    assert sorted(written) == ['pose_errors', 'trajectory']
    assert all(path.read_bytes()[:4] == b'\x89PNG' and path.stat().st_size > 10_000 for path in written.values())


@pytest.mark.parametrize('blind_until_s', [4.7, 4.9, 5.1])
def test_keyframes_stay_in_time_order_when_a_batch_both_pairs_and_restarts(blind_until_s):
    recording = walking_recording(9.0)
    blind = Oracle(recording, invalid_between=(1.0, blind_until_s))
    track = run_odometry(recording, {'blind': blind}, lambda: ground_truth_scale(recording), gap_s=1.0,
                         rate_hz=5.0, batch_size=8)['blind']   # pose_node's smoothing on
    assert np.all(np.diff(track.stamps_s) > 0) and track.stamps_s[-1] == pytest.approx(9.0)
    assert [p.stamp_s for p in track.pairs] == sorted(p.stamp_s for p in track.pairs)
