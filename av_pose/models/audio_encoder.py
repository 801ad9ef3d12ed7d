"""The spatial audio encoder (SAE) of the AV camera-pose paper: fixed audio features and the trainable encoder.

`AudioFeaturizer` (no parameters) turns a multichannel window into the two inputs of the encoder:

- a 360-bin NormMUSIC spectrum in the **camera heading frame**: bin k covers headings [k°, k+1°) counter-clockwise
  seen from above (about camera −y) from the optical axis, so 0° is straight ahead and 90° is image left. It is
  the array spectrum resampled through the array mount `T_cam_array`, so one model serves any array and mount.
- a binaural rendering: channels → mono (mean) → HRTF with the head facing the camera's optical axis (the
  paper's fixed render). The head never turns and the mono source sits straight ahead, so with a left/right
  symmetric HRTF both ears are the same filter of the mono: this feature carries the source's spectral content
  (what sounds, how loud, how reverberant), not its direction. That is how the paper did it; direction comes
  from the DOA spectrum.

`SpatialAudioEncoder` fuses [f_D (360) ‖ f_B] → Linear → out_dim, f_B from `BinauralEncoder` (STFT → SLfM's
4 channels → ResNet-18), the same class the NVAS pretext network (`av_pose.models.nvas`) trains.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from av_pose.audio.arrays import MicArray, load_array
from av_pose.audio.binaural import Hrtf, SphericalHeadHrtf
from av_pose.audio.doa import DirectionGrid, make_estimator, resolve_device
from av_pose.audio.doa.grid import SECTORS
from av_pose.audio.stft import as_batch
from av_pose.errors import UserInputError
from av_pose.geometry import R_CAM_ARRAY_DEFAULT
from av_pose.models.resnet import ResNet18

MIN_COVERAGE = 0.5
"""Windows with a smaller recorded fraction are not usable."""
MAX_TILT_DEG = 60.0
"""Largest angle between the array's z axis and the camera's vertical axis whose DOA maps to camera headings."""
HRIR_CACHE = 512
"""HRIR spectra (per FFT size and heading) kept by a featurizer."""
DB_RANGE = (-100.0, 60.0)
"""Binaural STFT magnitudes in dB are mapped from this range to [−1, 1] (SLfM)."""


def usable(audio: np.ndarray | torch.Tensor, coverage, min_coverage: float = MIN_COVERAGE) -> torch.Tensor:
    """B bool: False where a window holds a non-finite sample, is all zero, or has coverage < `min_coverage`.

    Args:
        audio: C×N or B×C×N windows (numpy or torch, any device).
        coverage: recorded fraction of each window: a number or B numbers (list, array or tensor).
        min_coverage: the smallest usable coverage.
    """
    batch = torch.as_tensor(audio)
    if batch.ndim == 2:
        batch = batch[None]
    finite = torch.isfinite(batch).flatten(1).all(1)
    nonzero = (torch.nan_to_num(batch, nan=0.0, posinf=0.0, neginf=0.0) != 0).flatten(1).any(1)
    covered = torch.as_tensor(coverage, dtype=torch.float64).reshape(-1).to(batch.device)
    covered = torch.nan_to_num(covered, nan=0.0) >= min_coverage
    return finite & nonzero & covered.expand(batch.shape[0])


def heading_map(T_cam_array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear-interpolation table from array DOA sectors to camera heading sectors.

    Camera heading φ (about camera −y, 0° = optical axis, 90° = image left) is the azimuth in the frame of an
    array at the default mount (`R_CAM_ARRAY_DEFAULT`). The centre φ_k = k + 0.5° of heading sector k is
    rotated into the array frame, R_caᵀ·R_default·(cos φ, sin φ, 0), and the array spectrum is read at that
    direction's azimuth θ between the two nearest sector centres. A yaw-only mount by whole degrees is an
    exact circular shift; an upside-down (roll 180°) mount reverses the order.

    Returns:
        (index 360×2 int64, weight 360×2 float32): camera[k] = Σ_j weight[k, j]·array[index[k, j]].

    Raises:
        UserInputError: the array's plane is tilted more than MAX_TILT_DEG from the camera's horizontal plane
            (an upside-down array is level).
    """
    R_cam_array = np.asarray(T_cam_array, dtype=np.float64).reshape(4, 4)[:3, :3]
    # Angle between the array's z axis and the camera's vertical axis (y); upside down (180°) counts as level.
    tilt = math.degrees(math.acos(min(abs(float(R_cam_array[1, 2])), 1.0)))
    if tilt > MAX_TILT_DEG:
        raise UserInputError(f'the array z axis is {tilt:.0f}° from the camera vertical axis (more than '
                             f'{MAX_TILT_DEG:.0f}°): its horizontal DOA cannot be expressed as camera headings')
    heading = np.radians(np.arange(SECTORS) + 0.5)
    directions = np.stack([np.cos(heading), np.sin(heading), np.zeros_like(heading)], -1)
    in_array = directions @ (R_cam_array.T @ R_CAM_ARRAY_DEFAULT).T
    theta = np.degrees(np.arctan2(in_array[:, 1], in_array[:, 0])) % 360.0
    position = np.round(theta - 0.5, 6)  # fractional sector index (sector i is centred at i + 0.5°); whole
    # degrees stay whole despite rounding errors, so yaw-only mounts are exact shifts
    lower = np.floor(position)
    upper_weight = (position - lower).astype(np.float32)
    index = np.stack([lower, lower + 1.0], -1).astype(np.int64) % SECTORS
    return index, np.stack([1.0 - upper_weight, upper_weight], -1)


