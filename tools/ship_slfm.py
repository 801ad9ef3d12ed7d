"""Ship an SLfM run as the package's `slfm-tiny` (av_pose/weights/slfm-tiny.pt): its checkpoint-best, weights only.

Usage: python tools/ship_slfm.py RUN_DIR
Keeps what `av_pose.models.slfm.load_slfm_model` reads (format, stage, build, model) and the validation metrics;
drops the optimizer, scheduler, RNG and config. The model card (slfm-tiny.md) is written by hand from
docs/results.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

WEIGHTS = Path(__file__).resolve().parent.parent / 'av_pose' / 'weights'
MAX_BYTES = 20 * 1024 * 1024
KEEP = ('format', 'stage', 'build', 'model', 'metrics')


def main(run_dir: str) -> int:
    """Write RUN_DIR/checkpoint-best.pt, slimmed, as av_pose/weights/slfm-tiny.pt (at most 20 MB)."""
    payload = torch.load(Path(run_dir) / 'checkpoint-best.pt', map_location='cpu', weights_only=True)
    if payload.get('stage') != 'slfm':
        raise SystemExit(f'{run_dir}: not an slfm run (stage {payload.get("stage")!r})')
    destination = WEIGHTS / 'slfm-tiny.pt'
    torch.save({key: payload[key] for key in KEEP}, destination)
    size = destination.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f'{destination}: {size / 2 ** 20:.1f} MB is over the 20 MB limit')
    print(f'shipped {destination} ({size / 2 ** 20:.1f} MB)')
    return 0


if __name__ == '__main__':
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1]))
