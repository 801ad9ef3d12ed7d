"""Reloc3r network: official layout, conventions, RoPE, pose head, strict loading, preprocessing, autocast.

Parity with the official code (ffrivera0/reloc3r + naver/croco) was checked outside the repo (see the
models README section); these tests pin the conventions that parity rests on.
"""
import json
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from av_pose.errors import UserInputError
from av_pose.models.blocks import PatchEmbed
from av_pose.models.checkpoints import read_checkpoint
from av_pose.models.pose_head import rotation_from_9d
from av_pose.models.reloc3r import (
    CONFIGS,
    build_reloc3r,
    load_reloc3r,
    reloc3r_keywords,
    save_reloc3r_snapshot,
)
from av_pose.models.reloc3r_inference import predict_relative_pose, prepare_images
from av_pose.models.rope import RoPE2D, patch_positions

OFFICIAL_KEYS = 606
OFFICIAL_PARAMETERS = 426_523_916


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def randomized(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give biases and norm gains random values too, so every parameter shapes the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith('bias'):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
            elif parameter.ndim == 1:
                parameter.copy_(1.0 + torch.randn(parameter.shape, generator=generator) * 0.1)
    return model.eval()


@pytest.fixture(scope='module')
def tiny_model():
    torch.manual_seed(0)
    return randomized(build_reloc3r('tiny'))


def random_views(batch: int, height: int, width: int, seed: int, true_shape=None):
    generator = torch.Generator().manual_seed(seed)
    view = {'img': torch.rand(batch, 3, height, width, generator=generator) * 2 - 1}
    if true_shape is not None:
        view['true_shape'] = torch.tensor(true_shape)
    return view


def is_proper_rotation(R: torch.Tensor, atol: float = 1e-5) -> bool:
    identity = torch.eye(3, dtype=R.dtype).expand_as(R)
    return (torch.allclose(R.transpose(-1, -2) @ R, identity, atol=atol)
            and torch.allclose(torch.det(R), torch.ones(R.shape[0], dtype=R.dtype), atol=atol))


# --- official layout -------------------------------------------------------------------------------------------

@pytest.mark.parametrize('config', ['reloc3r-512', 'reloc3r-224'])
def test_official_layout_has_606_keys_and_426_5m_parameters_and_no_buffers(config):
    with torch.device('meta'):
        model = build_reloc3r(config)
    state = model.state_dict()
    assert len(state) == OFFICIAL_KEYS
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMETERS
    assert list(model.buffers()) == []
    shapes = {name: list(tensor.shape) for name, tensor in state.items()}
    assert shapes['patch_embed.proj.weight'] == [1024, 3, 16, 16]
    assert shapes['enc_blocks.23.attn.qkv.weight'] == [3072, 1024]
    assert shapes['decoder_embed.weight'] == [768, 1024]
    assert shapes['dec_blocks.11.cross_attn.projk.weight'] == [768, 768]
    assert shapes['dec_blocks.11.norm_y.weight'] == [768]
    assert shapes['pose_head.proj.weight'] == [1024, 768]
    assert shapes['pose_head.res_conv.1.res_conv3.weight'] == [1024, 1024, 1, 1]
    assert shapes['pose_head.more_mlps.2.weight'] == [1024, 1024]
    assert shapes['pose_head.fc_rot.weight'] == [9, 1024] and shapes['pose_head.fc_t.weight'] == [3, 1024]
    assert not any(name.startswith('enc_blocks.24') or name.startswith('dec_blocks.12') for name in shapes)


def test_224_and_512_share_the_weight_layout_and_differ_only_in_img_size():
    assert reloc3r_keywords('reloc3r-224') == {**reloc3r_keywords('reloc3r-512'), 'img_size': 224}


def test_small_configs_build_from_the_same_code_and_run(tiny_model):
    small = build_reloc3r('small').eval()
    assert small.pose_head.proj.weight.shape == (256, 192)
    assert sum(p.numel() for p in small.parameters()) < 10_000_000
    for model, (height, width) in ((small, (96, 128)), (tiny_model, (48, 64))):
        with torch.no_grad():
            pose1, pose2 = model(random_views(2, height, width, 1), random_views(2, height, width, 2))
        assert pose1['pose'].shape == pose2['pose'].shape == (2, 4, 4)
        assert is_proper_rotation(pose2['pose'][:, :3, :3])
        assert torch.equal(pose2['pose'][:, 3], torch.tensor([[0.0, 0, 0, 1]] * 2))


@pytest.mark.parametrize('kwargs, fragment', [
    ({'config': 'huge'}, 'unknown Reloc3r config'),
    ({'enc_layers': 3}, 'unknown Reloc3r keyword'),
    ({'pos_embed': 'cosine'}, 'pos_embed'),
])
def test_bad_keywords_are_user_errors(kwargs, fragment):
    with pytest.raises(UserInputError, match=fragment):
        with torch.device('meta'):
            build_reloc3r(**kwargs)


# --- conventions -----------------------------------------------------------------------------------------------

def test_pose2_comes_from_view2_and_swapping_views_swaps_the_poses(tiny_model):
    view1, view2 = random_views(3, 48, 64, 1), random_views(3, 48, 64, 2)
    with torch.no_grad():
        pose1, pose2 = tiny_model(view1, view2)
        swapped1, swapped2 = tiny_model(view2, view1)
        feat1, feat2, pos1, pos2 = tiny_model.encode(view1['img'], view2['img'])
        dec1, dec2 = tiny_model.decode(feat1, pos1, feat2, pos2)
    # pose2 of (1, 2) and pose1 of (2, 1) both map camera-2 points into camera 1.
    torch.testing.assert_close(pose2['pose'], swapped1['pose'], atol=1e-5, rtol=0)
    torch.testing.assert_close(pose1['pose'], swapped2['pose'], atol=1e-5, rtol=0)
    torch.testing.assert_close(pose2['pose'], tiny_model.pose_head(dec2), atol=1e-6, rtol=0)
    assert (pose1['pose'] - pose2['pose']).abs().max() > 1e-2  # the two directions are distinct outputs


def test_identical_views_give_identical_poses_both_ways(tiny_model):
    view = random_views(2, 48, 64, 3)
    with torch.no_grad():
        pose1, pose2 = tiny_model(view, view)
    torch.testing.assert_close(pose1['pose'], pose2['pose'], atol=1e-6, rtol=0)


def test_decoder_layers_read_the_previous_layer_of_both_views(tiny_model):
    """Each layer updates view 1 and view 2 from the same previous pair (not view 2 from the new view 1)."""
    view1, view2 = random_views(1, 48, 64, 4), random_views(1, 48, 64, 5)
    with torch.no_grad():
        feat1, feat2, pos1, pos2 = tiny_model.encode(view1['img'], view2['img'])
        x1, x2 = tiny_model.decoder_embed(feat1), tiny_model.decoder_embed(feat2)
        for block in tiny_model.dec_blocks:
            x1, x2 = block(x1, x2, pos1, pos2), block(x2, x1, pos2, pos1)
        dec1, dec2 = tiny_model.decode(feat1, pos1, feat2, pos2)
    torch.testing.assert_close(dec2, tiny_model.dec_norm(x2), atol=1e-6, rtol=0)
    torch.testing.assert_close(dec1, tiny_model.dec_norm(x1), atol=1e-6, rtol=0)


def test_rotation_is_the_closest_proper_rotation_to_the_row_normalised_matrix():
    generator = torch.Generator().manual_seed(0)
    raw = torch.randn(64, 9, generator=generator, dtype=torch.float64)
    rotation = rotation_from_9d(raw)
    assert is_proper_rotation(rotation, atol=1e-10)
    # Reference: Procrustes on the row-normalised matrix, in numpy.
    for matrix, result in zip(raw.reshape(-1, 3, 3).numpy(), rotation.numpy()):
        rows = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        u, _, vt = np.linalg.svd(rows)
        expected = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
        np.testing.assert_allclose(result, expected, atol=1e-10)


def test_rows_are_normalised_before_the_svd():
    generator = torch.Generator().manual_seed(1)
    unit_rows = torch.nn.functional.normalize(torch.randn(3, 3, generator=generator, dtype=torch.float64), dim=-1)
    scaled_rows = torch.diag(torch.tensor([0.2, 1.0, 7.0], dtype=torch.float64)) @ unit_rows
    expected = rotation_from_9d(unit_rows[None])
    torch.testing.assert_close(rotation_from_9d(scaled_rows[None]), expected, atol=1e-10, rtol=0)
    # Without the row normalisation the SVD projection of the same matrix is a different rotation.
    u, _, vt = np.linalg.svd(scaled_rows.numpy())
    unnormalised = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
    assert np.abs(unnormalised - expected[0].numpy()).max() > 0.05


def test_reflections_are_turned_into_proper_rotations():
    reflection = torch.diag(torch.tensor([1.0, 1.0, -1.0]))[None]
    rotation = rotation_from_9d(reflection)
    assert torch.det(rotation).item() == pytest.approx(1.0, abs=1e-6)
    assert is_proper_rotation(rotation)


# --- RoPE and patches ------------------------------------------------------------------------------------------

def test_rope_scores_depend_only_on_relative_positions():
    rope = RoPE2D(base=100.0)
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 1, 2, 3, 32, generator=generator, dtype=torch.float64)
    positions = torch.tensor([[[0, 0], [2, 5], [7, 1]]])
    shifted = positions + torch.tensor([3, 11])
    scores = rope(q, positions) @ rope(k, positions).transpose(-1, -2)
    scores_shifted = rope(q, shifted) @ rope(k, shifted).transpose(-1, -2)
    torch.testing.assert_close(scores, scores_shifted, atol=1e-5, rtol=0)  # float32 angle tables, as upstream
    assert not torch.allclose(scores, q @ k.transpose(-1, -2), atol=1e-3)


