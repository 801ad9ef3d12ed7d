"""Synthetic dry source signals for scenes, and the sources that emit them.

Everything is generated here from a `numpy.random.Generator` (no recordings, no downloads), so a scene is
reproducible from its seed. Signals are float32 mono of shape (T,) at a sample rate `fs` in Hz; every kind
is scaled to a reference RMS of `REFERENCE_RMS` (−20 dBFS) over its whole length, except 'ambient', which
is a low-level bed at `AMBIENT_RMS` (−40 dBFS); sparse signals (impulses) are instead limited to a peak of
`PEAK_LIMIT`. Source positions are in the world frame (metres, z up).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from av_pose.errors import UserInputError

REFERENCE_RMS = 0.1
AMBIENT_RMS = 0.01
PEAK_LIMIT = 0.9
SIGNAL_KINDS = ('speech', 'babble', 'music', 'impulses', 'white', 'pink', 'brown', 'ambient')
"""speech: one formant-synthesised talker with pauses; babble: four talkers summed; music: a melody of
harmonic notes; impulses: clicks, knocks and claps at random times; white/pink/brown: stationary noise with
a flat, 1/f or 1/f² power spectrum; ambient: low-level pink noise that the renderers play as a diffuse
(or, in FOA, omnidirectional) bed rather than from a position."""

# Formant frequencies F1..F4 in Hz of five vowels (adult averages, Peterson & Barney style values).
_VOWEL_FORMANTS_HZ = np.array([
    [730.0, 1090.0, 2440.0, 3400.0],   # a
    [530.0, 1840.0, 2480.0, 3500.0],   # e
    [270.0, 2290.0, 3010.0, 3700.0],   # i
    [570.0, 840.0, 2410.0, 3300.0],    # o
    [300.0, 870.0, 2240.0, 3300.0],    # u
])
_FORMANT_BANDWIDTHS_HZ = np.array([80.0, 100.0, 140.0, 200.0])
_FRAME_S = 0.005  # formant and pitch update period of the speech synthesiser


def _check_length(duration_s: float, fs: int) -> int:
    if not np.isfinite(duration_s) or duration_s <= 0 or fs <= 0:
        raise UserInputError(f'signal duration {duration_s} s and sample rate {fs} Hz must be positive')
    return max(1, int(round(duration_s * fs)))


def _normalised(signal: np.ndarray, rms: float) -> np.ndarray:
    power = float(np.mean(np.square(signal)))
    scale = min(rms / np.sqrt(power), PEAK_LIMIT / float(np.abs(signal).max())) if power > 0 else 0.0
    return (signal * scale).astype(np.float32)


def coloured_noise(num_samples: int, exponent: float, rng: np.random.Generator, fs: int) -> np.ndarray:
    """Gaussian noise with power spectrum ∝ 1/f^exponent (0 white, 1 pink, 2 brown), unit RMS, (T,).

    Frequencies below 20 Hz are held at the 20 Hz level so pink and brown noise carry no DC drift.
    """
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    freqs_hz = np.maximum(np.fft.rfftfreq(num_samples, 1.0 / fs), 20.0)
    spectrum *= freqs_hz ** (-exponent / 2.0)
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n=num_samples)
    return noise / max(float(np.std(noise)), 1e-12)


def _resonator_coeffs(freq_hz: float, bandwidth_hz: float, fs: int) -> tuple[np.ndarray, np.ndarray]:
    """Two-pole resonator (Klatt) with unit gain at DC: b, a for `lfilter`."""
    radius = np.exp(-np.pi * bandwidth_hz / fs)
    a = np.array([1.0, -2.0 * radius * np.cos(2.0 * np.pi * freq_hz / fs), radius * radius])
    return np.array([a.sum()]), a


def _talker(num_samples: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """One formant-synthesised talker: phrases of 3–8 syllables at 3–6 Hz separated by 0.2–0.7 s pauses."""
    frame = max(1, int(round(_FRAME_S * fs)))
    num_frames = -(-num_samples // frame)
    frame_times = np.arange(num_frames) * frame / fs
    base_f0 = rng.uniform(90.0, 250.0)
    # Syllable timeline: per frame a vowel target and an amplitude envelope (0 in pauses).
    vowel = _VOWEL_FORMANTS_HZ[rng.integers(len(_VOWEL_FORMANTS_HZ))]
    envelope = np.zeros(num_frames)
    targets = np.tile(vowel, (num_frames, 1))
    t = rng.uniform(0.0, 0.3)
    while t < frame_times[-1] + _FRAME_S:
        for _ in range(int(rng.integers(3, 9))):
            length = 1.0 / rng.uniform(3.0, 6.0)
            inside = (frame_times >= t) & (frame_times < t + length)
            phase = (frame_times[inside] - t) / length
            envelope[inside] = np.sin(np.pi * phase) ** 0.7 * rng.uniform(0.6, 1.0)
            vowel = _VOWEL_FORMANTS_HZ[rng.integers(len(_VOWEL_FORMANTS_HZ))]
            targets[inside] = vowel * rng.uniform(0.92, 1.08)
            t += length
        targets[(frame_times >= t)] = vowel
        t += rng.uniform(0.2, 0.7)
    # Formants glide towards each syllable's target (one-pole smoothing, ~30 ms).
    formants = lfilter([1 - 0.85], [1, -0.85], targets - targets[0], axis=0) + targets[0]
    # Glottal source: jittered f0 with slow intonation, pulses every period, spectral tilt, aspiration.
    intonation = np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * frame_times + rng.uniform(0, 2 * np.pi))
    f0 = base_f0 * (1.0 + 0.12 * intonation)
    f0 *= 1.0 + 0.01 * rng.standard_normal(num_frames)
    f0_samples = np.repeat(f0, frame)[:num_samples]
    phase = np.cumsum(f0_samples / fs)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    glottal = lfilter([1.0], [1.0, -1.9, 0.9025], pulses)  # double pole at 0.95: −12 dB/oct tilt
    source = glottal / max(float(np.std(glottal)), 1e-12) + 0.05 * rng.standard_normal(num_samples)
    # Vocal tract: cascade of four resonators whose coefficients change every frame (state carried over).
    output = np.empty(num_samples)
    states = [np.zeros(2) for _ in range(4)]
    for index in range(num_frames):
        block = source[index * frame:(index + 1) * frame]
        for formant in range(4):
            b, a = _resonator_coeffs(formants[index, formant], _FORMANT_BANDWIDTHS_HZ[formant], fs)
            block, states[formant] = lfilter(b, a, block, zi=states[formant])
        output[index * frame:index * frame + len(block)] = block
    speech = np.diff(output, prepend=0.0)  # lip radiation: +6 dB/oct
    return speech * np.repeat(envelope, frame)[:num_samples]


def harmonic_note(f0_hz: float, duration_s: float, fs: int, num_harmonics: int = 8,
                  adsr_s: tuple[float, float, float, float] = (0.01, 0.08, 0.6, 0.1),
                  harmonic_decay: float = 1.0) -> np.ndarray:
    """One note: harmonics k·f0 (k=1..num_harmonics, below Nyquist) with amplitude k^-harmonic_decay, (T,).

    adsr_s = (attack s, decay s, sustain level 0..1, release s); the release ends the note.
    """
    num_samples = _check_length(duration_s, fs)
    t = np.arange(num_samples) / fs
    tone = np.zeros(num_samples)
    for k in range(1, num_harmonics + 1):
        if k * f0_hz < fs / 2:
            tone += k ** -harmonic_decay * np.sin(2 * np.pi * k * f0_hz * t)
    attack, decay, sustain, release = adsr_s
    envelope = np.interp(t, [0.0, attack, attack + decay, max(duration_s - release, attack + decay),
                             duration_s], [0.0, 1.0, sustain, sustain, 0.0])
    return tone * envelope


def _melody(num_samples: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Notes from a major pentatonic scale (random tonic 110–220 Hz), 0.15–0.5 s each, random timbre."""
    tonic_hz = rng.uniform(110.0, 220.0)
    scale = np.array([0, 2, 4, 7, 9, 12, 14, 16])
    out = np.zeros(num_samples)
    start = 0
    degree = int(rng.integers(len(scale)))
    while start < num_samples:
        length = int(rng.uniform(0.15, 0.5) * fs)
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, len(scale) - 1))
        note = harmonic_note(tonic_hz * 2 ** (scale[degree] / 12), length / fs, fs,
                             harmonic_decay=rng.uniform(0.8, 1.6))
        end = min(num_samples, start + len(note))
        out[start:end] += note[:end - start]
        start += length
    return out


