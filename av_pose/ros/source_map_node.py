"""ROS 2 node `source_map_node`: sound tracks + odometry → a world map of sound sources and goals to them.

Inputs (relative names): `doa/tracks` (av_pose_msgs/SoundTrackArray from `doa_node`, array frame, audio
stamps), `odom` (nav_msgs/Odometry: pose of `base_frame` in the odom frame, e.g. `pose/odometry` of
`pose_node` or robot_localization's `odometry/filtered`), `/tf_static` (base → array extrinsics; tf2 where
installed), and `sources/goal_request` (std_msgs/UInt32: a source id).
Outputs: `sources/map` (av_pose_msgs/SoundSourceArray in the odom frame), `sources/markers` (sphere, 2σ
covariance ellipse and id per source) at `publish_rate_hz`, and `sources/goal` (geometry_msgs/PoseStamped,
`goal_standoff_m` short of the requested source, facing it: remap to Nav2's `goal_pose`).

Tracks wait (up to `max_odometry_wait_s`) for odometry that covers their audio stamp, so odometry that lags the
audio loses nothing. The core is `av_pose.sources.source_map.SourceMap`; this file only converts.

Run: `source_map_node --ros-args -r odom:=/odometry/filtered -r sources/goal:=/goal_pose`.
"""
from __future__ import annotations

import math
import sys
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from av_pose_msgs.msg import SoundTrackArray
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from std_msgs.msg import UInt32
from visualization_msgs.msg import MarkerArray

from av_pose.ros import source_messages
from av_pose.ros.audio_adapters import stamp_to_seconds
from av_pose.ros.entry import StopRequest
from av_pose.ros.node_common import (
    Warnings,
    declare_parameters,
    fatal_on_user_error,
    number_in,
    positive,
    run_node,
    text,
)
from av_pose.ros.odometry_input import OdometryInput
from av_pose.sources.source_map import SourceMap, SourceMapConfig, goal_pose

NODE_NAME = 'source_map_node'

PARAMETERS: dict[str, tuple[Any, str]] = {
    'map_frame': ('', 'Frame of the map and goals; empty = the frame_id of the odometry messages'),
    'base_frame': ('', 'Frame the odometry poses; empty = the child_frame_id of the odometry messages'),
    'array_frame': ('', 'Microphone array frame; empty = the frame_id of the track messages'),
    'bearing_sigma_deg': (5.0, 'Standard deviation of one tracked bearing, degrees'),
    'prior_range_m': (2.0, 'Prior distance of a new source along its bearing, metres'),
    'moving_window_s': (3.0, 'Shortest span of bearings fitted for a moving source, seconds'),
    'localized_std_m': (0.5, 'A source is localized when its largest standard deviation is below this, metres'),
    'merge_distance_m': (0.6, 'A reborn track this close to a silent source joins it, metres'),
    'forget_s': (0.0, 'Sources not heard for this long leave the map, seconds (0 = never)'),
    'robust_sigmas': (3.0, 'Cauchy scale of the ray fit in bearing standard deviations (0 = least squares)'),
    'goal_standoff_m': (0.8, 'Distance short of the source for sources/goal, metres'),
    'publish_rate_hz': (2.0, 'Map and marker publications per second (wall time)'),
    'max_odometry_wait_s': (2.0, 'How long tracks wait for odometry covering their stamp, seconds'),
}


@dataclass(frozen=True)
class SourceMapNodeConfig:
    """Validated node settings."""

    map_frame: str
    base_frame: str
    array_frame: str
    map: SourceMapConfig
    goal_standoff_m: float
    publish_period_s: float
    max_odometry_wait_s: float


def config_from_parameters(values: dict[str, Any]) -> SourceMapNodeConfig:
    """Check raw parameter values; raises UserInputError."""
    forget = number_in(values, 'forget_s', 0.0, math.inf)
    robust = number_in(values, 'robust_sigmas', 0.0, 100.0)
    source_map = SourceMapConfig(bearing_sigma_deg=positive(values, 'bearing_sigma_deg'),
                                 prior_range_m=positive(values, 'prior_range_m'),
                                 moving_window_s=positive(values, 'moving_window_s'),
                                 localized_std_m=positive(values, 'localized_std_m'),
                                 merge_distance_m=positive(values, 'merge_distance_m'),
                                 forget_s=forget if forget > 0 else float('inf'),
                                 robust_sigmas=robust if robust > 0 else None)
    return SourceMapNodeConfig(text(values, 'map_frame'), text(values, 'base_frame'), text(values, 'array_frame'),
                               source_map, positive(values, 'goal_standoff_m'),
                               1.0 / positive(values, 'publish_rate_hz'), positive(values, 'max_odometry_wait_s'))


