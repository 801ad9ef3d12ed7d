"""WAV file input/output for multichannel audio (C×T float32 in the core)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from av_pose.errors import UserInputError


def open_wav(path: str | Path) -> tuple[int, np.ndarray]:
    """(sample rate Hz, T×C samples in the file's dtype), memory-mapped where possible; mono becomes T×1."""
    try:
        try:
            sample_rate, data = wavfile.read(path, mmap=True)
        except ValueError:  # e.g. 24-bit PCM cannot be memory-mapped; scipy reads it as int32 in memory
            sample_rate, data = wavfile.read(path, mmap=False)
    except FileNotFoundError as err:
        raise UserInputError(f'{path}: no such audio file') from err
    except (ValueError, OSError, EOFError) as err:
        raise UserInputError(f'{path}: not a readable WAV file ({err})') from err
    return int(sample_rate), data[:, None] if data.ndim == 1 else data


def pcm_to_float(samples: np.ndarray) -> np.ndarray:
    """Integer or float PCM samples as float32 in [-1, 1] (int16/int32 scaled by their full range)."""
    if np.issubdtype(samples.dtype, np.floating):
        return np.asarray(samples, dtype=np.float32)
    if samples.dtype == np.uint8:
        return (samples.astype(np.float32) - 128.0) / 128.0
    return samples.astype(np.float32) / float(-np.iinfo(samples.dtype).min)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a whole WAV file as (C×T float32 in [-1, 1], sample rate Hz)."""
    sample_rate, data = open_wav(path)
    return np.ascontiguousarray(pcm_to_float(np.asarray(data)).T), sample_rate


def centred_window_start(center_s: float, first_sample_s: float, sample_rate: float, num: int) -> int:
    """Index of the first of `num` samples centred on `center_s`, the sample at `first_sample_s` being index 0.

    The window starts at the sample nearest to center_s − num / (2 · sample_rate) (halves round up); the
    ring buffer and file readers share this rule so that they cut identical windows.
    """
    return int(math.floor((center_s - first_sample_s) * sample_rate - 0.5 * num + 0.5))


def extract_window(samples_tc: np.ndarray, sample_rate: float, center_s: float, duration_s: float,
                   first_sample_s: float = 0.0) -> tuple[np.ndarray, float]:
    """The `duration_s` window centred on `center_s` of T×C samples whose first sample is at `first_sample_s`.

    Returns (C×N float32 with N = round(duration_s · sample_rate), coverage in [0, 1]): the part of the
    window outside the recording is zeros and coverage is the fraction that was inside it. Only the N rows
    needed are read, so memory-mapped input stays on disk.
    """
    num = int(round(duration_s * sample_rate))
    start = centred_window_start(center_s, first_sample_s, sample_rate, num)
    lo, hi = max(start, 0), min(start + num, samples_tc.shape[0])
    out = np.zeros((samples_tc.shape[1], num), dtype=np.float32)
    if hi > lo:
        out[:, lo - start:hi - start] = pcm_to_float(np.asarray(samples_tc[lo:hi])).T
    return out, max(hi - lo, 0) / num if num else 0.0


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write C×T audio as a float32 WAV file (channel order preserved)."""
    wavfile.write(Path(path), int(sample_rate), np.ascontiguousarray(np.asarray(audio, np.float32).T))
