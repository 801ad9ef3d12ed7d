"""av_pose.pose.smoothing: interleaved pair chains tied into one trajectory on ShoeboxAV rig paths.

The paths are the generator's own (`random_trajectory`); relative poses 1 s apart at 5 keyframes per second are the
ground truth with an independent rotation error per pair, as an estimator reports them.
"""
import numpy as np
import pytest

from av_pose.errors import UserInputError
from av_pose.geometry import invert_transform, relative_pose, rotation_angle_deg, so3_exp
from av_pose.pose.base import UNKNOWN_VARIANCE, PoseEstimate
from av_pose.pose.odometry import OdometryIntegrator
from av_pose.pose.scale import FixedSpeed, NoScale
from av_pose.pose.smoothing import ChainSmoother, chain_smoother
from av_pose.scene.room import Room
from av_pose.scene.trajectory import random_trajectory

RATE_HZ = 5.0
NOISE_DEG = 3.0


def run(seed: int, smoother: ChainSmoother | None, noise_deg: float = NOISE_DEG, drop: tuple[int, ...] = ()):
    """(estimated K×3×3 rotations, true K×3×3 rotations, estimated K×4×4 poses) of one 12 s path."""
    rng = np.random.default_rng(seed)
    trajectory = random_trajectory(Room.random(rng), rng, 12.0, mode='free')
    times = np.arange(0.0, 12.0, 1.0 / RATE_HZ)
    truth = np.array([trajectory.pose_at(t) for t in times])
    truth = np.einsum('ij,njk->nik', invert_transform(truth[0]), truth)   # odom = the first keyframe
    integrator = OdometryIntegrator(NoScale(), gap_s=1.0, smoother=smoother)
    integrator.anchor(times[0])
    poses, kept = [np.eye(4)], [0]
    for k, t in enumerate(times[1:], start=1):
        partner = integrator.partner_for(t)
        if partner is None:   # younger than half the gap: not a keyframe yet, as in run_odometry and the node
            continue
        a = int(round(partner.stamp_s * RATE_HZ))
        T_a_b = relative_pose(truth[a], truth[k])
        T_a_b[:3, :3] = T_a_b[:3, :3] @ so3_exp(rng.normal(0.0, np.radians(noise_deg), 3))
        T_a_b[:3, 3] = 0.0
        covariance = np.diag([UNKNOWN_VARIANCE] * 3 + [np.radians(noise_deg) ** 2] * 3)
        estimate = PoseEstimate(T_a_b=T_a_b, covariance=covariance, translation_known=False)
        if k in drop:   # an invalid estimate handed to the integrator: identity, nothing known
            estimate = PoseEstimate.invalid('dropped')
        poses.append(integrator.add(partner, t, estimate).T_odom_sensor)
        kept.append(k)
    poses = np.array(poses)
    return poses[:, :3, :3], truth[kept, :3, :3], poses


