"""Odometry of several estimators on ShoeboxAV scenes, scored per keyframe and at every frame.

For every scene (a folder with scene.json, or a set folder holding such folders), `run_odometry` integrates each
`--model` with ground-truth scale (`--scale odometry`: the true poses as a reference odometry, which also gives each
pair's direction of travel) and the defaults of pose_node (5 keyframes per second, 1 s pairs, smoothing,
direction hold), optionally on the paper's mixed corruption drawn from `--corruption-seed`. Reported as means over
the scenes with the scores of `tools/odometry_smoothing.py`: the keyframe scores (`ate_m`, `heading_rmse_deg`, ...)
cover the keyframes each estimator has a pose for, which differ once pairs are dropped; `frame_ate_m` and
`frame_heading_rmse_deg` score every frame (`av_pose.eval.odometry.frame_errors`), the same instants for all.
`frame_ate_closer` counts the scenes on which each model's `frame_ate_m` is the lowest.
Usage: .venv/bin/python tools/compare_odometry.py SCENES... [--model geometric --model geometric-vision]
[--corrupted [--corruption-seed N]] [--rate 5] [--scale odometry|slipping-odometry] [--planar-motion] [--detector sift]
[--json J] [--md M]
(the 16 scenes of one array of `tools/reproduce_geometric_results.sh`'s moving set, two models: about 4 min here)
"""
from __future__ import annotations

import argparse

import numpy as np
from odometry_smoothing import SCALES, score_settings, write_table

from av_pose.cli import add_detector_argument
from av_pose.geometry import LEVEL_CAMERA_UP


def main() -> None:
    """Run every model on every scene; print (and write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('scenes', nargs='+')
    parser.add_argument('--model', action='append', help='estimator (repeatable; default geometric, geometric-vision)')
    parser.add_argument('--corrupted', action='store_true', help='the paper\'s mixed corruption on every frame')
    parser.add_argument('--corruption-seed', type=int, default=0, help='its base seed (default 0, as av-pose eval)')
    parser.add_argument('--rate', type=float, default=5.0, help='keyframes per second (default 5)')
    parser.add_argument('--planar-motion', action='store_true',
                        help='a level ground robot (`av-pose synth --ground-robot / --differential-drive`): the '
                        'planar fit and the direction held in the rig\'s axes, as `av-pose bag --planar-motion`')
    parser.add_argument('--scale', choices=tuple(SCALES), default='ground-truth',
                        help='ground-truth: the true distance of each pair (default); odometry: the true poses as a '
                        'reference odometry (distance and direction of travel, as a robot\'s wheel odometry); '
                        'slipping-odometry: such a reference whose heading drifts 1°/s and whose distances read 5 %% '
                        'long (odometry_smoothing.slipping_odometry_scale)')
    add_detector_argument(parser)
    parser.add_argument('--json')
    parser.add_argument('--md')
    args = parser.parse_args()
    models = args.model or ['geometric', 'geometric-vision']
    per_model = {model: score_settings(args.scenes, model, {'default': {'scale': args.scale}}, args.corrupted,
                                       args.corruption_seed, detector=args.detector, rate_hz=args.rate,
                                       planar_up=LEVEL_CAMERA_UP if args.planar_motion else None)['default']
                 for model in models}
    frame_ates = np.array([[scene['frame_ate_m'] for scene in rows] for rows in per_model.values()])
    closest = np.argmin(frame_ates, axis=0)
    keys = ['frame_ate_m', 'frame_heading_rmse_deg'] + [key for key in next(iter(per_model.values()))[0]
                                                        if not key.startswith('frame_')]
    condition = f'corrupted (seed {args.corruption_seed})' if args.corrupted else 'clean'
    condition += {'ground-truth': '', 'odometry': ', reference odometry (true poses)',
                  'slipping-odometry': ', reference odometry that slips (1°/s heading drift, distances 5 % long)'}[
        args.scale]
    condition += ', planar motion' if args.planar_motion else ''
    condition += f', {args.detector} features' if args.detector else ''
    write_table(per_model, keys, f'{{scenes}} scenes, {condition}, {args.rate:g} keyframes/s (means)', 'model', 3,
                args.md, args.json,
                {'frame_ate_closer': {model: int(np.sum(closest == i)) for i, model in enumerate(per_model)},
                 'frame_ate_m_per_scene': {model: frame_ates[i].tolist() for i, model in enumerate(per_model)}})


if __name__ == '__main__':
    main()
