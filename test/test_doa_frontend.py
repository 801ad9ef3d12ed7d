"""The DOA front end's options: subspace choice, speed of sound, explicit bins, the spherical grid."""
import numpy as np
import pyroomacoustics as pra
import pytest
import torch

from av_pose.audio.arrays import PRESETS, MicArray, ring_positions, speed_of_sound_m_s
from av_pose.audio.doa import DirectionGrid, SphereGrid, make_estimator, resolves_elevation
from av_pose.audio.doa.base import FRAMES_INNERMOST, FREQUENCY_INNERMOST
from av_pose.errors import UserInputError

from room_sim import circular_error_deg, seed_pyroomacoustics, simulate

PRA_GRID = DirectionGrid(step_deg=1.0, offset_deg=0.0)
# A 3-D array: a 6-capsule ring of 4.6 cm radius plus one capsule 4 cm above and one 4 cm below its centre.
RING_AND_POLES = MicArray('ring_poles', ring_positions(0.046, 6) + [[0.0, 0.0, 0.04], [0.0, 0.0, -0.04]])
# A 4-capsule line along x, 4 cm spacing: its azimuth estimate depends directly on the speed of sound.
LINE = MicArray('line', [[x, 0.0, 0.0] for x in (-0.06, -0.02, 0.02, 0.06)])


def anechoic(array: MicArray, fs: int, azimuth_deg: float, elevation_deg: float = 0.0, temperature_c=None,
             seconds: float = 1.0, seed: int = 0) -> tuple[np.ndarray, float]:
    """C×T free-field recording of white noise from (azimuth, elevation) 2.5 m away, 30 dB SNR; and c (m/s)."""
    rng = np.random.default_rng(seed)
    centre = np.array([5.0, 5.0, 5.0])
    room = pra.AnechoicRoom(fs=fs, temperature=temperature_c)
    az, el = np.deg2rad([azimuth_deg, elevation_deg])
    room.add_source(centre + 2.5 * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)]),
                    signal=rng.standard_normal(int(seconds * fs)))
    room.add_microphone_array(pra.MicrophoneArray((array.positions_m + centre).T, fs))
    seed_pyroomacoustics(seed)
    room.simulate(snr=30.0)
    return room.mic_array.signals[:, :int(seconds * fs)].astype(np.float32), float(room.c)


@pytest.mark.parametrize('array_name, azimuths', [('respeaker6', [135.0]), ('uma8', [300.0]),
                                                  ('uma8', [10.0, 100.0]), ('respeaker4', [60.0])])
def test_signal_and_noise_subspaces_agree_and_match_pyroomacoustics(array_name, azimuths):
    array = PRESETS[array_name]
    k = len(azimuths)
    audio = simulate(array, 16000, azimuths, rt60_s=0.3, snr_db=20.0, seed=k)
    estimators = {side: make_estimator('normmusic', array, 16000, num_sources=k, grid=PRA_GRID, subspace=side)
                  for side in ('signal', 'noise')}
    assert make_estimator('normmusic', array, 16000, num_sources=k).subspace == \
        ('signal' if 2 * k < array.num_channels else 'noise')
    spectrogram = estimators['signal'].stft(audio)
    signal, noise = (estimators[side].grid_values(spectrogram)[0].numpy() for side in ('signal', 'noise'))
    np.testing.assert_allclose(signal, noise, rtol=2e-3, atol=2e-3 * noise.max())
    reference = pra.doa.normmusic.NormMUSIC(array.positions_m.T, 16000, estimators['signal'].nfft, num_src=k)
    reference.locate_sources(spectrogram[0].numpy().astype(np.complex128), freq_range=[500.0, 4000.0])
    theirs = np.rad2deg(reference.azimuth_recon)
    for side, estimator in estimators.items():
        ours = estimator.estimate_stft(spectrogram).azimuths_deg[0]
        assert max(circular_error_deg(ours, ref).min() for ref in theirs) <= 1.0, (side, ours, theirs)