def camera_heading_deg(azimuth_deg: np.ndarray | float, T_cam_array: np.ndarray) -> np.ndarray:
    """Camera heading(s) in [0, 360) degrees of horizontal array-frame azimuth(s) (REP-103, CCW from array +x).

    The direction is rotated into the frame of an array at the default mount (R_defaultᵀ·R_ca) and its azimuth
    taken there (0° = optical axis, 90° = image left). The inverse of `heading_map`.
    """
    R_cam_array = np.asarray(T_cam_array, dtype=np.float64).reshape(4, 4)[:3, :3]
    azimuth = np.radians(np.asarray(azimuth_deg, dtype=np.float64))
    directions = np.stack([np.cos(azimuth), np.sin(azimuth), np.zeros_like(azimuth)], -1)
    in_heading_frame = directions @ (R_CAM_ARRAY_DEFAULT.T @ R_cam_array).T
    return np.degrees(np.arctan2(in_heading_frame[..., 1], in_heading_frame[..., 0])) % 360.0


def _fft_size(samples: int) -> int:
    """A fast FFT length ≥ `samples` (2^a·3^b·5^c)."""
    size = samples
    while True:
        rest = size
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return size
        size += 1


@dataclass(frozen=True)
class AudioFeatures:
    """Encoder inputs for B windows, on the featurizer's device.

    Attributes:
        doa: B×360 float32 in [0, 1], NormMUSIC spectrum in the camera heading frame (min-max per window;
            all zero for a window without any signal).
        binaural: B×2×M float32 at `binaural_rate` (row 0 left ear), M = round(N·binaural_rate / sample_rate).
    """

    doa: torch.Tensor
    binaural: torch.Tensor


