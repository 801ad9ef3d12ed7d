"""Circular shifts of DOA spectra: the alignment behind the audio yaw (`av_pose.pose.audio_yaw`).

Spectra are circular, N bins over 360° (bin i at azimuth i·360/N). When the rig yaws by ψ from view a to view b,
spectrum_b(θ) ≈ spectrum_a(θ + ψ): ψ is the lag of the peak of the circular cross-correlation of the two
mean-removed spectra (`circular_shift`; all peaks take part, not just the strongest), refined below a degree by a
parabola through the peak and its neighbours.

Time-resolved alignment. A rig turning at 20°/s smears a source over 20° within a 1 s window, and the
spectrum's peak sits wherever the sound happened to be loudest, so whole-window spectra shift by the yaw only
to within several degrees. Each window is therefore cut into short segments (`AudioYawEstimator.segment_s`)
and every segment of a is correlated with every segment of b (`segment_shift`). At a constant turn rate, segments at
τ_p (in a) and τ_q (in b) from their window centres shift by ψ·(1 + (τ_q − τ_p)/gap), so each pair gives ψ;
their weighted median, the weights being the product of the segments' DOA confidences and the match score
(pauses and reverberant tails count little) times (1 + (τ_q − τ_p)/gap)² (its precision), starts a consensus
search: within ±`CONSENSUS_HALF_WIDTH_DEG` of it, the answer is the ψ that maximises Σ w·c_pq(ψ·(1 +
(τ_q − τ_p)/gap))^`CONSENSUS_POWER` over the segment pairs' correlations c_pq, so every pair's whole correlation
peak votes, not only its maximum. In ShoeboxAV rooms (RT60 0.2–0.6 s, one talker 1.5 m away) the weighted median
takes the median error from 2.8° (whole-window shift) to 1.9°; on the turning-in-place sets the consensus takes it
from 2.22° to 2.03° at SNR 10 dB and from 1.60° to 1.49° at 30 dB (docs/results.md).
"""
from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

from av_pose.metrics.azimuth import wrap_signed_deg

PEAK_PROMINENCE = 0.4
"""A spectrum peak is significant when it rises this much (spectra are in [0, 1]) above its surroundings ..."""
MIN_PEAK_HEIGHT = 0.3
"""... and reaches at least this height."""
CONSENSUS_POWER = 8.0
"""Exponent of the segment-pair correlations in the consensus search: high enough that each pair votes with its
peak, low enough that near-misses still count (6–12 measured alike)."""
CONSENSUS_HALF_WIDTH_DEG = 8.0
"""The consensus search spans the weighted median ± this, degrees ..."""
CONSENSUS_COARSE_STEP_DEG = 0.25
"""... first in steps of this, degrees (the score's peak is a few degrees wide) ..."""
CONSENSUS_STEP_DEG = 0.05
"""... then around the best in steps of this, degrees."""
CONSENSUS_CHUNK = 64
"""Pairs searched at once (bounds the memory of the search to CHUNK × K·L × steps values)."""
MIN_FACTOR = 0.25
"""Segment pairs whose shift is less than this fraction of the yaw (1 + lag/gap) are not used."""


def _correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalised circular cross-correlations (..., N): out[..., s] = Σ_n â[n + s]·b̂[n] of mean-removed rows."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    norm = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    correlation = np.fft.irfft(np.fft.rfft(a, axis=-1) * np.conj(np.fft.rfft(b, axis=-1)), n=a.shape[-1], axis=-1)
    return correlation / np.maximum(norm, 1e-30)[..., None]


def _peak_of(correlation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lag in degrees (−180, 180], parabola-refined; value at the peak) of correlations (..., N)."""
    bins = correlation.shape[-1]
    best = correlation.argmax(-1)
    left, centre, right = (np.take_along_axis(correlation, ((best + k) % bins)[..., None], -1)[..., 0]
                           for k in (-1, 0, 1))
    curvature = left - 2.0 * centre + right
    offset = np.where(curvature < 0, np.clip(0.5 * (left - right) / np.where(curvature < 0, curvature, -1.0),
                                             -0.5, 0.5), 0.0)
    shift = (best + offset) * (360.0 / bins)
    return np.where(shift > 180.0, shift - 360.0, shift), np.clip(centre - 0.25 * (left - right) * offset, -1, 1)


def circular_shift(spectra_a: np.ndarray, spectra_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift ψ with spectrum_b(θ) ≈ spectrum_a(θ + ψ), and the match score, for pairs of N-bin spectra.

    Args:
        spectra_a: (..., N) circular spectra of view a, bin i at azimuth i·360/N degrees.
        spectra_b: the same for view b.

    Returns:
        (shift_deg (...) in (−180, 180], sub-bin by parabolic interpolation; score (...): the normalised
        correlation coefficient at the shift, in [−1, 1], 0 where a spectrum is constant).
    """
    correlation = _correlations(np.asarray(spectra_a, dtype=np.float64), np.asarray(spectra_b, dtype=np.float64))
    return _peak_of(correlation)