def _impulses(num_samples: int, fs: int, rng: np.random.Generator, rate_hz: float = 2.0) -> np.ndarray:
    """Clicks (2 ms), knocks (resonant low thuds) and claps (band-limited bursts) at Poisson times."""
    out = np.zeros(num_samples)
    count = max(1, int(rng.poisson(rate_hz * num_samples / fs)))
    for onset in rng.integers(0, num_samples, size=count):
        event = rng.choice(['click', 'knock', 'clap'])
        length_s, decay_s = {'click': (0.004, 0.001), 'knock': (0.08, 0.02), 'clap': (0.06, 0.012)}[event]
        t = np.arange(int(length_s * fs)) / fs
        burst = rng.standard_normal(len(t)) * np.exp(-t / decay_s)
        if event == 'knock':
            b, a = _resonator_coeffs(rng.uniform(150.0, 500.0), 60.0, fs)
            burst = lfilter(b, a, burst)
        elif event == 'clap':
            b, a = _resonator_coeffs(rng.uniform(1000.0, 2500.0), 1500.0, fs)
            burst = lfilter(b, a, burst)
        burst *= rng.uniform(0.5, 1.0) / max(float(np.abs(burst).max()), 1e-12)
        end = min(num_samples, onset + len(burst))
        out[onset:end] += burst[:end - onset]
    return out


