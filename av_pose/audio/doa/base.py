"""Shared machinery of the DOA estimators: band selection, steering, batching and results."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from av_pose.audio.arrays import MicArray
from av_pose.audio.doa.grid import DirectionGrid, steering_vectors
from av_pose.audio.doa.peaks import find_circular_peaks
from av_pose.audio.stft import as_batch, default_nfft, stft
from av_pose.errors import UserInputError


@dataclass(frozen=True)
class DoaResult:
    """DOA of a batch of B windows, K sources each.

    Attributes:
        spectrum: B×360 float32 in [0, 1]; bin i is the azimuth sector [i°, i+1°) counter-clockwise from
            the array's +x axis, min-max normalised per window.
        azimuths_deg: B×K source azimuths in [0, 360), strongest first; NaN where fewer peaks exist.
        confidence: B×K in [0, 1]: 1 − median / peak of the un-normalised spectrum (0 for a flat spectrum).
        elevations_deg: B×K elevation of each source, degrees up from the array's x-y plane: the best grid
            elevation at the source's azimuth (0 on the default horizontal grid; NaN where no source).
    """

    spectrum: np.ndarray
    azimuths_deg: np.ndarray
    confidence: np.ndarray
    elevations_deg: np.ndarray


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' → CUDA when available, else CPU; anything else as given (UserInputError if unusable)."""
    if str(device) == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise UserInputError(f'unknown torch device {device!r} (use auto, cpu or cuda)') from err
    if resolved.type == 'cuda' and not torch.cuda.is_available():
        raise UserInputError(f'device {device} requested but no CUDA device is available (use auto or cpu)')
    return resolved


