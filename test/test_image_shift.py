"""The vision half's fallback: the rotation from the global shift of two images (`av_pose.vision.image_shift`)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from av_pose.geometry import rotation_angle_deg, so3_exp
from av_pose.scene.generate import SynthConfig, generate_scene
from av_pose.vision.image_shift import MIN_RESPONSE, image_shift_rotation
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
