"""Rig yaw between two audio windows from the circular shift of their DOA spectra.

When the rig yaws by ψ (counter-clockwise about the array's z axis) from view a to view b, every far source's
azimuth drops by ψ, so spectrum_b(θ) ≈ spectrum_a(θ + ψ): ψ is the lag of the peak of the circular
cross-correlation of the two mean-removed spectra (all peaks take part, not just the strongest). As a rotation, ψ is
T_a_b's rotation Rz(ψ) in the array frame, R_cam_array·Rz(ψ)·R_cam_arrayᵀ in the camera frame.

Time-resolved alignment (`av_pose.pose.spectrum_shift`): each window is cut into `segment_s` segments, every
segment of a is correlated with every segment of b, and the yaw is the consensus of the segment pairs under a
constant turn rate. Each segment's spectrum also listens for onsets, where the direct sound leads the room's
echoes (`ONSET_WEIGHT`). Figures in docs/results.md.

Stationarity. The shift measures the rig only while the sound field stays the same (the AV-pose paper's
failure mode is a field that changed while the rig did not). The yaw is refused (status 'refused') when
either window holds no directional sound, when the whole-window spectra do not match under any rotation (best
normalised correlation below `min_score`), when the aligned spectra differ by more than `max_residual`
somewhere (a source started or stopped), or when the segment pairs disagree (robust spread above `max_spread_deg`:
sources that take turns, a moving source). The number of significant peaks of each window is reported
(`AudioYaw.peaks_a`, `peaks_b`) but no longer refuses by itself (docs/results.md, stop 42: a peak that crosses the
prominence threshold refused pairs as accurate as the accepted ones; a source that starts is the residual's).
A window that cannot be used at all (missing, shorter than `min_window_s`, non-finite, coverage below
`min_coverage`, silent, or an array that cannot tell all azimuths apart) gives status 'unavailable'.

Arrays: pressure arrays use `method` (NormMUSIC by default), first-order ambisonic arrays 'intensity'. Arrays
whose microphones are collinear in the horizontal plane (binaural, 2-mic, linear) have mirror-ambiguous
spectra, under which a rotation is not a shift: their audio yaw is unavailable.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from av_pose.audio.arrays import MicArray
from av_pose.audio.doa import METHODS, DirectionGrid, DoaEstimator, make_estimator
from av_pose.audio.doa.onset import onset_nfft, segment_onset_spectra
from av_pose.errors import UserInputError
from av_pose.metrics.azimuth import wrap_signed_deg
from av_pose.pose.base import PosePair, View
from av_pose.pose.parallax import SOURCE_DISTANCE_M, array_travel, predicted_parallax_deg
from av_pose.pose.spectrum_shift import PEAK_PROMINENCE, circular_shift, count_peaks, segment_shift

PRESSURE_METHODS = tuple(name for name in METHODS if name != 'intensity')
"""DOA methods for pressure arrays (FOA arrays always use 'intensity')."""
OK, UNAVAILABLE, REFUSED = 'ok', 'unavailable', 'refused'

SEGMENT_S = 0.1
"""Length of the segments each window is cut into for the time-resolved alignment, seconds."""
MIN_SCORE = 0.6
"""Lowest normalised correlation of the aligned whole-window spectra for an unchanged sound field."""
MIN_CONFIDENCE = 0.05
"""Whole-window DOA confidence (1 − median/peak) below which a window holds no directional sound."""
MAX_SPREAD_DEG = 25.0
"""Segment-pair shifts that disagree more than this (robust spread, degrees) mean the field is not stationary."""
MAX_RESIDUAL = 0.5
"""Largest difference of the aligned whole-window spectra (in [0, 1]) of an unchanged field: a source that
starts or stops leaves a peak that no rotation explains."""
STD_FLOOR_DEG = 2.0
"""1-σ yaw error of an alignment whose segments all agree, degrees ..."""
SPREAD_TO_STD = 0.3
"""... growing with their spread: std = hypot(STD_FLOOR_DEG, SPREAD_TO_STD × spread). Calibrated on rotation-only
ShoeboxAV rigs (respeaker4/6, uma8, 1–2 sources, RT60 0.2–0.6 s): 68 % of the errors within 1 std, 95 % within 2.3."""
CONFIDENCE_REF = 0.3
"""Below this whole-window DOA confidence (the lower of the two windows) the std grows as CONFIDENCE_REF /
confidence: a faint source's peaks wander more than its segments' spread shows. Fitted on the turning-in-place
set at SNR 30 dB (least confident fifth: 52 → 67 % of the errors within 1 std), checked at SNR 10 dB (49 → 68 %)."""
ONSET_WEIGHT = 2.0
"""Each segment spectrum is the segment's DOA spectrum plus this times its onset-weighted spectrum
(`av_pose.audio.doa.onset`: 8 ms frames rising ≥ 6 dB, mostly direct sound), rescaled to [0, 1]; 0 = off.
Turning-in-place sets, median error on the pairs answered either way, 0 → 2: 2.03° → 1.83° at SNR 10 dB, 1.49°
→ 1.40° at SNR 30 dB (clicks 1.65° → 1.24°, music 3.6° → 4.1°); 1, 2 and 3 alike. One talker 1.5 m away: 2.38°
→ 2.26° in 12 rooms, 1.70° → 1.83° in test_audio_yaw's 3 (docs/results.md)."""
MIN_LINEAR_RATIO = 0.1
"""Arrays whose horizontal extent across their main axis is below this fraction of it are linear."""
CACHE_WINDOWS = 256
"""Window analyses kept, so that a window shared by consecutive pairs is analysed once."""