def heading_errors(estimated: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.array([float(rotation_angle_deg(e, t)) for e, t in zip(estimated, truth)])


def jumps_deg(estimated: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """How far each keyframe's error rotation is from the previous one's, degrees."""
    errors = [t.T @ e for e, t in zip(estimated, truth)]
    return np.array([float(rotation_angle_deg(a, b)) for a, b in zip(errors[:-1], errors[1:])])


def test_the_smoother_ties_the_chains_together_and_drifts_less():
    jump_ratio, error_ratio = [], []
    for seed in range(4):
        chained, truth, _ = run(seed, None)
        smoothed, _, _ = run(seed, chain_smoother())
        jump_ratio.append(np.sqrt(np.mean(jumps_deg(smoothed, truth) ** 2))
                          / np.sqrt(np.mean(jumps_deg(chained, truth) ** 2)))
        error_ratio.append(np.sqrt(np.mean(heading_errors(smoothed, truth) ** 2))
                           / np.sqrt(np.mean(heading_errors(chained, truth) ** 2)))
    # measured: RMS jumps 0.19-0.25 of the chains' (those 14-21°), RMS rotation error 0.29-0.63 of theirs
    assert max(jump_ratio) < 0.4, jump_ratio
    assert np.mean(error_ratio) < 0.7 and max(error_ratio) < 0.9, error_ratio


def test_exact_estimates_stay_exact_and_a_weak_prior_changes_nothing():
    smoothed, truth, _ = run(0, chain_smoother(), noise_deg=1e-4)
    assert heading_errors(smoothed, truth).max() < 0.05   # measured 0.001°: the prior hardly bends a true path
    chained, _, chained_poses = run(1, None)
    weak, _, weak_poses = run(1, ChainSmoother(lag_s=1.0, angular_accel_rad_s2=1e4))
    np.testing.assert_allclose(weak_poses, chained_poses, atol=1e-4)


def test_an_invalid_estimate_is_filled_in_from_the_other_chains():
    dropped = (20, 21, 22)   # frame indices; the keyframes are frames 0 and 5 on (2.4-2.8 s)
    rows = [k - 4 for k in dropped]
    chained, truth, _ = run(2, None, drop=dropped)
    smoothed, _, _ = run(2, chain_smoother(), drop=dropped)
    # the chain takes identity for the dropped pairs (the whole 1 s turn is lost, and its chain keeps that error)
    # measured: chain 15.4°, 9.5°, 8.2°; smoothed 6.6°, 6.2°, 7.7°
    assert heading_errors(smoothed, truth)[rows].max() < heading_errors(chained, truth)[rows].max()
    assert heading_errors(smoothed, truth)[rows].max() < 8.0


def integrate_random_steps(integrator: OdometryIntegrator, frames: int, seed: int, turn_sigma_rad: float,
                           translation: bool) -> None:
    """Keyframes 3 … frames − 1 at RATE_HZ, each pair a random turn (and unit translation direction, if asked)."""
    rng = np.random.default_rng(seed)
    integrator.anchor(0.0)
    for k in range(3, frames):
        t = k / RATE_HZ
        T_a_b = np.eye(4)
        T_a_b[:3, :3] = so3_exp(rng.normal(0.0, turn_sigma_rad, 3))
        if translation:
            T_a_b[:3, 3] = rng.normal(0.0, 1.0, 3)
            T_a_b[:3, 3] /= np.linalg.norm(T_a_b[:3, 3])
        estimate = PoseEstimate(T_a_b=T_a_b, covariance=np.eye(6) * 1e-3, translation_known=translation)
        integrator.add(integrator.partner_for(t), t, estimate)


def test_positions_follow_the_chains_with_the_smoothed_rotations():
    integrator = OdometryIntegrator(NoScale(), gap_s=1.0, smoother=chain_smoother())
    integrate_random_steps(integrator, 20, seed=5, turn_sigma_rad=0.05, translation=False)
    for keyframe in integrator.keyframes:   # unknown translation: zero, smoothing or not
        np.testing.assert_allclose(keyframe.T_odom_sensor[:3, 3], 0.0, atol=1e-12)


def test_known_translations_are_applied_in_the_smoothed_axes_of_the_partner():
    integrator = OdometryIntegrator(FixedSpeed(0.5), gap_s=1.0, smoother=chain_smoother())
    integrate_random_steps(integrator, 30, seed=6, turn_sigma_rad=0.1, translation=True)
    by_stamp = {keyframe.stamp_s: keyframe for keyframe in integrator.keyframes}
    recent = [keyframe for keyframe in integrator.keyframes if keyframe.stamp_s >= 29 / RATE_HZ - 1.0 - 1e-9]
    assert len(recent) == 6
    for keyframe in recent:   # the smoother's last pass left these: p_b = p_a + R_a · (0.5 m/s · gap · direction)
        partner = by_stamp[keyframe.partner_stamp_s]
        expected = partner.T_odom_sensor[:3, 3] + partner.T_odom_sensor[:3, :3] @ keyframe.T_a_b[:3, 3]
        np.testing.assert_allclose(keyframe.T_odom_sensor[:3, 3], expected, atol=1e-9)
        assert np.linalg.norm(keyframe.T_a_b[:3, 3]) == pytest.approx(0.5 * (keyframe.stamp_s - partner.stamp_s))


@pytest.mark.parametrize('kwargs', [{'lag_s': -1.0}, {'angular_accel_rad_s2': 0.0}, {'iterations': 0}])
def test_bad_smoother_settings_are_user_errors(kwargs):
    with pytest.raises(UserInputError, match='smoothing needs'):
        ChainSmoother(**kwargs)


def test_a_lag_of_zero_turns_smoothing_off():
    assert chain_smoother(0.0) is None and chain_smoother(1.0) is not None
