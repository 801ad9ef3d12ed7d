"""SLfM: conventions, losses with numbers, the label-free dataset, the lower median, and tiny training runs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from av_pose.audio.arrays import load_array
from av_pose.audio.binaural import SphericalHeadHrtf, binauralize
from av_pose.errors import UserInputError
from av_pose.geometry import azimuth_deg_in_frame, make_transform, rotation_from_ypr
from av_pose.metrics.azimuth import lower_median, slfm_summary
from av_pose.models.slfm import SLFM_RATE, CrossViewBinauralizer, SlfmNet, featurize_binaural
from av_pose.models.slfm_losses import (
    gcc_phat_lag,
    geometric_loss,
    head_lag_table,
    iid_loss,
    iid_target,
    image_shift_target,
    image_yaw_target,
    itd_azimuth_target,
    itd_onset_azimuth_target,
    itd_target,
    onset_gcc_phat_lag,
    reflect,
    rotation_sign_loss,
    rotation_yaw_loss,
    side_angle_loss,
    slfm_losses,
    symmetry_loss,
    visual_cue_name,
)
from av_pose.scene.generate import SynthConfig

from scene_fixtures import scene_with_static_talker

AUDIO = {'embed_dim': 32, 'hidden': 16, 'width': 8, 'ipd': True}
VISUAL = {'image_size': (64, 48), 'width': 8, 'feature_dim': 32, 'head_channels': 16}
UNET = {'base_channels': 8, 'depth': 4}


def radians(*degrees: float) -> torch.Tensor:
    return torch.deg2rad(torch.tensor(degrees, dtype=torch.float64))


@pytest.fixture(scope='module')
def scenes(tmp_path_factory) -> list[str]:
    """Two short rotation-only scenes heard by the binaural preset: one static talker, active throughout."""
    root = tmp_path_factory.mktemp('slfm')
    config = SynthConfig(duration_s=3.0, fps=10.0, image_size=(64, 48), array=load_array('binaural'),
                         rotation_only=True, num_sources=1)
    return [str(scene_with_static_talker(root / f'scene_{i:05d}', config, seed=11 + i).directory) for i in range(2)]


# ---- conventions and shapes ----

def test_featurize_binaural_resamples_and_checks_channels():
    audio = np.random.default_rng(0).standard_normal((2, 48000)).astype(np.float32)
    out = featurize_binaural(audio, 48000)
    assert out.shape == (1, 2, 16000) and out.dtype == torch.float32
    assert featurize_binaural(torch.ones(3, 2, 800), SLFM_RATE).shape == (3, 2, 800)
    with pytest.raises(UserInputError, match='2-channel'):
        featurize_binaural(np.zeros((4, 1600)), SLFM_RATE)


def test_network_outputs_have_the_documented_shapes_and_ranges():
    torch.manual_seed(0)
    model = SlfmNet(AUDIO, VISUAL).eval()
    with torch.no_grad():
        theta = model.audio(0.1 * torch.randn(3, 2, 8000))
        phi = model.visual(torch.rand(3, 3, 48, 64), torch.rand(3, 3, 96, 128))  # resized inside
        features = model.visual.features(torch.rand(3, 3, 48, 64), torch.rand(3, 3, 48, 64))
    assert theta.shape == phi.shape == (3,)
    assert theta.abs().max() < math.pi and phi.abs().max() < math.pi / 2
    assert features.shape == (3, 32)


@pytest.mark.parametrize('onset', [False, True])
def test_audio_network_hears_the_doa_spectrum_of_the_head(scenes, onset):
    from av_pose.data.slfm_pairs import build_slfm_pairs
    from av_pose.metrics.azimuth import fold_front_deg

    pairs = build_slfm_pairs(scenes, gaps_s=[1.0], window_s=1.0, stride=2, image_size=(64, 48), labelled=True)
    batch = torch.utils.data.default_collate([pairs[i] for i in range(len(pairs))])
    torch.manual_seed(0)
    model = SlfmNet({**AUDIO, 'doa': True, 'doa_onset': onset}, VISUAL).eval()
    spectrum = model.audio.doa_spectrum(batch['audio_s'])
    assert spectrum.shape == (len(pairs), 360) and float(spectrum.min()) >= 0.0 and float(spectrum.max()) <= 1.0
    heard = torch.isfinite(batch['azimuth_s_deg'])
    peaks = spectrum.argmax(1).double() + 0.5
    errors = np.abs(fold_front_deg(peaks[heard].numpy()) - fold_front_deg(batch['azimuth_s_deg'][heard].numpy()))
    assert int(heard.sum()) >= 3 and float(np.median(errors)) < 10.0  # a talker 1.5 m away, head steering
    mirrored = model.audio.doa_spectrum(batch['audio_s'].flip(1))  # ears swapped: the spectrum mirrored
    assert float((mirrored - spectrum[:, (-torch.arange(360) - 1) % 360]).abs().max()) < 0.05
    with torch.no_grad():
        theta = model.audio(batch['audio_s'])
    assert theta.shape == (len(pairs),) and set(model.state_dict()) >= {'audio.doa.0.weight', 'audio.head.1.weight'}


def test_rotation_averages_both_orders_of_the_views():
    """`SlfmNet.rotation` = (φ(s→t) − φ(t→s)) / 2: exactly antisymmetric in the views, which the raw visual
    network (random weights here) is not."""
    torch.manual_seed(1)
    model = SlfmNet(AUDIO, VISUAL).eval()
    image_s, image_t = torch.rand(4, 3, 48, 64), torch.rand(4, 3, 48, 64)
    with torch.no_grad():
        forward, backward = model.visual(image_s, image_t), model.visual(image_t, image_s)
        averaged = model.rotation(image_s, image_t)
        torch.testing.assert_close(averaged, 0.5 * (forward - backward))
        torch.testing.assert_close(model.rotation(image_t, image_s), -averaged)
    assert (forward + backward).abs().max() > 1e-4


def test_pretext_encoders_load_into_the_slfm_heads():
    torch.manual_seed(0)
    pretext = CrossViewBinauralizer(AUDIO, VISUAL, UNET)
    batch = {'audio_s': 0.1 * torch.randn(2, 2, 8000), 'audio_t': 0.1 * torch.randn(2, 2, 8000),
             'image_s': torch.rand(2, 3, 48, 64), 'image_t': torch.rand(2, 3, 48, 64)}
    assert pretext.loss(batch).ndim == 0
    model = SlfmNet(AUDIO, VISUAL)
    result = model.load_state_dict(pretext.encoder_state(), strict=False)
    assert not result.unexpected_keys
    assert {key.split('.')[1] for key in result.missing_keys} == {'head'}  # the audio angle MLP
    assert model.audio.encoder.features(batch['audio_s']).shape[1] == 6  # SLfM's 4 channels + cos, sin IPD


def test_static_source_seen_by_a_yawing_rig_has_theta_t_equal_theta_s_minus_phi():
    source = np.array([[1.0, 2.0, 0.0]])  # world, z up
    theta_s = float(azimuth_deg_in_frame(source, make_transform(rotation_from_ypr(np.radians(10.0), 0, 0),
                                                                  np.zeros(3)))[0])
    theta_t = float(azimuth_deg_in_frame(source, make_transform(rotation_from_ypr(np.radians(35.0), 0, 0),
                                                                  np.zeros(3)))[0])
    phi = 25.0  # the rig turned 25° counter-clockwise from s to t
    assert math.isclose((theta_s - phi - theta_t + 180) % 360 - 180, 0.0, abs_tol=1e-9)
    assert float(geometric_loss(radians(theta_s), radians(theta_t), radians(phi))) < 1e-12
    wrong_sign = 1.0 - math.cos(math.radians(theta_s - theta_t + phi))
    assert wrong_sign > 0.09
    # ... but reflecting both angles (the source behind instead of in front) reverses the apparent motion, so the
    # reflection-minimised loss cannot tell φ from −φ: the front/back ambiguity of a two-microphone array
    assert float(geometric_loss(reflect(radians(theta_s)), reflect(radians(theta_t)), radians(-phi))) < 1e-12


# ---- losses ----

@pytest.mark.parametrize('theta_s, phi', [(30.0, 20.0), (-60.0, 45.0), (150.0, -30.0), (100.0, 80.0)])
def test_geometric_loss_is_zero_for_consistent_angles_under_any_reflection(theta_s, phi):
    s, p = radians(theta_s), radians(phi)
    t = s - p
    for a in (s, reflect(s)):
        for b in (t, reflect(t)):
            assert float(geometric_loss(a, b, p)) < 1e-12
    off = float(geometric_loss(s, t + radians(20.0), p))  # 20° off; a reflection may come closer, never 0
    assert 1e-3 < off <= 1 - math.cos(math.radians(20.0)) + 1e-12


def test_geometric_loss_takes_the_best_reflection_per_item():
    s, t, p = radians(10.0, 0.0), radians(-10.0, 0.0), radians(20.0, 30.0)
    # item 0: consistent (0); item 1: θ_s − θ_t − φ = −30°, reflections give −30°, −30° ± 180° → 1 − cos 30°
    expected = (0.0 + (1 - math.cos(math.radians(30.0)))) / 2
    assert float(geometric_loss(s, t, p)) == pytest.approx(expected, abs=1e-9)


def test_symmetry_loss_is_zero_for_mirrored_predictions_only():
    theta, phi = radians(40.0, -70.0), radians(15.0, -5.0)
    assert float(symmetry_loss(theta, -theta, phi, -phi)) < 1e-12
    assert float(symmetry_loss(theta, theta, phi, -phi)) == pytest.approx(
        np.mean(1 - np.cos(np.radians([80.0, -140.0]))), abs=1e-9)
    assert float(symmetry_loss(theta, -theta, phi, phi)) == pytest.approx(
        np.mean(1 - np.cos(np.radians([30.0, -10.0]))), abs=1e-9)


def test_side_targets_and_loss_prefer_the_louder_earlier_side():
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(16000).astype(np.float32)
    hrtf = SphericalHeadHrtf(SLFM_RATE)
    left, right = binauralize(noise, hrtf, 60.0), binauralize(noise, hrtf, -60.0)
    target = iid_target(torch.from_numpy(np.stack([left, right])))
    assert target.tolist() == [1.0, 0.0]
    assert itd_target(torch.from_numpy(np.stack([left, right, np.stack([noise, noise])]))).tolist() == [1.0, 0.0, 0.5]
    good = float(iid_loss(radians(60.0, -60.0).float(), target))
    bad = float(iid_loss(radians(-60.0, 60.0).float(), target))
    assert good < 0.1 < 2.0 < bad


def test_itd_azimuth_target_reads_the_heads_azimuth_from_the_lag():
    """The soft side cue inverts the spherical head's ITD: sources at 10°, 30°, 60° on either side within 5°.

    (The head shadow's low-pass delays the far ear a little more than Woodworth's formula: 60° reads as 64°.)"""
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(16000).astype(np.float32)
    hrtf = SphericalHeadHrtf(SLFM_RATE)
    azimuths = [10.0, 30.0, 60.0, -10.0, -30.0, -60.0]
    audio = torch.from_numpy(np.stack([binauralize(noise, hrtf, azimuth) for azimuth in azimuths]))
    heard = np.degrees(np.arcsin(2.0 * itd_azimuth_target(audio, hrtf.head_radius_m).numpy() - 1.0))
    assert np.abs(heard - azimuths).max() < 5.0
    assert np.abs(heard[:2] - azimuths[:2]).max() < 2.0
    centre = itd_azimuth_target(torch.from_numpy(np.stack([noise, noise]))[None])
    assert float(centre[0]) == pytest.approx(0.5, abs=1e-6)


def test_onset_lag_follows_the_direct_sound_where_a_longer_echo_from_the_other_side_wins_the_window():
    """Four 20 ms noise bursts reach the left ear 4 samples first; 30 ms later a 150 ms echo of each comes from the
    right (the left ear 5 samples behind) and holds most of the window's frames: the whole window's GCC-PHAT reads
    the echo (−5), the onset-weighted one the direct sound (+4)."""
    rng = np.random.default_rng(3)
    left, right = np.zeros(SLFM_RATE + 4000), np.zeros(SLFM_RATE + 4000)
    for start_s in (0.1, 0.35, 0.6, 0.85):
        start, burst = int(start_s * SLFM_RATE), rng.standard_normal(320)
        echo = np.convolve(burst, rng.standard_normal(2400) * np.exp(-np.arange(2400) / 800))[:2400] * 0.3
        left[start:start + 320] += burst
        right[start + 4:start + 324] += burst
        right[start + 480:start + 2880] += echo
        left[start + 485:start + 2885] += echo
    audio = torch.tensor(np.stack([left, right])[:, :SLFM_RATE], dtype=torch.float32)[None]
    assert float(gcc_phat_lag(audio, subsample=True)[0]) == pytest.approx(-5.0, abs=0.5)
    assert float(onset_gcc_phat_lag(audio)[0]) == pytest.approx(4.0, abs=0.5)


def test_onset_itd_azimuth_target_reads_the_heads_azimuth_through_its_own_lag_table():
    """The onset cue's lag becomes an azimuth through the head's own readings (its band stretches the lag beyond
    Woodworth's formula): noise the table never heard, from 10°…85° on either side, read within 1°."""
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(16000).astype(np.float32)
    hrtf = SphericalHeadHrtf(SLFM_RATE)
    azimuths = [10.0, 30.0, 60.0, 85.0, -10.0, -30.0, -60.0, -85.0]
    audio = torch.from_numpy(np.stack([binauralize(noise, hrtf, azimuth) for azimuth in azimuths]))
    heard = np.degrees(np.arcsin(2.0 * itd_onset_azimuth_target(audio).numpy() - 1.0))
    assert np.abs(heard - azimuths).max() < 1.0
    lags, table_azimuths = head_lag_table(hrtf.head_radius_m)
    assert np.all(np.diff(lags) > 0) and table_azimuths[-1] == pytest.approx(math.pi / 2)
    centre = itd_onset_azimuth_target(torch.from_numpy(np.stack([noise, noise]))[None])
    assert float(centre[0]) == pytest.approx(0.5, abs=1e-3)


def test_cauchy_side_loss_settles_on_the_cues_common_reading_where_cross_entropy_takes_its_mean():
    """A source at 70° whose soft cue reads 70° in 85 % of its windows and −70° in the rest (the wrong side).

    Cross-entropy is least where (sin θ + 1) / 2 is the targets' mean (sin θ = 0.7·sin 70°: 41°); the Cauchy loss
    stays within 2° of 70°, on either front/back image of the source (70° and 110° fold to the same side).
    """
    reading = torch.tensor([70.0] * 17 + [-70.0] * 3)
    target = (torch.sin(torch.deg2rad(reading)) + 1.0) / 2.0
    for loss_fn, start in ((iid_loss, 20.0), (side_angle_loss, 20.0), (side_angle_loss, 150.0)):
        theta = torch.tensor(math.radians(start), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.Adam([theta], lr=0.02)
        for _ in range(600):
            optimizer.zero_grad()
            loss_fn(theta.expand(len(target)), target.double()).backward()
            optimizer.step()
        folded = math.degrees(math.asin(math.sin(theta.item())))
        if loss_fn is iid_loss:
            assert folded == pytest.approx(math.degrees(math.asin(0.7 * math.sin(math.radians(70.0)))), abs=1.0)
        else:
            assert folded == pytest.approx(70.0, abs=2.0)
    lateral = torch.tensor([math.pi / 2, -math.pi / 2], requires_grad=True)
    side_angle_loss(lateral, torch.tensor([0.5, 0.5])).backward()
    assert torch.isfinite(lateral.grad).all()


def test_visual_sign_cue_follows_the_image_shift_and_the_hinge_only_fixes_the_sign(scenes):
    from av_pose.scene.format import read_scene

    image = torch.tensor(np.array(read_scene(scenes[0]).frame(0))).permute(2, 0, 1).float()[None] / 255.0
    moved = torch.cat([image.roll(5, dims=-1), image.roll(-5, dims=-1), image])
    target = image_shift_target(image.expand(3, -1, -1, -1), moved)
    assert target.tolist() == [1.0, 0.0, 0.5]  # content moved right: the camera turned left (φ > 0)
    phi = radians(10.0, -10.0, 30.0).float()
    assert float(rotation_sign_loss(phi, target)) == 0.0
    wrong = float(rotation_sign_loss(-phi, target))
    assert wrong == pytest.approx(2 * math.sin(math.radians(10.0)) / 3, abs=1e-6)


def test_visual_yaw_cue_measures_the_turn_through_the_intrinsics_without_labels(scenes):
    from av_pose.data.slfm_pairs import build_slfm_pairs

    pairs = build_slfm_pairs(scenes, gaps_s=[1.0], window_s=0.5, stride=2, image_size=(64, 48), labelled=True)
    batch = torch.utils.data.default_collate([pairs[i] for i in range(len(pairs))])
    assert torch.isfinite(batch['K']).all() and float(batch['K'][0, 0, 2]) == pytest.approx(31.5, abs=1e-4)
    yaw, std = image_yaw_target(batch['image_s'], batch['image_t'], batch['K'])
    answered = torch.isfinite(std)
    truth = torch.deg2rad(batch['rotation_deg'])
    assert int(answered.sum()) >= 0.7 * len(pairs) and float(truth.abs().max()) > math.radians(5.0)
    errors = torch.rad2deg((yaw - truth)[answered]).abs()
    assert float(errors.median()) < 1.0 and float(errors.max()) < 4.0  # the turn's size, not only its sign
    unknown = image_yaw_target(batch['image_s'][:2], batch['image_t'][:2], torch.full((2, 3, 3), float('nan')))[1]
    assert torch.isinf(unknown).all()
    sigma = torch.tensor([0.02, 0.02, math.inf])
    phi, target = torch.tensor([0.1, 0.12, 3.0]), torch.tensor([0.1, 0.1, 0.0])
    assert float(rotation_yaw_loss(phi, target, sigma)) == pytest.approx(1.0 / 3, rel=1e-3)  # 0, one σ, ignored
    assert visual_cue_name(True) == 'sign' and visual_cue_name(False) == 'none' and visual_cue_name('yaw') == 'yaw'
    with pytest.raises(UserInputError, match='visual cue'):
        visual_cue_name('shift')


def test_lower_median_is_torchs_median():
    values = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    assert lower_median(values) == float(torch.median(torch.tensor(values))) == 2.6
    assert np.median(values) == pytest.approx(2.8)
    assert lower_median([5.0, 1.0, 2.0]) == 2.0
    summary = slfm_summary([0.0, 10.0, 20.0, 30.0], [0.0, 0.0, 0.0, 0.0])
    assert summary['median_deg'] == pytest.approx(10.0)  # numpy's would be 15


# ---- data ----

def test_self_supervised_items_carry_no_labels(scenes):
    from av_pose.data.slfm_pairs import LABEL_KEYS, SELF_SUPERVISED_KEYS, build_slfm_pairs

    unlabelled = build_slfm_pairs(scenes, gaps_s=[1.0], window_s=1.0, stride=5, image_size=(64, 48))
    item = unlabelled[(0, 1)]
    assert tuple(sorted(item)) == tuple(sorted(SELF_SUPERVISED_KEYS))
    assert item['audio_s'].shape == (2, 16000) and item['image_t'].shape == (3, 48, 64)
    labelled = build_slfm_pairs(scenes, gaps_s=[1.0], window_s=1.0, stride=5, image_size=(64, 48), labelled=True)
    assert set(labelled[0]) == set(SELF_SUPERVISED_KEYS) | set(LABEL_KEYS)
    torch.testing.assert_close(labelled[0]['audio_s'], unlabelled[0]['audio_s'])


def test_labelled_rotation_matches_the_azimuth_change(scenes):
    from av_pose.data.slfm_pairs import build_slfm_pairs

    pairs = build_slfm_pairs(scenes, gaps_s=[1.0], window_s=1.0, stride=2, image_size=(64, 48), labelled=True)
    checked = 0
    for index in range(len(pairs)):
        item = pairs[index]
        s, t, phi = (float(item[k]) for k in ('azimuth_s_deg', 'azimuth_t_deg', 'rotation_deg'))
        if np.isfinite(s) and np.isfinite(t):
            assert abs((s - t - phi + 180) % 360 - 180) < 0.5  # a static talker: θ_t = θ_s − φ
            checked += 1
    assert checked >= 3 and max(abs(float(pairs[i]['rotation_deg'])) for i in range(len(pairs))) > 2.0


def test_hm3d_ss_pairs_get_the_head_yaw(tmp_path):
    from test_dataset_readers import write_hm3d_pair  # SLfM's layout, views turned 30° left, camera pitched

    from av_pose.data.slfm_pairs import build_slfm_pairs

    write_hm3d_pair(tmp_path / 'scene' / 'pair-0000')
    item = build_slfm_pairs([f'hm3d-ss:{tmp_path}'], [1.0], 1.0, 1, (64, 48), labelled=True)[0]
    assert float(item['rotation_deg']) == pytest.approx(30.0, abs=1e-3)
    assert float(item['azimuth_s_deg'] - item['azimuth_t_deg']) == pytest.approx(30.0, abs=1e-3)
    assert item['audio_s'].shape == (2, 16000) and item['image_s'].shape == (3, 48, 64)


# ---- training ----

def _batch(scenes, labelled: bool) -> dict:
    from av_pose.data.slfm_pairs import build_slfm_pairs

    pairs = build_slfm_pairs(scenes, gaps_s=[0.5, 1.0], window_s=0.5, stride=3, image_size=(64, 48),
                             labelled=labelled)
    return torch.utils.data.default_collate([pairs[i] for i in range(min(8, len(pairs)))])


def _fit(loss_fn, model, steps: int) -> list[float]:
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(steps):
        loss, _ = loss_fn(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize('visual_cue, side', [('sign', ('itd', 'bce')), ('yaw', ('itd', 'bce')),
                                              ('yaw', ('itd-azimuth', 'cauchy')),
                                              ('yaw', ('itd-onset-azimuth', 'cauchy'))])
def test_tiny_slfm_loss_decreases_without_labels(scenes, visual_cue, side):
    torch.manual_seed(0)
    batch = _batch(scenes, labelled=False)
    side_cue, side_loss = side
    losses = _fit(lambda model: slfm_losses(model, batch, side_cue, visual_cue=visual_cue, side_loss=side_loss),
                  SlfmNet(AUDIO, VISUAL), steps=12)
    assert min(losses[-3:]) < 0.8 * losses[0]


def test_tiny_supervised_loss_decreases(scenes):
    from av_pose.train.stages.slfm import SlfmSupervisedStage

    torch.manual_seed(0)
    batch = _batch(scenes, labelled=True)
    stage = SlfmSupervisedStage()
    losses = _fit(lambda model: stage.loss(model, batch), SlfmNet(AUDIO, None), steps=12)
    assert min(losses[-3:]) < 0.7 * losses[0]


def test_stages_run_binauralize_then_slfm_and_the_checkpoint_loads_strictly(scenes, tmp_path):
    from av_pose.eval.azimuth import load_slfm_azimuth
    from av_pose.train.config import load_config
    from av_pose.train.loop import train

    common = [f'data.train={scenes}', f'data.val={scenes[:1]}', 'data.gaps_s=[1.0]', 'data.window_s=0.5',
              'data.stride=3', 'data.val_stride=6', 'optim.batch_size=4', 'optim.epochs=1', 'log.tensorboard=off',
              f'model.slfm.audio={AUDIO}', f'model.slfm.visual={ {**VISUAL, "image_size": [64, 48]} }',
              f'model.slfm.unet={UNET}']
    train(load_config(None, ['stage=binauralize', *common]), tmp_path / 'bin', progress=False, stop_after_steps=2)
    pretext = torch.load(tmp_path / 'bin' / 'checkpoint-last.pt', weights_only=True)
    metrics = train(load_config(None, ['stage=slfm', f'init={tmp_path / "bin" / "checkpoint-last.pt"}', *common,
                                       'model.slfm.side_cue=itd-azimuth', 'model.slfm.side_loss=cauchy',
                                       'optim.lr=1e-12', 'optim.lr_min=1e-14']), tmp_path / 'slfm', progress=False)
    assert {'loss', 'azimuth_mae_deg', 'rotation_mae_deg', 'score'} <= set(metrics)
    state = torch.load(tmp_path / 'slfm' / 'checkpoint-last.pt', weights_only=True)['model']
    key = 'resnet.conv1.weight'  # lr 1e-12: the encoder is still the pretext's
    torch.testing.assert_close(state[f'audio.encoder.{key}'], pretext['model'][f'unet.binaural_encoder.{key}'])
    predict = load_slfm_azimuth(tmp_path / 'slfm' / 'checkpoint-last.pt')
    azimuths = predict(np.zeros((3, 2, 24000), dtype=np.float32), 48000)
    assert azimuths.shape == (3,) and np.all(np.abs(azimuths) < 180.0)
    with pytest.raises(UserInputError, match='not an SLfM'):
        load_slfm_azimuth(tmp_path / 'bin' / 'checkpoint-last.pt')

    from av_pose.eval.azimuth import evaluate_azimuth

    table = evaluate_azimuth(scenes, tmp_path / 'slfm' / 'checkpoint-last.pt', window_s=0.5, stride=6,
                             sign_calibration=scenes[:1])
    assert {'chance_zero', 'chance_random', 'slfm', 'normmusic', 'srp_phat', 'normmusic_free_field',
            'srp_phat_free_field'} == set(table['azimuth'])
    assert {'chance_zero', 'chance_random', 'slfm', 'slfm_sign_calibrated', 'image_shift'} == set(table['rotation'])
    assert table['rotation']['image_shift']['mean_deg'] < 2.0 < table['rotation']['chance_zero']['mean_deg']
    # A static talker 1.5 m away in a room: SRP-PHAT on the two channels beats always guessing 0° (folded)
    assert table['azimuth']['srp_phat']['mean_deg'] < table['azimuth']['chance_zero']['mean_deg']
    assert table['settings']['slfm_rotation_sign'] in (1.0, -1.0)
