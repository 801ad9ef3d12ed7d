"""ZoneNet: the learned reading of NormMUSIC zone spectra (method zone-net), its training stage and its conventions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from av_pose.audio.arrays import MicArray, load_array
from av_pose.audio.doa import make_estimator
from av_pose.errors import UserInputError
from av_pose.models.zone_net import ZoneNet, bump_targets, load_zone_net
from av_pose.models.zone_net_doa import make_zone_estimator, zone_spectra
from av_pose.train.stages.zone_net import apply_symmetry, array_symmetries, peak_match_counts

from room_sim import circular_error_deg, simulate, turn_taking_gains

FS = 16000


def plane_waves(array: MicArray, azimuths_deg: list[float], seconds: float = 0.5, seed: int = 0,
                onset_s: float = 0.2) -> np.ndarray:
    """C×N free-field audio: independent white noises arriving from `azimuths_deg` (horizontal plane waves), silent
    (a faint noise floor) until `onset_s`."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * FS)
    freqs = np.fft.rfftfreq(samples, 1.0 / FS)
    audio = np.zeros((array.num_channels, samples))
    for azimuth in np.radians(azimuths_deg):
        advance_s = array.positions_m @ np.array([np.cos(azimuth), np.sin(azimuth), 0.0]) / 343.0
        spectrum = np.fft.rfft(rng.standard_normal(samples))
        audio += np.fft.irfft(spectrum * np.exp(2j * np.pi * freqs * advance_s[:, None]), n=samples)
    audio[:, :int(onset_s * FS)] *= 1e-3
    return audio.astype(np.float32)


def test_array_symmetries_are_the_rotations_and_mirrors_that_keep_the_microphones():
    assert array_symmetries(load_array('respeaker4')) == [(d, m) for m in (False, True) for d in (0, 90, 180, 270)]
    assert array_symmetries(load_array('uma8')) == [(d, m) for m in (False, True) for d in range(0, 360, 60)]
    lopsided = MicArray('lopsided', np.array([[0.03, 0.0, 0.0], [-0.02, 0.01, 0.0], [0.0, -0.04, 0.0]]))
    assert array_symmetries(lopsided) == [(0, False)]
    triangle = MicArray('triangle', 0.03 * np.array([[np.cos(a), np.sin(a), 0.0] for a in np.radians([0, 120, 240])]))
    assert array_symmetries(triangle) == [(d, m) for m in (False, True) for d in (0, 120, 240)]  # 3 × 3 positions


@pytest.mark.parametrize('degrees, mirrored', [(90, False), (270, False), (0, True), (180, True)])
def test_a_symmetry_moves_the_spectra_and_the_azimuths_alike(degrees, mirrored):
    """Free field: the inputs heard from turned sources equal the turned inputs (the augmentation's convention)."""
    array = load_array('respeaker4')
    estimator = make_zone_estimator(array, FS, 4, onsets=True)
    azimuths = np.array([30.0, 100.0])
    heard = zone_spectra(estimator, torch.as_tensor(plane_waves(array, list(azimuths)))[None])
    turned_azimuths = np.mod((-azimuths if mirrored else azimuths) + degrees, 360.0)
    turned = zone_spectra(estimator, torch.as_tensor(plane_waves(array, list(turned_azimuths)))[None])
    moved_inputs, moved = apply_symmetry(heard, torch.as_tensor(azimuths), degrees, mirrored)
    np.testing.assert_allclose(moved.numpy(), turned_azimuths)
    assert sorted(moved_inputs) == ['onset', 'whole', 'zones'] and heard['onset'][0, 0].std() > 0.1  # not flat
    for name, values in moved_inputs.items():
        assert (values - turned[name]).abs().max() < 0.02, name
    # and a lone source's spectrum peaks in its sector: sector i holds azimuths [i°, i + 1°)
    alone = zone_spectra(estimator, torch.as_tensor(plane_waves(array, [turned_azimuths[0]]))[None])['whole']
    assert circular_error_deg(int(alone[0, 0].argmax()) + 0.5, turned_azimuths[0]) <= 1.0


def test_targets_bump_at_active_sources_only():
    targets = bump_targets(np.array([[10.2, np.nan], [359.6, 180.0]]))
    assert targets.shape == (2, 360)
    assert targets[0].argmax() == 10 and targets[0, 10] > 0.98 and targets[0, 100] < 1e-6
    assert targets[1, 359] > 0.98 and targets[1, 0] > 0.8 and targets[1, 180] > 0.95 and targets[1, 90] < 1e-6
    assert bump_targets(np.full((1, 2), np.nan)).max() == 0.0