@dataclass(frozen=True)
class AudioYaw:
    """The audio yaw of one pair.

    Attributes:
        status: 'ok', 'unavailable' (a window or the array cannot be used) or 'refused' (sound field changed).
        yaw_deg: rig yaw from view a to view b about the array z axis, counter-clockwise, degrees in
            (−180, 180]; T_a_b's rotation is Rz(yaw) in the array frame, with `parallax_deg` added. 0 unless
            `status` is 'ok'.
        std_deg: 1-σ of `yaw_deg` from the alignment alone (no translation parallax), degrees: the segments'
            spread and, for faint sources, the DOA confidence (`CONFIDENCE_REF`).
        score: normalised correlation of the aligned whole-window spectra in [−1, 1] (NaN when unavailable).
        peaks_a, peaks_b: significant peaks in each whole-window spectrum (−1 when unavailable).
        residual: largest difference of the aligned whole-window spectra, in [0, 1] (NaN when unavailable).
        reason: why the status is not 'ok' ('' when it is).
        parallax_deg: the predicted parallax added to the alignment's yaw (`av_pose.pose.parallax`), degrees;
            None when the pair brought no travel to predict it from (`PosePair.translation_prior_m`).
    """

    status: str
    yaw_deg: float = 0.0
    std_deg: float = 0.0
    score: float = float('nan')
    peaks_a: int = -1
    peaks_b: int = -1
    residual: float = float('nan')
    reason: str = ''
    parallax_deg: float | None = None

    @property
    def ok(self) -> bool:
        """True when the yaw can be used."""
        return self.status == OK

    @property
    def alignment_yaw_deg(self) -> float:
        """`yaw_deg` without the predicted parallax: what the alignment of the spectra measured, degrees."""
        return self.yaw_deg - (self.parallax_deg or 0.0)


@dataclass(frozen=True)
class WindowSpectra:
    """DOA spectra of one audio window (array frame, 360 bins of 1°, values in [0, 1]).

    Attributes:
        full: (360,) spectrum of the whole window. confidence: its DOA confidence (1 − median/peak).
        segments: K×360 spectra of consecutive `segment_s` segments. segment_confidence: (K,).
        segment_times_s: (K,) centre of each segment relative to the window centre, seconds.
    """

    full: np.ndarray
    confidence: float
    segments: np.ndarray
    segment_confidence: np.ndarray
    segment_times_s: np.ndarray


