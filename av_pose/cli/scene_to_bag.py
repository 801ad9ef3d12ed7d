"""`av-pose scene-to-bag SCENE_DIR --out BAG`: write a scene folder as an MCAP rosbag2 for replay."""
from __future__ import annotations

import argparse

AUDIO_MSG_TYPES = ('audio_common_msgs/msg/AudioDataStamped', 'audio_common_msgs/msg/AudioStamped',
                   'audio_utils_msgs/msg/AudioFrame')


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `scene-to-bag` subcommand."""
    parser = subparsers.add_parser(
        'scene-to-bag', help='write a scene folder as a rosbag2 (MCAP): camera, audio, ground-truth tf',
        description=__doc__.splitlines()[0].split(': ', 1)[1])
    parser.add_argument('scene_dir', metavar='SCENE_DIR', help='scene folder (scene.json, audio.wav, frames/)')
    parser.add_argument('--out', required=True, metavar='BAG', help='output bag folder (must not exist)')
    parser.add_argument('--audio-msg-type', choices=AUDIO_MSG_TYPES, default=AUDIO_MSG_TYPES[0],
                        help='audio message family on /audio (default: %(default)s, with latched /audio_info)')
    parser.add_argument('--chunk-ms', type=float, default=32.0, help='audio per message, ms (default: 32)')
    parser.add_argument('--sample-format', choices=('S16LE', 'S32LE', 'F32LE'), default='S16LE',
                        help='PCM sample format of the audio messages (default: S16LE)')
    parser.add_argument('--start-epoch', type=float, default=1.7e9, metavar='SECONDS',
                        help='stamp of scene time 0, seconds since the Unix epoch (default: 1.7e9; '
                             'keep it non-zero, tf2 reads a zero stamp as "latest")')
    parser.add_argument('--world-frame', default='world', help='fixed frame of the poses on /tf (default world)')
    parser.add_argument('--base-frame', default='', metavar='FRAME',
                        help='lay the frames out as on a robot: /tf WORLD → FRAME (the rig\'s body), /tf_static '
                        'FRAME → camera and FRAME → array (e.g. --base-frame base_link --world-frame odom, as '
                        'wheel odometry publishes them); default: /tf WORLD → camera, /tf_static camera → array')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the bag and print one summary line per topic."""
    from av_pose.bag.scene_to_bag import BagOptions, scene_to_bag

    options = BagOptions(audio_msg_type=args.audio_msg_type, chunk_ms=args.chunk_ms,
                         sample_format=args.sample_format, start_epoch_s=args.start_epoch,
                         world_frame=args.world_frame, base_frame=args.base_frame, progress=not args.quiet)
    summary = scene_to_bag(args.scene_dir, args.out, options)
    duration_s = (summary.last_stamp_ns - summary.first_stamp_ns) * 1e-9
    print(f'wrote {summary.path} ({duration_s:.2f} s)')
    for topic, count in sorted(summary.counts.items()):
        print(f'  {topic}: {count} messages')
    return 0
