"""av_pose.pose.odometry: integrating relative poses of a ShoeboxAV rig trajectory back into the trajectory.

The trajectories are the generator's own (`random_trajectory` in a random room); relative poses are the
ground truth inv(P_a)·P_b with the translation reduced to a unit direction, as a monocular estimator reports it.
"""
import numpy as np
import pytest
from scipy.linalg import expm

from av_pose.errors import UserInputError
from av_pose.geometry import (
    R_CAM_ARRAY_DEFAULT,
    adjoint,
    hat,
    invert_transform,
    make_transform,
    parent_axes_covariance,
    relative_pose,
    rotation_angle_deg,
    se3_log,
    so3_exp,
)
from av_pose.pose.base import UNKNOWN_VARIANCE, PoseEstimate
from av_pose.pose.odometry import OdometryIntegrator
from av_pose.pose.scale import FixedSpeed, NoScale, ReferenceScale, Scale, make_scale_policy, scaled_relative
from av_pose.scene.room import Room
from av_pose.scene.trajectory import random_trajectory

RATE_HZ = 10.0
ROT_SIGMA_RAD = np.radians(1.0)
DIR_SIGMA = 0.05


def rig_trajectory(seed: int, duration_s: float = 12.0, mode: str = 'free'):
    rng = np.random.default_rng(seed)
    return random_trajectory(Room.random(rng), rng, duration_s, mode=mode)


def monocular_estimate(T_a_b: np.ndarray) -> PoseEstimate:
    """Ground truth as a monocular estimator would give it: unit translation direction, 1° / 0.05 sigmas."""
    T = T_a_b.copy()
    norm = np.linalg.norm(T[:3, 3])
    T[:3, 3] = T[:3, 3] / norm if norm > 1e-9 else 0.0
    covariance = np.diag([DIR_SIGMA**2] * 3 + [ROT_SIGMA_RAD**2] * 3)
    return PoseEstimate(T_a_b=T, covariance=covariance, translation_known=norm > 1e-9, used=('vision',))


def integrate(poses: np.ndarray, times: np.ndarray, integrator: OdometryIntegrator, reference=None):
    """Feed keyframes in time order; returns {stamp: OdometryStep} for every integrated frame."""
    steps = {}
    for t, P in zip(times, poses):
        if reference is not None:
            reference.add(t, P[:3, 3])
        if integrator.needs_anchor(t):
            integrator.anchor(t, payload=P)
            continue
        partner = integrator.partner_for(t)
        if partner is None:
            continue
        steps[t] = integrator.add(partner, t, monocular_estimate(relative_pose(partner.payload, P)), payload=P)
    return steps


def test_se3_log_inverts_the_matrix_exponential():
    rng = np.random.default_rng(0)
    for _ in range(20):
        xi = rng.normal(size=6) * np.array([1, 1, 1, 0.8, 0.8, 0.8])
        twist = np.zeros((4, 4))
        twist[:3, :3], twist[:3, 3] = hat(xi[3:]), xi[:3]
        np.testing.assert_allclose(se3_log(expm(twist)), xi, atol=1e-9)


def test_adjoint_maps_twists_between_frames():
    rng = np.random.default_rng(1)
    T = make_transform(so3_exp(rng.normal(size=3)), rng.normal(size=3))
    xi = rng.normal(size=6)
    twist = np.zeros((4, 4))
    twist[:3, :3], twist[:3, 3] = hat(xi[3:]), xi[:3]
    # T · exp(ξ) · T⁻¹ = exp(Ad(T) ξ)
    np.testing.assert_allclose(se3_log(T @ expm(twist) @ invert_transform(T)), adjoint(T) @ xi, atol=1e-9)


