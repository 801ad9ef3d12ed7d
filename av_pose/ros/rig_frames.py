"""The rig's extrinsics as `pose_node` needs them: camera ↔ array mount, the up axis, the output body frame.

All come from a `TransformSource` (/tf_static, or tf2_ros in a distro install); each falls back to a stated
default while a transform is missing. Transforms are 4×4, T_target_source (a point in `source` → `target`).
"""
from __future__ import annotations

import numpy as np

from av_pose.geometry import LEVEL_CAMERA_UP, array_mount, invert_transform
from av_pose.ros.node_common import Warnings
from av_pose.ros.pose_config import PoseNodeConfig
from av_pose.ros.tf_listener import TransformSource


class RigFrames:
    """Looks up the rig's frames for one node.

    Args:
        config: The node's configuration (`base_frame`, `planar_motion`).
        transforms: Where transforms come from.
        warnings: The node's throttled warnings.
    """

    def __init__(self, config: PoseNodeConfig, transforms: TransformSource, warnings: Warnings) -> None:
        self.config, self.transforms, self._warnings = config, transforms, warnings

    def mount(self, camera_frame: str, array_frame: str) -> np.ndarray:
        """T_cam_array from TF, or the default mount (array x = camera forward) while it is unknown."""
        found = self.transforms.lookup(camera_frame, array_frame) if camera_frame and array_frame else None
        return array_mount() if found is None else found

    def camera_in(self, body_frame: str, camera_frame: str) -> np.ndarray | None:
        """T_body_camera from TF (identity for the same frame), or None while unknown or either frame is unnamed."""
        if not (body_frame and camera_frame):
            return None
        return np.eye(4) if body_frame == camera_frame else self.transforms.lookup(body_frame, camera_frame)

    def planar_up(self, camera_frame: str) -> np.ndarray | None:
        """With `planar_motion`: base_frame's z axis in the camera frame (a level camera's without that transform)."""
        if not self.config.planar_motion:
            return None
        if not (self.config.base_frame and camera_frame):
            return np.asarray(LEVEL_CAMERA_UP)
        T_base_cam = self.transforms.lookup(self.config.base_frame, camera_frame)
        if T_base_cam is None:
            self._warnings.warn('planar_up', f'planar_motion: no transform {self.config.base_frame} -> '
                                f'{camera_frame} on /tf_static yet; assuming a level camera')
            return np.asarray(LEVEL_CAMERA_UP)
        return T_base_cam[2, :3].copy()

    def body(self, camera_frame: str, array_frame: str) -> tuple[str, np.ndarray] | None:
        """(child frame, T_child_camera) for the outputs, or None while the extrinsic is unknown.

        The child is `base_frame` (extrinsic from /tf_static), else the camera frame. Audio-only frames carry
        no camera frame until an image arrives: the array frame and the default mount stand in for it (without
        a camera frame there is no camera → array transform to look up).
        """
        base_frame = self.config.base_frame
        if camera_frame:
            if not base_frame:
                return camera_frame, np.eye(4)
            T_base_cam = self.transforms.lookup(base_frame, camera_frame)
            return None if T_base_cam is None else (base_frame, T_base_cam)
        if not array_frame:
            return None
        T_array_cam = invert_transform(array_mount())
        if not base_frame:
            return array_frame, T_array_cam
        T_base_array = self.transforms.lookup(base_frame, array_frame)
        return None if T_base_array is None else (base_frame, T_base_array @ T_array_cam)
