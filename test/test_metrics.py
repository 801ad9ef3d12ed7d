import numpy as np
import pytest

from av_pose.errors import UserInputError
from av_pose.geometry import make_transform, relative_pose, rotation_from_ypr, so3_exp
from av_pose.metrics.azimuth import (
    azimuth_abs_error_deg,
    azimuth_mae_deg,
    fold_front_deg,
    slfm_angle_error_deg,
    slfm_summary,
    wrap_signed_deg,
)
from av_pose.metrics.pose import (
    evaluate_pose_pairs,
    pose_auc,
    rotation_error_deg,
    total_error_deg,
    translation_direction_error_deg,
    yaw_error_deg,
)
from av_pose.metrics.spherical import (
    SphericalGrid,
    angular_error_deg,
    az_el_from_direction,
    direction_errors,
    direction_from_az_el,
    elevation_abs_error_deg,
    energy_map_auc,
    energy_map_cc,
    energy_map_metrics,
    weighted_roc_auc,
)

# ---------------------------------------------------------------- pose


def test_pose_auc_hand_computed():
    # errors [1, 3, 7, 30]: curve points (0,0) (1,.25) (3,.5) (7,.75) (30,1).
    # @5:  trapezoids 0..1: .125, 1..3: .75, then recall .5 held 3..5: 1.0  → 1.875 / 5  = 0.375
    # @10: .125 + .75 + 3..7: (.5+.75)/2·4 = 2.5, held .75 over 7..10: 2.25 → 5.625 / 10 = 0.5625
    # @20: .125 + .75 + 2.5 + .75·13 = 9.75                               → 13.125 / 20 = 0.65625
    aucs = pose_auc([30.0, 7.0, 1.0, 3.0])
    assert aucs == pytest.approx({5.0: 0.375, 10.0: 0.5625, 20.0: 0.65625})


def test_pose_auc_limits_and_edge_cases():
    assert pose_auc([0.0, 0.0, 0.0], [5.0])[5.0] == pytest.approx(1.0)
    assert pose_auc([25.0, 40.0], [5.0, 20.0]) == {5.0: 0.0, 20.0: 0.0}
    assert pose_auc([5.0], [5.0])[5.0] == 0.0  # an error equal to the threshold does not count
    # NaN (undefined) errors count as failures, exactly like infinite errors
    assert pose_auc([1.0, np.nan]) == pose_auc([1.0, np.inf])
    assert pose_auc([1.0, np.nan])[5.0] < pose_auc([1.0, 1.0])[5.0]
    with pytest.raises(UserInputError):
        pose_auc([])
    with pytest.raises(UserInputError):
        pose_auc([1.0], [0.0])


def test_pose_auc_matches_dense_integration_of_the_curve():
    rng = np.random.default_rng(0)
    errors = np.sort(rng.exponential(8.0, size=37))
    recall = np.arange(1, errors.size + 1) / errors.size
    for threshold in (5.0, 10.0, 20.0):
        below = errors < threshold
        x = np.linspace(0.0, threshold, 200_001)
        # piecewise-linear recall through (0, 0) and the points below the threshold, then held flat
        curve = np.interp(x, np.concatenate([[0.0], errors[below]]), np.concatenate([[0.0], recall[below]]))
        assert pose_auc(errors, [threshold])[threshold] == pytest.approx(np.mean(curve), abs=1e-4)


def test_rotation_and_translation_errors_known_values():
    assert rotation_error_deg(np.eye(3), rotation_from_ypr(np.radians(10.0), 0, 0)) == pytest.approx(10.0)
    assert translation_direction_error_deg([1, 0, 0], [0, 1, 0]) == pytest.approx(90.0)
    assert translation_direction_error_deg([5, 0, 0], [0.1, 0, 0]) == pytest.approx(0.0)  # scale-free
    assert translation_direction_error_deg([1, 1, 0], [-1, -1, 0]) == pytest.approx(180.0)
    assert translation_direction_error_deg([0, 0, 0], [0, 0, 0]) == 0.0  # both still: agree
    assert np.isnan(translation_direction_error_deg([0, 0, 0], [1, 0, 0]))
    assert np.isnan(translation_direction_error_deg([1, 0, 0], [0, 0, 0]))
    assert total_error_deg([3.0, 12.0], [7.0, 2.0]) == pytest.approx([7.0, 12.0])


