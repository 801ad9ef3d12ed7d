"""DOA estimators against pyroomacoustics and against ground truth in simulated rooms."""
import numpy as np
import pyroomacoustics as pra
import pytest
import torch

from av_pose.audio.arrays import PRESETS, MicArray
from av_pose.audio.doa import DirectionGrid, make_estimator
from av_pose.audio.doa.peaks import find_circular_peaks
from av_pose.errors import UserInputError

from room_sim import circular_error_deg, simulate

PRA_CLASSES = {'normmusic': pra.doa.normmusic.NormMUSIC, 'music': pra.doa.music.MUSIC,
               'srp_phat': pra.doa.srp.SRP}
PRA_GRID = DirectionGrid(step_deg=1.0, offset_deg=0.0)  # pyroomacoustics' 360 points at whole degrees

# (array, fs, rt60, snr, source azimuths): arrays, rates, reverberation, noise and source counts spanned
AGREEMENT_CASES = [
    ('respeaker4', 16000, 0.2, 30.0, [60.0]),
    ('respeaker4', 48000, 0.6, 10.0, [200.0]),
    ('respeaker6', 16000, 0.4, 0.0, [135.0]),
    ('respeaker6', 48000, 0.3, 20.0, [30.0, 250.0]),
    ('uma8', 16000, 0.6, 20.0, [10.0, 100.0]),
    ('uma8', 48000, 0.2, 30.0, [300.0]),
]


