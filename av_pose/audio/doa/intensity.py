"""DOA from first-order ambisonics by pseudo-intensity vectors.

For B-format input (AmbiX: W, Y, Z, X) the active intensity of each time-frequency bin points
towards its dominant source: I = Re(W* · [X, Y, Z]). A histogram of the bins' directions, weighted by
‖I‖ and smoothed with a von Mises kernel along azimuth, is the spatial spectrum.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from av_pose.audio.doa.base import DoaEstimator
from av_pose.audio.doa.grid import DirectionGrid
from av_pose.errors import UserInputError


class PseudoIntensity(DoaEstimator):
    """Pseudo-intensity-vector DOA for FOA arrays."""

    name = 'intensity'
    supports_pressure = False
    kernel_width_deg = 4.0

    def prepare_steering(self, steering: torch.Tensor) -> None:
        """Intensity vectors point at the source directly: no steering vectors are kept."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.grid, DirectionGrid):
            raise UserInputError('method intensity searches azimuth × elevation grids only; use normmusic for '
                                 'a sphere grid')
        offsets = np.deg2rad(self.grid.step_deg * np.arange(self.grid.shape[1]))
        kappa = 1.0 / math.radians(self.kernel_width_deg) ** 2
        kernel = np.exp(kappa * (np.cos(offsets) - 1.0))
        self._kernel_fft = torch.fft.rfft(torch.as_tensor(kernel / kernel.sum(), dtype=torch.float32,
                                                          device=self.device))
        self._elevations = torch.as_tensor(np.deg2rad(self.grid.elevations_deg), dtype=torch.float32,
                                           device=self.device)

    def grid_spectrum(self, band_stft: torch.Tensor) -> torch.Tensor:
        """B×F×4×N B-format band STFT → B×G smoothed intensity-direction histogram."""
        omni, y, z, x = band_stft.unbind(2)
        intensity = torch.stack([(omni.conj() * c).real for c in (x, y, z)], -1).flatten(1, 2)  # B×FN×3
        weight = intensity.norm(dim=-1)
        azimuth = torch.atan2(intensity[..., 1], intensity[..., 0])
        elevation = torch.atan2(intensity[..., 2], intensity[..., :2].norm(dim=-1))
        elevations, azimuths = self.grid.shape
        az_index = torch.round((torch.rad2deg(azimuth) % 360.0 - self.grid.offset_deg) / self.grid.step_deg)
        az_index = az_index.long() % azimuths
        el_index = (elevation[..., None] - self._elevations).abs().argmin(-1)
        histogram = torch.zeros(band_stft.shape[0], elevations * azimuths, device=band_stft.device)
        histogram.scatter_add_(1, el_index * azimuths + az_index, weight)
        rows = histogram.reshape(-1, elevations, azimuths)
        smoothed = torch.fft.irfft(torch.fft.rfft(rows, dim=-1) * self._kernel_fft, n=azimuths, dim=-1)
        return smoothed.reshape(band_stft.shape[0], -1).clamp_min(0.0)
