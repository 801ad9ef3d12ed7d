"""The training loop every stage shares.

AdamW, linear warm-up + cosine decay, AMP on CUDA, gradient clipping, CSV (and TensorBoard when installed)
logs, atomic `checkpoint-last.pt` / `checkpoint-best.pt`, exact resume, and data-parallel training through
`torchrun` (gloo on CPU, NCCL on CUDA).

Determinism: batch b of epoch e is a fixed slice of a permutation seeded by (seed, e), and every item draws its
augmentation from a generator seeded by (seed, e, index), so a run killed after any checkpoint and resumed
gives the same weights as one that was never interrupted; with N processes each takes 1/N of every global
batch of `batch_size × N` items, which equals one process with the N-fold batch (for models without batch
statistics).
"""
from __future__ import annotations

import csv
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from av_pose.errors import UserInputError
from av_pose.train.config import save_config
from av_pose.train.distributed import Distributed, setup_distributed
from av_pose.train.stages import Stage, get_stage

CHECKPOINT_FORMAT = 'av_pose.train/1'


@dataclass
class TrainState:
    """Where a run is: finished epochs, batches done in the current epoch, optimizer steps, best score."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_score: float = -math.inf


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, floor: float) -> float:
    """LR multiplier: linear 0 → 1 over `warmup_steps`, then cosine 1 → `floor` at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def epoch_batches(num_items: int, batch_size: int, dist: Distributed, seed: int, epoch: int) -> list[list]:
    """The rank's batches of epoch `epoch`: lists of (epoch, index) keys (the last incomplete batch dropped)."""
    generator = torch.Generator().manual_seed(seed * 100003 + epoch)
    order = torch.randperm(num_items, generator=generator).tolist()
    global_size = batch_size * dist.world_size
    batches = []
    for start in range(0, num_items - global_size + 1, global_size):
        chunk = order[start:start + global_size]
        batches.append([(epoch, index) for index in chunk[dist.rank * batch_size:(dist.rank + 1) * batch_size]])
    return batches