@pytest.mark.parametrize('channel, position, partner', [(3, (5, 0), 11), (16 + 2, (0, 4), 16 + 10)])
def test_rope_rotates_channel_pairs_within_each_half_by_row_then_column(channel, position, partner):
    head_dim, quarter = 32, 8
    rope = RoPE2D(base=100.0)
    tokens = torch.zeros(1, 1, 1, head_dim, dtype=torch.float64)
    tokens[..., channel] = 1.0
    rotated = rope(tokens, torch.tensor([[position]]))[0, 0, 0]
    frequency_index = channel % quarter
    coordinate = position[0] if channel < head_dim // 2 else position[1]
    angle = coordinate * 100.0 ** (-2 * frequency_index / (head_dim // 2))
    expected = torch.zeros(head_dim, dtype=torch.float64)
    expected[channel], expected[partner] = math.cos(angle), math.sin(angle)
    torch.testing.assert_close(rotated, expected, atol=1e-7, rtol=0)


def test_rope_keeps_nothing_in_the_state_dict():
    rope = RoPE2D()
    rope(torch.randn(1, 1, 4, 16), patch_positions(2, 2)[None])
    assert rope.state_dict() == {} and list(rope.buffers()) == []


def test_portrait_images_travel_transposed_and_are_embedded_upright():
    torch.manual_seed(0)
    embed = PatchEmbed(patch_size=8, in_channels=3, embed_dim=16)
    portrait = torch.randn(1, 3, 48, 32)  # true H 48 > W 32
    landscape = torch.randn(1, 3, 32, 48)
    stored = torch.cat([portrait.transpose(-1, -2), landscape])
    tokens, positions = embed(stored, torch.tensor([[48, 32], [32, 48]]))
    with torch.no_grad():
        upright = embed.proj(portrait).flatten(2).transpose(1, 2)
        flat = embed.proj(landscape).flatten(2).transpose(1, 2)
    torch.testing.assert_close(tokens[0], upright[0])
    torch.testing.assert_close(tokens[1], flat[0])
    assert torch.equal(positions[0], patch_positions(6, 4))  # 6 rows of 4 columns, as the true image
    assert torch.equal(positions[1], patch_positions(4, 6))
    assert tokens.dtype == torch.float32


def test_true_shape_changes_the_answer_and_mixed_batches_match_single_images(tiny_model):
    portrait = random_views(1, 48, 64, 6, true_shape=[[64, 48]])
    landscape = random_views(1, 48, 64, 7, true_shape=[[48, 64]])
    other = random_views(2, 48, 64, 8)
    mixed = {'img': torch.cat([portrait['img'], landscape['img']]),
             'true_shape': torch.tensor([[64, 48], [48, 64]])}
    with torch.no_grad():
        _, mixed_pose = tiny_model(other, mixed)
        _, portrait_pose = tiny_model({'img': other['img'][:1]}, portrait)
        _, as_landscape = tiny_model({'img': other['img'][:1]}, {'img': portrait['img']})
    torch.testing.assert_close(mixed_pose['pose'][:1], portrait_pose['pose'], atol=1e-5, rtol=0)
    assert (as_landscape['pose'] - portrait_pose['pose']).abs().max() > 1e-3


@pytest.mark.parametrize('shape, message', [((1, 3, 64, 48), 'landscape'), ((1, 3, 44, 64), 'multiples')])
def test_patch_embedding_rejects_portrait_storage_and_ragged_sizes(shape, message):
    embed = PatchEmbed(patch_size=8, in_channels=3, embed_dim=16)
    with pytest.raises(ValueError, match=message):
        embed(torch.zeros(shape), torch.tensor([shape[2:]]))


# --- strict loading --------------------------------------------------------------------------------------------

def _poses(model, seed=11):
    with torch.no_grad():
        pose1, pose2 = model(random_views(2, 48, 64, seed), random_views(2, 48, 64, seed + 1))
    return pose1['pose'], pose2['pose']


def _write_format(fmt: str, model, tmp_path):
    state = model.state_dict()
    if fmt == 'flat .pth':
        torch.save(state, tmp_path / 'reloc3r.pth')
        return tmp_path / 'reloc3r.pth', {'config': 'tiny'}
    if fmt == "{'model'} .pth":
        torch.save({'model': state, 'epoch': 3, 'args': 'ignored'}, tmp_path / 'checkpoint-last.pth')
        return tmp_path / 'checkpoint-last.pth', {'config': 'tiny'}
    if fmt == '.safetensors':
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / 'model.safetensors'))
        return tmp_path / 'model.safetensors', {'config': 'tiny'}
    folder = save_reloc3r_snapshot(model, tmp_path / 'snapshot')
    (folder / 'README.md').write_text('written by the hub mixin; ignored\n')
    return folder, {}