def count_peaks(spectra: np.ndarray, prominence: float = PEAK_PROMINENCE,
                min_height: float = MIN_PEAK_HEIGHT) -> np.ndarray:
    """Significant local maxima (B,) of B×N circular spectra in [0, 1] (prominence measured around the circle)."""
    spectra = np.atleast_2d(np.asarray(spectra, dtype=np.float64))
    bins = spectra.shape[1]
    counts = []
    for row in spectra:
        peaks, _ = find_peaks(np.concatenate([row, row, row]), height=min_height, prominence=prominence)
        counts.append(int(np.count_nonzero((peaks >= bins) & (peaks < 2 * bins))))
    return np.asarray(counts, dtype=np.int64)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted median of each row of B×M `values` (weights ≥ 0 with a positive sum per row)."""
    order = np.argsort(values, axis=1)
    sorted_values = np.take_along_axis(values, order, 1)
    cumulative = np.cumsum(np.take_along_axis(weights, order, 1), axis=1)
    index = (cumulative < 0.5 * cumulative[:, -1:]).sum(1)
    return sorted_values[np.arange(len(values)), np.minimum(index, values.shape[1] - 1)]


def _cubic_at(rows: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Catmull-Rom interpolation of circular rows b×P×N at fractional bins position b×P×O (in [0, N)).

    Linear interpolation of a peak 6° wide sampled at 1° moved the consensus by up to 0.33°; cubic by 0.002°.
    """
    bins = rows.shape[-1]
    below = np.floor(position)
    t = position - below
    below = below.astype(np.int64)
    p0, p1, p2, p3 = (np.take_along_axis(rows, (below + k) % bins, -1) for k in (-1, 0, 1, 2))
    return p1 + 0.5 * t * ((p2 - p0) + t * ((2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) + t * (3.0 * (p1 - p2) + p3 - p0)))


def _consensus_scores(pair_correlations: np.ndarray, weights: np.ndarray, factors: np.ndarray,
                      candidates_deg: np.ndarray) -> np.ndarray:
    """b×O scores Σ_p weights·max(correlation_p(ψ·factor_p), 0)^CONSENSUS_POWER of candidate yaws b×O."""
    bins = pair_correlations.shape[-1]
    position = (candidates_deg[:, None, :] * factors[:, :, None] * (bins / 360.0)) % bins   # b×P×O
    votes = np.clip(_cubic_at(pair_correlations, position), 0.0, None) ** CONSENSUS_POWER
    return np.einsum('bp,bpo->bo', weights, votes)


