"""The vision half's fallback: the rotation from the global shift of two images (`av_pose.vision.image_shift`)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from av_pose.geometry import R_CAM_ARRAY_DEFAULT, rotation_angle_deg, so3_exp
from av_pose.scene.generate import SynthConfig, generate_scene
from av_pose.vision.image_shift import (
    MIN_RESPONSE,
    SCENE_DEPTH_M,
    guided_image_shift,
    image_shift_rotation,
    travel_parallax_turn,
)
from av_pose.vision.two_view import estimate_two_view


@pytest.fixture(scope='module')
def room_view(tmp_path_factory):
    """A rendered ShoeboxAV frame (256×192) and its intrinsics."""
    config = SynthConfig(duration_s=1.0, image_size=(256, 192), num_sources=0, rotation_only=True)
    scene = generate_scene(tmp_path_factory.mktemp('room'), config, seed=4)
    return scene.frame(0), np.asarray(scene.K)


def turned_view(image: np.ndarray, K: np.ndarray, R_a_b: np.ndarray) -> np.ndarray:
    """The view of a camera turned by R_a_b (camera b → camera a) about its centre: u_b ~ K·R_a_bᵀ·K⁻¹·u_a."""
    H = K @ R_a_b.T @ np.linalg.inv(K)
    return cv2.warpPerspective(image, H, (image.shape[1], image.shape[0]))


def moved_view(image: np.ndarray, K: np.ndarray, R_a_b: np.ndarray, travel_m, depth_m: float) -> np.ndarray:
    """The view of a camera turned by R_a_b and moved by `travel_m` (camera a axes) in front of a wall `depth_m` away.

    The wall is fronto-parallel to camera a: X_b = R_a_bᵀ·(X_a − t), and on the wall X_a = (nᵀX_a / d)·X_a, so
    u_b ~ K·R_a_bᵀ·(I − t·nᵀ/d)·K⁻¹·u_a with n = z.
    """
    H = K @ R_a_b.T @ (np.eye(3) - np.outer(travel_m, [0.0, 0.0, 1.0]) / depth_m) @ np.linalg.inv(K)
    return cv2.warpPerspective(image, H, (image.shape[1], image.shape[0]))


@pytest.mark.parametrize(('pitch_deg', 'yaw_deg'), [(0.0, 6.0), (2.0, -4.0), (-3.0, 1.5)])
def test_a_turn_is_found_through_blur_that_defeats_the_essential_matrix(room_view, pitch_deg, yaw_deg):
    image_a, K = room_view
    R_a_b = so3_exp(np.radians([pitch_deg, yaw_deg, 0.0]))  # about the camera x (pitch) and y axes
    image_b = turned_view(image_a, K, R_a_b)
    sharp = image_shift_rotation(image_a, image_b, K)
    assert sharp.ok and rotation_angle_deg(sharp.R_a_b, R_a_b) < 0.5
    blur_a, blur_b = (cv2.GaussianBlur(image, (0, 0), 8.0) for image in (image_a, image_b))
    assert not estimate_two_view(blur_a, blur_b, K).ok
    blurred = image_shift_rotation(blur_a, blur_b, K)
    assert blurred.ok and rotation_angle_deg(blurred.R_a_b, R_a_b) < 1.0
    assert blurred.std_deg >= 2.0 and blurred.response >= MIN_RESPONSE


@pytest.mark.parametrize('travel_m', [(0.3, 0.0, 0.1), (-0.25, 0.1, 0.0)])
def test_a_known_travel_takes_its_parallax_out_of_the_shift(room_view, travel_m):
    # A camera that sidesteps past a wall 3 m away while it turns: the wall's shift reads the turn plus about
    # atan(t/3 m) (5.7° for 0.3 m), which the shift alone cannot tell from a turn. Given the travel, the turn its
    # parallax fakes at the typical depth (2.5 m, not the wall's 3 m) is taken out.
    image_a, K = room_view
    R_a_b = so3_exp(np.radians([1.0, 5.0, 0.0]))
    image_b = moved_view(image_a, K, R_a_b, np.array(travel_m), 3.0)
    blind = image_shift_rotation(image_a, image_b, K)
    told = image_shift_rotation(image_a, image_b, K, travel_m=travel_m)
    blind_error, told_error = rotation_angle_deg(blind.R_a_b, R_a_b), rotation_angle_deg(told.R_a_b, R_a_b)
    print(f'travel {travel_m} m: shift error {blind_error:.2f}° without the travel, {told_error:.2f}° with it')
    assert blind.ok and told.ok and blind_error > 3.0
    assert told_error < min(0.45 * blind_error, 2.0)  # what is left: the wall is not at 2.5 m
    # read around a prior 4° off (about the array z, camera −y: a turn of ω_y = 5° is −5° about it)
    guided_blind, guided_told = (guided_image_shift(image_a, image_b, K, ARRAY_Z, -9.0, 8.0, travel_m=travel)
                                 for travel in (None, travel_m))
    guided_errors = [rotation_angle_deg(guided.R_a_b, R_a_b) for guided in (guided_blind, guided_told)]
    print(f'guided: {guided_errors[0]:.2f}° without the travel, {guided_errors[1]:.2f}° with it')
    assert guided_errors[1] < 0.6 * guided_errors[0]


def test_the_parallax_turn_of_a_travel():
    turn = np.degrees(travel_parallax_turn(np.array([SCENE_DEPTH_M, 0.0, 0.0])))
    np.testing.assert_allclose(turn, [0.0, 45.0, 0.0], atol=1e-9)  # sideways by the depth: 45° about camera y
    np.testing.assert_allclose(np.degrees(travel_parallax_turn([0.0, 1.0, 5.0], depth_m=1.0)), [-45.0, 0.0, 0.0])
    for unknown in (None, [np.nan, 0.0, 0.0], [1.0, 2.0]):
        np.testing.assert_array_equal(travel_parallax_turn(unknown), np.zeros(3))


def test_views_that_share_nothing_give_no_answer(room_view):
    image, K = room_view
    rng = np.random.default_rng(2)
    noise_a, noise_b = (rng.integers(0, 255, image.shape, dtype=np.uint8) for _ in range(2))
    for pair in ((noise_a, noise_b), (image, noise_b)):
        shift = image_shift_rotation(*pair, K)
        assert not shift.ok and shift.response < MIN_RESPONSE and 'response' in shift.reason
        np.testing.assert_array_equal(shift.R_a_b, np.eye(3))


def test_constant_and_mismatched_images_give_a_reason_not_an_exception(room_view):
    image, K = room_view
    flat = np.full_like(image, 128)
    assert 'featureless' in image_shift_rotation(flat, image, K).reason
    assert 'sizes' in image_shift_rotation(image, image[:100], K).reason
    assert not image_shift_rotation(image[:4, :4], image[:4, :4], K).ok


# --- the shift guided by a prior turn (the audio yaw), where the shift alone is too weak -------------------------

ARRAY_Z = R_CAM_ARRAY_DEFAULT[:, 2]  # the default mount's array z axis in the camera frame (camera −y)


def noisy(image: np.ndarray, noise: float, blur: float, rng: np.random.Generator) -> np.ndarray:
    grainy = np.clip(image + rng.normal(0.0, noise, image.shape), 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(grainy, (0, 0), blur)


def test_a_shift_too_weak_to_answer_is_read_where_the_audio_points(room_view):
    image_a, K = room_view
    R_a_b = so3_exp(np.radians([1.0, 6.0, 0.0]))
    image_b = turned_view(image_a, K, R_a_b)
    true_turn = float(np.array([1.0, 6.0, 0.0]) @ ARRAY_Z)  # degrees about the array z (ω·axis)
    prior = true_turn + 5.0  # an audio yaw 5° off with a 1-σ of 8° (the parallax bound of a moving rig)
    prior_error = rotation_angle_deg(so3_exp(np.radians(prior) * ARRAY_Z), R_a_b)
    errors, refused = [], 0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        view_a, view_b = noisy(image_a, 220.0, 6.0, rng), noisy(image_b, 220.0, 6.0, rng)
        refused += not image_shift_rotation(view_a, view_b, K).ok
        guided = guided_image_shift(view_a, view_b, K, ARRAY_Z, prior, 8.0)
        errors.append(rotation_angle_deg(guided.R_a_b, R_a_b))
        assert 2.0 <= guided.yaw_std_deg < 8.0  # the images narrowed the prior
    print(f'guided errors {np.round(errors, 2)} against the prior\'s {prior_error:.2f}°; the shift alone refused '
          f'{refused} of 5')
    assert refused >= 4
    assert max(errors) < prior_error and np.mean(errors) <= 0.8 * prior_error


def test_on_images_of_pure_noise_the_guided_turn_stays_with_its_prior(room_view):
    image, K = room_view
    rng = np.random.default_rng(7)
    departures, stds = [], []
    for _ in range(20):
        view_a, view_b = (rng.integers(0, 255, image.shape, dtype=np.uint8) for _ in range(2))
        guided = guided_image_shift(view_a, view_b, K, ARRAY_Z, 4.0, 8.0)
        turn = float(np.degrees(np.arctan2(guided.R_a_b[0, 2], guided.R_a_b[2, 2])))  # about camera y
        departures.append(abs(-turn - 4.0) / 8.0)  # the array z is camera −y
        stds.append(guided.yaw_std_deg)
    print(f'noise: departure from the prior {np.median(departures):.2f} σ (median), {np.max(departures):.2f} σ '
          f'(max); posterior 1-σ {np.median(stds):.1f}° against the prior\'s 8°')
    assert np.median(departures) <= 0.35 and np.max(departures) <= 1.0
    assert np.median(stds) >= 0.6 * 8.0


def test_the_guided_shift_declines_what_it_cannot_read(room_view):
    image, K = room_view
    flat = np.full_like(image, 128)
    assert guided_image_shift(flat, image, K, ARRAY_Z, 0.0, 5.0) is None
    assert guided_image_shift(image, image[:100], K, ARRAY_Z, 0.0, 5.0) is None
    for prior, std in ((np.nan, 5.0), (0.0, 0.0), (0.0, np.inf)):
        assert guided_image_shift(image, image, K, ARRAY_Z, prior, std) is None
    assert guided_image_shift(image, image, K, ARRAY_Z, 0.0, 5.0, tilt_std_deg=0.0) is None
