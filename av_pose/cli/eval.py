"""`av-pose eval --model NAME_OR_PATH ... --data DIR`: relative-pose accuracy of estimators on scene folders."""
from __future__ import annotations

import argparse

from av_pose.cli import (
    add_detector_argument,
    add_planar_motion_argument,
    add_source_front_end_arguments,
    planar_up_from_args,
    resolve_source_front_end,
)
from av_pose.pose.odometry import DEFAULT_DIRECTION_HOLD_S
from av_pose.pose.smoothing import DEFAULT_LAG_S


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `eval` subcommand."""
    parser = subparsers.add_parser(
        'eval', help='relative-pose AUC/MAE of pose estimators on scene folders (clean and corrupted)',
        description='Evaluate pose estimators on frame pairs of ShoeboxAV scene folders: the paper\'s Table 1 '
        '(rotation / translation / total AUC@5/10/20) clean and corrupted, Table 3 per corruption type, '
        'breakdowns by ground-truth rotation and frame gap, rotation MAE (SLfM), the pairs where a source starts '
        'or stops while the camera is still, and (with several models) every model on the pairs where the first '
        'one fails. Markdown on stdout; --json and --plot write files.')
    parser.add_argument('--model', action='append', metavar='NAME_OR_PATH',
                        help='estimator name (see `av-pose models`) or checkpoint path; repeat for several '
                        '(the first is the reference for "on_reference_failures"); required unless --tracks; '
                        'with --sources: the pose estimators whose odometry places the bearings')
    parser.add_argument('--tracks', action='store_true',
                        help='instead: score the sound-source tracker (NormMUSIC + SourceTracker with the '
                        'ground-truth rig yaw) against the scenes\' sources: coverage, id switches, false tracks, '
                        'linger after a stop, azimuth error (--json, --plot: one PNG per scene; --window applies)')
    parser.add_argument('--sources', action='store_true',
                        help='instead: score the sound-source map (DOA → tracker → triangulation) against the '
                        'scenes\' source positions after 5 s of motion and at the end, with ground-truth poses and '
                        'with the odometry of each --model (ground-truth scale); --json; --window applies')
    parser.add_argument('--azimuth', action='store_true',
                        help='learned sound azimuth and camera rotation, SLfM protocol, on rotation-only 2-channel '
                        'scenes: --model is the SLfM model (default the shipped slfm-tiny), beside NormMUSIC, '
                        'SRP-PHAT and chance')
    parser.add_argument('--supervised', metavar='PATH',
                        help='with --azimuth: a slfm-supervised checkpoint, reported as the upper bound')
    parser.add_argument('--sign-calibration', metavar='DIR',
                        help='with --azimuth: labelled scenes (e.g. the validation split) that fix the one global '
                        'sign of the self-supervised rotation (reported apart)')
    parser.add_argument('--peaks', type=int, default=None, metavar='K',
                        help='with --tracks or --sources: DOA peaks per window (default: point sources + 1, '
                        'within the array)')
    add_source_front_end_arguments(parser, '--tracks or --sources')
    parser.add_argument('--data', required=True, metavar='DIR', help='a scene folder or a folder of scene folders')
    parser.add_argument('--corrupted', action='append', metavar='KIND',
                        help='corrupted conditions besides clean: mixed (the "corrupted" set), blur, noise, jitter, '
                        'or none; repeat or separate by commas (default: mixed)')
    parser.add_argument('--gap', type=float, nargs='+', default=[1.0], metavar='S',
                        help='frame gaps in seconds, e.g. 0.5 1 2 4 (default 1)')
    parser.add_argument('--stride', type=int, default=1, help='every N-th frame starts a pair (default 1)')
    parser.add_argument('--window', type=float, default=None,
                        help='audio window per frame, seconds (default 1; with --tracks / --sources 0.5, the '
                        'tracking front end\'s)')
    parser.add_argument('--batch-size', type=int, default=16, help='pairs per estimate_batch call (default 16)')
    add_planar_motion_argument(parser)
    parser.add_argument('--smoothing-lag', type=float, default=None, metavar='S',
                        help='with --sources: the odometry\'s chain smoothing lag, as av-pose bag (default '
                        f'{DEFAULT_LAG_S:g}, pose_node\'s; 0: off)')
    parser.add_argument('--direction-hold', type=float, default=None, metavar='S',
                        help='with --sources: how long the odometry follows the last known direction of travel '
                        f'where vision gives none, as av-pose bag (default {DEFAULT_DIRECTION_HOLD_S:g}; 0: off)')
    parser.add_argument('--translation-scale', choices=('ground-truth', 'odometry'), default=None,
                        help='with --sources: the odometry\'s scale, the true distance of each pair (ground-truth, '
                        'default) or the true poses as a wheel odometry that also gives the travel (odometry, as '
                        'av-pose bag)')
    parser.add_argument('--seed', type=int, default=0, help='base seed of the corrupted sets (default 0)')
    parser.add_argument('--severity', type=float, default=None,
                        help='fixed corruption severity in [0, 1] (default: drawn per frame)')
    parser.add_argument('--device', default='auto', help='auto | cpu | cuda (default auto)')
    add_detector_argument(parser)
    parser.add_argument('--json', metavar='OUT', help='write the summary JSON here')
    parser.add_argument('--plot', metavar='DIR', help='write auc_bars.png, error_cdf.png and breakdown.png here')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.set_defaults(func=run)


def corruption_kinds(values: list[str] | None) -> list[str]:
    """The kinds of `--corrupted` (repeated and/or comma separated); default ['mixed'], 'none' → []."""
    from av_pose.errors import UserInputError
    from av_pose.vision.corruptions import CORRUPTION_KINDS

    if values is None:
        return ['mixed']
    kinds = [kind.strip().lower() for value in values for kind in value.split(',') if kind.strip()]
    for kind in kinds:
        if kind not in (*CORRUPTION_KINDS, 'none'):
            raise UserInputError(f'--corrupted {kind!r}: choose from {", ".join(CORRUPTION_KINDS)} or none')
    if 'none' in kinds and len(kinds) > 1:
        raise UserInputError('--corrupted none cannot be combined with corruption kinds')
    return [kind for kind in kinds if kind != 'none']


def _check_args(args: argparse.Namespace) -> None:
    """Raise UserInputError for options that cannot work, before anything slow starts."""
    from pathlib import Path

    from av_pose.errors import UserInputError

    if any(not gap > 0 for gap in args.gap):
        raise UserInputError(f'--gap must be positive seconds, got {" ".join(f"{g:g}" for g in args.gap)}')
    if args.stride < 1 or args.batch_size < 1:
        raise UserInputError(f'--stride and --batch-size must be at least 1, got {args.stride} and {args.batch_size}')
    args.window = 1.0 if args.window is None else args.window
    if not args.window > 0:
        raise UserInputError(f'--window must be positive seconds, got {args.window:g}')
    if args.severity is not None and not 0.0 <= args.severity <= 1.0:
        raise UserInputError(f'--severity must lie in [0, 1], got {args.severity:g}')
    if args.seed < 0:
        raise UserInputError(f'--seed must be non-negative, got {args.seed}')
    models = args.model or []
    duplicates = sorted({m for m in models if models.count(m) > 1})
    if duplicates:
        raise UserInputError(f'--model {duplicates[0]} is given more than once')
    if args.json and not Path(args.json).expanduser().resolve().parent.is_dir():
        raise UserInputError(f'--json {args.json}: its folder does not exist')
    if args.plot and Path(args.plot).exists() and not Path(args.plot).is_dir():
        raise UserInputError(f'--plot {args.plot}: exists and is not a folder')


def run(args: argparse.Namespace) -> int:
    """Execute `av-pose eval`."""
    import json
    from pathlib import Path

    from av_pose.data.pairs import find_scene_dirs
    from av_pose.errors import UserInputError
    from av_pose.eval.report import build_report, markdown_report, write_plots
    from av_pose.eval.run import evaluate, make_conditions, total_pairs
    from av_pose.pose.registry import ESTIMATORS, make_pose_estimator
    from av_pose.scene.format import read_scene

    if sum(map(bool, (args.tracks, args.sources, args.azimuth))) > 1:
        raise UserInputError('--tracks, --sources and --azimuth are separate evaluations: choose one')
    args.planar_up = planar_up_from_args(args.planar_motion)
    if args.planar_up is not None and (args.tracks or args.azimuth):
        raise UserInputError('--planar-motion shapes the pose models\' odometry: it has no use with --tracks or '
                             '--azimuth')
    if args.detector is not None and (args.sources or args.tracks or args.azimuth):
        raise UserInputError('--detector chooses the geometric estimators\' image features in the pose evaluation: '
                             'it has no use with --tracks, --sources or --azimuth')
    if args.azimuth:
        return _run_azimuth(args)
    if args.tracks:
        return _run_tracks(args)
    if not args.sources and (args.smoothing_lag is not None or args.direction_hold is not None
                             or args.translation_scale is not None):
        raise UserInputError('--smoothing-lag, --direction-hold and --translation-scale shape the odometry of '
                             '--sources: use them there')
    if args.sources:
        return _run_sources(args)
    if not args.model:
        raise UserInputError('--model is required (or use --tracks / --sources / --azimuth)')
    _check_args(args)
    conditions = make_conditions(corruption_kinds(args.corrupted), args.seed, args.severity)
    scene_dirs = find_scene_dirs(args.data)
    if not scene_dirs:
        raise UserInputError(f'{args.data}: no scene folders (with scene.json) found')
    records = [read_scene(d) for d in scene_dirs]
    gaps = list(dict.fromkeys(args.gap))
    estimators = {}
    try:
        for spec in args.model:
            estimator = make_pose_estimator(spec, detector=args.detector, device=args.device)
            name = spec if spec in ESTIMATORS or estimator.name in estimators else estimator.name
            estimators[name] = estimator
        results = evaluate(estimators, records, gaps, conditions, batch_size=args.batch_size, stride=args.stride,
                           window_s=args.window, progress=not args.no_progress,
                           planar_up=args.planar_up)
    finally:
        for estimator in estimators.values():
            estimator.release()
    report = build_report(results)
    description = (f'{len(records)} scene(s) in {args.data}; gaps {", ".join(f"{g:g}" for g in gaps)} s; stride '
                   f'{args.stride}; {total_pairs(records, gaps, args.stride)} pairs per condition; audio window '
                   f'{args.window:g} s; corruption seed {args.seed}'
                   + ('' if args.severity is None else f', severity {args.severity:g}')
                   + ('' if args.planar_up is None else '; planar motion') + '.')
    print(markdown_report(report, description))
    if args.json:
        Path(args.json).expanduser().write_text(json.dumps(report, indent=1, allow_nan=False) + '\n',
                                                encoding='utf-8')
        print(f'JSON written to {args.json}')
    if args.plot:
        for path in write_plots(results, report, Path(args.plot).expanduser()):
            print(f'plot written to {path}')
    return 0


def _run_tracks(args: argparse.Namespace) -> int:
    """`av-pose eval --tracks`: the sound-source tracker on every scene, Markdown on stdout."""
    import json
    from pathlib import Path

    from av_pose.eval.track_score import aggregate_scores
    from av_pose.eval.tracks import evaluate_tracks
    from av_pose.eval.tracks_report import markdown_tracks, plot_scene_tracks
    from av_pose.scene.format import read_scene

    scene_dirs = _source_eval_scenes(args)
    runs, scores = evaluate_tracks([read_scene(d) for d in scene_dirs], args.peaks, window_s=args.window,
                                   progress=not args.no_progress, zone_frames=args.zone_frames,
                                   onset_emphasis=args.onset_emphasis, zone_net=args.zone_net,
                                   zone_net_threshold=args.zone_net_threshold)
    peaks = 'point sources + 1' if args.peaks is None else str(args.peaks)
    print(markdown_tracks(runs, scores, f'{len(runs)} scene(s) in {args.data}; {_front_end(args)}, {peaks} peaks, '
                          f'{args.window:g} s windows every 0.1 s; tracker defaults; ground-truth rig yaw.'))
    if args.json:
        summary = {'scenes': {run.name: score.to_json() for run, score in zip(runs, scores)},
                   'all': aggregate_scores(scores).to_json()}
        Path(args.json).expanduser().write_text(json.dumps(summary, indent=1, allow_nan=False) + '\n',
                                                encoding='utf-8')
        print(f'JSON written to {args.json}')
    if args.plot:
        for run, score in zip(runs, scores):
            path = plot_scene_tracks(run, Path(args.plot).expanduser() / f'tracks_{run.name}.png', score)
            print(f'plot written to {path}')
    return 0


def _run_sources(args: argparse.Namespace) -> int:
    """`av-pose eval --sources`: the sound-source map on every scene, Markdown on stdout."""
    import json
    from pathlib import Path

    from tqdm import tqdm

    from av_pose.eval.sources import evaluate_scene_sources, markdown_sources, summarize_sources
    from av_pose.scene.format import read_scene

    scene_dirs = _source_eval_scenes(args)
    poses = ('ground-truth', *(args.model or ()))
    lag = DEFAULT_LAG_S if args.smoothing_lag is None else args.smoothing_lag
    hold = DEFAULT_DIRECTION_HOLD_S if args.direction_hold is None else args.direction_hold
    scale = args.translation_scale or 'ground-truth'
    scores = []
    for directory in tqdm(scene_dirs, desc='sources', unit='scene', disable=args.no_progress):
        scores += evaluate_scene_sources(read_scene(directory), poses, num_peaks=args.peaks, window_s=args.window,
                                         zone_frames=args.zone_frames, planar_up=args.planar_up,
                                         onset_emphasis=args.onset_emphasis, zone_net=args.zone_net,
                                         zone_net_threshold=args.zone_net_threshold, smoothing_lag_s=lag,
                                         direction_hold_s=hold, scale=scale)
    summary = summarize_sources(scores)
    print(markdown_sources(summary, f'{len(scene_dirs)} scene(s) in {args.data}; {_front_end(args)}, '
                           f'{args.window:g} s '
                           'windows every 0.1 s; tracker and map defaults; horizontal error'
                           + ('; planar motion' if args.planar_up is not None else '')
                           + (f'; odometry smoothing {lag:g} s, direction hold {hold:g} s, scale {scale}.'
                              if args.model else '.')))
    if args.json:
        Path(args.json).expanduser().write_text(json.dumps({'summary': summary,
                                                            'snapshots': [s.to_json() for s in scores]},
                                                           indent=1, allow_nan=False) + '\n', encoding='utf-8')
        print(f'JSON written to {args.json}')
    return 0


def _front_end(args: argparse.Namespace) -> str:
    """The DOA front end of --tracks / --sources in words."""
    if args.zone_net:
        from av_pose.models.zone_net_doa import THRESHOLD
        from av_pose.sources.frontend import method_tracker_defaults

        tracker = method_tracker_defaults('zone-net')
        threshold = THRESHOLD if args.zone_net_threshold is None else args.zone_net_threshold
        return (f'NormMUSIC zone spectra read by zone-net ({args.zone_net}, peaks ≥ {threshold:g}; the tracker takes '
                f'their 1-σ as {tracker["measurement_std_deg"]:g}° and an acceleration noise of '
                f'{tracker["accel_std_deg_s2"]:g}°/s²)')
    if not args.zone_frames:
        return 'NormMUSIC, one spectrum per window'
    onsets = ' and onset frames' if args.onset_emphasis else ''
    return f'NormMUSIC, zone voting over {args.zone_frames} STFT frames{onsets}'


def _source_eval_scenes(args: argparse.Namespace) -> list:
    """Check the options --tracks and --sources share; the scene folders under --data."""
    from pathlib import Path

    from av_pose.data.pairs import find_scene_dirs
    from av_pose.errors import UserInputError
    from av_pose.sources.frontend import WINDOW_S, ZONE_FRAMES

    if args.peaks is not None and args.peaks < 1:
        raise UserInputError(f'--peaks must be at least 1, got {args.peaks}')
    resolve_source_front_end(args, ZONE_FRAMES)
    args.window = WINDOW_S if args.window is None else args.window
    if not args.window > 0:
        raise UserInputError(f'--window must be positive seconds, got {args.window:g}')
    if args.json and not Path(args.json).expanduser().resolve().parent.is_dir():
        raise UserInputError(f'--json {args.json}: its folder does not exist')
    scene_dirs = find_scene_dirs(args.data)
    if not scene_dirs:
        raise UserInputError(f'{args.data}: no scene folders (with scene.json) found')
    return scene_dirs


def _run_azimuth(args: argparse.Namespace) -> int:
    """`av-pose eval --azimuth`: SLfM-protocol azimuth and rotation errors, Markdown on stdout."""
    import json
    from pathlib import Path

    from av_pose.errors import UserInputError
    from av_pose.eval.azimuth import evaluate_azimuth, markdown_azimuth, plot_azimuth
    from av_pose.models.slfm_doa import resolve_slfm_model

    if len(args.model or []) > 1:
        raise UserInputError('--azimuth takes one --model (the SLfM model); give the supervised one as --supervised')
    _check_args(args)
    for flag, folder in (('--data', args.data), ('--sign-calibration', args.sign_calibration)):
        if folder is not None and not Path(folder).expanduser().is_dir():
            raise UserInputError(f'{flag} {folder}: no such folder')
    model = resolve_slfm_model((args.model or [None])[0])
    supervised = resolve_slfm_model(args.supervised) if args.supervised else None
    result = evaluate_azimuth(args.data, model, supervised, gaps_s=list(dict.fromkeys(args.gap)),
                              window_s=args.window, stride=args.stride, batch_size=args.batch_size,
                              device=args.device, seed=args.seed, sign_calibration=args.sign_calibration)
    result['settings']['model'] = str(model)
    print(markdown_azimuth(result, f'{result["pairs"]} pairs in {args.data} ({result["windows"]} windows that hear '
                                   f'a source); model {model.name}; window {args.window:g} s; stride {args.stride}.'))
    if args.json:
        Path(args.json).expanduser().write_text(json.dumps(result, indent=1) + '\n', encoding='utf-8')
        print(f'JSON written to {args.json}')
    if args.plot:
        print(f'plot written to {plot_azimuth(result, Path(args.plot).expanduser() / "azimuth_errors.png")}')
    return 0
