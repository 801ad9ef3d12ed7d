"""Static transforms (`/tf_static`) for a node: the base → camera and camera → array extrinsics.

`StaticTransforms` subscribes to `/tf_static` (transient local, so it receives what was latched before it
started) and answers `lookup(target, source)` → 4×4 T_target_source by walking the tree of the received
transforms (`av_pose.transforms.TransformTree`). It needs only tf2_msgs, so it works where tf2_ros is not
installed (the pip ROS 2 wheels); `make_transform_source` uses tf2_ros's buffer instead where that exists (a
distro install), which also follows dynamic transforms on `/tf`.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from scipy.spatial.transform import Rotation
from tf2_msgs.msg import TFMessage

from av_pose.geometry import make_transform
from av_pose.transforms import TransformTree


class TransformSource(Protocol):
    """Anything that answers T_target_source (4×4) or None."""

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """4×4 mapping `source`-frame points into `target`, or None when not (yet) known."""


def transform_to_matrix(transform: Any) -> np.ndarray:
    """geometry_msgs/Transform → 4×4 (maps child-frame points into the parent frame)."""
    q, t = transform.rotation, transform.translation
    rotation = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
    return make_transform(rotation, [t.x, t.y, t.z])


def static_tf_qos() -> QoSProfile:
    """The /tf_static profile: reliable, transient local, deep enough for every broadcaster's message."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


class StaticTransforms:
    """The tree of static transforms heard on `/tf_static` (`av_pose.transforms.TransformTree`)."""

    def __init__(self, node: Node | None = None, topic: str = '/tf_static') -> None:
        self._tree = TransformTree()
        if node is not None:
            node.create_subscription(TFMessage, topic, self.add_message, static_tf_qos())

    def add_message(self, msg: TFMessage) -> None:
        """Take every transform of a TFMessage (later ones replace earlier ones for the same child)."""
        for stamped in msg.transforms:
            self.add(stamped.header.frame_id, stamped.child_frame_id, transform_to_matrix(stamped.transform))

    def add(self, parent: str, child: str, T_parent_child: np.ndarray) -> None:
        """Record one edge (frame names without a leading slash, as tf2 stores them)."""
        self._tree.add(parent, child, T_parent_child)

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """T_target_source through their nearest common ancestor, or None when not connected."""
        return self._tree.lookup(target, source)


class _Tf2Transforms:
    """tf2_ros buffer and listener (static and dynamic transforms), latest available transform."""

    def __init__(self, node: Node, tf2_ros: Any) -> None:
        self._buffer = tf2_ros.Buffer()
        self._listener = tf2_ros.TransformListener(self._buffer, node, spin_thread=False)

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """Latest T_target_source, or None."""
        try:
            stamped = self._buffer.lookup_transform(target.lstrip('/'), source.lstrip('/'), Time())
        except Exception:  # tf2 raises LookupException, ConnectivityException, ExtrapolationException
            return None
        return transform_to_matrix(stamped.transform)


def make_transform_source(node: Node, use_tf2: bool = True) -> TransformSource:
    """tf2_ros where installed (and `use_tf2`), else a `StaticTransforms` listener on /tf_static."""
    if use_tf2:
        try:
            import tf2_ros
        except ImportError:
            tf2_ros = None
        if tf2_ros is not None:
            return _Tf2Transforms(node, tf2_ros)
    return StaticTransforms(node)