def test_reference_scale_recovers_a_free_trajectory():
    trajectory = rig_trajectory(seed=3)
    times = np.arange(0.0, trajectory.duration_s, 1.0 / RATE_HZ)
    poses = trajectory.sample(times)
    integrator = OdometryIntegrator(ReferenceScale(), gap_s=1.0)
    steps = integrate(poses, times, integrator, reference=integrator.scale)
    assert len(steps) >= len(times) - 6  # only the first 0.5 s has no partner
    P0_inv = invert_transform(poses[0])
    for t, P in zip(times, poses):
        if t in steps:
            truth = P0_inv @ P
            step = steps[t]
            assert rotation_angle_deg(step.T_odom_sensor[:3, :3], truth[:3, :3]) < 1e-6
            np.testing.assert_allclose(step.T_odom_sensor[:3, 3], truth[:3, 3], atol=1e-6)
            assert step.scale_known
    travelled = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1).sum()
    assert travelled > 1.0  # the test means something: the rig moved


def test_covariance_grows_along_each_chain_and_is_symmetric_positive():
    trajectory = rig_trajectory(seed=4)
    times = np.arange(0.0, trajectory.duration_s, 1.0 / RATE_HZ)
    integrator = OdometryIntegrator(ReferenceScale(), gap_s=1.0)
    steps = integrate(trajectory.sample(times), times, integrator, reference=integrator.scale)
    for step in steps.values():
        np.testing.assert_allclose(step.covariance, step.covariance.T, atol=1e-12)
        assert np.all(np.linalg.eigvalsh(step.covariance) > 0)
    # one chain: 0.5 → 1.5 → 2.5 ...: the rotation variance (trace) grows by about one relative step each time
    chain = [steps[t] for t in sorted(steps) if abs((t - 0.5) % 1.0) < 1e-6 or abs((t - 0.5) % 1.0 - 1) < 1e-6]
    traces = [np.trace(s.covariance[3:, 3:]) for s in chain]
    assert len(traces) >= 10 and np.all(np.diff(traces) > 0)
    np.testing.assert_allclose(np.diff(traces), 3 * ROT_SIGMA_RAD**2, rtol=1e-6)
    # the position variance grows too (rotation uncertainty times distance adds to it)
    positions = [np.trace(s.covariance[:3, :3]) for s in chain]
    assert np.all(np.diff(positions) > 0)


def test_no_scale_is_rotation_only_odometry():
    trajectory = rig_trajectory(seed=5)
    times = np.arange(0.0, trajectory.duration_s, 1.0 / RATE_HZ)
    poses = trajectory.sample(times)
    steps = integrate(poses, times, OdometryIntegrator(NoScale(), gap_s=1.0))
    for t, P in zip(times, poses):
        if t in steps:
            step = steps[t]
            assert rotation_angle_deg(step.T_odom_sensor[:3, :3], poses[0][:3, :3].T @ P[:3, :3]) < 1e-6
            assert np.all(step.T_odom_sensor[:3, 3] == 0.0) and np.all(step.twist[:3] == 0.0)
            assert np.all(np.diag(step.covariance)[:3] >= 0.999 * UNKNOWN_VARIANCE) and not step.scale_known
            dt = step.stamp_s - step.partner_stamp_s
            assert np.all(np.diag(step.twist_covariance)[:3] >= 0.999 * UNKNOWN_VARIANCE / dt**2)
            assert np.all(np.diag(step.covariance)[3:] < 1.0)


def test_fixed_speed_scales_the_direction():
    estimate = monocular_estimate(make_transform(np.eye(3), [0.0, 0.0, 2.0]))
    T, cov = scaled_relative(estimate, FixedSpeed(0.4).scale(10.0, 11.5))
    np.testing.assert_allclose(T[:3, 3], [0.0, 0.0, 0.6])
    # along the motion: s² Σ_dir + σ_s² = 0.36·0.0025 + (0.5·0.6)²; across it: s² Σ_dir only
    assert cov[2, 2] == pytest.approx(0.36 * DIR_SIGMA**2 + 0.3**2)
    assert cov[0, 0] == pytest.approx(0.36 * DIR_SIGMA**2)
    assert make_scale_policy('fixed', 0.4).describe().startswith('fixed (0.4 m/s')
    with pytest.raises(UserInputError, match='translation_scale'):
        make_scale_policy('metric')


