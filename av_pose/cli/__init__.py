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
