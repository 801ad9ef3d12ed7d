"""Two-view geometry (av_pose.vision.two_view) on generated ShoeboxAV scenes and on synthetic correspondences."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from av_pose.errors import UserInputError
from av_pose.geometry import angle_between_deg, invert_transform, relative_pose, rotation_angle_deg, so3_exp, so3_log
from av_pose.pose.base import UNKNOWN_VARIANCE as POSE_UNKNOWN_VARIANCE
from av_pose.scene.generate import SynthConfig, generate_scene
from av_pose.vision.corruptions import CorruptionSpec
from av_pose.vision.features import make_detector
from av_pose.vision.two_view import (
    DETECTORS,
    UNKNOWN_VARIANCE,
    estimate_from_matches,
    estimate_two_view,
)

GAP = 10  # frames at 10 fps: pairs 1 s apart
K_SYNTHETIC = np.array([[183.0, 0.0, 127.5], [0.0, 183.0, 95.5], [0.0, 0.0, 1.0]])


def _scene(tmp_path_factory, name: str, seed: int, rotation_only: bool):
    config = SynthConfig(duration_s=3.0, image_size=(256, 192), num_sources=0, rotation_only=rotation_only,
                         sample_rate=16000)
    return generate_scene(tmp_path_factory.mktemp(name), config, seed=seed)


@pytest.fixture(scope='module')
def moving_scene(tmp_path_factory):
    """A rig that walks and turns (6-DoF), up to 0.3 m and 15° between frames 1 s apart."""
    return _scene(tmp_path_factory, 'moving', seed=6, rotation_only=False)


@pytest.fixture(scope='module')
def turning_scene(tmp_path_factory):
    """A rig that only turns about its own centre (the SLfM setting)."""
    return _scene(tmp_path_factory, 'turning', seed=2, rotation_only=True)


def _pairs(scene, step=2):
    """(frame i, frame i + GAP, ground-truth T_a_b) for 1 s pairs."""
    return [(i, i + GAP, relative_pose(scene.T_world_cam[i], scene.T_world_cam[i + GAP]))
            for i in range(0, scene.num_frames - GAP, step)]


@pytest.fixture(scope='module')
def moving_results(moving_scene):
    return [(estimate_two_view(moving_scene.frame(i), moving_scene.frame(j), moving_scene.K), T)
            for i, j, T in _pairs(moving_scene)]


def test_rotation_is_accurate_on_clean_moving_pairs(moving_results):
    assert all(geometry.ok for geometry, _ in moving_results)
    errors = [rotation_angle_deg(geometry.R_a_b, T[:3, :3]) for geometry, T in moving_results]
    assert np.median(errors) < 2.0
    assert max(rotation_angle_deg(np.eye(3), T[:3, :3]) for _, T in moving_results) > 10.0  # the pairs do turn


def test_translation_direction_is_reasonable_when_the_baseline_is_large(moving_results):
    known = [(geometry, T) for geometry, T in moving_results if geometry.translation_ok]
    assert len(known) >= 4
    errors = [angle_between_deg(geometry.t_a_b, T[:3, 3]) for geometry, T in known]
    assert np.median(errors) < 20.0
    for geometry, T in known:
        assert np.linalg.norm(geometry.t_a_b) == pytest.approx(1.0)
        assert np.linalg.norm(T[:3, 3]) > 0.05  # a direction is claimed only for a real baseline
        reported_std_rad = np.sqrt(geometry.covariance[:3, :3].trace())
        assert np.radians(angle_between_deg(geometry.t_a_b, T[:3, 3])) < 3.0 * reported_std_rad


def test_poses_follow_the_T_a_b_convention(moving_results):
    """R_a_b, t_a_b map camera-b points into camera a: inv(T_world_a)·T_world_b, not OpenCV's a → b."""
    turning = [(geometry, T) for geometry, T in moving_results
               if geometry.translation_ok and rotation_angle_deg(np.eye(3), T[:3, :3]) > 8.0]
    geometry, T_a_b = min(turning, key=lambda item: item[0].rotation_std_deg)  # the most certain one
    T_b_a = invert_transform(T_a_b)
    turn_deg = rotation_angle_deg(np.eye(3), T_a_b[:3, :3])
    assert rotation_angle_deg(geometry.R_a_b, T_a_b[:3, :3]) < 2.0
    assert rotation_angle_deg(geometry.R_a_b, T_b_a[:3, :3]) > 1.5 * turn_deg
    assert angle_between_deg(geometry.t_a_b, T_a_b[:3, 3]) < 20.0
    assert angle_between_deg(geometry.t_a_b, T_b_a[:3, 3]) > 90.0
    np.testing.assert_allclose(geometry.T_a_b[:3, :3], geometry.R_a_b)
    np.testing.assert_allclose(geometry.T_a_b[:3, 3], geometry.t_a_b)


