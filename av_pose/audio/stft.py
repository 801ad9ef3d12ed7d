"""Batched short-time Fourier transform in torch (CPU or CUDA)."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch


def default_nfft(sample_rate: float) -> int:
    """Power-of-two FFT length closest (in log scale) to 25 ms: 512 at 16 kHz, 1024 at 48 kHz."""
    return int(2 ** round(math.log2(0.025 * sample_rate)))


def as_batch(audio: np.ndarray | torch.Tensor, device: torch.device | str = 'cpu') -> torch.Tensor:
    """Audio C×T or B×C×T (numpy or torch) → float32 tensor B×C×T on `device`."""
    tensor = torch.as_tensor(audio, device=device)
    if tensor.ndim == 2:
        tensor = tensor[None]
    if tensor.ndim != 3:
        raise ValueError(f'audio must be C×T or B×C×T, got shape {tuple(tensor.shape)}')
    return tensor.to(torch.float32)


def stft(audio: torch.Tensor, nfft: int, hop: int | None = None) -> torch.Tensor:
    """STFT of B×C×T audio with a periodic Hann window, no padding.

    Returns:
        Complex tensor B×C×F×N with F = nfft // 2 + 1 bins (bin k at k·fs/nfft Hz) and
        N = 1 + (T − nfft) // hop frames.
    """
    hop = hop or nfft // 2
    batch, channels, samples = audio.shape
    if samples < nfft:
        raise ValueError(f'{samples} samples is shorter than one FFT frame ({nfft})')
    window = _hann_window(nfft, audio.device, audio.dtype)
    spec = torch.stft(audio.reshape(batch * channels, samples), n_fft=nfft, hop_length=hop, window=window,
                      center=False, return_complex=True)
    return spec.reshape(batch, channels, spec.shape[-2], spec.shape[-1])


@lru_cache(maxsize=16)
def _hann_window(nfft: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.hann_window(nfft, periodic=True, device=device, dtype=dtype)