def test_yaw_error_is_about_the_camera_up_axis_only():
    from av_pose.geometry import R_CAM_ARRAY_DEFAULT

    def camera(yaw_deg, pitch_deg=0.0, roll_deg=0.0):  # a level-body rotation seen in the optical frame
        R_body = rotation_from_ypr(*np.radians([yaw_deg, pitch_deg, roll_deg]))
        return R_CAM_ARRAY_DEFAULT @ R_body @ R_CAM_ARRAY_DEFAULT.T

    assert yaw_error_deg(camera(10.0), camera(0.0)) == pytest.approx(10.0)
    assert yaw_error_deg(camera(-175.0), camera(175.0)) == pytest.approx(10.0)
    assert yaw_error_deg(camera(10.0, pitch_deg=4.0, roll_deg=-3.0), camera(10.0)) == pytest.approx(0.0, abs=1e-9)
    # Turning left by 10° about the optical −y axis (up) is a yaw of +10°.
    left = so3_exp(np.radians(10.0) * np.array([0.0, -1.0, 0.0]))
    assert yaw_error_deg(left, np.eye(3)) == pytest.approx(10.0)


def test_evaluate_pose_pairs_recovers_known_perturbations():
    rng = np.random.default_rng(1)
    n = 40
    T_world_1 = make_transform(so3_exp(rng.normal(size=(n, 3))), rng.normal(size=(n, 3)))
    T_world_2 = make_transform(so3_exp(rng.normal(size=(n, 3))), rng.normal(size=(n, 3)))
    T_gt = relative_pose(T_world_1, T_world_2)
    rotation_err = rng.uniform(0.0, 30.0, n)
    translation_err = rng.uniform(0.0, 30.0, n)
    # rotate the rotation about a random axis by rotation_err; rotate the translation about an axis
    # perpendicular to it by translation_err, and rescale it (the metric must ignore scale)
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    R_pred = T_gt[:, :3, :3] @ so3_exp(axes * np.radians(rotation_err)[:, None])
    t_gt = T_gt[:, :3, 3]
    perpendicular = np.cross(t_gt, rng.normal(size=(n, 3)))
    perpendicular /= np.linalg.norm(perpendicular, axis=1, keepdims=True)
    t_pred = np.einsum('nij,nj->ni', so3_exp(perpendicular * np.radians(translation_err)[:, None]), t_gt)
    t_pred *= rng.uniform(0.1, 10.0, size=(n, 1))
    result = evaluate_pose_pairs(make_transform(R_pred, t_pred), T_gt)

    assert result['count'] == n
    assert np.allclose(result['per_pair']['rotation_deg'], rotation_err, atol=1e-9)
    assert np.allclose(result['per_pair']['translation_deg'], translation_err, atol=1e-9)
    total = np.maximum(rotation_err, translation_err)
    assert np.allclose(result['per_pair']['total_deg'], total, atol=1e-9)
    summary = result['summary']
    assert summary['rotation']['mean_deg'] == pytest.approx(rotation_err.mean())
    assert summary['total']['median_deg'] == pytest.approx(np.median(total))
    assert summary['total']['undefined'] == 0
    for threshold in (5, 10, 20):
        assert summary['total'][f'auc@{threshold}'] == pytest.approx(pose_auc(total)[threshold])
        # the total can never beat either component
        assert summary['total'][f'auc@{threshold}'] <= summary['rotation'][f'auc@{threshold}'] + 1e-12

    three_by_four = evaluate_pose_pairs(make_transform(R_pred, t_pred)[:, :3], T_gt[:, :3])
    assert np.allclose(three_by_four['per_pair']['total_deg'], total, atol=1e-9)
    perfect = evaluate_pose_pairs(T_gt, T_gt)['summary']['total']
    assert perfect['auc@5'] == pytest.approx(1.0) and perfect['mean_deg'] == pytest.approx(0.0, abs=1e-6)


