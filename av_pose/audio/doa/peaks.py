"""Peak picking on DOA spectra, vectorised over the batch."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def pick_peaks(values: np.ndarray, is_peak: np.ndarray, num_peaks: int,
               too_close: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Greedy choice of the highest peaks, each row at once.

    Args:
        values: B×G spectrum values.
        is_peak: B×G mask of the local maxima (the candidates).
        num_peaks: K, peaks wanted per row.
        too_close: Maps B chosen grid indices to a B×G mask of the points too close to them.

    Returns:
        B×K grid indices, strongest first; -1 where a row has fewer than K candidates left.
    """
    batch = values.shape[0]
    rows = np.arange(batch)
    candidates = np.where(is_peak, values, -np.inf)
    indices = np.full((batch, num_peaks), -1, dtype=np.int64)
    for k in range(num_peaks):
        best = candidates.argmax(1)
        found = np.isfinite(candidates[rows, best])
        if not found.any():
            break
        indices[found, k] = best[found]
        if k + 1 < num_peaks:
            candidates[too_close(best)] = -np.inf
            candidates[rows, best] = -np.inf
    return indices


def find_circular_peaks(profile: np.ndarray, step_deg: float, offset_deg: float, num_peaks: int,
                        min_separation_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """The `num_peaks` highest local maxima of each row of a circular azimuth profile.

    Args:
        profile: B×A non-negative values at azimuths `offset_deg + k·step_deg`.
        step_deg: Grid spacing, degrees.
        offset_deg: Azimuth of the first grid point, degrees.
        num_peaks: K, the number of peaks wanted per row.
        min_separation_deg: Peaks closer than this (with wrap-around) to a higher peak are skipped.

    Returns:
        (azimuths_deg B×K in [0, 360), refined by a parabola through the peak and its neighbours;
         indices B×K into the profile), NaN / -1 where a row has fewer than K peaks.
    """
    count = profile.shape[1]
    left, right = np.roll(profile, 1, axis=1), np.roll(profile, -1, axis=1)
    is_peak = (profile > left) & (profile >= right)
    grid_deg = offset_deg + step_deg * np.arange(count)

    def too_close(chosen: np.ndarray) -> np.ndarray:
        return np.abs((grid_deg[None, :] - grid_deg[chosen][:, None] + 180.0) % 360.0 - 180.0) < min_separation_deg

    indices = pick_peaks(profile, is_peak, num_peaks, too_close)
    found = indices >= 0
    safe = np.maximum(indices, 0)
    y0, y1, y2 = (np.take_along_axis(p, safe, axis=1) for p in (left, profile, right))
    curvature = y0 - 2.0 * y1 + y2
    with np.errstate(divide='ignore', invalid='ignore'):
        shift = np.where(curvature < 0, 0.5 * (y0 - y2) / np.where(curvature < 0, curvature, -1.0), 0.0)
    azimuths = np.where(found, (grid_deg[safe] + np.clip(shift, -0.5, 0.5) * step_deg) % 360.0, np.nan)
    return azimuths, indices
