"""`av-pose bench ...`: speed and accuracy benchmarks that print JSON; one module per target."""
from __future__ import annotations

import argparse
import importlib

BENCH_MODULES = ('doa', 'synth')


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `bench` and its targets (each `av_pose.bench.<name>.register`)."""
    parser = subparsers.add_parser('bench', help='speed/accuracy benchmarks (JSON output)')
    targets = parser.add_subparsers(dest='target', required=True, metavar='TARGET')
    for name in BENCH_MODULES:
        try:
            module = importlib.import_module(f'av_pose.bench.{name}')
        except ModuleNotFoundError as err:
            if err.name == f'av_pose.bench.{name}':
                continue
            raise
        module.register(targets)
