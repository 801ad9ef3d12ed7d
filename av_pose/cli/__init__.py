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
