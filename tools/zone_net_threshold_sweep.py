"""ZoneNet's peak threshold against the tracking scores, the network run once per scene.

For every threshold P it gives what `av-pose eval --tracks --zone-net --zone-net-threshold P` gives.

ZoneNet reports the peaks of its per-sector probabilities that reach the threshold (`ZoneNetDoa.estimate` →
`sector_peaks`), so the probabilities are streamed once (`stream_scene_doa`; `SceneDoaTrack.spectra` are ZoneNet's
probabilities) and only the peak pick, the tracker and the scoring are redone per threshold.

Usage: .venv/bin/python tools/zone_net_threshold_sweep.py SETS_DIR [--zone-net MODEL] [--thresholds 0.3 0.5 ...]
       [--json OUT]
SETS_DIR holds the tracking sets of tools/reproduce_sources_results.sh (OUT/scenes): sets named heldout_* are
averaged apart from the others (the tracker was tuned on the others). Prints a Markdown table of the per-set means.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from av_pose.data.pairs import find_scene_dirs
from av_pose.eval.track_score import aggregate_scores, score_scene_tracks
from av_pose.eval.tracks import run_scene_tracks
from av_pose.models.zone_net import sector_peaks
from av_pose.scene.doa_eval import stream_scene_doa
from av_pose.scene.format import read_scene
from av_pose.sources.frontend import WINDOW_S, front_end_tracker_config, source_doa_estimator

FIGURES = {'coverage %': ('coverage', 100.0), 'id switches /source/min': ('id_switches_per_source_min', 1.0),
           'false tracks /min': ('false_tracks_per_min', 1.0), 'false track-windows %': ('false_fraction', 100.0),
           'median error °': ('median_error_deg', 1.0), 'MOTA %': ('mota', 100.0)}


def scene_probabilities(folder: Path, zone_net: str):
    """(record, its DOA track as `run_scene_tracks` streams it, whose spectra are ZoneNet's probabilities)."""
    record = read_scene(folder)
    estimator = source_doa_estimator(record.array(), record.sample_rate, len(record.point_source_indices()) + 1,
                                     zone_net=zone_net, zone_net_threshold=0.01)
    try:
        return record, stream_scene_doa(record, estimator, window_s=WINDOW_S, update_s=0.1)
    finally:
        estimator.release()


def main() -> None:
    """Run the sweep (module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('sets', help='folder of tracking sets (folders of scene folders)')
    parser.add_argument('--zone-net', default='zone-net-tiny', help='shipped name or checkpoint path')
    parser.add_argument('--thresholds', type=float, nargs='+', default=[0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.8])
    parser.add_argument('--json', help='write the per-set scores here')
    args = parser.parse_args()
    set_dirs = sorted(p for p in Path(args.sets).iterdir() if p.is_dir())
    scenes = {s.name: [scene_probabilities(folder, args.zone_net)
                       for folder in tqdm(find_scene_dirs(s), desc=s.name, unit='scene', leave=False)]
              for s in tqdm(set_dirs, desc='ZoneNet probabilities', unit='set')}
    config = front_end_tracker_config(args.zone_net)
    results: dict[str, dict[str, dict]] = {}
    for threshold in args.thresholds:
        results[f'{threshold:g}'] = per_set = {}
        for name, items in scenes.items():
            scores = []
            for record, doa in items:
                azimuths, confidence = sector_peaks(doa.spectra, doa.azimuths_deg.shape[1], threshold)
                picked = dataclasses.replace(doa, azimuths_deg=azimuths, confidence=confidence)
                scores.append(score_scene_tracks(run_scene_tracks(record, config=config, doa=picked)))
            per_set[name] = aggregate_scores(scores).to_json()
    groups = {'development': [n for n in scenes if not n.startswith('heldout')],
              'held out': [n for n in scenes if n.startswith('heldout')]}
    groups = {label: names for label, names in groups.items() if names}
    print(f'ZoneNet {args.zone_net} on {len(scenes)} sets of {args.sets}; means over the '
          + ' / '.join(f'{len(names)} {label}' for label, names in groups.items()) + ' sets\n')
    print('| threshold | ' + ' | '.join(FIGURES) + ' | longest linger s |')
    print('|---' * (len(FIGURES) + 2) + '|')
    for threshold, per_set in results.items():
        cells = []
        for key, scale in FIGURES.values():
            means = [np.mean([per_set[n][key] for n in names]) * scale for names in groups.values()]
            cells.append(' / '.join(f'{m:.2f}' if scale == 1.0 else f'{m:.1f}' for m in means))
        lingers = [max((per_set[n]['linger_max_s'] or 0.0) for n in names) for names in groups.values()]
        cells.append(' / '.join(f'{v:.1f}' for v in lingers))
        print(f'| {threshold} | ' + ' | '.join(cells) + ' |')
    if args.json:
        Path(args.json).write_text(json.dumps({'zone_net': args.zone_net, 'scores': results}, indent=1) + '\n')


if __name__ == '__main__':
    main()
