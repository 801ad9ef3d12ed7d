"""Ship a training run's checkpoint-best, weights only, as a stage-trained model (av_pose/weights/NAME.pt).

Usage: python tools/ship_run.py RUN_DIR NAME   (NAME: slfm-tiny or zone-net-tiny)
Keeps what the loaders read (`av_pose.models.slfm.load_slfm_model`, `av_pose.models.zone_net.load_zone_net`:
format, stage, build, model) and the validation metrics; drops the optimizer, scheduler, RNG and config. The model
cards (NAME.md) are written by hand from docs/results.md. The pose models ship with tools/ship_models.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

WEIGHTS = Path(__file__).resolve().parent.parent / 'av_pose' / 'weights'
MAX_BYTES = 20 * 1024 * 1024
KEEP = ('format', 'stage', 'build', 'model', 'metrics')
STAGE_OF = {'slfm-tiny': 'slfm', 'zone-net-tiny': 'zone-net'}


def main(run_dir: str, name: str) -> int:
    """Write RUN_DIR/checkpoint-best.pt, slimmed, as av_pose/weights/NAME.pt (at most 20 MB)."""
    if name not in STAGE_OF:
        raise SystemExit(f'NAME must be one of {", ".join(STAGE_OF)}, got {name!r}')
    payload = torch.load(Path(run_dir) / 'checkpoint-best.pt', map_location='cpu', weights_only=True)
    if payload.get('stage') != STAGE_OF[name]:
        raise SystemExit(f'{run_dir}: not a {STAGE_OF[name]} run (stage {payload.get("stage")!r})')
    destination = WEIGHTS / f'{name}.pt'
    torch.save({key: payload[key] for key in KEEP}, destination)
    size = destination.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f'{destination}: {size / 2 ** 20:.1f} MB is over the 20 MB limit')
    print(f'shipped {destination} ({size / 2 ** 20:.1f} MB)')
    return 0


if __name__ == '__main__':
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(*sys.argv[1:]))
