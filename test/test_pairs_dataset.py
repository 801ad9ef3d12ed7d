"""FramePairDataset over scene folders written with write_scene, and split_scenes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_scene_format import SAMPLE_RATE, camera_pose, make_scene, scene_audio, scene_frames
from torch.utils.data import DataLoader

from av_pose.data.pairs import FramePairDataset, pair_frame_indices, split_scenes
from av_pose.errors import UserInputError
from av_pose.geometry import invert_transform, rotation_angle_deg


@pytest.fixture(scope='module')
def scenes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('scenes')
    make_scene(root / 'scene_a', duration_s=2.0)
    make_scene(root / 'scene_b', duration_s=1.5)
    return root


@pytest.mark.parametrize(('gap_s', 'expected_pairs'), [(1.0, 10 + 5), (0.5, 15 + 10), (1.04, 10 + 5),
                                                       (1.5, 5 + 0)])
def test_pair_count_follows_the_gap(scenes_root, gap_s, expected_pairs):
    dataset = FramePairDataset(scenes_root, gap_s=gap_s)
    assert len(dataset) == expected_pairs
    for _, i, j in dataset.index:
        assert j - i == round(gap_s * 10)


def test_gap_is_snapped_to_frame_times():
    times = np.arange(20) / 10.0
    assert pair_frame_indices(times, 1.04)[:2] == [(0, 10), (1, 11)]
    assert pair_frame_indices(times, 1.06)[:1] == [(0, 11)]
    assert pair_frame_indices(times, 0.3, stride=5) == [(0, 3), (5, 8), (10, 13), (15, 18)]
    assert pair_frame_indices(times, 5.0) == []


def test_item_holds_images_audio_and_ground_truth(scenes_root):
    dataset = FramePairDataset([scenes_root / 'scene_a'], gap_s=1.0, window_s=1.0)
    item = dataset[3]
    assert item['scene_id'] == 'scene_a' and (item['frame_a'], item['frame_b']) == (3, 13)
    assert item['t_a'] == pytest.approx(0.3) and item['t_b'] == pytest.approx(1.3)
    frames = scene_frames(20)
    assert item['image_a'].shape == (3, 6, 8) and item['image_a'].dtype == torch.float32
    torch.testing.assert_close(item['image_a'], torch.from_numpy(frames[3]).permute(2, 0, 1).float() / 255)
    torch.testing.assert_close(item['image_b'], torch.from_numpy(frames[13]).permute(2, 0, 1).float() / 255)
    audio = scene_audio(4, 32000)
    # Frame 3 is at 0.3 s: the 1 s window starts 0.2 s before the recording.
    assert item['audio_a'].shape == (4, SAMPLE_RATE) and item['coverage_a'] == pytest.approx(0.8)
    np.testing.assert_array_equal(item['audio_a'][:, :3200].numpy(), 0.0)
    np.testing.assert_array_equal(item['audio_a'][:, 3200:].numpy(), audio[:, :12800])
    np.testing.assert_array_equal(item['audio_b'].numpy(), audio[:, 12800:28800])
    assert item['coverage_b'] == 1.0
    expected = invert_transform(camera_pose(0.3)) @ camera_pose(1.3)
    np.testing.assert_allclose(item['T_a_b'].numpy(), expected, atol=1e-6)
    np.testing.assert_allclose((item['T_a_b'] @ item['T_b_a']).numpy(), np.eye(4), atol=1e-6)
    # 1 s of 10°/s yaw; the camera moved 0.5 m along world x.
    assert rotation_angle_deg(item['T_a_b'][:3, :3].double().numpy(), np.eye(3)) == pytest.approx(10.0, abs=1e-4)
    assert float(torch.linalg.norm(item['T_a_b'][:3, 3])) == pytest.approx(0.5, abs=1e-6)
    record = dataset.records[0]
    np.testing.assert_allclose(item['azimuths_a_deg'].numpy(), record.source_azimuths_deg(0.3), atol=1e-4,
                               equal_nan=True)
    assert math.isnan(float(item['azimuths_a_deg'][1]))  # the moving source starts at 0.5 s
    assert not math.isnan(float(item['azimuths_b_deg'][1]))


def test_batches_collate_and_azimuths_pad_to_max_sources(scenes_root):
    dataset = FramePairDataset(scenes_root, gap_s=0.5, window_s=0.25, max_sources=3)
    batch = next(iter(DataLoader(dataset, batch_size=4, shuffle=False)))
    assert batch['image_a'].shape == (4, 3, 6, 8) and batch['audio_b'].shape == (4, 4, 4000)
    assert batch['T_a_b'].shape == (4, 4, 4) and batch['azimuths_b_deg'].shape == (4, 3)
    assert torch.isnan(batch['azimuths_b_deg'][:, 2]).all()
    assert len(batch['scene_id']) == 4


def test_transform_hook_is_applied(scenes_root):
    def darken(item):
        item['image_a'] = item['image_a'] * 0.0
        item['corrupted'] = True
        return item

    item = FramePairDataset(scenes_root, transform=darken)[0]
    assert item['corrupted'] and float(item['image_a'].abs().sum()) == 0.0
    assert float(item['image_b'].sum()) > 0.0


def test_bad_arguments_raise_user_errors(tmp_path, scenes_root):
    with pytest.raises(UserInputError, match='no scenes'):
        FramePairDataset(tmp_path)
    with pytest.raises(UserInputError, match='no frame pairs'):
        FramePairDataset(scenes_root, gap_s=4.0)
    with pytest.raises(UserInputError, match='positive'):
        FramePairDataset(scenes_root, gap_s=0.0)


def test_split_is_deterministic_stable_and_close_to_the_fractions(tmp_path):
    names = [tmp_path / f'scene_{i:04d}' for i in range(2000)]
    train, val, test = split_scenes(names, (0.8, 0.1, 0.1), seed=7)
    assert len(train) + len(val) + len(test) == 2000
    assert not (set(train) & set(val)) and not (set(train) & set(test)) and not (set(val) & set(test))
    assert 0.77 < len(train) / 2000 < 0.83 and 0.08 < len(val) / 2000 < 0.12 and 0.08 < len(test) / 2000 < 0.12
    assert split_scenes(reversed(names), (0.8, 0.1, 0.1), seed=7) == (train, val, test)
    more = split_scenes(names + [tmp_path / f'extra_{i}' for i in range(300)], (0.8, 0.1, 0.1), seed=7)
    for before, after in zip((train, val, test), more):
        assert set(before) <= set(after)
    other_seed = split_scenes(names, (0.8, 0.1, 0.1), seed=8)
    assert other_seed[0] != train
    assert split_scenes(names[:10], (1.0, 0.0, 0.0))[0] == sorted(names[:10])
    with pytest.raises(UserInputError, match='summing to 1'):
        split_scenes(names, (0.5, 0.1, 0.1))


def test_scene_folders_with_the_same_name_keep_their_own_arrays(tmp_path):
    """respeaker4/scene_00000 and binaural/scene_00000 are two scenes: each item is featurized with its array."""
    from av_pose.audio.arrays import load_array
    from av_pose.scene.batch import generate_scenes
    from av_pose.scene.generate import SynthConfig
    from av_pose.train.pose_data import PoseTrainingSet

    for preset in ('respeaker4', 'binaural'):
        generate_scenes(tmp_path / preset, SynthConfig(duration_s=2.5, fps=4.0, image_size=(64, 48),
                                                       array=load_array(preset), num_sources=1), seed=3, count=1)
    dataset = PoseTrainingSet([tmp_path / 'respeaker4', tmp_path / 'binaural'], gaps_s=[1.0], window_s=1.0,
                              stride=1, img_size=64, patch_size=8, augment=None, seed=0, binaural_rate=16000)
    ids = sorted(dataset.records)
    assert ids == ['binaural/scene_00000', 'respeaker4/scene_00000']
    assert [dataset.records[i].mic_array.num_channels for i in ids] == [2, 4]
    items = [dataset[i] for i in range(len(dataset))]
    assert {tuple(item['doa_a'].shape) for item in items} == {(360,)}
    assert all(bool(item['audio_ok']) for item in items)


def test_scene_folders_are_found_through_links_each_once(tmp_path, scenes_root):
    """A data folder assembled from links to rendered sets (and a link back up the tree) finds each scene once."""
    from av_pose.data.pairs import find_scene_dirs

    data = tmp_path / 'data'
    (data / 'train').mkdir(parents=True)
    (data / 'train' / 'set_a').symlink_to(scenes_root, target_is_directory=True)
    (data / 'train' / 'again').symlink_to(scenes_root, target_is_directory=True)
    (data / 'train' / 'loop').symlink_to(data, target_is_directory=True)
    found = find_scene_dirs(data)
    assert sorted(p.name for p in found) == ['scene_a', 'scene_b']
    assert len(FramePairDataset(data, gap_s=1.0)) == 10 + 5
