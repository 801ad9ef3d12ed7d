"""The `av-pose doa` command end to end, run as a user would (a subprocess on a WAV file)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from av_pose.audio.arrays import PRESETS
from av_pose.audio.wav import write_wav

from room_sim import circular_error_deg, simulate


def av_pose(*args):
    return subprocess.run([sys.executable, '-m', 'av_pose.cli', *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope='module')
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp('wav') / 'six.wav'
    audio = simulate(PRESETS['respeaker6'], 16000, [110.0], duration_s=2.0)
    write_wav(path, audio / np.abs(audio).max(), 16000)
    return path


def test_json_output_has_windows_with_the_source(recording, tmp_path):
    plot = tmp_path / 'doa.png'
    result = av_pose('doa', str(recording), '--array', 'respeaker6', '--hop', '0.25', '--json', '--plot', str(plot))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data['sample_rate'] == 16000 and data['array'] == 'respeaker6'
    assert [w['t'] for w in data['windows']] == pytest.approx([0.5, 0.75, 1.0, 1.25, 1.5])
    for window in data['windows']:
        assert len(window['spectrum']) == 360 and min(window['spectrum']) >= 0 and max(window['spectrum']) <= 1
        assert circular_error_deg(window['azimuths_deg'][0], 110.0) <= 2.0
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b'\x89PNG'


def test_table_output_and_srp(recording):
    result = av_pose('doa', str(recording), '--array', 'respeaker6', '--method', 'srp_phat', '--sources', '1',
                     '--hop', '0.5')
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert len(rows) == 3 and all(circular_error_deg(float(r[1]), 110.0) <= 2.0 for r in rows)


@pytest.mark.parametrize('args, message', [
    (['--array', 'respeaker4'], 'has 6 channels but array respeaker4 has 4'),
    (['--array', 'nope'], "unknown array 'nope'"),
    (['--array', 'respeaker6', '--method', 'magic'], "unknown DOA method 'magic'"),
    (['--array', 'respeaker6', '--window', '9'], 'do not fit'),
    (['--array', 'respeaker6', '--freq-range', '100', '20000'], 'freq_range_hz'),
    (['--array', 'respeaker6', '--window', '0.02'], 'shorter than one FFT frame'),
])
def test_errors_are_one_line(recording, args, message):
    result = av_pose('doa', str(recording), *args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_missing_file_is_one_line(tmp_path):
    result = av_pose('doa', str(tmp_path / 'none.wav'), '--array', 'respeaker4')
    expected = f'av-pose: error: {tmp_path / "none.wav"}: no such audio file'
    assert result.returncode == 2 and result.stderr.strip() == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has CUDA')
def test_cuda_without_a_gpu_is_one_line(recording):
    result = av_pose('doa', str(recording), '--array', 'respeaker6', '--device', 'cuda')
    assert result.returncode == 2 and 'no CUDA device is available' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
