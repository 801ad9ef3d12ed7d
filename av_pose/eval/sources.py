"""`av-pose eval --sources`: the sound-source map over ShoeboxAV scenes, scored against the true positions.

Per scene: the tracking front end (`av_pose.sources.frontend`: NormMUSIC with zone voting over 0.5 s windows every
0.1 s, `stream_scene_doa`) → `SourceTracker` (rig yaw from the array poses) → `SourceMap` (bearings placed with
the array poses). Two pose sources:
- `ground-truth`: the scene's camera poses (× `T_cam_array`);
- an estimator name (`geometric`, a shipped model, ...): the pose pipeline's own odometry (`run_odometry`,
  the schedule of `pose_node`), anchored at the true first keyframe pose. Monocular estimates carry no metric
  scale, so each pair's translation length is taken from the ground truth (`ground_truth_scale`, the usual
  monocular evaluation practice, standing in for wheel odometry); rotation and translation direction are the
  estimator's. With `scale` 'odometry' the true poses stand in for a wheel odometry that also gives each pair's
  travel (`recording_odometry_scale`, as `av-pose bag --translation-scale odometry` and pose_node's scale_odometry).

Scoring at each snapshot time (default 5 s, i.e. after 5 s of motion, and the scene end): mapped sources and the
point sources heard so far (active in some window up to the snapshot) are matched one-to-one by horizontal
distance (Hungarian, within `gate_m`); the error is horizontal (x-y) because planar arrays do not resolve height.
A moving source is compared with where it was when last heard. Unmatched true sources are `missed`, unmatched
map entries `false`. A source that starts later has been heard for less than 5 s at the 5 s snapshot (or not at
all), so each source is also scored on its own `HEARD_S` after it starts (`after_5s_heard`: the same matching,
that source's error or miss; its false entries are not counted there).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from av_pose.errors import UserInputError
from av_pose.geometry import interpolate_poses, yaw_of
from av_pose.pose.odometry import DEFAULT_DIRECTION_HOLD_S
from av_pose.pose.smoothing import DEFAULT_LAG_S, chain_smoother
from av_pose.scene.doa_eval import SceneDoaTrack, stream_scene_doa
from av_pose.scene.format import SceneRecord
from av_pose.sources.frontend import WINDOW_S, ZONE_FRAMES, front_end_tracker_config, source_doa_estimator
from av_pose.sources.source_map import MappedSource, SourceMap, SourceMapConfig
from av_pose.sources.tracker import SourceTracker, Track, TrackerConfig

TARGETS_M = {'ground-truth': 0.3, 'estimated': 0.5}
"""Issue targets: horizontal error after 5 s of motion with true poses / with the pose pipeline's poses."""
HEARD_S = 5.0
"""Each source is also scored this long after it starts (seconds of motion while it sounds)."""

SOURCE_SCALES = ('ground-truth', 'odometry')
"""Translation scales of the estimators' odometry (the module docstring)."""


@dataclass(frozen=True)
class SourceSnapshotScore:
    """Map accuracy of one scene at one time.

    Attributes:
        scene, poses: scene name and pose source. time_s: snapshot time (s).
        errors_m: horizontal errors of the matched sources (m); sources: the scene's source index of each.
        missed: heard true sources with no map entry. false: map entries matching no true source.
        localized: matched entries flagged `localized`. focus: the source this snapshot scores alone (taken
        `HEARD_S` after it started), or None for a snapshot of the whole map.
    """

    scene: str
    poses: str
    time_s: float
    errors_m: tuple[float, ...]
    missed: int
    false: int
    localized: int
    sources: tuple[int, ...] = ()
    focus: int | None = None

    def to_json(self) -> dict:
        """JSON-ready dict."""
        return {'scene': self.scene, 'poses': self.poses, 'time_s': self.time_s, 'errors_m': list(self.errors_m),
                'sources': list(self.sources), 'missed': self.missed, 'false': self.false,
                'localized': self.localized, 'focus': self.focus}


