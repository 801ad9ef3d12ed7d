"""MUSIC and frequency-normalised MUSIC (NormMUSIC, the AV-pose paper's "MUSIC++").

Per frequency f the spatial covariance R_f = E[x xᴴ] is split into a K-dimensional signal subspace E_s
(largest eigenvalues) and its complement E_n; the pseudo-spectrum is 1 / ‖E_nᴴ a(f, u)‖², computed as
1 / (‖a‖² − ‖E_sᴴ a‖²). MUSIC averages it over frequencies, which lets a few strong bins dominate;
NormMUSIC (Salvati et al., 2014) first divides each frequency's pseudo-spectrum by its maximum over the
grid, so all bins vote equally.
"""
from __future__ import annotations

import torch

from av_pose.audio.doa.base import DoaEstimator, covariance

SQUARINGS = 6  # R^(2^6) = R^64: the second eigenvalue's share shrinks by (λ2/λ1)^64


def signal_subspace(cov: torch.Tensor, num_sources: int) -> torch.Tensor:
    """Orthonormal basis of the K dominant eigenvectors of Hermitian B×F×C×C matrices → B×F×C×K.

    For K = 1 the dominant eigenvector is the strongest column of R^64 (repeated squaring with trace
    normalisation): a handful of tiny batched matmuls instead of a full eigendecomposition per bin.
    """
    if num_sources > 1:
        return torch.linalg.eigh(cov)[1][..., -num_sources:]
    power = cov
    for _ in range(SQUARINGS):
        trace = power.diagonal(dim1=-2, dim2=-1).real.sum(-1).clamp_min(1e-30)
        power = power / trace[..., None, None]
        power = power @ power
    norms = power.real.square().add(power.imag.square()).sum(-2)  # B×F×C, column energies
    column = power.gather(-1, norms.argmax(-1)[..., None, None].expand(*power.shape[:-1], 1))
    return column / torch.linalg.vector_norm(column, dim=-2, keepdim=True).clamp_min(1e-30)


class Music(DoaEstimator):
    """MUSIC, averaged incoherently over the frequency band."""

    name = 'music'
    normalize_frequencies = False

    def prepare_steering(self, steering: torch.Tensor) -> None:
        """Keep the real form of the steering vectors for one real matmul per frequency, and ‖a‖²."""
        steering = steering.transpose(-1, -2)  # F×C×G
        # Real form of aᴴe for a real matmul: [Re e, Im e] · [[Re a, Im a], [Im a, −Re a]] = [Re aᴴe, −Im aᴴe]
        self._steering_real = torch.cat([torch.cat([steering.real, steering.imag], -1),
                                         torch.cat([steering.imag, -steering.real], -1)], -2)  # F×2C×2G
        self._steering_power = steering.abs().square().sum(-2)  # F×G, ‖a‖²

    def pseudo_spectra(self, band_stft: torch.Tensor) -> torch.Tensor:
        """B×C×F×N band STFT → B×F×G pseudo-spectra 1 / ‖E_nᴴ a‖²."""
        subspace = signal_subspace(covariance(band_stft), self.num_sources)  # B×F×C×K
        batch, freqs, channels, k = subspace.shape
        left = subspace.permute(1, 0, 3, 2).reshape(freqs, batch * k, channels)
        left = torch.cat([left.real, left.imag], -1)  # F×BK×2C
        parts = torch.bmm(left, self._steering_real).reshape(freqs, batch, k, 2, -1)
        captured = parts.square().sum((2, 3)).transpose(0, 1)  # B×F×G, ‖E_sᴴ a‖²
        residual = self._steering_power - captured
        return 1.0 / residual.clamp_min(1e-6 * self._steering_power)

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
