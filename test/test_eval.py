"""`av-pose eval` / `av-pose models` and av_pose.eval on two small generated ShoeboxAV scenes.

Scene 0: free 6-DoF motion with a talker always on. Scene 1: the rig turns 70° in 3 s, then stands still for 3 s
while a second source starts at 4 s (the "sound changes while the camera is still" case).
Test estimators (an oracle that knows the ground truth, identity) are registered under names for the CLI.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from av_pose.audio.arrays import load_array
from av_pose.cli import main
from av_pose.eval.pairs import PairMeta, scene_corruption, scene_pose_pairs, sound_changes
from av_pose.eval.report import build_report, markdown_report
from av_pose.eval.run import CLEAN, CORRUPTED, evaluate, make_conditions
from av_pose.geometry import relative_pose, rotation_angle_deg
from av_pose.metrics.pose import pose_auc
from av_pose.pose import registry
from av_pose.pose.base import PoseEstimate, PoseEstimator
from av_pose.pose.registry import EstimatorEntry
from av_pose.scene.format import read_scene
from av_pose.scene.generate import SynthConfig, generate_scene, sample_layout, scene_rng
from av_pose.scene.signals import SourceSpec
from av_pose.scene.trajectory import Trajectory
from av_pose.vision.corruptions import CorruptionSpec

from scene_fixtures import scene_with_static_talker

DURATION_S = 6.0
STILL_FROM_S = 3.0
LATE_SOURCE_S = 4.0


def _turn_then_still_scene(out_dir: Path, config: SynthConfig, seed: int):
    """The rig turns 70° in yaw over [0, 3] s and is still over [3, 6] s; a talker always on, music from 4 s."""
    layout = sample_layout(config, scene_rng(seed, 1))
    start = layout.trajectory.control_points[0].copy()
    turned = start.copy()
    turned[3] += np.radians(70.0)
    trajectory = Trajectory(np.array([start] * 3 + [turned] * 6), knot_interval_s=1.0)
    size = np.asarray(layout.room.size_m)

    def around(azimuth_rad: float) -> np.ndarray:
        direction = np.array([np.cos(start[3] + azimuth_rad), np.sin(start[3] + azimuth_rad), 0.0])
        return np.clip(start[:3] + 1.5 * direction, 0.5, size - 0.5)

    sources = (SourceSpec('speech', around(0.3), end_s=DURATION_S),
               SourceSpec('music', around(2.0), start_s=LATE_SOURCE_S, end_s=DURATION_S),
               SourceSpec('ambient', None, end_s=DURATION_S, gain_db=-25.0))
    return generate_scene(out_dir, config, seed, index=1, layout=replace(layout, trajectory=trajectory,
                                                                         sources=sources))


@pytest.fixture(scope='module')
def eval_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('eval_scenes')
    config = SynthConfig(duration_s=DURATION_S, image_size=(160, 120), array=load_array('respeaker4'), num_sources=1)
    scene_with_static_talker(root / 'scene_00000', config, seed=3)
    _turn_then_still_scene(root / 'scene_00001', config, seed=4)
    return root


@pytest.fixture(scope='module')
def records(eval_data):
    return [read_scene(eval_data / 'scene_00000'), read_scene(eval_data / 'scene_00001')]


# --- estimators used only by these tests -------------------------------------------------------------------

_TRUTH: dict[tuple, np.ndarray] = {}


def _pair_key(pair) -> tuple:
    """Identifies a pair by its stamps and audio (audio is never corrupted, so clean and corrupted pairs agree)."""
    return (round(pair.view_a.stamp_s, 6), round(pair.view_b.stamp_s, 6),
            hashlib.sha256(pair.view_a.audio.tobytes()).hexdigest())


def _remember_truth(records_) -> None:
    for record in records_:
        for gap_s in (0.5, 1.0, 2.0):
            for pair, T_a_b, _ in scene_pose_pairs(record, gap_s):
                _TRUTH[_pair_key(pair)] = T_a_b


class OracleEstimator(PoseEstimator):
    """Answers the ground truth (unit translation direction); invalid on odd anchor frames if `drop_odd`."""

    name = 'oracle'

    def __init__(self, drop_odd: bool = False) -> None:
        self.drop_odd = drop_odd

    def estimate_batch(self, pairs):
        out = []
        for pair in pairs:
            if self.drop_odd and round(pair.view_a.stamp_s * 10) % 2:
                out.append(PoseEstimate.invalid('test: odd frame'))
                continue
            T = _TRUTH[_pair_key(pair)].copy()
            norm = np.linalg.norm(T[:3, 3])
            T[:3, 3] = T[:3, 3] / norm if norm > 1e-9 else 0.0
            out.append(PoseEstimate(T, np.eye(6) * 1e-4, translation_known=norm > 1e-9, used=('vision',)))
        return out


class IdentityEstimator(PoseEstimator):
    """Always "no motion": identity rotation, unknown translation."""

    name = 'identity'

    def estimate_batch(self, pairs):
        return [PoseEstimate(np.eye(4), np.eye(6), translation_known=False) for _ in pairs]


def make_oracle(device: str = 'cpu') -> PoseEstimator:
    return OracleEstimator()


def make_identity(device: str = 'cpu') -> PoseEstimator:
    return IdentityEstimator()


@pytest.fixture
def test_models(monkeypatch, records):
    _remember_truth(records)
    monkeypatch.setitem(registry.ESTIMATORS, 'test-oracle', EstimatorEntry(f'{__name__}:make_oracle', 'ground truth'))
    monkeypatch.setitem(registry.ESTIMATORS, 'test-identity', EstimatorEntry(f'{__name__}:make_identity', 'identity'))


def _truth_table(records_, gap_s: float) -> list[tuple[float, float, bool]]:
    """(rotation °, translation m, still-with-sound-change) per pair, computed here from the poses and sources."""
    rows = []
    for record in records_:
        times = record.frame_times_s
        for i in range(record.num_frames):
            j = int(np.argmin(np.abs(times - (times[i] + gap_s))))
            if j <= i or abs(times[j] - times[i] - gap_s) > 0.05:
                continue
            T = relative_pose(record.T_world_cam[i], record.T_world_cam[j])
            rotation = float(rotation_angle_deg(np.eye(3), T[:3, :3]))
            translation = float(np.linalg.norm(T[:3, 3]))
            late_in_a = times[i] + 0.5 - LATE_SOURCE_S >= 0.5 and record.name == 'scene_00001'
            late_in_b = times[j] + 0.5 - LATE_SOURCE_S >= 0.5 and record.name == 'scene_00001'
            rows.append((rotation, translation, rotation < 1.0 and translation < 0.05 and late_in_a != late_in_b))
    return rows


# --- pairs ----------------------------------------------------------------------------------------------

def test_scene_pairs_carry_ground_truth_and_facts(records):
    record = records[1]
    items = list(scene_pose_pairs(record, 1.0))
    assert len(items) == record.num_frames - 10
    for pair, T_a_b, meta in items:
        i, j = meta.frame_a, meta.frame_b
        assert j - i == 10 and meta.t_b - meta.t_a == pytest.approx(1.0)
        np.testing.assert_allclose(record.T_world_cam[i] @ T_a_b, record.T_world_cam[j], atol=1e-9)
        np.testing.assert_array_equal(pair.view_a.image, record.frame(i))
        np.testing.assert_array_equal(pair.view_b.audio, record.audio_window(meta.t_b, 1.0)[0])
        assert pair.sensors.array.name == 'respeaker4' and pair.sensors.K is not None
        if meta.t_a >= STILL_FROM_S - 1e-9:
            assert meta.camera_still and meta.rotation_deg < 1e-6 and meta.translation_m < 1e-9
        elif meta.t_a <= STILL_FROM_S - 0.5:  # the spline still turns > 1° in the second before it stops
            assert not meta.camera_still
        # the music sounds on [4, 6): in the window centred on t when t + 0.5 − 4 ≥ 0.5
        assert meta.sound_change == ((meta.t_a >= LATE_SOURCE_S - 1e-9) != (meta.t_b >= LATE_SOURCE_S - 1e-9))
    moving = [m for _, _, m in items if m.t_b <= STILL_FROM_S]
    assert min(m.rotation_deg for m in moving) > 1.0 and max(m.rotation_deg for m in moving) > 20.0
    assert any(m.camera_still and m.sound_change for _, _, m in items)
    assert sound_changes(record, 4.0, 5.0, 1.0) is False and sound_changes(record, 2.0, 3.0, 1.0) is False
    assert sound_changes(record, 3.95, 4.05, 1.0) is True  # music in 45 % vs 55 % of the windows


def test_corrupted_pairs_are_reproducible_per_frame_and_keep_the_audio(records):
    record = records[0]
    spec = CorruptionSpec('mixed', base_seed=5)
    clean = list(scene_pose_pairs(record, 0.5, stride=3))
    corrupted = list(scene_pose_pairs(record, 0.5, stride=3, corruption=spec))
    again = list(scene_pose_pairs(record, 1.0, stride=1, corruption=spec))
    by_frame = {m.frame_b: p.view_b.image for p, _, m in again}
    for (pair, T_clean, meta), (bad, T_bad, _) in zip(clean, corrupted):
        assert not np.array_equal(pair.view_a.image, bad.view_a.image)
        assert not np.array_equal(pair.view_b.image, bad.view_b.image)
        np.testing.assert_array_equal(pair.view_a.audio, bad.view_a.audio)
        np.testing.assert_array_equal(T_clean, T_bad)
        expected = scene_corruption(spec, record).apply(record.frame(meta.frame_a), meta.frame_a)[0]
        np.testing.assert_array_equal(bad.view_a.image, expected)
        if meta.frame_b in by_frame:  # the same frame is corrupted alike in another pair set
            np.testing.assert_array_equal(bad.view_b.image, by_frame[meta.frame_b])
    assert scene_corruption(spec, records[0]).base_seed != scene_corruption(spec, records[1]).base_seed
    reread = read_scene(record.directory)
    assert scene_corruption(spec, records[0]) == scene_corruption(CorruptionSpec('mixed', 5), reread)


# --- the CLI end to end -------------------------------------------------------------------------------------

REQUIRED_KEYS = {'rotation_auc', 'translation_auc', 'total_auc', 'rotation_mae_deg', 'pairs'}


def test_eval_cli_oracle_and_identity(eval_data, records, test_models, tmp_path, capsys):
    out_json, plots = tmp_path / 'eval.json', tmp_path / 'plots'
    code = main(['eval', '--model', 'test-identity', '--model', 'test-oracle', '--data', str(eval_data),
                 '--corrupted', 'mixed,blur', '--gap', '0.5', '1', '--json', str(out_json), '--plot', str(plots),
                 '--batch-size', '7'])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(out_json.read_text())
    assert list(report) == ['models'] and list(report['models']) == ['test-identity', 'test-oracle']
    truth = _truth_table(records, 0.5) + _truth_table(records, 1.0)
    rotation = np.array([r[0] for r in truth])
    for by_condition in report['models'].values():
        assert list(by_condition) == [CLEAN, CORRUPTED, 'blur']
        for summary in by_condition.values():
            assert REQUIRED_KEYS <= set(summary)
            assert summary['pairs'] == len(truth)
            assert all(len(summary[k]) == 3 and all(0.0 <= v <= 1.0 for v in summary[k])
                       for k in ('rotation_auc', 'translation_auc', 'total_auc'))
            assert sum(b['pairs'] for b in summary['by_motion'].values()) == len(truth)
            assert summary['by_motion']['20+']['pairs'] == int(np.sum(rotation >= 20.0))
            travel = np.array([r[1] for r in truth])
            assert summary['by_travel']['0.3+']['pairs'] == int(np.sum(travel >= 0.3))
            assert sum(b['pairs'] for b in summary['by_travel'].values()) == len(truth)
            assert summary['by_gap']['0.5']['pairs'] + summary['by_gap']['1']['pairs'] == len(truth)
            assert summary['sound_change']['pairs'] == sum(r[2] for r in truth) > 0
            assert summary['failed'] == 0
    oracle = report['models']['test-oracle']
    identity = report['models']['test-identity']
    for condition in (CLEAN, CORRUPTED, 'blur'):  # neither looks at the images: corruption changes nothing
        assert oracle[condition]['rotation_auc'] == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)
        assert oracle[condition]['total_auc'] == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)
        assert oracle[condition]['rotation_mae_deg'] == pytest.approx(0.0, abs=1e-5)
        # SLfM protocol: the identity's per-pair error is the ground-truth rotation angle
        assert identity[condition]['rotation_mae_deg'] == pytest.approx(rotation.mean(), rel=1e-9)
        assert identity[condition]['rotation_median_deg'] == pytest.approx(np.median(rotation), rel=1e-9)
        assert identity[condition]['rotation_auc'] == pytest.approx(list(pose_auc(rotation).values()), abs=1e-9)
        # no translation from the identity: only pairs whose camera did not move score (0°)
        still = np.array([r[1] < 1e-9 for r in truth])
        assert identity[condition]['translation_auc'][2] == pytest.approx(still.mean(), abs=1e-9)
        failures = oracle[condition]['on_reference_failures']
        assert failures['pairs'] == int(np.sum(rotation > 10.0)) > 0
        assert failures['rotation_median_deg'] == pytest.approx(0.0, abs=1e-5)
        assert identity[condition]['on_reference_failures']['rotation_median_deg'] == pytest.approx(
            np.median(rotation[rotation > 10.0]))
    text = captured.out
    for heading in ('Table 1', 'Table 3', 'By ground-truth rotation', 'By frame gap', 'camera is still',
                    'where test-identity fails'):
        assert heading in text
    assert f'| test-oracle | clean | {len(truth)} | 100.0 | 100.0 | 100.0 |' in text
    for name in ('auc_bars.png', 'error_cdf.png', 'breakdown.png'):
        data = (plots / name).read_bytes()
        assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 10_000
    assert 'eval' in captured.err  # the progress bar


def test_invalid_estimates_are_failures_left_out_of_the_mean(records, test_models):
    conditions = make_conditions([])
    results = evaluate({'half': OracleEstimator(drop_odd=True), 'identity': IdentityEstimator()}, records, [1.0],
                       conditions, batch_size=4, progress=False)
    meta: list[PairMeta] = results[0].meta
    odd = np.array([m.frame_a % 2 == 1 for m in meta])
    summary = build_report(results)['models']['half'][CLEAN]
    assert summary['failed'] == int(odd.sum()) > 0 and summary['pairs'] == len(meta)
    assert summary['rotation_auc'] == pytest.approx([1.0 - odd.mean()] * 3, abs=1e-6)
    assert summary['rotation_mae_deg'] == pytest.approx(0.0, abs=1e-5)
    identity = build_report(results)['models']['identity'][CLEAN]['on_reference_failures']
    assert identity['pairs'] == int(odd.sum())  # the reference (first model) fails exactly where it is invalid
    expected = np.median([m.rotation_deg for m, o in zip(meta, odd) if o])
    assert identity['rotation_median_deg'] == pytest.approx(expected)
    assert '| half | clean |' in markdown_report(build_report(results))


def _error_line(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('av-pose: error: ')
    return err[0]


@pytest.mark.parametrize(('extra', 'expected'), [
    (['--model', 'no-such-model'], 'unknown model'),
    (['--model', 'test-identity', '--corrupted', 'fog'], 'fog'),
    (['--model', 'test-identity', '--corrupted', 'none,blur'], 'none'),
    (['--model', 'test-identity', '--gap', '0'], '--gap'),
    (['--model', 'test-identity', '--gap', '30'], 'shorter than the gaps'),
    (['--model', 'test-identity', '--batch-size', '0'], '--batch-size'),
    (['--model', 'test-identity', '--model', 'test-identity'], 'more than once'),
    (['--model', 'test-identity', '--json', '/no/such/folder/x.json'], 'folder does not exist'),
    (['--tracks', '--detector', 'sift'], '--detector chooses the geometric estimators'),
])
def test_bad_arguments_give_one_line(eval_data, test_models, capsys, extra, expected):
    assert expected in _error_line(capsys, ['eval', '--data', str(eval_data), '--no-progress', *extra])


def test_missing_data_folder_is_one_line(tmp_path, test_models, capsys):
    assert 'no such scene folder' in _error_line(capsys, ['eval', '--model', 'test-identity', '--data',
                                                          str(tmp_path / 'nothing')])
    assert 'no scene folders' in _error_line(capsys, ['eval', '--model', 'test-identity', '--data', str(tmp_path)])


def test_models_lists_names_and_card_preview(monkeypatch, tmp_path, capsys):
    card = tmp_path / 'card.md'
    card.write_text('# tiny-av\n\nTrained on ShoeboxAV.\nAUC@10 0.5\n' + '\n'.join(f'line {k}' for k in range(10)))
    monkeypatch.setitem(registry.ESTIMATORS, 'tiny-av', SimpleNamespace(factory='x:y', summary='a learned model',
                                                                        card=str(card)))
    assert main(['models']) == 0
    out = capsys.readouterr().out
    for name in ('geometric', 'geometric-vision', 'geometric-audio', 'tiny-av'):
        assert name in out
    assert 'Trained on ShoeboxAV.' in out and 'line 2' in out and 'line 9' not in out
    assert main(['models', 'tiny-av']) == 0
    assert 'line 9' in capsys.readouterr().out
    assert main(['models', '--json']) == 0
    listing = {m['name']: m for m in json.loads(capsys.readouterr().out)}
    assert listing['tiny-av']['card'] == str(card) and listing['geometric']['card'] is None
    assert 'unknown model' in _error_line(capsys, ['models', 'nope'])


# --- the real geometric estimators ----------------------------------------------------------------------------

def test_eval_cli_geometric_estimators(eval_data, records, test_models, tmp_path, capsys):
    out_json = tmp_path / 'geometric.json'
    code = main(['eval', '--model', 'geometric-vision', '--model', 'geometric-audio', '--model', 'geometric',
                 '--model', 'test-identity', '--data', str(eval_data), '--corrupted', 'mixed', '--gap', '1',
                 '--stride', '2', '--json', str(out_json), '--no-progress'])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    models = json.loads(out_json.read_text())['models']
    truth = [row for k, row in enumerate(_truth_table(records[:1], 1.0)) if k % 2 == 0] \
        + [row for k, row in enumerate(_truth_table(records[1:], 1.0)) if k % 2 == 0]
    identity = models['test-identity'][CLEAN]
    assert identity['pairs'] == len(truth)
    assert identity['rotation_mae_deg'] == pytest.approx(np.mean([r[0] for r in truth]))
    audio, vision, fused = models['geometric-audio'], models['geometric-vision'], models['geometric']
    # audio only: better than no motion, with failures counted against it, and blind to image corruption
    assert audio[CLEAN]['failed'] < 0.5 * len(truth)
    assert audio[CLEAN]['rotation_auc'][1] > identity['rotation_auc'][1]
    assert audio[CLEAN]['rotation_mae_deg'] < identity['rotation_mae_deg']
    for key in ('rotation_auc', 'rotation_mae_deg', 'failed', 'by_motion'):
        assert audio[CORRUPTED][key] == audio[CLEAN][key]
    # vision sees the corruption
    assert vision[CORRUPTED]['rotation_auc'] != vision[CLEAN]['rotation_auc']
    assert vision[CORRUPTED]['failed'] > vision[CLEAN]['failed']
    assert vision[CLEAN]['rotation_auc'][1] > identity['rotation_auc'][1]
    for condition in (CLEAN, CORRUPTED):
        pairs = vision[condition]['on_reference_failures']['pairs']
        assert pairs >= vision[condition]['failed']
        for model in (audio, fused):
            assert model[condition]['on_reference_failures']['reference'] == 'geometric-vision'
            assert model[condition]['on_reference_failures']['pairs'] == pairs
    assert '| geometric | corrupted |' in captured.out


def test_eval_detector_reaches_the_geometric_estimators(eval_data, test_models, tmp_path, monkeypatch, capsys):
    """`--detector sift`: geometric-vision detects SIFT features; the other models are built as before."""
    from av_pose.pose import registry

    built = {}
    make = registry.make_pose_estimator
    monkeypatch.setattr(registry, 'make_pose_estimator',
                        lambda spec, **kwargs: built.setdefault(spec, make(spec, **kwargs)))
    assert main(['eval', '--model', 'geometric-vision', '--model', 'test-identity', '--detector', 'sift',
                 '--data', str(eval_data), '--corrupted', 'none', '--stride', '4', '--no-progress']) == 0
    assert built['geometric-vision'].detector == 'sift' and '| geometric-vision | clean |' in capsys.readouterr().out


def test_reports_of_separate_runs_merge_into_one_auc_chart(tmp_path):
    """tools/plot_auc_bars.py: a later report's model replaces the same name; a model may lack a condition."""
    import runpy

    tool = runpy.run_path(str(Path(__file__).resolve().parent.parent / 'tools' / 'plot_auc_bars.py'))
    row = {'rotation_auc': [0.2, 0.4, 0.6], 'translation_auc': [0.1, 0.1, 0.2], 'total_auc': [0.1, 0.1, 0.2]}
    first = {'models': {'a': {'clean': row, 'corrupted': row}, 'b': {'clean': row, 'corrupted': row}}}
    again = {'models': {'a': {'clean': {**row, 'rotation_auc': [0.3, 0.5, 0.7]}}, 'c': {'blur': row}}}
    paths = []
    for index, report in enumerate((first, again)):
        paths.append(tmp_path / f'report{index}.json')
        paths[-1].write_text(json.dumps(report))
    merged, conditions = tool['merged_report']([str(p) for p in paths])
    assert list(merged['models']) == ['b', 'a', 'c'] and conditions == ['clean', 'corrupted', 'blur']
    assert merged['models']['a'] == again['models']['a']
    out = tmp_path / 'bars.png'
    assert tool['main']([str(out), *map(str, paths)]) == 0
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