def map_sources(doa: SceneDoaTrack, array_pose: Callable[[float], np.ndarray], snapshot_times_s: list[float],
                tracker_config: TrackerConfig | None = None,
                map_config: SourceMapConfig | None = None,
                on_tracks: Callable[[float, list[Track]], None] | None = None) -> dict[float, list[MappedSource]]:
    """Track the DOA peaks of every window and map them; the map at each snapshot time (window centres ≤ it).

    `array_pose(t)` gives T_world_array (4×4) at audio time t; `on_tracks(t, tracks)`, if given, sees the tracker's
    output at every window centre t (s).
    """
    tracker, source_map = SourceTracker(tracker_config), SourceMap(map_config)
    pending = sorted(snapshot_times_s)
    snapshots: dict[float, list[MappedSource]] = {}
    for w, t in enumerate(doa.times_s):
        while pending and t > pending[0] + 1e-9:
            snapshots[pending.pop(0)] = source_map.sources()
        T = array_pose(float(t))
        tracks = tracker.update(float(t), doa.azimuths_deg[w], doa.confidence[w], None,
                                rig_yaw_deg=float(np.degrees(yaw_of(T[:3, :3]))))
        source_map.update(float(t), tracks, T)
        if on_tracks is not None:
            on_tracks(float(t), tracks)
    for time_s in pending:
        snapshots[time_s] = source_map.sources()
    return snapshots


def recording_doa(recording, num_peaks: int = 3, window_s: float = WINDOW_S, update_s: float = 0.1,
                  zone_frames: int = ZONE_FRAMES, zone_net: str | None = None,
                  zone_net_threshold: float | None = None) -> SceneDoaTrack:
    """The tracking front end (`source_doa_estimator`) over any recording with `audio()` (a scene or a bag).

    The ground-truth fields are NaN (a bag does not know its sources).
    """
    from av_pose.audio.offline import track_doa

    array = recording.mic_array
    estimator = source_doa_estimator(array, recording.sample_rate, num_peaks, zone_frames, zone_net=zone_net,
                                     zone_net_threshold=zone_net_threshold)
    try:
        doa = track_doa(estimator, recording.audio(), window_s, update_s)
    finally:
        estimator.release()
    count = len(doa.times_s)
    return SceneDoaTrack(doa.times_s, doa.spectra, doa.azimuths_deg, doa.confidence, np.full((count, 0), np.nan),
                         np.full(count, np.nan))


def mapped_source_json(source: MappedSource) -> dict:
    """JSON-ready dict of a map entry (metres, seconds)."""
    return {'id': source.id, 'position_m': [round(float(v), 3) for v in source.position_m],
            'std_m': [round(float(v), 3) for v in np.sqrt(np.maximum(np.diag(source.covariance), 0.0))],
            'moving': source.moving, 'localized': source.localized, 'observations': source.num_observations,
            'last_heard_s': round(source.last_heard_s, 3), 'track_ids': list(source.track_ids)}


def true_positions(record: SceneRecord, time_s: float, heard_s: float | None = None) -> np.ndarray:
    """S×3 world positions of the point sources (NaN for the diffuse bed or a source never active up to time_s).

    A source that has stopped is placed where it was when it stopped; `heard_s` (if given) overrides the time.
    """
    out = np.full((len(record.sources), 3), np.nan)
    for i, source in enumerate(record.sources):
        start_s, end_s = source.get('start_s') or 0.0, source.get('end_s')
        end_s = np.inf if end_s is None else float(end_s)
        if start_s > time_s:
            continue
        t = min(time_s if heard_s is None else heard_s, end_s - 1e-6)
        out[i] = record.source_positions_at(t)[i]
    return out


def score_snapshot(record: SceneRecord, poses: str, time_s: float, mapped: list[MappedSource],
                   gate_m: float = 1.5) -> SourceSnapshotScore:
    """Match map entries to the true sources heard by `time_s` (see the module docstring)."""
    truth = true_positions(record, time_s)
    heard = np.flatnonzero(np.all(np.isfinite(truth), axis=1))
    cost = np.full((len(mapped), len(heard)), 1e6)
    for m, source in enumerate(mapped):
        for h, i in enumerate(heard):
            target = true_positions(record, time_s, heard_s=source.last_heard_s)[i] if source.moving else truth[i]
            cost[m, h] = np.linalg.norm(source.position_m[:2] - target[:2])
    cost = np.nan_to_num(cost, nan=1e6, posinf=1e6)
    rows, cols = linear_sum_assignment(cost) if cost.size else (np.array([], int), np.array([], int))
    matched = [(r, c) for r, c in zip(rows, cols) if cost[r, c] <= gate_m]
    errors = tuple(float(cost[r, c]) for r, c in matched)
    localized = sum(int(mapped[r].localized) for r, _ in matched)
    return SourceSnapshotScore(record.name, poses, float(time_s), errors, len(heard) - len(matched),
                               len(mapped) - len(matched), localized, tuple(int(heard[c]) for _, c in matched))


