"""How well can travel show the array's yaw on the rig? The Cramér–Rao bound beside `av-pose calibrate`.

Without a source of known bearing, `av-pose calibrate` finds the array's mounting yaw Y by triangulation: with the
right Y the world bearings of a static source all meet at one point (`av_pose.pose.mount_yaw.solve_yaw`). How
sharply they single Y out depends on the path: a yaw error can be traded for moved sources. This script renders
ShoeboxAV scenes with a wrong mount and static sources, and for the first 20, 40 and 60 s of each gives
- `bound_deg`: the Cramér–Rao lower bound on Y's 1-σ from the sources' horizontal bearings every `--gap` s (the
  calibration's keyframes) with independent errors of `--sigma` degrees, given the true metric path (Y and each
  source's horizontal position unknown): what any unbiased solver can reach with bearings that good;
- the solver on the same stretch with the true metric path (as wheel odometry would give) and three kinds of
  bearings: `truth`, the sources' true azimuths plus independent `--sigma` errors (the solver alone, to set beside
  the bound); `normmusic`, `calibrate_recording(..., motion='odometry')` as `av-pose calibrate --motion
  odometry` runs it (NormMUSIC keyframe DOA with onset emphasis, 1 s windows); `zone-net`, the same with ZoneNet
  (`--method zone-net --no-onset-emphasis`, 1 s windows): each one's error, reported 1-σ and verdict.
Scenes: `av-pose synth --scenes 1 --duration 60 --sources 2 --moving-sources 0 --array respeaker4 --array-rpy 0 0 Y
--image-size 64x48 --seed S`, a ground robot (`--ground-robot`) and the default hand-held rig, Y cycling through
30°, 90°, 180° and −120°.
Usage: .venv/bin/python tools/mount_yaw_bound.py OUT_DIR [--seeds 51 52 53 54] [--sigma 3] [--json J] [--md M]
(about 25 min on one core: rendering 8 scenes of 60 s and 72 calibrations)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from av_pose.metrics.azimuth import wrap_signed_deg
from av_pose.scene.format import SceneRecord, read_scene

MOUNT_YAWS_DEG = (30.0, 90.0, 180.0, -120.0)
DURATIONS_S = (20.0, 40.0, 60.0)
BEARINGS = ('truth', 'normmusic', 'zone-net')
RIGS = {'ground robot': ['--ground-robot'], 'hand-held': []}


def render(out: Path, rig: str, seed: int, yaw_deg: float) -> Path:
    """The scene of one rig, seed and mount (rendered once)."""
    folder = out / f'{rig.replace(" ", "_")}_seed{seed}_{yaw_deg:+.0f}'
    scene = folder / 'scene_00000'
    if not (scene / 'scene.json').is_file():
        subprocess.run([sys.executable, '-m', 'av_pose.cli', 'synth', '--out', str(folder), '--scenes', '1',
                        '--duration', '60', '--seed', str(seed), '--sources', '2', '--moving-sources', '0',
                        '--array', 'respeaker4', '--array-rpy', '0', '0', f'{yaw_deg:g}', '--image-size', '64x48',
                        *RIGS[rig]], check=True, capture_output=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    return scene


def yaw_bound_deg(record: SceneRecord, duration_s: float, gap_s: float, sigma_deg: float) -> tuple[float, int]:
    """(Cramér–Rao bound on the mount yaw's 1-σ in degrees, bearings used) over the first `duration_s` seconds.

    Horizontal bearing of static point source s from the array at time t: atan2(p_s − c_t) − h_t − Y, c_t the
    array's true horizontal position, h_t its heading without the mount's yaw, Y the mount yaw; unknowns Y and every
    p_s (the array's pitch and roll are left out: a bound for the horizontal reading the solver's votes use).
    """
    points = record.point_source_indices()
    rows = []
    for t in np.arange(0.5, min(duration_s, record.duration_s) - 0.5 + 1e-9, gap_s):
        centre = (record.pose_at(t) @ record.T_cam_array)[:3, 3]
        positions = record.source_positions_at(t)
        for k, s in enumerate(points):
            if not np.isfinite(positions[s, 0]):
                continue
            d = positions[s, :2] - centre[:2]
            row = np.zeros(1 + 2 * len(points))
            row[0] = -1.0                                                  # ∂φ/∂Y
            row[1 + 2 * k: 3 + 2 * k] = np.array([-d[1], d[0]]) / (d @ d)  # ∂φ/∂p_s
            rows.append(row)
    jacobian = np.array(rows).reshape(-1, 1 + 2 * len(points))
    used = jacobian[:, 1:].any(0)
    keep = np.concatenate([[True], used])
    information = jacobian[:, keep].T @ jacobian[:, keep]
    if len(rows) < keep.sum() or np.linalg.cond(information) > 1e12:
        return float('inf'), len(rows)
    return float(sigma_deg * np.sqrt(np.linalg.inv(information)[0, 0])), len(rows)


def calibrate(record: SceneRecord, duration_s: float, bearings: str, sigma_deg: float, seed: int) -> dict:
    """The mount calibration of the scene's first `duration_s` seconds along its true path, from `bearings`."""
    from av_pose.pose.calibration import calibrate_recording

    if bearings == 'normmusic':
        return calibrate_recording(record, motion='odometry', max_duration_s=duration_s).to_dict()
    if bearings == 'zone-net':
        return calibrate_recording(record, motion='odometry', max_duration_s=duration_s, method='zone-net',
                                   onset_emphasis=False).to_dict()
    return calibrate_true_bearings(record, duration_s, sigma_deg, seed)


def calibrate_true_bearings(record: SceneRecord, duration_s: float, sigma_deg: float, seed: int) -> dict:
    """The calibration from the sources' true azimuths with Gaussian errors, keyframes as `calibrate_recording`."""
    from av_pose.audio.streaming import DoaFrame
    from av_pose.geometry import relative_pose
    from av_pose.pose.calibration import OnlineMountCalibrator
    from av_pose.pose.sequence import keyframe_indices

    rng = np.random.default_rng(seed)
    keys = keyframe_indices(record.frame_times_s, 0.5, duration_s)
    sectors = np.arange(360) + 0.5
    frames = []
    for t in record.frame_times_s[keys]:
        azimuths = record.source_azimuths_deg(t)[record.point_source_indices()]
        azimuths = azimuths[np.isfinite(azimuths)] + rng.normal(0.0, sigma_deg, np.isfinite(azimuths).sum())
        spectrum = sum((np.exp(8.0 * (np.cos(np.radians(sectors - a)) - 1.0)) for a in azimuths), np.full(360, 1e-3))
        frames.append(DoaFrame(float(t), spectrum, azimuths, np.ones(len(azimuths)), 1.0))
    calibrator = OnlineMountCalibrator(record.mic_array, translation='metric')
    for n in range(len(keys) - 1):
        T = relative_pose(record.T_world_cam[keys[n]], record.T_world_cam[keys[n + 1]])
        calibrator.add_pair(T[:3, :3], T[:3, 3], frames[n], frames[n + 1], translation_ok=True)
    return calibrator.result().to_dict()


def main() -> int:
    """Render, bound, calibrate, tabulate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', type=Path)
    parser.add_argument('--seeds', type=int, nargs='+', default=[51, 52, 53, 54])
    parser.add_argument('--sigma', type=float, default=3.0, help='bearing 1-σ of the bound, degrees (default 3)')
    parser.add_argument('--gap', type=float, default=0.5, help='seconds between bearings (default 0.5)')
    parser.add_argument('--json', type=Path, default=Path('docs/results/mount/yaw_from_travel.json'))
    parser.add_argument('--md', type=Path, default=Path('docs/results/mount/yaw_from_travel.md'))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for rig in RIGS:
        for n, seed in enumerate(args.seeds):
            yaw_deg = MOUNT_YAWS_DEG[n % len(MOUNT_YAWS_DEG)]
            record = read_scene(render(args.out, rig, seed, yaw_deg))
            for duration in DURATIONS_S:
                bound, bearings = yaw_bound_deg(record, duration, args.gap, args.sigma)
                row = {'rig': rig, 'seed': seed, 'yaw_deg': yaw_deg, 'duration_s': duration, 'bearings': bearings,
                       'bound_deg': round(bound, 2)}
                for kind in BEARINGS:
                    result = calibrate(record, duration, kind, args.sigma, seed)
                    row[kind] = {'error_deg': round(float(wrap_signed_deg(result['yaw_offset_deg'] - yaw_deg)), 2),
                                 'reported_std_deg': round(result['yaw_std_deg'], 2),
                                 'observable': result['observable'], 'mirrored': result['mirrored']}
                rows.append(row)
                print(json.dumps(row), flush=True)
    summary = []
    for rig in RIGS:
        for duration in DURATIONS_S:
            group = [r for r in rows if r['rig'] == rig and r['duration_s'] == duration]
            entry = {'rig': rig, 'duration_s': duration, 'scenes': len(group),
                     'median_bound_deg': float(np.median([r['bound_deg'] for r in group])),
                     'bound_within_2_deg': int(sum(r['bound_deg'] <= 2.0 for r in group))}
            for kind in BEARINGS:
                errors = np.abs([r[kind]['error_deg'] for r in group])
                observable = [abs(r[kind]['error_deg']) for r in group if r[kind]['observable']]
                entry[kind] = {'median_abs_error_deg': float(np.median(errors)),
                               'within_2_deg': int((errors <= 2.0).sum()), 'within_5_deg': int((errors <= 5.0).sum()),
                               'observable': len(observable),
                               'observable_within_5_deg': int(sum(e <= 5.0 for e in observable))}
            summary.append(entry)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({'sigma_deg': args.sigma, 'gap_s': args.gap, 'rows': rows,
                                     'summary': summary}, indent=1) + '\n')
    lines = [f'# The mount yaw from travel: Cramér–Rao bound ({args.sigma:g}° bearings every {args.gap:g} s) and '
             'the calibration along the true path (`tools/mount_yaw_bound.py`)', '',
             'Each bearings cell: median abs. error ° / within 2° / within 5° / reported observable '
             '(of them within 5°).',
             '', '| rig | seconds | scenes | median bound ° | bound ≤ 2° | '
             + ' | '.join(f'{kind} bearings' for kind in BEARINGS) + ' |', '|---|---|---|---|---|---|---|---|']
    for s in summary:
        cells = [f'{s[k]["median_abs_error_deg"]:.1f} / {s[k]["within_2_deg"]} / {s[k]["within_5_deg"]} / '
                 f'{s[k]["observable"]} ({s[k]["observable_within_5_deg"]})' for k in BEARINGS]
        lines.append(f'| {s["rig"]} | {s["duration_s"]:g} | {s["scenes"]} | {s["median_bound_deg"]:.1f} | '
                     f'{s["bound_within_2_deg"]} | ' + ' | '.join(cells) + ' |')
    lines += ['', 'Per scene, each bearings cell: error ° (reported 1-σ °, observable or not).', '',
              '| rig | seed | mount yaw ° | seconds | bearings | bound ° | '
              + ' | '.join(BEARINGS) + ' |', '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        cells = [f'{r[k]["error_deg"]:+.1f} ({r[k]["reported_std_deg"]:.1f}, '
                 f'{"yes" if r[k]["observable"] else "no"})' for k in BEARINGS]
        lines.append(f'| {r["rig"]} | {r["seed"]} | {r["yaw_deg"]:g} | {r["duration_s"]:g} | {r["bearings"]} | '
                     f'{r["bound_deg"]:.1f} | ' + ' | '.join(cells) + ' |')
    args.md.write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines[:6 + len(summary)]))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
