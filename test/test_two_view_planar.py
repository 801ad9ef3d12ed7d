"""Planar motion (a ground robot): two-view geometry with the turn and the heading only (`up` / Sensors.planar_up)."""
from __future__ import annotations

import numpy as np
import pytest

from av_pose.cli import main
from av_pose.errors import UserInputError
from av_pose.eval.pairs import scene_pose_pairs
from av_pose.geometry import LEVEL_CAMERA_UP, angle_between_deg, invert_transform, rotation_angle_deg, so3_exp, so3_log
from av_pose.pose.registry import make_pose_estimator
from av_pose.scene.showcase import generate_showcase
from av_pose.vision.epipolar import PLANAR_TILT_STD_DEG
from av_pose.vision.two_view import estimate_from_matches, estimate_two_view

K = np.array([[183.0, 0.0, 127.5], [0.0, 183.0, 95.5], [0.0, 0.0, 1.0]])
UP = np.asarray(LEVEL_CAMERA_UP)


def _planar_pose(rng, up=UP, step_m=0.1):
    """T_a_b of a level rig that turns about `up` by N(0, 8°) and steps `step_m` within ±40° of straight ahead."""
    turn = np.radians(rng.normal(0.0, 8.0))
    heading = np.radians(rng.uniform(-40.0, 40.0))
    ahead = np.array([0.0, 0.0, 1.0]) - up[2] * up
    ahead /= np.linalg.norm(ahead)
    direction = np.cos(heading) * ahead + np.sin(heading) * np.cross(up, ahead)
    T = np.eye(4)
    T[:3, :3] = so3_exp(turn * up)
    T[:3, 3] = step_m * direction
    return T


def _matches(rng, T_a_b, count=150, noise_px=0.5, fov=0.6):
    """Pixel matches of points 2–6 m in front of camera a, seen from camera b, with Gaussian noise."""
    points_a = np.column_stack([rng.uniform(-fov, fov, count), rng.uniform(-0.75 * fov, 0.75 * fov, count),
                                np.ones(count)])
    points_a *= rng.uniform(2.0, 6.0, count)[:, None]
    T_b_a = invert_transform(T_a_b)
    points_b = points_a @ T_b_a[:3, :3].T + T_b_a[:3, 3]

    def project(points):
        pixels = points @ K.T
        return pixels[:, :2] / pixels[:, 2:] + rng.normal(0.0, noise_px, (count, 2))

    return project(points_a), project(points_b)


def _errors(geometry, T):
    rotation = float(rotation_angle_deg(geometry.R_a_b, T[:3, :3]))
    direction = float(angle_between_deg(geometry.t_a_b, T[:3, 3])) if geometry.translation_ok else 180.0
    return rotation, direction


def test_planar_fit_stays_planar_and_beats_the_free_fit_on_short_steps():
    """Steps of 10–15 cm at 2–6 m leave little parallax: five free parameters trade the turn against a sideways
    step, two do much less (same matches, same noise). At 15 cm both report every direction and the planar one
    errs about half as much; at 10 cm the planar fit reports more of them (PLANAR_PARALLAX_RATIO)."""
    rng = np.random.default_rng(5)
    for step_m in (0.15, 0.1):
        free, planar = [], []
        for _ in range(40):
            T = _planar_pose(rng, step_m=step_m)
            points = _matches(rng, T)
            free.append(_errors(estimate_from_matches(*points, K), T))
            geometry = estimate_from_matches(*points, K, up=UP)
            assert geometry.ok  # a direction not reported counts as 180° off (`_errors`)
            assert np.allclose(geometry.R_a_b @ UP, UP, atol=1e-9) and abs(geometry.t_a_b @ UP) < 1e-9
            planar.append(_errors(geometry, T))
        free, planar = np.array(free), np.array(planar)
        assert np.median(planar[:, 0]) < np.median(free[:, 0])
        if step_m == 0.15:
            assert np.all(planar[:, 1] < 180.0) and np.median(planar[:, 1]) < 0.7 * np.median(free[:, 1])
        else:
            assert np.sum(planar[:, 1] < 180.0) > np.sum(free[:, 1] < 180.0)


def test_planar_fisher_covariance_matches_the_errors():
    """Uncalibrated, with parallax to spare (0.5 m steps, a wide view), the turn's and the heading's errors over
    their standard deviations are about N(0, 1): squared, median 0.455 (χ²(1)). With less parallax the fit's
    valley curves and the errors outgrow the Fisher bound (the calibrated PLANAR_COVARIANCE_SCALE allows for it)."""
    rng = np.random.default_rng(6)
    turn_z2, heading_z2 = [], []
    for _ in range(60):
        T = _planar_pose(rng, step_m=0.5)
        geometry = estimate_from_matches(*_matches(rng, T, fov=1.2), K, up=UP, calibrated=False)
        omega = so3_log(T[:3, :3].T @ geometry.R_a_b)
        turn_z2.append((omega @ UP) ** 2 / (UP @ geometry.covariance[3:, 3:] @ UP))
        sideways = np.cross(UP, geometry.t_a_b)
        error = geometry.t_a_b - T[:3, 3] / np.linalg.norm(T[:3, 3])
        heading_z2.append((error @ sideways) ** 2 / (sideways @ geometry.covariance[:3, :3] @ sideways))
    assert 0.25 < np.median(turn_z2) < 0.8
    assert 0.25 < np.median(heading_z2) < 0.8


