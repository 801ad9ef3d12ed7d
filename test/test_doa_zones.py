"""Zone voting (`zone_frames`): several sources that take turns, more of them than a covariance can hold."""
import numpy as np
import pytest

from av_pose.audio.arrays import load_array
from av_pose.audio.doa import make_estimator
from av_pose.errors import UserInputError

from room_sim import circular_error_deg, simulate, turn_taking_gains

FS = 16000


def test_four_turn_taking_sources_on_a_four_microphone_array():
    array = load_array('respeaker4')
    azimuths = [20.0, 110.0, 200.0, 290.0]
    samples = 2 * FS
    audio = simulate(array, FS, azimuths, rt60_s=0.3, snr_db=20.0, duration_s=2.0,
                     gains=turn_taking_gains(4, samples, FS))
    zoned = make_estimator('normmusic', array, FS, num_sources=4, zone_frames=4).estimate(audio)
    found = zoned.azimuths_deg[0]
    assert np.isfinite(found).all(), found
    errors = circular_error_deg(np.sort(found)[:, None], np.array(azimuths)[None]).min(1)
    assert errors.max() <= 5.0, (found, errors)
    shares = zoned.confidence[0]
    assert 0.1 <= shares.min() and shares.sum() <= 1.0 + 1e-6, shares
    # one covariance over the whole window holds at most C − 1 = 3 sources, and here misplaces them all
    whole = make_estimator('normmusic', array, FS, num_sources=3).estimate(audio).azimuths_deg[0]
    assert circular_error_deg(whole[:, None], np.array(azimuths)[None]).min(1).max() > 10.0, whole
    with pytest.raises(UserInputError, match='num_sources'):
        make_estimator('normmusic', array, FS, num_sources=4)


def test_one_source_gives_one_peak_and_no_invented_ones():
    array = load_array('respeaker4')
    audio = simulate(array, FS, [75.0], rt60_s=0.3, snr_db=20.0, duration_s=1.0)
    result = make_estimator('normmusic', array, FS, num_sources=3, zone_frames=4).estimate(audio)
    assert circular_error_deg(result.azimuths_deg[0, 0], 75.0) <= 3.0
    assert result.confidence[0, 0] >= 0.7
    assert np.isnan(result.azimuths_deg[0, 1:]).all(), result.azimuths_deg  # below min_zone_share


def test_batches_equal_single_windows_and_srp_phat_votes_too():
    array = load_array('respeaker4')
    audio = np.stack([simulate(array, FS, [a], duration_s=1.0, seed=i) for i, a in enumerate((30.0, 250.0))])
    for method in ('normmusic', 'srp_phat'):
        estimator = make_estimator(method, array, FS, num_sources=2, zone_frames=4)
        batched = estimator.estimate(audio)
        for b, truth in enumerate((30.0, 250.0)):
            single = estimator.estimate(audio[b])
            np.testing.assert_allclose(batched.spectrum[b], single.spectrum[0], atol=1e-5)
            assert circular_error_deg(batched.azimuths_deg[b, 0], truth) <= 4.0, (method, batched.azimuths_deg)


@pytest.mark.parametrize('options, message', [({'zone_frames': 1}, 'zone_frames'),
                                              ({'zone_frames': 4, 'min_zone_share': 1.0}, 'min_zone_share'),
                                              ({'zone_frames': 4, 'zone_width_deg': 0.0}, 'zone_width_deg'),
                                              ({'zone_frames': 4, 'num_sources': 9}, 'num_sources'),
                                              ({'zone_frames': 4, 'zone_sources': 0}, 'zone_sources'),
                                              ({'zone_frames': 4, 'zone_sources': 1.5}, 'zone_sources')])
def test_bad_zone_options_are_user_errors(options, message):
    with pytest.raises(UserInputError, match=message):
        make_estimator('normmusic', load_array('respeaker4'), FS, **options)


def test_a_window_shorter_than_one_zone_is_a_user_error():
    from av_pose.audio.offline import track_doa
    from av_pose.audio.streaming import StreamingDoa

    estimator = make_estimator('normmusic', load_array('respeaker4'), FS, zone_frames=8)  # 8 frames: 0.144 s
    with pytest.raises(UserInputError, match='shorter than one zone of 8 FFT frames'):
        StreamingDoa(estimator, window_s=0.1)
    with pytest.raises(UserInputError, match='shorter than one zone'):
        track_doa(estimator, np.zeros((4, FS), np.float32), window_s=0.1)
    assert StreamingDoa(estimator, window_s=0.15).window_s == 0.15
