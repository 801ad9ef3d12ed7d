"""`av-pose demo` (what `make demo` runs): a short smoke run on every push, the full default run as a slow test."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

FIGURES = ('trajectory', 'doa', 'pose_errors', 'sound_sources', 'calibration')


def run_demo(out, *args: str) -> dict:
    result = subprocess.run([sys.executable, '-m', 'av_pose.cli', 'demo', '--out', str(out), '--json', '--quiet',
                             *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'geometric-vision' in result.stdout and 'rot AUC@5/10/20' in result.stdout  # the printed table
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_outputs(summary: dict, out) -> None:
    for name in FIGURES:
        png = out / f'{name}.png'
        assert summary['figures'][name] == str(png) and png.read_bytes()[:4] == b'\x89PNG'
        assert png.stat().st_size > 20_000
    assert (out / 'demo_bag' / 'metadata.yaml').is_file() and list((out / 'demo_bag').glob('*.mcap'))
    assert set(summary['models']) >= {'geometric-vision', 'geometric'}
    for model in summary['models'].values():
        assert model['pairs'] >= 6 and model['ate_m'] is not None and np.isfinite(model['rotation_mae_deg'])
        assert np.isfinite(model['frame_ate_m']) and np.isfinite(model['frame_heading_rmse_deg'])
    for name in ('geometric-vision', 'geometric'):
        assert summary['models'][name]['rotation_mae_deg'] < 10.0
    from av_pose.pose.registry import shipped_av_models

    for vision, fused in shipped_av_models():  # the shipped learned pair: audio lowers the rotation error
        assert summary['models'][fused]['rotation_mae_deg'] < summary['models'][vision]['rotation_mae_deg']
    assert summary['doa_mae_deg'] < 5.0 and summary['calibration']['mirrored'] is False
    sources = summary['sources']  # the talkers and the music: tracked, and mapped with each odometry
    assert sources['tracks']['coverage'] > 0.4 and sources['tracks']['median_error_deg'] < 3.0
    assert set(sources['map_error_m']) == {'ground-truth', *summary['models']}
    assert all(len(errors) == 2 for errors in sources['map_error_m'].values())


def test_short_demo_runs_end_to_end(tmp_path):
    summary = run_demo(tmp_path, '--duration', '8')
    check_outputs(summary, tmp_path)
    vision, fused = summary['models']['geometric-vision'], summary['models']['geometric']
    assert vision['blur_pairs'] >= 1 and fused['blur_failed'] <= vision['blur_failed']  # the audio adds answers


@pytest.mark.slow
def test_default_demo_shows_audio_carrying_the_blur(tmp_path):
    summary = run_demo(tmp_path)  # the defaults `make demo` uses
    check_outputs(summary, tmp_path)
    vision, fused = summary['models']['geometric-vision'], summary['models']['geometric']
    # In the blur the essential matrix finds nothing; the image shift answers a few pairs (2 of 6 measured).
    assert vision['blur_pairs'] >= 5 and vision['blur_failed'] >= 0.5 * vision['blur_pairs']
    assert fused['blur_failed'] < vision['blur_failed'] and fused['blur_rotation_mae_deg'] < 5.0
    # Audio carries the rotation, not the translation; in the blur the odometry holds the last direction vision knew
    # (`--direction-hold`, 5 s) where an estimator still has a pose: the fused path walks on through most of the blur,
    # vision-only, without a pose on most blurred pairs, loses the metre walked there (measured ATE 0.50 m fused,
    # 0.68 m vision-only; 0.86 and 0.67 m before the hold, stop 40).
    assert fused['rpe_rot_deg'] < 0.5 * vision['rpe_rot_deg']
    assert fused['ate_m'] < vision['ate_m']
    # scored at every frame (where vision-only has no pose its last one stands): 0.30 against 0.71 m, and the heading
    # 19.0° against 38.7° RMS (stop 42)
    assert fused['frame_ate_m'] < vision['frame_ate_m'] and fused['frame_heading_rmse_deg'] < 0.7 * vision[
        'frame_heading_rmse_deg']
    # the demo's rig drives on a floor (planar motion): total AUC@20 measured 0.30, 0.20 with free motion
    assert vision['total_auc'][2] > 0.25
    assert summary['seconds'] < 180.0
    # 30 s of walking: both sources mapped with the true poses (measured 0.07 m and 0.22 m, stop 25)
    assert all(error is not None and error < 0.3 for error in summary['sources']['map_error_m']['ground-truth'])


def test_demo_adds_every_shipped_learned_pair(monkeypatch):
    from av_pose.cli import demo
    from av_pose.pose import registry

    monkeypatch.setattr(registry, 'shipped_av_models', lambda: [])
    assert demo.demo_models() == ['geometric-vision', 'geometric']
    monkeypatch.setattr(registry, 'shipped_av_models', lambda: [('small-vision', 'small-av')])
    assert demo.demo_models() == ['geometric-vision', 'geometric', 'small-vision', 'small-av']
