"""MUSIC and frequency-normalised MUSIC (NormMUSIC, the AV-pose paper's "MUSIC++").

Per frequency f the spatial covariance R_f = E[x xᴴ] is split into a K-dimensional signal subspace E_s
(largest eigenvalues) and its complement, the noise subspace E_n; the pseudo-spectrum is
1 / ‖E_nᴴ a(f, u)‖². Whichever subspace is smaller is computed: E_s when K < C/2 (for K = 1 from a few
squarings of R, no eigendecomposition), E_n otherwise. With up to `QUADRATIC_MAX_CHANNELS` microphones the
residual is the quadratic form aᴴ Q a of the noise projector Q = E_n E_nᴴ = I − E_s E_sᴴ, whose C² real
coefficients meet precomputed products of steering entries in one real matmul per frequency (for K = 1,
Q = I − R^64 / tr R^64 needs no eigenvector at all); with more microphones the steering vectors are projected
on the smaller subspace, 1 / (‖a‖² − ‖E_sᴴ a‖²) or 1 / ‖E_nᴴ a‖².

MUSIC averages the pseudo-spectra over frequencies, which lets a few strong bins dominate; NormMUSIC
(Salvati et al., 2014) first divides each frequency's pseudo-spectrum by its maximum over the grid, so all
bins vote equally.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from av_pose.audio.arrays import MicArray
from av_pose.audio.doa.base import FRAMES_INNERMOST, FREQUENCY_INNERMOST, DoaEstimator
from av_pose.errors import UserInputError

SQUARINGS = 6  # R^(2^6) = R^64: the second eigenvalue's share shrinks by (λ2/λ1)^64
VECTOR_SQUARINGS = 4  # for the eigenvector alone: R^16 by squaring, then R^16 applied thrice to one column
RENORMALISE_EVERY = 3  # trace-normalise every 3 squarings: λ1^8 ≥ C^-8 stays far from float32 underflow
SUBSPACES = ('auto', 'signal', 'noise')
LANES_MAX_CHANNELS = 4  # up to this many channels, covariances and their squares are elementwise across the batch
QUADRATIC_MAX_CHANNELS = LANES_MAX_CHANNELS
"""Up to this many channels the residual is the quadratic form aᴴ Q a (C² coefficients, C² − C + 1 with free-field
steering); above, a projection.
Tied to the lanes layout: `_quadratic_residuals` works on `lanes_covariance`'s C×C×M matrices."""


def lanes_covariance(band_stft: torch.Tensor, buffer: Callable[..., torch.Tensor]) -> torch.Tensor:
    """Covariances Σ_n x xᴴ (unscaled) of a B×F×C×N band STFT as C×C×M lanes, M = B·F batch-major.

    Each of the C(C+1)/2 distinct entries is one product and one sum over frames with the B·F frequencies as
    SIMD lanes; the lower triangle is the conjugate of the upper. Fastest when frequency is innermost in
    memory (the band workspace's layout), and no transposition of the STFT is needed.
    """
    batch, freqs, channels, frames = band_stft.shape
    x = band_stft.permute(0, 2, 3, 1)  # B×C×N×F
    conj = buffer('conj_lanes', x.shape, x.dtype)
    torch.conj_physical(x, out=conj)
    products = buffer('lane_products', (batch, frames, freqs), x.dtype)
    cov = buffer('cov_lanes', (channels, channels, batch, freqs), x.dtype)
    for row in range(channels):
        for column in range(row, channels):
            torch.sum(torch.mul(x[:, row], conj[:, column], out=products), 1, out=cov[row, column])
            if column != row:
                torch.conj_physical(cov[row, column], out=cov[column, row])
    return cov.view(channels, channels, batch * freqs)


