"""`av-pose demo`: the whole package on one synthetic recording, no downloads, no weights needed.

1. renders the showcase ShoeboxAV scene (`av_pose.scene.showcase`: the rig walks an arc while sweeping its
   yaw, a talker and music that pauses, a stretch of heavily blurred frames);
2. writes it as a rosbag2 (`av-pose scene-to-bag`) and runs the bag tool's core on it (`av-pose bag`):
   keyframe DOA, and relative pose integrated into odometry by the geometric estimator vision-only
   (`geometric-vision`) and audio-visual (`geometric`), plus each shipped learned pair when its weights exist;
   the rig is a level ground robot, so the bag tool runs with planar motion (`av-pose bag --planar-motion`);
   the MCAP it writes holds the inputs and every output (Foxglove / RViz);
   and the sound sources: tracks with ids (ZoneNet DOA, as `pose.launch.py` runs it) mapped in the world with
   each odometry;
3. runs the array ↔ camera self-calibration on the same bag;
4. writes trajectory.png, doa.png, pose_errors.png (blurred stretch shaded), sound_sources.png (tracks over
   time against the truth) and calibration.png, and prints the metrics table drawn in pose_errors.png.
"""
from __future__ import annotations

import argparse

VISION_ONLY, AUDIO_VISUAL = 'geometric-vision', 'geometric'


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    parser = subparsers.add_parser('demo', help='synthetic scene → bag → DOA, vision-only vs audio-visual odometry, '
                                   'calibration → MCAP, PNGs and a metrics table')
    parser.add_argument('--out', default='out/demo', help='output folder (default out/demo)')
    parser.add_argument('--array', default='respeaker6', help='array preset or YAML (default respeaker6)')
    parser.add_argument('--duration', type=float, default=30.0, help='scene length, seconds (default 30, min 6)')
    parser.add_argument('--seed', type=int, default=7, help='scene seed (default 7)')
    parser.add_argument('--gap', type=float, default=1.0, help='seconds between the frames of a pair (default 1)')
    parser.add_argument('--rate', type=float, default=1.0,
                        help='keyframes per second (default 1: with --gap 1 the odometry is one chain of pairs)')
    parser.add_argument('--json', action='store_true', help='print the summary as one JSON line at the end')
    parser.add_argument('--quiet', action='store_true', help='no progress bars')
    parser.set_defaults(func=run)


def demo_models() -> list[str]:
    """Vision-only and audio-visual geometric, then each shipped learned (vision-only, audio-visual) pair."""
    from av_pose.pose.registry import shipped_av_models

    return [VISION_ONLY, AUDIO_VISUAL] + [name for pair in shipped_av_models() for name in pair]


def _point_sources(record) -> list[tuple[str, tuple[float, float]]]:
    """(kind, horizontal position m) of each distinct point source (a source that pauses is listed once)."""
    found: dict[tuple[float, float], str] = {}
    for source in record.sources:
        if source.get('position_m') is not None:
            found.setdefault(tuple(float(v) for v in source['position_m'][:2]), source['kind'])
    return [(kind, xy) for xy, kind in found.items()]


def source_map_errors(record, maps: dict) -> dict[str, list[float | None]]:
    """Distance (m, horizontal) from each distinct point source to the nearest entry of each map.

    `maps`: pose source → map entries, as the bag tool's summary['sources'] holds them; None: the map is empty.
    """
    import numpy as np

    truth = [np.asarray(xy) for _, xy in _point_sources(record)]
    errors = {}
    for name, entries in maps.items():
        found = np.array([e['position_m'][:2] for e in entries], dtype=float).reshape(-1, 2)
        errors[name] = [float(np.min(np.linalg.norm(found - xy, axis=1))) if len(found) else None for xy in truth]
    return errors


def _sources_line(record, score, map_errors: dict) -> str:
    """One line of the demo table: tracking and map figures."""
    kinds = [kind for kind, _ in _point_sources(record)]
    maps = '; '.join(f'{name} ' + ' / '.join('—' if e is None else f'{e:.2f}' for e in errors)
                     for name, errors in map_errors.items())
    return (f'sound sources ({" and ".join(kinds)}; ZoneNet DOA, tracker): {100 * score.coverage:.0f} % of '
            f'source windows tracked, {score.id_switches} id switches, median error {score.median_error_deg:.1f}°; '
            f'map, m from each source to its nearest entry: {maps or "no map"}')


def _in_interval(t, interval) -> bool:
    return interval[0] <= t < interval[1]


