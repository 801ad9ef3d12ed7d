"""Do the zone spectra hold the sources ZoneNet misses? Recall of audible sources in the zones' local maxima.

ZoneNet (`av_pose.models.zone_net`) reads the NormMUSIC spectra of the ~0.1 s zones of each 0.5 s window. Where it
finds no source (probability < the threshold within 10° of it), is the source in those spectra at all, or in the
zones' spectra of another estimator? Over the windows where a source is audible (`scene.activity.audible_sources`:
not in a pause of its own, not 10 dB under another) and resolvable (no other active source within 20°), every
0.25 s, this counts the windows where at least one / at least two zones hold the source (one of a zone's three
highest local maxima within 8° of it), for
- `normmusic`: the zone spectra ZoneNet reads (`zone_net_doa.make_zone_estimator`, its zone_frames);
- `normmusic_2`: the same with a two-dimensional signal subspace per zone (`zone_sources` 2);
- `srp_phat`: SRP-PHAT zone spectra (a beamformer: no subspace to hide a weaker source);
beside ZoneNet's own recall, and among the windows ZoneNet misses; and, as the chance level of each count (a
spectrum with more local maxima holds any direction more often), the same count at directions 90°, 180° and 270°
away from the source that are at least 20° from every active source.
Usage: .venv/bin/python tools/zone_spectra_recall.py SET_DIR [SET_DIR ...] [--json OUT] [--md OUT]
(about 40 s per 6-scene 20 s set on one core)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from av_pose.audio.doa import make_estimator
from av_pose.audio.doa.base import FREQUENCY_INNERMOST
from av_pose.metrics.azimuth import azimuth_abs_error_deg
from av_pose.models.zone_net_doa import THRESHOLD, ZoneNetDoa, make_zone_estimator
from av_pose.scene.activity import audible_sources
from av_pose.scene.format import read_scene

WINDOW_S, STEP_S = 0.5, 0.25
PEAK_TOLERANCE_DEG = 8.0
LOCAL_MAXIMA = 3
KINDS = ('normmusic', 'normmusic_2', 'srp_phat')
CHANCE_OFFSETS_DEG = (90.0, 180.0, 270.0)


def zone_sector_spectra(estimator, audio: torch.Tensor) -> np.ndarray:
    """B×C×N audio → B×Z×360 zone spectra on 1° sectors."""
    band = estimator.band_of_audio(audio)
    zones = estimator.zones.split(band, estimator.buffer, estimator.band_memory_order == FREQUENCY_INNERMOST)
    return estimator.grid.to_sectors(estimator.grid_spectrum(zones).float()).reshape(band.shape[0], -1, 360).numpy()


def zones_holding(spectra: np.ndarray, azimuths_deg: np.ndarray) -> np.ndarray:
    """Per window (W,), how many zones of W×Z×360 `spectra` hold `azimuths_deg` (W,) among their top local maxima."""
    is_peak = (spectra >= np.roll(spectra, 1, -1)) & (spectra >= np.roll(spectra, -1, -1))
    top = np.argsort(-np.where(is_peak, spectra, -np.inf), -1)[..., :LOCAL_MAXIMA]
    near = azimuth_abs_error_deg(top + 0.5, azimuths_deg[:, None, None]) <= PEAK_TOLERANCE_DEG
    return near.any(-1).sum(-1)


def chance_directions(truth: np.ndarray, azimuths: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per chance offset: (window rows, directions) of `azimuths` (W,) turned by it, ≥ 20° from every source W×S."""
    out = []
    for offset in CHANCE_OFFSETS_DEG:
        directions = (azimuths + offset) % 360.0
        distance = np.where(np.isfinite(truth), azimuth_abs_error_deg(truth, directions[:, None]), np.inf)
        clear = distance.min(axis=1) >= 20.0
        out.append((np.flatnonzero(clear), directions[clear]))
    return out


