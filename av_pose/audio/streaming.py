"""Streaming DOA: a timestamped audio buffer feeding a DOA estimator, one window at a time.

The same object serves the ROS node (chunks from messages), the CLI (chunks from a file) and the demo.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from av_pose.audio.buffer import AudioRingBuffer, PushResult
from av_pose.audio.doa import DoaEstimator
from av_pose.audio.doa.base import check_window


@dataclass(frozen=True)
class DoaFrame:
    """DOA of one audio window.

    Attributes:
        stamp_s: Time of the window centre, seconds (the time the estimate describes).
        spectrum: 360 values in [0, 1]; bin i = azimuth sector [i°, i+1°) in the array frame.
        azimuths_deg: K source azimuths, degrees CCW from the array's +x axis; NaN where not found.
        confidence: K values in [0, 1].
        coverage: Fraction of the window that held real audio.
        elevations_deg: K source elevations, degrees up from the array's x-y plane (0 on a horizontal grid).
    """

    stamp_s: float
    spectrum: np.ndarray
    azimuths_deg: np.ndarray
    confidence: np.ndarray
    coverage: float
    elevations_deg: np.ndarray | None = None


class StreamingDoa:
    """Buffer incoming chunks and estimate DOA over windows of `window_s` seconds.

    Args:
        estimator: The DOA estimator; its array fixes the channel count, its sample rate the stream's.
        window_s: Analysis window length, seconds (the AV-pose paper uses 1.0 s).
        capacity_s: Audio kept in the buffer, seconds.
        min_coverage: Windows with less real audio than this fraction yield no estimate.
    """

    def __init__(self, estimator: DoaEstimator, window_s: float = 1.0, capacity_s: float = 10.0,
                 min_coverage: float = 0.5) -> None:
        check_window(estimator, window_s)
        self.estimator = estimator
        self.window_s = float(window_s)
        self.min_coverage = float(min_coverage)
        self.buffer = AudioRingBuffer(estimator.array.num_channels, estimator.sample_rate,
                                      capacity_s=max(capacity_s, 2.0 * window_s))

    def push(self, samples: np.ndarray, stamp_s: float) -> PushResult:
        """Add a C×T chunk whose first sample is at `stamp_s` seconds."""
        return self.buffer.push(samples, stamp_s)

    def at(self, center_s: float) -> DoaFrame | None:
        """DOA of the window centred on `center_s`, or None when too little of it is buffered."""
        window = self.buffer.window(center_s, self.window_s)
        if window.coverage < self.min_coverage:
            return None
        result = self.estimator.estimate(window.samples)
        return DoaFrame(window.center_s, result.spectrum[0], result.azimuths_deg[0], result.confidence[0],
                        window.coverage, result.elevations_deg[0])

    def latest(self) -> DoaFrame | None:
        """DOA of the newest full window (ending at the newest sample), or None before enough audio."""
        end_s = self.buffer.end_s
        return None if end_s is None else self.at(end_s - 0.5 * self.window_s)
