"""What `av-pose eval --tracks` shows: a PNG of the tracks over time per scene, and the Markdown table."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from av_pose.eval.track_score import SILENCE_S, SceneTracks, TrackScore, aggregate_scores


def plot_scene_tracks(run: SceneTracks, path: str | Path, score: TrackScore | None = None) -> Path:
    """PNG of azimuth (array frame, deg) vs time: truth as grey lines, DOA peaks as small dots, tracks by id."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from av_pose.viz import save_png

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    times = run.times_s
    peaks_t = np.repeat(times[:, None], run.peaks_deg.shape[1], axis=1)
    ax.plot(peaks_t.ravel(), run.peaks_deg.ravel(), '.', color='0.75', markersize=2, label='DOA peaks')
    for s in range(run.true_azimuths_deg.shape[1]):
        truth = run.true_azimuths_deg[:, s].copy()
        truth[1:][np.abs(np.diff(truth)) > 180.0] = np.nan  # no line across the 0/360 wrap
        ax.plot(times, truth, '-', color='k', linewidth=1.5, alpha=0.6, label='truth' if s == 0 else None)
    colours = plt.get_cmap('tab10')
    confirmed = run.rows[run.rows[:, 3] > 0]
    for track_id in np.unique(confirmed[:, 1]).astype(int):
        rows = confirmed[confirmed[:, 1] == track_id]
        t = times[rows[:, 0].astype(int)]
        ax.plot(t, rows[:, 2], '.', color=colours(track_id % 10), markersize=4)
        ax.annotate(str(track_id), (t[0], rows[0, 2]), fontsize=8, color=colours(track_id % 10),
                    xytext=(2, 3), textcoords='offset points')
    ax.set_xlim(times[0] - 0.5, times[-1] + 0.5)
    ax.set_ylim(0, 360)
    ax.set_yticks(range(0, 361, 60))
    ax.set_xlabel('time (s, window centre)')
    ax.set_ylabel('azimuth in the array frame (°)')
    title = f'{run.name}: confirmed tracks (colour = id)'
    if score is not None:
        title += (f' — coverage {100 * score.coverage:.0f} %, {score.id_switches} id switches, '
                  f'median error {score.median_error_deg:.1f}°')
    ax.set_title(title, fontsize=10)
    ax.legend(loc='upper right', fontsize=8)
    ax.grid(alpha=0.3)
    return save_png(fig, path)


def _cell(value: float, scale: float = 1.0, digits: int = 1) -> str:
    return '—' if not np.isfinite(value) else f'{scale * value:.{digits}f}'


def markdown_tracks(runs: list[SceneTracks], scores: list[TrackScore], description: str = '') -> str:
    """Markdown: one row per scene, the pooled row, and the pooled figures against the issue-9 targets."""
    header = ('| scene | sources | coverage % | coverage (all) % | DOA ceiling % | id switches /src/min | '
              'false tracks /min | false track-windows % | linger max / median s | median error ° | MOTA % |')
    lines = [description, '', header, '|' + '---|' * 11] if description else [header, '|' + '---|' * 11]
    total = aggregate_scores(scores)
    for name, sources, score in [*((r.name, str(r.true_azimuths_deg.shape[1]), s) for r, s in zip(runs, scores)),
                                 ('**all**', '', total)]:
        lines.append(f'| {name} | {sources} | {_cell(score.coverage, 100)} | {_cell(score.coverage_all, 100)} | '
                     f'{_cell(score.doa_ceiling, 100)} | {_cell(score.id_switches_per_source_min, 1, 2)} | '
                     f'{_cell(score.false_tracks_per_min)} | {_cell(score.false_fraction, 100)} | '
                     f'{_cell(score.linger_max_s)} / {_cell(score.linger_median_s)} ({len(score.lingers_s)} stops) | '
                     f'{_cell(score.median_error_deg)} | {_cell(score.mota, 100)} |')
    met = total.meets_targets()
    figures = {'coverage': f'{_cell(total.coverage, 100)} % (target ≥ 90 %)',
               'id_switches_per_source_min': f'{_cell(total.id_switches_per_source_min, 1, 2)} (target ≤ 1)',
               'linger_max_s': f'{_cell(total.linger_max_s)} s (target < 2 s)',
               'median_error_deg': f'{_cell(total.median_error_deg)}° (target ≤ 3°)'}
    lines += ['', 'Targets (issue 9), pooled over all scenes:', '']
    lines += [f'- {key}: {text} — {"met" if met[key] else "NOT met"}' for key, text in figures.items()]
    bias = _cell(total.median_abs_source_bias_deg)
    lines += ['', f'Where they come from: {total.id_switches_after_silence} of {total.id_switches} id switches came '
              f'after their source had gone unmatched for {SILENCE_S:g} s or more; the sources\' own biases (median '
              f'signed error of each, {len(total.source_biases_deg)} sources) are {bias}° in the median: error a '
              'source keeps through its life (room reflections pull its DOA peak).']
    if total.audible_windows:
        share = 100.0 * total.audible_windows / total.resolvable_windows
        lines += ['', f'Where the sources sound: {_cell(share)} % of the resolvable source-windows find their source '
                  f'audible (not in a pause of its own, not 10 dB under another source); coverage of those '
                  f'{_cell(total.coverage_audible, 100)} %.']
    lines += ['', 'coverage: resolvable active source-windows (no other active source within 20°) held by a '
              'confirmed track within 10°, one-to-one; DOA ceiling: the same with the raw DOA peaks instead of tracks; '
              'MOTA: 1 − (missed source-windows + false track-windows + id switches) / active source-windows '
              '(CLEAR MOT; negative when the false tracks outnumber the sources).']
    return '\n'.join(lines)
