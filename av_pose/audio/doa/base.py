"""Shared machinery of the DOA estimators: band selection, steering, batching and results."""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from av_pose.audio.arrays import SPEED_OF_SOUND_M_S, MicArray, speed_of_sound_m_s
from av_pose.audio.doa.grid import DirectionGrid, Grid, SphereGrid, steering_vectors
from av_pose.audio.doa.zones import Votes, ZoneVoting, default_zone_sources, zone_source_count
from av_pose.audio.stft import as_batch, default_nfft, stft
from av_pose.errors import UserInputError

STFT_CHUNK_SAMPLES = 1 << 19  # CPU STFT chunk, samples (C·T per window × windows): keeps it in cache
MAX_ZONE_SOURCES = 8  # most sources one window reports with zone voting
FREQUENCY_INNERMOST = (0, 2, 3, 1)  # band memory B×C×N×F (`DoaEstimator.band_memory_order`)
FRAMES_INNERMOST = (0, 2, 1, 3)  # band memory B×C×F×N
MAX_WORKSPACE_VIEWS = 64  # shapes remembered per workspace block (views only: no memory)

@dataclass(frozen=True)
class DoaResult:
    """DOA of a batch of B windows, K sources each.

    Attributes:
        spectrum: B×360 float32 in [0, 1]; bin i is the azimuth sector [i°, i+1°) counter-clockwise from
            the array's +x axis, min-max normalised per window.
        azimuths_deg: B×K source azimuths in [0, 360), strongest first; NaN where fewer peaks exist.
        confidence: B×K in [0, 1]: 1 − median / peak of the un-normalised spectrum (0 for a flat spectrum);
            with zone voting, the share of the window's votes the peak gathered.
        elevations_deg: B×K elevation of each source, degrees up from the array's x-y plane (the best grid
            elevation at the source's azimuth on a `DirectionGrid`, 0 on the default horizontal one; the
            refined peak direction on a `SphereGrid`; NaN where no source).
    """

    spectrum: np.ndarray
    azimuths_deg: np.ndarray
    confidence: np.ndarray
    elevations_deg: np.ndarray


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' → CUDA when available, else CPU; anything else as given (UserInputError if unusable)."""
    if str(device) == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise UserInputError(f'unknown torch device {device!r} (use auto, cpu or cuda)') from err
    if resolved.type == 'cuda' and not torch.cuda.is_available():
        raise UserInputError(f'device {device} requested but no CUDA device is available (use auto or cpu)')
    return resolved


@dataclass
class _Workspace:
    """One workspace block (flat) and its views by shape."""

    block: torch.Tensor
    views: dict[tuple[int, ...], torch.Tensor] = field(default_factory=dict)