def test_peak_matching_counts_one_to_one_within_ten_degrees():
    probability = np.zeros((1, 360))
    probability[0, [20, 120, 240]] = [0.9, 0.8, 0.3]  # the third is below the threshold
    matched, reported, active = peak_match_counts(probability, np.array([[25.0, 131.0, np.nan]]), threshold=0.5)
    assert (matched, reported, active) == (1, 2, 2)  # 120.5° is 10.5° from 131°


def test_checkpoints_load_strictly_and_bad_ones_are_one_line(tmp_path):
    model = ZoneNet(width=8, harmonics=2)
    torch.save({'model': model.state_dict(), 'build': {'kind': 'zone-net', 'width': 8, 'harmonics': 2,
                                                       'zone_frames': 4}}, tmp_path / 'ok.pt')
    loaded, build = load_zone_net(tmp_path / 'ok.pt')
    assert build['zone_frames'] == 4 and not loaded.training
    # a checkpoint that does not say its zones' subspace reads the array's default (one source on four microphones)
    assert make_estimator('zone-net', load_array('respeaker4'), FS, model=str(tmp_path / 'ok.pt'),
                          zone_sources=3).zones.zone_sources == 1
    torch.save({'model': model.state_dict(), 'build': {'kind': 'zone-net', 'width': 16, 'harmonics': 2}},
               tmp_path / 'wrong.pt')
    with pytest.raises(UserInputError, match='does not fit.*mis-shaped'):
        load_zone_net(tmp_path / 'wrong.pt')
    torch.save({'model': model.state_dict(), 'build': {'kind': 'slfm'}}, tmp_path / 'other.pt')
    with pytest.raises(UserInputError, match='not a zone-net checkpoint'):
        load_zone_net(tmp_path / 'other.pt')
    (tmp_path / 'junk.pt').write_bytes(b'not a checkpoint')
    with pytest.raises(UserInputError, match='cannot read'):
        load_zone_net(tmp_path / 'junk.pt')
    with pytest.raises(UserInputError, match='no such file'):
        make_estimator('zone-net', load_array('respeaker4'), FS, model=str(tmp_path / 'missing.pt'))