class DoaEstimator(ABC):
    """Direction-of-arrival estimation on a fixed direction grid, batched over windows.

    Steering vectors for the frequency band are computed once here; subclasses implement
    `grid_spectrum`, mapping band-limited STFT frames to one non-negative value per grid direction.

    Args:
        array: The microphone array (positions in the array frame).
        sample_rate: Audio sample rate, Hz.
        nfft: FFT length; default `default_nfft(sample_rate)`. Hop is nfft / 2.
        freq_range_hz: Band used, [low, high) Hz; bins are round(f·nfft/fs) as in pyroomacoustics.
        num_sources: K, sources to report (and the signal-subspace size of MUSIC).
        min_separation_deg: Minimum azimuth distance between reported sources.
        grid: Search grid; default 0.5° azimuth steps in the horizontal plane.
        device: 'cpu', 'cuda', 'auto' or a torch device.
    """

    name: ClassVar[str]
    supports_foa: ClassVar[bool] = True
    supports_pressure: ClassVar[bool] = True

    def __init__(self, array: MicArray, sample_rate: float, *, nfft: int | None = None,
                 freq_range_hz: tuple[float, float] = (500.0, 4000.0), num_sources: int = 1,
                 min_separation_deg: float = 20.0, grid: DirectionGrid | None = None,
                 device: str | torch.device = 'cpu') -> None:
        kind_ok = self.supports_foa if array.kind == 'foa' else self.supports_pressure
        if not kind_ok:
            raise UserInputError(f'method {self.name} does not support {array.kind} array {array.name!r}')
        if num_sources < 1 or num_sources >= array.num_channels:
            raise UserInputError(f'num_sources must be in [1, {array.num_channels - 1}] for {array.name}, '
                                 f'got {num_sources}')
        low, high = float(freq_range_hz[0]), float(freq_range_hz[1])
        if not 0.0 <= low < high <= sample_rate / 2.0:
            raise UserInputError(f'freq_range_hz must satisfy 0 <= low < high <= {sample_rate / 2:g} Hz, '
                                 f'got [{low:g}, {high:g}]')
        self.array = array
        self.sample_rate = float(sample_rate)
        self.nfft = int(nfft or default_nfft(sample_rate))
        self.num_sources = int(num_sources)
        self.min_separation_deg = float(min_separation_deg)
        self.grid = grid or DirectionGrid()
        self.device = resolve_device(device)
        first, last = (int(round(f * self.nfft / self.sample_rate)) for f in (low, high))
        self.freq_bins = np.arange(max(first, 1), min(last, self.nfft // 2 + 1))
        if self.freq_bins.size == 0:
            raise UserInputError(f'no FFT bin falls in [{low:g}, {high:g}) Hz with nfft {self.nfft}')
        freqs_hz = self.freq_bins * self.sample_rate / self.nfft
        steering = steering_vectors(array, self.grid, freqs_hz)  # F×G×C
        self.prepare_steering(torch.as_tensor(steering, dtype=torch.complex64, device=self.device))

    def release(self) -> None:
        """Free the steering tensors (and cached CUDA memory); the estimator is unusable afterwards."""
        for name, value in list(vars(self).items()):
            if isinstance(value, torch.Tensor):
                delattr(self, name)
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()

    def prepare_steering(self, steering: torch.Tensor) -> None:
        """Keep what `grid_spectrum` needs of the F×G×C steering vectors (set-up, once); default: all of it."""
        self.steering = steering

    @abstractmethod
    def grid_spectrum(self, band_stft: torch.Tensor) -> torch.Tensor:
        """Band-limited STFT B×C×F×N (complex) → B×G non-negative grid values."""

    def stft(self, audio: np.ndarray | torch.Tensor) -> torch.Tensor:
        """C×T or B×C×T audio → B×C×(nfft/2+1)×N STFT on this estimator's device."""
        batch = as_batch(audio, self.device)
        if batch.shape[1] != self.array.num_channels:
            raise UserInputError(f'audio has {batch.shape[1]} channels, array {self.array.name} has '
                                 f'{self.array.num_channels}')
        return stft(batch, self.nfft)

    def estimate(self, audio: np.ndarray | torch.Tensor) -> DoaResult:
        """DOA of C×T or B×C×T audio windows sampled at `sample_rate`."""
        return self.estimate_stft(self.stft(audio))

    @torch.no_grad()
    def estimate_stft(self, spectrogram: np.ndarray | torch.Tensor) -> DoaResult:
        """DOA from a full-band STFT B×C×(nfft/2+1)×N (or C×F×N), e.g. the one pyroomacoustics is given."""
        values = self.grid_values(spectrogram)
        return self.result_from_grid(values)

    @torch.no_grad()
    def grid_values(self, spectrogram: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Un-normalised B×G grid spectrum of a full-band STFT."""
        spec = torch.as_tensor(spectrogram, device=self.device)
        if spec.ndim == 3:
            spec = spec[None]
        if spec.shape[2] != self.nfft // 2 + 1:
            raise ValueError(f'STFT has {spec.shape[2]} bins, expected {self.nfft // 2 + 1}')
        band = spec[:, :, self.freq_bins[0]:self.freq_bins[-1] + 1].to(torch.complex64).contiguous()
        return self.grid_spectrum(band)

    def result_from_grid(self, values: torch.Tensor) -> DoaResult:
        """Sector spectrum, peaks and confidences from B×G grid values."""
        values = torch.nan_to_num(values.float(), nan=0.0, posinf=0.0).clamp_min(0.0)
        sectors = self.grid.to_sectors(values)
        low, high = sectors.amin(1, keepdim=True), sectors.amax(1, keepdim=True)
        spectrum = ((sectors - low) / (high - low).clamp_min(1e-12)).cpu().numpy().astype(np.float32)
        profile = self.grid.azimuth_profile(values).cpu().numpy().astype(np.float64)
        azimuths, indices = find_circular_peaks(profile, self.grid.step_deg, self.grid.offset_deg,
                                                self.num_sources, self.min_separation_deg)
        peak_values = np.take_along_axis(profile, np.maximum(indices, 0), axis=1)
        median = np.median(profile, axis=1, keepdims=True)
        confidence = np.where(indices >= 0, 1.0 - median / np.maximum(peak_values, 1e-30), np.nan)
        by_elevation = values.reshape(values.shape[0], *self.grid.shape).cpu().numpy()  # B×E×A
        best = np.take_along_axis(by_elevation.argmax(1), np.maximum(indices, 0), axis=1)  # B×K
        elevations = np.where(indices >= 0, np.asarray(self.grid.elevations_deg, dtype=float)[best], np.nan)
        return DoaResult(spectrum, azimuths, np.clip(confidence, 0.0, 1.0).astype(np.float32), elevations)


def covariance(band_stft: torch.Tensor) -> torch.Tensor:
    """Spatial covariance per frequency, mean over frames of x xᴴ: B×C×F×N → B×F×C×C."""
    frames = band_stft.permute(0, 2, 1, 3)  # B×F×C×N
    return frames @ frames.conj().transpose(-1, -2) / frames.shape[-1]


def quadratic_form(matrices: torch.Tensor, steering: torch.Tensor) -> torch.Tensor:
    """Re(aᴴ M a) for every frequency and grid direction: M B×F×C×C, a F×G×C → B×F×G."""
    weighted = matrices @ steering.transpose(-1, -2)  # B×F×C×G
    return (steering.conj().transpose(-1, -2) * weighted).sum(-2).real