def test_twist_of_a_constant_motion():
    v, w = np.array([0.3, 0.0, 0.5]), np.array([0.0, 0.4, 0.0])  # camera axes: forward, turning about y
    twist = np.zeros((4, 4))
    twist[:3, :3], twist[:3, 3] = hat(w), v
    times = np.arange(0.0, 4.0, 0.1)
    poses = np.array([expm(twist * t) for t in times])
    reference = ReferenceScale()
    integrator = OdometryIntegrator(reference, gap_s=1.0)
    steps = integrate(poses, times, integrator, reference=reference)
    step = steps[times[-1]]
    # the interpolated reference distance is exact only for straight lines; the twist's direction is exact
    assert step.twist[3:] == pytest.approx(w, abs=1e-9)
    assert step.twist[:3] / np.linalg.norm(step.twist[:3]) == pytest.approx(v / np.linalg.norm(v), abs=1e-9)
    assert np.linalg.norm(step.twist[:3]) == pytest.approx(np.linalg.norm(v), rel=0.01)
    # the same motion seen by the body frame (REP-103, camera looking along body x)
    T_base_cam = make_transform(R_CAM_ARRAY_DEFAULT.T, [0.1, 0.0, 0.3])
    body_twist, body_cov = step.body_twist(T_base_cam)
    assert body_twist[3:] == pytest.approx(R_CAM_ARRAY_DEFAULT.T @ w, abs=1e-9)
    assert body_twist[5] == pytest.approx(-0.4)  # camera +y (down) = body -z: turning right
    assert np.all(np.linalg.eigvalsh(body_cov) > 0)


def test_body_pose_starts_at_the_odom_origin_and_follows_the_extrinsic():
    trajectory = rig_trajectory(seed=6)
    times = np.arange(0.0, 6.0, 0.1)
    poses = trajectory.sample(times)
    integrator = OdometryIntegrator(ReferenceScale(), gap_s=1.0)
    steps = integrate(poses, times, integrator, reference=integrator.scale)
    T_base_cam = make_transform(R_CAM_ARRAY_DEFAULT.T, [0.2, -0.05, 0.4])
    T_world_base = poses @ invert_transform(T_base_cam)
    for t, P_base in zip(times, T_world_base):
        if t in steps:
            body, cov = steps[t].body_pose(T_base_cam)
            np.testing.assert_allclose(body, invert_transform(T_world_base[0]) @ P_base, atol=1e-9)
            odom_axes = parent_axes_covariance(body, cov)
            assert np.trace(odom_axes) == pytest.approx(np.trace(cov))
            np.testing.assert_allclose(np.linalg.eigvalsh(odom_axes), np.linalg.eigvalsh(cov), rtol=1e-9)


def test_partner_selection_and_start_up():
    integrator = OdometryIntegrator(NoScale(), gap_s=1.0)
    assert integrator.needs_anchor(0.0) and integrator.partner_for(0.0) is None
    integrator.anchor(0.0)
    estimate = monocular_estimate(np.eye(4))
    assert integrator.partner_for(0.3) is None          # younger than min_gap (0.5 s): wait
    # keyframes 0.1-0.4 were never integrated, so until 1.5 s the partner is the keyframe nearest 1 s back
    expected = {0.5: 0.0, 0.8: 0.0, 1.0: 0.0, 1.2: 0.0, 1.3: 0.5, 1.4: 0.5, 1.5: 0.5, 1.6: 0.6, 2.0: 1.0}
    for t in np.round(np.arange(0.5, 2.05, 0.1), 6):
        partner = integrator.partner_for(t)
        if t in expected:
            assert partner.stamp_s == pytest.approx(expected[t]), t
        integrator.add(partner, t, estimate)
    assert not integrator.needs_anchor(5.5) and integrator.needs_anchor(6.1)  # max gap 4 s
    before = integrator.latest.covariance
    restarted = integrator.anchor(6.1)
    np.testing.assert_allclose(restarted.covariance, before + np.eye(6) * UNKNOWN_VARIANCE)
    assert len(integrator.keyframes) == 1
    with pytest.raises(UserInputError):
        integrator.add(integrator.latest, integrator.latest.stamp_s, estimate)
    with pytest.raises(UserInputError):
        OdometryIntegrator(NoScale(), gap_s=1.0, min_gap_s=2.0)