def dominant_power(cov: torch.Tensor, buffer: Callable[..., torch.Tensor], lanes: bool = False,
                   squarings: int = SQUARINGS) -> torch.Tensor:
    """R^(2^s) / tr R^(2^s) (s = `squarings`; 64 ≈ e eᴴ, e the unit dominant eigenvector), in the workspace.

    Repeated squaring with trace normalisation. `lanes`: `cov` is C×C×M (C ≤ `LANES_MAX_CHANNELS`), squared
    elementwise across the batch (faster than a batched matmul of tiny matrices) and overwritten; the result
    is C×C×M. Otherwise `cov` is M×C×C, squared by batched matmuls, and the result M×C×C.
    `buffer(name, shape, dtype)` supplies the workspace.
    """
    if lanes:
        channels, _, count = cov.shape
        power, spare = cov, buffer('spare', cov.shape, cov.dtype)
        products = buffer('products', (channels, channels, channels, count), cov.dtype)
    else:
        power, spare = (buffer(name, cov.shape, cov.dtype) for name in ('power', 'spare'))
        power.copy_(cov)
    diagonal = (lambda m: m.diagonal(dim1=0, dim2=1)) if lanes else (lambda m: m.diagonal(dim1=-2, dim2=-1))
    for step in range(squarings + 1):
        if step % RENORMALISE_EVERY == 0 or step == squarings:
            scale = diagonal(power).real.sum(-1).clamp_min_(1e-30).reciprocal_()  # 1 / tr, applied to real views
            if lanes:  # lanes innermost: [Re, Im] of each lane take its scale twice
                torch.view_as_real(power).view(channels, channels, 2 * count).mul_(scale.repeat_interleave(2))
            else:
                torch.view_as_real(power).mul_(scale[:, None, None, None])
        if step == squarings:
            return power
        if lanes:  # out[i, j] = Σ_k P[i, k] P[k, j], every matrix at once
            torch.sum(torch.mul(power[:, :, None], power[None], out=products), 1, out=spare)
        else:
            torch.bmm(power, power, out=spare)
        power, spare = spare, power
    raise AssertionError('unreachable')


def dominant_eigenvector(cov: torch.Tensor, buffer: Callable[..., torch.Tensor]) -> torch.Tensor:
    """Dominant eigenvector of Hermitian PSD M×C×C matrices → M×C×1, not normalised (arbitrary phase and norm).

    R^64 e_j, e_j the axis of R^16's largest diagonal entry: R^16 by four squarings (`dominant_power`), then
    applied to its own column j three times (matrix-vector products cost 1/C of a squaring). The same vector
    as the strongest column of R^64, with (λ2/λ1)^64 of the second eigenvector left.
    """
    count, channels, _ = cov.shape
    power = dominant_power(cov, buffer, squarings=VECTOR_SQUARINGS)
    strongest = power.diagonal(dim1=-2, dim2=-1).real.max(-1).indices
    vector = power.gather(2, strongest[:, None, None].expand(count, channels, 1))
    spare = buffer('vector', vector.shape, vector.dtype)
    for _ in range(3):
        torch.bmm(power, vector, out=spare)
        vector, spare = spare, vector
    return vector