def set_counts(set_dir: Path) -> dict:
    """Counts over one set's scenes (see the module docstring)."""
    counts = {'windows': 0, 'zone_net': 0, 'zone_net_missed': 0, 'chance_directions': 0}
    for scene in sorted(set_dir.glob('scene_*')):
        record = read_scene(scene)
        array, fs = record.mic_array, record.sample_rate
        centres = np.arange(WINDOW_S / 2, record.duration_s - WINDOW_S / 2 + 1e-9, STEP_S)
        audible = audible_sources(record, centres, WINDOW_S)
        if audible is None:
            raise SystemExit(f'{scene}: no source_levels (render it again with this version)')
        points = record.point_source_indices()
        truth = np.array([record.source_azimuths_deg(t) for t in centres])[:, points]
        audio = torch.as_tensor(np.stack([record.audio_window(t, WINDOW_S)[0] for t in centres]))
        zone_net = ZoneNetDoa(array, fs)
        probability = zone_net.probabilities(audio).numpy()
        frames = zone_net.zones.zone_frames
        zone_net.release()
        estimators = {'normmusic': make_zone_estimator(array, fs, frames),
                      'normmusic_2': make_zone_estimator(array, fs, frames, zone_sources=2),
                      'srp_phat': make_estimator('srp_phat', array, fs, zone_frames=frames)}
        spectra = {}
        for kind, estimator in estimators.items():
            spectra[kind] = zone_sector_spectra(estimator, audio)
            estimator.release()
        for s in range(len(points)):
            others = np.delete(truth, s, axis=1)
            separation = np.nanmin(np.where(np.isfinite(others), azimuth_abs_error_deg(others, truth[:, s:s + 1]),
                                            np.inf), axis=1, initial=np.inf)
            keep = audible[:, points[s]] & np.isfinite(truth[:, s]) & (separation >= 20.0)
            if not keep.any():
                continue
            azimuths = truth[keep, s]
            near = azimuth_abs_error_deg(np.arange(360) + 0.5, azimuths[:, None]) <= 10.0
            found = np.where(near, probability[keep], 0.0).max(1) >= THRESHOLD
            counts['windows'] += int(keep.sum())
            counts['zone_net'] += int(found.sum())
            counts['zone_net_missed'] += int((~found).sum())
            decoys = chance_directions(truth[keep], azimuths)
            counts['chance_directions'] += sum(len(rows) for rows, _ in decoys)
            for kind in KINDS:
                holding = zones_holding(spectra[kind][keep], azimuths)
                chance = [zones_holding(spectra[kind][keep][rows], directions) for rows, directions in decoys]
                for least in (1, 2):
                    key = f'{kind}_zones_{least}'
                    counts[key] = counts.get(key, 0) + int((holding >= least).sum())
                    counts[key + '_where_missed'] = counts.get(key + '_where_missed', 0) + int(
                        ((holding >= least) & ~found).sum())
                    counts[key + '_chance'] = counts.get(key + '_chance', 0) + sum(int((c >= least).sum())
                                                                                   for c in chance)
    return counts


def main() -> int:
    """Count per set, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('sets', nargs='+', type=Path)
    parser.add_argument('--json', type=Path, default=None)
    parser.add_argument('--md', type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for set_dir in args.sets:
        results[set_dir.name] = set_counts(set_dir)
        print(json.dumps({set_dir.name: results[set_dir.name]}), flush=True)
    header = ['set', 'audible windows', 'ZoneNet %']
    header += [f'{kind}, ≥ {n} zone(s) %: source / chance / ZoneNet\'s misses' for kind in KINDS for n in (1, 2)]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, c in results.items():
        cells = [name, str(c['windows']), f'{100 * c["zone_net"] / max(c["windows"], 1):.1f}']
        cells += [f'{100 * c[f"{k}_zones_{n}"] / max(c["windows"], 1):.1f} / '
                  f'{100 * c[f"{k}_zones_{n}_chance"] / max(c["chance_directions"], 1):.1f} / '
                  f'{100 * c[f"{k}_zones_{n}_where_missed"] / max(c["zone_net_missed"], 1):.1f}'
                  for k in KINDS for n in (1, 2)]
        lines.append('| ' + ' | '.join(cells) + ' |')
    table = '\n'.join(lines)
    print(table)
    if args.md:
        args.md.write_text(f'# Zone spectra recall of audible sources (`tools/zone_spectra_recall.py`)\n\n{table}\n')
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