@pytest.mark.parametrize('fmt', ['flat .pth', "{'model'} .pth", '.safetensors', 'snapshot folder'])
def test_strict_loading_round_trips(fmt, tiny_model, tmp_path):
    path, kwargs = _write_format(fmt, tiny_model, tmp_path)
    loaded = load_reloc3r(path, **kwargs)
    assert not loaded.training
    for before, after in zip(_poses(tiny_model), _poses(loaded)):
        assert torch.equal(before, after)


def test_snapshot_config_json_gives_the_keywords(tiny_model, tmp_path):
    folder = save_reloc3r_snapshot(tiny_model, tmp_path / 'snap')
    config = json.loads((folder / 'config.json').read_text())
    assert config['enc_embed_dim'] == 128 and config['patch_size'] == 8 and 'norm_layer' not in config
    assert read_checkpoint(folder).config == config


def test_mismatch_is_one_readable_line_with_counts_and_names(tiny_model, tmp_path):
    state = dict(tiny_model.state_dict())
    del state['enc_norm.bias']
    state['pose_head.extra.weight'] = torch.zeros(3)
    state['pose_head.fc_t.weight'] = torch.zeros(4, 256)
    torch.save(state, tmp_path / 'broken.pth')
    with pytest.raises(UserInputError) as error:
        load_reloc3r(tmp_path / 'broken.pth', config='tiny')
    message = str(error.value)
    assert '\n' not in message and str(tmp_path / 'broken.pth') in message
    assert '1 missing (enc_norm.bias)' in message
    assert '1 unexpected (pose_head.extra.weight)' in message
    assert '1 mis-shaped (checkpoint vs model: pose_head.fc_t.weight [4, 256] vs [3, 256])' in message