def frame_covariances(band_stft: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Covariances Σ_n x xᴴ (unscaled) of a B×F×C×N band STFT into `out` (B·F)×C×C, batch-major.

    Batched complex matrix products of each C×N matrix with its conjugate transpose, one per window when the band
    is not one stack of matrices in memory (the `FRAMES_INNERMOST` workspace). Frames should be unit-stride;
    otherwise torch copies each window's matrices first. torch 2.13 materialises the conjugate transpose (a copy
    of the band, 7 % of an 8-mic 48 kHz NormMUSIC); real products of the stacked real and imaginary parts, which
    need none, were slower with their gather (docs/results.md, stop 47).
    """
    batch, freqs, channels, frames = band_stft.shape
    try:
        stacked = band_stft.view(batch * freqs, channels, frames)
    except RuntimeError:  # windows and frequencies do not merge: one product per window
        for window in range(batch):
            matrices = band_stft[window]
            torch.bmm(matrices, matrices.mH, out=out[window * freqs:(window + 1) * freqs])
        return out
    return torch.bmm(stacked, stacked.mH, out=out)


class Music(DoaEstimator):
    """MUSIC, averaged incoherently over the frequency bins.

    Args (besides DoaEstimator's):
        subspace: 'auto' (the smaller of the two), 'signal' or 'noise': which subspace is computed. Both give
            the same spectrum up to rounding.
    """

    name = 'music'
    normalize_frequencies = False

    def __init__(self, array: MicArray, sample_rate: float, *, subspace: str = 'auto', **options) -> None:
        if subspace not in SUBSPACES:
            raise UserInputError(f'subspace must be one of {", ".join(SUBSPACES)}, got {subspace!r}')
        super().__init__(array, sample_rate, **options)
        use_signal = subspace == 'signal' or (subspace == 'auto' and 2 * self.signal_dim < array.num_channels)
        self.subspace = 'signal' if use_signal else 'noise'
        lanes = array.num_channels <= QUADRATIC_MAX_CHANNELS  # lanes_covariance; else frame_covariances
        self.band_memory_order = FREQUENCY_INNERMOST if lanes else FRAMES_INNERMOST

    def prepare_steering(self, steering: torch.Tensor) -> None:
        """Precompute, from the F×G×C steering vectors a, what `residuals` multiplies with.

        Quadratic form (C ≤ QUADRATIC_MAX_CHANNELS): `_quadratic_basis` F×C²×G holds, per direction, the rows
        |a_c|² (c < C), 2·Re(ā_c a_d) and −2·Im(ā_c a_d) (c < d), so that aᴴ Q a is the dot product with
        Q's coefficients [Q_cc, Re Q_cd, Im Q_cd]. When no |a_c|² depends on the direction (free-field
        capsules: all 1), the C rows |a_c|² become one row of ones whose coefficient is Σ_c Q_cc |a_c|²
        (`_channel_power` F×C): C − 1 fewer rows in the matmul. Projection (more channels): `_steering_real`
        F×2C×2G maps a basis vector e stored interleaved [Re e_0, Im e_0, Re e_1, ...] to [Re(eᴴa) for all G,
        Im(eᴴa) for all G]; `_steering_power` F×1×G is ‖a‖².
        """
        channels = steering.shape[-1]
        steering_power = steering.abs().square().sum(-1)[:, None, :]  # F×1×G
        self._residual_floor = 1e-6 * steering_power
        if channels <= QUADRATIC_MAX_CHANNELS:
            first, second = torch.triu_indices(channels, channels, 1, device=steering.device)
            cross = (steering[..., first].conj() * steering[..., second]).transpose(-1, -2)  # F×P×G, ā_c a_d
            self._pair_index = (first, second)
            power = steering.abs().square().transpose(-1, -2)  # F×C×G
            self._channel_power = power[..., 0].contiguous() if torch.allclose(
                power, power[..., :1].expand_as(power), rtol=1e-5, atol=0.0) else None  # F×C, or None
            diagonal_rows = power if self._channel_power is None else torch.ones_like(power[:, :1])
            self._quadratic_basis = torch.cat([diagonal_rows, 2.0 * cross.real, -2.0 * cross.imag], 1).contiguous()
            return
        real, imag = steering.real.transpose(-1, -2), steering.imag.transpose(-1, -2)  # F×C×G
        rows_re = torch.cat([real, imag], -1)  # coefficient of Re e_c
        rows_im = torch.cat([imag, -real], -1)  # coefficient of Im e_c
        self._steering_real = torch.stack([rows_re, rows_im], 2).flatten(1, 2).contiguous()  # F×2C×2G
        self._steering_power = steering_power.contiguous()

    def subspace_basis(self, cov: torch.Tensor) -> torch.Tensor:
        """Basis M×C×k of the signal (k = K) or noise (k = C − K) subspace of M×C×C covariances.

        Orthonormal, except for K = 1 on the signal side: one dominant eigenvector, normalised by the caller.
        """
        channels = cov.shape[-1]
        if self.subspace == 'signal' and self.signal_dim == 1:
            return dominant_eigenvector(cov, self.buffer)
        vectors = torch.linalg.eigh(cov)[1]  # eigenvalues ascending
        if self.subspace == 'signal':
            return vectors[..., channels - self.signal_dim:]
        return vectors[..., :channels - self.signal_dim]

    def residuals(self, band_stft: torch.Tensor) -> torch.Tensor:
        """B×F×C×N band STFT (any layout) → F×B×G values ‖E_nᴴ a‖² (the pseudo-spectra's reciprocals).

        The result is a workspace tensor.
        """
        batch, freqs, channels, frames = band_stft.shape
        if channels <= QUADRATIC_MAX_CHANNELS:
            return self._quadratic_residuals(lanes_covariance(band_stft, self.buffer), batch, freqs)
        cov = frame_covariances(band_stft, self.buffer('cov', (batch * freqs, channels, channels), band_stft.dtype))
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
        real, imag = parts[..., :grid], parts[..., grid:]  # Re eᴴa, Im eᴴa
        energy = self.buffer('energy', (freqs, batch * k, grid))
        if k == 1 and self.subspace == 'signal':  # ‖a‖² − |eᴴa|² in two fused passes
            torch.addcmul(self._steering_power, real, real, value=-1.0, out=energy)
            energy.addcmul_(imag, imag, value=-1.0)
            return torch.maximum(energy, self._residual_floor, out=energy)
        torch.mul(real, real, out=energy).addcmul_(imag, imag)  # |eᴴa|² per basis vector
        if k > 1:
            energy = torch.sum(energy.view(freqs, batch, k, grid), 2, out=self.buffer('sum', (freqs, batch, grid)))
        if self.subspace == 'signal':
            torch.sub(self._steering_power, energy, out=energy)  # ‖a‖² − ‖E_sᴴ a‖²
        return torch.maximum(energy, self._residual_floor, out=energy)

    def _quadratic_residuals(self, cov: torch.Tensor, batch: int, freqs: int) -> torch.Tensor:
        """aᴴ Q a for C×C×M covariance lanes (M = B·F batch-major) → F×B×G, Q the noise projector.

        See `prepare_steering` for the coefficient rows.
        """
        channels = cov.shape[0]
        if self.subspace == 'signal' and self.signal_dim == 1:
            projector = dominant_power(cov, self.buffer, lanes=True)  # ≈ e eᴴ, C×C×M
        else:
            basis = self.subspace_basis(cov.permute(2, 0, 1))
            projector = (basis @ basis.conj().transpose(-1, -2)).permute(1, 2, 0)  # E Eᴴ as C×C×M
        signal_side = self.subspace == 'signal'  # Q = I − E_s E_sᴴ, else Q = E_n E_nᴴ
        sign = -1.0 if signal_side else 1.0
        pairs = self._pair_index[0].numel()
        first = self._quadratic_basis.shape[1] - 2 * pairs  # C diagonal rows, or one row of ones
        coefficients = self.buffer('coefficients', (freqs, batch, first + 2 * pairs))
        rows = coefficients.permute(2, 1, 0)  # rows×B×F: writes land frequency-major
        diagonal = projector.diagonal(dim1=0, dim2=1).real.t().view(channels, batch, freqs)
        if self._channel_power is None:
            torch.mul(diagonal, sign, out=rows[:channels])
            if signal_side:
                rows[:channels].add_(1.0)
        else:  # Σ_c Q_cc |a_c|², Q_cc = [1 −] P_cc
            power = self._channel_power.t()[:, None, :]  # C×1×F
            torch.mul(torch.sum(diagonal * power, 0), sign, out=rows[0])
            if signal_side:
                rows[0].add_(power.sum(0))
        off_diagonal = projector[self._pair_index[0], self._pair_index[1]].view(pairs, batch, freqs)
        torch.mul(off_diagonal.real, sign, out=rows[first:first + pairs])
        torch.mul(off_diagonal.imag, sign, out=rows[first + pairs:])
        residual = self.buffer('residual', (freqs, batch, self._quadratic_basis.shape[-1]))
        torch.bmm(coefficients, self._quadratic_basis, out=residual)
        return torch.maximum(residual, self._residual_floor, out=residual)

    def grid_spectrum(self, band_stft: torch.Tensor) -> torch.Tensor:
        """Mean over frequency of the (optionally max-normalised) pseudo-spectra: B×G."""
        residual = self.residuals(band_stft)  # F×B×G
        freqs = residual.shape[0]
        if self.normalize_frequencies:  # (1/r) / max_g(1/r) = min_g(r) / r
            torch.div(residual.amin(-1, keepdim=True).div_(freqs), residual, out=residual)  # w / r, w = min / F
        else:
            residual.reciprocal_().div_(freqs)
        return residual.sum(0)  # B×G, Σ_f w·(1/r)


class NormMusic(Music):
    """MUSIC with frequency normalisation (NormMUSIC / "MUSIC++")."""

    name = 'normmusic'
    normalize_frequencies = True
