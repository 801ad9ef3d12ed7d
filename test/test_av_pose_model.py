"""The pose networks of Table 1: late fusion equals vision-only at initialisation, audio masking, the gate,
the Chance baseline, and every kind's forward in both directions."""
from __future__ import annotations

import math

import pytest
import torch

from av_pose.models.av_pose import MODEL_KINDS, AudioGate, ChancePose, build_pose_model
from av_pose.models.reloc3r import build_reloc3r, reloc3r_keywords

AUDIO = {'binaural_dim': 32, 'resnet_width': 8}


def random_batch(size: int = 3, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {'image_a': torch.rand(size, 3, 48, 64, generator=generator) * 2 - 1,
            'image_b': torch.rand(size, 3, 48, 64, generator=generator) * 2 - 1,
            'doa_a': torch.rand(size, 360, generator=generator), 'doa_b': torch.rand(size, 360, generator=generator),
            'binaural_a': torch.randn(size, 2, 4000, generator=generator) * 0.1,
            'binaural_b': torch.randn(size, 2, 4000, generator=generator) * 0.1,
            'audio_ok': torch.ones(size, dtype=torch.bool)}


@pytest.fixture(scope='module')
def vision_weights() -> dict:
    torch.manual_seed(1)
    reloc3r = build_reloc3r('tiny')
    for parameter in reloc3r.parameters():  # non-trivial weights everywhere (biases are zero at init)
        parameter.data.add_(torch.randn_like(parameter) * 0.02)
    return reloc3r.state_dict()


@pytest.mark.parametrize('kind', ['av', 'av-gate', 'av-no-doa', 'av-no-binaural', 'reloc3r-av'])
def test_fused_model_equals_vision_only_at_initialisation(kind, vision_weights, one_torch_thread):
    vision = build_pose_model('vision', 'tiny')
    vision.vision.load_state_dict(vision_weights)
    fused = build_pose_model(kind, 'tiny', audio=AUDIO)
    fused.init_from_vision(vision_weights)
    batch = random_batch()
    vision.eval(), fused.eval()
    with torch.no_grad():
        expected, got = vision(batch), fused(batch)
    for want, have in zip(expected, got):
        assert torch.equal(want, have)
    # Both directions are inverse-consistent in shape and are proper rotations.
    rotation = got[0][:, :3, :3]
    assert torch.allclose(rotation @ rotation.transpose(1, 2), torch.eye(3).expand(3, 3, 3), atol=1e-5)


def test_audio_matters_after_training_but_not_where_unavailable(vision_weights, one_torch_thread):
    fused = build_pose_model('av', 'tiny', audio=AUDIO)
    fused.init_from_vision(vision_weights)
    with torch.no_grad():  # what training does: the audio columns become non-zero
        fused.vision.pose_head.proj.weight[:, 96:].normal_(0, 0.5)
    fused.eval()
    batch = random_batch()
    other = dict(batch, doa_a=torch.roll(batch['doa_a'], 90, dims=1))
    with torch.no_grad():
        T, T_other = fused(batch)[0], fused(other)[0]
        assert (T - T_other).abs().max() > 1e-3  # the DOA now changes the answer
        masked = dict(batch, audio_ok=torch.tensor([False, True, False]))
        masked_other = dict(other, audio_ok=masked['audio_ok'])
        T_masked, T_masked_other = fused(masked)[0], fused(masked_other)[0]
    assert torch.equal(T_masked[0], T_masked_other[0]) and torch.equal(T_masked[2], T_masked_other[2])
    assert (T_masked[1] - T_masked_other[1]).abs().max() > 1e-3


def test_frozen_encoder_gets_no_gradient(vision_weights):
    fused = build_pose_model('av', 'tiny', audio=AUDIO)
    fused.init_from_vision(vision_weights)
    T_a_b, T_b_a = fused(random_batch(2))
    (T_a_b.sum() + T_b_a.sum()).backward()
    assert all(p.grad is None for p in fused.vision.enc_blocks.parameters())
    assert fused.vision.dec_blocks[0].attn.qkv.weight.grad is not None
    assert fused.audio_encoder.fusion.weight.grad is not None or fused.audio_pair.weight.grad is not None


def test_gate_sees_a_sound_change_but_not_a_rotation():
    gate = AudioGate()
    batch = random_batch(1)
    t = torch.arange(4000) / 16000.0
    tone = torch.sin(2 * math.pi * 500 * t)[None, None].repeat(1, 2, 1)
    chirp = torch.sin(2 * math.pi * (300 + 3000 * t) * t)[None, None].repeat(1, 2, 1)
    peak = torch.exp(-0.5 * ((torch.arange(360) - 100.0) / 8.0) ** 2)[None]
    rotated = torch.roll(peak, 40, dims=1)
    same = gate.change_features(peak, rotated, tone, tone)[0]
    changed = gate.change_features(peak, peak * 0 + 0.5 + 0.5 * torch.rand(1, 360), tone, chirp)[0]
    assert same[0] < 0.01 and same[1] < 0.01  # same content; the DOA only rotated
    assert changed[0] > 0.1 and changed[1] > 0.2
    value = gate(batch['doa_a'], batch['doa_b'], batch['binaural_a'], batch['binaural_b'])
    assert value.shape == (1, 1) and 0.9 < float(value.detach()) <= 1.0  # starts open


def test_chance_is_the_mean_pose():
    chance = ChancePose()
    T = torch.eye(4).repeat(4, 1, 1)
    angles = torch.tensor([0.1, 0.2, 0.3, 0.4])
    T[:, 0, 0], T[:, 0, 1], T[:, 1, 0], T[:, 1, 1] = angles.cos(), -angles.sin(), angles.sin(), angles.cos()
    T[:, :3, 3] = torch.tensor([0.0, 0.0, 2.0])
    chance.fit(T)
    T_a_b, T_b_a = chance({'audio_ok': torch.ones(5, dtype=torch.bool)})
    assert T_a_b.shape == (5, 4, 4)
    assert math.isclose(math.atan2(float(T_a_b[0, 1, 0]), float(T_a_b[0, 0, 0])), 0.25, abs_tol=1e-4)
    assert torch.allclose(T_a_b[0, :3, 3], torch.tensor([0.0, 0.0, 1.0]))
    assert math.isclose(math.atan2(float(T_b_a[0, 1, 0]), float(T_b_a[0, 0, 0])), -0.25, abs_tol=1e-4)


@pytest.mark.parametrize('kind', [k for k in MODEL_KINDS if k != 'chance'])
def test_every_kind_predicts_both_directions(kind, one_torch_thread):
    model = build_pose_model(kind, 'tiny', audio=AUDIO, embed_dim=32, head_width=32)
    T_a_b, T_b_a = model(random_batch(2))
    assert T_a_b.shape == T_b_a.shape == (2, 4, 4) and torch.isfinite(T_a_b).all()
    assert torch.allclose(torch.det(T_a_b[:, :3, :3]), torch.ones(2), atol=1e-4)


def test_reloc3r_official_weights_fit_the_fused_model():
    official = build_reloc3r('tiny').state_dict()
    fused = build_pose_model('av', 'tiny', audio=AUDIO)
    fused.init_from_vision(official)
    assert fused.vision.pose_head.proj.weight.shape[1] == 2 * reloc3r_keywords('tiny')['dec_embed_dim']
    with pytest.raises(ValueError, match='missing'):
        fused.init_from_vision({k: v for k, v in official.items() if not k.startswith('dec_norm')})


def test_doa_correlation_peaks_at_the_yaw_shift_and_keeps_the_initial_equality(vision_weights, one_torch_thread):
    from av_pose.models.av_pose import circular_correlation

    peak = torch.exp(-0.5 * ((torch.arange(360) - 100.0) / 6.0) ** 2)[None] + 0.3 * torch.exp(
        -0.5 * ((torch.arange(360) - 250.0) / 6.0) ** 2)[None]
    assert int(circular_correlation(peak, torch.roll(peak, -30, dims=1)).argmax()) == 330  # camera turned +30°
    vision = build_pose_model('vision', 'tiny')
    vision.vision.load_state_dict(vision_weights)
    fused = build_pose_model('av', 'tiny', audio=AUDIO, doa_correlation=True)
    assert fused.audio_pair.in_features == 2 * 96 + 360
    fused.init_from_vision(vision_weights)
    vision.eval(), fused.eval()
    batch = random_batch()
    with torch.no_grad():
        assert torch.equal(vision(batch)[0], fused(batch)[0])
