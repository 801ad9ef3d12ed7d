"""DOA over a whole recording: sliding windows, batched through one estimator."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from av_pose.audio.doa import DoaEstimator
from av_pose.audio.doa.base import check_window
from av_pose.errors import UserInputError


@dataclass(frozen=True)
class DoaTrack:
    """DOA of W windows of a recording.

    Attributes:
        times_s: W window centres, seconds from the start of the recording.
        spectra: W×360 in [0, 1].
        azimuths_deg: W×K, NaN where not found.
        confidence: W×K in [0, 1].
        elevations_deg: W×K, degrees up from the array's x-y plane (0 on a horizontal grid).
    """

    times_s: np.ndarray
    spectra: np.ndarray
    azimuths_deg: np.ndarray
    confidence: np.ndarray
    elevations_deg: np.ndarray | None = None


def track_doa(estimator: DoaEstimator, audio: np.ndarray, window_s: float = 1.0, hop_s: float = 0.1,
              batch_size: int = 64, progress: bool = False) -> DoaTrack:
    """Run `estimator` on windows of `window_s` every `hop_s` over C×T `audio` at the estimator's rate."""
    fs = estimator.sample_rate
    length, hop = int(round(window_s * fs)), max(1, int(round(hop_s * fs)))
    check_window(estimator, window_s)
    if audio.shape[-1] < length:
        raise UserInputError(f'recording ({audio.shape[-1] / fs:.2f} s) is shorter than one window ({window_s} s)')
    starts = np.arange(0, audio.shape[-1] - length + 1, hop)
    parts = []
    for first in tqdm(range(0, len(starts), batch_size), disable=not progress, desc='DOA', unit='batch'):
        batch = np.stack([audio[:, s:s + length] for s in starts[first:first + batch_size]])
        parts.append(estimator.estimate(batch))
    return DoaTrack(times_s=(starts + 0.5 * length) / fs,
                    spectra=np.concatenate([p.spectrum for p in parts]),
                    azimuths_deg=np.concatenate([p.azimuths_deg for p in parts]),
                    confidence=np.concatenate([p.confidence for p in parts]),
                    elevations_deg=np.concatenate([p.elevations_deg for p in parts]))
