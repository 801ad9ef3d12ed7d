"""Odometry with and without the chain smoother (`av_pose.pose.smoothing`) on ShoeboxAV scenes with ground truth.

For every scene (a folder with scene.json, or a set folder holding such folders), `run_odometry` integrates one
estimator at 5 keyframes per second with 1 s pairs, ground-truth scale, no direction hold (stop 39's figures; the
hold moves only the ATE: `tools/direction_hold.py`), once per smoother setting; the estimates
are computed once and reused (they depend only on the pair), so every setting sees the same pairs. Reported,
as means over the scenes:
- `heading_rmse_deg`, `rotation_rmse_deg`: RMS over keyframes of the yaw (about world z) and full rotation error of
  T_world_cam, odom placed on the true first pose (the drift a user sees);
- `jump_rms_deg`: RMS change of the rotation error from one keyframe to the next (how far the published pose jumps
  between the interleaved chains; 0 for a drift that builds up smoothly);
- `rpe_rot_deg`, `ate_m`: evo RPE (rotation, 1 s apart) and ATE, as `av-pose bag` prints them;
- `frame_ate_m`, `frame_heading_rmse_deg`: position and heading error at every frame from the first keyframe on, of
  the newest keyframe pose then (`av_pose.eval.odometry.frame_errors`): unlike the keyframe scores above, the same
  instants for every setting, also where a setting leaves keyframes without a pose.
Usage: .venv/bin/python tools/odometry_smoothing.py SCENES... [--model geometric] [--corrupted] [--json J] [--md M]
(the 16 scenes of `tools/reproduce_geometric_results.sh`'s moving set: about 5 min on one core)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from av_pose.eval.odometry import frame_errors, trajectory_errors, world_poses
from av_pose.eval.pairs import scene_corruption
from av_pose.geometry import LEVEL_CAMERA_UP, invert_transform, rotation_angle_deg, so3_exp, yaw_of
from av_pose.pose.base import PoseEstimator
from av_pose.pose.registry import make_pose_estimator
from av_pose.pose.scale import ReferenceScale
from av_pose.pose.sequence import ground_truth_scale, recording_odometry_scale, run_odometry
from av_pose.pose.smoothing import ChainSmoother
from av_pose.scene.format import read_scene
from av_pose.vision.corruptions import CorruptionSpec

SETTINGS = {'none': None, 'lag 1 s, 0.1': ChainSmoother(1.0, 0.1), 'lag 1 s, 0.3 (default)': ChainSmoother(1.0, 0.3),
            'lag 1 s, 1.0': ChainSmoother(1.0, 1.0), 'lag 2 s, 0.3': ChainSmoother(2.0, 0.3)}


class CachedEstimator(PoseEstimator):
    """Wraps an estimator; a pair seen before (its two stamps and travel prior) gets the same estimate again."""

    name = 'cached'

    def __init__(self, inner: PoseEstimator) -> None:
        self.inner, self.cache = inner, {}
        self.needs_intrinsics = inner.needs_intrinsics

    def estimate_batch(self, pairs):
        """The inner estimator's estimates, each pair estimated once."""
        keys = [self.key(pair) for pair in pairs]
        todo = [pair for pair, key in zip(pairs, keys) if key not in self.cache]
        for pair, estimate in zip(todo, self.inner.estimate_batch(todo) if todo else []):
            self.cache[self.key(pair)] = estimate
        return [self.cache[key] for key in keys]

    @staticmethod
    def key(pair) -> tuple:
        """What makes the estimate: the two stamps and the travel prior (`PosePair.translation_prior_m`)."""
        prior = pair.translation_prior_m
        return pair.view_a.stamp_s, pair.view_b.stamp_s, None if prior is None else tuple(np.round(prior, 9))


def slipping_odometry_scale(record, seed: int = 0, scale_bias: float = 0.05, scale_noise: float = 0.02,
                            yaw_drift_deg_s: float = 1.0, yaw_noise_deg_sqrt_s: float = 1.0) -> ReferenceScale:
    """A reference odometry that slips: the true camera poses re-chained frame to frame with errors.

    Each frame-to-frame step keeps its true rotation but turns by a yaw error about the camera's up axis (a drift of
    `yaw_drift_deg_s` plus a random walk of `yaw_noise_deg_sqrt_s` per √s), and its translation is scaled by
    1 + `scale_bias` + N(0, `scale_noise`): a wheel odometry whose heading drifts (about 20° over 20 s at the
    defaults) and whose wheels read 5 % long. Its orientations and the identity extrinsic give `ReferenceScale.travel`.
    """
    rng = np.random.default_rng([seed, 44])
    times = np.asarray(record.frame_times_s, dtype=np.float64)
    truth = np.asarray(record.T_world_cam, dtype=np.float64)
    scale = ReferenceScale(history_s=float(np.ptp(times)) + 1.0, T_body_sensor=np.eye(4))
    pose = truth[0].copy()
    scale.add(float(times[0]), pose[:3, 3], pose[:3, :3])
    for k in range(1, len(times)):
        dt = times[k] - times[k - 1]
        step = invert_transform(truth[k - 1]) @ truth[k]
        slip = np.radians(yaw_drift_deg_s * dt + yaw_noise_deg_sqrt_s * np.sqrt(dt) * rng.normal())
        step[:3, :3] = step[:3, :3] @ so3_exp(slip * np.asarray(LEVEL_CAMERA_UP))
        step[:3, 3] *= 1.0 + scale_bias + scale_noise * rng.normal()
        pose = pose @ step
        scale.add(float(times[k]), pose[:3, 3], pose[:3, :3])
    return scale


