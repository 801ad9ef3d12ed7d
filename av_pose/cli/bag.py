"""`av-pose bag IN --out OUT`: a rosbag2 through the pose pipeline into an MCAP with TF, odometry, DOA, markers."""
from __future__ import annotations

import argparse

from av_pose.cli import (
    add_camera_arguments,
    add_detector_argument,
    add_planar_motion_argument,
    add_source_front_end_arguments,
    planar_up_from_args,
    resolve_source_front_end,
)
from av_pose.pose.odometry import DEFAULT_DIRECTION_HOLD_S
from av_pose.pose.smoothing import DEFAULT_ANGULAR_ACCEL, DEFAULT_LAG_S

TOPIC_OPTIONS = (('image-topic', '/camera/image_raw'), ('camera-info-topic', '/camera/camera_info'),
                 ('audio-topic', '/audio'), ('audio-info-topic', '/audio_info'), ('tf-topic', '/tf'),
                 ('tf-static-topic', '/tf_static'), ('world-frame', 'world'), ('array-frame', 'mic_array'),
                 ('camera-frame', ''))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `bag` subcommand."""
    parser = subparsers.add_parser(
        'bag', help='process a rosbag2 offline: TF, odometry, DOA spectrum and markers into an MCAP; scores',
        description='Run the pose_node pipeline (same pair schedule, estimators and odometry) over a rosbag2 '
        '(MCAP or sqlite3) and write an MCAP rosbag2 with the inputs and the outputs. With ground-truth /tf '
        'in the bag, print ATE/RPE (evo), relative-pose AUC@5/10/20 and rotation MAE.')
    parser.add_argument('bag', metavar='IN', help='input rosbag2 (folder, .mcap or .db3)')
    parser.add_argument('--out', required=True, metavar='OUT', help='output rosbag2 folder (MCAP; must not exist)')
    parser.add_argument('--model', action='append', metavar='NAME_OR_PATH',
                        help='pose estimator (repeat to compare; default: the shipped audio-visual model, else '
                        'geometric); names as av-pose models lists')
    parser.add_argument('--plot', metavar='DIR', help='write trajectory.png, doa.png (and pose_errors.png) here')
    parser.add_argument('--json', metavar='SUMMARY', help='write the summary JSON to this file')
    parser.add_argument('--gap', type=float, default=1.0, help='seconds between the frames of a pair (default 1)')
    parser.add_argument('--rate', type=float, default=5.0, help='keyframes per second of image time (default 5)')
    parser.add_argument('--window', type=float, default=1.0, help='audio window per frame, seconds (default 1)')
    parser.add_argument('--smoothing-lag', type=float, default=DEFAULT_LAG_S, metavar='S',
                        help='re-estimate the keyframes of the last S seconds after each one so that the '
                        'interleaved pair chains make one trajectory, as pose_node does (default %(default)g; '
                        '0: off)')
    parser.add_argument('--smoothing-accel', type=float, default=DEFAULT_ANGULAR_ACCEL, metavar='RAD_S2',
                        help='the smoother\'s prior on how fast the turn rate changes (default %(default)g)')
    parser.add_argument('--direction-hold', type=float, default=DEFAULT_DIRECTION_HOLD_S, metavar='S',
                        help='where vision gives no translation direction, move the scale\'s distance along the '
                        'last known direction of travel for at most S seconds, as pose_node does (default '
                        '%(default)g; 0: off)')
    parser.add_argument('--translation-scale', default='auto',
                        choices=('auto', 'none', 'fixed', 'ground-truth', 'odometry'),
                        help='auto: ground truth when the bag has it, else none (rotation only); ground-truth: the '
                        'distance of the world_frame → camera poses; odometry: their distance and direction (a '
                        'robot\'s wheel odometry, with --world-frame odom); fixed: --speed (default auto)')
    parser.add_argument('--speed', type=float, default=0.0, help='m/s prior for --translation-scale fixed')
    parser.add_argument('--array', default='respeaker4', help='array preset or YAML of the audio (default respeaker4)')
    parser.add_argument('--audio-msg-type', default='audio_common_msgs/msg/AudioDataStamped',
                        help='audio family, for bags without message definitions')
    parser.add_argument('--device', default='auto', help='estimator device: auto, cpu, cuda (default auto)')
    add_detector_argument(parser)
    add_planar_motion_argument(parser)
    parser.add_argument('--no-inputs', action='store_true', help='write only the outputs, not the input messages')
    parser.add_argument('--sources', action='store_true',
                        help='also map the sound sources (DOA → tracker → triangulation) with each model\'s odometry '
                        'and the ground truth when the bag has it; printed, in the summary JSON under "sources", '
                        'and written to OUT as /NAME/sources/map and /NAME/sources/markers (NAME: each model, '
                        'ground_truth)')
    parser.add_argument('--sources-rate', type=float, default=1.0, metavar='HZ',
                        help='with --sources: map snapshots written per second of audio time (default 1)')
    add_source_front_end_arguments(parser, '--sources', onsets=False)
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    topics = parser.add_argument_group('topics and frames (defaults: what av-pose scene-to-bag writes)')
    for name, default in TOPIC_OPTIONS:
        topics.add_argument(f'--{name}', default=default, help=f'(default {default or "the image frame_id"})')
    add_camera_arguments(topics)
    parser.set_defaults(func=run)


def default_models() -> list[str]:
    """The shipped audio-visual model when its weights exist, else the weightless `geometric`."""
    from av_pose.pose.registry import shipped_av_models

    shipped = shipped_av_models()
    return [shipped[0][1]] if shipped else ['geometric']


def run(args: argparse.Namespace) -> int:
    """Process the bag, write the outputs, print the summary."""
    import json
    import sys
    from pathlib import Path

    from av_pose.bag.process import BagProcessOptions, process_bag
    from av_pose.bag.reader import BagReadOptions
    from av_pose.eval.plots import format_table, metrics_rows, write_odometry_plots
    from av_pose.pose.registry import make_pose_estimator
    from av_pose.sources.frontend import ZONE_FRAMES

    resolve_source_front_end(args, ZONE_FRAMES)
    read = BagReadOptions(**{name.replace('-', '_'): getattr(args, name.replace('-', '_'))
                             for name, _ in TOPIC_OPTIONS}, array=args.array, audio_msg_type=args.audio_msg_type,
                         images_rectified=args.images_rectified, camera_hfov_deg=args.camera_hfov)
    options = BagProcessOptions(read=read, gap_s=args.gap, rate_hz=args.rate, window_s=args.window,
                                scale=args.translation_scale, speed_mps=args.speed, copy_inputs=not args.no_inputs,
                                progress=not args.quiet, sources=args.sources,
                                planar_up=planar_up_from_args(args.planar_motion),
                                smoothing_lag_s=args.smoothing_lag, smoothing_angular_accel=args.smoothing_accel,
                                direction_hold_s=args.direction_hold,
                                sources_rate_hz=args.sources_rate, source_zone_net=args.zone_net,
                                source_zone_net_threshold=args.zone_net_threshold, source_zone_frames=args.zone_frames)
    names = list(dict.fromkeys(args.model or default_models()))
    estimators = {name: make_pose_estimator(name, detector=args.detector, device=args.device) for name in names}
    try:
        result = process_bag(args.bag, args.out, estimators, options)
    finally:
        for estimator in estimators.values():
            estimator.release()
    summary = result.summary
    for warning in summary['warnings']:
        print(f'av-pose bag: warning: {warning}', file=sys.stderr)
    print(f'wrote {result.out_path}: {summary["keyframes"]} keyframes, scale {summary["scale"]}')
    for topic, count in sorted(summary.get('topics', {}).items()):
        print(f'  {topic}: {count} messages')
    if summary['ground_truth']:
        print(format_table(metrics_rows(summary['models'])))
    else:
        print('no ground-truth /tf in the bag: no scores')
    held = [f'{name} {entry["direction_held"]} of {entry["pairs"]}' for name, entry in summary['models'].items()
            if entry['direction_held']]
    if held:
        print(f'pairs without a translation direction that followed the last known one (--direction-hold): '
              f'{", ".join(held)}')
    lost = [f'{name} {entry["failed"]} of {entry["pairs"]} ({entry["restarts"]} chain restart'
            f'{"" if entry["restarts"] == 1 else "s"})'
            for name, entry in summary['models'].items() if entry['failed']]
    if lost:
        print(f'pairs without a pose, dropped as pose_node drops them (the next keyframe pairs across; after the '
              f'longest pair gap without one the chain restarts): {", ".join(lost)}')
    for poses, sources in summary.get('sources', {}).items():
        print(f'sound sources with {poses} poses: ' + ('; '.join(
            f'{s["id"]}: ({s["position_m"][0]:.2f}, {s["position_m"][1]:.2f}) m ± {max(s["std_m"][:2]):.2f}'
            + (' moving' if s['moving'] else '') for s in sources) or 'none'))
    if args.plot:
        written = write_odometry_plots(args.plot, result.recording, result.tracks, result.doa,
                                       format_table(metrics_rows(summary['models'])) if summary['ground_truth'] else '')
        summary['plots'] = {key: str(path) for key, path in written.items()}
        print(f'plots: {", ".join(str(p) for p in written.values())}')
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + '\n')
    return 0