def make_signal(kind: str, duration_s: float, fs: int, rng: np.random.Generator) -> np.ndarray:
    """A dry mono signal of `kind` (one of SIGNAL_KINDS), float32 (round(duration_s·fs),)."""
    num_samples = _check_length(duration_s, fs)
    if kind == 'speech':
        signal = _talker(num_samples, fs, rng)
    elif kind == 'babble':
        signal = sum(_talker(num_samples, fs, rng) for _ in range(4))
    elif kind == 'music':
        signal = _melody(num_samples, fs, rng)
    elif kind == 'impulses':
        signal = _impulses(num_samples, fs, rng)
    elif kind in ('white', 'pink', 'brown', 'ambient'):
        exponent = {'white': 0.0, 'pink': 1.0, 'brown': 2.0, 'ambient': 1.0}[kind]
        signal = coloured_noise(num_samples, exponent, rng, fs)
    else:
        raise UserInputError(f'unknown signal kind {kind!r}: use one of {", ".join(SIGNAL_KINDS)}')
    return _normalised(signal, AMBIENT_RMS if kind == 'ambient' else REFERENCE_RMS)


def activity_envelope(num_samples: int, fs: int, start_s: float = 0.0, end_s: float | None = None,
                      fade_s: float = 0.02) -> np.ndarray:
    """Gain (T,) float32: 0 outside [start_s, end_s), raised-cosine fades of fade_s inside its edges.

    A source with start_s ≤ 0 is already sounding at t = 0 and one with end_s None never stops, so those
    edges get no fade.
    """
    t = np.arange(num_samples) / fs
    end = np.inf if end_s is None else end_s
    fade = max(min(fade_s, (end - start_s) / 2.0), 1e-9)
    since_start = t - start_s if start_s > 0 else np.inf
    ramp = np.clip(np.minimum(since_start, end - t) / fade, 0.0, 1.0)
    envelope = 0.5 - 0.5 * np.cos(np.pi * ramp)
    envelope[(t < start_s) | (t >= end)] = 0.0
    return envelope.astype(np.float32)


