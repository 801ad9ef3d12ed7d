"""Rigid-body geometry: rotations, 4×4 homogeneous transforms, angles and azimuths.

Conventions (see docs/CONTRACTS.md):
- Everything is numpy float64. Functions accept leading batch dimensions (`...`) unless stated.
- `T_a_b` is a 4×4 transform that maps points expressed in frame b into frame a: p_a = T_a_b · p_b.
  So `T_world_cam` is camera-to-world (the pose of the camera in the world).
- Body frames follow REP-103 (x forward, y left, z up, azimuth counter-clockwise from +x);
  camera optical frames follow OpenCV (z forward, x right, y down).
- Angles passed in are radians; functions whose name ends in `_deg` return degrees.
"""
from __future__ import annotations

import math

import numpy as np

from av_pose.errors import UserInputError

UNKNOWN_VARIANCE = 1e6
"""Variance (unit-direction² or rad²) reported for a quantity an estimate does not observe (pose and vision)."""

# Rotation taking vectors in REP-103 array axes (x fwd, y left, z up) to camera optical axes
# (z fwd, x right, y down): p_cam = R_CAM_ARRAY_DEFAULT @ p_array.
R_CAM_ARRAY_DEFAULT = np.array([[0.0, -1.0, 0.0],
                                [0.0, 0.0, -1.0],
                                [1.0, 0.0, 0.0]])

_SMALL_ANGLE_RAD = 1e-4      # below this, series expansions replace sin(θ)/θ style ratios
_NEAR_PI_RAD = np.pi - 1e-2  # above this, so3_log takes the axis from the symmetric part of R


LEVEL_CAMERA_UP = (0.0, -1.0, 0.0)
"""The up axis of a level camera in its optical frame (y points down): the usual `planar_up` of a ground robot."""


def planar_up_axis(up) -> np.ndarray | None:
    """The unit up axis of planar motion from a 3-vector (camera optical frame), or None (free motion) for None.

    Raises UserInputError for anything but a finite, non-zero 3-vector.
    """
    if up is None:
        return None
    vector = np.asarray(up, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(vector)) if vector.shape == (3,) and np.all(np.isfinite(vector)) else 0.0
    if norm < 1e-6:
        raise UserInputError(f'the up axis of planar motion must be a non-zero 3-vector, got {vector.tolist()}')
    return vector / norm


def _as_float(array, trailing_shape: tuple[int, ...], name: str) -> np.ndarray:
    """`array` as float64, checking that its last dimensions equal `trailing_shape`."""
    out = np.asarray(array, dtype=np.float64)
    n = len(trailing_shape)
    if out.ndim < n or out.shape[out.ndim - n:] != trailing_shape:
        raise UserInputError(f'{name} must have shape (..., {", ".join(map(str, trailing_shape))}), '
                             f'got {out.shape}')
    return out