def test_a_small_checkpoint_does_not_load_into_the_default_layout(tiny_model, tmp_path):
    torch.save(tiny_model.state_dict(), tmp_path / 'tiny.pth')
    with pytest.raises(UserInputError) as error:
        load_reloc3r(tmp_path / 'tiny.pth')  # no config: reloc3r-512
    message = str(error.value)
    assert f'{OFFICIAL_KEYS} keys expected' in message and 'reloc3r-512' in message and '\n' not in message
    assert 'missing (enc_blocks.4.' in message and 'mis-shaped' in message


class _NotAWeight:
    pass


@pytest.mark.parametrize('case', ['no such path', 'garbage', 'pickled object', 'empty folder', 'bad keyword'])
def test_unusable_checkpoints_are_user_errors(case, tiny_model, tmp_path):
    path, kwargs = tmp_path / 'missing.pth', {}
    if case == 'garbage':
        path.write_bytes(b'not a checkpoint at all')
    elif case == 'pickled object':
        path.write_bytes(pickle.dumps({'model': _NotAWeight()}, protocol=2))
    elif case == 'empty folder':
        path = tmp_path / 'folder'
        path.mkdir()
    elif case == 'bad keyword':
        path = save_reloc3r_snapshot(tiny_model, tmp_path / 'snap')
        config = json.loads((path / 'config.json').read_text())
        (path / 'config.json').write_text(json.dumps({**config, 'croco': True}))
    with pytest.raises(UserInputError):
        load_reloc3r(path, **kwargs)


