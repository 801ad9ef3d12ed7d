"""Parallax of the audio yaw: the predicted bearing change of the heard sources against exact geometry, and the
correction on ShoeboxAV rigs that walk past a talker (pyroomacoustics rooms)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from spectrum_fixtures import peaks_spectrum

from av_pose.audio.arrays import load_array
from av_pose.eval.pairs import scene_pose_pairs
from av_pose.pose.audio_yaw import AudioYawEstimator
from av_pose.pose.geometric import GeometricPoseEstimator
from av_pose.pose.parallax import SOURCE_DISTANCE_M, array_travel, predicted_parallax_deg
from av_pose.pose.yaw import yaw_in_array_deg
from av_pose.scene.generate import SynthConfig

from scene_fixtures import scene_with_static_talker


def bearing_change_deg(azimuth_deg: float, distance_m: float, travel_m) -> float:
    """Exact change of a source's azimuth when the array moves by `travel_m` without turning, degrees."""
    theta = np.radians(azimuth_deg)
    source = distance_m * np.array([np.cos(theta), np.sin(theta)])
    moved = source - np.asarray(travel_m, dtype=float)[:2]
    return float((np.degrees(np.arctan2(moved[1], moved[0])) - azimuth_deg + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize('azimuth_deg, travel_m', [(90.0, (0.3, 0.0, 0.0)), (-135.0, (0.2, -0.1, 0.05)),
                                                   (30.0, (-0.4, 0.0, 0.0)), (0.0, (0.5, 0.0, 0.0))])
def test_one_source_moves_as_the_geometry_says(azimuth_deg, travel_m):
    spectrum = peaks_spectrum([azimuth_deg % 360.0], [1.0])
    predicted = predicted_parallax_deg(spectrum, np.array(travel_m), distance_m=2.5)
    exact = bearing_change_deg(azimuth_deg, 2.5, travel_m)
    assert predicted == pytest.approx(exact, abs=0.05)
    if azimuth_deg == 0.0:
        assert predicted == pytest.approx(0.0, abs=0.05)     # a source along the travel does not move
    if azimuth_deg == 90.0:
        assert predicted == pytest.approx(6.84, abs=0.05)    # atan2(2.5, −0.3) − 90°: a source on the left falls behind


def test_peaks_weigh_with_their_height_squared_and_the_floor_is_left_out():
    travel = np.array([0.0, 0.4, 0.0])
    spectrum = peaks_spectrum([0.0, 120.0, 250.0], [1.0, 0.5, 0.08])   # the third under 15 % of the range
    one, two = bearing_change_deg(0.0, 3.0, travel), bearing_change_deg(120.0, 3.0, travel)
    heights = spectrum[[0, 120]]
    expected = (heights[0] ** 2 * one + heights[1] ** 2 * two) / np.sum(heights ** 2)
    assert predicted_parallax_deg(spectrum, travel, distance_m=3.0) == pytest.approx(expected, abs=0.1)
    assert abs(one) > 7.0 and abs(two) > 3.0 and np.sign(one) != np.sign(two)   # a real mix, not one peak


def test_nothing_to_correct_without_travel_peaks_or_finite_input():
    spectrum = peaks_spectrum([60.0], [1.0])
    assert predicted_parallax_deg(spectrum, np.zeros(3)) == 0.0
    assert predicted_parallax_deg(np.full(360, 0.3), np.array([0.3, 0.0, 0.0])) == 0.0
    assert predicted_parallax_deg(spectrum, np.array([np.nan, 0.0, 0.0])) == 0.0
    assert predicted_parallax_deg(spectrum, np.array([0.3, 0.0, 0.0]), distance_m=0.0) == 0.0
    # a jump of the scale's reference (metres in one pair) is no travel to predict sources 3 m away from
    assert predicted_parallax_deg(spectrum, np.array([1.6, 0.0, 0.0]), distance_m=3.0) == 0.0
    assert abs(predicted_parallax_deg(spectrum, np.array([1.4, 0.0, 0.0]), distance_m=3.0)) > 10.0
    assert SOURCE_DISTANCE_M == 3.0


@pytest.fixture(scope='module')
def walking_scenes(tmp_path_factory):
    """A talker 1.2 m from where the rig starts; the rig walks and turns (ShoeboxAV's hand-held paths)."""
    root = tmp_path_factory.mktemp('walking')
    config = SynthConfig(duration_s=8.0, image_size=(32, 24), array=load_array('respeaker4'), num_sources=1)
    return [scene_with_static_talker(root / f'scene_{seed}', config, seed, distance_m=1.2) for seed in (31, 32, 33)]


def test_the_walking_rigs_audio_yaw_is_closer_with_its_travel(walking_scenes):
    # Each pair gets its true travel as the prior (the odometry's is tested in test_odometry): the correction must
    # take off a good part of the parallax error, and a pair with no prior must give the alignment's yaw unchanged.
    estimator, plain = AudioYawEstimator(), AudioYawEstimator(source_distance_m=0.0)
    before, after, travelled = [], [], []
    for record in walking_scenes:
        items = list(scene_pose_pairs(record, 1.0, stride=2))
        with_prior = [replace(pair, translation_prior_m=T_a_b[:3, 3]) for pair, T_a_b, _ in items]
        corrected = estimator.estimate_batch(with_prior)
        unchanged = estimator.estimate_batch([pair for pair, _, _ in items])
        references = plain.estimate_batch([pair for pair, _, _ in items])
        for prior_pair, (_, T_a_b, _), fixed, alone, reference in zip(with_prior, items, corrected, unchanged,
                                                                       references):
            assert alone.parallax_deg is None and alone.yaw_deg == reference.yaw_deg
            if not (fixed.ok and reference.ok):
                continue
            true = yaw_in_array_deg(T_a_b[:3, :3], record.T_cam_array)
            before.append(abs((reference.yaw_deg - true + 180.0) % 360.0 - 180.0))
            after.append(abs((fixed.yaw_deg - true + 180.0) % 360.0 - 180.0))
            assert fixed.yaw_deg == pytest.approx(
                (reference.yaw_deg + fixed.parallax_deg + 180.0) % 360.0 - 180.0, abs=1e-9)
            travelled.append(np.linalg.norm(array_travel(prior_pair)[:2]))
    before, after = np.array(before), np.array(after)
    print(f'walking past a talker 1.2 m away: {len(before)} pairs, median travel {np.median(travelled):.2f} m; '
          f'yaw error median {np.median(before):.2f}° → {np.median(after):.2f}°, '
          f'mean {before.mean():.2f}° → {after.mean():.2f}°')
    assert len(before) >= 30 and np.median(travelled) > 0.15
    assert np.median(after) < 0.8 * np.median(before)
    assert after.mean() < 0.85 * before.mean()


def test_geometric_reports_the_parallax_and_trusts_the_corrected_yaw_more(walking_scenes):
    record = walking_scenes[0]
    items = list(scene_pose_pairs(record, 1.0, stride=4))
    estimator = GeometricPoseEstimator(use_vision=False)
    plain = estimator.estimate_batch([pair for pair, _, _ in items])
    hinted = estimator.estimate_batch([replace(pair, translation_prior_m=T_a_b[:3, 3]) for pair, T_a_b, _ in items])
    both = [(p, h) for p, h in zip(plain, hinted) if p.valid and h.valid]
    assert len(both) >= 10
    for p, h in both:
        assert 'audio_parallax_deg' not in p.info and np.isfinite(h.info['audio_parallax_deg'])
        assert h.info['audio_shift_deg'] == pytest.approx(
            (p.info['audio_shift_deg'] + h.info['audio_parallax_deg'] + 180.0) % 360.0 - 180.0, abs=1e-9)
        assert h.info['audio_std_deg'] == p.info['audio_std_deg']       # the parallax bound stays
    assert np.median([abs(h.info['audio_parallax_deg']) for _, h in both]) > 1.0


def test_fused_with_vision_the_alignments_own_yaw_updates_it(walking_scenes):
    # The correction serves the pairs the audio answers alone; fused with vision (the essential matrix or the image
    # shift) the alignment's own yaw updates it: with the true travel, corrected yaws in those updates cost 0.3-0.7°
    # of heading in the odometry of clean and ground-robot scenes (docs/results.md). The travel still reaches the
    # image shift (its own parallax, test_geometric), so the fused answers are those of an audio yaw never corrected.
    estimator = GeometricPoseEstimator(audio_skip_below_deg=0.0)   # the audio for every pair
    uncorrected = GeometricPoseEstimator(audio_skip_below_deg=0.0, source_distance_m=0.0)
    fused = alone = 0
    for record in walking_scenes:
        items = list(scene_pose_pairs(record, 1.0, stride=4))
        plain = estimator.estimate_batch([pair for pair, _, _ in items])
        hinted_pairs = [replace(pair, translation_prior_m=T_a_b[:3, 3]) for pair, T_a_b, _ in items]
        hinted, reference = estimator.estimate_batch(hinted_pairs), uncorrected.estimate_batch(hinted_pairs)
        for p, h, r in zip(plain, hinted, reference):
            if not (p.valid and h.valid and 'audio' in h.used):
                continue
            assert np.isfinite(h.info['audio_parallax_deg'])
            if 'vision' in h.used:
                fused += 1
                assert 'audio_parallax_deg' not in r.info and r.used == h.used
                np.testing.assert_allclose(h.T_a_b, r.T_a_b, atol=1e-12)
            elif abs(h.info['audio_parallax_deg']) > 0.5:
                alone += 1
                assert not np.allclose(h.T_a_b[:3, :3], p.T_a_b[:3, :3], atol=1e-4)
    assert fused >= 10 and alone >= 3
