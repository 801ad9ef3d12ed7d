"""Raw PCM bytes <-> C×T float32 sample arrays.

Supported sample formats (little-endian, case-insensitive): S16LE, S32LE, F32LE, also spelled as numpy dtype
names (int16, int32, float32, '<i2', ...). Integer formats are scaled by 2^(bits-1), so decoded samples lie in
[-1, 1). Float samples are passed through unscaled; non-finite float samples are replaced by 0 and counted
(a ROS node must never crash on a NaN in a message).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from av_pose.errors import UserInputError

LAYOUTS = ('interleaved', 'planar')


class PcmFormatError(UserInputError):
    """PCM data that cannot be decoded or encoded as asked (unknown format, bad length, bad shape)."""


@dataclass(frozen=True)
class SampleFormat:
    """A PCM sample format: canonical name, little-endian numpy dtype and full-scale value."""

    name: str
    dtype: np.dtype
    full_scale: float

    @property
    def is_integer(self) -> bool:
        """True for integer (fixed-point) formats."""
        return self.dtype.kind == 'i'


_FORMATS = {
    'S16LE': SampleFormat('S16LE', np.dtype('<i2'), 2.0 ** 15),
    'S32LE': SampleFormat('S32LE', np.dtype('<i4'), 2.0 ** 31),
    'F32LE': SampleFormat('F32LE', np.dtype('<f4'), 1.0),
}


def parse_sample_format(sample_format: str) -> SampleFormat:
    """The `SampleFormat` named by `sample_format` (S16LE/S32LE/F32LE or a numpy dtype name)."""
    key = str(sample_format).strip().upper()
    if key in _FORMATS:
        return _FORMATS[key]
    try:
        dtype = np.dtype(str(sample_format).strip().lower())
    except TypeError:
        dtype = None
    if dtype is not None and dtype.byteorder != '>':
        for fmt in _FORMATS.values():
            if dtype.kind == fmt.dtype.kind and dtype.itemsize == fmt.dtype.itemsize:
                return fmt
    raise PcmFormatError(f'unsupported PCM sample format {sample_format!r}; '
                         f'use one of {", ".join(_FORMATS)} (or int16, int32, float32)')


def sanitize(samples: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace non-finite samples (NaN, ±inf) by 0.

    Returns the cleaned float32 array (a copy only when something was replaced) and the number of samples
    that were replaced.
    """
    samples = np.asarray(samples, dtype=np.float32)
    bad = ~np.isfinite(samples)
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        samples = np.where(bad, np.float32(0.0), samples)
    return samples, n_bad


def _check_layout(layout: str) -> str:
    layout = str(layout).strip().lower()
    if layout not in LAYOUTS:
        raise PcmFormatError(f'unknown PCM layout {layout!r}; use interleaved or planar')
    return layout


def _raw_values(data: bytes | np.ndarray, fmt: SampleFormat) -> np.ndarray:
    """The flat sample values in `data`, either raw bytes or an array of already-typed samples."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = np.frombuffer(data, dtype=np.uint8)
    else:
        raw = np.asarray(data)
        if raw.dtype.kind not in 'uif':
            raise PcmFormatError(f'PCM data must be bytes or a numeric array, got dtype {raw.dtype}')
        if raw.dtype.kind != 'u' or raw.dtype.itemsize != 1:
            return raw.reshape(-1)  # already one value per sample (e.g. an int16[] message field)
        raw = raw.reshape(-1)
    if raw.size % fmt.dtype.itemsize:
        raise PcmFormatError(f'{raw.size} bytes of {fmt.name} PCM is not a whole number of '
                             f'{fmt.dtype.itemsize}-byte samples')
    return np.frombuffer(np.ascontiguousarray(raw).tobytes(), dtype=fmt.dtype)


def decode_pcm_counted(data: bytes | np.ndarray, sample_format: str, channels: int,
                       layout: str = 'interleaved') -> tuple[np.ndarray, int]:
    """Like `decode_pcm`, also returning how many non-finite samples were replaced by 0."""
    fmt = parse_sample_format(sample_format)
    layout = _check_layout(layout)
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
        raise PcmFormatError(f'channel count must be a positive integer, got {channels!r}')
    values = _raw_values(data, fmt)
    if values.size % channels:
        raise PcmFormatError(f'{values.size} {fmt.name} samples cannot be split into {channels} channels '
                             f'({values.size * fmt.dtype.itemsize} bytes is not a multiple of '
                             f'{channels} channels × {fmt.dtype.itemsize} bytes)')
    frames = values.size // channels
    if layout == 'interleaved':
        grid = values.reshape(frames, channels).T
    else:
        grid = values.reshape(channels, frames)
    samples = np.ascontiguousarray(grid, dtype=np.float32)
    if fmt.is_integer:
        samples *= np.float32(1.0 / fmt.full_scale)
        return samples, 0
    return sanitize(samples)


def decode_pcm(data: bytes | np.ndarray, sample_format: str, channels: int,
               layout: str = 'interleaved') -> np.ndarray:
    """Decode PCM into a C×T float32 array.

    Args:
        data: Raw little-endian PCM bytes (bytes, bytearray, memoryview or a uint8 array), or an array of
            sample values already in the format's type (e.g. an int16 array, scaled like S16LE).
        sample_format: S16LE, S32LE or F32LE (case-insensitive) or a numpy dtype name (int16, int32, float32).
        channels: Number of channels C.
        layout: 'interleaved' (c0 c1 ... c0 c1 ...) or 'planar' (all of c0, then all of c1, ...).

    Returns:
        C×T float32; integer formats in [-1, 1). Non-finite float samples are replaced by 0 (use
        `decode_pcm_counted` to learn how many).

    Raises:
        PcmFormatError: unknown format or layout, or a length that is not a multiple of C × sample size.
    """
    return decode_pcm_counted(data, sample_format, channels, layout)[0]


def encode_pcm(samples: np.ndarray, sample_format: str, layout: str = 'interleaved') -> bytes:
    """Encode C×T float samples into little-endian PCM bytes (the inverse of `decode_pcm`).

    Samples are clipped to [-1, 1] and non-finite ones written as 0; integer formats round to the nearest
    step (+1.0 saturates at the largest positive code).
    """
    fmt = parse_sample_format(sample_format)
    layout = _check_layout(layout)
    samples = np.asarray(samples)
    if samples.ndim != 2:
        raise PcmFormatError(f'samples to encode must be C×T (2-D), got shape {samples.shape}')
    clean, _ = sanitize(samples)
    clipped = np.clip(clean.astype(np.float64), -1.0, 1.0)
    if fmt.is_integer:
        info = np.iinfo(fmt.dtype)
        scaled = np.clip(np.rint(clipped * fmt.full_scale), info.min, info.max)
    else:
        scaled = clipped
    ordered = scaled.T if layout == 'interleaved' else scaled
    return np.ascontiguousarray(ordered, dtype=fmt.dtype).tobytes()
