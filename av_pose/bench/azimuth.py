"""`av-pose bench azimuth`: speed of the learned SLfM azimuth (`method: slfm`) on 2-channel audio.

Windows per second at batch sizes 1, 16 and 64 (1 s binaural windows at 16 kHz, from audio to azimuth, the
whole `SlfmDoaEstimator.estimate` path), and the streaming real-time factor at 10 Hz updates through the same
`StreamingDoa` that `doa_node` uses. The reference, timed alternately in the same run on the same windows, is
SRP-PHAT on the binaural pair (the spectrum method a 2-microphone robot would otherwise run). Speed does not
depend on the content, so the windows are noise. Targets (issue 8, 2 CPU cores): >= 50 windows/s batched and a
real-time factor <= 0.1.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from av_pose.bench.timing import best_times, streaming_realtime_factor

BATCH_SIZES = (1, 16, 64)
SAMPLE_RATE = 16000
TARGETS = {'windows_per_s_batched': 50.0, 'realtime_factor': 0.1}
REFERENCE = 'srp_phat'


def register(targets: argparse._SubParsersAction) -> None:
    """Add `bench azimuth`."""
    parser = targets.add_parser('azimuth', help='learned SLfM azimuth: windows/s and streaming real-time factor')
    parser.add_argument('--model', default=None, metavar='NAME_OR_PATH',
                        help='SLfM checkpoint or shipped name (default slfm-tiny)')
    parser.add_argument('--device', default='cpu', help='cpu | cuda | auto (default cpu)')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads (default 2)')
    parser.add_argument('--windows', type=int, default=64, help='windows timed per round (default 64)')
    parser.add_argument('--rounds', type=int, default=3, help='timed rounds, best kept (default 3)')
    parser.add_argument('--json', action='store_true', help='print only the JSON result')
    parser.set_defaults(func=run)


def batched_speed(estimators: dict, windows: np.ndarray, rounds: int, synchronize) -> dict:
    """{name: {'batch_N': {'windows_per_s', 'ms_per_window'}}} for every estimator and batch size."""
    result: dict = {name: {} for name in estimators}
    for size in BATCH_SIZES:
        batches = [windows[k:k + size] for k in range(0, len(windows), size)]
        functions = {name: (lambda e=e, b=batches: [e.estimate(x) for x in b]) for name, e in estimators.items()}
        for name, seconds in best_times(functions, rounds, synchronize).items():
            result[name][f'batch_{size}'] = {'windows_per_s': len(windows) / seconds,
                                             'ms_per_window': 1e3 * seconds / len(windows)}
    return result


def run(args: argparse.Namespace) -> int:
    """Time the SLfM azimuth and the SRP-PHAT reference; print JSON."""
    import torch

    from av_pose.audio.arrays import PRESETS
    from av_pose.audio.doa import make_estimator, resolve_device
    from av_pose.errors import UserInputError
    from av_pose.models.slfm_doa import SlfmDoaEstimator

    if args.windows < 1 or args.rounds < 1 or args.threads < 1:
        raise UserInputError('--windows, --rounds and --threads must be at least 1')
    device = resolve_device(args.device)
    array = PRESETS['binaural']
    rng = np.random.default_rng(0)
    windows = (0.1 * rng.standard_normal((args.windows, 2, SAMPLE_RATE))).astype(np.float32)
    stream = (0.1 * rng.standard_normal((2, 10 * SAMPLE_RATE))).astype(np.float32)
    synchronize = torch.cuda.synchronize if device.type == 'cuda' else None
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    estimators = {'slfm': SlfmDoaEstimator(array, SAMPLE_RATE, model=args.model, device=device),
                  REFERENCE: make_estimator(REFERENCE, array, SAMPLE_RATE, device=str(device))}
    try:
        speed = batched_speed(estimators, windows, args.rounds, synchronize)
        stream_result = streaming_realtime_factor(estimators['slfm'], stream)
    finally:
        for estimator in estimators.values():
            estimator.release()
        torch.set_num_threads(threads)
    best_batched = max(v['windows_per_s'] for v in speed['slfm'].values())
    for size in BATCH_SIZES:
        key = f'batch_{size}'
        speed['slfm'][key]['ratio_to_reference'] = (speed['slfm'][key]['ms_per_window']
                                                    / speed[REFERENCE][key]['ms_per_window'])
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'
    result = {'device': f'{device.type}:{name}', 'torch_threads': args.threads, 'sample_rate': SAMPLE_RATE,
              'window_s': 1.0, 'windows': args.windows, 'model': str(estimators['slfm'].model_path.name),
              'slfm': speed['slfm'], 'reference': {'name': REFERENCE, **speed[REFERENCE]},
              'streaming': stream_result, 'windows_per_s_batched': best_batched,
              'targets': {'windows_per_s_batched': f'>= {TARGETS["windows_per_s_batched"]:g}',
                          'realtime_factor': f'<= {TARGETS["realtime_factor"]:g}'}}
    result['targets_met'] = bool(best_batched >= TARGETS['windows_per_s_batched']
                                 and stream_result['realtime_factor'] <= TARGETS['realtime_factor'])
    print(json.dumps(result, indent=None if args.json else 2))
    return 0
