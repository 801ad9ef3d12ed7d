"""Odometry figures for `av-pose bag --plot` and the demo.

Top-down trajectories with sound directions, pose errors over time, and the metrics table printed beside them
(the same rows in the terminal and the PNG).

World axes for top-down plots: x and y of the frame the poses are given in (the ground-truth world, or odom).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from av_pose.geometry import optical_axis_heading_deg  # noqa: E402
from av_pose.viz import save_png  # noqa: E402

COLOURS = ('tab:orange', 'tab:green', 'tab:purple', 'tab:red', 'tab:brown')
SHADES = ('0.82', '#d6e6f5', '#f5e6d6')
TABLE_COLUMNS = ('model', 'ATE m', 'ATE per frame m', 'heading per frame °', 'RPE rot °', 'rot AUC@5/10/20',
                 'total AUC@5/10/20', 'rot MAE °', 'pairs')


def _number(value, digits: int = 2) -> str:
    return '—' if value is None else f'{value:.{digits}f}'


def metrics_rows(models: Mapping[str, dict]) -> list[list[str]]:
    """Table rows (TABLE_COLUMNS) of the per-model summaries of `av_pose.eval.odometry.odometry_summary`."""
    rows = []
    for name, summary in models.items():
        aucs = ['/'.join(f'{100 * v:.0f}' for v in summary[key]) if summary.get(key) else '—'
                for key in ('rotation_auc', 'total_auc')]
        rows.append([name, _number(summary.get('ate_m')), _number(summary.get('frame_ate_m')),
                     _number(summary.get('frame_heading_rmse_deg'), 1), _number(summary.get('rpe_rot_deg'), 1), *aucs,
                     _number(summary.get('rotation_mae_deg'), 1), str(summary.get('pairs', 0))])
    return rows


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str] = TABLE_COLUMNS) -> str:
    """Fixed-width text table (AUCs in %)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ['  '.join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in [header, *rows]]
    return '\n'.join([lines[0], '  '.join('-' * w for w in widths), *lines[1:]])


def plot_trajectories(out_png: str | Path, estimates: Mapping[str, tuple[np.ndarray, np.ndarray]],
                      truth: tuple[np.ndarray, np.ndarray] | None = None,
                      sounds: Sequence[tuple[np.ndarray, np.ndarray, float]] = (),
                      sources_xy: np.ndarray | None = None, title: str = 'trajectory (top view)',
                      heading: bool = False) -> None:
    """Top-down camera paths: ground truth (black) and each estimate, all in the same frame.

    Each path is (stamps (K,) in s, K×4×4 T_world_cam); the estimates may have different keyframes (an estimator
    drops the pairs it has no pose for). With `heading` a second panel shows the heading over time, where rotation
    errors are easiest to see.

    Args:
        out_png: where to write the figure.
        estimates: name → (stamps, poses) of the estimated camera.
        truth: (stamps, poses) of the ground truth, or None.
        sounds: (origin (3,), unit direction (3,), confidence) arrows: estimated sound directions.
        sources_xy: S×2 true source positions (drawn as stars), or None.
        title: title of the top view.
        heading: add the heading-over-time panel.
    """
    if not heading:
        figure, ax = plt.subplots(figsize=(6.5, 6), dpi=100)
    else:
        figure, (ax, heading_ax) = plt.subplots(1, 2, figsize=(13, 5.6), dpi=90, width_ratios=(1.0, 1.25))
    paths = ([('ground truth', 'black', 2.0, truth)] if truth is not None else []) + [
        (name, colour, 1.2, path) for colour, (name, path) in zip(COLOURS, estimates.items())]
    for name, colour, width, (_, poses) in paths:
        ax.plot(poses[:, 0, 3], poses[:, 1, 3], '-', color=colour, lw=width, label=name)
    if truth is not None:
        ax.plot(truth[1][0, 0, 3], truth[1][0, 1, 3], 'o', color='black', ms=6)
    for origin, direction, confidence in sounds:
        ax.arrow(origin[0], origin[1], 0.6 * direction[0], 0.6 * direction[1], width=0.004, head_width=0.05,
                 color='tab:red', alpha=0.15 + 0.5 * float(confidence), length_includes_head=True)
    if len(sounds):
        ax.plot([], [], '-', color='tab:red', alpha=0.6, label='sound directions (DOA)')
    if sources_xy is not None and len(sources_xy):
        ax.plot(sources_xy[:, 0], sources_xy[:, 1], '*', color='tab:red', ms=14, label='true sources')
    ax.set(xlabel='x [m]', ylabel='y [m]', title=title, aspect='equal')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc='best')
    if heading:
        for name, colour, width, (stamps, poses) in paths:
            heading_ax.plot(stamps, optical_axis_heading_deg(poses), '-', color=colour, lw=width, label=name)
        heading_ax.set(xlabel='time [s]', ylabel='camera heading [°, CCW from x]', title='heading over time')
        heading_ax.grid(alpha=0.3)
        heading_ax.legend(fontsize=8, loc='best')
    save_png(figure, out_png)


