import numpy as np
import pytest
from scipy.signal import csd, fftconvolve, welch

from av_pose.audio.arrays import PRESETS, SPEED_OF_SOUND_M_S
from av_pose.audio.doa import make_estimator
from av_pose.errors import UserInputError
from av_pose.geometry import azimuth_deg_in_frame, look_at, make_transform, rotation_from_ypr
from av_pose.scene.acoustics import (
    FRACTIONAL_DELAY_TAPS,
    RirCache,
    array_pose_fn,
    diffuse_field,
    render_array_audio,
    shoebox_room,
)
from av_pose.scene.ambisonic import distance_gain, foa_to_virtual_mics, render_foa
from av_pose.scene.signals import SourceSpec, make_signal

FS = 16000
ROOM = (6.0, 5.0, 3.0)
CENTRE = np.array([3.0, 2.5, 1.4])


def rig(yaw_deg: float, position=CENTRE) -> np.ndarray:
    return make_transform(rotation_from_ypr(np.radians(yaw_deg), 0.0, 0.0), np.asarray(position, float))


def around(azimuth_deg: float, radius_m: float, height_m: float = 1.6) -> np.ndarray:
    a = np.radians(azimuth_deg)
    return np.array([CENTRE[0] + radius_m * np.cos(a), CENTRE[1] + radius_m * np.sin(a), height_m])


def angle_error(estimate_deg: float, truth_deg: float) -> float:
    return abs((estimate_deg - truth_deg + 180.0) % 360.0 - 180.0)


# Speech on the 3.2 cm ReSpeaker ring is biased by early reflections (up to ~7° over 18 azimuths in this
# room), so the small array gets a stationary broadband source; the 8.6 cm UMA-8 handles speech.
@pytest.mark.parametrize('array_name,kind', [('respeaker4', 'pink'), ('uma8', 'speech')])
@pytest.mark.parametrize('world_azimuth_deg', [25.0, 140.0, 250.0])
def test_music_finds_source_in_reverberant_room(array_name, kind, world_azimuth_deg):
    array = PRESETS[array_name]
    source = around(world_azimuth_deg, 1.3)
    pose = rig(0.0)
    audio = render_array_audio(ROOM, 0.3, [SourceSpec(kind, source)], None, array, pose, 1.0, FS,
                               snr_db=30.0, rng=np.random.default_rng(int(world_azimuth_deg)))
    assert audio.shape == (array.num_channels, FS) and audio.dtype == np.float32
    estimate = make_estimator('normmusic', array, FS).estimate(audio).azimuths_deg[0, 0]
    assert angle_error(estimate, float(azimuth_deg_in_frame(source, pose))) < 3.0


@pytest.mark.parametrize('yaw_deg', [35.0, -70.0])
def test_yawing_the_rig_shifts_the_azimuth_by_minus_yaw(yaw_deg):
    array = PRESETS['respeaker4']
    source = around(60.0, 1.2)
    estimator = make_estimator('normmusic', array, FS)
    signal = [make_signal('pink', 1.0, FS, np.random.default_rng(0))]
    estimates = []
    for yaw in (0.0, yaw_deg):
        audio = render_array_audio(ROOM, 0.3, [SourceSpec('pink', source)], signal, array, rig(yaw), 1.0,
                                   FS, snr_db=30.0, rng=np.random.default_rng(1))
        estimates.append(estimator.estimate(audio).azimuths_deg[0, 0])
        assert angle_error(estimates[-1], float(azimuth_deg_in_frame(source, rig(yaw)))) < 3.0
    assert angle_error(estimates[1] - estimates[0], -yaw_deg) < 3.0


def test_rotating_rig_is_tracked_over_time():
    array = PRESETS['uma8']
    source = around(10.0, 1.3)

    def pose_fn(t_s: float) -> np.ndarray:    # yaw 0° → 90° at a constant 45°/s
        return rig(45.0 * t_s)

    audio = render_array_audio(ROOM, 0.3, [SourceSpec('pink', source)], None, array, pose_fn, 2.0, FS,
                               snr_db=30.0, rng=np.random.default_rng(3))
    estimator = make_estimator('normmusic', array, FS)
    for centre_s in (0.2, 1.0, 1.8):
        window = audio[:, int((centre_s - 0.15) * FS):int((centre_s + 0.15) * FS)]
        truth = float(azimuth_deg_in_frame(source, pose_fn(centre_s)))
        assert angle_error(estimator.estimate(window).azimuths_deg[0, 0], truth) < 5.0