class AudioFeaturizer:
    """Fixed (parameter-free) audio features of one array, mount and sample rate; batched on `device`.

    Args:
        sample_rate: rate of the input windows, Hz.
        array: the microphone array (a MicArray or a preset name / YAML path).
        T_cam_array: 4×4 array frame → camera optical frame (the scene record's `T_cam_array`).
        device: 'cpu', 'cuda', 'auto' or a torch device.
        hrtf: HRTF of the binaural render, sampled at `binaural_rate` (default: a spherical head).
        binaural_rate: rate of the binaural output, Hz.
        freq_range_hz: DOA band, Hz; its top is kept below 0.45 × sample_rate.
        nfft: DOA FFT length (default about 25 ms).

    Channels are in the array's (preset) order: undo a mirrored wiring first (`av_pose.audio.mount.
    apply_channel_order`). DOA: NormMUSIC with one source (pseudo-intensity for FOA arrays) on a 1° grid, mapped
    by `heading_map`.
    Binaural: the mono window is resampled to `binaural_rate` and convolved with the HRIR at azimuth 0 in one
    zero-padded FFT (linear convolution, ideal band-limited resampling), truncated to the window: the torch form
    of `av_pose.audio.binaural.multichannel_to_binaural(audio, hrtf, 0.0)`; `binaural(mono, headings)` renders
    at other headings. Cost on one CPU thread: about 2 ms per 1 s respeaker4 window at 16 kHz, 4 ms for uma8 at
    48 kHz.
    """

    def __init__(self, sample_rate: int, array: MicArray | str, T_cam_array: np.ndarray, *,
                 device: str | torch.device = 'cpu', hrtf: Hrtf | None = None, binaural_rate: int = 16000,
                 freq_range_hz: tuple[float, float] = (500.0, 4000.0), nfft: int | None = None) -> None:
        self.array = load_array(array)
        self.sample_rate = int(sample_rate)
        self.binaural_rate = int(binaural_rate)
        self.device = resolve_device(device)
        self.T_cam_array = np.asarray(T_cam_array, dtype=np.float64).reshape(4, 4)
        self.hrtf = hrtf if hrtf is not None else SphericalHeadHrtf(self.binaural_rate)
        if self.hrtf.sample_rate != self.binaural_rate:
            raise UserInputError(f'the HRTF is sampled at {self.hrtf.sample_rate} Hz, binaural_rate is '
                                 f'{self.binaural_rate} Hz')
        high = min(float(freq_range_hz[1]), 0.45 * self.sample_rate)
        self.estimator = make_estimator('intensity' if self.array.kind == 'foa' else 'normmusic', self.array,
                                        self.sample_rate, device=self.device, nfft=nfft,
                                        freq_range_hz=(min(float(freq_range_hz[0]), 0.5 * high), high),
                                        grid=DirectionGrid(step_deg=1.0, offset_deg=0.5))
        index, weight = heading_map(self.T_cam_array)
        self._heading_index = torch.as_tensor(index, device=self.device)
        self._heading_weight = torch.as_tensor(weight, device=self.device)
        self._hrir_length = int(self.hrtf.hrir(0.0, 0.0).shape[-1])
        gcd = math.gcd(self.sample_rate, self.binaural_rate)
        self._up, self._down = self.binaural_rate // gcd, self.sample_rate // gcd
        self._hrir_spectra: dict[tuple[int, float], torch.Tensor] = {}

    def featurize(self, audio: np.ndarray | torch.Tensor) -> AudioFeatures:
        """Features of C×N or B×C×N windows at `sample_rate` (non-finite samples count as 0; see `usable`)."""
        batch = as_batch(audio, self.device)
        if batch.shape[1] != self.array.num_channels:
            raise UserInputError(f'audio has {batch.shape[1]} channels, array {self.array.name} has '
                                 f'{self.array.num_channels}')
        if batch.shape[-1] < self.estimator.nfft:
            raise UserInputError(f'audio window of {batch.shape[-1]} samples is shorter than one DOA frame '
                                 f'({self.estimator.nfft})')
        batch = torch.nan_to_num(batch, nan=0.0, posinf=0.0, neginf=0.0)
        with torch.no_grad():
            return AudioFeatures(doa=self.doa(batch), binaural=self.binaural(batch.mean(1)))

    def doa(self, batch: torch.Tensor) -> torch.Tensor:
        """B×C×N finite audio → B×360 camera-heading spectrum in [0, 1]."""
        values = self.estimator.grid_values(self.estimator.stft(batch))
        sectors = self.estimator.grid.to_sectors(torch.nan_to_num(values.float(), nan=0.0, posinf=0.0))
        camera = (sectors.clamp_min(0.0)[:, self._heading_index] * self._heading_weight).sum(-1)
        low, high = camera.amin(1, keepdim=True), camera.amax(1, keepdim=True)
        return ((camera - low) / (high - low).clamp_min(1e-12)).float()

    def binaural(self, mono: torch.Tensor, source_heading_deg: float | np.ndarray = 0.0) -> torch.Tensor:
        """B×N mono at `sample_rate` → B×2×M binaural at `binaural_rate`, for a head facing the optical axis.

        Args:
            mono: B×N tensor on this featurizer's device.
            source_heading_deg: camera heading of the sound (a number or B numbers, rounded to 0.1°). The
                default 0 (straight ahead) is `featurize`'s fixed render; true headings give a head that turns
                with the camera (e.g. training views for the NVAS pretext from ShoeboxAV ground truth).
        """
        samples = mono.shape[-1]
        headings = np.broadcast_to(np.asarray(source_heading_deg, dtype=np.float64), (mono.shape[0],))
        # Pad so the HRIR tail never wraps round and both lengths are whole multiples of the rate ratio.
        padded = _fft_size(samples + math.ceil(self._hrir_length * self._down / self._up))
        padded = math.ceil(padded / self._down) * self._down
        out_padded = padded // self._down * self._up
        spectrum = torch.fft.rfft(mono, n=padded)  # bin spacing sample_rate / padded = binaural_rate / out_padded
        bins = min(spectrum.shape[-1], out_padded // 2 + 1)
        if np.all(headings == headings[0]):  # one render for the whole batch (always so in `featurize`)
            hrir_spectra = self._hrir_spectrum(out_padded, headings[0])[None]  # 1×2×F
        else:
            hrir_spectra = torch.stack([self._hrir_spectrum(out_padded, heading) for heading in headings])  # B×2×F
        out = torch.zeros(mono.shape[0], 2, out_padded // 2 + 1, dtype=spectrum.dtype, device=mono.device)
        out[..., :bins] = spectrum[:, None, :bins] * hrir_spectra[..., :bins] * (out_padded / padded)
        length = int(round(samples * self._up / self._down))
        return torch.fft.irfft(out, n=out_padded)[..., :length].contiguous()

    def _hrir_spectrum(self, size: int, heading_deg: float) -> torch.Tensor:
        key = (size, round(float(heading_deg) % 360.0, 1))
        if key not in self._hrir_spectra:
            if len(self._hrir_spectra) >= HRIR_CACHE:
                self._hrir_spectra.clear()
            hrir = torch.as_tensor(self.hrtf.hrir(key[1], 0.0), dtype=torch.float32, device=self.device)  # 2×L
            self._hrir_spectra[key] = torch.fft.rfft(hrir, n=size)
        return self._hrir_spectra[key]


class BinauralEncoder(nn.Module):
    """Binaural audio B×2×M → B×embed_dim: STFT → [L mag, L phase, R mag, R phase] → ResNet-18 (SLfM).

    Magnitudes are 20·log10|X| mapped from DB_RANGE to [−1, 1] (clipped), phases are angle / π; the Nyquist
    bin is dropped (F = n_fft / 2 bins), frames are centred (T = 1 + M // hop_length). SLfM's 4-channel
    magnitude/phase input is kept rather than log-magnitude + IPD: the phases keep the interaural time
    difference at every frequency, and NVAS-style pretraining is published with this input. The STFT runs in the
    module, so the encoder runs on the model's device; its window is a non-persistent buffer, so the state_dict
    holds only `resnet.*` (what `SpatialAudioEncoder.binaural_encoder` and `NvasUNet.binaural_encoder` share).

    Args:
        embed_dim: output size (1024 in the paper).
        n_fft, win_length, hop_length: STFT of the binaural audio, samples (SLfM at 16 kHz: 512, 400, 160).
        width: the ResNet-18's first-layer channels (64 as published; 16 makes a CPU-sized encoder).
    """

    def __init__(self, embed_dim: int = 1024, n_fft: int = 512, win_length: int = 400, hop_length: int = 160,
                 width: int = 64):
        super().__init__()
        if not 0 < win_length <= n_fft or hop_length <= 0 or n_fft % 2:
            raise UserInputError(f'bad binaural STFT: n_fft={n_fft} (even), win_length={win_length}, '
                                 f'hop_length={hop_length}')
        self.embed_dim, self.n_fft, self.win_length, self.hop_length = embed_dim, n_fft, win_length, hop_length
        self.resnet = ResNet18(in_channels=4, embed_dim=embed_dim, width=width)
        self.register_buffer('window', torch.hann_window(win_length), persistent=False)

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        """B×K×M audio → complex B×K×(n_fft/2)×T STFT (centred frames, zero padding, no Nyquist bin)."""
        batch, channels, samples = audio.shape
        spec = torch.stft(audio.reshape(batch * channels, samples).float(), self.n_fft, self.hop_length,
                          self.win_length, self.window, center=True, pad_mode='constant', return_complex=True)
        return spec[:, :-1].reshape(batch, channels, self.n_fft // 2, spec.shape[-1])

    def features(self, binaural: torch.Tensor) -> torch.Tensor:
        """B×2×M → B×4×(n_fft/2)×T network input in [−1, 1]."""
        spec = self.stft(binaural)
        low, high = DB_RANGE
        magnitude = 20.0 * torch.log10(spec.abs().clamp_min(1e-10))
        magnitude = ((magnitude - low) / (high - low) * 2.0 - 1.0).clamp(-1.0, 1.0)
        phase = torch.angle(spec) / math.pi
        return torch.stack([magnitude[:, 0], phase[:, 0], magnitude[:, 1], phase[:, 1]], 1)

    def forward(self, binaural: torch.Tensor) -> torch.Tensor:
        """B×2×M binaural audio → B×embed_dim."""
        return self.resnet(self.features(binaural))


class SpatialAudioEncoder(nn.Module):
    """Per-view audio embedding: [f_D (360) ‖ f_B (binaural_dim)] → Linear → out_dim.

    Args:
        out_dim: embedding size (768, the Reloc3r-512 decoder width; smaller for small configs).
        binaural_dim: size of f_B, the binaural encoder's output (1024 in the paper).
        use_doa, use_binaural: ablations; a dropped part has no parameters and the Linear input shrinks.
        n_fft, win_length, hop_length: the binaural encoder's STFT (samples at the featurizer's binaural_rate).
        resnet_width: the binaural ResNet-18's first-layer channels (64 as published).

    Attributes:
        binaural_encoder: the `BinauralEncoder` (None without binaural); NVAS weights load into it strictly.
        config: the constructor arguments (for checkpoints: `SpatialAudioEncoder(**config)`).
    """

    def __init__(self, out_dim: int = 768, binaural_dim: int = 1024, use_doa: bool = True,
                 use_binaural: bool = True, n_fft: int = 512, win_length: int = 400, hop_length: int = 160,
                 resnet_width: int = 64):
        super().__init__()
        if not (use_doa or use_binaural):
            raise UserInputError('the spatial audio encoder needs the DOA or the binaural part (or both)')
        self.config = {'out_dim': int(out_dim), 'binaural_dim': int(binaural_dim), 'use_doa': bool(use_doa),
                       'use_binaural': bool(use_binaural), 'n_fft': int(n_fft), 'win_length': int(win_length),
                       'hop_length': int(hop_length), 'resnet_width': int(resnet_width)}
        self.use_doa, self.use_binaural, self.out_dim = bool(use_doa), bool(use_binaural), int(out_dim)
        self.binaural_encoder = BinauralEncoder(binaural_dim, n_fft, win_length, hop_length, resnet_width) \
            if use_binaural else None
        self.fusion = nn.Linear(SECTORS * self.use_doa + binaural_dim * self.use_binaural, out_dim)

    def forward(self, doa: torch.Tensor | None, binaural: torch.Tensor | None) -> torch.Tensor:
        """Embed B views: doa B×360 (camera heading frame, [0, 1]), binaural B×2×M → B×out_dim.

        An input the encoder does not use (use_doa / use_binaural off) may be None.
        """
        parts = []
        if self.use_doa:
            if doa is None or doa.shape[-1] != SECTORS:
                raise ValueError(f'doa must be B×{SECTORS}, got {None if doa is None else tuple(doa.shape)}')
            parts.append(doa.float())
        if self.binaural_encoder is not None:
            if binaural is None:
                raise ValueError('binaural audio B×2×M is required (use_binaural=True)')
            parts.append(self.binaural_encoder(binaural))
        return self.fusion(torch.cat(parts, -1))