def estimated_array_poses(record: SceneRecord, estimator_name: str, rate_hz: float = 5.0, gap_s: float = 1.0,
                          planar_up: Sequence[float] | None = None, smoothing_lag_s: float = DEFAULT_LAG_S,
                          direction_hold_s: float = DEFAULT_DIRECTION_HOLD_S,
                          scale: str = 'ground-truth') -> Callable[[float], np.ndarray]:
    """T_world_array(t) from the pose pipeline's odometry (anchored at the true first pose).

    `planar_up`: a ground robot's up axis (`Sensors.planar_up`), or None for free motion. `smoothing_lag_s` and
    `direction_hold_s`: the odometry's chain smoothing and direction hold, as pose_node's parameters (0: off).
    `scale`: one of SOURCE_SCALES (the module docstring).
    """
    from av_pose.pose.registry import make_pose_estimator
    from av_pose.pose.sequence import ground_truth_scale, recording_odometry_scale, run_odometry

    if scale not in SOURCE_SCALES:
        raise UserInputError(f'translation scale must be one of {", ".join(SOURCE_SCALES)}, got {scale!r}')
    make_scale = ground_truth_scale if scale == 'ground-truth' else recording_odometry_scale
    estimator = make_pose_estimator(estimator_name)
    track = run_odometry(record, {estimator_name: estimator}, lambda: make_scale(record), gap_s=gap_s,
                         rate_hz=rate_hz, planar_up=planar_up, smoother=chain_smoother(smoothing_lag_s),
                         direction_hold_s=direction_hold_s)[estimator_name]
    stamps = np.asarray(track.stamps_s, dtype=np.float64)
    T_world_odom = record.pose_at(float(stamps[0]))
    poses = np.einsum('ij,njk->nik', T_world_odom, track.poses())
    T_cam_array = record.T_cam_array
    return lambda t: interpolate_poses(stamps, poses, t) @ T_cam_array


def evaluate_scene_sources(record: SceneRecord, poses: tuple[str, ...] = ('ground-truth',),
                           snapshot_times_s: tuple[float, ...] = (5.0,), num_peaks: int | None = None,
                           window_s: float = WINDOW_S,
                           tracker_config: TrackerConfig | None = None,
                           map_config: SourceMapConfig | None = None,
                           zone_frames: int = ZONE_FRAMES,
                           planar_up: Sequence[float] | None = None,
                           onset_emphasis: bool = False,
                           zone_net: str | None = None,
                           zone_net_threshold: float | None = None,
                           smoothing_lag_s: float = DEFAULT_LAG_S,
                           direction_hold_s: float = DEFAULT_DIRECTION_HOLD_S,
                           scale: str = 'ground-truth') -> list[SourceSnapshotScore]:
    """Scores of one scene for every pose source and snapshot time (the scene end is always added).

    `planar_up`: the estimators' odometry treats the rig as a ground robot with this up axis (`Sensors.planar_up`);
    `smoothing_lag_s`, `direction_hold_s`, `scale`: its chain smoothing, direction hold and translation scale
    (`estimated_array_poses`).
    `onset_emphasis`: the front end's onsets vote too; `zone_net`: a learned reading of the zones instead of their
    votes, reporting peaks at least `zone_net_threshold` probable (all three: `source_doa_estimator`).
    """
    estimator = source_doa_estimator(record.array(), record.sample_rate,
                                     num_peaks or len(record.point_source_indices()) + 1, zone_frames,
                                     onset_emphasis=onset_emphasis, zone_net=zone_net,
                                     zone_net_threshold=zone_net_threshold)
    try:
        doa = stream_scene_doa(record, estimator, window_s=window_s, update_s=0.1)
    finally:
        estimator.release()
    last = float(doa.times_s[-1])
    times = sorted({*(t for t in snapshot_times_s if t < last), last})
    focus = {i: float(record.sources[i].get('start_s') or 0.0) + HEARD_S for i in record.point_source_indices()}
    focus = {i: t for i, t in focus.items() if t < last}
    scores = []
    for name in poses:
        if name == 'ground-truth':
            def array_pose(t: float) -> np.ndarray:
                return record.pose_at(t) @ record.T_cam_array
        else:
            array_pose = estimated_array_poses(record, name, planar_up=planar_up, smoothing_lag_s=smoothing_lag_s,
                                               direction_hold_s=direction_hold_s, scale=scale)
        snapshots = map_sources(doa, array_pose, sorted({*times, *focus.values()}),
                                front_end_tracker_config(zone_net, tracker_config), map_config)
        scored = {t: score_snapshot(record, name, t, mapped) for t, mapped in snapshots.items()}  # once per time
        scores += [scored[t] for t in times] + [replace(scored[t], focus=i) for i, t in focus.items()]
    return scores