def plot_pose_errors(out_png: str | Path, series: Mapping[str, tuple[np.ndarray, np.ndarray]],
                     shaded: Sequence[tuple[float, float, str]] = (), table: str = '',
                     title: str = 'relative-pose rotation error over time') -> None:
    """Rotation error of each pair against the time of its later frame, per model, with shaded intervals.

    Args:
        out_png: where to write the figure.
        series: name → (times (N,), errors in degrees (N,); NaN = no estimate, drawn as a cross at the top).
        shaded: (start, end, label) intervals to shade (e.g. the blurred stretch).
        table: text drawn under the plot (`format_table`).
        title: axes title.
    """
    widest = max((len(line) for line in table.split('\n')), default=0)   # 8-pt monospace: under 0.075 in a character
    figure, ax = plt.subplots(figsize=(max(11.0, 0.075 * widest + 0.3), 4.2 + 0.16 * (table.count('\n') + 1) if table
                                       else 3.8), dpi=100)
    for colour, (start, end, label) in zip(SHADES, shaded):
        ax.axvspan(start, end, color=colour, label=label)
    top = 30.0
    for colour, (name, (times, errors)) in zip(COLOURS, series.items()):
        errors = np.asarray(errors, dtype=float)
        ax.plot(times, np.minimum(errors, top), '.-', color=colour, lw=1, ms=4, label=name)
        missing = ~np.isfinite(errors)
        if missing.any():
            ax.plot(np.asarray(times)[missing], np.full(missing.sum(), top), 'x', color=colour, ms=6)
    ax.set(xlabel='time of the later frame [s]', ylabel='rotation error [°] (clipped at 30)', ylim=(0, top * 1.05),
           title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc='upper left')
    if table:
        lines = table.count('\n') + 1
        figure.subplots_adjust(bottom=0.12 + 0.035 * lines, top=0.92)
        figure.text(0.01, 0.02, table, family='monospace', fontsize=8, va='bottom')
    else:
        figure.tight_layout()
    figure.savefig(out_png)
    plt.close(figure)


def keyframe_sounds(poses: np.ndarray, frames: Sequence[int], doa_by_frame: Mapping[int, object],
                    T_cam_array: np.ndarray, every: int = 5,
                    min_confidence: float = 0.3) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Sound-direction arrows from every `every`-th keyframe pose (K×4×4, aligned with `frames`) and its DOA."""
    from av_pose.pose.outputs import sound_directions

    arrows = []
    for k in range(0, len(frames), max(1, every)):
        doa = doa_by_frame.get(frames[k])
        if doa is not None:
            arrows += [a for a in sound_directions(doa.azimuths_deg, doa.confidence, poses[k] @ T_cam_array)
                       if a[2] >= min_confidence]
    return arrows


def write_odometry_plots(out_dir: str | Path, recording, tracks: Mapping[str, object], doa: Sequence[object],
                         table: str = '', shaded: Sequence[tuple[float, float, str]] = (),
                         sources_xy: np.ndarray | None = None,
                         true_azimuths_deg: np.ndarray | None = None,
                         errors_title: str = 'relative-pose rotation error over time',
                         sounds_from: str | None = None) -> dict[str, Path]:
    """trajectory.png, doa.png and (with ground truth) pose_errors.png of processed tracks into `out_dir`.

    Args:
        out_dir: folder for the PNGs (made when missing).
        recording: the recording (`frame_times_s`, `T_cam_array`, optional `T_world_cam`).
        tracks: name → `OdometryTrack`.
        doa: keyframe `DoaFrame`s in time order.
        table: text drawn under the error plot (`format_table` of `metrics_rows`).
        shaded: intervals (start, end, label) shaded in the error plot.
        sources_xy: true source positions (world x, y) for the trajectory plot.
        true_azimuths_deg: D×S true azimuths at the DOA frames (array frame), drawn on the DOA plot.
        errors_title: title of the error plot.
        sounds_from: the track whose poses carry the sound arrows (default the first).
    """
    from av_pose.eval.odometry import track_pair_errors, world_poses
    from av_pose.viz import plot_doa_over_time

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truth = getattr(recording, 'T_world_cam', None)
    poses = {name: world_poses(t, truth) if truth is not None else t.poses() for name, t in tracks.items()}
    doa_by_frame = {int(np.argmin(np.abs(recording.frame_times_s - d.stamp_s))): d for d in doa}
    first = sounds_from or next(iter(tracks))
    stamps = np.asarray(tracks[first].stamps_s)
    every = max(1, int(round(2.0 / float(np.median(np.diff(stamps)))))) if len(stamps) > 1 else 1  # one per 2 s
    sounds = keyframe_sounds(poses[first], tracks[first].frames, doa_by_frame, recording.T_cam_array, every)
    written = {'trajectory': out / 'trajectory.png', 'doa': out / 'doa.png'}
    frame_label = 'world' if truth is not None else 'odom'
    frames = slice(tracks[first].frames[0], tracks[first].frames[-1] + 1)   # the truth over the keyframes' span
    paths = {name: (np.asarray(t.stamps_s), poses[name]) for name, t in tracks.items()}
    plot_trajectories(written['trajectory'], paths,
                      None if truth is None else (np.asarray(recording.frame_times_s)[frames], truth[frames]),
                      sounds, sources_xy, f'top view ({frame_label}); arrows: DOA on {first}\'s poses', heading=True)
    if doa:
        plot_doa_over_time(np.array([d.stamp_s for d in doa]), np.stack([d.spectrum for d in doa]), written['doa'],
                           estimated_deg=np.stack([d.azimuths_deg for d in doa]), true_deg=true_azimuths_deg,
                           confidence=np.stack([d.confidence for d in doa]),
                           title='DOA spectrum at the keyframes (array frame)')
    else:
        written.pop('doa')
    if truth is not None:
        series = {name: (np.array([p.stamp_s for p in t.pairs]), track_pair_errors(t, truth).rotation_deg)
                  for name, t in tracks.items()}
        written['pose_errors'] = out / 'pose_errors.png'
        plot_pose_errors(written['pose_errors'], series, shaded, table, errors_title)
    return written