def test_shipped_zone_net_hears_four_turn_taking_talkers_and_invents_none():
    """pyroomacoustics room (RT60 0.3 s, SNR 20 dB), white noise taking turns around the 4-mic array: unlike the
    ShoeboxAV training scenes. Measured: the four 0.5 s windows find 2–3 talkers each (11 in all), within 4.0°; 2 s
    find all four within 2.5°; one source alone gives one peak, 0.7° off."""
    array = load_array('respeaker4')
    azimuths = np.array([20.0, 110.0, 200.0, 290.0])
    audio = simulate(array, FS, list(azimuths), rt60_s=0.3, snr_db=20.0, duration_s=2.0,
                     gains=turn_taking_gains(4, 2 * FS, FS))
    estimator = make_estimator('zone-net', array, FS, num_sources=4)
    windows = estimator.estimate(np.stack([audio[:, s:s + FS // 2] for s in range(0, 2 * FS, FS // 2)]))
    nearest = []
    for found, confidence in zip(windows.azimuths_deg, windows.confidence):
        heard = found[np.isfinite(found)]
        assert len(heard) >= 2 and (confidence[np.isfinite(found)] >= 0.5).all(), found
        assert circular_error_deg(heard[:, None], azimuths[None]).min(1).max() <= 6.0, found  # no phantom
        nearest += list(circular_error_deg(heard[:, None], azimuths[None]).argmin(1))
    assert sorted(set(nearest)) == [0, 1, 2, 3] and len(nearest) >= 10  # 11 of the 16 talker-windows
    whole = estimator.estimate(audio).azimuths_deg[0]
    assert circular_error_deg(np.sort(whole)[:, None], azimuths[None]).min(1).max() <= 4.0, whole
    assert windows.spectrum.shape == (4, 360) and 0.0 <= windows.spectrum.min() and windows.spectrum.max() <= 1.0
    one = estimator.estimate(simulate(array, FS, [75.0], rt60_s=0.3, snr_db=20.0, duration_s=0.5))
    assert circular_error_deg(one.azimuths_deg[0, 0], 75.0) <= 2.0 and np.isnan(one.azimuths_deg[0, 1:]).all()
    with pytest.raises(UserInputError, match='1 to 8 sources'):
        make_estimator('zone-net', array, FS, num_sources=9)


@pytest.fixture(scope='module')
def two_source_scenes(tmp_path_factory):
    from av_pose.scene.batch import generate_scenes
    from av_pose.scene.generate import SynthConfig

    root = tmp_path_factory.mktemp('zone_net_scenes')
    config = SynthConfig(duration_s=4.0, fps=5.0, image_size=(32, 24), num_sources=2, sample_rate=FS)
    generate_scenes(root / 'train', config, seed=21, count=2)
    generate_scenes(root / 'val', config, seed=22, count=1)
    return root


def test_stage_items_carry_the_scene_truth_and_a_trained_net_serves(two_source_scenes, tmp_path, one_torch_thread,
                                                                    capfd):
    """`av-pose train` stage zone-net on two tiny scenes: labelled windows, a falling loss, a strict checkpoint that
    the DOA method loads, and no progress bars when asked for none."""
    from av_pose.data.pairs import find_scene_dirs
    from av_pose.scene.format import read_scene
    from av_pose.train.config import load_config
    from av_pose.train.loop import train
    from av_pose.train.stages.zone_net import ZoneWindows

    windows = ZoneWindows([str(two_source_scenes / 'val')], window_s=0.5, stride=2, zone_frames=4, onsets=True,
                          seed=0, augment=False, progress=False)
    record = read_scene(find_scene_dirs(two_source_scenes / 'val')[0])
    item = windows[3]  # every 2nd frame at 5 fps whose 0.5 s window fits (not t = 0): the 4th is frame 8, 1.6 s
    assert item['zones'].shape == (7, 2, 360) and item['onset'].shape == (2, 360)
    assert record.frame_times_s[8] == pytest.approx(1.6)
    expected = record.source_azimuths_deg(1.6)[record.point_source_indices()]
    np.testing.assert_allclose(item['azimuths_deg'][:2].numpy(), expected, rtol=0, atol=1e-3)
    assert torch.isnan(item['azimuths_deg'][2:]).all()

    config = load_config(None, ['stage=zone-net', f'data.train=[{two_source_scenes}/train]',
                                f'data.val=[{two_source_scenes}/val]', 'data.window_s=0.5', 'data.stride=1',
                                'data.val_stride=2', 'model.zone_net.width=8', 'model.zone_net.zone_sources=2',
                                'optim.batch_size=8', 'optim.epochs=6',
                                'optim.lr=3e-3', 'optim.amp=none', 'log.every=1', 'log.tensorboard=off'])
    capfd.readouterr()
    metrics = train(config, tmp_path / 'run', progress=False)
    assert 'zone spectra' not in capfd.readouterr().err
    assert 0.0 <= metrics['f1'] <= 1.0
    rows = [line.split(',') for line in (tmp_path / 'run' / 'metrics.csv').read_text().splitlines()[1:]]
    losses = [float(value) for _, _, name, value, _ in rows if name == 'train/loss']
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:5]), losses  # measured: 0.83 → 0.55
    estimator = make_estimator('zone-net', record.array(), FS, model=str(tmp_path / 'run' / 'checkpoint-best.pt'),
                               num_sources=3)
    result = estimator.estimate(record.audio_window(2.0, 0.5)[0])
    assert result.spectrum.shape == (1, 360) and result.azimuths_deg.shape == (1, 3)
    # trained on two-dimensional zone subspaces, it is served them (its checkpoint says so), not the array's one
    assert load_zone_net(tmp_path / 'run' / 'checkpoint-best.pt')[1]['zone_sources'] == 2
    assert estimator.zones.zone_sources == 2 and record.array().num_channels == 4
    audio = torch.as_tensor(record.audio_window(2.0, 0.5)[0])[None]
    served = zone_spectra(estimator.zoned, audio)['zones']
    for sources, same in ((2, True), (1, False)):
        reference = make_zone_estimator(record.array(), FS, 4, True, zone_sources=sources)
        assert torch.allclose(served, zone_spectra(reference, audio)['zones'], atol=1e-5) == same


def test_zone_subspaces_stay_below_the_microphone_count():
    from av_pose.models.zone_net_doa import zone_subspace

    four, eight = load_array('respeaker4'), load_array('uma8')
    assert [zone_subspace(four, j) for j in (None, 1, 2, 3, 5)] == [1, 1, 2, 3, 3]
    assert [zone_subspace(eight, j) for j in (None, 1, 2)] == [2, 1, 2]
    assert zone_subspace(four, np.int64(2)) == 2   # a value read through NumPy is still an integer
    for wrong in (0, 1.5, 'two', True):
        with pytest.raises(UserInputError, match='zone_sources'):
            zone_subspace(four, wrong)


def test_the_tracker_assumes_zone_nets_surer_peaks_unless_told_otherwise():
    from av_pose.sources.frontend import ZONE_NET_MEASUREMENT_STD_DEG, front_end_tracker_config
    from av_pose.sources.tracker import TrackerConfig

    assert front_end_tracker_config(None) is None  # zone voting: the tracker's defaults
    assert front_end_tracker_config('zone-net-tiny').measurement_std_deg == ZONE_NET_MEASUREMENT_STD_DEG == 6.0
    given = TrackerConfig(measurement_std_deg=4.0)
    assert front_end_tracker_config('zone-net-tiny', given) is given