def _matched_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Largest error after matching each reference peak to the nearest of ours."""
    return max(circular_error_deg(ours, ref).min() for ref in theirs)


def agrees_with_reference(ours: np.ndarray, reference) -> bool:
    """Our peaks are pyroomacoustics' (`reference`, after locate_sources) within 1°, or its spectrum's strongest
    maxima 20° apart (our peak picking), or, where its spectrum has near-equal maxima, each of ours is one of them.

    A second source in a reverberant or noisy room can leave near-equal maxima (unnormalised MUSIC on uma8 at
    RT60 0.6 s: its top grid values lie within 1 %; NormMUSIC at 0 dB SNR: a flat peak with two grid maxima 3°
    apart, both reported by pyroomacoustics, which keeps no minimum separation), where float32 vs float64
    rounding picks either. Then each of our peaks must be within 1° of a local maximum of pyroomacoustics' own
    spectrum worth at least 97 % of its weakest reported peak.
    """
    theirs = np.rad2deg(reference.azimuth_recon)
    if _matched_difference(ours, theirs) <= 1.0:
        return True
    values = np.asarray(reference.grid.values, dtype=np.float64)
    maxima = np.flatnonzero((values >= np.roll(values, 1)) & (values >= np.roll(values, -1)))
    separated = []  # its maxima picked with our 20° minimum separation (it keeps none: a flat top gives two)
    for index in maxima[np.argsort(values[maxima])[::-1]]:
        if all(circular_error_deg(index, kept) >= 20.0 for kept in separated):
            separated.append(index)
    if _matched_difference(ours, np.array(separated[:len(theirs)], dtype=float)) <= 1.0:
        return True
    weakest = values[np.round(theirs).astype(int) % 360].min()
    strong = maxima[values[maxima] >= 0.97 * weakest]
    return all(circular_error_deg(strong, peak).min() <= 1.0 for peak in ours)


@pytest.mark.parametrize('array_name, fs, rt60, snr, azimuths', AGREEMENT_CASES)
def test_peaks_agree_with_pyroomacoustics_on_identical_input(array_name, fs, rt60, snr, azimuths):
    array = PRESETS[array_name]
    audio = simulate(array, fs, azimuths, rt60_s=rt60, snr_db=snr, seed=len(azimuths))
    for method in ('normmusic', 'srp_phat', 'music'):
        estimator = make_estimator(method, array, fs, num_sources=len(azimuths), grid=PRA_GRID)
        spectrogram = estimator.stft(audio)
        ours = estimator.estimate_stft(spectrogram).azimuths_deg[0]
        reference = PRA_CLASSES[method](array.positions_m.T, fs, estimator.nfft, num_src=len(azimuths))
        reference.locate_sources(spectrogram[0].numpy().astype(np.complex128), freq_range=[500.0, 4000.0])
        assert agrees_with_reference(ours, reference), (method, ours, np.rad2deg(reference.azimuth_recon))


@pytest.mark.parametrize('array_name', ['respeaker4', 'respeaker6', 'uma8'])
@pytest.mark.parametrize('fs', [16000, 48000])
def test_single_source_error_at_snr20_rt03(array_name, fs):
    array = PRESETS[array_name]
    estimator = make_estimator('normmusic', array, fs)
    errors = []
    for seed, azimuth in enumerate([15.0, 60.0, 137.0, 250.0, 321.0]):
        audio = simulate(array, fs, [azimuth], rt60_s=0.3, snr_db=20.0, seed=seed)
        result = estimator.estimate(audio)
        errors.append(float(circular_error_deg(result.azimuths_deg[0, 0], azimuth)))
        assert result.spectrum.shape == (1, 360)
        assert 0.0 <= result.spectrum.min() and result.spectrum.max() == pytest.approx(1.0)
        assert circular_error_deg(np.argmax(result.spectrum[0]) + 0.5, azimuth) <= 3.0
    assert max(errors) <= 2.0, errors


def test_two_sources_found_with_srp_and_normmusic():
    array = PRESETS['uma8']
    audio = simulate(array, 16000, [40.0, 190.0], rt60_s=0.3, snr_db=20.0, seed=3)
    for method in ('normmusic', 'srp_phat'):
        result = make_estimator(method, array, 16000, num_sources=2).estimate(audio)
        found = np.sort(result.azimuths_deg[0])
        assert circular_error_deg(found, [40.0, 190.0]).max() <= 3.0, (method, found)
        assert np.all(result.confidence[0] > 0.2)


def test_batch_equals_single_windows():
    array = PRESETS['respeaker6']
    windows = np.stack([simulate(array, 16000, [az], seed=i) for i, az in enumerate([20.0, 200.0, 290.0])])
    estimator = make_estimator('normmusic', array, 16000)
    batched = estimator.estimate(windows)
    for i in range(3):
        single = estimator.estimate(windows[i])
        np.testing.assert_allclose(batched.spectrum[i], single.spectrum[0], atol=1e-4)
        np.testing.assert_allclose(batched.azimuths_deg[i], single.azimuths_deg[0], atol=1e-3)


def test_noise_only_has_low_confidence_and_source_high():
    array = PRESETS['respeaker6']
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((6, 16000)).astype(np.float32)
    estimator = make_estimator('normmusic', array, 16000)
    source = simulate(array, 16000, [80.0], rt60_s=0.2, snr_db=30.0)
    assert estimator.estimate(noise).confidence[0, 0] < 0.3
    assert estimator.estimate(source).confidence[0, 0] > 0.5


def test_foa_pseudo_intensity_finds_plane_wave():
    rng = np.random.default_rng(1)
    signal = rng.standard_normal(16000)
    foa = PRESETS['foa']
    for azimuth, elevation in [(30.0, 0.0), (222.0, 20.0)]:
        az, el = np.deg2rad([azimuth, elevation])
        gains = np.array([1.0, np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])  # W Y Z X
        audio = gains[:, None] * signal[None] + 0.05 * rng.standard_normal((4, 16000))
        for method in ('intensity', 'normmusic'):
            result = make_estimator(method, foa, 16000).estimate(audio.astype(np.float32))
            assert circular_error_deg(result.azimuths_deg[0, 0], azimuth) <= 2.0, method


def test_peaks_wrap_around_and_respect_separation():
    grid_deg = np.arange(360.0)
    profile = np.exp(-0.5 * (circular_error_deg(grid_deg, 359.6) / 3.0) ** 2)
    profile += 0.8 * np.exp(-0.5 * (circular_error_deg(grid_deg, 10.0) / 3.0) ** 2)
    profile += 0.5 * np.exp(-0.5 * (circular_error_deg(grid_deg, 120.0) / 3.0) ** 2)
    azimuths, _ = find_circular_peaks(profile[None], 1.0, 0.0, num_peaks=2, min_separation_deg=20.0)
    assert circular_error_deg(azimuths[0, 0], 359.6) < 0.3  # sub-grid refinement across 0°
    assert circular_error_deg(azimuths[0, 1], 120.0) < 0.3  # 10° is too close to the first peak
    azimuths, _ = find_circular_peaks(profile[None], 1.0, 0.0, num_peaks=4, min_separation_deg=5.0)
    assert np.isnan(azimuths[0, 3]) and circular_error_deg(azimuths[0, 1], 10.0) < 0.5


def test_bad_configuration_is_a_user_error():
    array = PRESETS['respeaker4']
    with pytest.raises(UserInputError, match='channels'):
        make_estimator('normmusic', array, 16000).estimate(np.zeros((3, 16000), np.float32))
    with pytest.raises(UserInputError, match='freq_range'):
        make_estimator('normmusic', array, 16000, freq_range_hz=(500.0, 9000.0))
    with pytest.raises(UserInputError, match='unknown DOA method'):
        make_estimator('beamformer', array, 16000)
    with pytest.raises(UserInputError, match='num_sources'):
        make_estimator('music', array, 16000, num_sources=4)
    with pytest.raises(UserInputError, match='does not support'):
        make_estimator('intensity', array, 16000)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('name, options', [('uma8', {}), ('respeaker4', {}), ('respeaker4', {'zone_frames': 4})])
def test_cuda_matches_cpu(name, options):
    """7 microphones (projection) and 4 (covariance lanes and the free-field quadratic form; with zone voting
    too). Not a 2-microphone pair: its mirror peaks tie, and rounding may pick either."""
    array = PRESETS[name]
    audio = np.stack([simulate(array, 48000, [az], seed=i) for i, az in enumerate([33.0, 171.0])])
    for method in ('normmusic', 'srp_phat', 'music'):
        cpu = make_estimator(method, array, 48000, device='cpu', **options).estimate(audio)
        gpu = make_estimator(method, array, 48000, device='cuda', **options).estimate(audio)
        np.testing.assert_allclose(gpu.spectrum, cpu.spectrum, atol=2e-3)
        assert circular_error_deg(gpu.azimuths_deg, cpu.azimuths_deg).max() <= 0.1


def test_custom_yaml_array_works_like_preset(tmp_path):
    positions = PRESETS['respeaker6'].positions_m.tolist()
    (tmp_path / 'ring.yaml').write_text(f'name: ring\nsample_rate: 16000\npositions_m: {positions}\n')
    array = MicArray.from_yaml(tmp_path / 'ring.yaml')
    audio = simulate(array, 16000, [75.0])
    assert circular_error_deg(make_estimator('srp_phat', array, 16000).estimate(audio).azimuths_deg[0, 0],
                              75.0) <= 2.0


def test_elevation_grid_finds_elevated_sources():
    grid = DirectionGrid(step_deg=1.0, offset_deg=0.0, elevations_deg=tuple(range(-60, 61, 5)))
    rng = np.random.default_rng(2)
    signal = rng.standard_normal(16000)
    az, el = np.deg2rad([40.0, 25.0])
    foa_gains = np.array([1.0, np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])  # W Y Z X
    foa_audio = (foa_gains[:, None] * signal + 0.05 * rng.standard_normal((4, 16000))).astype(np.float32)
    result = make_estimator('intensity', PRESETS['foa'], 16000, grid=grid).estimate(foa_audio)
    assert circular_error_deg(result.azimuths_deg[0, 0], 40.0) <= 2.0 and result.elevations_deg[0, 0] == 25.0
    # A 3-D (tetrahedral) pressure array in free field: a plane wave from azimuth 40°, elevation 25°.
    tetra = MicArray('tetra', 0.04 * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3))
    direction = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    advance_s = tetra.positions_m @ direction / 343.0  # each mic hears the wave this much earlier
    spectrum = np.fft.rfft(rng.standard_normal(48000))
    freqs = np.fft.rfftfreq(48000, 1.0 / 48000)
    tetra_audio = np.fft.irfft(spectrum * np.exp(2j * np.pi * freqs * advance_s[:, None]), n=48000)
    tetra_audio = tetra_audio.astype(np.float32)
    for method in ('normmusic', 'srp_phat'):
        result = make_estimator(method, tetra, 48000, grid=grid, freq_range_hz=(500.0, 3000.0)).estimate(tetra_audio)
        assert circular_error_deg(result.azimuths_deg[0, 0], 40.0) <= 3.0, method
        assert abs(result.elevations_deg[0, 0] - 25.0) <= 5.0, (method, result.elevations_deg)


def test_horizontal_grid_reports_zero_elevation():
    audio = simulate(PRESETS['respeaker6'], 16000, [75.0])
    result = make_estimator('normmusic', PRESETS['respeaker6'], 16000).estimate(audio)
    assert result.elevations_deg.shape == (1, 1) and result.elevations_deg[0, 0] == 0.0


@pytest.mark.slow
@pytest.mark.parametrize('array_name', ['respeaker4', 'respeaker6', 'uma8'])
@pytest.mark.parametrize('fs', [16000, 48000])
@pytest.mark.parametrize('rt60', [0.2, 0.4, 0.6])
@pytest.mark.parametrize('snr', [0.0, 10.0, 30.0])
@pytest.mark.parametrize('azimuths', [[130.0], [35.0, 215.0]])
def test_agreement_sweep(array_name, fs, rt60, snr, azimuths):
    """The full grid behind the default agreement test (`pytest -m slow`): 108 rooms, two methods each."""
    array = PRESETS[array_name]
    audio = simulate(array, fs, azimuths, rt60_s=rt60, snr_db=snr, seed=int(rt60 * 10 + snr))
    for method in ('normmusic', 'srp_phat'):
        estimator = make_estimator(method, array, fs, num_sources=len(azimuths), grid=PRA_GRID)
        spectrogram = estimator.stft(audio)
        ours = estimator.estimate_stft(spectrogram).azimuths_deg[0]
        reference = PRA_CLASSES[method](array.positions_m.T, fs, estimator.nfft, num_src=len(azimuths))
        reference.locate_sources(spectrogram[0].numpy().astype(np.complex128), freq_range=[500.0, 4000.0])
        assert agrees_with_reference(ours, reference), (method, ours, np.rad2deg(reference.azimuth_recon))


def test_sector_bins_are_left_closed_degrees():
    grid = DirectionGrid()  # 0.5° steps at 0.25°, 0.75°, ...: two points per 1° sector
    values = torch.zeros(1, 720)
    values[0, 21] = 1.0  # the point at 10.75°
    sectors = grid.to_sectors(values)
    assert grid.azimuths_deg[21] == 10.75 and int(sectors.argmax()) == 10 and float(sectors.max()) == 0.5
