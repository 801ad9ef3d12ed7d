"""Steered response power with phase transform (SRP-PHAT).

Every STFT bin is whitened to unit magnitude (PHAT), the covariance of the whitened frames R_f is
formed, and the power steered towards u is Σ_f aᴴ(f, u) R_f a(f, u) — the same quantity pyroomacoustics
computes pair by pair.
"""
from __future__ import annotations

import torch

from av_pose.audio.doa.base import DoaEstimator, covariance, quadratic_form


class SrpPhat(DoaEstimator):
    """SRP-PHAT over the frequency band."""

    name = 'srp_phat'
    whitening_floor = 1e-14

    def prepare_steering(self, steering: torch.Tensor) -> None:
        """Keep pressure arrays' steering vectors by their phase only, as PHAT hears; FOA harmonics as they are.

        Free-field vectors already have unit modulus; those of ears on a head (`MicArray.head_radius_m`) do not.
        """
        self.steering = steering / steering.abs().clamp_min(1e-30) if self.array.kind == 'pressure' else steering

    def grid_spectrum(self, band_stft: torch.Tensor) -> torch.Tensor:
        """Mean over frequency of the steered PHAT power: B×F×C×N band STFT → B×G."""
        whitened = band_stft / band_stft.abs().clamp_min(self.whitening_floor)
        return quadratic_form(covariance(whitened), self.steering).mean(1)
