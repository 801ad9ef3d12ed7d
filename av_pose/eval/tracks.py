"""`av-pose eval --tracks`: DOA + `SourceTracker` over ShoeboxAV scenes, scored MOTA-style against ground truth.

Per scene the audio is streamed through NormMUSIC with zone voting, or with `zone_net` its zones read by ZoneNet
(`av_pose.sources.frontend`; 0.5 s windows every 0.1 s, `stream_scene_doa`; `av-pose eval --tracks` runs ZoneNet
unless `--zone-frames` asks for votes) and the tracker,
which gets the array's ground-truth yaw in the world (T_world_array(t) = pose_at(t) · T_cam_array, yaw = heading
of the array's +x in the world x-y plane) so that rig rotation is compensated. Every window is stamped with its
centre, where the truth is taken. The scores (coverage, id switches, false tracks, linger, errors, MOTA) are
`av_pose.eval.track_score`'s.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from av_pose.eval.track_score import SceneTracks, TrackScore, score_scene_tracks
from av_pose.geometry import yaw_of
from av_pose.scene.activity import audible_sources
from av_pose.scene.doa_eval import SceneDoaTrack, stream_scene_doa
from av_pose.scene.format import SceneRecord
from av_pose.sources.frontend import WINDOW_S, ZONE_FRAMES, front_end_tracker_config, source_doa_estimator
from av_pose.sources.tracker import SourceTracker, TrackerConfig


def array_yaw_deg(record: SceneRecord, t: float) -> float:
    """Yaw (deg, CCW about world z) of the array's +x axis in the scene's world frame at time t."""
    T_world_array = record.pose_at(t) @ record.T_cam_array
    return float(np.degrees(yaw_of(T_world_array[:3, :3])))


def run_scene_tracks(record: SceneRecord, num_peaks: int | None = None, config: TrackerConfig | None = None,
                     method: str = 'normmusic', window_s: float = WINDOW_S, update_s: float = 0.1,
                     compensate_rotation: bool = True, doa: SceneDoaTrack | None = None,
                     zone_frames: int = ZONE_FRAMES, onset_emphasis: bool = False,
                     zone_net: str | None = None, zone_net_threshold: float | None = None) -> SceneTracks:
    """Stream DOA over the scene and track its peaks.

    K = `num_peaks` or (point sources + 1), capped as `source_doa_estimator` does; `zone_frames` 0 turns zone
    voting off; `onset_emphasis` adds the onsets' votes; `zone_net` reads the zones with that learned network (and
    the tracker then assumes its peaks' noise, `front_end_tracker_config`, unless `config` is given), reporting
    peaks at least `zone_net_threshold` probable.
    `doa` replaces the DOA front end (e.g. `simulated_scene_doa`, to score the tracker alone).
    """
    points = record.point_source_indices()
    if doa is None:
        estimator = source_doa_estimator(record.array(), record.sample_rate, num_peaks or len(points) + 1,
                                         zone_frames, method, onset_emphasis=onset_emphasis, zone_net=zone_net,
                                         zone_net_threshold=zone_net_threshold)
        try:
            doa = stream_scene_doa(record, estimator, window_s=window_s, update_s=update_s)
        finally:
            estimator.release()
    yaws = np.array([array_yaw_deg(record, t) for t in doa.times_s]) if compensate_rotation else None
    end_s = np.array([record.sources[i].get('end_s', np.inf) for i in points], dtype=float)
    run = track_scene_doa(record.name, doa, points, end_s, yaws, front_end_tracker_config(zone_net, config))
    audible = audible_sources(record, doa.times_s, window_s)
    return run if audible is None else replace(run, audible=audible[:, points])


def simulated_scene_doa(record: SceneRecord, seed: int = 0, sigma_deg: float = 3.0, miss_rate: float = 0.2,
                        spurious_rate: float = 0.5, window_s: float = 1.0, update_s: float = 0.1) -> SceneDoaTrack:
    """Stand-in DOA peaks along the scene's true azimuths, to score the tracker apart from the DOA front end.

    Per window (centres every `update_s` from window_s/2): each active point source gives a peak with Gaussian
    azimuth noise `sigma_deg` unless missed (probability `miss_rate`); one uniformly random spurious peak is
    added with probability `spurious_rate`. K = point sources + 1 columns (NaN-padded), confidence 0.8.
    """
    rng = np.random.default_rng(seed)
    points = record.point_source_indices()
    times = np.arange(0.5 * window_s, record.duration_s - 0.5 * window_s + 1e-9, update_s)
    truth = np.stack([record.source_azimuths_deg(t) for t in times])
    azimuths = np.full((len(times), len(points) + 1), np.nan)
    for w, row in enumerate(truth[:, points]):
        peaks = [a + rng.normal(0.0, sigma_deg) for a in row if np.isfinite(a) and rng.random() >= miss_rate]
        if rng.random() < spurious_rate:
            peaks.append(rng.uniform(0.0, 360.0))
        azimuths[w, :len(peaks)] = np.mod(peaks, 360.0)
    confidence = np.where(np.isfinite(azimuths), 0.8, np.nan)
    return SceneDoaTrack(times, np.zeros((len(times), 360), np.float32), azimuths, confidence, truth,
                         np.full(len(times), np.nan))


def track_scene_doa(name: str, doa: SceneDoaTrack, points: list[int], end_s: np.ndarray,
                    yaws_deg: np.ndarray | None, config: TrackerConfig | None = None) -> SceneTracks:
    """Run a fresh `SourceTracker` over streamed DOA peaks (rig yaw per window in degrees, or None)."""
    tracker = SourceTracker(config)
    rows = []
    for w, t in enumerate(doa.times_s):
        yaw = None if yaws_deg is None else float(yaws_deg[w])
        for track in tracker.update(t, doa.azimuths_deg[w], doa.confidence[w], None, rig_yaw_deg=yaw):
            rows.append((w, track.id, track.azimuth_deg, float(track.confirmed)))
    yaws = np.full(len(doa.times_s), np.nan) if yaws_deg is None else np.asarray(yaws_deg, dtype=float)
    return SceneTracks(name, doa.times_s, yaws, doa.true_azimuths_deg[:, points], np.asarray(end_s, dtype=float),
                       doa.azimuths_deg, np.array(rows, dtype=float).reshape(-1, 4))


def evaluate_tracks(records: list[SceneRecord], num_peaks: int | None = None, config: TrackerConfig | None = None,
                    window_s: float = WINDOW_S, update_s: float = 0.1, gate_deg: float = 10.0,
                    progress: bool = False,
                    zone_frames: int = ZONE_FRAMES,
                    onset_emphasis: bool = False,
                    zone_net: str | None = None,
                    zone_net_threshold: float | None = None) -> tuple[list[SceneTracks], list[TrackScore]]:
    """Track and score every scene; returns the runs and their scores (aggregate with `aggregate_scores`)."""
    from tqdm import tqdm

    runs, scores = [], []
    for record in tqdm(records, desc='tracks', unit='scene', disable=not progress):
        run = run_scene_tracks(record, num_peaks, config, window_s=window_s, update_s=update_s,
                               zone_frames=zone_frames, onset_emphasis=onset_emphasis, zone_net=zone_net,
                               zone_net_threshold=zone_net_threshold)
        runs.append(run)
        scores.append(score_scene_tracks(run, gate_deg=gate_deg))
    return runs, scores
