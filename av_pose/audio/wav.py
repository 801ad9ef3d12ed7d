"""WAV file input/output for multichannel audio (C×T float32 in the core)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import wavfile

from av_pose.errors import UserInputError

_INT_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0, np.dtype(np.uint8): 128.0}


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a WAV file as (C×T float32 in [-1, 1], sample rate Hz)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f'{path}: no such audio file')
    try:
        sample_rate, data = wavfile.read(path, mmap=False)
    except (ValueError, EOFError) as err:
        raise UserInputError(f'{path}: not a readable WAV file ({err})') from err
    data = np.atleast_2d(data.T) if data.ndim == 2 else data[None, :]
    if data.dtype == np.uint8:
        samples = (data.astype(np.float32) - 128.0) / 128.0
    elif data.dtype in _INT_SCALE:
        samples = data.astype(np.float32) / _INT_SCALE[data.dtype]
    else:
        samples = data.astype(np.float32)
    return np.ascontiguousarray(samples), int(sample_rate)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write C×T audio as a float32 WAV file (channel order preserved)."""
    wavfile.write(Path(path), int(sample_rate), np.ascontiguousarray(np.asarray(audio, np.float32).T))
