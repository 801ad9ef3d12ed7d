"""WAV reading (including 24-bit files) and the one rule for cutting centred windows."""
import numpy as np
import pytest

from av_pose.audio.arrays import PRESETS
from av_pose.audio.buffer import AudioRingBuffer
from av_pose.audio.doa import make_estimator
from av_pose.audio.streaming import StreamingDoa
from av_pose.audio.wav import extract_window, read_wav
from av_pose.errors import UserInputError


def write_pcm24(path, samples_tc: np.ndarray, sample_rate: int) -> None:
    """A 24-bit PCM WAV written byte by byte (scipy cannot write 24-bit)."""
    channels = samples_tc.shape[1]
    ints = np.round(samples_tc * 2 ** 23).astype('<i4').reshape(-1)
    data = b''.join(int(v).to_bytes(4, 'little', signed=True)[:3] for v in ints)
    header = b'RIFF' + (36 + len(data)).to_bytes(4, 'little') + b'WAVEfmt ' + (16).to_bytes(4, 'little')
    header += (1).to_bytes(2, 'little') + channels.to_bytes(2, 'little') + sample_rate.to_bytes(4, 'little')
    header += (sample_rate * channels * 3).to_bytes(4, 'little') + (channels * 3).to_bytes(2, 'little')
    header += (24).to_bytes(2, 'little') + b'data' + len(data).to_bytes(4, 'little')
    path.write_bytes(header + data)


def test_24_bit_wav_is_read_and_scaled(tmp_path):
    samples = np.array([[0.5, -0.25], [-1.0, 0.125], [0.0, 0.75]])
    write_pcm24(tmp_path / 'x.wav', samples, 16000)
    audio, rate = read_wav(tmp_path / 'x.wav')
    assert rate == 16000 and audio.shape == (2, 3)
    np.testing.assert_allclose(audio, samples.T, atol=2.0 ** -23)


@pytest.mark.parametrize('center_s', [1.0, 1.05, 1.25, 0.95])
@pytest.mark.parametrize('num', [3, 4])
def test_buffer_and_file_cut_the_same_window(center_s, num):
    fs = 10
    ramp = np.arange(40, dtype=np.float32)[None]
    buffer = AudioRingBuffer(1, fs, capacity_s=10.0)
    buffer.push(ramp, 0.0)
    from_buffer = buffer.window(center_s, num / fs).samples
    from_file, _ = extract_window(ramp.T, fs, center_s, num / fs)
    np.testing.assert_array_equal(from_buffer, from_file)


def test_window_shorter_than_an_fft_frame_is_refused():
    estimator = make_estimator('normmusic', PRESETS['respeaker4'], 16000)
    with pytest.raises(UserInputError, match='shorter than one FFT frame'):
        StreamingDoa(estimator, window_s=0.02)
