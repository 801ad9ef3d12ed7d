"""Multichannel → mono → binaural rendering with a head-related transfer function (HRTF).

Directions follow REP-103 in the head frame: x forward, y left, z up; azimuth counter-clockwise from +x
(90° = left), elevation up from the horizontal plane, both in degrees. Head-related impulse responses (HRIRs)
are 2×L float32 arrays, row 0 the left ear and row 1 the right ear.

Two HRTFs share one interface (`Hrtf`): an analytic spherical head (Brown & Duda 1998: a one-pole/one-zero
head-shadow filter per ear plus the Woodworth interaural time delay; no data files) and measured HRIRs read
from a SOFA SimpleFreeFieldHRIR file (nearest measured direction).
"""
from __future__ import annotations

import abc
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

from av_pose.audio.arrays import SPEED_OF_SOUND_M_S
from av_pose.errors import UserInputError

EAR_AXES = np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]])  # left ear on +y, right ear on -y (head frame)


def direction_vector(azimuth_deg: np.ndarray | float, elevation_deg: np.ndarray | float) -> np.ndarray:
    """Unit vector(s) (..., 3) in the head frame for azimuth/elevation in degrees."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    xyz = np.broadcast_arrays(np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el))
    return np.stack(xyz, axis=-1)


def woodworth_itd_s(azimuth_deg: float, head_radius_m: float = 0.0875,
                    speed_of_sound_m_s: float = SPEED_OF_SOUND_M_S) -> float:
    """Woodworth interaural time difference t_right − t_left in seconds for a horizontal source.

    Positive when the left ear hears the sound first (source on the left): (a / c)·(φ + sin φ), φ the lateral
    angle in [−90°, 90°] (front/back mirrored).
    """
    lateral = np.arcsin(np.clip(np.sin(np.radians(azimuth_deg)), -1.0, 1.0))
    return float(head_radius_m / speed_of_sound_m_s * (lateral + np.sin(lateral)))


def spherical_head_ears(cos_to_ear: np.ndarray, head_radius_m: float,
                        speed_of_sound_m_s: float = SPEED_OF_SOUND_M_S) -> tuple[np.ndarray, np.ndarray]:
    """Brown & Duda's spherical head, per ear: (arrival time relative to the head centre in s, α of the shadow).

    `cos_to_ear`: cosine of the angle θ between the source direction and the ear's axis (any shape). The delay is
    −(a/c)·cos θ for θ < 90° and (a/c)·(θ − 90°) beyond; the head-shadow filter is H(ω) = (1 + j·α·ω/(2ω₀)) /
    (1 + j·ω/(2ω₀)), ω₀ = c/a, with α(θ) = 1 + α_min/2 + (1 − α_min/2)·cos(180°·θ/θ_min), α_min = 0.1, θ_min = 150°.
    """
    theta = np.arccos(np.clip(cos_to_ear, -1.0, 1.0))
    a_c = head_radius_m / speed_of_sound_m_s
    delay_s = np.where(theta < np.pi / 2, -a_c * np.cos(theta), a_c * (theta - np.pi / 2))
    alpha_min = SphericalHeadHrtf.ALPHA_MIN
    alpha = (1 + alpha_min / 2) + (1 - alpha_min / 2) * np.cos(theta * (180.0 / SphericalHeadHrtf.THETA_MIN_DEG))
    return delay_s, alpha


def head_shadow(alpha: np.ndarray, freqs_hz: np.ndarray, head_radius_m: float,
                speed_of_sound_m_s: float = SPEED_OF_SOUND_M_S) -> np.ndarray:
    """Brown & Duda's head-shadow filter H(ω) = (1 + j·α·ω/(2ω₀)) / (1 + j·ω/(2ω₀)), ω₀ = c/a.

    alpha (...) from `spherical_head_ears` (α = 0 gives the plain low-pass), freqs_hz (F,) → complex (..., F).
    """
    x = np.pi * np.asarray(freqs_hz, dtype=np.float64) * head_radius_m / speed_of_sound_m_s  # ω / (2ω₀)
    return (1.0 + 1j * np.asarray(alpha)[..., None] * x) / (1.0 + 1j * x)


class Hrtf(abc.ABC):
    """A head-related transfer function: `hrir(azimuth_deg, elevation_deg) -> 2×L` at `sample_rate` Hz."""

    sample_rate: int

    @abc.abstractmethod
    def hrir(self, azimuth_deg: float, elevation_deg: float = 0.0) -> np.ndarray:
        """Impulse responses 2×L float32 (row 0 left ear, row 1 right ear) for a source in this direction."""


class SphericalHeadHrtf(Hrtf):
    """Analytic spherical-head HRTF (Brown & Duda 1998), ears at ±90° azimuth on a sphere of `head_radius_m`.

    Per ear, with θ the angle between the source direction and that ear's axis:
    head shadow H(ω) = (1 + j·α(θ)·ω/(2ω₀)) / (1 + j·ω/(2ω₀)), ω₀ = c/a, α(θ) = 1 + α_min/2 + (1 − α_min/2)·
    cos(180°·θ/θ_min) with α_min = 0.1, θ_min = 150°; delay −(a/c)·cos θ for θ < 90°, (a/c)·(θ − 90°) beyond,
    whose left/right difference is Woodworth's ITD. Filters are built in the frequency domain with an exact
    fractional delay and inverse-FFT'd; every response carries the same bulk latency `latency_samples`.
    """

    ALPHA_MIN = 0.1
    THETA_MIN_DEG = 150.0

    def __init__(self, sample_rate: int, head_radius_m: float = 0.0875, ir_length: int = 256,
                 speed_of_sound_m_s: float = SPEED_OF_SOUND_M_S) -> None:
        if not sample_rate > 0 or not head_radius_m > 0 or int(ir_length) < 16:
            raise UserInputError(f'invalid spherical-head HRTF settings: sample_rate={sample_rate}, '
                                 f'head_radius_m={head_radius_m}, ir_length={ir_length}')
        self.sample_rate = int(sample_rate)
        self.head_radius_m = float(head_radius_m)
        self.ir_length = int(ir_length)
        self.speed_of_sound_m_s = float(speed_of_sound_m_s)
        max_delay = self.head_radius_m / self.speed_of_sound_m_s * (1.0 + np.pi / 2) * self.sample_rate
        if max_delay + 32 > self.ir_length:
            raise UserInputError(f'ir_length {ir_length} is too short for a {head_radius_m} m head at '
                                 f'{sample_rate} Hz; use at least {int(np.ceil(max_delay)) + 32}')
        # Pre-ringing room for the fractional-delay sinc; the earliest ear (θ = 0) arrives at this sample.
        self.latency_samples = 16

    def _ears(self, azimuth_deg: float, elevation_deg: float) -> tuple[np.ndarray, np.ndarray]:
        """(delays (2,) relative to the head centre in s, shadow α (2,)) for the left and right ear."""
        cosines = EAR_AXES @ direction_vector(azimuth_deg, elevation_deg)
        return spherical_head_ears(cosines, self.head_radius_m, self.speed_of_sound_m_s)

    def ear_delays_s(self, azimuth_deg: float, elevation_deg: float = 0.0) -> np.ndarray:
        """Arrival times (2,) at the left/right ear relative to the head centre, seconds (< 0: earlier)."""
        return self._ears(azimuth_deg, elevation_deg)[0]

    def hrir(self, azimuth_deg: float, elevation_deg: float = 0.0) -> np.ndarray:
        """2×ir_length float32 impulse responses (row 0 left, row 1 right)."""
        ear_delays_s, alpha = self._ears(azimuth_deg, elevation_deg)
        a_c = self.head_radius_m / self.speed_of_sound_m_s
        delays_s = ear_delays_s + a_c  # >= 0
        delays = delays_s * self.sample_rate + self.latency_samples      # samples, fractional
        n_fft = 4 * self.ir_length  # longer than the IR so the circular sinc tails stay small
        freqs_hz = np.fft.rfftfreq(n_fft, d=1.0 / self.sample_rate)
        shadow = head_shadow(alpha, freqs_hz, self.head_radius_m, self.speed_of_sound_m_s)  # 2×bins
        bins = np.arange(freqs_hz.size)
        delay = np.exp(-2j * np.pi * bins[None, :] * delays[:, None] / n_fft)
        spectrum = shadow * delay
        spectrum[:, -1] = spectrum[:, -1].real  # the Nyquist bin of a real signal is real
        return np.fft.irfft(spectrum, n=n_fft, axis=-1)[:, :self.ir_length].astype(np.float32)


class SofaHrtf(Hrtf):
    """Measured HRIRs (M directions) with nearest-direction (great-circle) lookup.

    Args:
        irs: M×2×N impulse responses (receiver 0 = left ear, 1 = right ear).
        azimuth_deg, elevation_deg: (M,) measurement directions in degrees (SOFA spherical convention:
            azimuth counter-clockwise from the front, elevation up).
        sample_rate: Hz of `irs`.
    """

    def __init__(self, irs: np.ndarray, azimuth_deg: np.ndarray, elevation_deg: np.ndarray,
                 sample_rate: int) -> None:
        irs = np.asarray(irs, dtype=np.float32)
        if irs.ndim != 3 or irs.shape[1] != 2 or irs.shape[0] < 1:
            raise UserInputError(f'HRIRs must be M×2×N (two ears), got shape {irs.shape}')
        azimuth_deg, elevation_deg = np.asarray(azimuth_deg, float), np.asarray(elevation_deg, float)
        if azimuth_deg.shape != (irs.shape[0],) or elevation_deg.shape != (irs.shape[0],):
            raise UserInputError(f'{irs.shape[0]} HRIRs but {azimuth_deg.size} azimuths and '
                                 f'{elevation_deg.size} elevations')
        self.irs = irs
        self.azimuth_deg, self.elevation_deg = azimuth_deg, elevation_deg
        self.sample_rate = int(sample_rate)
        self._directions = direction_vector(azimuth_deg, elevation_deg)  # M×3

    @classmethod
    def from_file(cls, path: str | Path, sample_rate: int | None = None) -> SofaHrtf:
        """Read a SOFA SimpleFreeFieldHRIR file (netCDF-4/HDF5), resampled to `sample_rate` Hz if given."""
        try:
            import h5py
        except ImportError as exc:
            raise UserInputError('reading SOFA files needs h5py: pip install h5py') from exc
        path = Path(path)
        if not path.is_file():
            raise UserInputError(f'SOFA file not found: {path}')
        try:
            with h5py.File(path, 'r') as sofa:
                missing = [k for k in ('Data.IR', 'SourcePosition', 'Data.SamplingRate') if k not in sofa]
                if missing:
                    raise UserInputError(f'{path} is not a SOFA HRIR file: missing {", ".join(missing)}')
                irs = np.asarray(sofa['Data.IR'][()], dtype=np.float64)
                positions = np.asarray(sofa['SourcePosition'][()], dtype=np.float64)
                position_type = sofa['SourcePosition'].attrs.get('Type', b'spherical')
                file_rate = float(np.ravel(sofa['Data.SamplingRate'][()])[0])
        except OSError as exc:
            raise UserInputError(f'cannot read SOFA file {path}: {exc}') from exc
        if isinstance(position_type, bytes):
            position_type = position_type.decode()
        if positions.ndim == 1:
            positions = positions[None, :]
        if positions.ndim != 2 or positions.shape[1] != 3 or positions.shape[0] not in (1, irs.shape[0]):
            raise UserInputError(f'{path}: SourcePosition must be M×3, got shape {positions.shape}')
        positions = np.broadcast_to(positions, (irs.shape[0], 3))
        if str(position_type).lower().startswith('cartesian'):
            x, y, z = positions.T
            azimuth, elevation = np.degrees(np.arctan2(y, x)), np.degrees(np.arctan2(z, np.hypot(x, y)))
        else:
            azimuth, elevation = positions[:, 0], positions[:, 1]
        target_rate = int(round(file_rate)) if sample_rate is None else int(sample_rate)
        if target_rate != int(round(file_rate)):
            irs = _resample(irs, int(round(file_rate)), target_rate)
        return cls(irs, azimuth, elevation, target_rate)

    def nearest_index(self, azimuth_deg: float, elevation_deg: float = 0.0) -> int:
        """Index of the measured direction with the smallest great-circle distance to the given one."""
        return int(np.argmax(self._directions @ direction_vector(azimuth_deg, elevation_deg)))

    def hrir(self, azimuth_deg: float, elevation_deg: float = 0.0) -> np.ndarray:
        """2×N float32 HRIR of the nearest measured direction (row 0 left, row 1 right)."""
        return self.irs[self.nearest_index(azimuth_deg, elevation_deg)].copy()


def _resample(irs: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample along the last axis by the rational factor to_rate / from_rate (polyphase)."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(from_rate, to_rate)
    return resample_poly(irs, to_rate // g, from_rate // g, axis=-1)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Mean over channels: C×T → T (or B×C×T → B×T), float32."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim < 2:
        raise UserInputError(f'audio must be C×T or B×C×T, got shape {audio.shape}')
    return audio.mean(axis=-2)


def binauralize(mono: np.ndarray, hrtf: Hrtf, azimuth_deg: float, elevation_deg: float = 0.0) -> np.ndarray:
    """Render mono audio (T or B×T) from a source direction: 2×T (or B×2×T) float32, left ear first.

    FFT convolution with the HRIR, truncated to the input length (the HRIR's latency delays the output).
    """
    mono = np.asarray(mono, dtype=np.float32)
    if mono.ndim < 1:
        raise UserInputError('mono audio must have a time axis')
    ir = hrtf.hrir(azimuth_deg, elevation_deg)
    ir = ir.reshape((1,) * (mono.ndim - 1) + ir.shape)
    out = fftconvolve(mono[..., None, :], ir, axes=-1)
    return out[..., :mono.shape[-1]].astype(np.float32)


def multichannel_to_binaural(audio: np.ndarray, hrtf: Hrtf, azimuth_deg: float = 0.0,
                             elevation_deg: float = 0.0) -> np.ndarray:
    """C×T (or B×C×T) audio → mono (channel mean) → binaural 2×T (or B×2×T), as in the paper."""
    return binauralize(to_mono(audio), hrtf, azimuth_deg, elevation_deg)