def test_a_dropped_frame_is_paired_across_and_a_lone_anchor_that_cannot_be_paired_moves_on():
    yaw = make_transform(so3_exp([0.0, 0.3, 0.0]), [0.0, 0.0, 0.0])
    integrator = OdometryIntegrator(NoScale(), gap_s=1.0)
    start = integrator.anchor(0.0, payload='blurred')
    moved = integrator.drop(integrator.partner_for(1.0), 1.0, payload='sharp')   # 0 → 1 s failed: restart at 1 s
    assert moved is integrator.latest and moved.payload == 'sharp' and len(integrator.keyframes) == 1
    np.testing.assert_allclose(moved.T_odom_sensor, start.T_odom_sensor)
    np.testing.assert_allclose(moved.covariance, np.eye(6) * UNKNOWN_VARIANCE)   # the motion over 0–1 s is unknown
    integrator.add(integrator.partner_for(2.0), 2.0, monocular_estimate(yaw))
    assert integrator.drop(integrator.partner_for(3.0), 3.0) is None   # a chain of two: 3 s gets no pose ...
    partner = integrator.partner_for(4.0)
    assert partner.stamp_s == 2.0                                       # ... and 4 s pairs across it, 2 s back
    step = integrator.add(partner, 4.0, monocular_estimate(yaw))
    assert rotation_angle_deg(step.T_odom_sensor[:3, :3], so3_exp([0.0, 0.6, 0.0])) < 1e-9


