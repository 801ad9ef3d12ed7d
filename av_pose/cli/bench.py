"""`av-pose bench ...`: speed and accuracy benchmarks that print JSON; one module per target."""
from __future__ import annotations

import argparse

from av_pose.cli import register_modules

BENCH_MODULES = ('doa', 'synth', 'pose', 'azimuth')


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `bench` and its targets (each `av_pose.bench.<name>.register`)."""
    parser = subparsers.add_parser('bench', help='speed/accuracy benchmarks (JSON output)')
    register_modules(parser.add_subparsers(dest='target', required=True, metavar='TARGET'), 'av_pose.bench',
                     BENCH_MODULES)
