"""Odometry a node takes in: nav_msgs/Odometry history + /tf_static extrinsics.

`OdometryInput` subscribes `odom` (any nav_msgs/Odometry: `pose_node`'s `pose/odometry`, robot_localization's
`odometry/filtered`, wheel odometry) into a `PoseHistory`, and answers the pose of the microphone array in the
odometry frame at an audio stamp: T_odom_array = T_odom_base(stamp) · T_base_array (static), for the nodes that
place audio in the world. `ScaleOdometry` feeds `pose_node`'s `scale_odometry` into its `ReferenceScale`.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from nav_msgs.msg import Odometry
from rclpy.node import Node
from scipy.spatial.transform import Rotation

from av_pose.geometry import make_transform
from av_pose.pose.history import PoseHistory
from av_pose.pose.scale import ReferenceScale
from av_pose.ros.audio_adapters import stamp_to_seconds
from av_pose.ros.node_common import Warnings
from av_pose.ros.tf_listener import make_transform_source


def odometry_to_matrix(msg: Odometry) -> np.ndarray:
    """nav_msgs/Odometry pose → 4×4 T_odom_base (all NaN for a zero or non-finite quaternion)."""
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    norm = float(np.linalg.norm([q.x, q.y, q.z, q.w]))
    if not np.isfinite(norm) or norm < 1e-6:
        return np.full((4, 4), np.nan)
    return make_transform(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), [p.x, p.y, p.z])


class OdometryInput:
    """The `odom` subscription of a node, its pose history and the base → array extrinsics.

    Args:
        node: The node that subscribes.
        warnings: Its throttled warnings (bad odometry is dropped and counted).
        base_frame: Frame the odometry poses; '' = the child_frame_id of the messages.
        odom_frame: Frame of the poses; '' = the frame_id of the messages.
        on_pose: Called after each stored pose (e.g. to drain inputs that waited for it).
    """

    def __init__(self, node: Node, warnings: Warnings, base_frame: str = '', odom_frame: str = '',
                 on_pose: Callable[[], None] | None = None) -> None:
        self.history = PoseHistory(capacity_s=60.0, max_extrapolation_s=0.1)
        self.base_frame, self.odom_frame = base_frame, odom_frame
        self._fixed_base = bool(base_frame)
        self._warnings, self._on_pose = warnings, on_pose
        self._transforms = make_transform_source(node)
        self.topic = node.resolve_topic_name('odom')
        node.create_subscription(Odometry, 'odom', self._on_odometry, 50)

    def _on_odometry(self, msg: Odometry) -> None:
        if not self.history.push(stamp_to_seconds(msg.header.stamp), odometry_to_matrix(msg)):
            self._warnings.drop('odometry', 'bad_odometry', 'non-finite pose or zero quaternion')
            return
        self.odom_frame = self.odom_frame or msg.header.frame_id
        if not self._fixed_base:
            self.base_frame = msg.child_frame_id
        if self._on_pose is not None:
            self._on_pose()

    def base_pose(self, stamp_s: float) -> np.ndarray | None:
        """T_odom_base at `stamp_s`, or None when the odometry does not cover it."""
        return self.history.at(stamp_s)

    def array_pose(self, stamp_s: float, array_frame: str) -> np.ndarray | None:
        """T_odom_array at `stamp_s`, or None (with a throttled warning when the extrinsics are missing)."""
        T_odom_base = self.history.at(stamp_s)
        if T_odom_base is None:
            return None
        T_base_array = self._transforms.lookup(self.base_frame, array_frame)
        if T_base_array is None:
            self._warnings.warn('no_extrinsics', f'no transform {self.base_frame} → {array_frame} on /tf_static')
            return None
        return T_odom_base @ T_base_array


class ScaleOdometry:
    """A reference odometry (`scale_odometry`: wheels) for `pose_node`'s translation scale.

    Its positions give each pair's distance; with its orientations and the camera's place on its body (child frame
    → camera on /tf_static) also the camera's own travel (`ReferenceScale.travel`: the direction where vision has
    none, and the audio yaw's parallax).

    Args:
        scale: The integrator's scale policy, fed here.
        body_frame: The odometry's child frame until a message names one (`base_frame`).
    """

    def __init__(self, scale: ReferenceScale, body_frame: str) -> None:
        self.scale, self.body_frame = scale, body_frame

    def add(self, msg: Odometry) -> bool:
        """Store a message's position and orientation (a zero or non-finite quaternion: the position only).

        False (nothing stored) for a non-finite position or a stamp not after the last one.
        """
        p, T = msg.pose.pose.position, odometry_to_matrix(msg)
        self.body_frame = msg.child_frame_id or self.body_frame
        rotation = T[:3, :3] if np.all(np.isfinite(T)) else None
        return self.scale.add(stamp_to_seconds(msg.header.stamp), [p.x, p.y, p.z], rotation)

    def place_camera(self, extrinsic: Callable[[str, str], np.ndarray | None], camera_frame: str,
                     warnings: Warnings) -> None:
        """Set T_body_camera from `extrinsic(body, camera)` (None while unknown: distances only, with a warning)."""
        T_body_camera = extrinsic(self.body_frame, camera_frame)
        if T_body_camera is None and self.body_frame and camera_frame:
            warnings.warn('scale_extrinsic', f'no transform {self.body_frame} -> {camera_frame} on /tf_static: '
                          'scale_odometry gives the distance of each pair, not its direction')
        self.scale.T_body_sensor = T_body_camera