def test_pure_rotation_gives_the_rotation_and_no_translation(turning_scene):
    results = [(estimate_two_view(turning_scene.frame(i), turning_scene.frame(j), turning_scene.K), T)
               for i, j, T in _pairs(turning_scene, step=4)]
    assert max(rotation_angle_deg(np.eye(3), T[:3, :3]) for _, T in results) > 10.0
    errors = [rotation_angle_deg(geometry.R_a_b, T[:3, :3]) for geometry, T in results]
    assert np.median(errors) < 0.5 and max(errors) < 1.5
    for geometry, _ in results:
        assert geometry.ok and not geometry.translation_ok
        np.testing.assert_array_equal(geometry.t_a_b, np.zeros(3))
        assert geometry.covariance[0, 0] == UNKNOWN_VARIANCE
    assert sum(geometry.model == 'rotation' for geometry, _ in results) >= len(results) - 1
    # The largest turn, against its inverse: the pure-rotation branch keeps the T_a_b convention too.
    geometry, T = max(results, key=lambda item: rotation_angle_deg(np.eye(3), item[1][:3, :3]))
    assert rotation_angle_deg(geometry.R_a_b, T[:3, :3].T) > 15.0


def test_still_camera_gives_identity_rotation(moving_scene):
    """Identical frames have no epipolar geometry at all (zero disparity); the rotation model still answers."""
    image = moving_scene.frame(12)
    geometry = estimate_two_view(image, image.copy(), moving_scene.K)
    assert geometry.ok and geometry.model == 'rotation' and not geometry.translation_ok
    assert rotation_angle_deg(geometry.R_a_b, np.eye(3)) < 0.01
    assert geometry.rotation_std_deg < 0.1 and geometry.inlier_ratio > 0.95


@pytest.mark.parametrize('make_image', [lambda shape: np.zeros(shape, np.uint8),
                                        lambda shape: np.full(shape, 128, np.uint8)],
                         ids=['black', 'uniform'])
def test_featureless_image_is_not_ok(moving_scene, make_image):
    image = moving_scene.frame(0)
    for pair in ((make_image(image.shape), image), (make_image(image.shape), make_image(image.shape))):
        geometry = estimate_two_view(*pair, moving_scene.K)
        assert not geometry.ok and geometry.reason
        np.testing.assert_array_equal(geometry.R_a_b, np.eye(3))
        np.testing.assert_array_equal(geometry.t_a_b, np.zeros(3))
        np.testing.assert_array_equal(geometry.covariance, np.eye(6) * UNKNOWN_VARIANCE)


def test_heavy_blur_and_unrelated_views_are_not_ok(moving_scene, turning_scene):
    blur = CorruptionSpec('blur', severity=1.0)
    image_a, image_b = moving_scene.frame(10), moving_scene.frame(20)
    assert estimate_two_view(image_a, image_b, moving_scene.K).ok
    blurred = estimate_two_view(blur.apply(image_a, 0)[0], blur.apply(image_b, 1)[0], moving_scene.K)
    assert not blurred.ok and 'few' in blurred.reason
    unrelated = estimate_two_view(image_a, turning_scene.frame(5), moving_scene.K)
    assert not unrelated.ok


def test_unknown_variance_matches_the_pose_interface():
    assert UNKNOWN_VARIANCE == POSE_UNKNOWN_VARIANCE


@pytest.mark.parametrize('detector', DETECTORS)
def test_detectors_are_selectable(moving_scene, detector):
    image_a, image_b = moving_scene.frame(12), moving_scene.frame(22)
    T = relative_pose(moving_scene.T_world_cam[12], moving_scene.T_world_cam[22])
    try:
        make_detector(detector)
    except UserInputError as error:  # OpenCV 5 moved AKAZE to the contrib package
        assert detector == 'akaze' and 'opencv-contrib' in str(error)
        with pytest.raises(UserInputError, match='opencv-contrib'):
            estimate_two_view(image_a, image_b, moving_scene.K, detector=detector)
        return
    geometry = estimate_two_view(image_a, image_b, moving_scene.K, detector=detector)
    assert geometry.ok and geometry.inliers >= 15
    assert rotation_angle_deg(geometry.R_a_b, T[:3, :3]) < 3.0


@pytest.mark.parametrize('bad', [{'detector': 'surf'}, {'detector': 'ORB'}, {'max_features': 2}])
def test_bad_options_raise_user_input_error(moving_scene, bad):
    with pytest.raises(UserInputError):
        estimate_two_view(moving_scene.frame(0), moving_scene.frame(10), moving_scene.K, **bad)


