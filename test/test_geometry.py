import numpy as np
import pytest

from av_pose.errors import UserInputError
from av_pose.geometry import (
    R_CAM_ARRAY_DEFAULT,
    angle_between_deg,
    azimuth_deg_in_frame,
    hat,
    invert_transform,
    look_at,
    make_transform,
    relative_pose,
    rotation_angle_deg,
    rotation_from_ypr,
    so3_exp,
    so3_log,
    transform_points,
    wrap_deg,
    yaw_of,
    ypr_from_rotation,
)


def random_rotvecs(rng, n, max_angle=np.pi):
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    return axes * rng.uniform(0.0, max_angle, size=(n, 1))


def random_transforms(rng, n):
    return make_transform(so3_exp(random_rotvecs(rng, n)), rng.normal(size=(n, 3)))


def test_so3_exp_gives_proper_rotations_and_log_inverts_it():
    rng = np.random.default_rng(0)
    rotvecs = random_rotvecs(rng, 500)
    R = so3_exp(rotvecs)
    assert np.allclose(R @ np.swapaxes(R, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(R), 1.0)
    assert np.allclose(so3_log(R), rotvecs, atol=1e-10)


@pytest.mark.parametrize('angle', [0.0, 1e-12, 1e-7, 1e-3, np.pi / 2, np.pi - 1e-3, np.pi - 1e-8, np.pi])
def test_so3_log_is_robust_near_zero_and_pi(angle):
    axis = np.array([1.0, -2.0, 0.5]) / np.linalg.norm([1.0, -2.0, 0.5])
    rotvec = so3_log(so3_exp(angle * axis))
    assert np.linalg.norm(rotvec) == pytest.approx(angle, abs=1e-9)
    if angle < np.pi:
        assert np.allclose(rotvec, angle * axis, atol=1e-7)
    else:  # at π, ±axis are the same rotation
        assert np.allclose(so3_exp(rotvec), so3_exp(angle * axis), atol=1e-12)


def test_hat_is_the_cross_product():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 10, 3))
    assert np.allclose(np.einsum('nij,nj->ni', hat(a), b), np.cross(a, b))


def test_rotation_from_ypr_known_rotations():
    yaw90 = rotation_from_ypr(np.pi / 2, 0.0, 0.0)
    assert np.allclose(yaw90 @ [1, 0, 0], [0, 1, 0])  # forward turns left (counter-clockwise)
    pitch90 = rotation_from_ypr(0.0, np.pi / 2, 0.0)
    assert np.allclose(pitch90 @ [1, 0, 0], [0, 0, -1])  # positive pitch about +y tips x down
    roll90 = rotation_from_ypr(0.0, 0.0, np.pi / 2)
    assert np.allclose(roll90 @ [0, 1, 0], [0, 0, 1])
    yaw, pitch, roll = 0.3, -0.4, 1.1
    assert np.allclose(rotation_from_ypr(yaw, pitch, roll),
                       so3_exp([0, 0, yaw]) @ so3_exp([0, pitch, 0]) @ so3_exp([roll, 0, 0]))


def test_ypr_round_trip_and_yaw_of():
    rng = np.random.default_rng(2)
    ypr = np.stack([rng.uniform(-3, 3, 200), rng.uniform(-1.5, 1.5, 200), rng.uniform(-3, 3, 200)], axis=-1)
    R = rotation_from_ypr(ypr[:, 0], ypr[:, 1], ypr[:, 2])
    assert R.shape == (200, 3, 3)
    assert np.allclose(ypr_from_rotation(R), ypr, atol=1e-9)
    assert np.allclose(yaw_of(R), ypr[:, 0], atol=1e-9)


def test_rotation_angle_deg_known_and_symmetric():
    R10 = rotation_from_ypr(np.radians(10.0), 0.0, 0.0)
    assert rotation_angle_deg(np.eye(3), R10) == pytest.approx(10.0, abs=1e-12)
    assert rotation_angle_deg(R10, np.eye(3)) == pytest.approx(10.0, abs=1e-12)
    assert rotation_angle_deg(np.eye(3), so3_exp([0.0, np.pi, 0.0])) == pytest.approx(180.0)
    tiny = so3_exp([0.0, 0.0, np.radians(1e-6)])  # arccos would lose this entirely
    assert rotation_angle_deg(np.eye(3), tiny) == pytest.approx(1e-6, rel=1e-6)
    rng = np.random.default_rng(3)
    Ra, Rb = so3_exp(random_rotvecs(rng, 50)), so3_exp(random_rotvecs(rng, 50))
    assert np.allclose(rotation_angle_deg(Ra, Rb), rotation_angle_deg(Rb, Ra))
    # the angle is invariant to a common rotation applied on the left
    Rc = so3_exp(random_rotvecs(rng, 1))[0]
    assert np.allclose(rotation_angle_deg(Rc @ Ra, Rc @ Rb), rotation_angle_deg(Ra, Rb))


