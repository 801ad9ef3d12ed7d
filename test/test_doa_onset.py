"""Onset emphasis (av_pose.audio.doa.onset): the direct sound at onsets against the room's reflections."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from av_pose.audio.arrays import PRESETS
from av_pose.audio.doa import make_estimator
from av_pose.audio.doa.onset import OnsetVotingDoa, make_onset_emphasis, onset_nfft, onset_weights
from av_pose.errors import UserInputError

from room_sim import circular_error_deg, simulate

FS = 16000
AZIMUTHS = np.arange(7.0, 360.0, 36.0)


def click_envelope(samples: int, seed: int, period_s: float = 0.12, click_s: float = 0.004) -> np.ndarray:
    """0/1 (T,) gain: 4 ms bursts about every 0.12 s (jittered), a click train."""
    rng = np.random.default_rng(seed)
    gain = np.zeros(samples, np.float32)
    t = 0.02
    while t < samples / FS - click_s:
        start = int(t * FS)
        gain[start:start + int(click_s * FS)] = 1.0
        t += period_s * rng.uniform(0.7, 1.3)
    return gain


def test_onset_weights_pick_the_rise_and_ignore_steady_power():
    power = torch.tensor([[1.0, 1.0, 1.0, 100.0, 100.0, 100.0, 1.0, 1.0],
                          [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
                          [1.0, 2.0, 1.0, 3.0, 1.0, 2.5, 1.0, 3.5]])
    weights = onset_weights(power)
    assert torch.isclose(weights[0].sum(), torch.tensor(1.0))
    assert int(weights[0].argmax()) == 3 and float(weights[0, 3]) > 0.6   # the step, not the frames after it
    assert float(weights[0, 6:].sum()) == 0.0                               # a fall is no onset
    assert float(weights[1].abs().sum()) == 0.0                             # steady: no onset at all
    assert float(weights[2].abs().sum()) == 0.0                             # chance rises under 6 dB: none either
    assert onset_nfft(16000) == 128 and onset_nfft(48000) == 512


def test_onset_emphasis_resists_reflections_of_clicks_in_a_reverberant_room():
    """Clicks 2.5 m away in an RT60 0.6 s room: NormMUSIC is pulled several degrees by the echoes, the onsets not."""
    array = PRESETS['respeaker4']
    plain, onset = make_estimator('normmusic', array, FS), make_onset_emphasis('normmusic', array, FS)
    audio = np.stack([simulate(array, FS, [az], rt60_s=0.6, snr_db=30.0, distance_m=2.5, seed=k,
                               gains=[click_envelope(FS, k)]) for k, az in enumerate(AZIMUTHS)])
    plain_error = circular_error_deg(plain.estimate(audio).azimuths_deg[:, 0], AZIMUTHS)
    onset_error = circular_error_deg(onset.estimate(audio).azimuths_deg[:, 0], AZIMUTHS)
    assert plain_error.max() > 4.0                        # the reflections' pull is there to resist
    assert onset_error.max() <= 1.5
    assert np.median(onset_error) <= np.median(plain_error) / 3


def test_onset_emphasis_keeps_a_steady_source():
    """Continuous noise has no real onsets: the sum must not be worse than the whole-window spectrum."""
    array = PRESETS['respeaker4']
    plain, onset = make_estimator('normmusic', array, FS), make_onset_emphasis('normmusic', array, FS)
    audio = np.stack([simulate(array, FS, [az], rt60_s=0.4, snr_db=20.0, seed=k) for k, az in enumerate(AZIMUTHS)])
    plain_error = circular_error_deg(plain.estimate(audio).azimuths_deg[:, 0], AZIMUTHS)
    result = onset.estimate(audio)
    onset_error = circular_error_deg(result.azimuths_deg[:, 0], AZIMUTHS)
    assert np.median(onset_error) <= np.median(plain_error) + 0.5 and onset_error.max() <= 3.0
    assert result.spectrum.shape == (len(AZIMUTHS), 360) and np.all(result.confidence[:, 0] > 0.3)


def test_bench_reports_the_cost_of_onset_emphasis_against_plain():
    from av_pose.bench.doa import onset_emphasis_cost

    cost = onset_emphasis_cost('cpu', np.random.default_rng(0), clips=4, rounds=2)
    assert cost['plain_ms_per_clip'] > 0 and cost['onset_ms_per_clip'] > cost['plain_ms_per_clip']  # strictly more work
    assert cost['cost_ratio'] == pytest.approx(cost['onset_ms_per_clip'] / cost['plain_ms_per_clip'])


def test_onset_emphasis_refuses_what_it_cannot_do():
    array = PRESETS['respeaker4']
    with pytest.raises(UserInputError, match='spectrum method'):
        make_onset_emphasis('slfm', array, FS)
    with pytest.raises(UserInputError, match='zone-voting estimator'):
        OnsetVotingDoa(make_estimator('normmusic', array, FS), make_estimator('normmusic', array, FS, nfft=128))


def test_with_zone_voting_the_onsets_vote_for_the_click_and_steady_sound_casts_no_vote():
    array = PRESETS['respeaker4']
    voting = make_estimator('normmusic', array, FS, True, num_sources=3, zone_frames=4)
    plain = make_estimator('normmusic', array, FS, num_sources=3, zone_frames=4)
    assert isinstance(voting, OnsetVotingDoa) and voting.min_samples == plain.min_samples
    pairs = [(40.0 + 50.0 * k, 200.0 + 30.0 * k) for k in range(6)]
    # steady noise from two directions, half a second from the middle of a recording: no onset, no vote
    steady = np.stack([simulate(array, FS, list(azimuths), rt60_s=0.4, duration_s=1.0, seed=k)[:, FS // 2:]
                       for k, azimuths in enumerate(pairs)])
    assert voting.onset_votes(torch.as_tensor(steady))[1].sum() == 0.0
    with_onsets, zones_only = voting.estimate(steady), plain.estimate(steady)
    np.testing.assert_allclose(with_onsets.spectrum, zones_only.spectrum, atol=1e-6)
    np.testing.assert_array_equal(np.isnan(with_onsets.azimuths_deg), np.isnan(zones_only.azimuths_deg))
    # a click train (4 ms bursts, 10 dB over a quieter steady source): its onset frames vote for it
    clicks = np.stack([simulate(array, FS, list(azimuths), rt60_s=0.4, duration_s=0.5, seed=k,
                                gains=[np.full(FS // 2, 0.3, np.float32), 3.0 * click_envelope(FS // 2, k)])
                       for k, azimuths in enumerate(pairs)])
    toward, weight = voting.onset_votes(torch.as_tensor(clicks))
    for k, (steady_deg, click_deg) in enumerate(pairs):
        voted = np.degrees(np.arctan2(toward[k, :, 1], toward[k, :, 0]))[weight[k] > 0]
        assert len(voted) >= 3  # a click every ~0.12 s
        assert np.median(circular_error_deg(voted, click_deg)) < 4.0, (k, voted)
        assert np.median(circular_error_deg(voted, steady_deg)) > 50.0  # not the steadier sound's direction
    voting.release()
    plain.release()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('zones', [{}, {'zone_frames': 4, 'num_sources': 2}], ids=['spectrum', 'votes'])
def test_onset_emphasis_cuda_matches_cpu(zones):
    array = PRESETS['respeaker4']
    audio = np.stack([simulate(array, FS, [az], rt60_s=0.6, distance_m=2.5, seed=k, gains=[click_envelope(FS, k)])
                      for k, az in enumerate(AZIMUTHS[:4])])
    cpu = make_onset_emphasis('normmusic', array, FS, device='cpu', **zones).estimate(audio)
    gpu = make_onset_emphasis('normmusic', array, FS, device='cuda', **zones).estimate(audio)
    np.testing.assert_allclose(gpu.spectrum, cpu.spectrum, atol=2e-3)
    assert circular_error_deg(gpu.azimuths_deg, cpu.azimuths_deg).max() <= 0.1
