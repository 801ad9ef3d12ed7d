"""Pure numpy → ROS message builders for pose outputs (no node, no middleware).

Poses are 4×4 `T_parent_child` (maps child-frame points into the parent frame); covariances 6×6 ordered
(x, y, z, rot x, rot y, rot z) as ROS messages have them; twists (vx, vy, vz, wx, wy, wz) in m/s and rad/s.
Nothing non-finite is ever written: `finite_covariance` (`av_pose.pose.outputs`, shared with `av-pose bag`)
replaces it (and anything larger) by UNKNOWN_VARIANCE.
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

from av_pose.pose.outputs import finite_covariance, pose_marker_specs
from av_pose.ros.conversions import make_header, seconds_to_duration

DIAGNOSTIC_LEVELS = {'ok': DiagnosticStatus.OK, 'warn': DiagnosticStatus.WARN, 'error': DiagnosticStatus.ERROR}


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


def pose_markers(stamp_s: float, frame: str, trajectory: np.ndarray | None, T_frame_cam: np.ndarray,
                 K: np.ndarray | None, image_size: tuple[int, int] | None,
                 sound_directions: Sequence[tuple[np.ndarray, np.ndarray, float]] = (),
                 lifetime_s: float = 0.0) -> MarkerArray:
    """Trajectory, camera frustum and sound arrows (`av_pose.pose.outputs.pose_marker_specs`) as a MarkerArray."""
    header = make_header(stamp_s, frame)
    markers = []
    for spec in pose_marker_specs(trajectory, T_frame_cam, K, image_size, sound_directions, lifetime_s):
        marker = Marker(header=header, ns=spec.ns, id=spec.id, type=spec.type, action=spec.action,
                        lifetime=seconds_to_duration(spec.lifetime_s), color=ColorRGBA(
                            r=spec.color[0], g=spec.color[1], b=spec.color[2], a=spec.color[3]),
                        points=_points(spec.points))
        marker.pose.orientation.w = 1.0
        marker.scale.x, marker.scale.y, marker.scale.z = spec.scale
        markers.append(marker)
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
