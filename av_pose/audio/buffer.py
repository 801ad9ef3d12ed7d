"""A timestamped ring buffer for streaming multichannel audio.

Time is kept sample-accurately: the first chunk after a (re)start fixes the time of sample 0, and every later
sample's time is that origin plus its index / sample_rate. Chunk stamps are used only to detect gaps,
overlaps, duplicates, late chunks and time jumps, so stamp jitter does not make the timeline drift.
Times are float seconds (ROS time of the data); audio is C×T float32.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from av_pose.audio.pcm import sanitize
from av_pose.audio.wav import centred_window_start
from av_pose.errors import UserInputError


class PushStatus(enum.Enum):
    """What `AudioRingBuffer.push` did with a chunk."""

    OK = 'ok'                            # appended contiguously
    GAP_FILLED = 'gap_filled'            # a short gap before the chunk was filled with zeros
    DUPLICATE = 'duplicate'              # identical to data already held; dropped
    OVERLAP_TRIMMED = 'overlap_trimmed'  # the part already held was cut off, the rest appended
    OUT_OF_ORDER = 'out_of_order'        # arrived late (lies before the newest sample); rejected
    RESET = 'reset'                      # the buffer was cleared and restarted at this chunk


@dataclass(frozen=True)
class PushResult:
    """Outcome of one push: a status and a human-readable message (empty when all is normal)."""

    status: PushStatus
    message: str = ''


@dataclass(frozen=True)
class AudioWindow:
    """A window of audio cut from the buffer.

    Attributes:
        samples: C×N float32; zeros where the buffer had no real data.
        start_s: Time of the first sample, seconds.
        sample_rate: Hz.
        coverage: Fraction of the N samples that are real (not missing or gap-filled) data, 0..1.
    """

    samples: np.ndarray
    start_s: float
    sample_rate: float
    coverage: float

    @property
    def duration_s(self) -> float:
        """Window length N / sample_rate, seconds."""
        return self.samples.shape[-1] / self.sample_rate

    @property
    def center_s(self) -> float:
        """Time of the window centre, seconds."""
        return self.start_s + 0.5 * self.duration_s


class AudioRingBuffer:
    """Bounded, sample-accurate buffer of the most recent `capacity_s` seconds of C-channel audio.

    Args:
        channels: Number of channels C every chunk must have.
        sample_rate: Hz.
        capacity_s: Seconds of audio kept; older samples are overwritten.
        max_gap_fill_s: Longest gap (seconds) filled with zeros; a longer one restarts the buffer.
        max_backward_jump_s: A chunk stamped more than this before the newest sample is taken as a time
            jump (e.g. a bag replayed in a loop) and restarts the buffer; a smaller one is rejected as late.
        tolerance_s: Stamp error still treated as contiguous. Default: the largest of 2 samples, 1 ms and a
            quarter of the pushed chunk's duration, so stamps taken at arrival time (jittering by a fraction
            of a chunk) do not cause spurious gap fills, while a lost or repeated chunk is still detected.
    """

    def __init__(self, channels: int, sample_rate: float, capacity_s: float = 10.0,
                 max_gap_fill_s: float = 1.0, max_backward_jump_s: float = 1.0,
                 tolerance_s: float | None = None) -> None:
        if int(channels) < 1 or not sample_rate > 0 or not capacity_s > 0 or max_gap_fill_s < 0:
            raise UserInputError(f'invalid audio buffer settings: channels={channels}, '
                                 f'sample_rate={sample_rate}, capacity_s={capacity_s}, '
                                 f'max_gap_fill_s={max_gap_fill_s}')
        self.channels = int(channels)
        self.sample_rate = float(sample_rate)
        self.capacity = max(1, int(round(capacity_s * self.sample_rate)))
        self.max_gap_fill_s = float(max_gap_fill_s)
        self.max_backward_jump_s = float(max_backward_jump_s)
        self.tolerance_s = tolerance_s
        self._data = np.zeros((self.channels, self.capacity), dtype=np.float32)
        self._real = np.zeros(self.capacity, dtype=bool)
        self.reset()

    # ----------------------------------------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget all audio; the next chunk starts a new timeline."""
        self._origin_s: float | None = None  # time of sample index 0
        self._end = 0                        # index one past the newest sample

    @property
    def _held_from(self) -> int:
        return max(0, self._end - self.capacity)

    @property
    def num_samples(self) -> int:
        """Number of samples currently held (real or gap-filled)."""
        return self._end - self._held_from

    @property
    def start_s(self) -> float | None:
        """Time of the oldest held sample, seconds; None when empty."""
        return None if self._origin_s is None else self._time_of(self._held_from)

    @property
    def end_s(self) -> float | None:
        """Time just after the newest sample, seconds; None when empty."""
        return None if self._origin_s is None else self._time_of(self._end)

    def _tolerance_samples(self, count: int) -> float:
        if self.tolerance_s is not None:
            return self.tolerance_s * self.sample_rate
        return max(2.0, 1e-3 * self.sample_rate, 0.25 * count)

    def _time_of(self, index: int) -> float:
        return self._origin_s + index / self.sample_rate

    # ------------------------------------------------------------------------------------------- storage
    def _store(self, samples: np.ndarray | None, count: int) -> None:
        """Append `count` samples at the end (zeros flagged as not real when `samples` is None)."""
        skip = max(0, count - self.capacity)  # only the newest `capacity` samples can be kept
        start, n = self._end + skip, count - skip
        first = start % self.capacity
        split = min(n, self.capacity - first)
        pieces = ((slice(first, first + split), slice(0, split)), (slice(0, n - split), slice(split, n)))
        for dst, src in pieces:
            if samples is None:
                self._data[:, dst] = 0.0
                self._real[dst] = False
            else:
                self._data[:, dst] = samples[:, skip:][:, src]
                self._real[dst] = True
        self._end += count

    def _held(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of samples and real-flags for held indices [start, stop)."""
        first, n = start % self.capacity, stop - start
        if first + n <= self.capacity:
            return self._data[:, first:first + n].copy(), self._real[first:first + n].copy()
        wrap = first + n - self.capacity
        return (np.concatenate([self._data[:, first:], self._data[:, :wrap]], axis=1),
                np.concatenate([self._real[first:], self._real[:wrap]]))

    def _restart(self, samples: np.ndarray, stamp_s: float) -> None:
        self.reset()
        self._origin_s = float(stamp_s)
        self._store(samples, samples.shape[1])

    # ---------------------------------------------------------------------------------------------- push
    def push(self, samples: np.ndarray, stamp_s: float) -> PushResult:
        """Add a C×T chunk whose first sample was taken at `stamp_s` seconds.

        Raises:
            UserInputError: wrong channel count or shape, or a non-finite stamp.
        """
        samples = np.asarray(samples)
        if samples.ndim == 1 and self.channels == 1:
            samples = samples[None, :]
        if samples.ndim != 2 or samples.shape[0] != self.channels:
            raise UserInputError(f'audio chunk has shape {samples.shape}, expected {self.channels}×T '
                                 f'({self.channels} channels)')
        if not math.isfinite(stamp_s):
            raise UserInputError(f'audio chunk stamp must be finite, got {stamp_s}')
        samples, n_bad = sanitize(samples)
        note = f'; {n_bad} non-finite samples set to 0' if n_bad else ''
        count = samples.shape[1]
        if self._origin_s is None:
            self._restart(samples, stamp_s)
            return PushResult(PushStatus.OK, note.lstrip('; '))
        if count == 0:
            return PushResult(PushStatus.OK, 'empty chunk ignored')
        offset = (stamp_s - self._origin_s) * self.sample_rate - self._end  # in samples, 0 = contiguous
        offset_s = offset / self.sample_rate
        if abs(offset) <= self._tolerance_samples(count):
            self._store(samples, count)
            return PushResult(PushStatus.OK, note.lstrip('; '))
        if offset > 0:
            if offset_s > self.max_gap_fill_s:
                self._restart(samples, stamp_s)
                return PushResult(PushStatus.RESET, f'gap of {offset_s:.3f} s exceeds max_gap_fill_s '
                                  f'{self.max_gap_fill_s:g} s; buffer restarted{note}')
            gap = int(round(offset))
            self._store(None, gap)
            self._store(samples, count)
            return PushResult(PushStatus.GAP_FILLED, f'filled a gap of {gap} samples '
                              f'({offset_s * 1e3:.1f} ms) with zeros{note}')
        if -offset_s > self.max_backward_jump_s:
            self._restart(samples, stamp_s)
            return PushResult(PushStatus.RESET, f'time jumped back by {-offset_s:.3f} s (bag loop or clock '
                              f'reset?); buffer restarted{note}')
        start = self._end + int(round(offset))
        overlap = self._end - start
        if overlap < count:
            self._store(samples[:, overlap:], count - overlap)
            return PushResult(PushStatus.OVERLAP_TRIMMED, f'dropped {overlap} samples already held{note}')
        if start >= self._held_from:
            held, real = self._held(start, start + count)
            if real.all() and np.array_equal(held, samples):
                return PushResult(PushStatus.DUPLICATE, f'duplicate chunk stamped {stamp_s:.6f} s dropped')
        return PushResult(PushStatus.OUT_OF_ORDER, f'late chunk stamped {stamp_s:.6f} s '
                          f'({-offset_s * 1e3:.1f} ms before the newest sample) rejected')

    # -------------------------------------------------------------------------------------------- window
    def window(self, center_s: float, duration_s: float) -> AudioWindow:
        """Cut N = round(duration_s · sample_rate) samples centred on `center_s` seconds.

        The window starts at the sample nearest to center_s − N / (2 · sample_rate). Samples outside the held
        range are zeros; `coverage` is the fraction of real data.
        """
        n = int(round(duration_s * self.sample_rate))
        if n < 1 or not math.isfinite(center_s):
            raise UserInputError(f'audio window needs a finite centre and a duration of at least one sample, '
                                 f'got centre {center_s}, duration {duration_s} s')
        out = np.zeros((self.channels, n), dtype=np.float32)
        if self._origin_s is None:
            return AudioWindow(out, center_s - 0.5 * n / self.sample_rate, self.sample_rate, 0.0)
        start = centred_window_start(center_s, self._origin_s, self.sample_rate, n)
        lo, hi = max(start, self._held_from), min(start + n, self._end)
        covered = 0
        if hi > lo:
            held, real = self._held(lo, hi)
            out[:, lo - start:hi - start] = held
            covered = int(np.count_nonzero(real))
        return AudioWindow(out, self._time_of(start), self.sample_rate, covered / n)