def run(args: argparse.Namespace) -> int:
    """Execute `av-pose demo`."""
    import json
    import shutil
    import textwrap
    import time
    from pathlib import Path

    import numpy as np
    import torch
    from tqdm import tqdm

    from av_pose.bag.process import BagProcessOptions, process_bag
    from av_pose.bag.reader import BagReadOptions
    from av_pose.bag.scene_to_bag import BagOptions, scene_to_bag
    from av_pose.cli.calibrate import plot_calibration
    from av_pose.eval.odometry import track_pair_errors
    from av_pose.eval.plots import TABLE_COLUMNS, format_table, metrics_rows, write_odometry_plots
    from av_pose.eval.track_score import score_scene_tracks
    from av_pose.eval.tracks import run_scene_tracks
    from av_pose.eval.tracks_report import plot_scene_tracks
    from av_pose.geometry import LEVEL_CAMERA_UP
    from av_pose.metrics.azimuth import azimuth_abs_error_deg
    from av_pose.models.zone_net_doa import DEFAULT_ZONE_NET
    from av_pose.pose.calibration import calibrate_recording
    from av_pose.pose.registry import make_pose_estimator
    from av_pose.scene.showcase import generate_showcase

    torch.set_num_threads(min(2, torch.get_num_threads()))
    began = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scene_dir, bag_dir, result_dir = out / 'scene', out / 'input_bag', out / 'demo_bag'
    for old in (scene_dir, bag_dir, result_dir):  # only what the demo itself writes
        if old.exists():
            shutil.rmtree(old)
    quiet = args.quiet
    frames = int(np.floor(args.duration * 10.0 + 1e-9)) + 1
    print(f'[1/4] rendering the {args.duration:g} s showcase scene ({args.array}) → {scene_dir}', flush=True)
    with tqdm(total=frames, unit='frame', desc='render', disable=quiet) as bar:
        showcase = generate_showcase(scene_dir, args.duration, args.seed, args.array, on_frame=lambda: bar.update())
    record = showcase.record
    print(f'[2/4] scene → rosbag2 → the bag tool (DOA, pose, odometry) → {result_dir}', flush=True)
    scene_to_bag(scene_dir, bag_dir, BagOptions(progress=not quiet))
    names = demo_models()
    estimators = {name: make_pose_estimator(name, device='cpu') for name in names}
    options = BagProcessOptions(read=BagReadOptions(array=record.mic_array), gap_s=args.gap, rate_hz=args.rate,
                                progress=not quiet, sources=True, planar_up=LEVEL_CAMERA_UP,
                                source_zone_net=DEFAULT_ZONE_NET)
    try:
        result = process_bag(bag_dir, result_dir, estimators, options)
    finally:
        for estimator in estimators.values():
            estimator.release()
    print('[3/4] array ↔ camera self-calibration on the same bag', flush=True)
    calibration = calibrate_recording(result.recording, progress=not quiet)
    print(f'[4/4] figures → {out}', flush=True)
    doa_times = np.array([d.stamp_s for d in result.doa])
    true_azimuths = np.stack([record.source_azimuths_deg(t) for t in doa_times])
    estimated = np.stack([d.azimuths_deg for d in result.doa])
    with np.errstate(invalid='ignore'):
        doa_errors = np.nanmin(np.where(np.isfinite(true_azimuths),
                                        azimuth_abs_error_deg(estimated[:, :1], true_azimuths), np.inf), axis=1)
    doa_errors = doa_errors[np.isfinite(doa_errors)]
    models = result.summary['models']
    blur = showcase.blur_s
    for name, track in result.tracks.items():
        errors = track_pair_errors(track, result.recording.T_world_cam)
        touched = np.array([_in_interval(result.recording.frame_times_s[s.frame], blur)
                            or _in_interval(result.recording.frame_times_s[s.partner], blur) for s in track.pairs])
        rotation = errors.rotation_deg[touched]
        models[name]['blur_rotation_mae_deg'] = float(np.nanmean(rotation)) if np.isfinite(rotation).any() else None
        models[name]['blur_failed'] = int(np.count_nonzero(~errors.valid[touched]))
        models[name]['blur_pairs'] = int(touched.sum())
    rows = metrics_rows(models)
    header = (*TABLE_COLUMNS, 'blur: rot MAE °', 'blur: no pose')
    for row, summary in zip(rows, models.values()):
        mae = summary['blur_rotation_mae_deg']
        row += ['—' if mae is None else f'{mae:.1f}', f'{summary["blur_failed"]}/{summary["blur_pairs"]}']
    doa_line = (f'DOA (NormMUSIC with onset emphasis, {len(doa_errors)} keyframe windows with an active source): '
                f'MAE {np.mean(doa_errors):.1f}°, median {np.median(doa_errors):.1f}°' if len(doa_errors)
                else 'DOA: no window with an active source')
    calibration_line = textwrap.fill(f'calibration: {calibration.message}', 140, subsequent_indent='  ')
    track_run = run_scene_tracks(record, zone_net=DEFAULT_ZONE_NET)  # the scene's audio and its truth
    track_score = score_scene_tracks(track_run)
    map_errors = source_map_errors(record, result.summary.get('sources', {}))
    sources_line = textwrap.fill(_sources_line(record, track_score, map_errors), 140, subsequent_indent='  ')
    table = '\n'.join([format_table(rows, header), doa_line, sources_line, calibration_line])
    shaded = [(blur[0], blur[1], 'heavy blur'), (*showcase.silence_s, 'music silent')]
    figures = write_odometry_plots(
        out, result.recording, result.tracks, result.doa, table, shaded,
        sources_xy=np.array([s['position_m'][:2] for s in record.sources if s.get('position_m') is not None]),
        true_azimuths_deg=true_azimuths, errors_title='rotation error of each pair: vision only vs audio-visual',
        sounds_from=AUDIO_VISUAL)
    figures['sound_sources'] = plot_scene_tracks(track_run, out / 'sound_sources.png', track_score)
    figures['calibration'] = out / 'calibration.png'
    plot_calibration(calibration, str(figures['calibration']))
    seconds = time.perf_counter() - began
    print()
    print(table)
    print(f'\nMCAP (inputs and outputs, Foxglove / RViz): {result_dir}')
    print(f'figures: {", ".join(str(p) for p in figures.values())}')
    print(f'demo took {seconds:.0f} s')
    if args.json:
        summary = {'scene': str(scene_dir), 'bag': str(result_dir), 'models': models,
                   'doa_mae_deg': float(np.mean(doa_errors)) if len(doa_errors) else None,
                   'doa_windows': int(len(doa_errors)), 'calibration': calibration.to_dict(),
                   'sources': {'tracks': track_score.to_json(), 'map_error_m': map_errors},
                   'figures': {k: str(v) for k, v in figures.items()}, 'blur_s': list(blur),
                   'silence_s': list(showcase.silence_s), 'seconds': seconds}
        print(json.dumps(summary))
    return 0
