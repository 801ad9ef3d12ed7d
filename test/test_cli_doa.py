"""The `av-pose doa` command end to end, run as a user would (a subprocess on a WAV file)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from av_pose.audio.arrays import PRESETS
from av_pose.audio.wav import write_wav

from room_sim import circular_error_deg, simulate, turn_taking_gains


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


def test_onsets_find_the_source(recording):
    result = av_pose('doa', str(recording), '--array', 'respeaker6', '--onsets', '--hop', '0.5', '--json')
    assert result.returncode == 0, result.stderr
    windows = json.loads(result.stdout)['windows']
    assert len(windows) == 3 and all(circular_error_deg(w['azimuths_deg'][0], 110.0) <= 2.0 for w in windows)


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


def test_parse_freq_bins():
    from av_pose.cli.doa import parse_freq_bins
    from av_pose.errors import UserInputError

    assert parse_freq_bins('16-18, 20,22') == [16, 17, 18, 20, 22]
    for bad in ('16-', 'a', '20-10'):
        with pytest.raises(UserInputError, match='--freq-bins'):
            parse_freq_bins(bad)


def run_in_process(capsys, *args):
    """`av-pose ARGS` in this process (no interpreter start-up): (exit code, stdout, stderr)."""
    from av_pose.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_freq_bins_and_temperature_flags(recording, capsys):
    # 500-4000 Hz at nfft 512 and 16 kHz are bins 16..127; 20 °C is 343.2 m/s, next to the default 343.
    code, out, err = run_in_process(capsys, 'doa', str(recording), '--array', 'respeaker6', '--hop', '0.5', '--json',
                                    '--freq-bins', '16-40,44-127', '--temperature', '20')
    assert code == 0, err
    data = json.loads(out)
    assert data['speed_of_sound_m_s'] == pytest.approx(343.2, abs=0.05) and len(data['windows']) == 3
    for window in data['windows']:
        assert circular_error_deg(window['azimuths_deg'][0], 110.0) <= 2.0
        assert 'elevations_deg' not in window
    for extra, message in [(['--freq-bins', '16-20', '--freq-range', '500', '4000'], 'not both'),
                           (['--freq-bins', '0-20'], 'freq_bins must lie in [1, 256]'),
                           (['--grid', 'sphere'], 'cannot tell up from down')]:
        code, _, err = run_in_process(capsys, 'doa', str(recording), '--array', 'respeaker6', *extra)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_sphere_grid_prints_elevation_for_foa(tmp_path, capsys):
    rng = np.random.default_rng(3)
    signal = rng.standard_normal(32000)
    az, el = np.deg2rad([60.0, 30.0])
    gains = np.array([1.0, np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])  # W Y Z X
    audio = gains[:, None] * signal + 0.05 * rng.standard_normal((4, 32000))
    path = tmp_path / 'foa.wav'
    write_wav(path, (audio / np.abs(audio).max()).astype(np.float32), 16000)
    code, out, err = run_in_process(capsys, 'doa', str(path), '--array', 'foa', '--grid', 'sphere', '--hop', '0.5',
                                    '--json')
    assert code == 0, err
    for window in json.loads(out)['windows']:
        assert circular_error_deg(window['azimuths_deg'][0], 60.0) <= 3.0
        assert abs(window['elevations_deg'][0] - 30.0) <= 3.0
    code, out, err = run_in_process(capsys, 'doa', str(path), '--array', 'foa', '--grid', 'sphere', '--hop', '0.5')
    assert code == 0 and 'elevations [deg]' in out, err
    assert abs(float(out.splitlines()[1].split()[2]) - 30.0) <= 3.0


@pytest.mark.parametrize('onsets', [[], ['--onsets']], ids=['zones', 'zones_and_onsets'])
def test_zones_find_four_turn_taking_sources_on_four_microphones(tmp_path, capsys, onsets):
    path = tmp_path / 'four.wav'
    azimuths = [20.0, 110.0, 200.0, 290.0]
    audio = simulate(PRESETS['respeaker4'], 16000, azimuths, duration_s=2.0,
                     gains=turn_taking_gains(4, 2 * 16000, 16000))
    write_wav(path, audio / np.abs(audio).max(), 16000)
    code, out, err = run_in_process(capsys, 'doa', str(path), '--array', 'respeaker4', '--sources', '4', '--zones',
                                    '4', '--hop', '0.5', '--json', *onsets)
    assert code == 0, err
    for window in json.loads(out)['windows']:
        found = np.array(window['azimuths_deg'])
        assert len(found) == 4 and circular_error_deg(found[:, None], np.array(azimuths)[None]).min(0).max() <= 5.0
    code, _, err = run_in_process(capsys, 'doa', str(path), '--array', 'respeaker4', '--sources', '4')
    assert code == 2 and 'num_sources must be in [1, 3]' in err and len(err.strip().splitlines()) == 1, err


def test_zone_net_threshold_trades_found_sources_for_sureness(tmp_path, capsys):
    """--method zone-net --threshold P reports only peaks at least P probable: fewer as P rises, all four at 0.5."""
    path = tmp_path / 'four.wav'
    azimuths = [20.0, 110.0, 200.0, 290.0]
    audio = simulate(PRESETS['respeaker4'], 16000, azimuths, duration_s=2.0,
                     gains=turn_taking_gains(4, 2 * 16000, 16000))
    write_wav(path, audio / np.abs(audio).max(), 16000)
    found = {}
    for threshold in ('0.5', '0.995'):
        code, out, err = run_in_process(capsys, 'doa', str(path), '--array', 'respeaker4', '--method', 'zone-net',
                                        '--sources', '4', '--window', '1.0', '--hop', '0.5', '--json',
                                        '--threshold', threshold)
        assert code == 0, err
        windows = json.loads(out)['windows']
        assert all(c >= float(threshold) for w in windows for c in w['confidence']), windows
        found[threshold] = [np.array(w['azimuths_deg']) for w in windows]
    for peaks in found['0.5']:
        assert len(peaks) == 4 and circular_error_deg(peaks[:, None], np.array(azimuths)[None]).min(0).max() <= 5.0
    assert sum(map(len, found['0.995'])) < sum(map(len, found['0.5']))
    code, _, err = run_in_process(capsys, 'doa', str(path), '--array', 'respeaker4', '--threshold', '0.7')
    assert code == 2 and '--threshold is the source probability of --method zone-net' in err, err
