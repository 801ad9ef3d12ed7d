"""The learned SLfM azimuth as a DOA method (`method: slfm`): same outputs as the spectrum-based estimators.

Two microphones cannot give a 360-bin DOA spectrum; the SLfM audio network gives one azimuth per window. The
`DoaResult` it returns carries that azimuth as the single source and, as the spectrum, a peak of the predicted
angle shaped by `PEAK_WIDTH_DEG` (a von Mises bump, min-max normalised like every other spectrum), so that
`doa_node` publishes the same LaserScan, PoseArray and markers and the tracker works unchanged. Silent windows
(RMS below `SILENCE_RMS`) give no source (NaN) and a flat spectrum.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from av_pose.audio.arrays import MicArray
from av_pose.audio.doa.base import DoaResult, resolve_device
from av_pose.audio.doa.grid import DirectionGrid
from av_pose.audio.stft import as_batch
from av_pose.errors import UserInputError
from av_pose.models.slfm import load_slfm_azimuth

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SHIPPED_SLFM = {'slfm-tiny': 'weights/slfm-tiny.pt'}
DEFAULT_SLFM = 'slfm-tiny'
PEAK_WIDTH_DEG = 10.0
SILENCE_RMS = 1e-4


def resolve_slfm_model(name_or_path: str | None) -> Path:
    """A shipped SLfM model name (default `slfm-tiny`) or a checkpoint path → the checkpoint file."""
    spec = name_or_path or DEFAULT_SLFM
    path = PACKAGE_DIR / SHIPPED_SLFM[spec] if spec in SHIPPED_SLFM else Path(spec).expanduser()
    if not path.is_file():
        shipped = ', '.join(SHIPPED_SLFM)
        raise UserInputError(f'SLfM model {spec!r}: no such file (shipped: {shipped}; or give a checkpoint path '
                             'from `av-pose train config/train/slfm-tiny.yaml`)')
    return path


class SlfmDoaEstimator:
    """Learned azimuth of 2-channel audio (row 0 = left microphone), batched, with the DoaEstimator interface.

    Args:
        array: A 2-channel array (the `binaural` preset or a stereo pair); azimuths are in its frame (REP-103:
            counter-clockwise from +x, left positive).
        sample_rate: Audio rate, Hz (resampled to 16 kHz inside).
        model: Shipped name or checkpoint path (default the shipped `slfm-tiny`).
        device: 'cpu', 'cuda' or 'auto'.
        num_sources: Must be 1 (the network predicts one azimuth).
    """

    name = 'slfm'

    def __init__(self, array: MicArray, sample_rate: float, *, model: str | None = None,
                 device: str | torch.device = 'cpu', num_sources: int = 1, **_unused: object) -> None:
        if array.num_channels != 2:
            raise UserInputError(f'method slfm needs a 2-channel array (binaural or a stereo pair); '
                                 f'{array.name} has {array.num_channels}')
        if num_sources != 1:
            raise UserInputError(f'method slfm predicts one azimuth per window, not {num_sources}')
        self.array, self.sample_rate, self.num_sources = array, float(sample_rate), 1
        self.nfft = int(round(512 * self.sample_rate / 16000))  # the network's STFT length, at this rate
        self.device = resolve_device(device)
        self.grid = DirectionGrid()
        self.speed_of_sound = float('nan')  # learned: no propagation model
        self.model_path = resolve_slfm_model(model)
        self._predict = load_slfm_azimuth(self.model_path, self.device)
        self._bins = np.arange(360) + 0.5

    def estimate(self, audio: np.ndarray | torch.Tensor) -> DoaResult:
        """DOA of 2×N or B×2×N audio windows: one azimuth each, its confidence, a peak-shaped spectrum."""
        batch = as_batch(audio, 'cpu')
        if batch.shape[1] != 2:
            raise UserInputError(f'audio has {batch.shape[1]} channels, method slfm needs 2')
        azimuth = np.mod(self._predict(batch, int(self.sample_rate)), 360.0)
        rms = torch.nan_to_num(batch).square().mean((1, 2)).sqrt().numpy()
        heard = rms > SILENCE_RMS
        kappa = 1.0 / np.radians(PEAK_WIDTH_DEG) ** 2
        spectrum = np.exp(kappa * (np.cos(np.radians(self._bins[None] - azimuth[:, None])) - 1.0))
        spectrum = np.where(heard[:, None], spectrum, 0.0)
        low, high = spectrum.min(1, keepdims=True), spectrum.max(1, keepdims=True)
        spectrum = (spectrum - low) / np.maximum(high - low, 1e-12)
        return DoaResult(spectrum.astype(np.float32), np.where(heard, azimuth, np.nan)[:, None],
                         heard.astype(np.float32)[:, None], np.where(heard, 0.0, np.nan)[:, None])

    def release(self) -> None:
        """Drop the network (and cached CUDA memory)."""
        self._predict = None
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()
