"""DOA error per source kind with and without onset emphasis (`av_pose.audio.doa.onset`), on ShoeboxAV scenes.

Every scene folder under DATA with exactly one point source: windows of WINDOW seconds every 0.5 s, the strongest
peak of NormMUSIC (the default estimator) and of `make_onset_emphasis('normmusic', ...)` against the source's
true azimuth in the array frame. Prints the median absolute error per source kind as JSON.
Usage: .venv/bin/python tools/onset_doa_errors.py DATA [--window 1.0]
(e.g. DATA = the `rotation` set of tools/reproduce_geometric_results.sh; about 2 min on one core)
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from av_pose.audio.doa import make_estimator
from av_pose.audio.doa.onset import make_onset_emphasis
from av_pose.metrics.azimuth import azimuth_abs_error_deg
from av_pose.scene.format import read_scene

METHODS = ('normmusic', 'normmusic+onsets')


def main() -> int:
    """Evaluate both DOAs on every one-source scene, print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('data', type=Path)
    parser.add_argument('--window', type=float, default=1.0, help='window length, seconds (default 1.0)')
    args = parser.parse_args()
    errors: dict[str, dict[str, list[float]]] = defaultdict(lambda: {m: [] for m in METHODS})
    for scene_json in sorted(args.data.glob('**/scene.json')):
        record = read_scene(scene_json.parent)
        sources = record.point_source_indices()
        if len(sources) != 1:
            continue
        fs, samples = record.sample_rate, int(args.window * record.sample_rate)
        audio = record.audio()
        times = np.arange(args.window, record.duration_s - args.window, 0.5)
        truth = np.array([record.source_azimuths_deg(t)[sources[0]] for t in times])
        starts = [int((t - 0.5 * args.window) * fs) for t in times]
        windows = np.stack([audio[:, s:s + samples] for s in starts]).astype(np.float32)
        heard = np.isfinite(truth)
        kind = record.sources[sources[0]]['kind']
        for name, estimator in zip(METHODS, (make_estimator('normmusic', record.mic_array, fs),
                                             make_onset_emphasis('normmusic', record.mic_array, fs))):
            found = estimator.estimate(windows).azimuths_deg[:, 0]
            error = azimuth_abs_error_deg(found[heard], truth[heard])
            errors[kind][name] += [float(e) for e in error[np.isfinite(error)]]
    summary = {kind: {'windows': len(by[METHODS[0]]),
                      **{f'{m}_median_deg': round(float(np.median(by[m])), 2) for m in METHODS}}
               for kind, by in sorted(errors.items())}
    every = {m: [e for by in errors.values() for e in by[m]] for m in METHODS}
    summary['all'] = {'windows': len(every[METHODS[0]]),
                      **{f'{m}_median_deg': round(float(np.median(every[m])), 2) for m in METHODS}}
    print(json.dumps({'data': str(args.data), 'window_s': args.window, 'by_kind': summary}, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