def test_angle_between_deg():
    assert angle_between_deg([1, 0, 0], [0, 1, 0]) == pytest.approx(90.0)
    assert angle_between_deg([1, 0, 0], [-3, 0, 0]) == pytest.approx(180.0)
    assert angle_between_deg([2, 2, 0], [1, 0, 0]) == pytest.approx(45.0)
    assert angle_between_deg([1, 0, 0], [1, 1e-9, 0]) == pytest.approx(np.degrees(1e-9), rel=1e-6)
    assert np.isnan(angle_between_deg([0, 0, 0], [1, 0, 0]))
    batch = angle_between_deg([[1, 0, 0], [0, 0, 0]], [[0, 0, 1], [0, 1, 0]])
    assert batch[0] == pytest.approx(90.0) and np.isnan(batch[1])
    with pytest.raises(UserInputError):
        angle_between_deg([1, 0, 0], [1, 0])


def test_transform_inverse_and_relative_pose():
    rng = np.random.default_rng(4)
    T1, T2 = random_transforms(rng, 20), random_transforms(rng, 20)
    assert np.allclose(invert_transform(T1) @ T1, np.eye(4), atol=1e-12)
    assert np.allclose(invert_transform(invert_transform(T1)), T1)
    T_1_2 = relative_pose(T1, T2)
    assert np.allclose(T1 @ T_1_2, T2, atol=1e-12)
    # a point in camera 2 → camera 1 via T_1_2 equals going through the world
    p2 = rng.normal(size=(20, 3))
    via_world = transform_points(invert_transform(T1), transform_points(T2, p2))
    assert np.allclose(transform_points(T_1_2, p2), via_world)


def test_make_transform_broadcasts_and_checks_shapes():
    T = make_transform(np.eye(3), np.arange(6.0).reshape(2, 3))
    assert T.shape == (2, 4, 4) and np.allclose(T[1, :3, 3], [3, 4, 5]) and np.all(T[:, 3] == [0, 0, 0, 1])
    with pytest.raises(UserInputError):
        make_transform(np.eye(2), [0, 0, 0])


def test_r_cam_array_default_maps_array_axes_to_optical_axes():
    assert np.allclose(R_CAM_ARRAY_DEFAULT @ [1, 0, 0], [0, 0, 1])  # array forward → camera z (forward)
    assert np.allclose(R_CAM_ARRAY_DEFAULT @ [0, 1, 0], [-1, 0, 0])  # array left → camera −x
    assert np.allclose(R_CAM_ARRAY_DEFAULT @ [0, 0, 1], [0, -1, 0])  # array up → camera −y
    assert np.linalg.det(R_CAM_ARRAY_DEFAULT) == pytest.approx(1.0)


def test_look_at_builds_optical_frame():
    T = look_at([1.0, 2.0, 1.5], [4.0, 2.0, 1.5])  # looking along world +x
    assert np.allclose(T[:3, 3], [1.0, 2.0, 1.5])
    assert np.allclose(T[:3, :3] @ [0, 0, 1], [1, 0, 0])  # optical z → world +x
    assert np.allclose(T[:3, :3] @ [1, 0, 0], [0, -1, 0])  # right = world −y
    assert np.allclose(T[:3, :3] @ [0, 1, 0], [0, 0, -1])  # down
    # with R_CAM_ARRAY_DEFAULT the array frame of this camera coincides with the world axes
    assert np.allclose(T[:3, :3] @ R_CAM_ARRAY_DEFAULT, np.eye(3))
    with pytest.raises(UserInputError):
        look_at([0, 0, 0], [0, 0, 5])


def test_azimuth_deg_in_frame():
    T_world_array = make_transform(rotation_from_ypr(np.radians(30.0), 0.0, 0.0), [1.0, 1.0, 0.0])
    world_dir = np.radians(100.0)
    source = np.array([1.0, 1.0, 0.0]) + 2.0 * np.array([np.cos(world_dir), np.sin(world_dir), 0.3])
    assert azimuth_deg_in_frame(source, T_world_array) == pytest.approx(70.0)
    behind_right = np.array([1.0, 1.0, 0.0]) + [np.cos(np.radians(-120)), np.sin(np.radians(-120)), 0.0]
    assert azimuth_deg_in_frame(behind_right, T_world_array) == pytest.approx(210.0)
    # through the camera: camera posed by look_at, array at R_CAM_ARRAY_DEFAULT inside it
    T_world_cam = look_at([0.0, 0.0, 1.0], [0.0, 5.0, 1.0])  # camera looks along world +y
    T_world_array = T_world_cam @ make_transform(R_CAM_ARRAY_DEFAULT, np.zeros(3))
    assert azimuth_deg_in_frame([-3.0, 0.0, 1.0], T_world_array) == pytest.approx(90.0)  # world −x is left
    assert azimuth_deg_in_frame([0.0, 3.0, 2.0], T_world_array) == pytest.approx(0.0, abs=1e-9)


def test_wrap_deg_range():
    wrapped = wrap_deg([-1e-17, -90.0, 360.0, 725.0])
    assert np.all((wrapped >= 0) & (wrapped < 360))
    assert np.allclose(wrapped[1:], [270.0, 0.0, 5.0])
