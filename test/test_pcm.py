import array
import struct

import numpy as np
import pytest

from av_pose.audio.pcm import PcmFormatError, decode_pcm, decode_pcm_counted, encode_pcm, sanitize
from av_pose.errors import UserInputError


def test_s16le_interleaved_known_bytes():
    # two channels, three frames: (L, R) = (-32768, 16384), (0, 32767), (-1, 1)
    data = struct.pack('<6h', -32768, 16384, 0, 32767, -1, 1)
    out = decode_pcm(data, 'S16LE', channels=2)
    assert out.dtype == np.float32 and out.shape == (2, 3)
    np.testing.assert_array_equal(out[0], np.array([-1.0, 0.0, -1 / 32768], np.float32))
    np.testing.assert_array_equal(out[1], np.array([0.5, 32767 / 32768, 1 / 32768], np.float32))


def test_planar_layout_keeps_channel_blocks():
    data = struct.pack('<4i', 2 ** 30, -(2 ** 30), 0, 2 ** 29)  # channel 0: two samples, then channel 1
    out = decode_pcm(data, 's32le', channels=2, layout='planar')
    np.testing.assert_allclose(out, [[0.5, -0.5], [0.0, 0.25]])


@pytest.mark.parametrize('fmt', ['S16LE', 's32le', 'F32LE', 'int16', 'int32', 'float32', '<i2'])
@pytest.mark.parametrize('layout', ['interleaved', 'planar'])
def test_round_trip(fmt, layout):
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.99, 0.99, size=(3, 101)).astype(np.float32)
    data = encode_pcm(x, fmt, layout)
    itemsize = 2 if fmt in ('S16LE', 'int16', '<i2') else 4
    assert len(data) == 3 * 101 * itemsize
    y = decode_pcm(data, fmt, 3, layout)
    step = 1 / 32768 if itemsize == 2 else 1e-7
    np.testing.assert_allclose(y, x, atol=step)
    # decoding then re-encoding integer PCM reproduces the bytes exactly
    assert encode_pcm(y, fmt, layout) == data


def test_encode_clips_and_saturates():
    data = encode_pcm(np.array([[-2.0, 1.0, 0.5]]), 'S16LE')
    assert struct.unpack('<3h', data) == (-32768, 32767, 16384)


def test_typed_arrays_and_uint8_buffers_are_accepted():
    values = array.array('h', [16384, -16384, 8192, 0])   # e.g. an int16[] message field
    np.testing.assert_allclose(decode_pcm(values, 'int16', 2), [[0.5, 0.25], [-0.5, 0.0]])
    raw = np.frombuffer(struct.pack('<4h', 16384, -16384, 8192, 0), dtype=np.uint8)
    np.testing.assert_allclose(decode_pcm(raw, 'S16LE', 2), [[0.5, 0.25], [-0.5, 0.0]])


@pytest.mark.parametrize('nbytes, channels', [(7, 1), (6, 4), (10, 2)])
def test_bad_length_raises_user_error(nbytes, channels):
    with pytest.raises(PcmFormatError) as info:
        decode_pcm(bytes(nbytes), 'S16LE', channels)
    assert isinstance(info.value, UserInputError)
    assert '\n' not in str(info.value)


@pytest.mark.parametrize('kwargs', [dict(sample_format='U8'), dict(sample_format='float64'),
                                    dict(sample_format='S16BE'), dict(layout='weird'), dict(channels=0)])
def test_bad_arguments_raise(kwargs):
    args = dict(data=bytes(8), sample_format='S16LE', channels=2) | kwargs
    with pytest.raises(PcmFormatError):
        decode_pcm(**args)


def test_non_finite_floats_become_zero_and_are_counted():
    x = np.array([[0.25, np.nan, -0.5], [np.inf, 0.125, -np.inf]], dtype=np.float32)
    data = x.T.astype('<f4').tobytes()
    out, n_bad = decode_pcm_counted(data, 'F32LE', 2)
    assert n_bad == 3
    np.testing.assert_array_equal(out, [[0.25, 0.0, -0.5], [0.0, 0.125, 0.0]])
    clean, count = sanitize(x)
    assert count == 3 and np.isfinite(clean).all()
    assert np.isnan(x[0, 1])  # the input is not modified
    assert struct.unpack('<6f', encode_pcm(x, 'F32LE')) == (0.25, 0.0, 0.0, 0.125, -0.5, 0.0)