def test_bad_images_and_intrinsics_raise_user_input_error(moving_scene):
    image = moving_scene.frame(0)
    with pytest.raises(UserInputError, match='one size'):
        estimate_two_view(image, image[:100], moving_scene.K)
    with pytest.raises(UserInputError, match='uint8'):
        estimate_two_view(image.astype(np.float32), image.astype(np.float32), moving_scene.K)
    with pytest.raises(UserInputError, match='pinhole'):
        estimate_two_view(image, image, np.eye(2))


# --- synthetic correspondences: exact geometry, known noise --------------------------------------------------

def _synthetic_matches(rng, T_a_b, count=200, noise_px=0.5, outliers=0):
    """Pixel matches of random points 2–6 m in front of camera a, seen from camera b, with Gaussian noise."""
    points_a = np.column_stack([rng.uniform(-1.2, 1.2, count), rng.uniform(-0.9, 0.9, count), np.ones(count)])
    points_a *= rng.uniform(2.0, 6.0, count)[:, None]
    T_b_a = invert_transform(T_a_b)
    points_b = points_a @ T_b_a[:3, :3].T + T_b_a[:3, 3]

    def project(points):
        pixels = points @ K_SYNTHETIC.T
        return pixels[:, :2] / pixels[:, 2:]

    pixels_a = project(points_a) + rng.normal(0.0, noise_px, (count, 2))
    pixels_b = project(points_b) + rng.normal(0.0, noise_px, (count, 2))
    if outliers:
        pixels_a = np.vstack([pixels_a, rng.uniform([0, 0], [256, 192], (outliers, 2))])
        pixels_b = np.vstack([pixels_b, rng.uniform([0, 0], [256, 192], (outliers, 2))])
    return pixels_a, pixels_b


def _pose(rotation_deg, translation):
    return np.block([[so3_exp(np.radians(rotation_deg)), np.asarray(translation, float)[:, None]],
                     [np.zeros((1, 3)), np.ones((1, 1))]])


def test_fisher_covariance_matches_the_errors_of_synthetic_matches():
    """With Gaussian keypoint noise the uncalibrated covariance is the real one: Mahalanobis² follows χ²(dof).

    Medians of χ²(3) and χ²(2) are 2.37 and 1.39; the Sampson approximation leaves the errors ~10 % wider.
    """
    rng = np.random.default_rng(3)
    rotation_z2, translation_z2 = [], []
    for _ in range(60):
        T = _pose(rng.normal(0.0, 6.0, 3), rng.normal(0.0, 0.3, 3) + [0.3, 0.0, 0.0])
        geometry = estimate_from_matches(*_synthetic_matches(rng, T), K_SYNTHETIC, calibrated=False)
        assert geometry.ok and geometry.model == 'essential' and geometry.translation_ok
        omega = so3_log(T[:3, :3].T @ geometry.R_a_b)
        rotation_z2.append(omega @ np.linalg.solve(geometry.covariance[3:, 3:], omega))
        t_error = geometry.t_a_b - T[:3, 3] / np.linalg.norm(T[:3, 3])
        translation_z2.append(t_error @ np.linalg.pinv(geometry.covariance[:3, :3]) @ t_error)
    assert 1.6 < np.median(rotation_z2) < 3.6         # χ²(3)
    assert 0.9 < np.median(translation_z2) < 2.4      # χ²(2): a unit direction has two degrees of freedom


def test_fisher_covariance_of_a_pure_rotation():
    rng = np.random.default_rng(4)
    z2, models = [], []
    for _ in range(60):
        T = _pose(rng.normal(0.0, 8.0, 3), np.zeros(3))
        geometry = estimate_from_matches(*_synthetic_matches(rng, T, noise_px=0.3), K_SYNTHETIC, calibrated=False)
        assert geometry.ok and not geometry.translation_ok
        models.append(geometry.model)
        omega = so3_log(T[:3, :3].T @ geometry.R_a_b)
        z2.append(omega @ np.linalg.solve(geometry.covariance[3:, 3:], omega))
    assert models.count('rotation') >= 55             # the rest: parallax noise above the ratio by chance
    assert 1.6 < np.median(z2) < 3.6


