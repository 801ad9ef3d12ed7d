"""What a moving microphone array hears in a shoebox room: image-source rendering with pyroomacoustics.

World frame: z up, the room spans [0, Lx]×[0, Ly]×[0, Lz] metres. The rig pose T_world_array(t) maps
array-frame microphone positions (MicArray.positions_m) into the world; with a camera trajectory it is
T_world_cam(t) @ T_cam_array (`array_pose_fn`).

Method. Wall absorption and the image-source order come from Sabine's formula for the requested RT60
(`pyroomacoustics.inverse_sabine`); the order is capped (default 12) because the number of images grows
with its cube: the cap truncates the reverberant tail after roughly cap × mean room size / c (about 0.15 s
for a 6×5×3 m room, by then ~30 dB down at RT60 0.3 s), which bounds the cost per pose. Image
sources are computed by pyroomacoustics once per source position and reused for every rig pose; the RIR of
each microphone is then built here, vectorised: each image adds damping/d (unit gain at 1 m) through a
17-tap Hann-windowed sinc fractional delay (tabulated every 1/512 sample); about 6 ms for 4 mics and
2,600 images. RIRs are cached (LRU keyed by positions rounded to 1 mm), so a still rig and still
sources cost nothing after the first pose. Audio is rendered by overlap-add: the dry
signal is cut into blocks of 2·hop with periodic Hann windows (they sum to one), each block is convolved
with the RIRs of the rig pose at its centre, and the results are summed — the sound field cross-fades from
pose to pose every hop_s. 'ambient' sources are a diffuse field: plane waves from directions spread over
the sphere with decorrelated copies of the signal (at free-field points, also for a head). FOA arrays are
rendered by `ambisonic.render_foa`. A 2-microphone array with `head_radius_m` (the `binaural` preset) has its
capsules on a rigid spherical head: every image reaches each ear round the head and through its shadow
(Brown & Duda, as `audio.binaural.SphericalHeadHrtf`), so the ears differ in level as well as in time.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import pyroomacoustics as pra
from scipy.signal import fftconvolve

from av_pose.audio.arrays import SPEED_OF_SOUND_M_S, MicArray
from av_pose.errors import UserInputError
from av_pose.geometry import R_CAM_ARRAY_DEFAULT, make_transform
from av_pose.scene.ambisonic import PoseSource, array_poses, block_times, render_foa, source_signals
from av_pose.scene.signals import SourceSpec

DEFAULT_MAX_ORDER_CAP = 12
FRACTIONAL_DELAY_TAPS = 17  # odd; RIRs carry a common bulk delay of FRACTIONAL_DELAY_TAPS // 2 samples
DIFFUSE_DIRECTIONS = 32
_CACHE_RESOLUTION_M = 1e-3
_FRACTION_STEPS = 512  # the fractional delay is quantised to 1/512 sample (0.12 µs at 16 kHz)


def _fractional_delay_table(taps: int, steps: int) -> np.ndarray:
    """Hann-windowed sinc filters (steps + 1, taps) delaying by q/steps samples, q = 0..steps."""
    half = taps // 2
    lag = np.arange(-half, half + 1)[None] - np.arange(steps + 1)[:, None] / steps
    return np.sinc(lag) * (0.5 + 0.5 * np.cos(np.pi * lag / (half + 1)))


_FRACTIONAL_DELAY_TABLE = _fractional_delay_table(FRACTIONAL_DELAY_TAPS, _FRACTION_STEPS)


@dataclass(frozen=True)
class ShoeboxRoom:
    """An empty rectangular room: dims_m (3,) metres, energy absorption of every wall, image-source order."""

    dims_m: tuple[float, float, float]
    rt60_s: float
    fs: int
    absorption: float
    max_order: int


def shoebox_room(room_dims_m: Sequence[float], rt60_s: float, fs: int = 16000,
                 max_order_cap: int = DEFAULT_MAX_ORDER_CAP) -> ShoeboxRoom:
    """Wall absorption and image-source order (≤ max_order_cap) giving a room of room_dims_m RT60 rt60_s."""
    dims = np.asarray(room_dims_m, dtype=np.float64)
    if dims.shape != (3,) or not np.all(dims > 0):
        raise UserInputError(f'room dimensions must be three positive lengths in metres, got {room_dims_m}')
    try:
        absorption, max_order = pra.inverse_sabine(rt60_s, dims)
    except ValueError as err:
        raise UserInputError(f'RT60 {rt60_s} s is not reachable in a {dims.tolist()} m room '
                             '(too short for its size)') from err
    return ShoeboxRoom(tuple(dims.tolist()), float(rt60_s), int(fs), float(absorption),
                       int(min(max_order, max_order_cap)))


def array_pose_fn(cam_pose_fn: Callable[[float], np.ndarray],
                  T_cam_array: np.ndarray | None = None) -> Callable[[float], np.ndarray]:
    """Rig pose function T_world_array(t) = T_world_cam(t) @ T_cam_array (default R_CAM_ARRAY_DEFAULT)."""
    T_cam_array = make_transform(R_CAM_ARRAY_DEFAULT, np.zeros(3)) if T_cam_array is None else T_cam_array
    return lambda t_s: np.asarray(cam_pose_fn(t_s), dtype=np.float64) @ T_cam_array


class RirCache:
    """Room impulse responses of one room, with image sources and RIRs cached by rounded positions."""

    def __init__(self, room: ShoeboxRoom, max_entries: int = 256) -> None:
        self.room = room
        self.max_entries = max_entries
        self._images: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._rirs: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.misses = 0

    def _lookup(self, table: OrderedDict, key: tuple, build: Callable[[], np.ndarray]):
        if key in table:
            table.move_to_end(key)
            return table[key]
        value = table[key] = build()
        if len(table) > self.max_entries:
            table.popitem(last=False)
        return value

    def images(self, source_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image-source positions (N, 3) in metres and their reflection amplitudes (N,)."""
        key = tuple(np.round(np.asarray(source_m) / _CACHE_RESOLUTION_M).astype(int))
        return self._lookup(self._images, key, lambda: self._image_sources(np.asarray(source_m, float)))

    def _image_sources(self, source_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dims = np.asarray(self.room.dims_m)
        if np.any(source_m <= 0) or np.any(source_m >= dims):
            raise UserInputError(f'source at {source_m.round(3).tolist()} m is outside the room '
                                 f'{dims.tolist()}')
        shoebox = pra.ShoeBox(dims, fs=self.room.fs, materials=pra.Material(self.room.absorption),
                              max_order=self.room.max_order, air_absorption=False)
        shoebox.add_source(source_m)
        shoebox.add_microphone(dims / 2.0)  # the ISM needs a mic; in a shoebox every image is visible
        shoebox.image_source_model()
        source = shoebox.sources[0]
        return source.images.T.copy(), source.damping[0].copy()

    def rirs(self, source_m: np.ndarray, mics_m: np.ndarray, head_radius_m: float | None = None) -> np.ndarray:
        """RIRs C×L float64 from a source to microphones mics_m (C, 3), world frame, metres.

        With `head_radius_m` the two microphones are the ears of a rigid spherical head (`MicArray.head_radius_m`).
        """
        key = tuple(np.round(np.concatenate([np.ravel(source_m), np.ravel(mics_m)]) / _CACHE_RESOLUTION_M)
                    .astype(int)) + (head_radius_m,)
        return self._lookup(self._rirs, key,
                            lambda: self._build_rirs(source_m, np.asarray(mics_m, float), head_radius_m))

    def _build_rirs(self, source_m: np.ndarray, mics_m: np.ndarray, head_radius_m: float | None) -> np.ndarray:
        self.misses += 1
        dims = np.asarray(self.room.dims_m)
        if np.any(mics_m <= 0) or np.any(mics_m >= dims):
            raise UserInputError(f'a microphone is outside the room {dims.tolist()} (rig pose out of bounds)')
        images, damping = self.images(source_m)
        if head_radius_m is not None:
            return _head_rirs(images, damping, mics_m, head_radius_m, self.room.fs)
        distance = np.maximum(np.linalg.norm(images[None] - mics_m[:, None], axis=-1), 0.05)    # C×N
        return _impulse_trains(distance * (self.room.fs / SPEED_OF_SOUND_M_S), damping / distance)


def _impulse_trains(delay: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """C×L sums of fractionally delayed impulses: delay and weights C×N (samples, amplitudes)."""
    whole = np.floor(delay).astype(np.int64)
    half = FRACTIONAL_DELAY_TAPS // 2
    offsets = np.arange(-half, half + 1)
    taps = _FRACTIONAL_DELAY_TABLE[np.round((delay - whole) * _FRACTION_STEPS).astype(np.int64)]  # C×N×M
    length = int(whole.max()) + FRACTIONAL_DELAY_TAPS + 1
    index = whole[..., None] + offsets + half + length * np.arange(len(delay))[:, None, None]
    return np.bincount(index.ravel(), (weights[..., None] * taps).ravel(),
                       minlength=length * len(delay)).reshape(-1, length)


def _head_rirs(images: np.ndarray, damping: np.ndarray, ears_m: np.ndarray, head_radius_m: float,
               fs: int) -> np.ndarray:
    """2×L RIRs of the two ears (ears_m: left, right; world frame) of a rigid spherical head (Brown & Duda).

    Each image reaches an ear after its distance to the head centre plus the ear's path round the head
    (`spherical_head_ears`), through the head shadow H = (1 + jα·ω/(2ω₀)) / (1 + jω/(2ω₀)) = α + (1 − α)·A with
    the low-pass A = 1 / (1 + jω/(2ω₀)), α per image and ear. So each ear is Σ α·δ + A ∗ Σ (1 − α)·δ: two
    impulse trains and one short filter (A sampled exactly on the FFT grid, as `SphericalHeadHrtf` does).
    """
    from av_pose.audio.binaural import spherical_head_ears

    centre = ears_m.mean(axis=0)
    axis = (ears_m[0] - ears_m[1]) / np.linalg.norm(ears_m[0] - ears_m[1])             # towards the left ear
    offset = images - centre
    distance = np.maximum(np.linalg.norm(offset, axis=-1), head_radius_m + 0.05)           # N
    cosine = offset @ axis / distance
    delay_s, alpha = spherical_head_ears(np.stack([cosine, -cosine]), head_radius_m)        # 2×N each
    delay = (distance / SPEED_OF_SOUND_M_S + delay_s) * fs
    amplitude = np.broadcast_to(damping / distance, delay.shape)
    direct = _impulse_trains(delay, alpha * amplitude)
    shadowed = _impulse_trains(delay, (1.0 - alpha) * amplitude)
    lowpass, latency = _head_lowpass(fs, head_radius_m)
    filtered = fftconvolve(shadowed, lowpass[None], axes=-1)[:, latency:latency + shadowed.shape[1]]
    return direct + filtered


@lru_cache(maxsize=8)
def _head_lowpass(fs: int, head_radius_m: float, taps: int = 64, latency: int = 16) -> tuple[np.ndarray, int]:
    """FIR (taps,) of the head shadow's low-pass (`head_shadow` at α = 0), delayed by `latency` samples.

    Cached: every RIR of a head needs the same filter. The returned array is shared: do not modify it.
    """
    from av_pose.audio.binaural import head_shadow

    freqs_hz = np.fft.rfftfreq(4 * taps, 1.0 / fs)
    response = head_shadow(0.0, freqs_hz, head_radius_m) * np.exp(-2j * np.pi * freqs_hz * latency / fs)
    response[-1] = response[-1].real
    return np.fft.irfft(response, 4 * taps)[:taps], latency


def diffuse_field(signal: np.ndarray, mic_positions_m: np.ndarray, fs: int, rng: np.random.Generator,
                  num_directions: int = DIFFUSE_DIRECTIONS) -> np.ndarray:
    """An isotropic diffuse field C×T with the power spectrum of `signal` (T,) at every microphone.

    Plane waves arrive from `num_directions` near-uniform directions (Fibonacci sphere), each carrying a
    copy of the signal decorrelated by random spectral phases, so the inter-mic coherence approaches the
    diffuse sinc(k·d). Isotropy makes it independent of the rig orientation.
    """
    num_samples = len(signal)
    index = np.arange(num_directions) + 0.5
    z = 1.0 - 2.0 * index / num_directions
    azimuth = np.pi * (1.0 + 5.0 ** 0.5) * index
    directions = np.stack([np.sqrt(1 - z * z) * np.cos(azimuth), np.sqrt(1 - z * z) * np.sin(azimuth), z], 1)
    spectrum = np.fft.rfft(signal)
    freqs_hz = np.fft.rfftfreq(num_samples, 1.0 / fs)
    # A plane wave arriving from direction u reaches microphone m earlier by (u·m)/c.
    advance_s = mic_positions_m @ directions.T / SPEED_OF_SOUND_M_S                            # C×D
    field = np.zeros((len(mic_positions_m), len(freqs_hz)), dtype=np.complex128)
    for direction in range(num_directions):
        decorrelated = spectrum * np.exp(2j * np.pi * rng.random(len(freqs_hz)))
        field += np.exp(2j * np.pi * advance_s[:, direction, None] * freqs_hz) * decorrelated
    return np.fft.irfft(field / np.sqrt(num_directions), n=num_samples, axis=-1)


def add_sensor_noise(audio: np.ndarray, snr_db: float | None, rng: np.random.Generator) -> np.ndarray:
    """Independent white noise per channel at snr_db below the mean channel power (None: no noise)."""
    if snr_db is None:
        return audio
    power = float(np.mean(np.square(audio)))
    return audio + rng.standard_normal(audio.shape) * np.sqrt(power * 10.0 ** (-snr_db / 10.0))


def render_array_audio(room_dims: Sequence[float], rt60_s: float, sources: Sequence[SourceSpec],
                       signals: Sequence[np.ndarray] | None, array: MicArray, pose_fn: PoseSource,
                       duration_s: float, fs: int = 16000, hop_s: float = 0.1, snr_db: float | None = 30.0,
                       rng: np.random.Generator | None = None, max_order_cap: int = DEFAULT_MAX_ORDER_CAP,
                       rir_cache: RirCache | None = None) -> np.ndarray:
    """Audio C×T float32 that `array` records at rig poses T_world_array = pose_fn(t), t in seconds.

    signals: dry mono signals, one per source (None: synthesised from each source's kind with `rng`);
    every source's gain_db and activity envelope are applied here. snr_db: sensor noise below the mean
    channel power. rir_cache: pass one to reuse RIRs across calls in the same room (it must match fs and
    the room). FOA arrays get the free-field ambisonic rendering (`render_foa`, no room).
    """
    rng = np.random.default_rng() if rng is None else rng
    signals = source_signals(sources, signals, duration_s, fs, rng)
    if array.kind == 'foa':
        audio = render_foa(sources, signals, pose_fn, duration_s, fs, hop_s)
        return add_sensor_noise(audio, snr_db, rng).astype(np.float32)
    room = shoebox_room(room_dims, rt60_s, fs, max_order_cap)
    cache = RirCache(room) if rir_cache is None else rir_cache
    if cache.room != room:
        raise UserInputError('rir_cache was made for a different room, RT60, sample rate or order cap')
    num_samples, hop, times = block_times(duration_s, fs, hop_s)
    poses = array_poses(pose_fn, times)
    mics_world = poses[:, None, :3, :3] @ array.positions_m[None, :, :, None]
    mics_world = mics_world[..., 0] + poses[:, None, :3, 3]                                     # K×C×3
    window = 0.5 - 0.5 * np.cos(np.pi * np.arange(2 * hop) / hop)                             # periodic Hann
    bulk_delay = FRACTIONAL_DELAY_TAPS // 2
    out = np.zeros((array.num_channels, num_samples + bulk_delay))
    for spec, signal in zip(sources, signals):
        driven = signal[:num_samples] * spec.gain_envelope(num_samples, fs)
        if spec.is_diffuse:
            out[:, bulk_delay:] += diffuse_field(driven, array.positions_m, fs, rng)
            continue
        for block, t_s in enumerate(times):
            first = block * hop - hop
            lo, hi = max(first, 0), min(first + 2 * hop, num_samples)
            segment = driven[lo:hi] * window[lo - first:hi - first]
            if hi <= lo or not np.any(segment):
                continue
            rirs = cache.rirs(spec.position_at(t_s), mics_world[block], array.head_radius_m)
            wet = fftconvolve(segment[None], rirs, axes=-1)
            end = min(lo + wet.shape[1], out.shape[1])
            out[:, lo:end] += wet[:, :end - lo]
    audio = out[:, bulk_delay:]   # remove the fractional-delay filters' common latency
    return add_sensor_noise(audio, snr_db, rng).astype(np.float32)
