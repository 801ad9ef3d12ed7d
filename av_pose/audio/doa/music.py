"""MUSIC and frequency-normalised MUSIC (NormMUSIC, the AV-pose paper's "MUSIC++").

Per frequency f the spatial covariance R_f = E[x xᴴ] is split into a K-dimensional signal subspace
(largest eigenvalues) and its complement E_n; the pseudo-spectrum is 1 / ‖E_nᴴ a(f, u)‖². MUSIC sums it
over frequencies, which lets a few strong bins dominate; NormMUSIC (Salvati et al., 2014) first divides
each frequency's pseudo-spectrum by its maximum over the grid, so all bins vote equally.
"""
from __future__ import annotations

import torch

from av_pose.audio.doa.base import DoaEstimator, covariance


class Music(DoaEstimator):
    """MUSIC, summed incoherently over the frequency band."""

    name = 'music'
    normalize_frequencies = False

    def pseudo_spectra(self, band_stft: torch.Tensor) -> torch.Tensor:
        """B×C×F×N band STFT → B×F×G pseudo-spectra 1 / ‖E_nᴴ a‖²."""
        _, eigenvectors = torch.linalg.eigh(covariance(band_stft))  # eigenvalues ascending
        noise = eigenvectors[..., : eigenvectors.shape[-1] - self.num_sources]  # B×F×C×(C−K)
        projections = noise.conj().transpose(-1, -2) @ self.steering.transpose(-1, -2)  # B×F×(C−K)×G
        residual = (projections.real ** 2 + projections.imag ** 2).sum(-2)
        return 1.0 / residual.clamp_min(1e-12)

    def grid_spectrum(self, band_stft: torch.Tensor) -> torch.Tensor:
        """Mean over frequency of the (optionally max-normalised) pseudo-spectra: B×G."""
        spectra = self.pseudo_spectra(band_stft)
        if self.normalize_frequencies:
            spectra = spectra / spectra.amax(-1, keepdim=True)
        return spectra.mean(1)


class NormMusic(Music):
    """MUSIC with frequency normalisation (NormMUSIC / "MUSIC++")."""

    name = 'normmusic'
    normalize_frequencies = True
