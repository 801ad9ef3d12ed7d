"""`av-pose calibrate BAG_OR_SCENE`: the array's yaw on the camera, a mirrored channel order, a wrong preset."""
from __future__ import annotations

import argparse

from av_pose.cli import add_camera_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `calibrate` subcommand."""
    parser = subparsers.add_parser(
        'calibrate', help="array ↔ camera self-calibration from a recording where the rig turns and moves",
        description='Pair the visual motion of a recording with its DOA: turns show a mirrored channel order or a '
        'wrong preset, travel shows the array\'s yaw on the rig (turning alone cannot, unless a static source\'s '
        'bearing at the start is known: --source-bearing). Prints the yaw with its uncertainty and writes the mount '
        'file that av-pose synth --array-mount, doa_node and pose_node take.')
    parser.add_argument('recording', metavar='BAG_OR_SCENE', help='a rosbag2 (folder, .mcap or .db3) or a scene folder')
    parser.add_argument('--out', metavar='YAML', help='write the mount file here (e.g. array_mount.yaml)')
    parser.add_argument('--json', action='store_true', help='print one JSON object instead of text')
    parser.add_argument('--plot', metavar='PNG', help='draw the turn test and the yaw likelihood into this PNG')
    parser.add_argument('--array', default=None,
                        help='array preset or YAML the recording was made with (bags: default respeaker4; '
                        'a scene folder names its own, which this overrides)')
    parser.add_argument('--source-bearing', type=float, default=None, metavar='DEG',
                        help='a static, loudest source\'s azimuth at the first frame, degrees counter-clockwise from '
                        'the camera\'s forward axis (0: a loudspeaker centred in the first image, 90: on the left); '
                        'the yaw then comes from the turns (triangulation otherwise)')
    parser.add_argument('--source-elevation', type=float, default=0.0, metavar='DEG',
                        help='that source\'s elevation above the camera\'s heading plane at the first frame, degrees '
                        '(default 0; matters only when the rig tilts)')
    parser.add_argument('--source-pixel', type=float, nargs=2, default=None, metavar=('U', 'V'),
                        help='instead of --source-bearing/--source-elevation: where that source is in the first '
                        'image as recorded, pixels (column, row), turned into a direction with the camera intrinsics '
                        '(and its lens, where the recording names one)')
    parser.add_argument('--gap', type=float, default=0.5, help='seconds between keyframes (default 0.5)')
    parser.add_argument('--window', type=float, default=1.0, help='DOA window, seconds (default 1.0)')
    parser.add_argument('--method', default='normmusic',
                        help='DOA method (default normmusic; zone-net: the learned reading of the tracking front end)')
    parser.add_argument('--no-onset-emphasis', dest='onset_emphasis', action='store_false',
                        help='DOA from the whole windows only (default with a spectral method: an onset-weighted '
                        'spectrum added, which resists the room\'s reflections on clicks, speech and music)')
    parser.add_argument('--detector', default='orb', help='image features for the visual pose (default orb)')
    parser.add_argument('--duration', type=float, default=None, metavar='S', help='use only the first S seconds')
    parser.add_argument('--motion', choices=('vision', 'odometry', 'ground-truth'), default='vision',
                        help='rig motion from the images (default), or from the recording\'s own camera poses '
                        '(odometry: a bag\'s /tf from --world-frame, e.g. a robot\'s wheel odometry in odom; a '
                        'scene\'s ground truth; ground-truth is the same): a metric path, which the yaw from '
                        'travel needs')
    parser.add_argument('--device', default='cpu', help='torch device of the DOA (cpu, cuda, auto)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    topics = parser.add_argument_group('bag topics (defaults: what av-pose scene-to-bag writes)')
    for name, default in (('image-topic', '/camera/image_raw'), ('camera-info-topic', '/camera/camera_info'),
                          ('audio-topic', '/audio'), ('audio-info-topic', '/audio_info'),
                          ('array-frame', 'mic_array'), ('world-frame', 'world')):
        topics.add_argument(f'--{name}', default=default, help=f'(default {default})')
    add_camera_arguments(topics)
    parser.set_defaults(func=run)


def open_recording(path_text: str, args: argparse.Namespace):
    """A SceneRecord for a scene folder, a BagRecording for a bag (folder with metadata.yaml, .mcap, .db3)."""
    from pathlib import Path

    from av_pose.errors import UserInputError

    path = Path(path_text)
    if (path / 'scene.json').is_file():
        from av_pose.audio.arrays import load_array
        from av_pose.scene.format import read_scene

        record = read_scene(path)
        if args.array is not None and load_array(args.array).num_channels != record.mic_array.num_channels:
            raise UserInputError(f'--array {args.array} does not match the scene\'s {record.mic_array.name}')
        if args.array is not None:
            record.mic_array = load_array(args.array)
        return record
    if (path / 'metadata.yaml').is_file() or path.suffix in ('.mcap', '.db3'):
        from av_pose.bag.reader import BagReadOptions, read_bag

        return read_bag(path, BagReadOptions(image_topic=args.image_topic, camera_info_topic=args.camera_info_topic,
                                             audio_topic=args.audio_topic, audio_info_topic=args.audio_info_topic,
                                             array_frame=args.array_frame, world_frame=args.world_frame,
                                             array=args.array or 'respeaker4',
                                             images_rectified=args.images_rectified,
                                             camera_hfov_deg=args.camera_hfov))
    raise UserInputError(f'{path}: neither a scene folder (scene.json) nor a rosbag2 (metadata.yaml, .mcap, .db3)')


def run(args: argparse.Namespace) -> int:
    """Calibrate, print, and write the mount file."""
    import json

    import numpy as np

    from av_pose.audio.doa import LEARNED_METHODS
    from av_pose.audio.mount import write_mount
    from av_pose.errors import UserInputError
    from av_pose.geometry import pixel_direction_deg
    from av_pose.pose.calibration import calibrate_recording

    recording = open_recording(args.recording, args)
    bearing, elevation = args.source_bearing, args.source_elevation
    if args.source_pixel is not None:
        if bearing is not None:
            raise UserInputError('give --source-pixel or --source-bearing, not both')
        if recording.K is None:
            raise UserInputError('--source-pixel needs the camera intrinsics, which this recording lacks')
        bearing, elevation = pixel_direction_deg(np.asarray(recording.K), *args.source_pixel, recording.distortion)
    result = calibrate_recording(recording, gap_s=args.gap, window_s=args.window, method=args.method,
                                 detector=args.detector, motion=args.motion, max_duration_s=args.duration,
                                 device=args.device, progress=not (args.quiet or args.json),
                                 onset_emphasis=args.onset_emphasis and args.method not in LEARNED_METHODS,
                                 source_bearing_deg=bearing, source_elevation_deg=elevation)
    offset = tuple(float(v) for v in recording.T_cam_array[:3, 3])  # the translation is not calibrated: kept
    write = bool(args.out) and result.preset_ok is not False
    if write:
        write_mount(args.out, result.T_cam_array(offset), yaw_offset_deg=result.yaw_offset_deg,
                    yaw_std_deg=result.yaw_std_deg, mirrored=result.mirrored, channel_order=result.channel_order,
                    array_name=recording.mic_array.name)
    if args.plot:
        plot_calibration(result, args.plot)
    if args.json:
        summary = result.to_dict()
        summary['mount_file'] = args.out if write else None
        print(json.dumps(summary))
        return 0 if result.preset_ok is not False else 1
    if result.observable:
        print(f'array yaw offset: {result.yaw_offset_deg:.1f}° ± {result.yaw_std_deg:.1f}° '
              f'(as av-pose synth --array-rpy 0 0 {result.yaw_offset_deg:.1f})')
    else:
        print('array yaw offset: not observable from this recording')
    print(f'mirrored channel order: {"yes, channel_order " + str(result.channel_order) if result.mirrored else "no"}')
    print(f'preset fits the turns: {"unknown" if result.preset_ok is None else "yes" if result.preset_ok else "NO"}')
    print(result.message)
    if write:
        print(f'wrote {args.out}')
    elif args.out:
        print(f'{args.out} not written: fix the array preset or channel order first')
    return 0 if result.preset_ok is not False else 1


def plot_calibration(result, path: str) -> None:
    """Two panels: spectrum shift against visual yaw per turning view pair, and the yaw likelihood profile."""
    import textwrap

    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    from av_pose.viz import save_png

    figure, (turns_axis, yaw_axis) = plt.subplots(1, 2, figsize=(10, 4))
    turns = result.diagnostics.get('turns', np.zeros((0, 2)))
    limit = max(10.0, float(np.abs(turns).max()) if turns.size else 0.0)
    line = np.array([-limit, limit])
    for slope, label, style in ((1.0, 'preset as wired (+1)', 'g-'), (-1.0, 'mirrored (−1)', 'r-'),
                                (0.0, 'spectra do not turn (0)', 'k:')):
        turns_axis.plot(line, slope * line, style, lw=1, label=label)
    turns_axis.plot(turns[:, 0], turns[:, 1], 'o', ms=4, color='tab:blue', label='view pairs')
    turns_axis.set(xlabel='visual yaw between views (°)', ylabel='DOA spectrum shift (°)', xlim=line, ylim=line,
                   title=f'turn test: slope {result.shift_slope:+.2f}, {len(turns)} pairs')
    turns_axis.legend(fontsize=8)
    yaws, likelihood = (result.diagnostics.get(k) for k in ('profile_yaw_deg', 'profile_likelihood'))
    if yaws is not None:
        order = np.argsort(yaws)
        yaw_axis.plot(yaws[order], likelihood[order], '-', color='tab:blue')
        yaw_axis.axvline(result.yaw_offset_deg, color='tab:red', lw=1)
    else:  # say why, and what would show it, instead of an empty panel
        why = result.message.split('; ', 1)[-1]
        yaw_axis.text(0.5, 0.5, textwrap.fill(why, 48), ha='center', va='center', fontsize=9,
                      transform=yaw_axis.transAxes)
    verdict = (f'{result.yaw_offset_deg:.1f}° ± {result.yaw_std_deg:.1f}°' if result.observable
               else 'not observable')
    yaw_axis.set(xlabel='array yaw offset (°)', ylabel='relative likelihood', xlim=(-180, 180), ylim=(0, 1.05),
                 title=f'yaw from travel: {verdict}')
    save_png(figure, path, dpi=100)