@pytest.mark.parametrize('channels, sources', [(2, 1), (3, 1), (4, 1), (4, 2), (4, 3), (6, 1), (6, 4)])
@pytest.mark.parametrize('subspace', ['signal', 'noise'])
@pytest.mark.parametrize('steering_kind', ['head', 'free field'])
def test_quadratic_form_residual_equals_the_noise_subspace_projection(channels, sources, subspace, steering_kind):
    """The residual (aᴴ Q a up to 4 microphones, a projection above) equals ‖E_nᴴ a‖² from an eigendecomposition.

    Random capsules, K random sources over white noise, and steering vectors of unequal magnitudes (as a head's)
    or of unit modulus (free field: the C rows |a_c|² fold into one).
    """
    rng = np.random.default_rng(10 * channels + sources)
    array = MicArray(f'random{channels}', rng.uniform(-0.05, 0.05, (channels, 3)))
    estimator = make_estimator('music', array, 16000, num_sources=sources, subspace=subspace)
    freqs, grid = estimator.freq_bins.size, 360
    steering = rng.standard_normal((freqs, grid, channels)) + 1j * rng.standard_normal((freqs, grid, channels))
    if steering_kind == 'free field':
        steering = steering / np.abs(steering)
    steering = torch.as_tensor(steering, dtype=torch.complex64)
    estimator.prepare_steering(steering)
    if channels <= 4:
        assert (estimator._channel_power is None) == (steering_kind == 'head')
    def noise(*shape):
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)

    # K sources in random directions (per frequency), spatially white noise 10 dB below each
    band = torch.as_tensor(np.einsum('fck,bfkn->bfcn', noise(freqs, channels, sources), noise(2, freqs, sources, 40))
                           + 0.3 * noise(2, freqs, channels, 40), dtype=torch.complex64)
    ours = estimator.residuals(band).clone()  # F×B×G
    for order in (FREQUENCY_INNERMOST, FRAMES_INNERMOST):  # the band workspace's layouts
        laid_out = band.permute(*order).contiguous().permute(*(order.index(d) for d in range(4)))
        torch.testing.assert_close(estimator.residuals(laid_out), ours, rtol=1e-4, atol=1e-5 * ours.max())
    cov = band.to(torch.complex128) @ band.to(torch.complex128).conj().transpose(-1, -2)
    noise = torch.linalg.eigh(cov)[1][..., :channels - sources]  # B×F×C×(C−K)
    projected = torch.einsum('bfck,fgc->fbgk', noise.conj(), steering.to(torch.complex128))
    expected = projected.abs().square().sum(-1).float()
    torch.testing.assert_close(ours, expected, rtol=2e-3, atol=2e-3 * float(expected.abs().max()))


def test_music_noise_subspace_for_two_channels():
    """K = 1 of C = 2 (binaural): the noise subspace is the smaller one and is chosen."""
    estimator = make_estimator('music', PRESETS['binaural'], 16000)
    assert estimator.subspace == 'noise'
    with pytest.raises(UserInputError, match='subspace'):
        make_estimator('music', PRESETS['binaural'], 16000, subspace='both')


def test_speed_of_sound_consistent_with_simulation_is_unbiased_and_inconsistent_biases():
    fs, azimuth = 16000, 50.0  # 40° off the line's broadside
    audio, c = anechoic(LINE, fs, azimuth)
    assert c == pytest.approx(343.0, abs=0.5)

    def error(**options) -> float:
        result = make_estimator('normmusic', LINE, fs, min_separation_deg=180.0, **options).estimate(audio)
        found = result.azimuths_deg[0, 0]  # a line cannot tell +y from -y: compare with the mirror too
        return float(min(circular_error_deg(found, azimuth), circular_error_deg(found, -azimuth)))

    consistent, too_slow = error(speed_of_sound=c), error(speed_of_sound=300.0)
    assert consistent <= 1.0
    assert too_slow >= 4.0  # cos φ' = cos φ · 300 / 343 → φ' ≈ 55.8°
    # A cold room (pyroomacoustics computes c from the temperature): the matching temperature recovers it.
    cold, c_cold = anechoic(LINE, fs, azimuth, temperature_c=-20.0)
    assert c_cold < 325.0
    found = {key: make_estimator('normmusic', LINE, fs, min_separation_deg=180.0, **opts).estimate(cold)
             .azimuths_deg[0, 0] for key, opts in {'matched': {'temperature_c': -20.0}, 'default': {}}.items()}
    errors = {key: min(circular_error_deg(v, azimuth), circular_error_deg(v, -azimuth)) for key, v in found.items()}
    assert errors['matched'] <= 1.0 < 2.0 <= errors['default'], errors


