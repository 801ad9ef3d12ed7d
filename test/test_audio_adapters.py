"""Audio message adapters: real ros-drivers and introlab messages, duck-typed mgonzs13 messages."""
from types import SimpleNamespace

import numpy as np
import pytest

from av_pose.errors import UserInputError

audio_common_msgs = pytest.importorskip('audio_common_msgs.msg')
audio_utils_msgs = pytest.importorskip('audio_utils_msgs.msg')

from av_pose.ros.audio_adapters import (  # noqa: E402  (needs the message packages checked above)
    ADAPTERS,
    AudioDataStampedAdapter,
    AudioDecodeError,
    AudioFrameAdapter,
    AudioStampedAdapter,
    PcmFormat,
    import_message_type,
    make_adapter,
)

# 3 frames × 2 channels, interleaved c0 c1 c0 c1 ...
INT16_FRAMES = np.array([[0, -32768], [16384, 32767], [-16384, 1]], dtype='<i2')
EXPECTED_INT16 = INT16_FRAMES.T.astype(np.float64) / 32768.0
STAMP = SimpleNamespace(sec=12, nanosec=250_000_000)


def _header(msg, frame_id='mic_link'):
    msg.header.stamp.sec, msg.header.stamp.nanosec = STAMP.sec, STAMP.nanosec
    msg.header.frame_id = frame_id
    return msg


def _audio_info(channels=2, sample_rate=16000, sample_format='S16LE', coding='wave'):
    return audio_common_msgs.AudioInfo(channels=channels, sample_rate=sample_rate, sample_format=sample_format,
                                       coding_format=coding)


def _data_stamped(payload: bytes):
    msg = _header(audio_common_msgs.AudioDataStamped())
    msg.audio.data = payload
    return msg


def test_registry_names_the_three_families():
    assert set(ADAPTERS) == {'audio_common_msgs/msg/AudioDataStamped', 'audio_common_msgs/msg/AudioStamped',
                             'audio_utils_msgs/msg/AudioFrame'}
    with pytest.raises(UserInputError, match='not supported'):
        make_adapter('std_msgs/msg/String')


def test_message_classes_are_imported_by_name():
    assert AudioDataStampedAdapter().load_message_class() is audio_common_msgs.AudioDataStamped
    assert AudioDataStampedAdapter().load_info_class() is audio_common_msgs.AudioInfo
    assert AudioFrameAdapter().load_message_class() is audio_utils_msgs.AudioFrame
    assert AudioFrameAdapter().load_info_class() is None
    with pytest.raises(UserInputError, match='no AudioStamped'):  # only the ros-drivers package is built
        AudioStampedAdapter().load_message_class()
    with pytest.raises(UserInputError, match='not installed'):
        import_message_type('no_such_msgs/msg/Thing')
    with pytest.raises(UserInputError, match='package/msg/Name'):
        import_message_type('AudioData')


def test_audio_data_stamped_decodes_with_audio_info():
    adapter = make_adapter('audio_common_msgs/msg/AudioDataStamped')
    assert adapter.on_info(_audio_info()) is not None
    assert adapter.on_info(_audio_info()) is None  # unchanged format is not reported again
    chunk = adapter.decode(_data_stamped(INT16_FRAMES.tobytes()))
    assert chunk.samples.dtype == np.float32 and chunk.samples.shape == (2, 3)
    np.testing.assert_array_equal(chunk.samples, EXPECTED_INT16)
    assert chunk.stamp_s == pytest.approx(12.25, abs=1e-9)
    assert (chunk.sample_rate, chunk.frame_id, chunk.non_finite) == (16000, 'mic_link', 0)


def test_audio_data_stamped_float_format_counts_nan():
    adapter = AudioDataStampedAdapter()
    adapter.on_info(_audio_info(channels=2, sample_rate=48000, sample_format='F32LE'))
    frames = np.array([[0.5, -0.25], [np.nan, 1.0]], dtype='<f4')
    chunk = adapter.decode(_data_stamped(frames.tobytes()))
    np.testing.assert_array_equal(chunk.samples, [[0.5, 0.0], [-0.25, 1.0]])
    assert (chunk.non_finite, chunk.sample_rate) == (1, 48000)


def test_audio_data_stamped_fallback_and_errors():
    adapter = AudioDataStampedAdapter(PcmFormat(2, 16000, 'S16LE'))
    np.testing.assert_array_equal(adapter.decode(_data_stamped(INT16_FRAMES.tobytes())).samples, EXPECTED_INT16)
    with pytest.raises(AudioDecodeError, match='audio format unknown'):
        AudioDataStampedAdapter().decode(_data_stamped(INT16_FRAMES.tobytes()))
    with pytest.raises(UserInputError, match='not a multiple|whole number'):  # garbage length
        adapter.decode(_data_stamped(b'\x01\x02\x03'))
    adapter.on_info(_audio_info(sample_format='S24_3LE'))
    with pytest.raises(UserInputError, match='unsupported PCM sample format'):
        adapter.decode(_data_stamped(INT16_FRAMES.tobytes()))
    adapter.on_info(_audio_info(coding='mp3'))
    with pytest.raises(AudioDecodeError, match='compressed'):
        adapter.decode(_data_stamped(INT16_FRAMES.tobytes()))


