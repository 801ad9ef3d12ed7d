import numpy as np
import pytest

from av_pose.errors import UserInputError
from av_pose.scene.signals import (
    AMBIENT_RMS,
    PEAK_LIMIT,
    REFERENCE_RMS,
    SIGNAL_KINDS,
    SourceSpec,
    activity_envelope,
    harmonic_note,
    make_signal,
)

FS = 16000


def band_fraction(signal: np.ndarray, low_hz: float, high_hz: float, fs: int = FS) -> float:
    power = np.abs(np.fft.rfft(signal)) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1.0 / fs)
    return float(power[(freqs >= low_hz) & (freqs <= high_hz)].sum() / power.sum())


@pytest.mark.parametrize('kind', SIGNAL_KINDS)
def test_signals_are_deterministic_by_seed_and_scaled(kind):
    first = make_signal(kind, 1.5, FS, np.random.default_rng(7))
    again = make_signal(kind, 1.5, FS, np.random.default_rng(7))
    other = make_signal(kind, 1.5, FS, np.random.default_rng(8))
    assert first.dtype == np.float32 and first.shape == (int(1.5 * FS),)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    rms = float(np.sqrt(np.mean(first.astype(np.float64) ** 2)))
    target = AMBIENT_RMS if kind == 'ambient' else REFERENCE_RMS
    assert rms <= target * 1.001
    assert rms > target * 0.999 or np.isclose(np.abs(first).max(), PEAK_LIMIT, rtol=1e-4)


def test_speech_energy_lies_in_voice_band_and_has_pauses():
    speech = make_signal('speech', 4.0, FS, np.random.default_rng(1))
    assert band_fraction(speech, 100, 4000) > 0.97
    assert band_fraction(speech, 100, 1000) > 0.5           # voiced energy sits in the first formants
    frame_rms = np.sqrt(np.mean(speech.reshape(-1, 320).astype(np.float64) ** 2, axis=1))   # 20 ms frames
    assert np.mean(frame_rms < 0.01 * frame_rms.max()) > 0.05   # pauses between phrases


def test_speech_envelope_fluctuates_at_syllable_rate():
    speech = make_signal('speech', 6.0, FS, np.random.default_rng(3)).astype(np.float64)
    envelope = np.sqrt(np.mean(speech.reshape(-1, 160) ** 2, axis=1))      # 100 Hz envelope
    power = np.abs(np.fft.rfft(envelope - envelope.mean())) ** 2
    rates = np.fft.rfftfreq(len(envelope), 0.01)
    syllabic = (rates >= 2.5) & (rates <= 7.0)
    assert 3.0 <= rates[syllabic][np.argmax(power[syllabic])] <= 6.0
    assert power[syllabic].sum() > 0.2 * power.sum()      # the rest is mostly the slower phrase rhythm


def test_babble_is_louder_in_band_than_white_noise():
    babble = make_signal('babble', 2.0, FS, np.random.default_rng(2))
    white = make_signal('white', 2.0, FS, np.random.default_rng(2))
    assert band_fraction(babble, 100, 4000) > 0.97 > band_fraction(white, 100, 4000) + 0.4


def test_harmonic_note_has_peaks_at_harmonics():
    note = harmonic_note(220.0, 1.0, FS, num_harmonics=6)
    spectrum = np.abs(np.fft.rfft(note * np.hanning(len(note))))
    freqs = np.fft.rfftfreq(len(note), 1.0 / FS)
    peak_bins = np.argsort(spectrum)[::-1]
    strongest = sorted({round(freqs[b] / 220.0) for b in peak_bins[:40]})
    assert strongest == [1, 2, 3, 4, 5, 6]
    for k in range(1, 7):   # a peak at each harmonic, far above the floor half-way between harmonics
        between = spectrum[np.argmin(np.abs(freqs - 220 * (k + 0.5)))]
        assert spectrum[np.argmin(np.abs(freqs - 220 * k))] > 100 * between