def make_transform(R, t) -> np.ndarray:
    """Build 4×4 transforms from rotations R (..., 3, 3) and translations t (..., 3) in metres."""
    R = _as_float(R, (3, 3), 'R')
    t = _as_float(t, (3,), 't')
    batch = np.broadcast_shapes(R.shape[:-2], t.shape[:-1])
    T = np.zeros(batch + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def invert_transform(T) -> np.ndarray:
    """Inverse of rigid transforms T (..., 4, 4): inv(T_a_b) = T_b_a (uses Rᵀ, not a general inverse)."""
    T = _as_float(T, (4, 4), 'T')
    R_inv = np.swapaxes(T[..., :3, :3], -1, -2)
    t_inv = -np.einsum('...ij,...j->...i', R_inv, T[..., :3, 3])
    return make_transform(R_inv, t_inv)


def relative_pose(T_world_1, T_world_2) -> np.ndarray:
    """Relative pose T_1_2 = inv(T_world_1) · T_world_2 (..., 4, 4).

    It maps points in camera-2 coordinates into camera-1 coordinates: the Reloc3r "2→1" pose.
    """
    return invert_transform(T_world_1) @ _as_float(T_world_2, (4, 4), 'T_world_2')


def transform_points(T_a_b, points_b) -> np.ndarray:
    """Map points (..., 3) in frame b to frame a with T_a_b (..., 4, 4) (broadcast over batch dims)."""
    T_a_b = _as_float(T_a_b, (4, 4), 'T_a_b')
    points_b = _as_float(points_b, (3,), 'points_b')
    return np.einsum('...ij,...j->...i', T_a_b[..., :3, :3], points_b) + T_a_b[..., :3, 3]


def _skew_vector(R: np.ndarray) -> np.ndarray:
    """(R - Rᵀ)/2 as a vector (..., 3): equals sin(θ)·axis for a rotation of angle θ."""
    return 0.5 * np.stack([R[..., 2, 1] - R[..., 1, 2],
                           R[..., 0, 2] - R[..., 2, 0],
                           R[..., 1, 0] - R[..., 0, 1]], axis=-1)


def _rotation_angle_rad(R: np.ndarray) -> np.ndarray:
    """Geodesic angle in [0, π] of rotations R (..., 3, 3); accurate near 0 and π (atan2, not arccos)."""
    cos_angle = np.clip(0.5 * (np.trace(R, axis1=-2, axis2=-1) - 1.0), -1.0, 1.0)
    sin_angle = np.linalg.norm(_skew_vector(R), axis=-1)
    return np.arctan2(sin_angle, cos_angle)


def rotation_angle_deg(R_a, R_b) -> np.ndarray:
    """Geodesic angle in degrees [0, 180] between rotations, i.e. the angle of R_aᵀ·R_b (..., 3, 3)."""
    R_a = _as_float(R_a, (3, 3), 'R_a')
    R_b = _as_float(R_b, (3, 3), 'R_b')
    return np.degrees(_rotation_angle_rad(np.swapaxes(R_a, -1, -2) @ R_b))


def angle_between_deg(u, v) -> np.ndarray:
    """Angle in degrees [0, 180] between vectors u and v (..., D).

    Scale-free. Returns NaN where either vector has zero length (the angle is undefined there);
    callers that need another convention handle that case themselves.
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if u.ndim == 0 or v.ndim == 0 or u.shape[-1] != v.shape[-1]:
        raise UserInputError(f'angle_between_deg needs vectors of equal length, got {u.shape} and {v.shape}')
    norm_u = np.linalg.norm(u, axis=-1)
    norm_v = np.linalg.norm(v, axis=-1)
    degenerate = (norm_u == 0.0) | (norm_v == 0.0)
    with np.errstate(invalid='ignore', divide='ignore'):
        u_hat = u / norm_u[..., None]
        v_hat = v / norm_v[..., None]
        # 2·atan2(|û−v̂|, |û+v̂|) is accurate for all angles, unlike arccos of the dot product.
        angle = 2.0 * np.arctan2(np.linalg.norm(u_hat - v_hat, axis=-1),
                                 np.linalg.norm(u_hat + v_hat, axis=-1))
    return np.where(degenerate, np.nan, np.degrees(angle))


def hat(vector) -> np.ndarray:
    """Skew-symmetric cross-product matrices (..., 3, 3) of vectors a (..., 3), so that [a]× · b = a × b."""
    w = _as_float(vector, (3,), 'vector')
    zero = np.zeros(w.shape[:-1])
    return np.stack([np.stack([zero, -w[..., 2], w[..., 1]], axis=-1),
                     np.stack([w[..., 2], zero, -w[..., 0]], axis=-1),
                     np.stack([-w[..., 1], w[..., 0], zero], axis=-1)], axis=-2)


def so3_exp(rotvec) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from rotation vectors (..., 3) = angle (rad) · unit axis (Rodrigues)."""
    rotvec = _as_float(rotvec, (3,), 'rotvec')
    angle = np.linalg.norm(rotvec, axis=-1)
    small = angle < _SMALL_ANGLE_RAD
    safe = np.where(small, 1.0, angle)
    # sin(θ)/θ and (1 − cos θ)/θ², with Taylor series near 0.
    a = np.where(small, 1.0 - angle**2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - angle**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    K = hat(rotvec)
    return np.eye(3) + a[..., None, None] * K + b[..., None, None] * (K @ K)


def so3_log(R) -> np.ndarray:
    """Rotation vectors (..., 3) (radians, angle in [0, π]) of rotation matrices (..., 3, 3).

    Robust near 0 (series) and near π (axis from the symmetric part, sign from the skew part).
    At exactly π the sign of the axis is arbitrary, as both signs give the same rotation.
    """
    R = _as_float(R, (3, 3), 'R')
    angle = _rotation_angle_rad(R)
    skew = _skew_vector(R)  # sin(θ)·axis
    small = angle < _SMALL_ANGLE_RAD
    sin_angle = np.sin(angle)
    scale = np.where(small, 1.0 + angle**2 / 6.0, angle / np.where(small, 1.0, sin_angle))
    rotvec = scale[..., None] * skew

    near_pi = angle > _NEAR_PI_RAD
    if np.any(near_pi):
        R_pi = R[near_pi]
        cos_pi = np.cos(angle[near_pi])
        # (R + Rᵀ)/2 − cos θ·I = (1 − cos θ)·axis·axisᵀ; take the column with the largest diagonal.
        outer = (0.5 * (R_pi + np.swapaxes(R_pi, -1, -2)) - cos_pi[:, None, None] * np.eye(3))
        outer /= (1.0 - cos_pi)[:, None, None]
        column = np.argmax(np.diagonal(outer, axis1=-2, axis2=-1), axis=-1)
        axis = outer[np.arange(len(column)), :, column]
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        sign = np.sign(np.einsum('ni,ni->n', axis, skew[near_pi]))
        axis *= np.where(sign == 0.0, 1.0, sign)[:, None]
        rotvec[near_pi] = angle[near_pi][:, None] * axis
    return rotvec


def rotation_from_ypr(yaw, pitch, roll) -> np.ndarray:
    """Rotation R = Rz(yaw)·Ry(pitch)·Rx(roll) (radians, REP-103 z-y-x); broadcasts to (..., 3, 3)."""
    yaw, pitch, roll = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (yaw, pitch, roll)))
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    rows = [[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr]]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def ypr_from_rotation(R) -> np.ndarray:
    """(yaw, pitch, roll) in radians (..., 3): the inverse of rotation_from_ypr (pitch in [−π/2, π/2])."""
    R = _as_float(R, (3, 3), 'R')
    yaw = np.arctan2(R[..., 1, 0], R[..., 0, 0])
    pitch = np.arctan2(-R[..., 2, 0], np.hypot(R[..., 2, 1], R[..., 2, 2]))
    roll = np.arctan2(R[..., 2, 1], R[..., 2, 2])
    return np.stack([yaw, pitch, roll], axis=-1)