def _audio_frame(fmt: str, channels: int, frames: int, payload: bytes, rate=16000):
    msg = _header(audio_utils_msgs.AudioFrame(), 'odas')
    msg.format, msg.channel_count, msg.sampling_frequency = fmt, channels, rate
    msg.frame_sample_count, msg.data = frames, payload
    return msg


@pytest.mark.parametrize(('fmt', 'dtype', 'scale'), [('signed_16', '<i2', 2.0 ** 15),
                                                     ('signed_32', '<i4', 2.0 ** 31),
                                                     ('float', '<f4', 1.0)])
def test_audio_frame_decodes_each_format(fmt, dtype, scale):
    rng = np.random.default_rng(3)
    values = (rng.uniform(-0.9, 0.9, size=(5, 3)) * scale).astype(dtype)  # 5 frames × 3 channels
    chunk = make_adapter('audio_utils_msgs/msg/AudioFrame').decode(_audio_frame(fmt, 3, 5, values.tobytes()))
    np.testing.assert_allclose(chunk.samples, values.T.astype(np.float64) / scale, rtol=1e-6, atol=0)
    assert (chunk.sample_rate, chunk.frame_id) == (16000, 'odas')
    assert chunk.stamp_s == pytest.approx(12.25, abs=1e-9)


def test_audio_frame_rejects_bad_messages():
    adapter = AudioFrameAdapter()
    with pytest.raises(AudioDecodeError, match="unsupported AudioFrame format 'double'"):
        adapter.decode(_audio_frame('double', 1, 1, bytes(8)))
    with pytest.raises(AudioDecodeError, match='expected 16'):
        adapter.decode(_audio_frame('signed_16', 2, 4, bytes(15)))
    with pytest.raises(AudioDecodeError, match='channel_count must be positive'):
        adapter.decode(_audio_frame('signed_16', 0, 4, bytes(16)))


def _audio_stamped(code: int, field: str, values, channels=2, rate=44100):
    """A duck-typed mgonzs13 AudioStamped (that package is not built here; field access is the same)."""
    data = {name: [] for name in ('float32_data', 'int32_data', 'int16_data', 'int8_data', 'uint8_data')}
    data[field] = list(values)
    audio = SimpleNamespace(audio_data=SimpleNamespace(**data),
                            info=SimpleNamespace(format=code, channels=channels, rate=rate, chunk=len(values)))
    return SimpleNamespace(header=SimpleNamespace(stamp=STAMP, frame_id='respeaker'), audio=audio)


@pytest.mark.parametrize(('code', 'field', 'values', 'expected'), [
    (1, 'float32_data', [0.5, -0.5, 0.25, 1.0], [[0.5, 0.25], [-0.5, 1.0]]),
    (2, 'int32_data', [2 ** 30, -2 ** 31, 0, 2 ** 29], [[0.5, 0.0], [-1.0, 0.25]]),
    (8, 'int16_data', [16384, -32768, -8192, 0], [[0.5, -0.25], [-1.0, 0.0]]),
    (16, 'int8_data', [64, -128, 32, 0], [[0.5, 0.25], [-1.0, 0.0]]),
    (32, 'uint8_data', [192, 0, 128, 160], [[0.5, 0.0], [-1.0, 0.25]]),
])
def test_audio_stamped_decodes_portaudio_formats(code, field, values, expected):
    chunk = make_adapter('audio_common_msgs/msg/AudioStamped').decode(_audio_stamped(code, field, values))
    np.testing.assert_array_equal(chunk.samples, np.array(expected, dtype=np.float32))
    assert (chunk.sample_rate, chunk.frame_id) == (44100, 'respeaker')
    assert chunk.stamp_s == pytest.approx(12.25, abs=1e-9)


def test_audio_stamped_rejects_bad_messages():
    adapter = AudioStampedAdapter()
    with pytest.raises(AudioDecodeError, match='unknown PortAudio format code 4'):
        adapter.decode(_audio_stamped(4, 'int16_data', [1, 2]))
    with pytest.raises(AudioDecodeError, match='not a multiple of 2 channels'):
        adapter.decode(_audio_stamped(8, 'int16_data', [1, 2, 3]))
    chunk = adapter.decode(_audio_stamped(1, 'float32_data', [np.nan, 0.5]))
    assert chunk.non_finite == 1 and chunk.samples[0, 0] == 0.0