class DoaEstimator(ABC):
    """Direction-of-arrival estimation on a fixed direction grid, batched over windows.

    Steering vectors for the frequency bins are computed once here; subclasses implement `grid_spectrum`,
    mapping band-limited STFT frames to one non-negative value per grid direction. Intermediate tensors
    live in a workspace reused by every call (`buffer`), so one estimator serves one thread at a time.

    Args:
        array: The microphone array (positions in the array frame).
        sample_rate: Audio sample rate, Hz.
        nfft: FFT length; default `default_nfft(sample_rate)`. Hop is nfft / 2.
        freq_range_hz: Band used, [low, high) Hz; bins are round(f·nfft/fs) as in pyroomacoustics. Default
            (500, 4000) unless `freq_bins` is given.
        freq_bins: Explicit FFT bin indices k (frequency k·fs/nfft), each in [1, nfft/2], instead of a band.
        num_sources: K, sources to report (and the signal-subspace size of MUSIC), at most C − 1; with zone
            voting up to `MAX_ZONE_SOURCES`.
        min_separation_deg: Minimum angle between reported sources (azimuth; great circle on a sphere grid).
        grid: Search grid; default 0.5° azimuth steps in the horizontal plane (`DirectionGrid()`).
        speed_of_sound: c in m/s for the steering vectors (default 343, or from `temperature_c`).
        temperature_c: Air temperature, °C: c = 331.3·sqrt(1 + T/273.15) m/s. Give this or `speed_of_sound`.
        device: 'cpu', 'cuda', 'auto' or a torch device.
        zone_frames: 0 (default): one spectrum from the whole window. ≥ 2: multi-source zone voting
            (`av_pose.audio.doa.zones`): zones of this many STFT frames each vote for their dominant directions
            and the peaks of the vote histogram are the sources.
        zone_sources: Directions each zone votes for (its signal-subspace size); default
            `default_zone_sources(C)`: 1 up to 6 microphones, 2 for 7 to 10.
        zone_width_deg: Width of a zone's vote, degrees.
        min_zone_share: A zone-voting peak needs at least this share of the window's votes.
    """

    name: ClassVar[str]
    supports_foa: ClassVar[bool] = True
    supports_pressure: ClassVar[bool] = True
    band_memory_order: ClassVar[tuple[int, int, int, int]] = (0, 1, 2, 3)
    """How the band workspace B×F×C×N lies in memory, outermost dimension first (see `_band_buffer`)."""

    def __init__(self, array: MicArray, sample_rate: float, *, nfft: int | None = None,
                 freq_range_hz: tuple[float, float] | None = None, freq_bins: Sequence[int] | None = None,
                 num_sources: int = 1, min_separation_deg: float = 20.0, grid: Grid | None = None,
                 speed_of_sound: float | None = None, temperature_c: float | None = None,
                 device: str | torch.device = 'cpu', zone_frames: int = 0, zone_sources: int | None = None,
                 zone_width_deg: float = 4.0, min_zone_share: float = 0.1) -> None:
        kind_ok = self.supports_foa if array.kind == 'foa' else self.supports_pressure
        if not kind_ok:
            raise UserInputError(f'method {self.name} does not support {array.kind} array {array.name!r}')
        max_sources = MAX_ZONE_SOURCES if zone_frames else array.num_channels - 1
        if num_sources < 1 or num_sources > max_sources:
            raise UserInputError(f'num_sources must be in [1, {max_sources}] for {array.name}'
                                 f'{" with zone voting" if zone_frames else ""}, got {num_sources}')
        self.array = array
        self.sample_rate = float(sample_rate)
        self.nfft = int(nfft or default_nfft(sample_rate))
        self.num_sources = int(num_sources)
        self.min_separation_deg = float(min_separation_deg)
        self.grid = grid or DirectionGrid()
        self.device = resolve_device(device)
        per_zone = default_zone_sources(array.num_channels) if zone_sources is None else zone_source_count(zone_sources)
        self.zones = ZoneVoting(self.grid, zone_frames, per_zone,
                                zone_width_deg, min_zone_share, self.device) if zone_frames else None
        self.signal_dim = self.zones.zone_sources if self.zones else self.num_sources  # sources per covariance
        if self.signal_dim >= array.num_channels:
            raise UserInputError(f'zone_sources must be below the {array.num_channels} microphones of {array.name}')
        self.speed_of_sound = _resolve_speed_of_sound(speed_of_sound, temperature_c)
        self.freq_bins = _resolve_bins(freq_range_hz, freq_bins, self.sample_rate, self.nfft)
        first, last = int(self.freq_bins[0]), int(self.freq_bins[-1])
        contiguous = last - first + 1 == self.freq_bins.size
        self._band = slice(first, last + 1) if contiguous else torch.as_tensor(self.freq_bins, device=self.device)
        self._workspace: dict[tuple[str, torch.dtype], _Workspace] = {}
        freqs_hz = self.freq_bins * self.sample_rate / self.nfft
        steering = steering_vectors(array, self.grid, freqs_hz, self.speed_of_sound)  # F×G×C
        self.prepare_steering(torch.as_tensor(steering, dtype=torch.complex64, device=self.device))

    @property
    def min_samples(self) -> int:
        """Shortest window this estimator takes, samples: one FFT frame, or one zone of frames with zone voting."""
        return self.nfft + (self.zones.zone_frames - 1) * (self.nfft // 2) if self.zones else self.nfft

    def release(self) -> None:
        """Free the steering tensors, the workspace (and cached CUDA memory); the estimator is unusable afterwards."""
        self._workspace.clear()
        for name, value in list(vars(self).items()):
            if isinstance(value, torch.Tensor):
                delattr(self, name)
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()

    def buffer(self, name: str, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """A contiguous workspace tensor (uninitialised) of `shape`, kept between calls.

        One block per name and dtype, grown to the largest shape asked for and viewed as each shape: however
        many batch shapes a stream brings (a node catching up batches whatever queued), the workspace holds
        one set of tensors for the largest of them, not one per shape.
        """
        shape = tuple(shape)
        entry = self._workspace.get((name, dtype))
        if entry is not None and shape in entry.views:
            return entry.views[shape]
        size = math.prod(shape)
        if entry is None or entry.block.numel() < size:
            entry = self._workspace[(name, dtype)] = _Workspace(torch.empty(size, dtype=dtype, device=self.device))
        if len(entry.views) >= MAX_WORKSPACE_VIEWS:
            entry.views.clear()
        view = entry.views[shape] = entry.block[:size].view(shape)
        return view

    def prepare_steering(self, steering: torch.Tensor) -> None:
        """Keep what `grid_spectrum` needs of the F×G×C steering vectors (set-up, once); default: all of it."""
        self.steering = steering

    @abstractmethod
    def grid_spectrum(self, band_stft: torch.Tensor) -> torch.Tensor:
        """Band STFT B×F×C×N (complex64; F = len(freq_bins), N frames) → B×G non-negative grid values.

        `band_stft` is a workspace tensor, usually a non-contiguous view (frequency innermost in memory):
        read it, do not keep it.
        """

    def stft(self, audio: np.ndarray | torch.Tensor) -> torch.Tensor:
        """C×T or B×C×T audio → B×C×(nfft/2+1)×N STFT on this estimator's device."""
        batch = as_batch(audio, self.device)
        if batch.shape[1] != self.array.num_channels:
            raise UserInputError(f'audio has {batch.shape[1]} channels, array {self.array.name} has '
                                 f'{self.array.num_channels}')
        return stft(batch, self.nfft)

    @torch.no_grad()
    def estimate(self, audio: np.ndarray | torch.Tensor) -> DoaResult:
        """DOA of C×T or B×C×T audio windows sampled at `sample_rate`."""
        return self.result_from_band(self.band_of_audio(audio))

    def band_of_audio(self, audio: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The workspace band B×F×C×N of C×T or B×C×T audio windows.

        On the CPU the STFT runs a few windows at a time (about `STFT_CHUNK_SAMPLES` samples), each chunk's
        band going straight into the workspace: the full-band STFT of a large batch never exists at once.
        """
        batch = as_batch(audio, self.device)
        windows, channels, samples = batch.shape
        if channels != self.array.num_channels:
            raise UserInputError(f'audio has {channels} channels, array {self.array.name} has '
                                 f'{self.array.num_channels}')
        if samples < self.nfft:
            raise ValueError(f'{samples} samples is shorter than one FFT frame ({self.nfft})')
        frames = 1 + (samples - self.nfft) // (self.nfft // 2)
        band = self._band_buffer(windows, channels, frames)
        step = windows if self.device.type != 'cpu' else max(1, STFT_CHUNK_SAMPLES // (channels * samples))
        for first in range(0, windows, step):
            self._gather_band(stft(batch[first:first + step], self.nfft), band[first:first + step])
        return band

    @torch.no_grad()
    def estimate_stft(self, spectrogram: np.ndarray | torch.Tensor) -> DoaResult:
        """DOA from a full-band STFT B×C×(nfft/2+1)×N (or C×F×N), e.g. the one pyroomacoustics is given."""
        spec = torch.as_tensor(spectrogram, device=self.device)
        return self.result_from_band(self._band_of(spec[None] if spec.ndim == 3 else spec))

    @torch.no_grad()
    def grid_values(self, spectrogram: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Un-normalised B×G grid spectrum of a full-band STFT B×C×(nfft/2+1)×N (or C×(nfft/2+1)×N).

        The spectrum of the whole window, also when zone voting is on.
        """
        spec = torch.as_tensor(spectrogram, device=self.device)
        return self.grid_spectrum(self._band_of(spec[None] if spec.ndim == 3 else spec))

    def _band_of(self, spec: torch.Tensor) -> torch.Tensor:
        """Full-band STFT B×C×(nfft/2+1)×N → the workspace band B×F×C×N.

        Always a copy: read in place from a large, cold spectrogram, the lanes covariances of 4 microphones
        (each channel read C times) took 11–14 % longer in `av-pose bench doa` than gather-then-read.
        """
        if spec.shape[2] != self.nfft // 2 + 1:
            raise ValueError(f'STFT has {spec.shape[2]} bins, expected {self.nfft // 2 + 1}')
        batch, channels, _, frames = spec.shape
        band = self._band_buffer(batch, channels, frames)
        self._gather_band(spec, band)
        return band

    def _band_buffer(self, batch: int, channels: int, frames: int) -> torch.Tensor:
        """The band workspace B×F×C×N, laid out in memory as `band_memory_order` says.

        Contiguous B×F×C×N by default. Frequency innermost (B×C×N×F, `FREQUENCY_INNERMOST`) is how an STFT lays
        it out: the gather copies runs of bins, and estimators that read frequencies as SIMD lanes
        (`music.lanes_covariance`) need no transposition. Frames innermost per channel (B×C×F×N,
        `FRAMES_INNERMOST`) gives each window and frequency a C×N matrix with unit-stride rows for BLAS
        (`music.frame_covariances`) at the cost of one transposition per channel plane.
        """
        shape = (batch, self.freq_bins.size, channels, frames)
        order = self.band_memory_order
        memory = self.buffer('band', tuple(shape[d] for d in order), torch.complex64)
        return memory.permute(*(order.index(d) for d in range(4)))

    def result_from_band(self, band: torch.Tensor) -> DoaResult:
        """DOA of a band STFT B×F×C×N: its grid spectrum, or with zone voting the zones' vote histogram."""
        if self.zones is None:
            return self.result_from_grid(self.grid_spectrum(band))
        votes = self.zone_votes(band)
        return self.result_from_grid(votes.histogram, votes)

    def zone_votes(self, band: torch.Tensor) -> Votes:
        """The zones' votes of a band STFT B×F×C×N (zone voting only)."""
        zones = self.zones.split(band, self.buffer, self.band_memory_order == FREQUENCY_INNERMOST)
        return self.zones.vote(self.grid_spectrum(zones), band.shape[0])

    def _gather_band(self, spec: torch.Tensor, band: torch.Tensor) -> None:
        """Copy the bins of a full-band STFT B×C×(nfft/2+1)×N into `band` B×F×C×N (one strided copy)."""
        selected = spec[:, :, self._band] if isinstance(self._band, slice) else spec.index_select(2, self._band)
        band.copy_(selected.permute(0, 2, 1, 3))

    @torch.no_grad()
    def sector_spectrum(self, audio: np.ndarray | torch.Tensor) -> torch.Tensor:
        """`DoaResult.spectrum` of C×T or B×C×T audio windows without the peaks: B×360 in [0, 1], on the device."""
        return self.unit_sectors(self.grid_spectrum(self.band_of_audio(audio)))

    @staticmethod
    def _finite(values: torch.Tensor) -> torch.Tensor:
        return torch.nan_to_num(values.float(), nan=0.0, posinf=0.0).clamp_min(0.0)

    def unit_sectors(self, values: torch.Tensor) -> torch.Tensor:
        """B×G grid values → B×360 sector values scaled to [0, 1] per row (non-finite and negative values as 0)."""
        sectors = self.grid.to_sectors(self._finite(values))
        low, high = sectors.amin(1, keepdim=True), sectors.amax(1, keepdim=True)
        return (sectors - low) / (high - low).clamp_min(1e-12)

    def result_from_grid(self, values: torch.Tensor, votes: Votes | None = None) -> DoaResult:
        """Sector spectrum, peaks and confidences from B×G grid values (with `votes`: their histogram)."""
        values = self._finite(values)
        spectrum = self.unit_sectors(values).cpu().numpy().astype(np.float32)
        peaks = self.grid.find_peaks(values.cpu().numpy().astype(np.float64), self.num_sources,
                                     self.min_separation_deg)
        if votes is not None:
            azimuths, elevations, shares = self.zones.sources(peaks.azimuths_deg, peaks.elevations_deg, votes,
                                                              self.min_separation_deg)
            if not isinstance(self.grid, SphereGrid):  # a DirectionGrid reports its best grid elevation
                elevations = np.where(np.isfinite(azimuths), peaks.elevations_deg, np.nan)
            return DoaResult(spectrum, azimuths, shares.astype(np.float32), elevations)
        with np.errstate(invalid='ignore'):
            confidence = 1.0 - peaks.floor / np.maximum(peaks.heights, 1e-30)
        return DoaResult(spectrum, peaks.azimuths_deg, np.clip(confidence, 0.0, 1.0).astype(np.float32),
                         peaks.elevations_deg)


def check_window(estimator: DoaEstimator, window_s: float) -> None:
    """UserInputError, in one line, when a window of `window_s` seconds is too short for `estimator`.

    Any object with `sample_rate` and `nfft` (and `min_samples` where a zone of frames is the least it takes).
    """
    least = getattr(estimator, 'min_samples', estimator.nfft)
    if round(window_s * estimator.sample_rate) < least:
        unit = 'one FFT frame' if least == estimator.nfft else f'one zone of {estimator.zones.zone_frames} FFT frames'
        raise UserInputError(f'window of {window_s:g} s is shorter than {unit} '
                             f'({least / estimator.sample_rate:g} s at {estimator.sample_rate:g} Hz)')


def _resolve_speed_of_sound(speed_of_sound: float | None, temperature_c: float | None) -> float:
    """Speed of sound in m/s from either argument (343 when neither is given)."""
    if speed_of_sound is not None and temperature_c is not None:
        raise UserInputError('give speed_of_sound or temperature_c, not both')
    if temperature_c is not None:
        return speed_of_sound_m_s(temperature_c)
    c = SPEED_OF_SOUND_M_S if speed_of_sound is None else float(speed_of_sound)
    if not (math.isfinite(c) and 100.0 <= c <= 2000.0):
        raise UserInputError(f'speed_of_sound must be in [100, 2000] m/s, got {speed_of_sound}')
    return c


def _resolve_bins(freq_range_hz: tuple[float, float] | None, freq_bins: Sequence[int] | None,
                  sample_rate: float, nfft: int) -> np.ndarray:
    """Sorted unique FFT bin indices from a band [low, high) Hz or an explicit list."""
    if freq_bins is not None:
        if freq_range_hz is not None:
            raise UserInputError('give freq_range_hz or freq_bins, not both')
        bins = np.asarray(freq_bins)
        if bins.ndim != 1 or bins.size == 0 or not np.all(np.isfinite(bins.astype(float))) \
                or np.any(bins != np.round(bins)):
            raise UserInputError(f'freq_bins must be a non-empty list of integer FFT bins, got {list(freq_bins)}')
        bins = np.unique(bins.astype(np.int64))
        if bins[0] < 1 or bins[-1] > nfft // 2:
            raise UserInputError(f'freq_bins must lie in [1, {nfft // 2}] for nfft {nfft}, got '
                                 f'{int(bins[0])}..{int(bins[-1])}')
        return bins
    low, high = (500.0, 4000.0) if freq_range_hz is None else (float(freq_range_hz[0]), float(freq_range_hz[1]))
    if not 0.0 <= low < high <= sample_rate / 2.0:
        raise UserInputError(f'freq_range_hz must satisfy 0 <= low < high <= {sample_rate / 2:g} Hz, '
                             f'got [{low:g}, {high:g}]')
    first, last = (int(round(f * nfft / sample_rate)) for f in (low, high))
    bins = np.arange(max(first, 1), min(last, nfft // 2 + 1))
    if bins.size == 0:
        raise UserInputError(f'no FFT bin falls in [{low:g}, {high:g}) Hz with nfft {nfft}')
    return bins


def covariance(band_stft: torch.Tensor) -> torch.Tensor:
    """Spatial covariance per frequency, mean over frames of x xᴴ: B×F×C×N → B×F×C×C."""
    return band_stft @ band_stft.conj().transpose(-1, -2) / band_stft.shape[-1]


def quadratic_form(matrices: torch.Tensor, steering: torch.Tensor) -> torch.Tensor:
    """Re(aᴴ M a) for every frequency and grid direction: M B×F×C×C, a F×G×C → B×F×G."""
    weighted = matrices @ steering.transpose(-1, -2)  # B×F×C×G
    return (steering.conj().transpose(-1, -2) * weighted).sum(-2).real
