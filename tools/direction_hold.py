"""Odometry with and without holding the direction of travel (`OdometryIntegrator.direction_hold_s`).

Where vision gives a rotation but no translation direction (the image shift or the audio answered alone: blur,
noise, darkness), the chain-only odometry stands still while the rig moves on. For every scene (a folder with
scene.json, or a set folder holding such folders), `run_odometry` integrates `geometric` with ground-truth scale
(the distance a wheel odometry or a speed prior gives) once per setting: hold off, and held for 1, 2, 3 and 5 s
in odom and in the rig's own axes. The estimates are computed once per scene and reused, so every setting sees
the same pairs. Reported as means over the scenes, with the other scores of `tools/odometry_smoothing.py`:
`ate_m` (evo ATE, as `av-pose bag` prints it) first.
Usage: .venv/bin/python tools/direction_hold.py SCENES... [--corrupted] [--planar-motion] [--rate 5] [--json J] [--md M]
(the 16 scenes of one array of `tools/reproduce_geometric_results.sh`'s moving set: about 5 min on one core)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from odometry_smoothing import CachedEstimator, scene_dirs, scores
from tqdm import tqdm

from av_pose.eval.pairs import scene_corruption
from av_pose.pose.registry import make_pose_estimator
from av_pose.pose.sequence import ground_truth_scale, run_odometry
from av_pose.scene.format import read_scene
from av_pose.vision.corruptions import CorruptionSpec

SETTINGS = {'off': (0.0, 'odom')} | {f'{hold:g} s, {frame}': (hold, frame)
                                     for frame in ('odom', 'sensor') for hold in (1.0, 2.0, 3.0, 5.0)}


def main() -> None:
    """Run every setting on every scene; print (and write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('scenes', nargs='+')
    parser.add_argument('--model', default='geometric')
    parser.add_argument('--corrupted', action='store_true', help='the paper\'s mixed corruption on every frame')
    parser.add_argument('--planar-motion', action='store_true', help='a ground robot, level camera (up = -y)')
    parser.add_argument('--rate', type=float, default=5.0, help='keyframes per second (default 5)')
    parser.add_argument('--json')
    parser.add_argument('--md')
    args = parser.parse_args()
    estimator = make_pose_estimator(args.model, device='cpu')
    planar_up = [0.0, -1.0, 0.0] if args.planar_motion else None
    per_setting = {name: [] for name in SETTINGS}
    for directory in tqdm(scene_dirs(args.scenes), unit='scene'):
        record = read_scene(directory)
        hook = None
        if args.corrupted:
            spec = scene_corruption(CorruptionSpec('mixed'), record)
            hook = lambda image, index, spec=spec: spec.apply(image, index)[0]  # noqa: E731
        cached = CachedEstimator(estimator)
        for name, (hold_s, frame) in SETTINGS.items():
            track = run_odometry(record, {args.model: cached}, lambda record=record: ground_truth_scale(record),
                                 rate_hz=args.rate, image_hook=hook, planar_up=planar_up, direction_hold_s=hold_s,
                                 direction_hold_frame=frame)[args.model]
            per_setting[name].append(scores(record, track))
    keys = ['ate_m'] + [key for key in per_setting['off'][0] if key != 'ate_m']
    summary = {name: {key: float(np.mean([s[key] for s in rows])) for key in keys}
               for name, rows in per_setting.items()}
    summary['ate_m_per_scene'] = {name: [s['ate_m'] for s in rows] for name, rows in per_setting.items()}
    summary['scenes'] = len(per_setting['off'])
    lines = [f'{args.model}, {summary["scenes"]} scenes, {"corrupted" if args.corrupted else "clean"}, '
             f'{args.rate:g} keyframes/s{", planar motion" if args.planar_motion else ""} (means)', '',
             '| direction hold | ' + ' | '.join(keys) + ' |', '|---' * (len(keys) + 1) + '|']
    lines += [f'| {name} | ' + ' | '.join(f'{summary[name][key]:.3f}' for key in keys) + ' |' for name in SETTINGS]
    print('\n'.join(lines))
    if args.md:
        Path(args.md).write_text('\n'.join(lines) + '\n')
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == '__main__':
    main()
