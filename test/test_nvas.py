"""NVAS pretext network: shapes, the complex mask, the loss, a tiny model overfitting ShoeboxAV pairs, and its
binaural encoder loading into the spatial audio encoder."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from av_pose.audio.arrays import load_array
from av_pose.audio.binaural import multichannel_to_binaural
from av_pose.data.pairs import FramePairDataset
from av_pose.errors import UserInputError
from av_pose.geometry import array_mount
from av_pose.models.audio_encoder import AudioFeaturizer, SpatialAudioEncoder, camera_heading_deg
from av_pose.models.nvas import (
    NvasUNet,
    head_following_views,
    nvas_inputs,
    nvas_loss,
    nvas_step,
    predicted_difference,
)
from av_pose.scene.generate import SynthConfig

from scene_fixtures import scene_with_static_talker

TINY = {'binaural_dim': 16, 'base_channels': 8, 'depth': 4, 'n_fft': 256, 'win_length': 256, 'hop_length': 128,
        'resnet_width': 16}
ENCODER_KEYS = ('binaural_dim', 'n_fft', 'win_length', 'hop_length', 'resnet_width')


def tiny_model(seed: int = 0) -> NvasUNet:
    torch.manual_seed(seed)
    return NvasUNet(**TINY)


def test_mask_has_the_input_shape_and_bounds():
    model = tiny_model()
    torch.nn.init.normal_(model.out.weight, std=1.0)  # leave the zero start so that the bound is exercised
    source, target = 0.1 * torch.randn(3, 2, 4000), 0.1 * torch.randn(3, 2, 4000)
    _, mono, difference = nvas_inputs(model, source, target)
    assert mono.shape == difference.shape == (3, 2, 128, 1 + 4000 // 128)  # odd frame count: padded, cropped
    mask = model(mono, source)
    assert mask.shape == mono.shape
    assert mask.abs().max() <= model.mask_scale and mask.abs().max() > 0.5
    with pytest.raises(UserInputError, match='divisible'):
        NvasUNet(**{**TINY, 'depth': 8})


def test_a_new_model_predicts_no_difference():
    model = tiny_model()
    source, target = 0.1 * torch.randn(2, 2, 4000), 0.1 * torch.randn(2, 2, 4000)
    _, mono, difference = nvas_inputs(model, source, target)
    with torch.no_grad():
        assert float(model(mono, source).abs().max()) == 0.0
    torch.testing.assert_close(nvas_step(model, {'source': source, 'target': target}),
                               difference.abs().mean())


def test_targets_are_the_mono_and_the_left_minus_right_stft_at_unit_rms():
    model = tiny_model()
    target = 0.05 * torch.randn(2, 2, 4000)
    _, mono, difference = nvas_inputs(model, torch.zeros(2, 2, 4000), target)
    scale = 1.0 / target.mean(1).square().mean(-1).sqrt()
    expected = model.binaural_encoder.stft((target[:, :1] - target[:, 1:]) * scale[:, None, None])[:, 0]
    torch.testing.assert_close(torch.complex(difference[:, 0], difference[:, 1]), expected)
    # Loudness does not change the inputs or the targets.
    _, mono_loud, difference_loud = nvas_inputs(model, torch.zeros(2, 2, 4000), 30.0 * target)
    torch.testing.assert_close(mono_loud, mono, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(difference_loud, difference, atol=1e-4, rtol=1e-4)
    # A fixed-head render of the featurizer (source straight ahead) has nothing to learn: L − R = 0.
    rendered = AudioFeaturizer(16000, 'respeaker4', array_mount())
    binaural = rendered.featurize(torch.randn(2, 4, 4000)).binaural
    _, _, none = nvas_inputs(model, binaural, binaural)
    assert float(none.abs().max()) < 1e-4


def test_predicted_difference_is_the_complex_product():
    mask, mono = torch.randn(2, 2, 8, 5), torch.randn(2, 2, 8, 5)
    product = torch.complex(mask[:, 0], mask[:, 1]) * torch.complex(mono[:, 0], mono[:, 1])
    predicted = predicted_difference(mask, mono)
    torch.testing.assert_close(torch.complex(predicted[:, 0], predicted[:, 1]), product)
    assert float(nvas_loss(predicted, predicted)) == 0.0


def test_binaural_encoder_weights_load_strictly_into_the_spatial_audio_encoder():
    model = tiny_model(seed=3)
    encoder = SpatialAudioEncoder(out_dim=24, **{key: TINY[key] for key in ENCODER_KEYS})
    encoder.binaural_encoder.load_state_dict(model.binaural_encoder.state_dict(), strict=True)
    model.eval(), encoder.eval()
    binaural = 0.1 * torch.randn(2, 2, 4000)
    torch.testing.assert_close(encoder.binaural_encoder(binaural), model.binaural_encoder(binaural))
    with pytest.raises(RuntimeError):
        SpatialAudioEncoder(**{**{key: TINY[key] for key in ENCODER_KEYS}, 'resnet_width': 32}
                            ).binaural_encoder.load_state_dict(model.binaural_encoder.state_dict())


def shoebox_views(directory, window_s: float) -> dict[str, torch.Tensor]:
    """Head-following binaural views of the first four pairs of a ShoeboxAV scene, from its ground truth."""
    dataset = FramePairDataset([directory], gap_s=1.0, stride=5, window_s=window_s)
    record = dataset.records[0]
    items = [dataset[index] for index in range(4)]

    def stacked(key):
        return torch.stack([item[key] for item in items])

    headings = {view: camera_heading_deg(stacked(f'azimuths_{view}_deg')[:, 0].numpy(), record.T_cam_array)
                for view in 'ab'}
    featurizer = AudioFeaturizer(record.sample_rate, record.mic_array, record.T_cam_array)
    return head_following_views(featurizer, stacked('audio_a'), stacked('audio_b'), headings['a'], headings['b'])


def test_head_following_views_are_hrtf_renders_at_the_given_headings():
    featurizer = AudioFeaturizer(16000, 'respeaker4', array_mount())
    audio = 0.1 * torch.randn(2, 2, 4, 4000)
    views = head_following_views(featurizer, audio[0], audio[1], [30.0, float('nan')], [300.0, 90.0])
    for key, index, heading in (('source', 0, 30.0), ('source', 1, 0.0), ('target', 0, 300.0), ('target', 1, 90.0)):
        window = audio[0 if key == 'source' else 1, index].numpy()
        expected = multichannel_to_binaural(window, featurizer.hrtf, heading)
        np.testing.assert_allclose(views[key][index].numpy(), expected, atol=1e-6)


def test_a_tiny_model_overfits_a_few_shoebox_pairs(tmp_path, one_torch_thread):
    config = SynthConfig(duration_s=3.0, image_size=(32, 24), array=load_array('respeaker4'), rotation_only=True,
                         num_sources=1)
    record = scene_with_static_talker(tmp_path / 'scene', config, seed=11)
    views = shoebox_views(record.directory, window_s=0.5)
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = nvas_step(model, views)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print(f'NVAS tiny overfit: loss {losses[0]:.3f} → {np.mean(losses[-5:]):.3f} in 40 steps')
    assert np.mean(losses[-5:]) < losses[0] / 2.0  # measured 2.52 → 0.92
    encoder = SpatialAudioEncoder(out_dim=8, **{key: TINY[key] for key in ENCODER_KEYS})
    encoder.binaural_encoder.load_state_dict(model.binaural_encoder.state_dict(), strict=True)