def test_planar_covariance_states_the_floor_prior_on_the_constrained_directions():
    rng = np.random.default_rng(7)
    T = _planar_pose(rng, step_m=0.3)
    geometry = estimate_from_matches(*_matches(rng, T), K, up=UP)
    tilt = np.radians(PLANAR_TILT_STD_DEG) ** 2
    across = np.array([1.0, 0.0, 0.0])  # horizontal, like every axis orthogonal to UP
    assert tilt <= across @ geometry.covariance[3:, 3:] @ across < 2.0 * tilt
    assert tilt <= UP @ geometry.covariance[:3, :3] @ UP < 2.0 * tilt


def test_a_pitched_camera_takes_its_own_up_axis():
    """A camera pitched 20° down on a level robot: the robot's up axis in the optical frame is (0, −cos, −sin)."""
    pitch = np.radians(20.0)
    up = np.array([0.0, -np.cos(pitch), -np.sin(pitch)])
    rng = np.random.default_rng(8)
    level, right = [], []
    for _ in range(20):
        T = _planar_pose(rng, up=up, step_m=0.3)
        points = _matches(rng, T)
        right.append(_errors(estimate_from_matches(*points, K, up=up), T))
        level.append(_errors(estimate_from_matches(*points, K, up=UP), T))
    assert np.median(np.array(right)[:, 0]) < 0.3
    assert np.median(np.array(level)[:, 0]) > 3.0 * np.median(np.array(right)[:, 0])


def test_a_camera_looking_at_the_floor_may_turn_further_than_its_field_of_view():
    """Looking straight down (up = −z), the robot's turn spins the image about its centre: the view keeps its
    matches, so a 120° turn is no reason to refuse the fit (a level camera's view would have turned away)."""
    down = np.array([0.0, 0.0, -1.0])
    rng = np.random.default_rng(10)
    T = np.eye(4)
    T[:3, :3] = so3_exp(np.radians(120.0) * down)
    T[:3, 3] = [0.3, 0.1, 0.0]
    geometry = estimate_from_matches(*_matches(rng, T), K, up=down)
    assert geometry.ok and rotation_angle_deg(geometry.R_a_b, T[:3, :3]) < 1.0


@pytest.mark.parametrize('bad', [(0.0, 0.0, 0.0), (0.0, 1.0), (np.nan, 1.0, 0.0)])
def test_a_bad_up_axis_is_one_readable_error(bad):
    rng = np.random.default_rng(9)
    with pytest.raises(UserInputError, match='up axis'):
        estimate_from_matches(*_matches(rng, _planar_pose(rng)), K, up=bad)


@pytest.fixture(scope='module')
def showcase(tmp_path_factory):
    """The demo's scene (a level robot walking an arc), 20 s."""
    return generate_showcase(tmp_path_factory.mktemp('planar') / 'scene', duration_s=20.0, seed=7).record


def test_planar_motion_finds_the_translation_of_a_rendered_ground_robot(showcase):
    """Rendered ShoeboxAV frames (192×144, ORB): more pairs get their direction within 10° and the median direction
    error falls (measured on 12 such scenes: direction median lower in all 12; docs/results.md)."""
    free, planar = [], []
    for pair, T, _ in scene_pose_pairs(showcase, 1.0, stride=5):
        free.append(_errors(estimate_two_view(pair.view_a.image, pair.view_b.image, showcase.K), T))
        planar.append(_errors(estimate_two_view(pair.view_a.image, pair.view_b.image, showcase.K, up=UP), T))
    free, planar = np.array(free), np.array(planar)
    assert np.median(planar[:, 1]) < 0.5 * np.median(free[:, 1])
    assert np.mean(planar[:, 1] < 10.0) > np.mean(free[:, 1] < 10.0)


def test_the_geometric_estimator_takes_planar_motion_from_the_sensors(showcase):
    estimator = make_pose_estimator('geometric', device='cpu')
    pairs = [pair for pair, _, meta in scene_pose_pairs(showcase, 1.0, stride=10, planar_up=LEVEL_CAMERA_UP)
             if meta.t_a < 8.0]  # before the blurred stretch: vision answers
    assert all(np.allclose(pair.sensors.planar_up, UP) for pair in pairs)
    estimates = estimator.estimate_batch(pairs)
    assert sum('vision' in e.used for e in estimates) >= 6
    for estimate in estimates:
        if 'vision' in estimate.used:  # the audio yaw's update keeps the turn about the same axis
            assert np.allclose(estimate.T_a_b[:3, :3] @ UP, UP, atol=1e-3)


def test_eval_cli_with_planar_motion(showcase, tmp_path, capsys):
    """`av-pose eval --planar-motion` on the rendered robot: the same pairs score better than with free motion."""
    import json

    scores = {}
    for name, extra in (('free', []), ('planar', ['--planar-motion'])):
        out = tmp_path / f'{name}.json'
        assert main(['eval', '--model', 'geometric-vision', '--data', str(showcase.directory), '--corrupted', 'none',
                     '--stride', '5', '--no-progress', '--json', str(out), *extra]) == 0
        scores[name] = json.loads(out.read_text())['models']['geometric-vision']['clean']
    assert 'planar motion' in capsys.readouterr().out
    assert scores['planar']['translation_auc'][2] > scores['free']['translation_auc'][2]


def test_cli_planar_motion_takes_nothing_or_three_numbers(tmp_path, capsys):
    assert main(['eval', '--model', 'geometric', '--data', str(tmp_path), '--planar-motion', '0', '1']) == 2
    assert 'planar-motion takes no value or the 3 components' in capsys.readouterr().err
    assert main(['eval', '--tracks', '--data', str(tmp_path), '--planar-motion']) == 2
    assert 'no use with --tracks' in capsys.readouterr().err
