"""`av-pose train CONFIG.yaml [--out DIR] [--resume] [key=value ...]`: one entry for every training stage.

Distributed: `torchrun --nproc_per_node N -m av_pose.cli train CONFIG.yaml ...` (gloo on CPU, NCCL on CUDA).
"""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `train` subcommand."""
    parser = subparsers.add_parser(
        'train', help='train a pose model, a baseline or the NVAS pretext (config/train/*.yaml)',
        description='Train with defaults ← CONFIG ← key=value overrides (e.g. optim.lr=1e-4 model.kind=av). '
        'The merged config and the git revision are saved beside checkpoint-last.pt / checkpoint-best.pt.')
    parser.add_argument('config', help='experiment YAML (see config/train/)')
    parser.add_argument('overrides', nargs='*', metavar='key=value', help='dotted config overrides')
    parser.add_argument('--out', default=None, help='run folder (default: the config\'s out, else runs/<name>)')
    parser.add_argument('--resume', action='store_true', help='continue from OUT/checkpoint-last.pt')
    parser.add_argument('--device', default='auto', help='auto (CUDA when present), cpu or cuda (default auto)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute `av-pose train`."""
    import json
    import os
    from pathlib import Path

    from av_pose.train.config import load_config
    from av_pose.train.loop import train

    config = load_config(args.config, args.overrides)
    out = Path(args.out or config['out'] or Path('runs') / Path(args.config).stem)
    os.environ['AV_POSE_DEVICE'] = args.device
    metrics = train(config, out, resume=args.resume, progress=not args.no_progress)
    if int(os.environ.get('RANK', '0')) == 0:
        print(json.dumps({'out': str(out), 'stage': config['stage'], 'validation': metrics}))
    return 0
