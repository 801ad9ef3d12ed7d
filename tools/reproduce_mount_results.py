"""Regenerate docs/results/mount (issue 10 §2): the array's yaw on the rig from turning and a known source bearing.

ShoeboxAV scenes rendered with a deliberately wrong mount, 20 s of turning each.

For each seed: `av-pose synth --rotation-only --sources 1 --moving-sources 0 --duration 20` at mount yaws 30°, 90°,
180°, −120° and, wired mirror-wise (a respeaker4 with y → −y whose recording claims the plain preset), 90°. Each
scene is calibrated three ways with `av-pose calibrate --json`:
  - bearing+elevation: the source's direction at the first frame (from the scene's ground truth: what a user
    who faced the source, or measured it, would give);
  - bearing: the same azimuth, elevation left at 0 (a user who knows only where the source is, not how high);
  - none: no bearing (triangulation; on a rig that only turns the yaw is unobservable).
With `--source-kinds pink,babble` the same seeds (same rooms, paths and positions) get continuous sources and
the results go to known_bearing_pink_babble.*.
Usage: .venv/bin/python tools/reproduce_mount_results.py OUT_DIR [--seeds 31 32 33 34] [--source-kinds K,...]
(~10 min on 2 cores per run)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from av_pose.audio.arrays import load_array
from av_pose.metrics.azimuth import wrap_signed_deg
from av_pose.scene.format import read_scene

MOUNTS = ((30.0, False), (90.0, False), (180.0, False), (-120.0, False), (90.0, True))
RESULTS = Path('docs/results/mount')
DEFAULT_SEEDS = [31, 32, 33, 34]


def av_pose(*args: str) -> str:
    """Run the CLI, return its stdout."""
    run = subprocess.run([sys.executable, '-m', 'av_pose.cli', *args], capture_output=True, text=True,
                         env={**os.environ, 'OMP_NUM_THREADS': '1'})
    if run.returncode not in (0, 1):
        raise SystemExit(f'av-pose {" ".join(args)} failed: {run.stderr.strip().splitlines()[-1:]}')
    return run.stdout


def scene_for(out: Path, seed: int, yaw_deg: float, mirrored: bool, kinds: str | None) -> Path:
    """Render (once) the scene of one seed and mount."""
    scenes = out / f'seed{seed}_{yaw_deg:+.0f}{"_mirrored" if mirrored else ""}{_tag(kinds)}'
    if not (scenes / 'scene_00000' / 'scene.json').is_file():
        array = 'respeaker4'
        if mirrored:
            preset = load_array('respeaker4').to_dict()
            preset['name'] = 'respeaker4_mirrored'
            preset['positions_m'] = [[x, -y, z] for x, y, z in preset['positions_m']]
            array = str(out / 'respeaker4_mirrored.yaml')
            Path(array).write_text(yaml.safe_dump(preset))
        av_pose('synth', '--out', str(scenes), '--scenes', '1', '--duration', '20', '--seed', str(seed),
                '--array', array, '--rotation-only', '--sources', '1', '--moving-sources', '0',
                '--array-rpy', '0', '0', f'{yaw_deg:g}', *(['--source-kinds', kinds] if kinds else []))
    return scenes / 'scene_00000'


def _tag(kinds: str | None) -> str:
    return '' if not kinds else '_' + kinds.replace(',', '_')


def _fmt(value: float | None) -> str:
    return '–' if value is None else f'{value:.2f}'


def main() -> int:
    """Render, calibrate, tabulate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', type=Path)
    parser.add_argument('--seeds', type=int, nargs='+', default=DEFAULT_SEEDS,
                        help='scene seeds (default 31 32 33 34; others go to known_bearing_seeds_S1_S2...)')
    parser.add_argument('--source-kinds', default=None, help='av-pose synth --source-kinds (default: all kinds)')
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        for yaw_deg, mirrored in MOUNTS:
            scene = scene_for(args.out, seed, yaw_deg, mirrored, args.source_kinds)
            record = read_scene(scene)
            bearing, elevation = record.source_heading_direction_deg(record.frame_times_s[0])
            kind = record.sources[record.point_source_indices()[0]]['kind']
            row = {'seed': seed, 'yaw_deg': yaw_deg, 'mirrored': mirrored, 'source': kind,
                   'bearing_deg': round(bearing, 2), 'elevation_deg': round(elevation, 2)}
            for name, extra in (('bearing+elevation', ['--source-bearing', f'{bearing:.3f}', '--source-elevation',
                                                       f'{elevation:.3f}']),
                                ('bearing', ['--source-bearing', f'{bearing:.3f}']), ('none', [])):
                result = json.loads(av_pose('calibrate', str(scene), '--array', 'respeaker4', '--json', '--quiet',
                                            *extra))
                error = float(wrap_signed_deg(result['yaw_offset_deg'] - yaw_deg))
                row[name] = {'error_deg': round(error, 2), 'std_deg': round(result['yaw_std_deg'], 2),
                             'observable': result['observable'], 'mirrored_ok': result['mirrored'] == mirrored}
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for name in ('bearing+elevation', 'bearing', 'none'):
        errors = np.abs([r[name]['error_deg'] for r in rows if r[name]['observable']])
        summary[name] = {'scenes': len(rows), 'observable': int(len(errors)),
                         'median_abs_error_deg': float(np.median(errors)) if len(errors) else None,
                         'max_abs_error_deg': float(errors.max()) if len(errors) else None,
                         'within_2_deg': int((errors <= 2.0).sum()), 'within_5_deg': int((errors <= 5.0).sum()),
                         'mirror_detected': int(sum(r[name]['mirrored_ok'] for r in rows))}
    RESULTS.mkdir(parents=True, exist_ok=True)
    seeds = '' if args.seeds == DEFAULT_SEEDS else ' --seeds ' + ' '.join(map(str, args.seeds))
    stem = 'known_bearing' + _tag(args.source_kinds) + seeds.replace(' --seeds ', '_seeds_').replace(' ', '_')
    (RESULTS / f'{stem}.json').write_text(json.dumps({'rows': rows, 'summary': summary}, indent=1) + '\n')
    lines = [f'# Array mount yaw from 20 s of turning (`tools/reproduce_mount_results.py{seeds}'
             f'{" --source-kinds " + args.source_kinds if args.source_kinds else ""}`)', '',
             '| given | scenes | yaw observable | median abs. error ° | max ° | within 2° | within 5° | mirror right |',
             '|---|---|---|---|---|---|---|---|']
    for name, s in summary.items():
        lines.append(f'| {name} | {s["scenes"]} | {s["observable"]} | {_fmt(s["median_abs_error_deg"])} | '
                     f'{_fmt(s["max_abs_error_deg"])} | {s["within_2_deg"]} | {s["within_5_deg"]} | '
                     f'{s["mirror_detected"]} |')
    lines += ['', '| seed | mount yaw ° | mirrored | source | bearing ° | elevation ° | error, bearing+elevation ° | '
              'error, bearing ° |', '|---|---|---|---|---|---|---|---|']
    lines += [f'| {r["seed"]} | {r["yaw_deg"]:+.0f} | {r["mirrored"]} | {r["source"]} | {r["bearing_deg"]:+.1f} | '
              f'{r["elevation_deg"]:+.1f} | {r["bearing+elevation"]["error_deg"]:+.2f} | '
              f'{r["bearing"]["error_deg"]:+.2f} |' for r in rows]
    (RESULTS / f'{stem}.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines[:7]))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