def test_gap_decisions_do_not_depend_on_the_clocks_rounding():
    """Frames exactly min_gap_s (0.6 s) and max_gap_s (4.8 s) apart, stamped as ROS stamps them (about 1.7e9 s)."""
    def ros_stamp(ns: int) -> float:
        return float(1_700_000_000 + ns // 10**9) + (ns % 10**9) * 1e-9

    integrator = OdometryIntegrator(NoScale(), gap_s=1.2)
    integrator.anchor(ros_stamp(0))
    assert ros_stamp(600_000_000) - ros_stamp(0) < 0.6   # 0.59999990 s in float64
    assert integrator.partner_for(ros_stamp(600_000_000)) is integrator.latest
    assert not integrator.needs_anchor(ros_stamp(4_800_000_000))


def test_reset_keeps_the_pose_continuous():
    yaw = make_transform(so3_exp([0.0, 0.3, 0.0]), [0.0, 0.0, 0.0])
    integrator = OdometryIntegrator(NoScale(), gap_s=1.0)
    integrator.anchor(100.0)
    step = integrator.add(integrator.partner_for(101.0), 101.0, monocular_estimate(yaw))
    integrator.reset()  # e.g. a bag loop: time goes back to 100
    assert integrator.needs_anchor(100.0)
    restart = integrator.anchor(100.0)
    np.testing.assert_allclose(restart.T_odom_sensor, step.T_odom_sensor)
    # the motion between the two chains is unknown: every axis gets UNKNOWN_VARIANCE more
    np.testing.assert_allclose(restart.covariance, step.covariance + np.eye(6) * UNKNOWN_VARIANCE)
    again = integrator.add(restart, 101.0, monocular_estimate(yaw))
    assert rotation_angle_deg(again.T_odom_sensor[:3, :3], so3_exp([0.0, 0.6, 0.0])) < 1e-9


def test_reference_scale_interpolates_and_refuses_uncovered_intervals():
    reference = ReferenceScale()
    for t in range(6):
        assert reference.add(float(t), [0.5 * t, 0.0, 0.0])
    assert not reference.add(4.5, [9.0, 9.0, 9.0])      # late sample
    assert not reference.add(6.0, [np.nan, 0.0, 0.0])
    assert reference.scale(0.5, 2.5) == Scale(1.0, (0.05 * 1.0 + 0.01) ** 2)
    assert reference.scale(4.5, 6.5) is None             # beyond the newest sample
    assert reference.add(1.0, [0.0, 0.0, 0.0])          # a jump back restarts the reference
    assert reference.scale(0.5, 2.5) is None


def outage_run(seed: int, hold_s: float, outage_s: tuple[float, float], rate_hz: float = 5.0):
    """Integrate a path at `rate_hz` with ground-truth scale and rotations, the direction unknown in `outage_s`.

    Returns (estimated K×4×4 poses, true K×4×4 poses in odom, the steps inside the outage).
    """
    trajectory = rig_trajectory(seed)
    times = np.round(np.arange(0.0, trajectory.duration_s, 1.0 / rate_hz), 6)
    poses = trajectory.sample(times)
    truth = np.einsum('ij,njk->nik', invert_transform(poses[0]), poses)
    integrator = OdometryIntegrator(ReferenceScale(), gap_s=1.0, direction_hold_s=hold_s)
    for t, P in zip(times, poses):
        integrator.scale.add(t, P[:3, 3])
    integrator.anchor(times[0], payload=0)
    estimated, kept, blind = [np.eye(4)], [0], []
    for k, t in enumerate(times[1:], start=1):
        partner = integrator.partner_for(t)
        if partner is None:
            continue
        estimate = monocular_estimate(relative_pose(truth[partner.payload], truth[k]))
        inside = outage_s[0] <= t <= outage_s[1]
        if inside:   # vision failed: the rotation (image shift, audio) without a direction
            estimate = PoseEstimate(T_a_b=make_transform(estimate.T_a_b[:3, :3], [0.0, 0.0, 0.0]),
                                    covariance=np.diag([UNKNOWN_VARIANCE] * 3 + [ROT_SIGMA_RAD**2] * 3),
                                    translation_known=False)
        step = integrator.add(partner, t, estimate, payload=k)
        blind += [step] if inside else []
        estimated.append(step.T_odom_sensor)
        kept.append(k)
    return np.array(estimated), truth[kept], blind


def test_direction_hold_carries_the_known_travel_through_a_vision_outage():
    outage = (5.0, 6.6)   # 1.6 s without a translation direction, as on a blurred stretch
    errors = {0.0: [], 2.0: []}
    for seed in range(1, 10):   # nine generator paths (the rig stands still through the outage on one)
        for hold_s in errors:
            estimated, truth, blind = outage_run(seed, hold_s, outage)
            errors[hold_s].append(np.linalg.norm(estimated[-1][:3, 3] - truth[-1][:3, 3]))
            assert len(blind) == 9
            for step in blind:   # a guess for the mean only: the covariance still says unknown, no metric scale
                assert np.all(np.diag(step.relative_covariance)[:3] >= UNKNOWN_VARIANCE) and not step.scale_known
            assert all(step.direction_held == (hold_s > 0) for step in blind)   # the outage is shorter than 2 s
            if hold_s == 0.0:
                assert all(np.all(step.T_a_b[:3, 3] == 0.0) for step in blind)
    without, held = np.array(errors[0.0]), np.array(errors[2.0])
    assert without.mean() > 0.2                     # the outage costs the chain-only odometry 0.24 m on average
    assert held.mean() < 0.5 * without.mean()       # held: 0.10 m
    assert np.sum(held < without) >= 6              # a rig that changes course in the outage can be worse off


def test_direction_hold_ends_after_its_time_and_needs_a_scale():
    _, _, blind = outage_run(seed=12, hold_s=0.5, outage_s=(5.0, 8.0))
    moved = [np.linalg.norm(step.T_a_b[:3, 3]) > 0 for step in blind]
    # the direction was last known at 4.8 s: held for the keyframes until 5.3 s, not after
    assert moved == [step.stamp_s <= 4.8 + 0.5 + 1e-9 for step in blind] and any(moved) and not all(moved)
    assert moved == [step.direction_held for step in blind]
    integrator = OdometryIntegrator(NoScale(), gap_s=1.0, direction_hold_s=5.0)
    integrator.anchor(0.0)
    integrator.add(integrator.partner_for(1.0), 1.0, monocular_estimate(make_transform(np.eye(3), [0, 0, 1.0])))
    unknown = PoseEstimate(T_a_b=np.eye(4), covariance=np.eye(6), translation_known=False)
    assert np.all(integrator.add(integrator.partner_for(2.0), 2.0, unknown).T_odom_sensor[:3, 3] == 0.0)
    with pytest.raises(UserInputError, match='direction_hold_frame'):
        OdometryIntegrator(NoScale(), direction_hold_frame='base')
    with pytest.raises(UserInputError, match='direction_hold_s'):
        OdometryIntegrator(NoScale(), direction_hold_s=-1.0)


def test_held_direction_stays_in_odom_or_turns_with_the_rig():
    forward = monocular_estimate(make_transform(np.eye(3), [0.0, 0.0, 1.0]))     # camera z: ahead
    quarter_turn = so3_exp([0.0, -np.pi / 2, 0.0])                                  # about the camera's y (down)
    turn_blind = PoseEstimate(T_a_b=make_transform(quarter_turn, [0.0, 0.0, 0.0]),
                              covariance=np.diag([UNKNOWN_VARIANCE] * 3 + [1e-4] * 3), translation_known=False)
    still_blind = PoseEstimate(T_a_b=np.eye(4), covariance=turn_blind.covariance, translation_known=False)
    ends = {}
    for frame in ('odom', 'sensor'):
        integrator = OdometryIntegrator(FixedSpeed(0.5), gap_s=1.0, direction_hold_s=5.0, direction_hold_frame=frame)
        integrator.anchor(0.0)
        for t, estimate in ((1.0, forward), (2.0, turn_blind), (3.0, still_blind)):
            step = integrator.add(integrator.partner_for(t), t, estimate)
        ends[frame] = step.T_odom_sensor[:3, 3]
        assert integrator.describe_direction_hold() == ('5 s in odom' if frame == 'odom' else "5 s in the rig's axes")
    # 0.5 m ahead, then twice 0.5 m more: straight on in odom, or along the turned camera's z in its own axes
    np.testing.assert_allclose(ends['odom'], [0.0, 0.0, 1.5], atol=1e-9)
    np.testing.assert_allclose(ends['sensor'], [0.0, 0.0, 1.0] + 0.5 * quarter_turn[:, 2], atol=1e-9)
    assert np.linalg.norm(ends['odom'] - ends['sensor']) > 0.5


def test_an_unsure_direction_is_integrated_but_not_held():
    sure = monocular_estimate(make_transform(np.eye(3), [0.0, 0.0, 1.0]))            # ahead, 1-σ 0.05 per axis
    unsure_T = make_transform(np.eye(3), [1.0, 0.0, 0.0])                             # sideways, 1-σ 40° per axis
    unsure = PoseEstimate(T_a_b=unsure_T, covariance=np.diag([np.radians(40.0) ** 2] * 3 + [1e-4] * 3))
    blind = PoseEstimate(T_a_b=np.eye(4), covariance=np.diag([UNKNOWN_VARIANCE] * 3 + [1e-4] * 3),
                         translation_known=False)
    integrator = OdometryIntegrator(FixedSpeed(1.0), gap_s=1.0, direction_hold_s=5.0)
    integrator.anchor(0.0)
    steps = [integrator.add(integrator.partner_for(t), t, estimate)
             for t, estimate in ((1.0, sure), (2.0, unsure), (3.0, blind))]
    np.testing.assert_allclose(steps[1].T_a_b[:3, 3], [1.0, 0.0, 0.0])   # the unsure one moves as it says
    assert steps[2].direction_held                                          # the blind one follows the sure one
    np.testing.assert_allclose(steps[2].T_a_b[:3, 3], [0.0, 0.0, 1.0], atol=1e-12)


def test_the_translation_prior_is_where_the_direction_hold_moves_the_next_keyframe():
    # What the pose node and run_odometry hand the estimator (`PosePair.translation_prior_m`): the scale's
    # distance along the held direction, in the partner's axes, while the path keeps its direction; nothing
    # without a scale, a recent direction, or on a path that keeps turning.
    forward = monocular_estimate(make_transform(np.eye(3), [0.0, 0.0, 1.0]))
    quarter_turn = so3_exp([0.0, -np.pi / 2, 0.0])
    turn_blind = PoseEstimate(T_a_b=make_transform(quarter_turn, [0.0, 0.0, 0.0]),
                              covariance=np.diag([UNKNOWN_VARIANCE] * 3 + [1e-4] * 3), translation_known=False)
    for frame in ('odom', 'sensor'):
        integrator = OdometryIntegrator(FixedSpeed(0.5), gap_s=1.0, direction_hold_s=2.5, direction_hold_frame=frame)
        integrator.anchor(0.0)
        assert integrator.translation_prior(integrator.partner_for(1.0), 1.0) is None    # no direction yet
        for t in (1.0, 2.0, 3.0, 4.0, 5.0):
            integrator.add(integrator.partner_for(t), t, forward)
            assert integrator.path_persists() == (t >= 5.0)   # two comparisons 2 s apart are not enough
        integrator.add(integrator.partner_for(6.0), 6.0, turn_blind)
        partner = integrator.partner_for(7.0)
        prior = integrator.translation_prior(partner, 7.0)
        step = integrator.add(partner, 7.0, PoseEstimate(T_a_b=np.eye(4), covariance=turn_blind.covariance,
                                                         translation_known=False))
        np.testing.assert_allclose(prior, step.T_a_b[:3, 3], atol=1e-12)
        # in odom the travel stays along the start's z, which the turned partner sees along its own axes;
        # in the rig's axes it turns with the rig: along the partner's own z
        expected = quarter_turn.T @ [0.0, 0.0, 0.5] if frame == 'odom' else [0.0, 0.0, 0.5]
        np.testing.assert_allclose(prior, expected, atol=1e-12)
        assert integrator.translation_prior(integrator.partner_for(8.0), 8.0) is None   # direction 3 s old
    # a path whose direction turns 45° every second (90° in 2 s): held, it would point anywhere
    integrator = OdometryIntegrator(FixedSpeed(0.5), gap_s=1.0, direction_hold_s=5.0)
    integrator.anchor(0.0)
    for k, t in enumerate((1.0, 2.0, 3.0, 4.0, 5.0, 6.0)):
        angle = np.radians(45.0 * k)
        heading = monocular_estimate(make_transform(np.eye(3), [np.sin(angle), 0.0, np.cos(angle)]))
        integrator.add(integrator.partner_for(t), t, heading)
    assert not integrator.path_persists()
    assert integrator.translation_prior(integrator.partner_for(7.0), 7.0) is None
    integrator = OdometryIntegrator(NoScale(), gap_s=1.0, direction_hold_s=5.0)
    integrator.anchor(0.0)
    for t in (1.0, 2.0, 3.0, 4.0, 5.0):
        integrator.add(integrator.partner_for(t), t, forward)
    assert integrator.translation_prior(integrator.partner_for(6.0), 6.0) is None           # no scale


def test_a_reference_odometry_with_orientations_gives_the_cameras_own_travel():
    # A robot drives a 30°/s arc at 0.5 m/s, its camera 0.3 m ahead of the wheels and 0.2 m up, looking forward
    # (optical z = body x). The wheel odometry's poses and the extrinsic give the camera's displacement in its own
    # axes at t_a, lever arm included: exactly the relative pose of the true camera poses at the samples' stamps,
    # within half a millimetre between them (positions are interpolated along the chord of the arc).
    T_body_cam = make_transform(R_CAM_ARRAY_DEFAULT.T, [0.3, 0.0, 0.2])
    rate, radius = np.radians(30.0), 0.5 / np.radians(30.0)
    reference, positions_only = ReferenceScale(T_body_sensor=T_body_cam), ReferenceScale(T_body_sensor=T_body_cam)

    def body(t: float) -> np.ndarray:
        return make_transform(so3_exp([0.0, 0.0, rate * t]),
                              [radius * np.sin(rate * t), radius * (1 - np.cos(rate * t)), 0.0])
    for t in np.arange(0.0, 4.01, 0.1):
        assert reference.add(t, body(t)[:3, 3], body(t)[:3, :3])
        positions_only.add(t, body(t)[:3, 3])
    for t_a, t_b, tolerance in ((1.0, 2.0, 1e-9), (0.3, 3.7, 1e-9), (1.05, 2.05, 5e-4)):
        truth = relative_pose(body(t_a) @ T_body_cam, body(t_b) @ T_body_cam)[:3, 3]
        np.testing.assert_allclose(reference.travel(t_a, t_b), truth, atol=tolerance)
        assert reference.scale(t_a, t_b).distance_m == pytest.approx(np.linalg.norm(truth), abs=tolerance)
    # the camera ahead of the axle swings out in the turn: it travels further than the wheels' centre
    assert reference.scale(1.0, 2.0).distance_m > positions_only.scale(1.0, 2.0).distance_m + 0.004
    assert positions_only.travel(1.0, 2.0) is None                        # no orientations: the distance only
    assert ReferenceScale().travel(1.0, 2.0) is None                      # no extrinsic
    assert reference.travel(3.5, 4.5) is None                             # beyond the newest sample
    assert 'direction of travel' in reference.describe() and 'direction' not in positions_only.describe()
    # a sample with a broken orientation keeps its position: the distance, not the direction, around it
    assert reference.add(4.1, body(4.1)[:3, 3], np.full((3, 3), np.nan))
    assert reference.travel(3.1, 4.1) is None and reference.scale(3.1, 4.1) is not None


def test_the_reference_travel_is_the_prior_and_moves_a_blind_step_on_any_path():
    # With a reference odometry that knows the travel, the prior is that travel (no persistence needed: the path
    # below turns 45° a second, where the held direction gives none), and a step without a visual direction
    # moves by it.
    trajectory = rig_trajectory(seed=3)
    times = np.round(np.arange(0.0, 6.0, 0.5), 6)
    poses = trajectory.sample(times)
    integrator = OdometryIntegrator(ReferenceScale(T_body_sensor=np.eye(4)), gap_s=1.0, direction_hold_s=2.0)
    for t, P in zip(times, poses):
        integrator.scale.add(t, P[:3, 3], P[:3, :3])
    integrator.anchor(times[0], payload=0)
    for k, t in enumerate(times[1:], start=1):
        partner = integrator.partner_for(t)
        if partner is None:
            continue
        truth = relative_pose(poses[partner.payload], poses[k])
        prior = integrator.translation_prior(partner, t)
        np.testing.assert_allclose(prior, truth[:3, 3], atol=1e-9)
        blind = PoseEstimate(T_a_b=make_transform(truth[:3, :3], [0.0, 0.0, 0.0]),
                             covariance=np.diag([UNKNOWN_VARIANCE] * 3 + [ROT_SIGMA_RAD**2] * 3),
                             translation_known=False)
        step = integrator.add(partner, t, blind, payload=k)
        assert step.direction_held and not step.scale_known
        np.testing.assert_allclose(step.T_a_b[:3, 3], truth[:3, 3], atol=1e-9)
    assert not integrator.path_persists()      # vision never gave a direction: only the reference knew it
    off = OdometryIntegrator(ReferenceScale(T_body_sensor=np.eye(4)), gap_s=1.0, direction_hold_s=0.0)
    for t, P in zip(times, poses):
        off.scale.add(t, P[:3, 3], P[:3, :3])
    off.anchor(times[0])
    step = off.add(off.partner_for(1.0), 1.0, blind)
    assert not step.direction_held and np.all(step.T_a_b[:3, 3] == 0.0)   # the hold off: blind steps stay put