def consensus_yaw(pair_correlations: np.ndarray, weights: np.ndarray, factors: np.ndarray,
                  start_deg: np.ndarray) -> np.ndarray:
    """Yaw ψ near `start_deg` maximising Σ_p weights·max(correlation_p(ψ·factor_p), 0)^CONSENSUS_POWER.

    Args:
        pair_correlations: B×P×N circular correlations of P segment pairs (bin n at lag n·360/N degrees).
        weights: B×P non-negative weights (a pair with weight 0 does not vote).
        factors: B×P shift per unit yaw of each pair (1 + lag/gap).
        start_deg: (B,) the search centre, degrees.

    Returns:
        (B,) yaw in degrees: the best of start ± CONSENSUS_HALF_WIDTH_DEG in CONSENSUS_COARSE_STEP_DEG steps,
        then of that ± one coarse step in CONSENSUS_STEP_DEG steps, parabola-refined; `start_deg` where no pair
        votes.
    """
    coarse = np.arange(-CONSENSUS_HALF_WIDTH_DEG, CONSENSUS_HALF_WIDTH_DEG + 0.5 * CONSENSUS_COARSE_STEP_DEG,
                       CONSENSUS_COARSE_STEP_DEG)
    fine = np.arange(-CONSENSUS_COARSE_STEP_DEG, CONSENSUS_COARSE_STEP_DEG + 0.5 * CONSENSUS_STEP_DEG,
                     CONSENSUS_STEP_DEG)
    out = np.asarray(start_deg, dtype=np.float64).copy()
    for first in range(0, len(out), CONSENSUS_CHUNK):
        chunk = slice(first, first + CONSENSUS_CHUNK)
        args = (pair_correlations[chunk], weights[chunk], factors[chunk])
        candidates = out[chunk, None] + coarse[None, :]
        rows = np.arange(len(candidates))
        candidates = candidates[rows, _consensus_scores(*args, candidates).argmax(1), None] + fine[None, :]
        score = _consensus_scores(*args, candidates)
        best = score.argmax(1)
        left = score[rows, np.maximum(best - 1, 0)]
        centre = score[rows, best]
        right = score[rows, np.minimum(best + 1, len(fine) - 1)]
        curvature = left - 2.0 * centre + right
        step = np.where(curvature < 0, np.clip(0.5 * (left - right) / np.where(curvature < 0, curvature, -1.0),
                                                 -0.5, 0.5), 0.0)
        voted = weights[chunk].sum(1) > 0
        out[chunk] = np.where(voted, candidates[rows, best] + step * CONSENSUS_STEP_DEG, out[chunk])
    return out


def segment_shift(segments_a: np.ndarray, confidence_a: np.ndarray, times_a_s: np.ndarray,
                  segments_b: np.ndarray, confidence_b: np.ndarray, times_b_s: np.ndarray,
                  gap_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time-resolved yaw of B pairs of segmented windows (see the module docstring).

    Args:
        segments_a: B×K×N segment spectra of the windows of view a.
        confidence_a: B×K DOA confidences of those segments.
        times_a_s: (K,) segment centres relative to their window centre, seconds.
        segments_b: B×L×N segment spectra of view b.
        confidence_b: B×L.
        times_b_s: (L,).
        gap_s: (B,) time from window a's centre to window b's, seconds.

    Returns:
        (yaw_deg (B,) in (−180, 180], spread_deg (B,): 1.4826 × weighted median absolute deviation of the corrected
        segment-pair shifts, weight (B,): total weight of the segment pairs, 0 when none is usable).
    """
    batch, count_a, _ = segments_a.shape
    correlation = _correlations(segments_a[:, :, None, :], segments_b[:, None, :, :])   # B×K×L×N
    shifts, scores = _peak_of(correlation)
    shifts, scores = shifts.reshape(batch, -1), scores.reshape(batch, -1)
    lag_s = (np.asarray(times_b_s)[None, :] - np.asarray(times_a_s)[:, None]).reshape(-1)   # K·L
    gap_s = np.asarray(gap_s, dtype=np.float64).reshape(batch)
    step_s = float(np.min(np.diff(times_a_s))) if count_a > 1 else 0.0
    rate = np.where(np.abs(gap_s) > 1e-6, 1.0 / np.where(np.abs(gap_s) > 1e-6, gap_s, 1.0), 0.0)
    # At a constant turn rate, segment pair (p, q) lag_s apart shifts by ψ·(1 + lag/gap): each gives ψ.
    factor = 1.0 + lag_s[None, :] * rate[:, None]
    usable = (np.abs(lag_s)[None, :] <= np.maximum(np.abs(gap_s), step_s)[:, None] + 1e-9) & (factor > MIN_FACTOR)
    weights = (np.nan_to_num(confidence_a)[:, :, None] * np.nan_to_num(confidence_b)[:, None, :]).reshape(batch, -1)
    weights = weights * np.clip(scores, 0.0, None) * usable
    total = weights.sum(1)
    safe = np.where(total > 0, 1.0, 0.0)[:, None] * weights + np.where(total > 0, 0.0, 1.0)[:, None]
    estimates = shifts / np.where(usable, factor, 1.0)
    yaw = _weighted_median(estimates, safe * factor ** 2)   # an estimate's error scales as 1 / factor
    yaw = consensus_yaw(correlation.reshape(batch, -1, correlation.shape[-1]), weights,
                        np.broadcast_to(factor, weights.shape), yaw)
    residuals = wrap_signed_deg(shifts - (yaw * rate)[:, None] * lag_s[None, :] - yaw[:, None])
    spread = 1.4826 * _weighted_median(np.abs(residuals), safe)
    return wrap_signed_deg(yaw), spread, total