def test_music_is_harmonic():
    music = make_signal('music', 3.0, FS, np.random.default_rng(4)).astype(np.float64)
    # Within a note (0.15 s minimum) the autocorrelation has a strong peak at the pitch period.
    segment = music[int(0.05 * FS):int(0.13 * FS)]
    correlation = np.correlate(segment, segment, 'full')[len(segment) - 1:]
    lags = slice(int(FS / 900), int(FS / 100))
    assert correlation[lags].max() > 0.8 * correlation[0]


def test_impulses_are_sparse():
    impulses = make_signal('impulses', 4.0, FS, np.random.default_rng(5)).astype(np.float64)
    frame_rms = np.sqrt(np.mean(impulses.reshape(-1, 160) ** 2, axis=1))
    assert np.mean(frame_rms < 0.05 * frame_rms.max()) > 0.6
    assert np.abs(impulses).max() <= PEAK_LIMIT + 1e-6


@pytest.mark.parametrize('kind,exponent', [('white', 0.0), ('pink', 1.0), ('brown', 2.0)])
def test_noise_colour_slope(kind, exponent):
    noise = make_signal(kind, 4.0, FS, np.random.default_rng(6)).astype(np.float64)
    low, high = band_fraction(noise, 200, 400), band_fraction(noise, 3200, 6400)
    # Power per octave band scales as f^(1-exponent): 4 octaves apart from 200–400 to 3200–6400 Hz.
    assert np.log2(high / low) / 4 == pytest.approx(1 - exponent, abs=0.15)


def test_activity_envelope_is_silent_outside_interval():
    envelope = activity_envelope(FS * 2, FS, start_s=0.5, end_s=1.25, fade_s=0.02)
    t = np.arange(FS * 2) / FS
    assert np.all(envelope[(t < 0.5) | (t >= 1.25)] == 0)
    assert np.all(envelope[(t >= 0.52) & (t <= 1.23)] == 1)
    assert np.all(np.diff(envelope[(t >= 0.5) & (t < 0.52)]) >= 0)
    always_on = activity_envelope(FS, FS, start_s=0.0, end_s=None)
    assert np.all(always_on == 1)      # no fade at the scene start or end


def test_source_spec_gain_envelope_and_round_trip():
    spec = SourceSpec('speech', [1.0, 2.0, 1.5], start_s=0.3, end_s=0.9, gain_db=-6.0)
    gains = spec.gain_envelope(FS, FS)
    assert gains[: int(0.3 * FS)].max() == 0 and gains[int(0.9 * FS):].max() == 0
    assert gains.max() == pytest.approx(10 ** (-6 / 20), rel=1e-6)
    back = SourceSpec.from_dict(spec.to_dict())
    assert back.to_dict() == spec.to_dict()


def test_moving_source_interpolates_waypoints():
    spec = SourceSpec('pink', [[1, 1, 1], [3, 1, 1]], times_s=[0.0, 2.0])
    np.testing.assert_allclose(spec.position_at(0.5), [1.5, 1, 1])
    np.testing.assert_allclose(spec.position_at(5.0), [3, 1, 1])
    as_dict = spec.to_dict()
    assert as_dict['trajectory'][1] == {'t': 2.0, 'position_m': [3.0, 1.0, 1.0]}
    assert SourceSpec.from_dict(as_dict).times_s.tolist() == [0.0, 2.0]


@pytest.mark.parametrize('bad', [
    dict(kind='whistle', position_m=[1, 1, 1]),
    dict(kind='speech'),
    dict(kind='speech', position_m=[1, 1]),
    dict(kind='speech', position_m=[[1, 1, 1], [2, 2, 2]]),
    dict(kind='speech', position_m=[1, 1, 1], start_s=2.0, end_s=1.0),
    dict(kind='speech', position_m=[1, 1, 1], volume=3),
    dict(kind='speech', trajectory=[{'t': 0.0}]),
])
def test_bad_source_specs_raise_user_errors(bad):
    with pytest.raises(UserInputError):
        SourceSpec.from_dict(bad)


def test_unknown_kind_and_bad_duration_raise():
    with pytest.raises(UserInputError):
        make_signal('whistle', 1.0, FS, np.random.default_rng(0))
    with pytest.raises(UserInputError):
        make_signal('pink', 0.0, FS, np.random.default_rng(0))