SCALES = {'ground-truth': ground_truth_scale, 'odometry': recording_odometry_scale,
          'slipping-odometry': slipping_odometry_scale}
"""`score_settings`'s reference scales: the true distance, the true poses, and a slipping odometry."""


def scene_dirs(paths: list[str]) -> list[Path]:
    """The scene folders given, or found under the set folders given."""
    out = []
    for path in map(Path, paths):
        out += [path] if (path / 'scene.json').exists() else sorted(p.parent for p in path.rglob('scene.json'))
    return out


def scores(record, track) -> dict[str, float]:
    """The module docstring's scores of one track against the scene's ground truth."""
    truth = np.asarray(record.T_world_cam)[track.frames]
    estimated = world_poses(track, record.T_world_cam)
    heading = np.degrees(np.unwrap([yaw_of(T[:3, :3]) for T in estimated])
                         - np.unwrap([yaw_of(T[:3, :3]) for T in truth]))
    rotation = np.array([float(rotation_angle_deg(e[:3, :3], t[:3, :3])) for e, t in zip(estimated, truth)])
    errors = [t[:3, :3].T @ e[:3, :3] for e, t in zip(estimated, truth)]
    jumps = np.array([float(rotation_angle_deg(a, b)) for a, b in zip(errors[:-1], errors[1:])])
    evo = trajectory_errors(track, record.T_world_cam, rpe_delta=5)
    return {'heading_rmse_deg': float(np.sqrt(np.mean(heading ** 2))),
            'rotation_rmse_deg': float(np.sqrt(np.mean(rotation ** 2))),
            'jump_rms_deg': float(np.sqrt(np.mean(jumps ** 2))), 'rpe_rot_deg': evo['rpe_rot_deg'],
            'ate_m': evo['ate_m'], **frame_errors(track, record.T_world_cam)}


def score_settings(scenes: list[str], model: str, settings: dict[str, dict], corrupted: bool = False,
                   corruption_seed: int = 0, detector: str | None = None,
                   **common) -> dict[str, list[dict[str, float]]]:
    """Per setting name, the `scores` of every scene: `run_odometry` with `common` and the setting's keyword arguments.

    Ground-truth scale (a setting's `scale: odometry` gives the ground-truth poses as a reference odometry instead,
    `recording_odometry_scale`: the direction of travel too; `slipping-odometry` such a reference with errors,
    `slipping_odometry_scale`); the estimates of a scene are computed once
    (`CachedEstimator`) and reused by every setting; `corrupted`: the paper's mixed corruption on every frame, drawn
    from `corruption_seed` (`CorruptionSpec.base_seed`); `detector`: the geometric estimators' image features.
    """
    estimator = make_pose_estimator(model, detector=detector, device='cpu')
    per_setting: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    for directory in tqdm(scene_dirs(scenes), unit='scene'):
        record = read_scene(directory)
        hook = None
        if corrupted:
            spec = scene_corruption(CorruptionSpec('mixed', base_seed=corruption_seed), record)
            hook = lambda image, index, spec=spec: spec.apply(image, index)[0]  # noqa: E731
        cached = CachedEstimator(estimator)
        for name, options in settings.items():
            options = dict(options)
            scale = SCALES[options.pop('scale', 'ground-truth')]
            track = run_odometry(record, {model: cached}, lambda record=record, scale=scale: scale(record),
                                 image_hook=hook, **common, **options)[model]
            per_setting[name].append(scores(record, track))
    return per_setting


def write_table(per_setting: dict[str, list[dict[str, float]]], keys: list[str], title: str, column: str,
                digits: int, md: str | None, json_path: str | None, extra: dict | None = None) -> None:
    """Print the settings' means of `keys` as a Markdown table (and write it to `md`, the means to `json_path`)."""
    summary: dict = {name: {key: float(np.mean([s[key] for s in rows])) for key in keys}
                     for name, rows in per_setting.items()}
    summary.update(extra or {})
    summary['scenes'] = len(next(iter(per_setting.values())))
    lines = [title.format(scenes=summary['scenes']), '', f'| {column} | ' + ' | '.join(keys) + ' |',
             '|---' * (len(keys) + 1) + '|']
    lines += [f'| {name} | ' + ' | '.join(f'{summary[name][key]:.{digits}f}' for key in keys) + ' |'
              for name in per_setting]
    print('\n'.join(lines))
    if md:
        Path(md).write_text('\n'.join(lines) + '\n')
    if json_path:
        Path(json_path).write_text(json.dumps(summary, indent=1))


def main() -> None:
    """Run every setting on every scene; print (and write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('scenes', nargs='+')
    parser.add_argument('--model', default='geometric')
    parser.add_argument('--corrupted', action='store_true', help='the paper\'s mixed corruption on every frame')
    parser.add_argument('--json')
    parser.add_argument('--md')
    args = parser.parse_args()
    per_setting = score_settings(args.scenes, args.model, {name: {'smoother': smoother}
                                                           for name, smoother in SETTINGS.items()},
                                 args.corrupted, rate_hz=5.0, direction_hold_s=0.0)
    condition = 'corrupted' if args.corrupted else 'clean'
    write_table(per_setting, list(next(iter(per_setting.values()))[0]),
                f'{args.model}, {{scenes}} scenes, {condition} (means)', 'smoother (lag, angular accel)', 2,
                args.md, args.json)


if __name__ == '__main__':
    main()
