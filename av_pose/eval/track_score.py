"""Scores of `av-pose eval --tracks`: a tracker's output against a scene's sources, MOTA-style.

Scoring, per window (MOTA-style counts):
- Ground truth: each point source's azimuth in the array frame while it is active (start_s ≤ t < end_s); the
  diffuse ambient bed has none.
- Confirmed tracks (coasting ones included: they are what a user sees) are matched one-to-one to the active
  sources as CLEAR MOT does (Bernardin & Stiefelhagen, 2008): a source keeps the track it was matched to in the
  previous window while that track is still within `gate_deg`; the other sources and tracks are matched by the
  Hungarian method on the wrapped azimuth error, within `gate_deg`. (Before stop 20 every window was matched
  afresh, so a second track passing closer to a source took it over and back, each time an id switch.)
- coverage: matched source-windows / resolvable source-windows, where a source-window is *unresolvable* when
  another active source lies within `min_separation_deg` (the DOA's minimum peak separation: one peak serves
  both). `coverage_all` counts every active source-window (the unresolvable ones too). `doa_ceiling` is the
  coverage the raw DOA peaks themselves reach (the tracker can exceed it by coasting through missed peaks).
  `coverage_audible` counts only the resolvable source-windows where the source is audible
  (`scene.activity.audible_sources`: not in a pause of its own, not 10 dB under another source; scenes rendered
  since stop 35 store the levels): activity is the source's [start_s, end_s), pauses included.
- id switches: a source matched to a different track id than at its previous match, both in resolvable windows
  (inside an unresolvable cluster the assignment is arbitrary, but a swap across the cluster counts); per
  source-minute of activity.
- false tracks: confirmed track-windows matching no active source (`false_fraction` of confirmed track-windows),
  and confirmed track ids never matched to any source (`false_tracks_per_min`, per minute of scene).
- linger: per source stop (end_s at least `linger_horizon_s` before the last window), how long the track id last
  matched to it (in a resolvable window) stays alive after end_s: until it dies or is matched to another active
  source (it is then that source's track; a wrong hand-over shows as that source's id switch).
- median azimuth error of the matched windows.

Two diagnostics beside them: each id switch's *gap*, how long its source had gone unmatched before (a switch
after the source was unheard for `SILENCE_S` or more, against one while it was followed), and each source's
*bias*, the median signed error of its matched windows (`MIN_BIAS_WINDOWS` or more): the part of the error a
source keeps through its life (room reflections pull its DOA peak) rather than noise around it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from av_pose.metrics.azimuth import azimuth_abs_error_deg, azimuth_difference_deg

TARGETS = {'coverage': 0.90, 'id_switches_per_source_min': 1.0, 'linger_max_s': 2.0, 'median_error_deg': 3.0}
SILENCE_S = 1.0
"""An id switch after its source went unmatched this long (s) counts as one after a silence."""
MIN_BIAS_WINDOWS = 10
"""Matched resolvable windows a source needs for its bias (median signed error) to be reported."""


@dataclass(frozen=True)
class SceneTracks:
    """The tracker's output over one scene and the ground truth at the same instants.

    Attributes:
        name: Scene name. times_s: W window centres (s). yaw_deg: W rig yaws given to the tracker (deg, NaN if none).
        true_azimuths_deg: W×S point-source azimuths (array frame, deg), NaN while inactive.
        end_s: (S,) stop time of each point source (s). peaks_deg: W×K DOA peaks (array frame, deg).
        rows: R×4 tracker output rows (window index, track id, azimuth deg in the array frame, confirmed 0/1).
        audible: W×S bool (`audible_sources` of the windows), or None when the scene stores no source levels.
    """

    name: str
    times_s: np.ndarray
    yaw_deg: np.ndarray
    true_azimuths_deg: np.ndarray
    end_s: np.ndarray
    peaks_deg: np.ndarray
    rows: np.ndarray
    audible: np.ndarray | None = None


@dataclass
class TrackScore:
    """MOTA-style counts of one scene or many (see the module docstring); add scores with `aggregate_scores`.

    Attributes:
        scenes, minutes: Scenes and minutes of tracked windows. source_windows / resolvable_windows: active
        source-windows, all / resolvable. covered_all / covered: matched ones among them. source_minutes:
        minutes of source activity. id_switches: count. track_windows / false_windows: confirmed track-windows,
        and those matching no active source. false_track_ids: confirmed ids never matched. lingers_s: per stop.
        errors_deg: azimuth errors of matched windows. switch_gaps_s: per id switch, how long its source had gone
        unmatched (s). source_biases_deg: per source with MIN_BIAS_WINDOWS matched resolvable windows, the median
        signed error (track − truth, degrees).
    """

    scenes: int = 0
    minutes: float = 0.0
    source_windows: int = 0
    resolvable_windows: int = 0
    covered_all: int = 0
    covered: int = 0
    audible_windows: int = 0
    covered_audible: int = 0
    peak_covered: int = 0
    source_minutes: float = 0.0
    id_switches: int = 0
    track_windows: int = 0
    false_windows: int = 0
    false_track_ids: int = 0
    lingers_s: list[float] = field(default_factory=list)
    errors_deg: list[float] = field(default_factory=list)
    switch_gaps_s: list[float] = field(default_factory=list)
    source_biases_deg: list[float] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        """Matched / resolvable source-windows."""
        return self.covered / self.resolvable_windows if self.resolvable_windows else float('nan')

    @property
    def doa_ceiling(self) -> float:
        """Resolvable source-windows with a raw DOA peak within the gate (one-to-one): what the peaks offer."""
        return self.peak_covered / self.resolvable_windows if self.resolvable_windows else float('nan')

    @property
    def coverage_audible(self) -> float:
        """Matched / resolvable source-windows where the source is audible (NaN without source levels)."""
        return self.covered_audible / self.audible_windows if self.audible_windows else float('nan')

    @property
    def coverage_all(self) -> float:
        """Matched / all active source-windows."""
        return self.covered_all / self.source_windows if self.source_windows else float('nan')

    @property
    def id_switches_per_source_min(self) -> float:
        """Id switches per minute of source activity."""
        return self.id_switches / self.source_minutes if self.source_minutes else float('nan')

    @property
    def false_tracks_per_min(self) -> float:
        """Never-matched confirmed track ids per minute of scene."""
        return self.false_track_ids / self.minutes if self.minutes else float('nan')

    @property
    def false_fraction(self) -> float:
        """Confirmed track-windows matching no active source / all confirmed track-windows."""
        return self.false_windows / self.track_windows if self.track_windows else float('nan')

    @property
    def linger_max_s(self) -> float:
        """Longest linger after a stop, seconds."""
        return float(np.max(self.lingers_s)) if self.lingers_s else float('nan')

    @property
    def linger_median_s(self) -> float:
        """Median linger after a stop, seconds."""
        return float(np.median(self.lingers_s)) if self.lingers_s else float('nan')

    @property
    def median_error_deg(self) -> float:
        """Median azimuth error of matched windows, degrees."""
        return float(np.median(self.errors_deg)) if self.errors_deg else float('nan')

    @property
    def id_switches_after_silence(self) -> int:
        """Id switches whose source had gone unmatched for SILENCE_S or more before."""
        return int(np.sum(np.asarray(self.switch_gaps_s) >= SILENCE_S - 1e-9))

    @property
    def median_abs_source_bias_deg(self) -> float:
        """Median over sources of |bias|: how far a source's matched windows sit from it on the whole, degrees."""
        return float(np.median(np.abs(self.source_biases_deg))) if self.source_biases_deg else float('nan')

    @property
    def mota(self) -> float:
        """CLEAR MOT accuracy 1 − (missed source-windows + false track-windows + id switches) / source-windows."""
        errors = (self.source_windows - self.covered_all) + self.false_windows + self.id_switches
        return 1.0 - errors / self.source_windows if self.source_windows else float('nan')

    @property
    def motp_deg(self) -> float:
        """CLEAR MOT precision: mean azimuth error of matched windows, degrees."""
        return float(np.mean(self.errors_deg)) if self.errors_deg else float('nan')

    def meets_targets(self) -> dict[str, bool]:
        """Each issue-9 target → met (a NaN figure, e.g. no stop event, counts as met)."""
        switches = self.id_switches_per_source_min
        return {'coverage': not self.coverage < TARGETS['coverage'],
                'id_switches_per_source_min': not switches > TARGETS['id_switches_per_source_min'],
                'linger_max_s': not self.linger_max_s >= TARGETS['linger_max_s'],
                'median_error_deg': not self.median_error_deg > TARGETS['median_error_deg']}

    def to_json(self) -> dict:
        """Plain data (NaN → None) with counts, rates and the targets met."""
        def clean(value: float) -> float | None:
            return None if not np.isfinite(value) else round(float(value), 4)
        return {'scenes': self.scenes, 'minutes': clean(self.minutes), 'source_windows': self.source_windows,
                'resolvable_windows': self.resolvable_windows, 'covered': self.covered,
                'covered_all': self.covered_all, 'coverage': clean(self.coverage),
                'peak_covered': self.peak_covered, 'doa_ceiling': clean(self.doa_ceiling),
                'coverage_all': clean(self.coverage_all), 'audible_windows': self.audible_windows,
                'covered_audible': self.covered_audible, 'coverage_audible': clean(self.coverage_audible),
                'id_switches': self.id_switches,
                'id_switches_per_source_min': clean(self.id_switches_per_source_min),
                'false_track_ids': self.false_track_ids, 'false_tracks_per_min': clean(self.false_tracks_per_min),
                'false_fraction': clean(self.false_fraction), 'stop_events': len(self.lingers_s),
                'linger_max_s': clean(self.linger_max_s), 'linger_median_s': clean(self.linger_median_s),
                'median_error_deg': clean(self.median_error_deg), 'mota': clean(self.mota),
                'motp_deg': clean(self.motp_deg), 'id_switches_after_silence': self.id_switches_after_silence,
                'median_abs_source_bias_deg': clean(self.median_abs_source_bias_deg),
                'targets_met': self.meets_targets()}