def summarize_sources(scores: list[SourceSnapshotScore], snapshot_s: float = 5.0) -> dict[str, dict]:
    """Per pose source: median / 90th percentile / max horizontal error at `snapshot_s`, at the end, per source.

    The per-source row (`after_5s_heard`) takes each source `HEARD_S` after it started; its `false` is None (false
    entries are not counted there).
    """
    summary: dict[str, dict] = {}
    for poses in sorted({s.poses for s in scores}):
        mine = [s for s in scores if s.poses == poses and s.focus is None]
        focused = [s for s in scores if s.poses == poses and s.focus is not None]
        ends = {}
        for s in mine:  # the last snapshot of each scene
            if s.scene not in ends or s.time_s > ends[s.scene].time_s:
                ends[s.scene] = s
        target = TARGETS_M['ground-truth' if poses == 'ground-truth' else 'estimated']
        at_time = [s for s in mine if abs(s.time_s - snapshot_s) < 1e-6]
        entry = {label: _error_row([e for s in chosen for e in s.errors_m], sum(s.missed for s in chosen),
                                   sum(s.false for s in chosen), target)
                 for label, chosen in ((f'at_{snapshot_s:g}s', at_time), ('at_end', list(ends.values())))}
        entry[f'after_{HEARD_S:g}s_heard'] = _error_row(
            [e for s in focused for e, i in zip(s.errors_m, s.sources) if i == s.focus],
            sum(s.focus not in s.sources for s in focused), None, target)
        summary[poses] = entry
    return summary


def _error_row(errors_m: list[float], missed: int, false: int | None, target_m: float) -> dict:
    """One row of `summarize_sources`: counts and the median / p90 / max error (m), share within `target_m`."""
    errors = np.asarray(errors_m, dtype=np.float64)
    return {'sources': int(errors.size), 'missed': int(missed), 'false': None if false is None else int(false),
            'median_error_m': float(np.median(errors)) if errors.size else None,
            'p90_error_m': float(np.percentile(errors, 90)) if errors.size else None,
            'max_error_m': float(errors.max()) if errors.size else None,
            'within_target': float(np.mean(errors <= target_m)) if errors.size else None}


def markdown_sources(summary: dict[str, dict], description: str = '') -> str:
    """Markdown table of `summarize_sources`, with the issue's targets."""
    lines = [description, ''] if description else []
    lines += ['| poses | when | sources matched | missed | false | median error m | p90 m | max m | '
              'within target % |', '|' + '---|' * 9]

    def cell(value: float | None, scale: float = 1.0) -> str:
        return '–' if value is None else f'{value * scale:.2f}'

    for poses, entry in summary.items():
        for when, row in entry.items():
            false = '–' if row['false'] is None else row['false']
            lines.append(f'| {poses} | {when} | {row["sources"]} | {row["missed"]} | {false} | '
                         f'{cell(row["median_error_m"])} | {cell(row["p90_error_m"])} | {cell(row["max_error_m"])} | '
                         f'{cell(row["within_target"], 100)} |')
    lines += ['', f'Targets: ≤ {TARGETS_M["ground-truth"]} m after 5 s of motion with ground-truth poses, '
              f'≤ {TARGETS_M["estimated"]} m with the pose pipeline\'s own poses.']
    return '\n'.join(lines)
