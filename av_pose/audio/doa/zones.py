"""Multi-source DOA by zone voting: short time zones each find their few dominant directions, and vote.

A small array cannot resolve several simultaneous sources in one covariance over a long window: with four
microphones 6.4 cm apart, the 2nd and 3rd NormMUSIC peaks of a 1 s window lie within 10° of a source in about
a fifth of the windows. Sound is sparse in time, though: in a short zone (a few STFT frames, ~0.1 s) one or two
sources dominate. Zone voting splits the window's frames into zones, computes each zone's spectrum with the same
estimator and a signal subspace of J = `zone_sources`, and lets every zone cast J votes, one per peak of its
spectrum, each of weight 1 − median / peak and spread by a von Mises kernel of width `width_deg`. The window's
spectrum is the vote histogram; its peaks are the sources. Each source's direction is the weighted mean of the
votes within half the peak separation of its peak (a source that sweeps across the window, as on a turning rig,
leaves a plateau of votes whose highest point is anywhere on it; the mean is its centre), its confidence the
share of all votes those are, and peaks below `min_share` are no source. Sources then need not be fewer than the
microphones. The idea is the single-source-zone family (e.g. Pavlidi et al., IEEE TASLP 2013), with time zones
only and the estimator's own spectrum per zone.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from av_pose.audio.doa.grid import Grid
from av_pose.errors import UserInputError
from av_pose.metrics.spherical import direction_from_az_el

VOTE_SEPARATION_DEG = 20.0  # a zone's J peaks are at least this far apart


def zone_source_count(value: object) -> int:
    """`zone_sources` checked → int: an integer >= 1 (NumPy's too); a word, fraction or boolean is an error."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real) or value < 1 or int(value) != value:
        raise UserInputError(f'zone_sources must be an integer >= 1, got {value!r}')
    return int(value)


def default_zone_sources(num_channels: int) -> int:
    """Peaks per zone by array size: 1 up to 6 microphones, 2 for 7 to 10 (a 7-mic UMA-8), and so on."""
    return max(1, (num_channels + 1) // 4)


@dataclass(frozen=True)
class Votes:
    """The votes of a batch of B windows, V = zones × J each.

    Attributes:
        histogram: B×G vote histogram on the grid (torch). total: (B,) summed vote weight (torch).
        toward: B×V×3 unit vectors voted for (array frame). weight: B×V vote weights (0: no vote).
    """

    histogram: torch.Tensor
    total: torch.Tensor
    toward: np.ndarray
    weight: np.ndarray


class ZoneVoting:
    """Vote histograms on a grid from per-zone grid spectra.

    Args:
        grid: The estimator's search grid.
        zone_frames: STFT frames per zone (≥ 2; hop nfft/2, so 4 frames of a 512-point FFT at 16 kHz ≈ 0.1 s).
        zone_sources: J, peaks each zone votes for (its signal-subspace size), ≥ 1.
        width_deg: Kernel width (1/sqrt(κ) of the von Mises kernel), degrees.
        min_share: Peaks with a smaller share of the window's votes are dropped (NaN), in [0, 1).
        device: Torch device of the votes.
    """

    def __init__(self, grid: Grid, zone_frames: int, zone_sources: int = 1, width_deg: float = 4.0,
                 min_share: float = 0.1, device: torch.device | str = 'cpu') -> None:
        if int(zone_frames) != zone_frames or zone_frames < 2:
            raise UserInputError(f'zone_frames must be an integer >= 2 (0 = no zones), got {zone_frames}')
        if not (math.isfinite(width_deg) and 0.5 <= width_deg <= 45.0):
            raise UserInputError(f'zone_width_deg must be in [0.5, 45], got {width_deg}')
        if not 0.0 <= min_share < 1.0:
            raise UserInputError(f'min_zone_share must be in [0, 1), got {min_share}')
        self.grid = grid
        self.zone_frames, self.zone_sources = int(zone_frames), zone_source_count(zone_sources)
        self.min_share = float(min_share)
        self.kappa = 1.0 / math.radians(width_deg) ** 2
        self.directions = torch.as_tensor(grid.unit_vectors(), dtype=torch.float32, device=device)  # G×3

    def split(self, band_stft: torch.Tensor, buffer: Callable[..., torch.Tensor],
              frequency_innermost: bool = False) -> torch.Tensor:
        """B×F×C×N band STFT → (B·Z)×F×C×zone_frames, Z = N // zone_frames zones (trailing frames unused).

        `buffer(name, shape, dtype)` supplies the result's workspace: contiguous, or with `frequency_innermost`
        laid out (B·Z)×C×zone_frames×F, the result a view of it (`DoaEstimator._band_buffer`).
        """
        batch, freqs, channels, frames = band_stft.shape
        zones = frames // self.zone_frames
        if zones < 1:
            raise ValueError(f'a window of {frames} STFT frames is shorter than one zone ({self.zone_frames})')
        used = band_stft[..., :zones * self.zone_frames].reshape(batch, freqs, channels, zones, self.zone_frames)
        if frequency_innermost:
            out = buffer('zones', (batch, zones, channels, self.zone_frames, freqs), band_stft.dtype)
            out.copy_(used.permute(0, 3, 2, 4, 1))
            return out.view(batch * zones, channels, self.zone_frames, freqs).permute(0, 3, 1, 2)
        out = buffer('zones', (batch, zones, freqs, channels, self.zone_frames), band_stft.dtype)
        out.copy_(used.permute(0, 3, 1, 2, 4))
        return out.view(batch * zones, freqs, channels, self.zone_frames)

    def vote(self, zone_values: torch.Tensor, batch: int) -> Votes:
        """Per-zone grid values (B·Z)×G → the votes of the B windows."""
        toward, weight = self.peak_votes(zone_values, self.zone_sources)
        return self._votes(toward.reshape(batch, -1, 3), weight.reshape(batch, -1))

    def peak_votes(self, values: torch.Tensor, count: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The `count` strongest peaks of each row of M×G grid values as votes.

        Returns M×count×3 unit vectors (array frame) and M×count weights 1 − median / peak (0 where no peak).
        """
        values = torch.nan_to_num(values.float(), nan=0.0, posinf=0.0).clamp_min(0.0)
        peaks = self.grid.find_peaks(values.cpu().numpy().astype(np.float64), count, VOTE_SEPARATION_DEG)
        with np.errstate(invalid='ignore', divide='ignore'):
            weight = np.nan_to_num(np.clip(1.0 - peaks.floor / peaks.heights, 0.0, 1.0))
        return direction_from_az_el(np.nan_to_num(peaks.azimuths_deg), np.nan_to_num(peaks.elevations_deg)), weight

    def with_votes(self, votes: Votes, toward: np.ndarray, weight: np.ndarray) -> Votes:
        """`votes` with more votes added: B×V'×3 unit vectors (array frame) and B×V' weights (0: none)."""
        return self._votes(np.concatenate([votes.toward, toward], 1), np.concatenate([votes.weight, weight], 1))

    def _votes(self, toward: np.ndarray, weight: np.ndarray) -> Votes:
        """B×V×3 votes of weights B×V → their histogram on the grid."""
        device = self.directions.device
        toward_t = torch.as_tensor(toward, dtype=torch.float32, device=device)
        weight_t = torch.as_tensor(weight, dtype=torch.float32, device=device)
        kernel = torch.exp(self.kappa * (toward_t @ self.directions.t() - 1.0))  # B×V×G
        return Votes((weight_t[:, None, :] @ kernel)[:, 0], weight_t.sum(1), toward, weight)

    def sources(self, azimuths_deg: np.ndarray, elevations_deg: np.ndarray, votes: Votes,
                min_separation_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Histogram peaks B×K (degrees, NaN = none) → (azimuths, elevations, shares), each B×K.

        Direction: the weighted mean of the votes within min_separation_deg / 2 of the peak; share: their weight
        over all the window's votes. Peaks with a share below `min_share` become NaN (shares fall with the
        peaks' heights, so the kept ones stay first).
        """
        found = np.isfinite(azimuths_deg)
        peak = direction_from_az_el(np.nan_to_num(azimuths_deg), np.nan_to_num(elevations_deg))  # B×K×3
        near = np.einsum('bkd,bvd->bkv', peak, votes.toward) >= math.cos(math.radians(0.5 * min_separation_deg))
        weights = near * votes.weight[:, None, :]  # B×K×V
        mean = np.einsum('bkv,bvd->bkd', weights, votes.toward)
        norm = np.linalg.norm(mean, axis=-1)
        total = votes.total.cpu().numpy().astype(np.float64)[:, None]
        with np.errstate(invalid='ignore', divide='ignore'):
            share = np.where(total > 0, weights.sum(-1) / total, 0.0)
            refined_az = np.degrees(np.arctan2(mean[..., 1], mean[..., 0])) % 360.0
            refined_el = np.degrees(np.arcsin(np.clip(mean[..., 2] / norm, -1.0, 1.0)))
        keep = found & (norm > 0) & (share >= self.min_share) & (share > 0)
        nan = np.full_like(share, np.nan)
        return (np.where(keep, refined_az, nan), np.where(keep, refined_el, nan),
                np.where(keep, np.clip(share, 0.0, 1.0), nan))
