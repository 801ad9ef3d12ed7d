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

from odometry_smoothing import score_settings, write_table

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
    settings = {name: {'direction_hold_s': hold_s, 'direction_hold_frame': frame}
                for name, (hold_s, frame) in SETTINGS.items()}
    per_setting = score_settings(args.scenes, args.model, settings, args.corrupted, rate_hz=args.rate,
                                 planar_up=[0.0, -1.0, 0.0] if args.planar_motion else None)
    keys = ['ate_m'] + [key for key in per_setting['off'][0] if key != 'ate_m']
    condition = 'corrupted' if args.corrupted else 'clean'
    write_table(per_setting, keys, f'{args.model}, {{scenes}} scenes, {condition}, {args.rate:g} keyframes/s'
                f'{", planar motion" if args.planar_motion else ""} (means)', 'direction hold', 3, args.md, args.json,
                {'ate_m_per_scene': {name: [s['ate_m'] for s in rows] for name, rows in per_setting.items()}})


if __name__ == '__main__':
    main()