@dataclass
class SourceSpec:
    """A sound source in a scene.

    Attributes:
        kind: One of SIGNAL_KINDS; 'ambient' has no position (a diffuse bed).
        position_m: World position (3,) in metres, or (K, 3) waypoints of a moving source (with times_s),
            or None for 'ambient'.
        start_s, end_s: Activity interval in seconds from the scene start (end None: until the end).
        gain_db: Level relative to the signal's reference RMS.
        times_s: (K,) increasing waypoint times for a moving source; positions are linearly interpolated
            and held constant outside [times_s[0], times_s[-1]].
        spread_m: Radius of an areal source (0 for a point); the FOA renderer averages over points on it.
        name: Optional label.
    """

    kind: str
    position_m: np.ndarray | None = None
    start_s: float = 0.0
    end_s: float | None = None
    gain_db: float = 0.0
    times_s: np.ndarray | None = None
    spread_m: float = 0.0
    name: str = ''

    def __post_init__(self) -> None:
        if self.kind not in SIGNAL_KINDS:
            raise UserInputError(f'unknown source kind {self.kind!r}: use one of {", ".join(SIGNAL_KINDS)}')
        if self.end_s is not None and self.end_s <= self.start_s:
            raise UserInputError(f'source end_s {self.end_s} must be after start_s {self.start_s}')
        if self.position_m is None:
            if self.kind != 'ambient':
                raise UserInputError(f'a {self.kind!r} source needs position_m')
            return
        position = np.asarray(self.position_m, dtype=np.float64)
        if position.shape[-1:] != (3,) or position.ndim > 2 or not np.all(np.isfinite(position)):
            raise UserInputError(f'source position_m must be [x, y, z] or a list of them, '
                                 f'got shape {position.shape}')
        if position.ndim == 2:
            times = None if self.times_s is None else np.asarray(self.times_s, dtype=np.float64)
            if times is None or times.shape != (len(position),) or np.any(np.diff(times) <= 0):
                raise UserInputError('a moving source needs times_s: one increasing time per waypoint')
            self.times_s = times
        self.position_m = position

    @property
    def is_diffuse(self) -> bool:
        """True for a positionless (ambient) source."""
        return self.position_m is None

    def position_at(self, t_s: float) -> np.ndarray:
        """World position (3,) at time t_s (metres)."""
        if self.position_m is None:
            raise UserInputError('an ambient source has no position')
        if self.position_m.ndim == 1:
            return self.position_m
        return np.array([np.interp(t_s, self.times_s, self.position_m[:, axis]) for axis in range(3)])

    def gain_envelope(self, num_samples: int, fs: int) -> np.ndarray:
        """Activity envelope times 10^(gain_db/20), (T,) float32."""
        gain = 10.0 ** (self.gain_db / 20.0)
        return activity_envelope(num_samples, fs, self.start_s, self.end_s) * np.float32(gain)

    def to_dict(self) -> dict:
        """Plain-data form, as in scene.json (docs in av_pose.scene.format).

        A static source has `position_m` [x, y, z], a moving one `trajectory` [{t, position_m}, ...], an
        ambient one `position_m` None; `end_s` is left out when the source never stops.
        """
        out = {'kind': self.kind, 'name': self.name, 'start_s': float(self.start_s),
               'gain_db': float(self.gain_db), 'spread_m': float(self.spread_m)}
        if self.end_s is not None:
            out['end_s'] = float(self.end_s)
        if self.times_s is None:
            out['position_m'] = None if self.position_m is None else self.position_m.round(6).tolist()
        else:
            out['trajectory'] = [{'t': float(t), 'position_m': p.round(6).tolist()}
                                 for t, p in zip(self.times_s, self.position_m)]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> SourceSpec:
        """Inverse of to_dict; raises UserInputError on a malformed mapping or unknown keys."""
        if not isinstance(data, dict) or 'kind' not in data:
            raise UserInputError('a source must be a mapping with at least a kind')
        unknown = set(data) - {'kind', 'name', 'position_m', 'trajectory', 'start_s', 'end_s', 'gain_db',
                               'spread_m'}
        if unknown:
            raise UserInputError(f'source has unknown fields: {", ".join(sorted(unknown))}')
        fields = {key: value for key, value in data.items() if key != 'trajectory'}
        if 'trajectory' in data:
            try:
                fields['times_s'] = [float(point['t']) for point in data['trajectory']]
                fields['position_m'] = [point['position_m'] for point in data['trajectory']]
            except (TypeError, KeyError, ValueError) as err:
                raise UserInputError('source trajectory must be a list of {t, position_m}') from err
        return cls(**fields)