def test_evaluate_pose_pairs_reports_undefined_translations_and_bad_shapes():
    still = make_transform(np.eye(3), [0.0, 0.0, 0.0])
    moving = make_transform(np.eye(3), [1.0, 0.0, 0.0])
    result = evaluate_pose_pairs(np.stack([moving, moving]), np.stack([still, moving]))
    assert np.isnan(result['per_pair']['translation_deg'][0])
    assert result['summary']['translation']['undefined'] == 1
    assert result['summary']['translation']['mean_deg'] == pytest.approx(0.0)
    assert result['summary']['total']['auc@5'] == pytest.approx(0.5)
    with pytest.raises(UserInputError):
        evaluate_pose_pairs(np.zeros((2, 4, 4)), np.zeros((3, 4, 4)))

# ---------------------------------------------------------------- azimuth


def test_azimuth_wrap_around_errors():
    assert wrap_signed_deg([190.0, -190.0, 180.0, -180.0, 540.0]) == pytest.approx([-170, 170, 180, 180, 180])
    assert azimuth_abs_error_deg(359.0, 1.0) == pytest.approx(2.0)
    assert azimuth_abs_error_deg(-170.0, 170.0) == pytest.approx(20.0)
    assert azimuth_mae_deg([359.0, 90.0, 0.0], [1.0, 80.0, 180.0]) == pytest.approx((2 + 10 + 180) / 3)


def test_fold_front_half_plane():
    folded = fold_front_deg([170.0, -100.0, 90.0, 180.0, 270.0, 30.0, -30.0, 350.0])
    assert folded == pytest.approx([10.0, -80.0, 90.0, 0.0, -90.0, 30.0, -30.0, -10.0])


def test_slfm_angle_error_with_and_without_folding():
    assert slfm_angle_error_deg(170.0, 10.0) == pytest.approx(0.0, abs=1e-6)  # front-back mirror images
    assert slfm_angle_error_deg(170.0, 10.0, fold=False) == pytest.approx(160.0)
    assert slfm_angle_error_deg(30.0, -30.0) == pytest.approx(60.0)
    assert slfm_angle_error_deg(350.0, 10.0, fold=False) == pytest.approx(20.0)
    rng = np.random.default_rng(2)
    pred, target = rng.uniform(-180, 180, 500), rng.uniform(-180, 180, 500)
    assert np.allclose(slfm_angle_error_deg(pred, target, fold=False), azimuth_abs_error_deg(pred, target))
    folded = slfm_angle_error_deg(pred, target)
    assert np.all(folded <= 180.0) and np.mean(folded) < np.mean(azimuth_abs_error_deg(pred, target))
    summary = slfm_summary([10.0, 20.0, 170.0], [0.0, 0.0, 0.0])
    assert summary == pytest.approx({'mean_deg': 40.0 / 3, 'median_deg': 10.0, 'count': 3})

# ---------------------------------------------------------------- spherical


def test_direction_angles_and_errors():
    assert angular_error_deg(0.0, 0.0, 90.0, 0.0) == pytest.approx(90.0)
    assert angular_error_deg(0.0, 0.0, 180.0, 0.0) == pytest.approx(180.0)
    assert angular_error_deg(0.0, 90.0, 123.0, 90.0) == pytest.approx(0.0, abs=1e-6)  # pole: azimuth is moot
    assert angular_error_deg(0.0, 0.0, 0.0, 40.0) == pytest.approx(40.0)
    # at 60° elevation a 90° azimuth error is a much smaller angle on the sphere
    assert angular_error_deg(0.0, 60.0, 90.0, 60.0) == pytest.approx(np.degrees(np.arccos(0.75)))
    assert elevation_abs_error_deg(-10.0, 25.0) == pytest.approx(35.0)
    errors = direction_errors([350.0, 20.0], [0.0, 10.0], [10.0, 20.0], [0.0, -10.0])
    assert errors == pytest.approx({'azimuth_deg': 10.0, 'elevation_deg': 10.0, 'angular_deg': 20.0})


