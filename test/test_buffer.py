import numpy as np
import pytest

from av_pose.audio.buffer import AudioRingBuffer, PushStatus
from av_pose.errors import UserInputError

T0 = 1000.25  # stamp of sample 0


def ramp(start, count, channels=2):
    """Channel c holds (c + 1) · sample index, so every sample is identifiable."""
    idx = np.arange(start, start + count, dtype=np.float32)
    return np.stack([idx * (c + 1) for c in range(channels)])


def feed(buf, fs, chunk, n_chunks, first=0, jitter_s=0.0, seed=0):
    """Push consecutive ramp chunks; returns their statuses and the stamp of the first one."""
    rng = np.random.default_rng(seed)
    statuses, stamps = [], []
    for k in range(n_chunks):
        start = first + k * chunk
        stamps.append(T0 + start / fs + rng.uniform(-jitter_s, jitter_s))
        statuses.append(buf.push(ramp(start, chunk), stamps[-1]).status)
    return statuses, stamps[0]


@pytest.mark.parametrize('fs, chunk', [(48000, 1536), (16000, 160), (1000, 7)])
def test_window_is_sample_accurate(fs, chunk):
    buf = AudioRingBuffer(2, fs, capacity_s=5.0)
    n_chunks = int(3.0 * fs) // chunk
    assert set(feed(buf, fs, chunk, n_chunks)[0]) == {PushStatus.OK}
    assert buf.start_s == T0
    assert buf.end_s == pytest.approx(T0 + n_chunks * chunk / fs, abs=1e-9)
    for center_index, n in [(fs, fs), (int(1.5 * fs) + 3, fs // 2 + 1), (fs // 2, 100)]:
        win = buf.window(T0 + center_index / fs, n / fs)
        first = center_index - n // 2 if n % 2 == 0 else center_index - (n - 1) // 2
        np.testing.assert_array_equal(win.samples, ramp(first, n))
        assert win.coverage == 1.0
        assert win.start_s == pytest.approx(T0 + first / fs, abs=1e-9)
        assert win.samples.shape == (2, n) and win.samples.dtype == np.float32


@pytest.mark.parametrize('jitter_s', [0.4e-3, 3e-3])
def test_jittered_stamps_keep_continuity(jitter_s):
    fs, chunk = 48000, 1536  # 32 ms chunks; ±3 ms is typical of stamps taken at arrival time
    buf = AudioRingBuffer(2, fs, capacity_s=5.0)
    statuses, stamp0 = feed(buf, fs, chunk, 90, jitter_s=jitter_s, seed=3)
    assert set(statuses) == {PushStatus.OK}
    # the timeline follows the first stamp plus the sample count, whatever the later stamps say
    assert buf.end_s == pytest.approx(stamp0 + 90 * chunk / fs, abs=1e-9)
    first = int(np.floor((T0 + 2.0 - stamp0) * fs - fs / 2 + 0.5))
    win = buf.window(T0 + 2.0, 1.0)
    np.testing.assert_array_equal(win.samples, ramp(first, fs))
    assert win.coverage == 1.0


def test_gap_is_zero_filled_and_lowers_coverage():
    fs = 1000
    buf = AudioRingBuffer(2, fs, capacity_s=5.0, max_gap_fill_s=0.5)
    buf.push(ramp(0, 400), T0)
    result = buf.push(ramp(550, 300), T0 + 0.55)  # samples 400..549 never arrived
    assert result.status is PushStatus.GAP_FILLED and '150 samples' in result.message
    win = buf.window(T0 + 0.45, 0.5)  # samples 200..699
    expected = ramp(200, 500)
    expected[:, 200:350] = 0.0
    np.testing.assert_array_equal(win.samples, expected)
    assert win.coverage == pytest.approx(0.7)
    assert buf.end_s == pytest.approx(T0 + 0.85)


def test_long_gap_resets():
    fs = 1000
    buf = AudioRingBuffer(2, fs, max_gap_fill_s=0.5)
    buf.push(ramp(0, 400), T0)
    result = buf.push(ramp(0, 100), T0 + 2.0)
    assert result.status is PushStatus.RESET and 'gap' in result.message
    assert buf.start_s == T0 + 2.0 and buf.num_samples == 100
    assert buf.window(T0 + 0.2, 0.2).coverage == 0.0


def test_window_partly_outside_data():
    fs = 1000
    buf = AudioRingBuffer(1, fs)
    buf.push(np.ones(300, np.float32), T0)
    win = buf.window(T0 + 0.25, 0.2)  # samples 150..349, of which 150..299 exist
    assert win.coverage == pytest.approx(0.75)
    np.testing.assert_array_equal(win.samples[0], np.r_[np.ones(150), np.zeros(50)])
    empty = AudioRingBuffer(1, fs).window(T0, 0.1)
    assert empty.coverage == 0.0 and not empty.samples.any()


def test_duplicate_is_dropped():
    fs = 1000
    buf = AudioRingBuffer(2, fs)
    feed(buf, fs, 100, 3)
    end = buf.end_s
    assert buf.push(ramp(100, 100), T0 + 0.1).status is PushStatus.DUPLICATE
    assert buf.push(ramp(200, 100), T0 + 0.2 + 0.0004).status is PushStatus.DUPLICATE  # stamp jitter
    assert buf.end_s == end


def test_partial_overlap_is_trimmed():
    fs = 1000
    buf = AudioRingBuffer(2, fs)
    feed(buf, fs, 100, 3)
    result = buf.push(ramp(250, 100), T0 + 0.25)  # 50 samples already held
    assert result.status is PushStatus.OVERLAP_TRIMMED and '50 samples' in result.message
    assert buf.end_s == pytest.approx(T0 + 0.35)
    np.testing.assert_array_equal(buf.window(T0 + 0.175, 0.35).samples, ramp(0, 350))


def test_late_chunk_is_rejected():
    fs = 1000
    buf = AudioRingBuffer(2, fs)
    buf.push(ramp(0, 100), T0)
    assert buf.push(ramp(200, 100), T0 + 0.2).status is PushStatus.GAP_FILLED
    result = buf.push(ramp(100, 100), T0 + 0.1)  # arrives after its successor
    assert result.status is PushStatus.OUT_OF_ORDER
    win = buf.window(T0 + 0.15, 0.1)
    assert not win.samples.any() and win.coverage == 0.0  # the gap stays flagged
    assert buf.end_s == pytest.approx(T0 + 0.3)


def test_backwards_jump_resets():
    fs = 1000
    buf = AudioRingBuffer(2, fs)
    feed(buf, fs, 100, 50)  # 5 s of audio
    result = buf.push(ramp(0, 100), T0)  # the bag starts over
    assert result.status is PushStatus.RESET and 'back' in result.message
    assert buf.start_s == T0 and buf.end_s == pytest.approx(T0 + 0.1)
    np.testing.assert_array_equal(buf.window(T0 + 0.05, 0.1).samples, ramp(0, 100))


def test_capacity_wraps_around():
    fs = 1000
    buf = AudioRingBuffer(2, fs, capacity_s=1.0)
    feed(buf, fs, 70, 50)  # 3.5 s through a 1 s buffer
    assert buf.num_samples == 1000
    assert buf.start_s == pytest.approx(T0 + 2.5) and buf.end_s == pytest.approx(T0 + 3.5)
    np.testing.assert_array_equal(buf.window(T0 + 3.0, 1.0).samples, ramp(2500, 1000))
    old = buf.window(T0 + 2.5, 0.4)  # 2300..2699: the first 200 samples were overwritten
    assert old.coverage == pytest.approx(0.5)
    np.testing.assert_array_equal(old.samples[:, 200:], ramp(2500, 200))
    assert not old.samples[:, :200].any()


def test_chunk_longer_than_capacity_keeps_newest():
    fs = 1000
    buf = AudioRingBuffer(2, fs, capacity_s=0.5)
    buf.push(ramp(0, 1234), T0)
    assert buf.start_s == pytest.approx(T0 + 0.734)
    np.testing.assert_array_equal(buf.window(T0 + 0.984, 0.5).samples, ramp(734, 500))


def test_bad_input_raises_user_error():
    buf = AudioRingBuffer(4, 1000)
    with pytest.raises(UserInputError, match='4 channels'):
        buf.push(np.zeros((2, 10), np.float32), T0)
    with pytest.raises(UserInputError):
        buf.push(np.zeros((4, 10), np.float32), float('nan'))
    with pytest.raises(UserInputError):
        buf.window(T0, 0.0)


def test_non_finite_samples_are_zeroed():
    buf = AudioRingBuffer(1, 1000)
    result = buf.push(np.array([[0.5, np.nan, np.inf, 0.25]], np.float32), T0)
    assert result.status is PushStatus.OK and '2 non-finite' in result.message
    np.testing.assert_array_equal(buf.window(T0 + 0.002, 0.004).samples, [[0.5, 0.0, 0.0, 0.25]])
