"""StreamingDoa: windows cut from the stream by audio time, their stamps, and the coverage rule."""
import numpy as np
import pytest

from av_pose.audio.arrays import PRESETS
from av_pose.audio.doa import make_estimator
from av_pose.audio.streaming import StreamingDoa

from room_sim import circular_error_deg, simulate

FS = 16000


@pytest.fixture(scope='module')
def recording():
    return simulate(PRESETS['respeaker6'], FS, [250.0], duration_s=3.0)


def feed(streaming, audio, start_s=100.0, chunk=400, stop=None):  # 400 samples: 25 ms, whole seconds align
    for first in range(0, audio.shape[1] if stop is None else stop, chunk):
        streaming.push(audio[:, first:first + chunk], start_s + first / FS)


def test_latest_is_the_newest_full_window_stamped_at_its_centre(recording):
    streaming = StreamingDoa(make_estimator('normmusic', PRESETS['respeaker6'], FS), window_s=1.0)
    assert streaming.latest() is None
    feed(streaming, recording, stop=FS * 2)  # 2 s: chunks up to 102.0 s
    frame = streaming.latest()
    assert frame.stamp_s == pytest.approx(101.5) and frame.coverage == 1.0
    assert circular_error_deg(frame.azimuths_deg[0], 250.0) <= 2.0 and frame.spectrum.shape == (360,)
    offline = make_estimator('normmusic', PRESETS['respeaker6'], FS).estimate(recording[:, FS:2 * FS])
    np.testing.assert_allclose(frame.spectrum, offline.spectrum[0], atol=1e-5)


def test_windows_with_too_little_audio_give_no_estimate(recording):
    streaming = StreamingDoa(make_estimator('normmusic', PRESETS['respeaker6'], FS), window_s=1.0,
                             min_coverage=0.5)
    feed(streaming, recording, stop=FS)  # audio covers 100.0 .. 101.0 s
    assert streaming.at(100.9) is not None  # window 100.4-101.4 s: 60 % audio
    assert streaming.at(100.95).coverage == pytest.approx(0.55, abs=0.01)
    assert streaming.at(101.1) is None      # 40 %
    assert streaming.at(101.3) is None      # 20 %
    assert streaming.at(99.0) is None       # before the stream