def yaw_of(R) -> np.ndarray:
    """Yaw in radians (−π, π] of rotations (..., 3, 3): heading of the rotated x axis in the x-y plane."""
    R = _as_float(R, (3, 3), 'R')
    return np.arctan2(R[..., 1, 0], R[..., 0, 0])


def optical_axis_heading_deg(T_world_cam) -> np.ndarray:
    """Unwrapped heading (degrees, CCW from world x) of the optical axis (camera z) of K×4×4 T_world_cam (K ≥ 1)."""
    poses = np.asarray(T_world_cam, dtype=np.float64)
    return np.degrees(np.unwrap(np.arctan2(poses[:, 1, 2], poses[:, 0, 2])))


def wrap_deg(angle_deg) -> np.ndarray:
    """Angles in degrees wrapped to [0, 360)."""
    wrapped = np.mod(np.asarray(angle_deg, dtype=np.float64), 360.0)
    return np.where(wrapped >= 360.0, 0.0, wrapped)  # mod of tiny negatives can round up to 360


def azimuth_deg_in_frame(point_world, T_world_frame) -> np.ndarray:
    """Azimuth atan2(y, x) in degrees [0, 360) of world points (..., 3) seen from the frame at T_world_frame.

    The frame is a REP-103 body frame (x forward, y left), so 90° means directly to the left.
    """
    point_frame = transform_points(invert_transform(T_world_frame), point_world)
    return wrap_deg(np.degrees(np.arctan2(point_frame[..., 1], point_frame[..., 0])))


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world pose T_world_cam (4×4, OpenCV axes) of a camera at `eye` (3,) looking at `target` (3,).

    Camera z points at the target, x to the right and y down relative to the world `up` vector.
    Raises UserInputError when eye == target or the viewing direction is parallel to `up`.
    """
    eye = _as_float(eye, (3,), 'eye')
    forward = _as_float(target, (3,), 'target') - eye
    up = _as_float(up, (3,), 'up')
    norm = np.linalg.norm(forward)
    right = np.cross(forward, up)
    if norm == 0.0 or np.linalg.norm(right) < 1e-9 * norm * np.linalg.norm(up):
        raise UserInputError('look_at: the viewing direction is zero or parallel to the up vector')
    z_axis = forward / norm
    x_axis = right / np.linalg.norm(right)
    y_axis = np.cross(z_axis, x_axis)
    return make_transform(np.stack([x_axis, y_axis, z_axis], axis=-1), eye)


def array_mount(offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0),
                rpy_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """T_cam_array (4×4): how the microphone array sits on the camera.

    The array centre is at `offset_m` in the camera optical frame (x right, y down, z forward), and the
    array is turned by roll/pitch/yaw `rpy_deg` (degrees, about its own REP-103 axes) from the default
    mounting (array x = camera forward, y = left, z = up).
    """
    roll, pitch, yaw = np.deg2rad(rpy_deg)
    return make_transform(R_CAM_ARRAY_DEFAULT @ rotation_from_ypr(yaw, pitch, roll), np.asarray(offset_m, float))


def interpolate_poses(times_s: np.ndarray, T_world: np.ndarray, t: float) -> np.ndarray:
    """Pose (4×4) at time t from poses T_world (N×4×4) at increasing times_s (N).

    Rotation by slerp, translation linear; held at the first/last pose outside the time range.
    """
    if t <= times_s[0]:
        return T_world[0].copy()
    if t >= times_s[-1]:
        return T_world[-1].copy()
    k = int(np.searchsorted(times_s, t, side='right')) - 1
    alpha = (t - times_s[k]) / (times_s[k + 1] - times_s[k])
    R0, R1 = T_world[k, :3, :3], T_world[k + 1, :3, :3]
    out = np.eye(4)
    out[:3, :3] = R0 @ so3_exp(alpha * so3_log(R0.T @ R1))
    out[:3, 3] = (1.0 - alpha) * T_world[k, :3, 3] + alpha * T_world[k + 1, :3, 3]
    return out


def pixel_direction_deg(K: np.ndarray, u: float, v: float, distortion=None) -> tuple[float, float]:
    """(azimuth, elevation) in degrees of pixel (u, v) in the camera heading frame (x forward, y left, z up).

    The pixel's ray is K⁻¹·[u, v, 1] in the optical frame (x right, y down, z forward); K is the 3×3 intrinsics.
    `distortion`: the lens of the image the pixel was read from (`av_pose.vision.lens.LensDistortion`), undone
    first. Azimuth in (−180, 180], counter-clockwise from forward.
    """
    from av_pose.metrics.azimuth import wrap_signed_deg
    from av_pose.metrics.spherical import az_el_from_direction  # imported here: av_pose.metrics imports geometry

    if distortion is not None:
        u, v = distortion.undistort(np.array([[u, v]], dtype=np.float64), K)[0]
    ray = np.linalg.solve(np.asarray(K, dtype=np.float64), np.array([u, v, 1.0]))
    azimuth, elevation = az_el_from_direction(R_CAM_ARRAY_DEFAULT.T @ ray)
    return float(wrap_signed_deg(azimuth)), float(elevation)


# ------------------------------------------------------------------------------------------ SE(3) tangent space
def adjoint(T: np.ndarray) -> np.ndarray:
    """6×6 adjoint of a 4×4 transform for tangent vectors ordered (translation, rotation).

    If ξ is a twist or an error in frame-b axes, Ad(T_a_b) ξ is the same quantity in frame-a axes.
    """
    R, t = T[:3, :3], T[:3, 3]
    out = np.zeros((6, 6))
    out[:3, :3] = out[3:, 3:] = R
    out[:3, 3:] = hat(t) @ R
    return out


def _left_jacobian_inverse(phi: np.ndarray) -> np.ndarray:
    """Inverse of the SO(3) left Jacobian at rotation vector `phi` (rad)."""
    angle = float(np.linalg.norm(phi))
    K = hat(phi)
    if angle < 1e-6:
        return np.eye(3) - 0.5 * K + K @ K / 12.0
    half = 0.5 * angle
    coefficient = (1.0 - half / math.tan(half)) / angle**2
    return np.eye(3) - 0.5 * K + coefficient * (K @ K)


def se3_log(T: np.ndarray) -> np.ndarray:
    """Tangent vector (ρ, φ) (6,) with exp(ξ) = T: the constant body twist that moves in unit time by T."""
    phi = so3_log(T[:3, :3])
    return np.concatenate([_left_jacobian_inverse(phi) @ T[:3, 3], phi])


def parent_axes_covariance(T_parent_child: np.ndarray, covariance_child: np.ndarray) -> np.ndarray:
    """A pose covariance in the child's axes (right perturbation) rotated into the parent's axes.

    ROS messages (nav_msgs/Odometry pose, PoseWithCovarianceStamped) give the pose covariance in the axes of
    `header.frame_id`, about the pose's own position: Σ' = diag(R, R) Σ diag(R, R)ᵀ.
    """
    rotation = np.zeros((6, 6))
    rotation[:3, :3] = rotation[3:, 3:] = T_parent_child[:3, :3]
    return rotation @ covariance_child @ rotation.T


def symmetric(matrix: np.ndarray) -> np.ndarray:
    """The symmetric part (M + Mᵀ) / 2 of a square matrix (covariances after products that round)."""
    return 0.5 * (matrix + matrix.T)