def aggregate_scores(scores: list[TrackScore]) -> TrackScore:
    """Sum the counts of several scores (rates are then pooled over all windows)."""
    total = TrackScore()
    for s in scores:
        for name in ('scenes', 'minutes', 'source_windows', 'resolvable_windows', 'covered_all', 'covered',
                     'audible_windows', 'covered_audible',
                     'peak_covered', 'source_minutes', 'id_switches', 'track_windows', 'false_windows',
                     'false_track_ids'):
            setattr(total, name, getattr(total, name) + getattr(s, name))
        total.lingers_s += s.lingers_s
        total.errors_deg += s.errors_deg
        total.switch_gaps_s += s.switch_gaps_s
        total.source_biases_deg += s.source_biases_deg
    return total


def matched_sources(peaks_deg: np.ndarray, truth_deg: np.ndarray, gate_deg: float,
                    counted: np.ndarray | None = None) -> int:
    """Sources (azimuths `truth_deg`, all active) matched one-to-one by a peak within the gate (NaN peaks: none).

    `counted` (bool per source; default all) says which sources' matches are counted.
    """
    peaks_deg = peaks_deg[np.isfinite(peaks_deg)]
    if not len(peaks_deg) or not len(truth_deg):
        return 0
    counted = np.ones(len(truth_deg), dtype=bool) if counted is None else counted
    cost = azimuth_abs_error_deg(peaks_deg[:, None], truth_deg[None, :])
    rows, cols = linear_sum_assignment(np.where(cost <= gate_deg, cost, 1e6))
    return int(sum(counted[c] for r, c in zip(rows, cols) if cost[r, c] <= gate_deg))


