"""The `av-pose` command line: one module per subcommand, each exposing `register(subparsers)`.

A subcommand module adds its parser and sets `func=run` where `run(args) -> int`. Heavy imports
(torch, pyroomacoustics) happen inside `run`, so `av-pose --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from av_pose.errors import UserInputError

# (module under av_pose.cli, in the order `av-pose --help` lists them)
SUBCOMMAND_MODULES = ('doa', 'demo', 'synth', 'scene_to_bag', 'bag', 'calibrate', 'train', 'eval', 'models', 'bench')


def add_planar_motion_argument(parser: argparse.ArgumentParser) -> None:
    """`--planar-motion [X Y Z]`: the rig moves on a level floor (see `planar_up_from_args`)."""
    parser.add_argument('--planar-motion', type=float, nargs='*', default=None, metavar='X Y Z',
                        help='the rig moves on a level floor (a ground robot): the geometric estimator fits the turn '
                        'and the heading only; optional: its up axis in the camera optical frame (default 0 -1 0, '
                        'a level camera)')


def planar_up_from_args(values: list[float] | None) -> tuple[float, float, float] | None:
    """The up axis `--planar-motion` asks for: None when absent, a level camera's when given bare."""
    from av_pose.geometry import LEVEL_CAMERA_UP, planar_up_axis

    if values is None:
        return None
    if len(values) not in (0, 3):
        raise UserInputError(f'--planar-motion takes no value or the 3 components of the up axis, got {len(values)}')
    return tuple(float(v) for v in planar_up_axis(values or LEVEL_CAMERA_UP))


SOURCE_ZONE_NET = 'zone-net-tiny'
"""The sound-source front end of `eval --tracks/--sources` and `bag --sources` by default, as `pose.launch.py`'s
doa_node (config/sources.yaml); a literal, so that `--help` does not import torch (`zone_net_doa.DEFAULT_ZONE_NET`)."""


def add_source_front_end_arguments(parser: argparse.ArgumentParser, needs: str, onsets: bool = True) -> None:
    """The DOA front end options of the sound-source tracks and map: ZoneNet by default, or NormMUSIC zone voting.

    `needs`: the option they go with, for the help ('--tracks or --sources'). `onsets`: offer `--onset-emphasis`.
    """
    parser.add_argument('--zone-net', nargs='?', const=SOURCE_ZONE_NET, default=None, metavar='MODEL',
                        help=f'with {needs}: the learned reading of the NormMUSIC zone spectra (method zone-net), the '
                        f'default front end, as pose.launch.py\'s doa_node; MODEL: a shipped name or a checkpoint '
                        f'path (default {SOURCE_ZONE_NET})')
    parser.add_argument('--zone-net-threshold', type=float, default=None, metavar='P',
                        help='ZoneNet\'s least probability of a reported peak (default 0.65; higher: fewer false '
                        'tracks, fewer sources found)')
    parser.add_argument('--zone-frames', type=int, default=None, metavar='N',
                        help=f'with {needs}: NormMUSIC zone voting instead of ZoneNet, N STFT frames per zone '
                        '(4: the classical multi-source front end; 0: one NormMUSIC spectrum per window)')
    if onsets:
        parser.add_argument('--onset-emphasis', action='store_true',
                            help=f'with {needs}: NormMUSIC zone voting (over --zone-frames, default 4) instead of '
                            'ZoneNet, onset frames (8 ms, power rising 6 dB) voting for their own direction too')


def resolve_source_front_end(args: argparse.Namespace, default_zone_frames: int) -> None:
    """Settle `add_source_front_end_arguments`' options in place.

    Sets `args.zone_net` (None: NormMUSIC) and `args.zone_frames`; one readable error for options that contradict
    each other.
    """
    onsets = getattr(args, 'onset_emphasis', False)
    normmusic = args.zone_frames is not None or onsets
    if args.zone_net and normmusic:
        raise UserInputError('--zone-net reads zones as long as it was trained with and no onset votes: leave out '
                             '--zone-frames and --onset-emphasis (they choose NormMUSIC zone voting instead)')
    if args.zone_net_threshold is not None and normmusic:
        raise UserInputError('--zone-net-threshold is ZoneNet\'s: leave out --zone-frames and --onset-emphasis')
    if args.zone_net_threshold is not None and not 0.0 < args.zone_net_threshold < 1.0:
        raise UserInputError(f'--zone-net-threshold must be a probability in (0, 1), got {args.zone_net_threshold:g}')
    if args.zone_frames is not None and (args.zone_frames == 1 or args.zone_frames < 0):
        raise UserInputError(f'--zone-frames must be 0 (one spectrum per window) or at least 2, got {args.zone_frames}')
    if onsets and args.zone_frames == 0:
        raise UserInputError('--onset-emphasis needs zone voting (--zone-frames 2 or more)')
    args.zone_net = None if normmusic else (args.zone_net or SOURCE_ZONE_NET)
    args.zone_frames = default_zone_frames if args.zone_frames is None else args.zone_frames


def add_detector_argument(parser: argparse.ArgumentParser) -> None:
    """`--detector` (av-pose bag, eval and tools/compare_odometry.py): the geometric estimators' image features."""
    from av_pose.vision import DETECTORS

    parser.add_argument('--detector', choices=DETECTORS, default=None,
                        help='image features of geometric and geometric-vision (default orb; sift: more accurate on '
                        'ShoeboxAV, clean odometry heading about 40 %% lower, at about 1.6x the time; akaze needs '
                        'opencv-contrib with OpenCV 5); the other models ignore it')


def add_camera_arguments(group: argparse._ArgumentGroup) -> None:
    """`--images-rectified` and `--camera-hfov` (av-pose bag and calibrate): how to read the bag's camera."""
    group.add_argument('--images-rectified', action='store_true',
                       help='the image topic is already undistorted (image_proc\'s image_rect): intrinsics from '
                       'CameraInfo\'s P; without it raw images are undistorted with its distortion_model and D')
    group.add_argument('--camera-hfov', type=float, default=0.0, metavar='DEG',
                       help='where the bag has no usable camera info (none, or an uncalibrated camera\'s zeros): '
                       'take the images as a centred pinhole with this horizontal field of view, degrees')


def register_modules(subparsers: argparse._SubParsersAction, package: str, names: tuple[str, ...]) -> None:
    """Import `package.<name>` for each name and let it add its parser (`register(subparsers)`)."""
    for name in names:
        importlib.import_module(f'{package}.{name}').register(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog='av-pose', description=__doc__.splitlines()[0])
    register_modules(parser.add_subparsers(dest='command', required=True, metavar='COMMAND'), 'av_pose.cli',
                     SUBCOMMAND_MODULES)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `av-pose`; user errors become one `av-pose: error: ...` line and exit code 2."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # `key=value` overrides may come after options (av-pose train CONFIG --out DIR optim.lr=1e-4)
        if not hasattr(args, 'overrides') or any('=' not in item or item.startswith('-') for item in extra):
            parser.error(f'unrecognized arguments: {" ".join(extra)}')
        args.overrides = list(args.overrides) + extra
    try:
        return int(args.func(args) or 0)
    except (UserInputError, FileNotFoundError, IsADirectoryError, PermissionError) as err:
        message = str(err) if isinstance(err, UserInputError) else f'{err.strerror}: {err.filename}'
        print(f'av-pose: error: {message}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('av-pose: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