def test_speed_of_sound_options():
    assert speed_of_sound_m_s(20.0) == pytest.approx(343.2, abs=0.1)
    assert speed_of_sound_m_s(0.0) == pytest.approx(331.3)
    array = PRESETS['respeaker4']
    assert make_estimator('srp_phat', array, 16000, temperature_c=0.0).speed_of_sound == pytest.approx(331.3)
    fast = make_estimator('music', array, 16000, speed_of_sound=400.0)
    slow = make_estimator('music', array, 16000)
    assert not torch.allclose(fast._quadratic_basis, slow._quadratic_basis, atol=1e-3)
    # FOA steering does not depend on c: identical spectra.
    foa_audio = np.random.default_rng(0).standard_normal((4, 16000)).astype(np.float32)
    spectra = [make_estimator('normmusic', PRESETS['foa'], 16000, speed_of_sound=c).estimate(foa_audio).spectrum
               for c in (300.0, 343.0)]
    np.testing.assert_array_equal(*spectra)
    with pytest.raises(UserInputError, match='not both'):
        make_estimator('music', array, 16000, speed_of_sound=343.0, temperature_c=20.0)
    with pytest.raises(UserInputError, match='speed_of_sound'):
        make_estimator('music', array, 16000, speed_of_sound=-1.0)
    with pytest.raises(UserInputError, match='temperature'):
        make_estimator('music', array, 16000, temperature_c=-300.0)


def test_explicit_frequency_bins():
    array = PRESETS['respeaker6']
    audio = simulate(array, 16000, [75.0], seed=4)
    band = make_estimator('normmusic', array, 16000)
    same = make_estimator('normmusic', array, 16000, freq_bins=list(band.freq_bins[::-1]))
    np.testing.assert_array_equal(same.freq_bins, band.freq_bins)
    spectrogram = band.stft(audio)
    torch.testing.assert_close(same.grid_values(spectrogram), band.grid_values(spectrogram))
    sparse = make_estimator('normmusic', array, 16000, freq_bins=[20, 24, 31, 40, 55, 70, 90, 110])
    assert circular_error_deg(sparse.estimate(audio).azimuths_deg[0, 0], 75.0) <= 2.0
    with pytest.raises(UserInputError, match='freq_bins must lie'):
        make_estimator('normmusic', array, 16000, freq_bins=[0, 3])
    with pytest.raises(UserInputError, match='not both'):
        make_estimator('normmusic', array, 16000, freq_bins=[20], freq_range_hz=(500.0, 4000.0))
    with pytest.raises(UserInputError, match='integer'):
        make_estimator('normmusic', array, 16000, freq_bins=[20.5])


def test_sphere_grid_is_equal_area_and_covers_every_sector():
    grid = SphereGrid(4096)
    vectors = grid.unit_vectors()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0)
    upper = np.mean(vectors[:, 2] > 0.5)  # the cap above 30° holds a quarter of the sphere's area
    assert upper == pytest.approx(0.25, abs=0.005)
    spacing = np.degrees(np.arccos(np.clip((vectors[grid.neighbours[:, 0]] * vectors).sum(1), -1, 1)))
    assert spacing.max() < 4.5
    values = torch.as_tensor(vectors[:, 0:1].T.copy(), dtype=torch.float32)  # peaks towards +x
    sectors = grid.to_sectors(values)
    assert sectors.shape == (1, 360) and torch.isfinite(sectors).all()
    assert circular_error_deg(int(sectors.argmax()) + 0.5, 0.0) <= 3.0  # within the grid spacing of +x
    assert SphereGrid(1024, min_elevation_deg=0.0).unit_vectors()[:, 2].min() >= 0.0


@pytest.mark.parametrize('method', ['normmusic', 'srp_phat'])
def test_elevated_source_found_on_sphere_grid_with_3d_array(method):
    assert resolves_elevation(RING_AND_POLES) and resolves_elevation(PRESETS['foa'])
    assert not resolves_elevation(PRESETS['uma8']) and not resolves_elevation(PRESETS['binaural'])
    audio, _ = anechoic(RING_AND_POLES, 16000, 60.0, 30.0, seed=1)
    estimator = make_estimator(method, RING_AND_POLES, 16000, grid=SphereGrid(4096), freq_range_hz=(500.0, 4000.0))
    result = estimator.estimate(audio)
    assert circular_error_deg(result.azimuths_deg[0, 0], 60.0) <= 3.0, result.azimuths_deg
    assert abs(result.elevations_deg[0, 0] - 30.0) <= 3.0, result.elevations_deg
    assert result.spectrum.shape == (1, 360) and circular_error_deg(np.argmax(result.spectrum[0]) + 0.5, 60.0) <= 4
    assert result.confidence[0, 0] > 0.5


