"""`av-pose bench pose`: speed of relative-pose estimators (pairs/s, ms per pair) at batch sizes 1 and 16.

One ShoeboxAV scene (256×192 images, ReSpeaker 4-mic audio) is generated into a temporary folder and its
1 s-gap pairs are read into memory once (`av_pose.eval.pairs.scene_pose_pairs`), so file reading is not timed.
The reference, measured in the same run on the same pairs, is the DOA alone: batched NormMUSIC spectra of both
audio windows of every pair, the audio work an audio-visual estimator does at least. Every estimator and the
reference run alternately (round robin, best of `--rounds`), so load from other processes falls on all alike.
By default torch and OpenCV use one thread: the "one core" figure.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from av_pose.bench.timing import best_times
from av_pose.cli import add_planar_motion_argument, planar_up_from_args

DEFAULT_MODELS = ('geometric', 'geometric-vision', 'geometric-audio')
BATCH_SIZES = (1, 16)
TARGET_PAIRS_PER_S = {'geometric': 30.0}
"""Speed targets at 256×192 on one core, checked at batch size 1 (the streaming case)."""
REFERENCE = 'doa-normmusic'


def register(targets: argparse._SubParsersAction) -> None:
    """Add `bench pose`."""
    parser = targets.add_parser('pose', help='pose estimators: pairs/s and ms per pair at batch 1 and 16')
    parser.add_argument('--model', action='append', metavar='NAME_OR_PATH',
                        help=f'estimator to time (repeat; default: {" ".join(DEFAULT_MODELS)})')
    parser.add_argument('--pairs', type=int, default=32, help='pairs timed per round (default 32)')
    parser.add_argument('--rounds', type=int, default=3, help='timed rounds, best kept (default 3)')
    parser.add_argument('--threads', type=int, default=1, help='torch and OpenCV threads (default 1: one core)')
    parser.add_argument('--device', default='cpu', help='cpu | cuda | auto (default cpu)')
    parser.add_argument('--json', action='store_true', help='print only the JSON result')
    add_planar_motion_argument(parser)
    parser.set_defaults(func=run)


def _stream(estimator, batches: list[list]) -> list:
    """Estimate the batches as one pass over a recording (earlier rounds' caches dropped, as in a stream)."""
    estimator.forget()
    return [estimator.estimate_batch(batch) for batch in batches]


def _batches(items: Sequence, size: int) -> list[list]:
    return [list(items[k:k + size]) for k in range(0, len(items), size)]


def _speed(seconds: float, pairs: int, calls: int) -> dict:
    return {'pairs_per_s': pairs / seconds, 'ms_per_pair': 1000.0 * seconds / pairs,
            'ms_per_call': 1000.0 * seconds / calls}


def make_estimators(models: Sequence[str], device: str) -> tuple[dict, dict]:
    """({name: PoseEstimator}, {name: why its module could not be imported}); unknown names raise UserInputError."""
    from av_pose.pose.registry import make_pose_estimator

    estimators, errors = {}, {}
    try:
        for name in models:
            try:
                estimators[name] = make_pose_estimator(name, device=device)
            except (ImportError, AttributeError) as err:  # a registered module not in this build: reported
                errors[name] = f'{type(err).__name__}: {err}'
    except BaseException:
        for estimator in estimators.values():
            estimator.release()
        raise
    return estimators, errors


def bench_pose(pairs: Sequence, estimators: dict, device: str = 'cpu', rounds: int = 3) -> dict:
    """Time `estimators` ({name: PoseEstimator}) and the DOA reference on `pairs` (PosePairs of one rig).

    Returns {'reference': {...}, 'estimators': {name: {'batch_1': {...}, 'batch_16': {...}, 'valid_fraction'}}};
    speeds as `_speed`, 'ratio_to_reference' = estimator ms per pair / the reference's.
    """
    import numpy as np

    from av_pose.audio.doa import make_estimator

    sensors = pairs[0].sensors
    doa = make_estimator('normmusic', sensors.array, sensors.sample_rate, device=device)
    result: dict = {'reference': {'name': REFERENCE, 'what': 'NormMUSIC spectra of both audio windows of each '
                                  'pair, batched'}, 'estimators': {name: {} for name in estimators}}
    try:
        for size in BATCH_SIZES:
            batches = _batches(pairs, size)
            audio = [np.stack([v.audio for p in batch for v in (p.view_a, p.view_b)]) for batch in batches]
            functions = {REFERENCE: lambda audio=audio: [doa.estimate(a) for a in audio]}
            for name, estimator in estimators.items():
                functions[name] = lambda e=estimator, b=batches: _stream(e, b)
            best = best_times(functions, rounds)
            key = f'batch_{size}'
            result['reference'][key] = _speed(best[REFERENCE], len(pairs), len(batches))
            for name in estimators:
                speed = _speed(best[name], len(pairs), len(batches))
                result['estimators'][name][key] = {**speed, 'ratio_to_reference': best[name] / best[REFERENCE]}
        for name, estimator in estimators.items():
            estimates = estimator.estimate_batch(list(pairs))
            result['estimators'][name]['valid_fraction'] = float(np.mean([e.valid for e in estimates]))
    finally:
        doa.release()
    return result


def run(args: argparse.Namespace) -> int:
    """Generate the scene, time the estimators and print the JSON."""
    import os
    import tempfile
    from pathlib import Path

    import cv2
    import torch

    from av_pose.audio.arrays import load_array
    from av_pose.errors import UserInputError
    from av_pose.eval.pairs import scene_pose_pairs
    from av_pose.scene.generate import SynthConfig, generate_scene

    if args.pairs < 1 or args.rounds < 1 or args.threads < 1:
        raise UserInputError('--pairs, --rounds and --threads must be at least 1')
    planar_up = planar_up_from_args(args.planar_motion)
    models = list(dict.fromkeys(args.model or DEFAULT_MODELS))
    config = SynthConfig(duration_s=max(6.0, args.pairs / 10.0 + 2.0), image_size=(256, 192),
                         array=load_array('respeaker4'))
    threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    estimators: dict = {}
    try:
        estimators, errors = make_estimators(models, args.device)
        with tempfile.TemporaryDirectory() as tmp:
            if not args.json:
                print(f'generating a {config.duration_s:g} s scene (256x192, respeaker4) in {tmp}')
            record = generate_scene(Path(tmp) / 'scene', config, seed=0)
            pairs = [pair for pair, _, _ in scene_pose_pairs(record, 1.0, planar_up=planar_up)][:args.pairs]
        result = bench_pose(pairs, estimators, device=args.device, rounds=args.rounds)
        result['estimators'].update({name: {'error': why} for name, why in errors.items()})
    finally:
        for estimator in estimators.values():
            estimator.release()
        torch.set_num_threads(threads[0])
        cv2.setNumThreads(threads[1])
    targets = {name: {'pairs_per_s_batch_1': target,
                      'met': result['estimators'][name]['batch_1']['pairs_per_s'] >= target}
               for name, target in TARGET_PAIRS_PER_S.items() if 'batch_1' in result['estimators'].get(name, {})}
    output = {'image_size': list(config.image_size), 'array': config.array.name, 'sample_rate': config.sample_rate,
              'pairs': len(pairs), 'gap_s': 1.0, 'rounds': args.rounds, 'threads': args.threads,
              'device': args.device, 'cpu_count': os.cpu_count(), 'planar_motion': planar_up is not None,
              **result, 'targets': targets,
              'target_met': bool(targets) and all(t['met'] for t in targets.values())}
    print(json.dumps(output, indent=None if args.json else 2))
    return 0
