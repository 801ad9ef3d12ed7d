"""Learned models behind `PoseEstimator`: loading by path, any image size, batching, bad audio, export."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from av_pose.errors import UserInputError
from av_pose.pose.base import PosePair, View
from av_pose.pose.learned import export_checkpoint
from av_pose.pose.registry import make_pose_estimator


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A 1-epoch audio-visual tiny model and one of its scenes (seconds on CPU)."""
    from av_pose.scene.batch import generate_scenes
    from av_pose.scene.format import read_scene
    from av_pose.scene.generate import SynthConfig
    from av_pose.train.config import load_config
    from av_pose.train.loop import train

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('learned')
    paths = generate_scenes(root / 'scenes', SynthConfig(duration_s=4.0, fps=5.0, image_size=(80, 60)), 5, 1)
    config = load_config(None, [f'data.train=[{root}/scenes]', f'data.val=[{root}/scenes]', 'data.stride=2',
                                'data.val_stride=4', 'model.kind=av', 'model.audio.binaural_dim=16',
                                'model.audio.resnet_width=8', 'optim.batch_size=4', 'optim.epochs=1',
                                'log.tensorboard=off'])
    train(config, root / 'run', progress=False)
    return root / 'run', read_scene(paths[0])


def scene_pairs(record, count=4):
    from av_pose.eval.pairs import scene_pose_pairs

    return [pair for pair, _, _ in scene_pose_pairs(record, 1.0, stride=2)][:count]


def test_loads_by_folder_or_file_and_batches_like_single_pairs(trained):
    run, record = trained
    estimator = make_pose_estimator(str(run), device='cpu')
    same = make_pose_estimator(str(run / 'checkpoint-best.pt'), device='cpu')
    pairs = scene_pairs(record)
    batch = estimator.estimate_batch(pairs)
    for pair, estimate in zip(pairs, batch):
        single = same.estimate(pair)
        assert np.allclose(single.T_a_b, estimate.T_a_b, atol=1e-5)
        assert estimate.valid and estimate.used == ('audio', 'vision') and estimate.translation_known
        assert np.isclose(np.linalg.norm(estimate.T_a_b[:3, 3]), 1.0)
        assert np.allclose(estimate.T_a_b[:3, :3] @ estimate.T_a_b[:3, :3].T, np.eye(3), atol=1e-6)
        assert np.all(np.isfinite(estimate.covariance)) and np.all(np.diag(estimate.covariance) > 0)


def test_any_image_size_and_bad_inputs_never_crash(trained):
    run, record = trained
    estimator = make_pose_estimator(str(run), device='cpu')
    pair = scene_pairs(record, 1)[0]
    portrait = PosePair(View(pair.view_a.stamp_s, np.ascontiguousarray(pair.view_a.image[:, :40]), pair.view_a.audio),
                        View(pair.view_b.stamp_s, np.ascontiguousarray(pair.view_b.image[:, :40]), pair.view_b.audio),
                        pair.sensors)
    nan_audio = pair.view_a.audio.copy()
    nan_audio[0, 100] = np.nan
    short = pair.view_b.audio[:, :200]
    cases = {
        'portrait': portrait,
        'nan audio': PosePair(View(0.0, pair.view_a.image, nan_audio), pair.view_b, pair.sensors),
        'short audio': PosePair(pair.view_a, View(1.0, pair.view_b.image, short), pair.sensors),
        'no audio': PosePair(View(0.0, pair.view_a.image), View(1.0, pair.view_b.image), pair.sensors),
        'no image': PosePair(View(0.0, None, pair.view_a.audio), pair.view_b, pair.sensors),
    }
    results = dict(zip(cases, estimator.estimate_batch(list(cases.values()))))
    assert results['portrait'].valid and results['portrait'].used == ('audio', 'vision')
    for name in ('nan audio', 'short audio', 'no audio'):
        assert results[name].valid and results[name].used == ('vision',), name
        assert results[name].info['audio_unavailable'] is True
        assert np.all(np.isfinite(results[name].T_a_b))
    assert not results['no image'].valid


def test_export_is_slim_equal_and_strict(trained, tmp_path):
    run, record = trained
    shipped = export_checkpoint(run / 'checkpoint-best.pt', tmp_path / 'av.pt', 'av-test', card={'data': 'x'})
    payload = torch.load(shipped, weights_only=True)
    assert set(payload) == {'format', 'name', 'build', 'model', 'calibration', 'metrics', 'card'}
    pair = scene_pairs(record, 1)[0]
    a = make_pose_estimator(str(run), device='cpu').estimate(pair)
    b = make_pose_estimator(str(shipped), device='cpu').estimate(pair)
    assert np.allclose(a.T_a_b, b.T_a_b, atol=1e-6) and b.info['model'] == 'av-test'
    del payload['model']['audio_pair.weight']
    torch.save(payload, tmp_path / 'broken.pt')
    with pytest.raises(UserInputError, match='missing.*audio_pair.weight'):
        make_pose_estimator(str(tmp_path / 'broken.pt'), device='cpu')
    (tmp_path / 'junk.pt').write_bytes(b'not a checkpoint')
    with pytest.raises(UserInputError, match='not a readable av_pose checkpoint'):
        make_pose_estimator(str(tmp_path / 'junk.pt'), device='cpu')