def test_two_sources_on_sphere_are_separated():
    rng = np.random.default_rng(5)
    centre = np.array([5.0, 5.0, 5.0])
    room = pra.AnechoicRoom(fs=16000)
    for az, el in [(60.0, 30.0), (200.0, -20.0)]:
        a, e = np.deg2rad([az, el])
        room.add_source(centre + 2.5 * np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)]),
                        signal=rng.standard_normal(16000))
    room.add_microphone_array(pra.MicrophoneArray((RING_AND_POLES.positions_m + centre).T, 16000))
    room.simulate()
    result = make_estimator('normmusic', RING_AND_POLES, 16000, num_sources=2,
                            grid=SphereGrid(4096)).estimate(room.mic_array.signals[:, :16000].astype(np.float32))
    order = np.argsort(result.azimuths_deg[0])
    assert circular_error_deg(result.azimuths_deg[0, order], [60.0, 200.0]).max() <= 4.0, result.azimuths_deg
    assert np.abs(result.elevations_deg[0, order] - [30.0, -20.0]).max() <= 4.0, result.elevations_deg


def test_workspace_is_reused_and_results_do_not_alias_it():
    array = PRESETS['respeaker6']
    estimator = make_estimator('normmusic', array, 16000)
    first_audio = simulate(array, 16000, [20.0], seed=1)
    first = estimator.estimate(first_audio)
    held = estimator.grid_values(estimator.stft(first_audio))
    buffers = {key: entry.block.data_ptr() for key, entry in estimator._workspace.items()}
    estimator.estimate(simulate(array, 16000, [200.0], seed=2))
    assert {key: entry.block.data_ptr() for key, entry in estimator._workspace.items()} == buffers
    assert circular_error_deg(first.azimuths_deg[0, 0], 20.0) <= 2.0
    torch.testing.assert_close(held, estimator.grid_values(estimator.stft(first_audio)))


@pytest.mark.parametrize('array_name', ['respeaker4', 'uma8'])
@pytest.mark.parametrize('zone_frames', [0, 4])
def test_workspace_holds_the_largest_batch_once_whatever_the_mix_of_batch_sizes(array_name, zone_frames):
    """A stream of batches of 1–8 windows (a node catching up) keeps one workspace, sized for 8 windows, and
    every batch gets what a fresh estimator gives it."""
    array = PRESETS[array_name]
    audio = torch.as_tensor(np.random.default_rng(4).standard_normal((8, array.num_channels, 8000)),
                            dtype=torch.float32)

    def workspace_bytes(estimator) -> int:
        return sum(e.block.numel() * e.block.element_size() for e in estimator._workspace.values())

    largest = make_estimator('normmusic', array, 16000, zone_frames=zone_frames)
    largest.estimate(audio)
    streamed = make_estimator('normmusic', array, 16000, zone_frames=zone_frames)
    for size in (1, 8, 3, 5, 2, 7, 4, 6, 1):
        got = streamed.estimate(audio[:size])
        fresh = make_estimator('normmusic', array, 16000, zone_frames=zone_frames).estimate(audio[:size])
        np.testing.assert_allclose(got.spectrum, fresh.spectrum, atol=1e-5)
        np.testing.assert_allclose(got.azimuths_deg, fresh.azimuths_deg, atol=1e-3)
    assert workspace_bytes(streamed) == workspace_bytes(largest) > 0


@pytest.mark.parametrize('array_name', ['respeaker4', 'uma8'])
def test_spectrogram_and_audio_paths_agree_in_either_band_layout(array_name):
    """`estimate_stft` gathers the band of an `stft` frequency-innermost (4 mics, lanes) or frames-innermost
    (7 mics, BLAS); both give what `estimate` from the audio, gathered chunk by chunk, gives."""
    array = PRESETS[array_name]
    estimator = make_estimator('normmusic', array, 16000)
    assert estimator.band_memory_order == (FREQUENCY_INNERMOST if array.num_channels <= 4 else FRAMES_INNERMOST)
    audio = torch.as_tensor(np.random.default_rng(3).standard_normal((3, array.num_channels, 16000)),
                            dtype=torch.float32)
    spectrogram = estimator.stft(audio)
    torch.testing.assert_close(estimator._band_of(spectrogram),
                               spectrogram[:, :, estimator.freq_bins].permute(0, 2, 1, 3))
    from_stft, from_audio = estimator.estimate_stft(spectrogram), estimator.estimate(audio)
    np.testing.assert_allclose(from_stft.spectrum, from_audio.spectrum, atol=1e-5)
    np.testing.assert_allclose(from_stft.azimuths_deg, from_audio.azimuths_deg, atol=1e-3)
