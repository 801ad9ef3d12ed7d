"""Timing shared by the benchmarks: best-of-rounds wall times, and the streaming real-time factor."""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def best_times(functions: dict[str, Callable[[], object]], rounds: int,
               synchronize: Callable[[], None] | None = None) -> dict[str, float]:
    """Best wall time (s) of each function over `rounds` round-robin rounds, after one warm-up call each.

    The functions run alternately, so load from other processes falls on all alike. `synchronize` (e.g.
    `torch.cuda.synchronize`) runs after every call, inside the timed span, so that queued GPU work counts.
    """
    sync = synchronize or (lambda: None)
    for fn in functions.values():
        fn()
    sync()
    best = dict.fromkeys(functions, float('inf'))
    for _ in range(rounds):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            sync()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def streaming_realtime_factor(estimator, stream: np.ndarray, window_s: float = 1.0, update_s: float = 0.1) -> dict:
    """Processing time / audio time of `StreamingDoa` over a C×N `stream` at the estimator's rate.

    Each `update_s` hop is pushed and the newest `window_s` window estimated, as `doa_node` does.
    """
    from av_pose.audio.streaming import StreamingDoa

    fs = estimator.sample_rate
    streaming = StreamingDoa(estimator, window_s=window_s)
    hop = int(update_s * fs)
    busy_s, updates = 0.0, 0
    for start in range(0, stream.shape[1] - hop + 1, hop):
        begin = time.perf_counter()
        streaming.push(stream[:, start:start + hop], start / fs)
        updates += streaming.latest() is not None
        busy_s += time.perf_counter() - begin
    return {'realtime_factor': busy_s / (stream.shape[1] / fs), 'updates': updates,
            'ms_per_update': 1e3 * busy_s / max(updates, 1), 'update_s': update_s}
