"""`av-pose train`: config merge, the schedule, exact resume, data-parallel batches, the CLI."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from av_pose.errors import UserInputError
from av_pose.train.config import load_config, parse_override
from av_pose.train.distributed import Distributed
from av_pose.train.loop import epoch_batches, train, warmup_cosine


@pytest.fixture(scope='module')
def tiny_scenes(tmp_path_factory):
    from av_pose.scene.batch import generate_scenes
    from av_pose.scene.generate import SynthConfig

    root = tmp_path_factory.mktemp('scenes')
    config = SynthConfig(duration_s=4.0, fps=5.0, image_size=(64, 48), num_sources=1)
    generate_scenes(root / 'train', config, seed=11, count=2)
    generate_scenes(root / 'val', config, seed=12, count=1)
    return root


def tiny_config(root, *overrides: str) -> dict:
    return load_config(None, [f'data.train=[{root}/train]', f'data.val=[{root}/val]', 'data.stride=2',
                              'data.val_stride=4', 'model.reloc3r=tiny', 'model.freeze_encoder=false',
                              'optim.batch_size=4', 'optim.epochs=2', 'log.every=1', 'log.tensorboard=off',
                              *overrides])


def test_config_layers_and_errors(tmp_path):
    experiment = tmp_path / 'exp.yaml'
    experiment.write_text('model: {kind: av, audio: {use_doa: false}}\noptim: {lr: 0.001}\n')
    config = load_config(experiment, ['optim.lr=2e-4', 'data.gaps_s=[0.5, 1]', 'model.audio.resnet_width=8'])
    assert config['model']['kind'] == 'av' and config['optim']['lr'] == 2e-4 and config['optim']['epochs'] == 10
    assert config['data']['gaps_s'] == [0.5, 1]
    assert config['model']['audio'] == {'binaural_dim': 128, 'use_doa': False, 'resnet_width': 8}
    with pytest.raises(UserInputError, match="unknown config key 'optim.lrr'"):
        load_config(experiment, ['optim.lrr=1'])
    with pytest.raises(UserInputError, match='key=value'):
        parse_override('optim.lr')


def test_warmup_then_cosine():
    values = [warmup_cosine(step, 10, 110, 0.01) for step in range(111)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert values[60] == pytest.approx(0.505, abs=1e-3) and values[110] == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(values[9:], values[10:]))


def test_two_ranks_split_each_doubled_batch():
    single = epoch_batches(20, 8, Distributed(), seed=3, epoch=1)
    ranks = [epoch_batches(20, 4, Distributed(rank=r, world_size=2), seed=3, epoch=1) for r in range(2)]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 2
    for whole, first, second in zip(single, *ranks):
        assert sorted(whole) == sorted(first + second) and len(set(first) & set(second)) == 0


def test_killed_and_resumed_run_equals_uninterrupted(tiny_scenes, tmp_path, one_torch_thread):
    config = tiny_config(tiny_scenes)
    whole = train(config, tmp_path / 'whole', progress=False)
    train(config, tmp_path / 'split', progress=False, stop_after_steps=3)
    resumed = train(config, tmp_path / 'split', resume=True, progress=False)
    a = torch.load(tmp_path / 'whole' / 'checkpoint-last.pt', weights_only=True)
    b = torch.load(tmp_path / 'split' / 'checkpoint-last.pt', weights_only=True)
    assert a['state'] == b['state'] and a['state']['epoch'] == 2
    for name, tensor in a['model'].items():
        assert torch.equal(tensor, b['model'][name]), name
    assert whole == resumed
    assert (tmp_path / 'whole' / 'checkpoint-best.pt').exists()
    saved = (tmp_path / 'whole' / 'config.yaml').read_text()
    assert 'git_revision' in saved and 'batch_size: 4' in saved
    assert 'train/loss' in (tmp_path / 'whole' / 'metrics.csv').read_text()


def test_cli_errors_are_one_line(tmp_path):
    config = tmp_path / 'bad.yaml'
    config.write_text('optim: {lrr: 1}\n')
    result = subprocess.run([sys.executable, '-m', 'av_pose.cli', 'train', str(config), '--out', str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["av-pose: error: unknown config key 'optim.lrr' (known: "
                                                  "amp, batch_size, clip_grad, epochs, lr, lr_min, warmup_epochs, "
                                                  "weight_decay)"]


@pytest.mark.slow
def test_torchrun_two_processes_equal_one_with_the_doubled_batch(tiny_scenes, tmp_path):
    common = [f'data.train=[{tiny_scenes}/train]', f'data.val=[{tiny_scenes}/val]', 'data.stride=2',
              'data.val_stride=4', 'model.freeze_encoder=false', 'optim.epochs=1', 'log.tensorboard=off']
    config = tmp_path / 'c.yaml'
    config.write_text('model: {kind: vision, reloc3r: tiny}\n')
    env = {'OMP_NUM_THREADS': '1', 'PATH': '/usr/bin:/bin'}
    one = subprocess.run([sys.executable, '-m', 'av_pose.cli', 'train', str(config), '--out', str(tmp_path / 'one'),
                          '--no-progress', '--device', 'cpu', 'optim.batch_size=4', *common],
                         capture_output=True, text=True, timeout=600, env=env)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port',
                          '29517', '-m', 'av_pose.cli', 'train', str(config), '--out', str(tmp_path / 'two'),
                          '--no-progress', '--device', 'cpu', 'optim.batch_size=2', *common],
                         capture_output=True, text=True, timeout=600, env=env)
    assert two.returncode == 0, two.stderr
    a = torch.load(tmp_path / 'one' / 'checkpoint-last.pt', weights_only=True)['model']
    b = torch.load(tmp_path / 'two' / 'checkpoint-last.pt', weights_only=True)['model']
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5, rtol=1e-4), name


def test_nvas_stage_pretrains_the_pose_models_binaural_encoder(tiny_scenes, tmp_path, one_torch_thread):
    from av_pose.train.stages import get_stage

    audio = ['model.audio.binaural_dim=16', 'model.audio.resnet_width=8']
    nvas = tiny_config(tiny_scenes, 'stage=nvas', 'optim.epochs=1', 'model.nvas.base_channels=8', *audio)
    metrics = train(nvas, tmp_path / 'nvas', progress=False)
    assert metrics['l1'] > 0 and metrics['score'] == -metrics['l1']
    pose = tiny_config(tiny_scenes, 'model.kind=av', f'model.nvas_init={tmp_path}/nvas/checkpoint-best.pt', *audio)
    model = get_stage('pose').build(pose)
    pretrained = torch.load(tmp_path / 'nvas' / 'checkpoint-best.pt', weights_only=True)['model']
    for name, tensor in model.audio_encoder.binaural_encoder.state_dict().items():
        assert torch.equal(tensor, pretrained[f'binaural_encoder.{name}']), name


def test_training_reads_rosbags_beside_scene_folders(tiny_scenes, tmp_path, one_torch_thread):
    """Fine-tuning on your own robot: a rosbag2 with ground-truth /tf trains like a ShoeboxAV scene."""
    from av_pose.bag.scene_to_bag import scene_to_bag
    from av_pose.train.pose_data import PoseTrainingSet

    scene = sorted((tiny_scenes / 'train').iterdir())[0]
    scene_to_bag(scene, tmp_path / 'robot_bag')
    dataset = PoseTrainingSet([tmp_path / 'robot_bag', tiny_scenes / 'val'], gaps_s=[1.0], window_s=1.0, stride=2,
                              img_size=64, patch_size=8, augment=None, seed=0, binaural_rate=16000)
    assert sorted(dataset.records) == ['robot_bag', 'scene_00000']
    from_bag = [dataset[i] for i in range(len(dataset)) if i >= len(dataset.parts[0])]
    assert from_bag and all(bool(item['audio_ok']) for item in from_bag)
    scene_item = dataset[0]
    for item in from_bag[:1]:
        assert item['image_a'].shape == scene_item['image_a'].shape and item['doa_a'].shape == (360,)
    metrics = train(tiny_config(tiny_scenes, f'data.train=[{tmp_path}/robot_bag]', 'optim.epochs=1',
                                'model.kind=av', 'model.audio.binaural_dim=16', 'model.audio.resnet_width=8'),
                    tmp_path / 'run', progress=False)
    assert 0.0 <= metrics['rotation_auc20'] <= 1.0


def test_pose_loss_has_finite_gradients_for_still_cameras_and_exact_answers():
    from av_pose.train.stages.pose import direction_angle, pose_loss, rotation_angle

    T = torch.eye(4).repeat(3, 1, 1)
    T[1, :3, 3] = torch.tensor([0.0, 0.0, 1.0])
    T[2, :3, 3] = torch.tensor([1.0, 0.0, 0.0])
    prediction = T.clone().requires_grad_(True)
    loss, parts = pose_loss(prediction, prediction, {'T_a_b': T, 'T_b_a': T})
    loss.backward()
    assert torch.isfinite(prediction.grad).all() and loss.item() < 5e-3
    assert direction_angle(torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([[0.0, 0.0, 2.0]])).item() == \
        pytest.approx(torch.pi / 2, abs=1e-4)
    quarter = torch.tensor([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    assert rotation_angle(quarter, torch.eye(3)[None]).item() == pytest.approx(torch.pi / 2, abs=1e-4)


def test_translation_weight_scales_only_the_direction_term():
    from av_pose.train.stages.pose import PoseStage, pose_loss

    truth = torch.eye(4)[None].repeat(2, 1, 1)
    truth[:, :3, 3] = torch.tensor([1.0, 0.0, 0.0])
    prediction = truth.clone()
    prediction[:, :3, 3] = torch.tensor([0.0, 1.0, 0.0])  # 90° off in direction, rotation exact
    prediction[:, :3, :3] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # 90° about x
    batch = {'T_a_b': truth, 'T_b_a': truth}
    full, parts = pose_loss(prediction, prediction, batch)
    tenth, same_parts = pose_loss(prediction, prediction, batch, translation_weight=0.1)
    assert parts == same_parts and parts['rotation_deg'] == pytest.approx(90.0, abs=1e-3)
    assert full.item() == pytest.approx(2 * (torch.pi / 2 + torch.pi / 2), abs=1e-4)  # both directions summed
    assert tenth.item() == pytest.approx(2 * (torch.pi / 2 + 0.1 * torch.pi / 2), abs=1e-4)
    stage = PoseStage()
    stage.build(load_config(None, ['loss.translation_weight=0.25']))
    assert stage.translation_weight == 0.25


def test_translations_shorter_than_the_minimum_have_no_direction_term():
    from av_pose.train.stages.pose import PoseStage, pose_loss

    truth = torch.eye(4)[None].repeat(2, 1, 1)
    truth[0, :3, 3] = torch.tensor([0.02, 0.0, 0.0])  # 2 cm: its direction is noise
    truth[1, :3, 3] = torch.tensor([0.30, 0.0, 0.0])
    prediction = truth.clone()
    prediction[:, :3, 3] = torch.tensor([0.0, 1.0, 0.0])  # both 90° off in direction
    batch = {'T_a_b': truth, 'T_b_a': truth}
    _, every = pose_loss(prediction, prediction, batch)
    _, long_only = pose_loss(prediction, prediction, batch, min_translation_m=0.05)
    assert every['translation_deg'] == pytest.approx(90.0, abs=1e-3)  # the batch mean over both pairs
    assert long_only['translation_deg'] == pytest.approx(45.0, abs=1e-3)  # the 2 cm pair counts zero
    stage = PoseStage()
    stage.build(load_config(None, ['loss.min_translation_m=0.05']))
    assert stage.min_translation_m == 0.05


def test_checkpoint_best_follows_the_selected_metric(tiny_scenes, tmp_path, one_torch_thread, capsys):
    config = tiny_config(tiny_scenes, 'log.select=rotation_auc20', 'optim.epochs=2')
    train(config, tmp_path / 'run', progress=False)
    status = capsys.readouterr().err.splitlines()  # without bars, a log still says where the run is
    assert [line.split('] ')[1].split(':')[0] for line in status] == [
        'building the datasets', 'datasets', 'epoch 1/2', 'epoch 2/2']
    assert 'rotation_auc20' in status[-1] and 'mean training loss' in status[-1]
    best = torch.load(tmp_path / 'run' / 'checkpoint-best.pt', weights_only=True)
    assert best['state']['best_score'] == pytest.approx(best['metrics']['rotation_auc20'])
    with pytest.raises(UserInputError, match="log.select 'nope'"):
        train(tiny_config(tiny_scenes, 'log.select=nope', 'optim.epochs=1'), tmp_path / 'bad', progress=False)


def test_reloc3r_overrides_change_the_input_size_and_travel_with_the_checkpoint(tiny_scenes, tmp_path,
                                                                                one_torch_thread):
    """`model.reloc3r_overrides.img_size` trains a named config at another size (RoPE has no fixed grid) and the
    checkpoint's build record brings it back at inference; an unknown keyword is one readable error."""
    from av_pose.eval.pairs import scene_pose_pairs
    from av_pose.pose.learned import load_checkpoint_estimator
    from av_pose.scene.format import read_scene

    config = tiny_config(tiny_scenes, 'model.reloc3r_overrides.img_size=32', 'optim.epochs=1')
    assert config['model']['reloc3r_overrides'] == {'img_size': 32}
    train(config, tmp_path / 'run', progress=False)
    estimator = load_checkpoint_estimator(tmp_path / 'run' / 'checkpoint-best.pt', device='cpu')
    assert (estimator.img_size, estimator.patch_size) == (32, 8)
    pair, _, _ = next(scene_pose_pairs(read_scene(sorted((tiny_scenes / 'val').iterdir())[0]), 1.0))
    assert estimator.estimate(pair).valid
    with pytest.raises(UserInputError, match='unknown Reloc3r keyword'):
        train(tiny_config(tiny_scenes, 'model.reloc3r_overrides.image_size=32', 'optim.epochs=1'), tmp_path / 'bad',
              progress=False)