def _clear_mot_pairs(cost: np.ndarray, track_ids: np.ndarray, active: np.ndarray, previous: dict[int, int],
                     gate_deg: float) -> list[tuple[int, int]]:
    """CLEAR MOT matches (row, column) of tracks (rows of `cost`, ids `track_ids`) to sources (columns).

    Last window's matches (`previous`: source index → track id) that are still within the gate are kept; the
    other tracks and sources (`active`: the columns' source indices) are matched by the Hungarian method.
    """
    pairs = [(r, c) for c, source in enumerate(active) for r in np.flatnonzero(track_ids == previous.get(int(source)))
             if cost[r, c] <= gate_deg]
    kept_rows, kept_columns = {r for r, _ in pairs}, {c for _, c in pairs}
    rows = [r for r in range(cost.shape[0]) if r not in kept_rows]
    columns = [c for c in range(cost.shape[1]) if c not in kept_columns]
    if rows and columns:
        rest = cost[np.ix_(rows, columns)]
        r_idx, c_idx = linear_sum_assignment(np.where(rest <= gate_deg, rest, 1e6))
        pairs += [(rows[r], columns[c]) for r, c in zip(r_idx, c_idx) if rest[r, c] <= gate_deg]
    return pairs


def score_scene_tracks(run: SceneTracks, gate_deg: float = 10.0, min_separation_deg: float = 20.0,
                       linger_horizon_s: float = 2.0) -> TrackScore:
    """Score one scene's tracks against its ground truth (see the module docstring)."""
    times, truth = run.times_s, run.true_azimuths_deg
    num_windows, num_sources = truth.shape
    step_min = float(np.median(np.diff(times))) / 60.0 if num_windows > 1 else 0.0
    score = TrackScore(scenes=1, minutes=num_windows * step_min)
    last_id = [None] * num_sources
    last_time = [0.0] * num_sources  # when each source was last matched (in a resolvable window)
    signed: list[list[float]] = [[] for _ in range(num_sources)]  # track − truth of its resolvable matches
    previous: dict[int, int] = {}  # source → the track id matched to it in the previous window
    matched_ids: set[int] = set()
    confirmed_ids: set[int] = set()
    alive: list[set[int]] = []
    owner: list[dict[int, int]] = []  # per window: track id → the source it is matched to
    for w in range(num_windows):
        rows = run.rows[run.rows[:, 0] == w]
        alive.append(set(rows[:, 1].astype(int).tolist()))
        owner.append({})
        rows = rows[rows[:, 3] > 0]
        active = np.flatnonzero(np.isfinite(truth[w]))
        separation = azimuth_abs_error_deg(truth[w, active][:, None], truth[w, active][None, :])
        np.fill_diagonal(separation, np.inf)
        resolvable = separation.min(axis=1, initial=np.inf) >= min_separation_deg
        score.source_windows += len(active)
        score.resolvable_windows += int(resolvable.sum())
        audible = resolvable & (run.audible[w, active] if run.audible is not None else False)
        score.audible_windows += int(audible.sum())
        score.source_minutes += len(active) * step_min
        score.track_windows += len(rows)
        confirmed_ids.update(rows[:, 1].astype(int).tolist())
        matched_rows = set()
        score.peak_covered += matched_sources(run.peaks_deg[w], truth[w, active], gate_deg, resolvable)
        current: dict[int, int] = {}
        if len(active) and len(rows):
            cost = azimuth_abs_error_deg(rows[:, 2][:, None], truth[w, active][None, :])
            for r, c in _clear_mot_pairs(cost, rows[:, 1].astype(int), active, previous, gate_deg):
                source, track_id = int(active[c]), int(rows[r, 1])
                current[source] = track_id
                matched_rows.add(r)
                matched_ids.add(track_id)
                owner[w][track_id] = source
                score.covered_all += 1
                score.covered += int(resolvable[c])
                score.covered_audible += int(audible[c])
                score.errors_deg.append(float(cost[r, c]))
                if resolvable[c]:  # inside a cluster the assignment is arbitrary; a swap across it still counts
                    if last_id[source] is not None and last_id[source] != track_id:
                        score.id_switches += 1
                        score.switch_gaps_s.append(float(times[w] - last_time[source]))
                    last_id[source], last_time[source] = track_id, float(times[w])
                    signed[source].append(float(azimuth_difference_deg(rows[r, 2], truth[w, source])))
        score.false_windows += len(rows) - len(matched_rows)
        previous = current
    score.false_track_ids = len(confirmed_ids - matched_ids)
    score.source_biases_deg = [float(np.median(e)) for e in signed if len(e) >= MIN_BIAS_WINDOWS]
    for source, end in enumerate(run.end_s):  # matches end at the stop: last_id is the id the source stopped with
        if end <= times[-1] - linger_horizon_s and last_id[source] is not None:
            track_id, linger_end = last_id[source], end
            for w in np.flatnonzero(times >= end):
                if track_id not in alive[w] or owner[w].get(track_id, source) != source:
                    break
                linger_end = times[w]
            score.lingers_s.append(float(linger_end - end))
    return score