def test_static_render_equals_plain_convolution_for_any_hop():
    # The Hann blocks sum to one, so a still rig and source give exactly signal * RIR whatever the hop.
    array = PRESETS['respeaker4']
    source = around(200.0, 1.5)
    signal = make_signal('music', 0.5, FS, np.random.default_rng(4))
    cache = RirCache(shoebox_room(ROOM, 0.3, FS))
    renders = [render_array_audio(ROOM, 0.3, [SourceSpec('music', source)], [signal], array, rig(30.0), 0.5,
                                  FS, hop_s=hop, snr_db=None, rir_cache=cache) for hop in (0.05, 0.1)]
    assert cache.misses == 1          # nothing is recomputed while the rig is still
    mics = array.positions_m @ rig(30.0)[:3, :3].T + CENTRE
    reference = fftconvolve(signal[None].astype(np.float64), cache.rirs(source, mics), axes=-1)
    reference = reference[:, FRACTIONAL_DELAY_TAPS // 2:][:, :len(signal)]
    for audio in renders:
        np.testing.assert_allclose(audio, reference, atol=1e-5)


def test_free_field_direct_path_falls_as_one_over_distance():
    # With no reflections (order cap 0) the level falls as 1/d, unit gain at 1 m.
    signal = [make_signal('white', 0.5, FS, np.random.default_rng(5))]
    levels = []
    for distance in (1.0, 2.0):
        audio = render_array_audio(ROOM, 0.3, [SourceSpec('white', around(0.0, distance, CENTRE[2]))], signal,
                                   PRESETS['respeaker4'], rig(0.0), 0.5, FS, snr_db=None, max_order_cap=0)
        levels.append(np.sqrt(np.mean(audio[:, FS // 10:].astype(np.float64) ** 2)))
    reference = np.sqrt(np.mean(signal[0][FS // 10:].astype(np.float64) ** 2))
    assert levels[0] == pytest.approx(reference, rel=0.05)
    assert levels[0] / levels[1] == pytest.approx(2.0, rel=0.05)


def test_source_is_silent_before_it_starts():
    spec = SourceSpec('white', around(90.0, 1.0), start_s=0.4)
    audio = render_array_audio(ROOM, 0.3, [spec], None, PRESETS['respeaker4'], rig(0.0), 1.0, FS,
                               snr_db=None, rng=np.random.default_rng(6))
    direct_delay = int(1.0 / SPEED_OF_SOUND_M_S * FS) - FRACTIONAL_DELAY_TAPS // 2 - 2
    assert np.abs(audio[:, :int(0.4 * FS) + direct_delay]).max() < 1e-6
    assert np.abs(audio[:, int(0.5 * FS):]).max() > 1e-2


def test_sensor_noise_has_requested_snr():
    spec = SourceSpec('pink', around(90.0, 1.0))
    clean = render_array_audio(ROOM, 0.3, [spec], None, PRESETS['respeaker4'], rig(0.0), 1.0, FS,
                               snr_db=None, rng=np.random.default_rng(7))
    noisy = render_array_audio(ROOM, 0.3, [spec], None, PRESETS['respeaker4'], rig(0.0), 1.0, FS,
                               snr_db=20.0, rng=np.random.default_rng(7))
    noise = (noisy - clean).astype(np.float64)
    assert 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise ** 2)) == pytest.approx(20, abs=0.3)


def test_diffuse_field_has_sinc_coherence():
    mics = np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]])
    signal = make_signal('white', 4.0, FS, np.random.default_rng(8)).astype(np.float64)
    field = diffuse_field(signal, mics, FS, np.random.default_rng(9), num_directions=128)
    freqs, cross = csd(field[0], field[1], FS, nperseg=256)
    _, auto0 = welch(field[0], FS, nperseg=256)
    _, auto1 = welch(field[1], FS, nperseg=256)
    coherence = np.real(cross) / np.sqrt(auto0 * auto1)
    expected = np.sinc(2 * freqs * 0.1 / SPEED_OF_SOUND_M_S)   # sin(kd)/(kd)
    band = (freqs > 100) & (freqs < 6000)
    assert np.max(np.abs(coherence[band] - expected[band])) < 0.2
    assert np.std(field[0]) == pytest.approx(np.std(signal), rel=0.1)


def test_array_pose_fn_puts_array_axes_on_camera_axes():
    # A camera looking along world +y: the array's x (forward) axis points along world +y too.
    camera = look_at(CENTRE, CENTRE + [0.0, 1.0, 0.0])
    pose = array_pose_fn(lambda t_s: camera)(0.0)
    np.testing.assert_allclose(pose[:3, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(pose[:3, 2], [0, 0, 1], atol=1e-12)


def test_foa_intensity_finds_point_source():
    array = PRESETS['foa']
    estimator = make_estimator('intensity', array, FS)
    for world_azimuth in (30.0, 160.0, 290.0):
        source = around(world_azimuth, 1.5, CENTRE[2])
        pose = rig(20.0)
        audio = render_array_audio(ROOM, 0.3, [SourceSpec('speech', source)], None, array, pose, 1.0, FS,
                                   snr_db=30.0, rng=np.random.default_rng(10))
        estimate = estimator.estimate(audio).azimuths_deg[0, 0]
        assert angle_error(estimate, float(azimuth_deg_in_frame(source, pose))) < 3.0


def test_foa_level_falls_as_exp_over_distance():
    alpha = 0.2
    signal = [make_signal('white', 0.5, FS, np.random.default_rng(11))]
    levels = [np.std(render_foa([SourceSpec('white', around(0.0, d, CENTRE[2]))], signal, rig(0.0), 0.5, FS,
                                alpha_per_m=alpha)[0]) for d in (1.0, 3.0)]
    assert levels[0] / levels[1] == pytest.approx(3.0 * np.exp(2 * alpha), rel=1e-3)
    assert distance_gain(3.0, alpha) == pytest.approx(np.exp(-3 * alpha) / 3)


def test_foa_ambience_is_omnidirectional_and_areal_sources_average():
    specs = [SourceSpec('ambient'), SourceSpec('pink', around(90.0, 1.0, CENTRE[2]), spread_m=0.5)]
    audio = render_foa(specs, None, rig(0.0), 0.5, FS, rng=np.random.default_rng(12))
    ambient_only = render_foa(specs[:1], None, rig(0.0), 0.5, FS, rng=np.random.default_rng(12))
    assert np.abs(ambient_only[1:]).max() == 0 and np.abs(ambient_only[0]).max() > 0
    # The spread source is still heard from the left (+y) and not along x.
    assert np.std(audio[1]) > 5 * np.std(audio[3])


def test_moving_rig_pans_foa_and_virtual_cardioids():
    source = around(0.0, 1.5, CENTRE[2])
    audio = render_foa([SourceSpec('white', source)], None, lambda t: rig(-90.0 * np.clip(2 * t - 0.5, 0, 1)),
                       1.0, FS, rng=np.random.default_rng(13))
    left, right = foa_to_virtual_mics(audio, [90.0, -90.0], 'cardioid')
    early, late = slice(0, FS // 10), slice(FS - FS // 10, FS)
    # Until 0.25 s the source is straight ahead (equal ears); after yawing −90° it is on the left.
    assert np.std(left[early]) == pytest.approx(np.std(right[early]), rel=0.05)
    assert np.std(left[late]) > 10 * np.std(right[late])
    gains = np.std(foa_to_virtual_mics(audio[:, late], [90.0, 0.0, 180.0], 'cardioid'), axis=1)
    np.testing.assert_allclose(gains / gains[0], [1.0, 0.5, 0.5], atol=0.05)


def test_bad_inputs_raise_user_errors():
    array = PRESETS['respeaker4']
    with pytest.raises(UserInputError):
        render_array_audio(ROOM, 0.3, [SourceSpec('pink', [9.0, 1.0, 1.0])], None, array, rig(0.0), 0.2, FS)
    with pytest.raises(UserInputError):
        render_array_audio(ROOM, 0.05, [SourceSpec('pink', [1.0, 1.0, 1.0])], None, array, rig(0.0), 0.2, FS)
    with pytest.raises(UserInputError):
        render_array_audio(ROOM, 0.3, [SourceSpec('pink', [1.0, 1.0, 1.0])], [np.zeros(10)], array, rig(0.0),
                           0.2, FS)
    with pytest.raises(UserInputError):
        foa_to_virtual_mics(np.zeros((4, 10)), [0.0], 'shotgun')


def _ild_db_and_itd_samples(audio: np.ndarray, band_hz=(3000.0, 6000.0)) -> tuple[float, float]:
    """Left/right level difference in a band (dB) and the left-ear lead (samples, GCC-PHAT, 1/16 sample)."""
    freqs, left = welch(audio[0], FS, nperseg=1024)
    _, right = welch(audio[1], FS, nperseg=1024)
    band = (freqs >= band_hz[0]) & (freqs < band_hz[1])
    _, cross = csd(audio[0], audio[1], FS, nperseg=1024)
    upsample = 16
    phat = np.zeros(upsample * 1024 // 2 + 1, dtype=complex)
    phat[:cross.size] = cross / np.maximum(np.abs(cross), 1e-20)
    correlation = np.fft.fftshift(np.fft.irfft(phat))
    lead = (np.argmax(correlation) - correlation.size // 2) / upsample
    return 10.0 * np.log10(left[band].sum() / right[band].sum()), float(lead)


@pytest.mark.parametrize('azimuth_deg', [0.0, 45.0, 90.0])
def test_binaural_preset_is_heard_through_a_spherical_head(azimuth_deg):
    from av_pose.audio.binaural import SphericalHeadHrtf, woodworth_itd_s

    # Free field (order cap 0), white noise 2 m away: the ears differ by the head's shadow and its path.
    array = PRESETS['binaural']
    assert array.head_radius_m == pytest.approx(0.0875)
    signal = [make_signal('white', 1.0, FS, np.random.default_rng(7))]
    audio = render_array_audio(ROOM, 0.3, [SourceSpec('white', around(azimuth_deg, 2.0, CENTRE[2]))], signal,
                               array, rig(0.0), 1.0, FS, snr_db=None, max_order_cap=0).astype(np.float64)
    ild, itd = _ild_db_and_itd_samples(audio)
    hrir = SphericalHeadHrtf(FS).hrir(azimuth_deg)
    spectra = np.abs(np.fft.rfft(hrir, 1024, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(1024, 1.0 / FS)
    band = (freqs >= 3000.0) & (freqs < 6000.0)
    model_ild = 10.0 * np.log10(spectra[0, band].sum() / spectra[1, band].sum())
    assert ild == pytest.approx(model_ild, abs=1.0)  # the renderer's filter = the HRTF's, to 1 dB
    assert itd == pytest.approx(woodworth_itd_s(azimuth_deg) * FS, abs=0.5)
    if azimuth_deg == 0.0:
        assert abs(ild) < 0.5
    else:  # the near ear is louder; the path round the head is longer than the ears' straight-line spacing
        assert ild > 4.0 * np.sin(np.radians(azimuth_deg))
        assert itd > 0.175 / SPEED_OF_SOUND_M_S * np.sin(np.radians(azimuth_deg)) * FS + 0.5


@pytest.mark.parametrize('method', ['normmusic', 'srp_phat'])
def test_doa_on_a_head_steers_with_the_head(method):
    from av_pose.audio.arrays import MicArray
    from av_pose.metrics.azimuth import slfm_angle_error_deg

    # Reverberant room, pink noise heard through the binaural preset's head; front/back folded (two ears).
    head = PRESETS['binaural']
    bare = MicArray('bare-pair', head.positions_m)  # the same two points in free air
    errors = {'head': [], 'bare': []}
    for azimuth_deg in (30.0, 60.0, 80.0):
        audio = render_array_audio(ROOM, 0.3, [SourceSpec('pink', around(azimuth_deg, 1.5, CENTRE[2]))], None,
                                   head, rig(0.0), 1.0, FS, snr_db=30.0, rng=np.random.default_rng(9))
        for name, array in (('head', head), ('bare', bare)):
            estimate = make_estimator(method, array, FS).estimate(audio).azimuths_deg[0, 0]
            errors[name].append(float(slfm_angle_error_deg(estimate, azimuth_deg)))
    assert max(errors['head']) < 6.0, errors           # steered with the head's own response
    assert max(errors['bare']) > 20.0, errors          # free-field steering mistakes the longer path round it