def _atomic_save(payload: dict, path: Path) -> None:
    temporary = path.with_suffix('.tmp')
    torch.save(payload, temporary)
    os.replace(temporary, path)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class _Logger:
    """metrics.csv (one row per logged step or validation) and TensorBoard scalars when available."""

    def __init__(self, folder: Path, tensorboard: str | bool, enabled: bool):
        self.enabled = enabled
        self.path = folder / 'metrics.csv'
        self.writer = None
        if enabled and tensorboard in (True, 'auto', 'on', 'true'):
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(folder / 'tensorboard'))
            except ImportError:
                if tensorboard != 'auto':
                    raise UserInputError('log.tensorboard is on but the tensorboard package is not installed') \
                        from None

    def log(self, step: int, epoch: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        new = not self.path.exists()
        with self.path.open('a', newline='') as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(['step', 'epoch', 'name', 'value', 'time'])
            for name, value in values.items():
                writer.writerow([step, epoch, name, f'{float(value):.6g}', f'{time.time():.1f}'])
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, float(value), step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def _status_writer(stage: str, enabled: bool) -> Callable[[str], None]:
    """A function printing one timestamped line per phase of a run to stderr.

    Beside tqdm's bars, or alone in a `--no-progress` log, where building the datasets takes minutes with no bar.
    """
    from tqdm import tqdm

    start = time.monotonic()

    def status(message: str) -> None:
        if enabled:
            tqdm.write(f'[{stage} {time.monotonic() - start:7.1f} s] {message}', file=sys.stderr)
            sys.stderr.flush()
    return status


def _metrics_text(metrics: dict) -> str:
    return ', '.join(f'{name} {float(value):.4g}' for name, value in sorted(metrics.items()))


def train(config: dict, out: str | Path, resume: bool = False, progress: bool = True,
          stop_after_steps: int | None = None) -> dict:
    """Run (or resume) the stage `config['stage']` into `out`; returns the last validation metrics.

    `stop_after_steps` ends the run after that many optimizer steps of this invocation, with a checkpoint
    (what a killed run leaves when `log.checkpoint_every` is 1): for resume tests. One status line per phase
    (datasets built, each epoch's mean loss and validation) goes to stderr on the main process, bars or not.
    """
    from tqdm import tqdm

    out = Path(out)
    dist = setup_distributed()
    try:
        stage: Stage = get_stage(config['stage'])
        stage.progress = progress and dist.rank == 0
        status = _status_writer(config['stage'], dist.rank == 0)
        _seed_everything(int(config['seed']) + dist.rank)
        model = stage.build(config).to(dist.device)
        if config.get('init'):
            stage.initialise(model, config['init'])
        status('building the datasets')
        train_set, val_set = stage.datasets(config)
        status(f'datasets: {len(train_set) if train_set is not None else 0} training items, '
               f'{len(val_set) if val_set is not None else 0} validation items')
        optim = config['optim']
        steps_per_epoch = len(train_set) // (optim['batch_size'] * dist.world_size) if train_set is not None else 0
        if train_set is not None and steps_per_epoch == 0:
            raise UserInputError(f'{len(train_set)} training items are fewer than one batch of '
                                 f'{optim["batch_size"] * dist.world_size}')
        total_steps = steps_per_epoch * optim['epochs']
        parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters or [nn.Parameter(torch.zeros(1))], lr=optim['lr'],
                                      weight_decay=optim['weight_decay'])
        floor = optim['lr_min'] / optim['lr']
        warmup = optim['warmup_epochs'] * steps_per_epoch
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, warmup, total_steps, floor))
        state = TrainState()
        last = out / 'checkpoint-last.pt'
        if resume and last.exists():
            payload = torch.load(last, map_location='cpu', weights_only=True)
            model.load_state_dict(payload['model'])
            optimizer.load_state_dict(payload['optimizer'])
            scheduler.load_state_dict(payload['scheduler'])
            state = TrainState(**payload['state'])
            torch.set_rng_state(payload['rng'])
        elif resume:
            raise UserInputError(f'--resume: no {last} to resume from')
        main = dist.rank == 0
        if main:
            out.mkdir(parents=True, exist_ok=True)
            save_config(config, out)
        logger = _Logger(out, config['log']['tensorboard'], main)
        ddp = (nn.parallel.DistributedDataParallel(model, device_ids=None if dist.device.type == 'cpu' else
                                                   [dist.device]) if dist.world_size > 1 and parameters else model)
        amp = _amp_context(optim['amp'], dist.device)

        def save(name: str, metrics: dict) -> None:
            if main:
                _atomic_save({'format': CHECKPOINT_FORMAT, 'stage': config['stage'], 'config': config,
                              'build': stage.export(_unwrap(ddp), config), 'model': _unwrap(ddp).state_dict(),
                              'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict(),
                              'state': vars(state).copy(), 'rng': torch.get_rng_state(), 'metrics': metrics},
                             out / name)
            dist.barrier()

        if not parameters or train_set is None:  # nothing to optimise (e.g. the Chance baseline): fit and save
            metrics = stage.validate(model, val_set, config, dist) if val_set is not None else {}
            save('checkpoint-last.pt', metrics)
            save('checkpoint-best.pt', metrics)
            return metrics
        steps_this_run = 0
        metrics: dict = {}
        for epoch in range(state.epoch, optim['epochs']):
            batches = epoch_batches(len(train_set), optim['batch_size'], dist, int(config['seed']), epoch)
            loader = DataLoader(train_set, batch_sampler=batches[state.step_in_epoch:],
                                num_workers=config['data']['workers'], collate_fn=stage.collate)
            ddp.train()
            bar = tqdm(loader, desc=f'{config["stage"]} epoch {epoch + 1}/{optim["epochs"]}',
                       initial=state.step_in_epoch, total=len(batches), disable=not (progress and main),
                       unit='batch')
            losses: list[float] = []
            for batch in bar:
                batch = stage.to_device(batch, dist.device)
                with amp:
                    loss, parts = stage.loss(ddp, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if optim['clip_grad']:
                    nn.utils.clip_grad_norm_(parameters, optim['clip_grad'])
                optimizer.step()
                scheduler.step()
                state.step_in_epoch += 1
                state.global_step += 1
                steps_this_run += 1
                losses.append(loss.item())
                bar.set_postfix(loss=f'{losses[-1]:.3f}')
                if state.global_step % max(1, config['log']['every']) == 0:
                    logger.log(state.global_step, epoch, {'train/loss': losses[-1],
                                                          'train/lr': scheduler.get_last_lr()[0],
                                                          **{f'train/{k}': v for k, v in parts.items()}})
                every = config['log']['checkpoint_every']
                if every and state.global_step % every == 0 and state.step_in_epoch < len(batches):
                    save('checkpoint-last.pt', metrics)
                if stop_after_steps is not None and steps_this_run >= stop_after_steps:
                    save('checkpoint-last.pt', metrics)
                    return metrics
            state.epoch, state.step_in_epoch = epoch + 1, 0
            metrics = stage.validate(_unwrap(ddp), val_set, config, dist) if val_set is not None else {}
            logger.log(state.global_step, epoch, {f'val/{k}': v for k, v in metrics.items()})
            status(f'epoch {epoch + 1}/{optim["epochs"]}: mean training loss '
                   f'{np.mean(losses) if losses else float("nan"):.4g}; validation: {_metrics_text(metrics) or "none"}')
            save('checkpoint-last.pt', metrics)
            score = _selection_score(metrics, config['log']['select'], state.global_step)
            if score > state.best_score:
                state.best_score = score
                save('checkpoint-best.pt', metrics)
        logger.close()
        return metrics
    finally:
        dist.close()


def _selection_score(metrics: dict, select: str, step: int) -> float:
    """The validation metric that picks checkpoint-best (`log.select`; 'score' = the stage's own choice)."""
    if not metrics:
        return -float(step)
    if select not in metrics:
        raise UserInputError(f'log.select {select!r} is not a validation metric (have: {", ".join(sorted(metrics))})')
    return float(metrics[select])


def _amp_context(amp: str | None, device: torch.device):
    """bf16 or fp16 autocast on CUDA (the pose head casts itself back to fp32); nothing on CPU."""
    import contextlib

    if device.type != 'cuda' or amp in (None, 'none', False):
        return contextlib.nullcontext()
    if amp not in ('bf16', 'fp16'):
        raise UserInputError(f'optim.amp must be bf16, fp16 or none, got {amp!r}')
    return torch.autocast('cuda', dtype=torch.bfloat16 if amp == 'bf16' else torch.float16)