def test_direction_round_trip():
    rng = np.random.default_rng(3)
    az, el = rng.uniform(0, 360, 100), rng.uniform(-89, 89, 100)
    vectors = direction_from_az_el(az, el)
    assert np.allclose(np.linalg.norm(vectors, axis=-1), 1.0)
    back_az, back_el = az_el_from_direction(3.0 * vectors)
    assert np.allclose(back_az, az) and np.allclose(back_el, el)


def test_spherical_grid_weights():
    grid = SphericalGrid(n_az=36, n_el=18)
    weights = grid.area_weights
    assert weights.shape == (18, 36) and weights.sum() == pytest.approx(1.0)
    assert weights[0, 0] < weights[9, 0] / 10  # polar cells are small
    # the weights integrate cos(elevation) correctly: mean of sin²(el) over the sphere is 1/3
    sin_el = np.sin(np.radians(grid.elevations_deg))[:, None]
    assert np.sum(weights * sin_el**2) == pytest.approx(1.0 / 3.0, rel=1e-2)


def test_weighted_roc_auc_matches_pairwise_count():
    rng = np.random.default_rng(4)
    scores = rng.integers(0, 5, 60).astype(float)  # many ties
    labels = rng.random(60) < 0.3
    weights = rng.uniform(0.1, 2.0, 60)
    pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
    pair_weight = weights[pos][:, None] * weights[neg][None, :]
    pos_scores, neg_scores = scores[pos][:, None], scores[neg][None, :]
    wins = (pos_scores > neg_scores) + 0.5 * (pos_scores == neg_scores)
    expected = np.sum(pair_weight * wins) / np.sum(pair_weight)
    assert weighted_roc_auc(scores, labels, weights) == pytest.approx(expected)
    assert np.isnan(weighted_roc_auc(scores, np.zeros(60, bool), weights))


def test_energy_map_metrics_behave():
    grid = SphericalGrid()
    reference = grid.render([30.0, 200.0], [10.0, -20.0], energies=[1.0, 0.6])
    assert energy_map_metrics(reference, reference, grid) == pytest.approx({'cc': 1.0, 'auc': 1.0})
    assert energy_map_cc(3.0 * reference + 2.0, reference, grid) == pytest.approx(1.0)  # affine-invariant
    inverted = energy_map_metrics(-reference, reference, grid)
    assert inverted['cc'] == pytest.approx(-1.0) and inverted['auc'] == pytest.approx(0.0)

    close = energy_map_metrics(grid.render([34.0, 196.0], [12.0, -17.0], [1.0, 0.6]), reference, grid)
    one_source = energy_map_metrics(grid.render([30.0], [10.0]), reference, grid)
    spurious = energy_map_metrics(grid.render([30.0, 200.0, 90.0], [10.0, -20.0, 0.0]), reference, grid)
    wrong = energy_map_metrics(grid.render([120.0, 300.0], [50.0, 0.0]), reference, grid)
    assert close['cc'] > 0.9 and close['auc'] > 0.99
    assert wrong['cc'] < 0.1 and wrong['auc'] < 0.5
    # missing the second source: the half of the hot area around it scores lowest of all (it is
    # nearly antipodal), so AUC falls to about chance while CC stays fairly high (the louder source)
    assert wrong['cc'] < one_source['cc'] < close['cc'] and wrong['auc'] < one_source['auc'] < close['auc']
    # an extra, spurious source keeps AUC (all hot cells still found) but costs CC (false energy)
    assert spurious['auc'] > 0.95 and spurious['cc'] < close['cc'] - 0.1
    noise = np.random.default_rng(5).random((grid.n_el, grid.n_az))
    assert abs(energy_map_auc(noise, reference, grid) - 0.5) < 0.1
    assert np.isnan(energy_map_cc(np.ones((grid.n_el, grid.n_az)), reference, grid))
    with pytest.raises(UserInputError):
        energy_map_cc(np.ones((3, 3)), reference, grid)
    with pytest.raises(UserInputError):
        energy_map_auc(reference, reference, grid, hot_quantile=1.0)
