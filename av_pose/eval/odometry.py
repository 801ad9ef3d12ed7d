"""Scores of an `OdometryTrack` against ground truth: trajectory (evo ATE / RPE) and its relative poses (AUC).

Summary keys (`odometry_summary`, also `av-pose bag --json`):
- `ate_m`: RMSE (m) of the camera positions after putting odom on the ground-truth pose of the first keyframe
  (origin alignment, no fitting: the drift a user sees); evo `APE` on the translation part, over the keyframes the
  track has a pose for.
- `frame_ate_m`, `frame_heading_rmse_deg`: RMSE of the camera position (m) and heading (°, the optical axis's azimuth
  in the world's x-y plane) at every image frame from the first keyframe on, each frame taking the newest keyframe
  pose at its time (what the published odometry says then; the same placement as `ate_m`). Estimators that leave
  different keyframes without a pose (dropped pairs) are scored at the same instants: `ate_m` leaves out exactly the
  keyframes an estimator could not pose, which flatters one that drops more of them.
- `rpe_rot_deg`: RMSE (degrees) of the rotation error of keyframe pairs `rpe_delta` keyframes apart (about the
  pair gap); evo `RPE` with `rotation_angle_deg`. `rpe_trans_m`: the same for the translation (m).
- `rotation_auc`, `total_auc`: AUC@5/10/20° (fractions) of every relative estimate T_a_b the estimator was asked
  for (`OdometryTrack.pairs`, the dropped ones counting as failures); `rotation_mae_deg`: their mean rotation error
  over the valid ones; `pairs`: how many (the `av_pose.eval.report.summarise` definitions, so the numbers match
  `av-pose eval`).
- `failed`: invalid estimates (dropped, as the node drops them); `scale`: the translation scale policy.
"""
from __future__ import annotations

import numpy as np

from av_pose.eval.report import summarise
from av_pose.eval.run import PairErrors, pair_errors
from av_pose.geometry import optical_axis_heading_deg, relative_pose
from av_pose.pose.sequence import OdometryTrack


def world_poses(track: OdometryTrack, T_world_cam: np.ndarray) -> np.ndarray:
    """K×4×4 estimated T_world_cam: odom placed on the ground-truth pose of the track's first keyframe."""
    return np.asarray(T_world_cam)[track.frames[0]] @ track.poses()


def frame_poses(track: OdometryTrack, T_world_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frames (F,), F×4×4 T_world_cam): every frame from the track's first keyframe on and its newest keyframe pose.

    Placed as `world_poses`; a frame between keyframes (or at a keyframe without a pose) keeps the pose before it.
    """
    frames = np.arange(track.frames[0], len(T_world_cam))
    newest = np.searchsorted(np.asarray(track.frames), frames, side='right') - 1
    return frames, world_poses(track, T_world_cam)[newest]


def frame_errors(track: OdometryTrack, T_world_cam: np.ndarray) -> dict[str, float]:
    """`frame_ate_m` and `frame_heading_rmse_deg` of the track (module docstring)."""
    frames, estimated = frame_poses(track, T_world_cam)
    truth = np.asarray(T_world_cam)[frames]
    position = np.linalg.norm(estimated[:, :3, 3] - truth[:, :3, 3], axis=1)
    heading = (optical_axis_heading_deg(estimated) - optical_axis_heading_deg(truth) + 180.0) % 360.0 - 180.0
    return {'frame_ate_m': float(np.sqrt(np.mean(position ** 2))),
            'frame_heading_rmse_deg': float(np.sqrt(np.mean(heading ** 2)))}


def track_pair_errors(track: OdometryTrack, T_world_cam: np.ndarray) -> PairErrors:
    """Errors (degrees) of the track's relative estimates against the ground truth, one per estimated pair.

    That is `track.pairs`, the dropped ones included (invalid: NaN errors).
    """
    T_world_cam = np.asarray(T_world_cam)
    if not track.pairs:
        return PairErrors.concatenate([])
    truth = np.stack([relative_pose(T_world_cam[p.partner], T_world_cam[p.frame]) for p in track.pairs])
    return pair_errors([p.estimate for p in track.pairs], truth)


def trajectory_errors(track: OdometryTrack, T_world_cam: np.ndarray, rpe_delta: int) -> dict[str, float | None]:
    """ATE (translation RMSE, m) and RPE (rotation RMSE, degrees; translation RMSE, m) of the track, by evo."""
    from evo.core import metrics
    from evo.core.trajectory import PoseTrajectory3D

    truth = np.asarray(T_world_cam)[track.frames]
    if len(truth) < 2:
        return {'ate_m': None, 'rpe_rot_deg': None, 'rpe_trans_m': None}
    stamps = np.asarray(track.stamps_s, dtype=np.float64)
    reference = PoseTrajectory3D(poses_se3=list(truth), timestamps=stamps)
    estimate = PoseTrajectory3D(poses_se3=list(world_poses(track, T_world_cam)), timestamps=stamps)
    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((reference, estimate))
    out: dict[str, float | None] = {'ate_m': float(ape.get_statistic(metrics.StatisticsType.rmse))}
    delta = int(min(max(1, rpe_delta), len(truth) - 1))
    for key, relation in (('rpe_rot_deg', metrics.PoseRelation.rotation_angle_deg),
                          ('rpe_trans_m', metrics.PoseRelation.translation_part)):
        rpe = metrics.RPE(relation, delta=delta, delta_unit=metrics.Unit.frames, all_pairs=False)
        rpe.process_data((reference, estimate))
        out[key] = float(rpe.get_statistic(metrics.StatisticsType.rmse))
    return out


def odometry_summary(track: OdometryTrack, T_world_cam: np.ndarray, rpe_delta: int) -> dict:
    """The summary of one track (keys in the module docstring)."""
    pairs = summarise(track_pair_errors(track, T_world_cam)) if track.pairs else {
        'rotation_auc': None, 'total_auc': None, 'rotation_mae_deg': None, 'failed': 0, 'pairs': 0}
    summary = trajectory_errors(track, T_world_cam, rpe_delta)
    summary.update(frame_errors(track, T_world_cam) if track.frames else
                   {'frame_ate_m': None, 'frame_heading_rmse_deg': None})
    summary.update({key: pairs[key] for key in ('rotation_auc', 'total_auc', 'rotation_mae_deg', 'pairs', 'failed')})
    summary['scale'] = track.scale
    return summary
