"""What a two-microphone head can know: the folded-azimuth error of reading each window's true lateral angle.

A spherical head's ears hear a source through the angle between its direction and the ears' axis (the lateral
angle, asin(y / r) in the array frame), not its azimuth: a source above or below the ears' plane sounds like one
nearer the front (the cone of confusion, of which the front/back fold is a part). On rotation-only ShoeboxAV
scenes the rig pitches and rolls and the sources sit at other heights than the head, so even a perfect lateral
reading misses the folded azimuth the SLfM protocol scores. This script measures that floor over a split's view-s
windows as `av-pose eval --azimuth` takes them (1 s pairs, every `--stride`-th frame, first active source):
- `lateral`: predicting the true lateral angle itself;
- `best_of_lateral`: predicting, per 2° bin of lateral angle, the median folded azimuth of the split's windows in
  that bin (in-sample, so a little optimistic): the least error any reading of the lateral angle could reach.
Usage: .venv/bin/python tools/slfm_lateral_floor.py DATA [--stride 10] [--json OUT]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from av_pose.data.pairs import FramePairDataset, find_scene_dirs
from av_pose.eval.azimuth import by_direction
from av_pose.geometry import invert_transform, transform_points
from av_pose.metrics.azimuth import fold_front_deg, slfm_summary
from av_pose.metrics.spherical import az_el_from_direction


def window_directions(folder: str, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(azimuth, lateral, elevation) degrees (W,) of the first active source in each pair's first view."""
    pairs = FramePairDataset(find_scene_dirs(folder), gap_s=1.0, window_s=1.0, stride=stride)
    rows = []
    for k, i, _ in pairs.index:
        record = pairs.records[k]
        t = record.frame_times_s[i]
        positions = record.source_positions_at(t)
        positions = positions[np.isfinite(positions[:, 0])]
        if not len(positions):
            continue
        d = transform_points(invert_transform(record.pose_at(t) @ record.T_cam_array), positions[:1])[0]
        azimuth, elevation = az_el_from_direction(d)
        rows.append((float(azimuth), float(np.degrees(np.arcsin(d[1] / np.linalg.norm(d)))), float(elevation)))
    return tuple(np.array(column) for column in zip(*rows))


def main() -> None:
    """Print (and with --json write) the floor of one split as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('data')
    parser.add_argument('--stride', type=int, default=10)
    parser.add_argument('--json')
    args = parser.parse_args()
    azimuth, lateral, elevation = window_directions(args.data, args.stride)
    folded = fold_front_deg(azimuth)
    bins = np.round(lateral / 2.0).astype(int)
    best = np.zeros_like(lateral)
    for value in np.unique(bins):
        best[bins == value] = np.median(folded[bins == value])
    readings = {'lateral': lateral, 'best_of_lateral': best}
    bands = by_direction(readings, azimuth)
    result = {'windows': int(len(azimuth)), 'elevation_abs_mean_deg': float(np.abs(elevation).mean()),
              'elevation_abs_p90_deg': float(np.percentile(np.abs(elevation), 90))}
    for name, reading in readings.items():
        result[name] = slfm_summary(reading, azimuth)
        result[f'{name}_by_direction'] = bands[name]
    text = json.dumps(result, indent=1)
    if args.json:
        with open(args.json, 'w') as handle:
            handle.write(text + '\n')
    print(text)


if __name__ == '__main__':
    main()
