"""MUSIC and frequency-normalised MUSIC (NormMUSIC, the AV-pose paper's "MUSIC++").

Per frequency f the spatial covariance R_f = E[x xᴴ] is split into a K-dimensional signal subspace E_s
(largest eigenvalues) and its complement, the noise subspace E_n; the pseudo-spectrum is
1 / ‖E_nᴴ a(f, u)‖². Whichever subspace is smaller is projected on: 1 / (‖a‖² − ‖E_sᴴ a‖²) when
K < C/2 (for K = 1 the dominant eigenvector comes from a few squarings of R, no eigendecomposition),
1 / ‖E_nᴴ a‖² otherwise. MUSIC averages the pseudo-spectra over frequencies, which lets a few strong bins
dominate; NormMUSIC (Salvati et al., 2014) first divides each frequency's pseudo-spectrum by its maximum
over the grid, so all bins vote equally.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from av_pose.audio.arrays import MicArray
from av_pose.audio.doa.base import DoaEstimator
from av_pose.errors import UserInputError

SQUARINGS = 6  # R^(2^6) = R^64: the second eigenvalue's share shrinks by (λ2/λ1)^64
RENORMALISE_EVERY = 3  # trace-normalise every 3 squarings: λ1^8 ≥ C^-8 stays far from float32 underflow
SUBSPACES = ('auto', 'signal', 'noise')
LANES_MAX_CHANNELS = 4  # up to this many channels, square matrices elementwise across the batch


def dominant_eigenvector(cov: torch.Tensor, buffer: Callable[..., torch.Tensor]) -> torch.Tensor:
    """Dominant eigenvector of Hermitian PSD M×C×C matrices → M×C, not normalised (arbitrary phase and norm).

    R^64 by repeated squaring with trace normalisation is ≈ λ1^64 e eᴴ, whose strongest column (the largest
    diagonal entry) is e up to scale and phase: a few batched C×C products instead of an eigendecomposition.
    For C ≤ 4 the matrices are held C×C×M and multiplied elementwise across the batch (faster than a batched
    matmul of tiny matrices). `buffer(name, shape, dtype)` supplies the workspace.
    """
    count, channels, _ = cov.shape
    lanes = channels <= LANES_MAX_CHANNELS
    shape = (channels, channels, count) if lanes else cov.shape
    power, spare = (buffer(name, shape, cov.dtype) for name in ('power', 'spare'))
    products = buffer('products', (channels, channels, channels, count), cov.dtype) if lanes else None
    diagonal = (lambda m: m.diagonal(dim1=0, dim2=1)) if lanes else (lambda m: m.diagonal(dim1=-2, dim2=-1))
    power.copy_(cov.permute(1, 2, 0) if lanes else cov)
    for step in range(SQUARINGS + 1):
        if step % RENORMALISE_EVERY == 0 and step < SQUARINGS:
            trace = diagonal(power).real.sum(-1).clamp_min_(1e-30)
            power.div_(trace if lanes else trace[:, None, None])
        if step == SQUARINGS:
            break
        if lanes:  # out[i, j] = Σ_k P[i, k] P[k, j], every matrix at once
            torch.sum(torch.mul(power[:, :, None], power[None], out=products), 1, out=spare)
        else:
            torch.bmm(power, power, out=spare)
        power, spare = spare, power
    strongest = diagonal(power).real.max(-1).indices  # M
    if lanes:
        return power.gather(1, strongest.expand(channels, 1, count))[:, 0].t()
    return power.gather(2, strongest[:, None, None].expand(count, channels, 1))[..., 0]


class Music(DoaEstimator):
    """MUSIC, averaged incoherently over the frequency bins.

    Args (besides DoaEstimator's):
        subspace: 'auto' (the smaller of the two), 'signal' or 'noise': which subspace the steering vectors
            are projected on. Both give the same spectrum up to rounding.
    """

    name = 'music'
    normalize_frequencies = False

    def __init__(self, array: MicArray, sample_rate: float, *, subspace: str = 'auto', **options) -> None:
        if subspace not in SUBSPACES:
            raise UserInputError(f'subspace must be one of {", ".join(SUBSPACES)}, got {subspace!r}')
        super().__init__(array, sample_rate, **options)
        use_signal = subspace == 'signal' or (subspace == 'auto' and 2 * self.signal_dim < array.num_channels)
        self.subspace = 'signal' if use_signal else 'noise'

    def prepare_steering(self, steering: torch.Tensor) -> None:
        """Keep the steering vectors in real form for one real matmul per frequency, and ‖a‖².

        With the basis vector e stored interleaved [Re e_0, Im e_0, Re e_1, ...], `_steering_real` (F×2C×2G)
        maps it to [Re(eᴴa) for all G, Im(eᴴa) for all G].
        """
        real, imag = steering.real.transpose(-1, -2), steering.imag.transpose(-1, -2)  # F×C×G
        rows_re = torch.cat([real, imag], -1)  # coefficient of Re e_c
        rows_im = torch.cat([imag, -real], -1)  # coefficient of Im e_c
        self._steering_real = torch.stack([rows_re, rows_im], 2).flatten(1, 2).contiguous()  # F×2C×2G
        self._steering_power = steering.abs().square().sum(-1)[:, None, :].contiguous()  # F×1×G, ‖a‖²
        self._residual_floor = 1e-6 * self._steering_power

    def subspace_basis(self, cov: torch.Tensor) -> torch.Tensor:
        """Basis M×C×k of the signal (k = K) or noise (k = C − K) subspace of M×C×C covariances.

        Orthonormal, except for K = 1 on the signal side: one dominant eigenvector, normalised by the caller.
        """
        channels = cov.shape[-1]
        if self.subspace == 'signal' and self.signal_dim == 1:
            return dominant_eigenvector(cov, self.buffer)[..., None]
        vectors = torch.linalg.eigh(cov)[1]  # eigenvalues ascending
        if self.subspace == 'signal':
            return vectors[..., channels - self.signal_dim:]
        return vectors[..., :channels - self.signal_dim]

    def residuals(self, band_stft: torch.Tensor) -> torch.Tensor:
        """B×F×C×N band STFT → F×B×G values ‖E_nᴴ a‖² (the pseudo-spectra's reciprocals), in the workspace."""
        batch, freqs, channels, frames = band_stft.shape
        stacked = band_stft.view(batch * freqs, channels, frames)
        conj = self.buffer('conj', stacked.shape, stacked.dtype)
        torch.conj_physical(stacked, out=conj)
        cov = self.buffer('cov', (batch * freqs, channels, channels), stacked.dtype)
        torch.bmm(stacked, conj.transpose(1, 2), out=cov)  # R·N; the scale does not move the subspaces
        basis = self.subspace_basis(cov)  # BF×C×k
        k = basis.shape[-1]
        left = self.buffer('left', (freqs, batch, k, channels), basis.dtype)
        left.copy_(basis.reshape(batch, freqs, channels, k).permute(1, 0, 3, 2))
        left_real = torch.view_as_real(left).view(freqs, batch * k, 2 * channels)
        if k == 1 and self.subspace == 'signal':
            left_real.div_(torch.linalg.vector_norm(left_real, dim=-1, keepdim=True).clamp_min_(1e-30))
        grid = self._steering_power.shape[-1]
        parts = self.buffer('parts', (freqs, batch * k, 2 * grid))
        torch.bmm(left_real, self._steering_real, out=parts)
        parts.mul_(parts)
        energy = self.buffer('energy', (freqs, batch * k, grid))
        torch.add(parts[..., :grid], parts[..., grid:], out=energy)  # |eᴴa|² per basis vector
        if k > 1:
            energy = torch.sum(energy.view(freqs, batch, k, grid), 2, out=self.buffer('sum', (freqs, batch, grid)))
        if self.subspace == 'signal':
            torch.sub(self._steering_power, energy, out=energy)  # ‖a‖² − ‖E_sᴴ a‖²
        return torch.maximum(energy, self._residual_floor, out=energy)

    def grid_spectrum(self, band_stft: torch.Tensor) -> torch.Tensor:
        """Mean over frequency of the (optionally max-normalised) pseudo-spectra: B×G."""
        residual = self.residuals(band_stft)  # F×B×G
        freqs = residual.shape[0]
        if self.normalize_frequencies:  # (1/r) / max_g(1/r) = min_g(r) / r
            weights = residual.amin(-1).div_(freqs)  # F×B
        else:
            weights = residual.new_full(residual.shape[:2], 1.0 / freqs)
        inverse = residual.reciprocal_()
        return torch.bmm(weights.t()[:, None, :], inverse.permute(1, 0, 2))[:, 0]  # B×G, Σ_f w·(1/r)


class NormMusic(Music):
    """MUSIC with frequency normalisation (NormMUSIC / "MUSIC++")."""

    name = 'normmusic'
    normalize_frequencies = True
