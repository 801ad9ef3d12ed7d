"""Pure numpy → ROS message builders for pose outputs (no node, no middleware).

Poses are 4×4 `T_parent_child` (maps child-frame points into the parent frame); covariances 6×6 ordered
(x, y, z, rot x, rot y, rot z) as ROS messages have them; twists (vx, vy, vz, wx, wy, wz) in m/s and rad/s.
Nothing non-finite is ever written: `finite_covariance` replaces it (and anything larger) by UNKNOWN_VARIANCE.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import (
    Point,
    Pose,
    PoseWithCovarianceStamped,
    Quaternion,
    Transform,
    TransformStamped,
    Twist,
    TwistWithCovarianceStamped,
    Vector3,
)
from nav_msgs.msg import Odometry
from scipy.spatial.transform import Rotation
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from av_pose.pose.base import UNKNOWN_VARIANCE
from av_pose.ros.conversions import make_header, seconds_to_duration

MARKER_NAMESPACES = ('trajectory', 'camera', 'sound')
DIAGNOSTIC_LEVELS = {'ok': DiagnosticStatus.OK, 'warn': DiagnosticStatus.WARN, 'error': DiagnosticStatus.ERROR}


def finite_covariance(covariance: np.ndarray) -> list[float]:
    """6×6 → 36 floats (row-major), symmetric, with non-finite or > UNKNOWN_VARIANCE entries clamped."""
    cov = np.asarray(covariance, dtype=np.float64).reshape(6, 6)
    cov = np.where(np.isfinite(cov), cov, UNKNOWN_VARIANCE)
    cov = np.clip(0.5 * (cov + cov.T), -UNKNOWN_VARIANCE, UNKNOWN_VARIANCE)
    return [float(v) for v in cov.reshape(-1)]


def is_finite_pose(T: np.ndarray) -> bool:
    """True when a 4×4 transform holds only finite numbers."""
    return bool(np.all(np.isfinite(np.asarray(T, dtype=np.float64))))


def matrix_to_quaternion(R: np.ndarray) -> Quaternion:
    """3×3 rotation → geometry_msgs/Quaternion (w ≥ 0)."""
    x, y, z, w = Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_quat()
    sign = -1.0 if w < 0 else 1.0
    return Quaternion(x=sign * float(x), y=sign * float(y), z=sign * float(z), w=sign * float(w))


def matrix_to_pose(T: np.ndarray) -> Pose:
    """4×4 → geometry_msgs/Pose."""
    t = np.asarray(T, dtype=np.float64)[:3, 3]
    return Pose(position=Point(x=float(t[0]), y=float(t[1]), z=float(t[2])),
                orientation=matrix_to_quaternion(T[:3, :3]))


def transform_message(stamp_s: float, parent: str, child: str, T_parent_child: np.ndarray) -> TransformStamped:
    """geometry_msgs/TransformStamped of T_parent_child (for /tf)."""
    t = np.asarray(T_parent_child, dtype=np.float64)[:3, 3]
    return TransformStamped(header=make_header(stamp_s, parent), child_frame_id=child,
                            transform=Transform(translation=Vector3(x=float(t[0]), y=float(t[1]), z=float(t[2])),
                                                rotation=matrix_to_quaternion(T_parent_child[:3, :3])))


def _twist(twist: np.ndarray) -> Twist:
    v = [float(x) for x in np.asarray(twist, dtype=np.float64).reshape(6)]
    return Twist(linear=Vector3(x=v[0], y=v[1], z=v[2]), angular=Vector3(x=v[3], y=v[4], z=v[5]))


def odometry_message(stamp_s: float, odom_frame: str, child_frame: str, T_odom_child: np.ndarray,
                     pose_covariance_odom_axes: np.ndarray, twist: np.ndarray,
                     twist_covariance: np.ndarray) -> Odometry:
    """nav_msgs/Odometry: pose in `odom_frame` (covariance in its axes), twist in `child_frame` axes."""
    msg = Odometry(header=make_header(stamp_s, odom_frame), child_frame_id=child_frame)
    msg.pose.pose = matrix_to_pose(T_odom_child)
    msg.pose.covariance = finite_covariance(pose_covariance_odom_axes)
    msg.twist.twist = _twist(twist)
    msg.twist.covariance = finite_covariance(twist_covariance)
    return msg


def twist_message(stamp_s: float, frame: str, twist: np.ndarray, covariance: np.ndarray) -> TwistWithCovarianceStamped:
    """geometry_msgs/TwistWithCovarianceStamped in `frame` axes."""
    msg = TwistWithCovarianceStamped(header=make_header(stamp_s, frame))
    msg.twist.twist = _twist(twist)
    msg.twist.covariance = finite_covariance(covariance)
    return msg


def pose_with_covariance(stamp_s: float, frame: str, T: np.ndarray,
                         covariance: np.ndarray) -> PoseWithCovarianceStamped:
    """geometry_msgs/PoseWithCovarianceStamped of T (frame `frame`)."""
    msg = PoseWithCovarianceStamped(header=make_header(stamp_s, frame))
    msg.pose.pose = matrix_to_pose(T)
    msg.pose.covariance = finite_covariance(covariance)
    return msg


def _points(points: np.ndarray) -> list[Point]:
    return [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in np.asarray(points, dtype=np.float64)]


def frustum_lines(T_frame_cam: np.ndarray, K: np.ndarray | None, image_size: tuple[int, int] | None,
                  depth_m: float = 0.3) -> np.ndarray:
    """Line-list vertices (16×3) of a camera frustum `depth_m` deep, in the frame of T_frame_cam.

    Corners come from the intrinsics and image size (W, H); without them a 60°×45° field of view is drawn.
    """
    if K is not None and image_size is not None:
        width, height = image_size
        pixels = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
        rays = np.c_[(pixels - K[:2, 2]) / np.diag(K)[:2], np.ones(4)]
    else:
        rays = np.array([[-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=np.float64) * [0.577, 0.414, 1]
    corners = rays * depth_m / rays[:, 2:3]
    apex = np.zeros(3)
    local = np.array([v for i in range(4) for v in (apex, corners[i])]
                     + [v for i in range(4) for v in (corners[i], corners[(i + 1) % 4])])
    return local @ T_frame_cam[:3, :3].T + T_frame_cam[:3, 3]


def pose_markers(stamp_s: float, frame: str, trajectory: np.ndarray, T_frame_cam: np.ndarray,
                 K: np.ndarray | None, image_size: tuple[int, int] | None,
                 sound_directions: Sequence[tuple[np.ndarray, np.ndarray, float]] = (),
                 lifetime_s: float = 0.0) -> MarkerArray:
    """Trajectory (LINE_STRIP of N×3 positions), a camera frustum, and one ARROW per sound direction.

    `sound_directions`: (origin (3,), unit direction (3,), confidence in [0, 1]) in `frame`. The trajectory
    never expires (lifetime 0); the frustum and arrows live `lifetime_s` (0 = forever).
    """
    header = make_header(stamp_s, frame)
    lifetime = seconds_to_duration(lifetime_s)
    line = Marker(header=header, ns=MARKER_NAMESPACES[0], id=0, type=Marker.LINE_STRIP, action=Marker.ADD,
                  color=ColorRGBA(r=0.1, g=0.8, b=1.0, a=1.0), points=_points(trajectory))
    line.pose.orientation.w = 1.0
    line.scale.x = 0.02
    camera = Marker(header=header, ns=MARKER_NAMESPACES[1], id=0, type=Marker.LINE_LIST, action=Marker.ADD,
                    lifetime=lifetime, color=ColorRGBA(r=1.0, g=0.9, b=0.2, a=1.0),
                    points=_points(frustum_lines(T_frame_cam, K, image_size)))
    camera.pose.orientation.w = 1.0
    camera.scale.x = 0.01
    markers = [Marker(header=header, ns=MARKER_NAMESPACES[2], action=Marker.DELETEALL), line, camera]
    for k, (origin, direction, confidence) in enumerate(sound_directions):
        arrow = Marker(header=header, ns=MARKER_NAMESPACES[2], id=k, type=Marker.ARROW, action=Marker.ADD,
                       lifetime=lifetime, color=ColorRGBA(r=1.0, g=0.3, b=0.2, a=0.5 + 0.5 * float(confidence)))
        length = max(0.1, float(confidence))
        arrow.points = _points([origin, np.asarray(origin) + length * np.asarray(direction)])
        arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.03, 0.06, 0.08  # shaft and head diameters, head length
        markers.append(arrow)
    return MarkerArray(markers=markers)


def status_message(stamp_s: float, name: str, level: str, message: str, hardware_id: str,
                   values: dict[str, object]) -> DiagnosticArray:
    """/diagnostics with one status; `level` is ok | warn | error; values are shown as strings."""
    status = DiagnosticStatus(level=DIAGNOSTIC_LEVELS[level], name=name, message=message, hardware_id=hardware_id,
                              values=[KeyValue(key=str(k), value=_format(v)) for k, v in values.items()])
    return DiagnosticArray(header=make_header(stamp_s, ''), status=[status])


def _format(value: object) -> str:
    if isinstance(value, float):
        return 'nan' if math.isnan(value) else f'{value:.4g}'
    return str(value)