def test_covariance_grows_as_inliers_fall():
    rng = np.random.default_rng(5)
    T = _pose([2.0, 10.0, 1.0], [0.3, 0.0, 0.1])
    pixels_a, pixels_b = _synthetic_matches(rng, T, count=400)
    variances = []
    for count in (400, 100, 25):
        geometry = estimate_from_matches(pixels_a[:count], pixels_b[:count], K_SYNTHETIC)
        assert geometry.ok
        variances.append(np.trace(geometry.covariance[3:, 3:]))
    assert variances[0] < variances[1] < variances[2]
    assert 2.0 < variances[1] / variances[0] < 8.0    # about 1 / inliers
    # Outliers that drop the inlier ratio below RELIABLE_INLIER_RATIO inflate it further.
    clean = estimate_from_matches(pixels_a[:100], pixels_b[:100], K_SYNTHETIC)
    mixed_a, mixed_b = _synthetic_matches(np.random.default_rng(6), T, count=0, outliers=200)
    polluted = estimate_from_matches(np.vstack([pixels_a[:100], mixed_a]), np.vstack([pixels_b[:100], mixed_b]),
                                     K_SYNTHETIC)
    assert polluted.ok and polluted.inlier_ratio < 0.4
    assert np.trace(polluted.covariance[3:, 3:]) > 1.5 * np.trace(clean.covariance[3:, 3:])


def test_too_few_matches_are_not_ok():
    rng = np.random.default_rng(7)
    geometry = estimate_from_matches(*_synthetic_matches(rng, _pose([0, 5, 0], [0.3, 0, 0]), count=10), K_SYNTHETIC)
    assert not geometry.ok and 'few' in geometry.reason and geometry.matches == 10


def test_opencv_threads_do_not_change_the_answer(moving_scene):
    image_a, image_b = moving_scene.frame(6), moving_scene.frame(16)
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        single = estimate_two_view(image_a, image_b, moving_scene.K)
    finally:
        cv2.setNumThreads(threads)
    again = estimate_two_view(image_a, image_b, moving_scene.K)
    np.testing.assert_allclose(single.R_a_b, again.R_a_b, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize('detector', ['orb', 'sift'])
def test_accuracy_and_covariance_honesty_on_held_out_scenes(tmp_path, detector):
    """Scenes not used for calibration (seeds 300–303 moving, 400–401 turning); `pytest -m slow -s` prints figures.

    Asserts the medians the calibration aims at: rotation Mahalanobis² near χ²(3)'s 2.37 on the moving pairs
    (within a factor of 3: heavy-tailed planar ambiguities remain), errors under 2° median, few failures.
    Pairs where the rig held still are left out of the statistics (their answer is exact).
    """
    errors, z2, failures, count = [], [], 0, 0
    for seed, rotation_only in ((300, False), (301, False), (302, False), (303, False), (400, True), (401, True)):
        config = SynthConfig(duration_s=6.0, image_size=(256, 192), num_sources=0, rotation_only=rotation_only,
                             sample_rate=16000)
        scene = generate_scene(tmp_path / f'scene_{seed}', config, seed=seed)
        for i, j, T in _pairs(scene, step=3):
            count += 1
            geometry = estimate_two_view(scene.frame(i), scene.frame(j), scene.K, detector=detector)
            if not geometry.ok:
                failures += 1
                continue
            if rotation_angle_deg(np.eye(3), T[:3, :3]) < 0.5 and np.linalg.norm(T[:3, 3]) < 0.01:
                continue  # the rig held still (scenes have pauses): exact, and not what is measured here
            omega = so3_log(T[:3, :3].T @ geometry.R_a_b)
            errors.append(np.degrees(np.linalg.norm(omega)))
            if not rotation_only:
                z2.append(omega @ np.linalg.solve(geometry.covariance[3:, 3:], omega))
    print(f'\n{detector}: {count} pairs, {failures} not ok, pairs that move: {len(errors)}, rotation error median '
          f'{np.median(errors):.2f}° '
          f'p90 {np.percentile(errors, 90):.2f}°, moving pairs median Mahalanobis² {np.median(z2):.2f} (χ²(3): 2.37)')
    assert failures <= 0.1 * count
    assert np.median(errors) < 2.0
    assert np.median(z2) < 2.37 * 3                    # not overconfident
    if detector == 'orb':                              # the calibrated default; SIFT's sharper keypoints sit
        assert np.median(z2) > 2.37 / 3                # under the noise floor, so its covariance is cautious


def test_sift_keeps_enough_points_of_a_small_frame(moving_scene):
    """SIFT's contrast threshold for 256×192 frames: about twice the points OpenCV's default keeps (here 305 against
    162; the default left twice ORB's share of pairs without an answer on the moving set, docs/results.md)."""
    import cv2

    from av_pose.vision.features import detect_features, to_gray

    image = moving_scene.frame(12)
    default = len(cv2.SIFT_create(nfeatures=2000).detect(to_gray(image), None))
    assert len(detect_features(image, 'sift')) >= max(250, 1.5 * default)
