"""Figures users would rather see than read (matplotlib, written as PNG)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_doa_over_time(times_s: np.ndarray, spectra: np.ndarray, out_png: str | Path,
                       estimated_deg: np.ndarray | None = None, true_deg: np.ndarray | None = None,
                       true_times_s: np.ndarray | None = None, title: str = 'DOA spectrum',
                       ax: plt.Axes | None = None, confidence: np.ndarray | None = None,
                       min_confidence: float = 0.3) -> None:
    """Heat map of DOA spectra (azimuth × time) with estimated peaks and ground truth drawn on top.

    Args:
        times_s: W window centres, seconds.
        spectra: W×360 spectra in [0, 1] (bin i = azimuth [i°, i+1°)).
        out_png: Where to write the figure (ignored when `ax` is given).
        estimated_deg: W×K estimated azimuths, degrees (NaN allowed).
        true_deg: M×S ground-truth azimuths at `true_times_s` (default `times_s`), NaN when silent.
        true_times_s: Times of the ground truth rows.
        title: Axes title.
        ax: Draw into these axes instead of a new figure.
        confidence: W×K confidences of the estimates; those below `min_confidence` are drawn as grey crosses.
        min_confidence: Threshold for drawing an estimate as confident.
    """
    own_figure = ax is None
    if own_figure:
        fig, ax = plt.subplots(figsize=(9, 4), dpi=110)
    times_s = np.asarray(times_s, dtype=float)
    half_step = 0.5 * (times_s[1] - times_s[0]) if len(times_s) > 1 else 0.05
    ax.imshow(np.asarray(spectra).T, origin='lower', aspect='auto', cmap='magma', vmin=0.0, vmax=1.0,
              extent=(times_s[0] - half_step, times_s[-1] + half_step, 0.0, 360.0), interpolation='nearest')
    if true_deg is not None:
        truth_t = times_s if true_times_s is None else np.asarray(true_times_s)
        for column in np.atleast_2d(np.asarray(true_deg, dtype=float).T):
            ax.plot(truth_t, _break_wraps(column), color='cyan', lw=1.5, label='true')
    if estimated_deg is not None:
        estimates = np.asarray(estimated_deg, dtype=float).reshape(len(times_s), -1)
        sure = np.ones_like(estimates, dtype=bool) if confidence is None else \
            np.asarray(confidence, dtype=float).reshape(estimates.shape) >= min_confidence
        for column, column_sure in zip(estimates.T, sure.T):
            ax.plot(times_s[column_sure], column[column_sure], 'o', ms=2.5, color='lime', label='estimated')
            if not column_sure.all():
                ax.plot(times_s[~column_sure], column[~column_sure], 'x', ms=3, color='0.6',
                        label=f'confidence < {min_confidence:g}')
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    if unique:
        ax.legend(unique.values(), unique.keys(), loc='upper right', fontsize=8)
    ax.set(xlabel='time [s]', ylabel='azimuth [deg, CCW from array x]', ylim=(0, 360), title=title)
    ax.set_yticks(range(0, 361, 90))
    if own_figure:
        save_png(fig, out_png)


def save_png(fig: plt.Figure, path: str | Path, dpi: float | None = None) -> Path:
    """Lay out `fig`, write it to `path` as PNG and close it; returns the path.

    Parent folders are made; `dpi` defaults to the figure's own.
    """
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi if dpi is not None else 'figure')
    plt.close(fig)
    return path


def _break_wraps(azimuths_deg: np.ndarray) -> np.ndarray:
    """Insert NaN where a track wraps between 360° and 0° so lines are not drawn across the plot."""
    values = np.asarray(azimuths_deg, dtype=float).copy()
    jumps = np.abs(np.diff(values)) > 180.0
    values[1:][jumps] = np.nan
    return values