# --- autocast ----------------------------------------------------------------------------------------------------

def test_autocast_setting_is_a_no_op_on_cpu(tiny_model):
    before = _poses(tiny_model)
    tiny_model.amp_dtype = torch.bfloat16
    try:
        after = _poses(tiny_model)
    finally:
        tiny_model.amp_dtype = None
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def test_importing_the_models_changes_no_global_torch_setting():
    code = ('import torch; before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, '
            'torch.get_float32_matmul_precision()); import av_pose.models.reloc3r, av_pose.models.reloc3r_inference, '
            'av_pose.models.resnet; after = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, '
            'torch.get_float32_matmul_precision()); assert before == after, (before, after)')
    subprocess.run([sys.executable, '-c', code], check=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('amp_dtype', [torch.float16, torch.bfloat16])
def test_cuda_autocast_runs_encoder_and_decoder_in_half_and_the_head_in_float32(amp_dtype):
    torch.manual_seed(0)
    model = randomized(build_reloc3r(enc_depth=2, dec_depth=2)).cuda()
    views = [random_views(2, 384, 512, seed) for seed in (1, 2)]
    cuda_views = [{'img': view['img'].cuda()} for view in views]
    dtypes = {}

    def record(key, tensor) -> None:  # a forward hook that returns something replaces the module's output
        dtypes.setdefault(key, tensor.dtype)

    model.dec_blocks[-1].register_forward_hook(lambda m, i, o: record('decoder', o))
    model.pose_head.proj.register_forward_hook(lambda m, i, o: record('head', i[0]))
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        reference = [pose['pose'].cpu() for pose in model(*cuda_views)]
        model.amp_dtype = amp_dtype
        dtypes.clear()
        reduced = [pose['pose'] for pose in model(*cuda_views)]
    assert dtypes == {'decoder': amp_dtype, 'head': torch.float32}
    assert all(pose.dtype == torch.float32 for pose in reduced)
    cpu_model = model.cpu().float()
    cpu_model.amp_dtype = None
    with torch.no_grad():
        cpu = [pose['pose'] for pose in cpu_model(*views)]
    for ours, cuda_fp32, half in zip(cpu, reference, reduced):
        torch.testing.assert_close(cuda_fp32, ours, atol=1e-4, rtol=0)
        assert (half.cpu() - ours).abs().max() < 0.02  # CPU-emulated autocast: 6e-4 (fp16), 3e-3 (bf16)


# --- preprocessing and inference -------------------------------------------------------------------------------

@pytest.mark.parametrize('height, width, img_size, patch, stored, true_shape', [
    (480, 640, 512, 16, (384, 512), (384, 512)),
    (640, 480, 512, 16, (384, 512), (512, 384)),
    (600, 600, 512, 16, (384, 512), (384, 512)),
    (500, 700, 512, 16, (352, 512), (352, 512)),
    (480, 640, 224, 16, (224, 224), (224, 224)),
    (192, 256, 128, 16, (96, 128), (96, 128)),
    (192, 256, 64, 8, (48, 64), (48, 64)),
])
def test_preprocessing_follows_the_official_resize_and_crop(height, width, img_size, patch, stored, true_shape):
    prepared = prepare_images(torch.rand(2, 3, height, width), img_size, patch)
    assert tuple(prepared.images.shape[-2:]) == stored
    assert prepared.true_shape.tolist() == [list(true_shape)] * 2
    assert prepared.images.min() >= -1.0 and prepared.images.max() <= 1.0


def test_uint8_images_are_scaled_to_unit_range():
    pixels = torch.randint(0, 256, (1, 3, 48, 64), dtype=torch.uint8)
    prepared = prepare_images(pixels.numpy(), 64, 8)
    torch.testing.assert_close(prepared.images, pixels.float() / 255 * 2 - 1)


@pytest.mark.parametrize('height, width, img_size', [(500, 700, 512), (700, 500, 512), (500, 700, 224)])
def test_intrinsics_follow_the_resize_and_crop(height, width, img_size):
    """A blob at the projection of a 3-D point stays at that point's projection with the adjusted K."""
    K = np.array([[520.0, 0.0, width / 2 - 7.3], [0.0, 515.0, height / 2 + 4.1], [0.0, 0.0, 1.0]])
    point = np.array([0.21, -0.13, 1.0])
    u, v = (K @ point)[:2]
    rows, cols = np.mgrid[0:height, 0:width]
    blob = np.exp(-((cols - u) ** 2 + (rows - v) ** 2) / (2 * 6.0 ** 2))
    prepared = prepare_images(torch.tensor(blob, dtype=torch.float32).expand(1, 3, height, width), img_size,
                              K=K)
    image = prepared.images[0, 0].numpy() * 0.5 + 0.5
    if prepared.true_shape[0, 0] > prepared.true_shape[0, 1]:
        image = image.T  # back to the true (portrait) orientation
    rows, cols = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    centroid = np.array([(cols * image).sum(), (rows * image).sum()]) / image.sum()
    projected = (prepared.K[0].numpy() @ point)[:2]
    np.testing.assert_allclose(centroid, projected, atol=0.25)


def test_inference_helper_returns_both_directions_as_numpy(tiny_model):
    generator = torch.Generator().manual_seed(5)
    first, second = torch.rand(2, 2, 3, 96, 128, generator=generator)
    prediction = predict_relative_pose(tiny_model, first, second)
    reverse = predict_relative_pose(tiny_model, second.numpy(), first.numpy())
    assert prediction.T_1_2.shape == (2, 4, 4) and prediction.T_1_2.dtype == np.float64
    np.testing.assert_allclose(prediction.T_1_2, reverse.T_2_1, atol=1e-5)
    prepared = [prepare_images(images, 64, 8) for images in (first, second)]
    with torch.no_grad():
        pose1, pose2 = tiny_model({'img': prepared[0].images, 'true_shape': prepared[0].true_shape},
                                  {'img': prepared[1].images, 'true_shape': prepared[1].true_shape})
    np.testing.assert_allclose(prediction.T_1_2, pose2['pose'].numpy(), atol=1e-6)
    np.testing.assert_allclose(prediction.T_2_1, pose1['pose'].numpy(), atol=1e-6)
    assert prediction.K1 is None


def test_named_configs_cover_the_official_and_cpu_sizes():
    assert set(CONFIGS) == {'reloc3r-512', 'reloc3r-224', 'small', 'tiny'}
