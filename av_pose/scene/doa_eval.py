"""DOA on a scene's audio through the streaming path, scored against the scene's ground truth."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from av_pose.audio.doa import DoaEstimator
from av_pose.audio.streaming import StreamingDoa
from av_pose.errors import UserInputError
from av_pose.metrics.azimuth import azimuth_abs_error_deg
from av_pose.scene.format import SceneRecord


@dataclass(frozen=True)
class SceneDoaTrack:
    """Streaming DOA over a scene and its ground truth at the same instants.

    Attributes:
        times_s: W window centres (scene time, seconds).
        spectra: W×360 DOA spectra in [0, 1].
        azimuths_deg: W×K estimated azimuths (array frame).
        confidence: W×K confidences in [0, 1].
        true_azimuths_deg: W×S ground-truth azimuths of the scene's sources, NaN while silent/diffuse.
        errors_deg: W error of the strongest estimate to the nearest active source (NaN if none is active).
    """

    times_s: np.ndarray
    spectra: np.ndarray
    azimuths_deg: np.ndarray
    confidence: np.ndarray
    true_azimuths_deg: np.ndarray
    errors_deg: np.ndarray

    @property
    def mae_deg(self) -> float:
        """Mean absolute azimuth error over windows with an active source, degrees."""
        valid = np.isfinite(self.errors_deg)
        return float(self.errors_deg[valid].mean()) if valid.any() else float('nan')


def stream_scene_doa(record: SceneRecord, estimator: DoaEstimator, window_s: float = 1.0,
                     update_s: float = 0.1, chunk_s: float = 0.032) -> SceneDoaTrack:
    """Feed the scene audio in `chunk_s` chunks to StreamingDoa, estimate every `update_s`, score each window."""
    audio = record.audio()
    fs = record.sample_rate
    streaming = StreamingDoa(estimator, window_s=window_s)
    chunk, next_update = max(1, int(round(chunk_s * fs))), window_s
    frames = []
    for start in range(0, audio.shape[1], chunk):
        block = audio[:, start:start + chunk]
        streaming.push(block, start / fs)
        if (start + block.shape[1]) / fs + 1e-9 >= next_update:
            next_update += update_s
            frame = streaming.latest()
            if frame is not None:
                frames.append(frame)
    if not frames:
        raise UserInputError(f'the scene ({audio.shape[1] / fs:.2f} s) is shorter than one {window_s:g} s window')
    times = np.array([f.stamp_s for f in frames])
    truth = np.stack([record.source_azimuths_deg(t) for t in times])
    estimates = np.stack([f.azimuths_deg for f in frames])
    with np.errstate(invalid='ignore'):
        differences = azimuth_abs_error_deg(estimates[:, :1], truth)  # NaN where no estimate or no active source
    errors = np.min(np.where(np.isfinite(differences), differences, np.inf), axis=1)
    errors[~np.isfinite(errors)] = np.nan
    confidence = np.stack([f.confidence for f in frames])
    return SceneDoaTrack(times, np.stack([f.spectrum for f in frames]), estimates, confidence, truth, errors)