# --- arrays -------------------------------------------------------------------------------------------------

def resolves_azimuth(array: MicArray) -> bool:
    """True when the array tells every azimuth apart: FOA, or ≥ 3 microphones not collinear in the x-y plane."""
    if array.kind == 'foa':
        return True
    horizontal = array.positions_m[:, :2] - array.positions_m[:, :2].mean(0)
    if len(horizontal) < 3:
        return False
    singular = np.linalg.svd(horizontal, compute_uv=False)
    return bool(singular[0] > 0 and singular[1] >= MIN_LINEAR_RATIO * singular[0])


# --- the estimator ------------------------------------------------------------------------------------------

class AudioYawEstimator:
    """Audio yaw of batches of pairs; one DOA estimator per (array, sample rate) is built once and reused.

    Args:
        method: DOA method for pressure arrays ('normmusic', 'music', 'srp_phat'); FOA arrays use 'intensity'.
        device: torch device of the DOA ('auto', 'cpu', 'cuda').
        freq_range_hz: DOA band, Hz (its top is kept below 0.45 × the sample rate).
        segment_s: segment length of the time-resolved alignment, seconds.
        nfft: FFT length of the DOA (default: about 25 ms, `default_nfft`).
        min_window_s: shorter windows are unavailable.
        min_coverage: windows with a smaller recorded fraction are unavailable.
        min_score, min_confidence, max_spread_deg, max_residual: stationarity thresholds (the module constants
            by default). peak_prominence: what counts as a significant peak in `AudioYaw.peaks_a` / `peaks_b`.
        onset_weight: weight of the onset-weighted spectrum added to each segment's (`ONSET_WEIGHT`; 0 = off).
        source_distance_m: where a pair brings the rig's predicted travel (`PosePair.translation_prior_m`), the
            heard sources are placed this far away to predict the parallax that the travel adds to the yaw
            (`av_pose.pose.parallax`); 0 = never corrected.
    """

    def __init__(self, method: str = 'normmusic', device: str = 'cpu',
                 freq_range_hz: tuple[float, float] = (500.0, 4000.0), segment_s: float = SEGMENT_S,
                 nfft: int | None = None,
                 min_window_s: float = 0.25, min_coverage: float = 0.5, min_score: float = MIN_SCORE,
                 peak_prominence: float = PEAK_PROMINENCE, min_confidence: float = MIN_CONFIDENCE,
                 max_spread_deg: float = MAX_SPREAD_DEG, max_residual: float = MAX_RESIDUAL,
                 onset_weight: float = ONSET_WEIGHT, source_distance_m: float = SOURCE_DISTANCE_M) -> None:
        if method not in PRESSURE_METHODS:
            raise UserInputError(f'unknown audio-yaw DOA method {method!r}: use one of {", ".join(PRESSURE_METHODS)} '
                                 '(FOA arrays always use intensity)')
        if not (np.isfinite(source_distance_m) and source_distance_m >= 0):
            raise UserInputError(f'source_distance_m must be >= 0 m, got {source_distance_m}')
        if not 0.0 < segment_s <= min_window_s:
            raise UserInputError(f'segment_s must lie in (0, min_window_s = {min_window_s}], got {segment_s}')
        self.method = method
        self.device = device
        self.freq_range_hz = (float(freq_range_hz[0]), float(freq_range_hz[1]))
        self.segment_s = float(segment_s)
        self.nfft = None if nfft is None else int(nfft)
        self.min_window_s = float(min_window_s)
        self.min_coverage = float(min_coverage)
        self.min_score = float(min_score)
        self.peak_prominence = float(peak_prominence)
        self.min_confidence = float(min_confidence)
        self.max_spread_deg = float(max_spread_deg)
        self.max_residual = float(max_residual)
        self.onset_weight = float(onset_weight)
        self.source_distance_m = float(source_distance_m)
        self._estimators: dict[tuple, DoaEstimator] = {}
        self._onset_estimators: dict[int, DoaEstimator] = {}  # by id of the segments' estimator
        self._cache: OrderedDict[bytes, WindowSpectra] = OrderedDict()

    def doa_estimator(self, array: MicArray, sample_rate: int) -> DoaEstimator:
        """The cached DOA estimator (1° grid) for this array geometry and sample rate."""
        key = (array.name, array.kind, array.positions_m.tobytes(), int(sample_rate))
        if key not in self._estimators:
            method = 'intensity' if array.kind == 'foa' else self.method
            high = min(self.freq_range_hz[1], 0.45 * sample_rate)
            self._estimators[key] = make_estimator(method, array, sample_rate, device=self.device,
                                                   freq_range_hz=(min(self.freq_range_hz[0], 0.5 * high), high),
                                                   nfft=self.nfft, grid=DirectionGrid(step_deg=1.0, offset_deg=0.5))
        return self._estimators[key]

    def forget(self) -> None:
        """Drop the cached window analyses (keep the DOA estimators)."""
        self._cache.clear()

    def release(self) -> None:
        """Free the DOA estimators' tensors and the cached analyses."""
        for estimator in (*self._estimators.values(), *self._onset_estimators.values()):
            estimator.release()
        self._estimators.clear()
        self._onset_estimators.clear()
        self._cache.clear()

    # --- checks -------------------------------------------------------------------------------------------

    def window_problem(self, view: View, array: MicArray, sample_rate: int) -> str:
        """'' when the view's audio window is usable, else why not."""
        audio = view.audio
        if audio is None:
            return 'no audio window'
        audio = np.asarray(audio)
        if audio.ndim != 2 or audio.shape[0] != array.num_channels:
            return f'audio window of shape {audio.shape}, expected {array.num_channels}×N'
        if audio.shape[1] < self.min_window_s * sample_rate:
            return f'audio window of {audio.shape[1] / sample_rate:.3f} s, shorter than {self.min_window_s} s'
        coverage = float(view.audio_coverage)
        if not np.isfinite(coverage) or coverage < self.min_coverage:
            return f'audio coverage {coverage:.2f} below {self.min_coverage}'
        if not np.all(np.isfinite(audio)):
            return 'non-finite audio samples'
        if float(np.abs(audio).max()) <= 1e-7:
            return 'silent audio window'
        return ''

    def pair_problem(self, pair: PosePair) -> str:
        """'' when the audio of the pair can be aligned, else why not."""
        sensors = pair.sensors
        if sensors.array is None or not sensors.sample_rate:
            return 'no microphone array or sample rate'
        if not resolves_azimuth(sensors.array):
            return f'array {sensors.array.name} cannot tell every azimuth apart (collinear microphones)'
        for name, view in (('a', pair.view_a), ('b', pair.view_b)):
            problem = self.window_problem(view, sensors.array, int(sensors.sample_rate))
            if problem:
                return f'view {name}: {problem}'
        return ''

    # --- analysis -----------------------------------------------------------------------------------------

    def analyse(self, windows: Sequence[np.ndarray], array: MicArray, sample_rate: int) -> list[WindowSpectra]:
        """Whole-window and segment spectra of C×T windows (T may differ), cached by content.

        Windows of equal length are analysed together: one STFT and one DOA call for all their segments.
        """
        estimator = self.doa_estimator(array, sample_rate)
        keys = [self._key(window, estimator) for window in windows]
        todo: dict[int, list[int]] = {}
        for index, key in enumerate(keys):
            if key not in self._cache:
                todo.setdefault(np.shape(windows[index])[1], []).append(index)
        for indices in todo.values():
            unique = list({keys[i]: i for i in indices}.values())
            batch = np.stack([np.asarray(windows[i], dtype=np.float32) for i in unique])
            for i, spectra in zip(unique, self._analyse_batch(batch, estimator)):
                self._cache[keys[i]] = spectra
        out = []
        for key in keys:
            self._cache.move_to_end(key)
            out.append(self._cache[key])
        while len(self._cache) > CACHE_WINDOWS:
            self._cache.popitem(last=False)
        return out

    @staticmethod
    def _key(window: np.ndarray, estimator: DoaEstimator) -> bytes:
        data = np.ascontiguousarray(window, dtype=np.float32)
        digest = hashlib.blake2b(data.tobytes(), digest_size=16)
        digest.update(repr((data.shape, id(estimator))).encode())
        return digest.digest()

    def _analyse_batch(self, batch: np.ndarray, estimator: DoaEstimator) -> list[WindowSpectra]:
        """B×C×T windows of one length → their spectra."""
        spectrogram = estimator.stft(batch)                                    # B×C×F×N
        count, channels, freqs, frames = spectrogram.shape
        hop = estimator.nfft // 2
        per_segment = max(1, int(round(self.segment_s * estimator.sample_rate / hop)))
        segments = max(1, frames // per_segment)
        first = (frames - segments * per_segment) // 2
        pieces = spectrogram[..., first:first + segments * per_segment]
        pieces = pieces.reshape(count, channels, freqs, segments, per_segment).permute(0, 3, 1, 2, 4)
        pieces = pieces.reshape(count * segments, channels, freqs, per_segment)
        whole = estimator.estimate_stft(spectrogram)
        parts = estimator.estimate_stft(pieces)
        centre_frame = first + per_segment * np.arange(segments) + 0.5 * (per_segment - 1)
        times_s = (centre_frame * hop + 0.5 * estimator.nfft - 0.5 * batch.shape[-1]) / estimator.sample_rate
        part_spectra = parts.spectrum.reshape(count, segments, -1)
        if self.onset_weight > 0 and estimator.array.kind != 'foa':
            onsets = segment_onset_spectra(self._onset_estimator(estimator), batch, first * hop, per_segment * hop,
                                           segments)
            combined = part_spectra + self.onset_weight * onsets
            low, high = combined.min(-1, keepdims=True), combined.max(-1, keepdims=True)
            part_spectra = ((combined - low) / np.maximum(high - low, 1e-12)).astype(np.float32)
        part_confidence = np.nan_to_num(parts.confidence[:, 0]).reshape(count, segments)
        return [WindowSpectra(full=whole.spectrum[i], confidence=float(np.nan_to_num(whole.confidence[i, 0])),
                              segments=part_spectra[i], segment_confidence=part_confidence[i],
                              segment_times_s=times_s) for i in range(count)]

    def _onset_estimator(self, estimator: DoaEstimator) -> DoaEstimator:
        """The onset-frame twin of a segments' estimator (same method, array, grid and band), built once."""
        if id(estimator) not in self._onset_estimators:
            rate = estimator.sample_rate
            band = (float(estimator.freq_bins[0] * rate / estimator.nfft),
                    float(estimator.freq_bins[-1] * rate / estimator.nfft))
            self._onset_estimators[id(estimator)] = make_estimator(
                self.method, estimator.array, rate, device=self.device, nfft=onset_nfft(rate), grid=estimator.grid,
                freq_range_hz=band)
        return self._onset_estimators[id(estimator)]

    # --- estimation ---------------------------------------------------------------------------------------

    def estimate_batch(self, pairs: Sequence[PosePair]) -> list[AudioYaw]:
        """Audio yaw of each pair; the DOA of all usable windows of one array runs in one batched call."""
        results: list[AudioYaw | None] = [None] * len(pairs)
        groups: dict[tuple, list[int]] = {}
        for index, pair in enumerate(pairs):
            problem = self.pair_problem(pair)
            if problem:
                results[index] = AudioYaw(UNAVAILABLE, reason=problem)
                continue
            array = pair.sensors.array
            key = (array.name, array.kind, array.positions_m.tobytes(), int(pair.sensors.sample_rate))
            groups.setdefault(key, []).append(index)
        for indices in groups.values():
            sensors = pairs[indices[0]].sensors
            windows = [view.audio for i in indices for view in (pairs[i].view_a, pairs[i].view_b)]
            spectra = self.analyse(windows, sensors.array, int(sensors.sample_rate))
            by_shape: dict[tuple[int, int], list[int]] = {}
            for k in range(len(indices)):
                by_shape.setdefault((len(spectra[2 * k].segments), len(spectra[2 * k + 1].segments)), []).append(k)
            for members in by_shape.values():
                gaps = [pairs[indices[k]].view_b.stamp_s - pairs[indices[k]].view_a.stamp_s for k in members]
                travels = [array_travel(pairs[indices[k]]) for k in members]
                found = self.from_spectra([spectra[2 * k] for k in members], [spectra[2 * k + 1] for k in members],
                                          gaps, travels)
                for k, result in zip(members, found):
                    results[indices[k]] = result
        return [result for result in results if result is not None]

    def from_spectra(self, spectra_a: Sequence[WindowSpectra], spectra_b: Sequence[WindowSpectra],
                     gaps_s: Sequence[float], travels_m: Sequence[np.ndarray | None] | None = None) -> list[AudioYaw]:
        """Audio yaw with the stationarity test, from analysed windows (pairs with equal segment counts).

        `travels_m`: per pair, the array's predicted displacement (3,) in view a's array frame, metres, or None;
        where given (and `source_distance_m` > 0) the yaw gets the parallax it predicts (`AudioYaw.parallax_deg`).
        """
        full_a = np.stack([s.full for s in spectra_a])
        full_b = np.stack([s.full for s in spectra_b])
        full_shift, score = circular_shift(full_a, full_b)
        bins = full_a.shape[1]
        grid = np.arange(bins)
        aligned_a = [np.interp(grid + full_shift[k] * bins / 360.0, grid, full_a[k], period=bins)
                     for k in range(len(full_a))]   # spectrum_a(θ + ψ)
        residual = np.abs(full_b - np.stack(aligned_a)).max(1)
        peaks_a = count_peaks(full_a, self.peak_prominence)
        peaks_b = count_peaks(full_b, self.peak_prominence)
        yaw, spread, weight = segment_shift(
            np.stack([s.segments for s in spectra_a]), np.stack([s.segment_confidence for s in spectra_a]),
            spectra_a[0].segment_times_s, np.stack([s.segments for s in spectra_b]),
            np.stack([s.segment_confidence for s in spectra_b]), spectra_b[0].segment_times_s, np.asarray(gaps_s))
        out = []
        for k, (a, b) in enumerate(zip(spectra_a, spectra_b)):
            facts = {'score': float(score[k]), 'peaks_a': int(peaks_a[k]), 'peaks_b': int(peaks_b[k]),
                     'residual': float(residual[k])}
            reason = ''
            if min(a.confidence, b.confidence) < self.min_confidence or weight[k] <= 0:
                reason = (f'no directional sound (DOA confidence {a.confidence:.2f}, {b.confidence:.2f}; '
                          f'at least {self.min_confidence} needed)')
            elif score[k] < self.min_score:
                reason = f'spectra do not match under any rotation (score {score[k]:.2f} < {self.min_score})'
            elif residual[k] > self.max_residual:
                reason = (f'a peak no rotation explains (aligned spectra differ by {residual[k]:.2f} > '
                          f'{self.max_residual}): a source started or stopped')
            elif spread[k] > self.max_spread_deg:
                reason = (f'segment shifts disagree by {spread[k]:.1f}° (more than {self.max_spread_deg}°): '
                          'the sound field changed')
            if reason:
                out.append(AudioYaw(REFUSED, reason=reason, **facts))
                continue
            faint = max(1.0, CONFIDENCE_REF / max(min(a.confidence, b.confidence), 1e-3))
            std = float(np.hypot(STD_FLOOR_DEG, SPREAD_TO_STD * spread[k])) * faint
            travel = None if travels_m is None or self.source_distance_m <= 0 else travels_m[k]
            parallax = None if travel is None else predicted_parallax_deg(a.full, travel, self.source_distance_m)
            corrected = float(wrap_signed_deg(yaw[k] + (parallax or 0.0)))
            out.append(AudioYaw(OK, yaw_deg=corrected, std_deg=std, parallax_deg=parallax, **facts))
        return out
