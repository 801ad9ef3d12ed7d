"""Regenerate the planar-motion figures of docs/results.md ("Planar motion (ground robots)") on CPU.

Two sets of level rigs, each evaluated clean and corrupted (mixed), with free motion and with `--planar-motion`:
  - OUT/showcase: 12 walks of the demo's kind (`generate_showcase`, seeds 11-22, 20 s, 192x144), every 5th frame,
    `geometric-vision` and `geometric`; then the planar covariance check: squared turn and heading errors over
    their variances (median 0.455 for an honest 1-sigma), on seeds 11-16 (which PLANAR_COVARIANCE_SCALE was
    calibrated on) and 17-22;
  - OUT/ground: `av-pose synth --ground-robot` (16 scenes of 10 s, ReSpeaker 4, 256x192, seed 700: the moving set's
    seed), every 2nd frame, `geometric-vision`, `geometric` and `geometric-audio`.

Usage: .venv/bin/python tools/reproduce_planar_results.py [OUT_DIR]   (default /tmp/av_pose_planar; ~15 min)
"""
from __future__ import annotations

import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from av_pose.cli import main
from av_pose.eval.pairs import scene_pose_pairs
from av_pose.geometry import LEVEL_CAMERA_UP, so3_log
from av_pose.scene.format import read_scene
from av_pose.scene.showcase import generate_showcase
from av_pose.vision.two_view import estimate_two_view

SEEDS = range(11, 23)
RESULTS = Path('docs/results/geometric')


def covariance_check(folders: list[Path]) -> dict:
    """Median of (error / 1-sigma)² of the planar turn and heading over the clean pairs of `folders`."""
    up = np.asarray(LEVEL_CAMERA_UP)
    turn, heading = [], []
    for folder in folders:
        record = read_scene(folder)
        for pair, T, _ in scene_pose_pairs(record, 1.0, stride=5):
            fit = estimate_two_view(pair.view_a.image, pair.view_b.image, record.K, up=up)
            if not fit.ok:
                continue
            omega = so3_log(T[:3, :3].T @ fit.R_a_b)
            turn.append((omega @ up) ** 2 / (up @ fit.covariance[3:, 3:] @ up))
            if not fit.translation_ok:
                continue
            sideways = np.cross(up, fit.t_a_b)
            error = fit.t_a_b - T[:3, 3] / np.linalg.norm(T[:3, 3])
            heading.append((error @ sideways) ** 2 / (sideways @ fit.covariance[:3, :3] @ sideways))
    return {'pairs': len(turn), 'pairs_with_direction': len(heading), 'turn_z2_median': float(np.median(turn)),
            'heading_z2_median': float(np.median(heading)),
            'turn_within_1sigma': float(np.mean(np.array(turn) < 1.0)),
            'heading_within_1sigma': float(np.mean(np.array(heading) < 1.0))}


def run() -> None:
    """Render (once), evaluate both ways, check the covariance; write docs/results/geometric/planar*."""
    out = Path(sys.argv[1] if len(sys.argv) > 1 else '/tmp/av_pose_planar')
    folders = []
    for seed in SEEDS:
        folder = out / 'showcase' / f'seed{seed}'
        if not (folder / 'scene.json').is_file():
            generate_showcase(folder, duration_s=20.0, seed=seed)
        folders.append(folder)
    ground = out / 'ground' / 'respeaker4'
    if not (ground / '.done').is_file():
        main(['synth', '--out', str(ground), '--ground-robot', '--scenes', '16', '--duration', '10', '--seed', '700',
              '--array', 'respeaker4'])
        (ground / '.done').touch()
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = (('planar_free', out / 'showcase', ['--stride', '5'], []),
            ('planar', out / 'showcase', ['--stride', '5'], ['--planar-motion']),
            ('ground_free', out / 'ground', ['--stride', '2', '--model', 'geometric-audio'], []),
            ('ground_planar', out / 'ground', ['--stride', '2', '--model', 'geometric-audio'], ['--planar-motion']))
    for name, data, options, extra in runs:
        with open(RESULTS / f'{name}.md', 'w') as markdown, redirect_stdout(markdown):
            main(['eval', '--model', 'geometric-vision', '--model', 'geometric', *options, '--data', str(data),
                  '--device', 'cpu', '--no-progress', '--json', str(RESULTS / f'{name}.json'), *extra])
    check = {'calibration (seeds 11-16)': covariance_check(folders[:6]),
             'held out (seeds 17-22)': covariance_check(folders[6:])}
    (RESULTS / 'planar_covariance.json').write_text(json.dumps(check, indent=1) + '\n')
    print(json.dumps(check, indent=1))


if __name__ == '__main__':
    run()
