"""Peak picking on circular azimuth spectra."""
from __future__ import annotations

import numpy as np


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
    batch, count = profile.shape
    left, right = np.roll(profile, 1, axis=1), np.roll(profile, -1, axis=1)
    is_peak = (profile > left) & (profile >= right)
    azimuths = np.full((batch, num_peaks), np.nan)
    indices = np.full((batch, num_peaks), -1, dtype=np.int64)
    grid_deg = offset_deg + step_deg * np.arange(count)
    for row in range(batch):
        candidates = np.flatnonzero(is_peak[row])
        candidates = candidates[np.argsort(profile[row, candidates])[::-1]]
        chosen: list[int] = []
        for index in candidates:
            gaps = np.abs((grid_deg[chosen] - grid_deg[index] + 180.0) % 360.0 - 180.0)
            if not chosen or gaps.min() >= min_separation_deg:
                chosen.append(int(index))
                if len(chosen) == num_peaks:
                    break
        for k, index in enumerate(chosen):
            y0, y1, y2 = left[row, index], profile[row, index], right[row, index]
            curvature = y0 - 2.0 * y1 + y2
            shift = 0.5 * (y0 - y2) / curvature if curvature < 0 else 0.0
            azimuths[row, k] = (grid_deg[index] + np.clip(shift, -0.5, 0.5) * step_deg) % 360.0
            indices[row, k] = index
    return azimuths, indices
