"""`av-pose bench pose`: speeds of pose estimators against the DOA reference, measured in the same run."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from av_pose.cli import main
from av_pose.pose import registry
from av_pose.pose.base import PoseEstimate, PoseEstimator
from av_pose.pose.registry import EstimatorEntry

PER_CALL_S, PER_PAIR_S = 0.004, 0.001


class FixedCostEstimator(PoseEstimator):
    """Identity after sleeping PER_CALL_S per call and PER_PAIR_S per pair (a known cost to measure)."""

    def estimate_batch(self, pairs):
        time.sleep(PER_CALL_S + PER_PAIR_S * len(pairs))
        return [PoseEstimate(np.eye(4), np.eye(6), translation_known=False) for _ in pairs]


def make_fixed_cost(device: str = 'cpu') -> PoseEstimator:
    return FixedCostEstimator()


@pytest.fixture
def fixed_cost_model(monkeypatch):
    monkeypatch.setitem(registry.ESTIMATORS, 'test-fixed-cost',
                        EstimatorEntry(f'{__name__}:make_fixed_cost', 'sleeps a known time'))


def test_bench_pose_measures_known_costs_and_the_reference(fixed_cost_model, capsys):
    assert main(['bench', 'pose', '--json', '--model', 'test-fixed-cost', '--pairs', '16', '--rounds', '2']) == 0
    result = json.loads(capsys.readouterr().out)
    assert result['image_size'] == [256, 192] and result['pairs'] == 16 and result['threads'] == 1
    reference = result['reference']
    fixed = result['estimators']['test-fixed-cost']
    for size, calls in ((1, 16), (16, 1)):
        speed = fixed[f'batch_{size}']
        expected_ms = 1000.0 * (PER_CALL_S * calls + PER_PAIR_S * 16) / 16
        assert expected_ms <= speed['ms_per_pair'] < expected_ms + 3.0  # sleep never returns early
        assert speed['pairs_per_s'] == pytest.approx(1000.0 / speed['ms_per_pair'])
        assert speed['ms_per_call'] == pytest.approx(speed['ms_per_pair'] * 16 / calls)
        ref = reference[f'batch_{size}']
        assert 0.0 < ref['ms_per_pair'] < 200.0
        assert speed['ratio_to_reference'] == pytest.approx(speed['ms_per_pair'] / ref['ms_per_pair'])
    assert fixed['batch_16']['pairs_per_s'] > 2.0 * fixed['batch_1']['pairs_per_s']  # per-call cost amortised
    assert fixed['valid_fraction'] == 1.0
    assert result['targets'] == {} and result['target_met'] is False  # geometric was not asked for


def test_bench_pose_unknown_model_is_one_line(capsys):
    assert main(['bench', 'pose', '--model', 'no-such-model', '--pairs', '2', '--rounds', '1', '--json']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'unknown model' in err[0]


def test_bench_pose_times_the_geometric_estimators(capsys):
    assert main(['bench', 'pose', '--json', '--pairs', '16', '--rounds', '1']) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result['estimators']) == {'geometric', 'geometric-vision', 'geometric-audio'}
    for name, entry in result['estimators'].items():
        assert 'error' not in entry, entry
        assert entry['valid_fraction'] > 0.5, name
        for size in (1, 16):
            speed = entry[f'batch_{size}']
            assert speed['pairs_per_s'] > 0 and speed['ratio_to_reference'] == pytest.approx(
                speed['ms_per_pair'] / result['reference'][f'batch_{size}']['ms_per_pair'])
    vision, audio = result['estimators']['geometric-vision'], result['estimators']['geometric-audio']
    assert audio['batch_1']['ms_per_pair'] < vision['batch_1']['ms_per_pair']  # the DOA half is the cheap one
    target = result['targets']['geometric']
    assert target['met'] == (result['estimators']['geometric']['batch_1']['pairs_per_s'] >= 30.0)
    assert result['target_met'] == target['met']


def test_bench_pose_times_planar_motion(capsys):
    assert main(['bench', 'pose', '--json', '--model', 'geometric-vision', '--pairs', '8', '--rounds', '1',
                 '--planar-motion']) == 0
    result = json.loads(capsys.readouterr().out)
    assert result['planar_motion'] is True and result['estimators']['geometric-vision']['valid_fraction'] > 0.5