class SourceMapNode(Node):
    """Feeds tracked bearings with the array pose at their stamp into a `SourceMap`; publishes map, markers, goals."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        with fatal_on_user_error(self):
            self.config = config_from_parameters(declare_parameters(self, PARAMETERS))
        self._map = SourceMap(self.config.map)
        self._pending: deque[SoundTrackArray] = deque()
        self._warnings = Warnings(self)
        self._odometry = OdometryInput(self, self._warnings, self.config.base_frame, self.config.map_frame,
                                       on_pose=self._drain)
        self._latest_stamp_s: float | None = None
        self._lock = threading.Lock()
        self.create_subscription(SoundTrackArray, 'doa/tracks', self._on_tracks, 50)
        self.create_subscription(UInt32, 'sources/goal_request', self._on_goal_request, 10)
        self._map_pub = self.create_publisher(source_messages.SoundSourceArray, 'sources/map', 10)
        self._markers_pub = self.create_publisher(MarkerArray, 'sources/markers', 10)
        self._goal_pub = self.create_publisher(PoseStamped, 'sources/goal', 10)
        self.create_timer(self.config.publish_period_s, self._publish)
        self.get_logger().info(f'source map from {self.resolve_topic_name("doa/tracks")} and {self._odometry.topic}')

    def _on_tracks(self, msg: SoundTrackArray) -> None:
        self._pending.append(msg)
        self._drain()

    def _drain(self) -> None:
        """Fuse pending track messages whose stamp the odometry now covers; drop those waited on too long."""
        while self._pending:
            msg = self._pending[0]
            stamp_s = stamp_to_seconds(msg.header.stamp)
            if self._odometry.base_pose(stamp_s) is None:
                if self._newest_pending_s() - stamp_s <= self.config.max_odometry_wait_s:
                    return  # odometry may still come
                self._pending.popleft()
                self._warnings.drop('tracks', 'no_odometry', f'no odometry at t={stamp_s:.2f} s on '
                                    f'{self._odometry.topic}')
                continue
            self._pending.popleft()
            T_odom_array = self._odometry.array_pose(stamp_s, self.config.array_frame or msg.header.frame_id)
            if T_odom_array is None:
                self._warnings.dropped['no_extrinsics'] += 1
                continue
            with self._lock:
                self._map.update(stamp_s, source_messages.tracks_from_message(msg), T_odom_array)
                self._latest_stamp_s = stamp_s

    def _newest_pending_s(self) -> float:
        return stamp_to_seconds(self._pending[-1].header.stamp)

    def _publish(self) -> None:
        if self._latest_stamp_s is None:
            return
        with self._lock:
            sources = self._map.sources()
        frame = self._odometry.odom_frame
        self._map_pub.publish(source_messages.source_map_message(self._latest_stamp_s, frame, sources))
        self._markers_pub.publish(source_messages.source_markers(self._latest_stamp_s, frame, sources))

    def _on_goal_request(self, msg: UInt32) -> None:
        with self._lock:
            source = self._map.source(int(msg.data))
        robot = self._odometry.base_pose(self._latest_stamp_s) if self._latest_stamp_s is not None else None
        if source is None or robot is None:
            known = ', '.join(str(s.id) for s in self._map.sources()) or 'none yet'
            self._warnings.warn('goal', f'no goal for source {msg.data}: not in the map (sources: {known})')
            return
        x, y, yaw = goal_pose(source, robot[:2, 3], self.config.goal_standoff_m)
        self._goal_pub.publish(source_messages.goal_message(self._latest_stamp_s, self._odometry.odom_frame, x, y,
                                                            yaw))
        self.get_logger().info(f'goal to source {source.id}: ({x:.2f}, {y:.2f}) m, yaw {np.degrees(yaw):.0f}°')


def main(args: list[str] | None = None, stop: StopRequest | None = None) -> int:
    """Run the node (console script `source_map_node`); returns the process exit code."""
    return run_node(SourceMapNode, args, stop)


if __name__ == '__main__':
    sys.exit(main())
