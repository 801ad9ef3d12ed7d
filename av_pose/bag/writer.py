"""ROS 2 messages as `rosbags` objects (no rclpy): the pose, DOA and sound-source outputs `av-pose bag` writes.

The content is that of `pose_node`, `doa_node` and `source_map_node` (covariance clamping, markers:
`av_pose.pose.outputs`; the source map's fields and markers: `av_pose.sources.source_map`); only the message
library differs. Stamps are integer nanoseconds of ROS time. Poses 4×4 `T_parent_child`,
covariances 6×6 (x, y, z, rot x, rot y, rot z), twists (vx, vy, vz, wx, wy, wz) in m/s and rad/s.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from av_pose.pose.outputs import MarkerSpec, finite_covariance
from av_pose.sources.source_map import MappedSource, PlacedMarkerSpec, source_fields
from av_pose.sources.tracker import track_fields

SPECTRUM_BINS = 360
SCAN_RANGE_MAX = 1.001
"""As `doa_node`: RViz keeps only ranges < range_max, and the spectrum's peak is exactly 1."""
_NUMERIC = {'byte': np.uint8, 'char': np.uint8, 'bool': np.bool_}


class MessageBuilder:
    """Builds messages of one rosbags typestore; fields not given take their zero value."""

    def __init__(self, typestore) -> None:
        self.typestore = typestore

    def make(self, msgtype: str, **values):
        """A `msgtype` message with `values` and every other field zero / empty (recursively)."""
        from rosbags.typesys.base import Nodetype

        fields = {}
        for name, (kind, spec) in self.typestore.fielddefs[msgtype][1]:
            if name in values:
                fields[name] = values[name]
            elif kind == Nodetype.NAME:
                fields[name] = self.make(spec)
            elif kind == Nodetype.BASE:
                fields[name] = ('' if spec[0] == 'string' else False if spec[0] == 'bool'
                                else 0.0 if spec[0].startswith('float') else 0)
            else:  # ARRAY (fixed length) or SEQUENCE
                (element_kind, element), length = spec
                if element_kind == Nodetype.NAME:
                    fields[name] = [self.make(element) for _ in range(length if kind == Nodetype.ARRAY else 0)]
                elif element[0] == 'string':
                    fields[name] = [''] * (length if kind == Nodetype.ARRAY else 0)
                else:
                    dtype = _NUMERIC.get(element[0], element[0])
                    fields[name] = np.zeros(length if kind == Nodetype.ARRAY else 0, dtype=dtype)
        return self.typestore.types[msgtype](**fields)

    def time(self, stamp_ns: int):
        """builtin_interfaces/Time."""
        return self.make('builtin_interfaces/msg/Time', sec=int(stamp_ns) // 10**9, nanosec=int(stamp_ns) % 10**9)

    def header(self, stamp_ns: int, frame_id: str):
        """std_msgs/Header."""
        return self.make('std_msgs/msg/Header', stamp=self.time(stamp_ns), frame_id=frame_id)

    def vector(self, values, msgtype: str = 'geometry_msgs/msg/Vector3'):
        """Vector3 or Point from 3 numbers."""
        x, y, z = (float(v) for v in np.asarray(values, dtype=np.float64).reshape(3))
        return self.make(msgtype, x=x, y=y, z=z)

    def quaternion(self, R: np.ndarray):
        """geometry_msgs/Quaternion (w ≥ 0) of a 3×3 rotation."""
        x, y, z, w = Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_quat()
        sign = -1.0 if w < 0 else 1.0
        return self.make('geometry_msgs/msg/Quaternion', x=sign * x, y=sign * y, z=sign * z, w=sign * w)

    def pose(self, T: np.ndarray):
        """geometry_msgs/Pose of a 4×4 transform."""
        return self.make('geometry_msgs/msg/Pose', position=self.vector(T[:3, 3], 'geometry_msgs/msg/Point'),
                         orientation=self.quaternion(T[:3, :3]))

    def tf(self, stamp_ns: int, transforms: Sequence[tuple[str, str, np.ndarray]]):
        """tf2_msgs/TFMessage of (parent, child, T_parent_child) transforms."""
        return self.make('tf2_msgs/msg/TFMessage', transforms=[self.make(
            'geometry_msgs/msg/TransformStamped', header=self.header(stamp_ns, parent), child_frame_id=child,
            transform=self.make('geometry_msgs/msg/Transform', translation=self.vector(T[:3, 3]),
                                rotation=self.quaternion(T[:3, :3]))) for parent, child, T in transforms])

    def _twist(self, twist: np.ndarray, covariance: np.ndarray):
        v = np.asarray(twist, dtype=np.float64).reshape(6)
        return self.make('geometry_msgs/msg/TwistWithCovariance', twist=self.make(
            'geometry_msgs/msg/Twist', linear=self.vector(v[:3]), angular=self.vector(v[3:])),
            covariance=np.array(finite_covariance(covariance)))

    def odometry(self, stamp_ns: int, odom_frame: str, child_frame: str, T_odom_child: np.ndarray,
                 pose_covariance_odom_axes: np.ndarray, twist: np.ndarray, twist_covariance: np.ndarray):
        """nav_msgs/Odometry: pose in `odom_frame` (covariance in its axes), twist in `child_frame` axes."""
        pose = self.make('geometry_msgs/msg/PoseWithCovariance', pose=self.pose(T_odom_child),
                         covariance=np.array(finite_covariance(pose_covariance_odom_axes)))
        return self.make('nav_msgs/msg/Odometry', header=self.header(stamp_ns, odom_frame),
                         child_frame_id=child_frame, pose=pose, twist=self._twist(twist, twist_covariance))

    def twist(self, stamp_ns: int, frame: str, twist: np.ndarray, covariance: np.ndarray):
        """geometry_msgs/TwistWithCovarianceStamped in `frame` axes."""
        return self.make('geometry_msgs/msg/TwistWithCovarianceStamped', header=self.header(stamp_ns, frame),
                         twist=self._twist(twist, covariance))

    def pose_with_covariance(self, stamp_ns: int, frame: str, T: np.ndarray, covariance: np.ndarray):
        """geometry_msgs/PoseWithCovarianceStamped of T in `frame`."""
        pose = self.make('geometry_msgs/msg/PoseWithCovariance', pose=self.pose(T),
                         covariance=np.array(finite_covariance(covariance)))
        return self.make('geometry_msgs/msg/PoseWithCovarianceStamped', header=self.header(stamp_ns, frame),
                         pose=pose)

    def laser_scan(self, stamp_ns: int, frame: str, spectrum: np.ndarray, scan_time_s: float = 0.0):
        """The 360-bin DOA spectrum in [0, 1] as doa_node publishes it: bin i at i°, ranges = intensities."""
        values = np.nan_to_num(np.asarray(spectrum, dtype=np.float32).reshape(SPECTRUM_BINS), nan=0.0)
        step = 2.0 * math.pi / SPECTRUM_BINS
        return self.make('sensor_msgs/msg/LaserScan', header=self.header(stamp_ns, frame), angle_min=0.0,
                         angle_max=step * (SPECTRUM_BINS - 1), angle_increment=step, scan_time=float(scan_time_s),
                         range_min=0.0, range_max=SCAN_RANGE_MAX, ranges=values.copy(), intensities=values.copy())

    def markers(self, stamp_ns: int, frame: str, specs: Sequence[MarkerSpec]):
        """visualization_msgs/MarkerArray of library-free marker specs (with pose and text if `PlacedMarkerSpec`)."""
        header = self.header(stamp_ns, frame)
        out = []
        for spec in specs:
            lifetime_ns = int(round(spec.lifetime_s * 1e9))
            placed = isinstance(spec, PlacedMarkerSpec)
            out.append(self.make(
                'visualization_msgs/msg/Marker', header=header, ns=spec.ns, id=spec.id, type=spec.type,
                action=spec.action, pose=self.pose(spec.pose if placed else np.eye(4)), scale=self.vector(spec.scale),
                color=self.make('std_msgs/msg/ColorRGBA', **dict(zip('rgba', (float(c) for c in spec.color)))),
                lifetime=self.make('builtin_interfaces/msg/Duration', sec=lifetime_ns // 10**9,
                                   nanosec=lifetime_ns % 10**9),
                points=[self.vector(p, 'geometry_msgs/msg/Point') for p in spec.points],
                text=spec.text if placed else ''))
        return self.make('visualization_msgs/msg/MarkerArray', markers=out)

    def source_array(self, stamp_ns: int, frame: str, sources: Sequence[MappedSource],
                     T_frame_map: np.ndarray | None = None, time_origin_s: float = 0.0):
        """av_pose_msgs/SoundSourceArray of map entries as `source_map_node` publishes it (`source_fields`).

        Positions (m) and covariances (m²) are put in `frame` with `T_frame_map` (4×4); `last_heard` is
        `time_origin_s` + the entry's audio time (s).
        """
        items = []
        for source in sources:
            fields = source_fields(source, T_frame_map)
            position = self.vector(fields.pop('position'), 'geometry_msgs/msg/Point')
            last_heard = self.time(int(round((time_origin_s + fields.pop('last_heard_s')) * 1e9)))
            items.append(self.make('av_pose_msgs/msg/SoundSource', position=position, last_heard=last_heard,
                                   position_covariance=np.array(fields.pop('position_covariance')),
                                   track_ids=np.array(fields.pop('track_ids'), dtype=np.uint32), **fields))
        return self.make('av_pose_msgs/msg/SoundSourceArray', header=self.header(stamp_ns, frame), sources=items)

    def track_array(self, stamp_ns: int, frame: str, tracks: Sequence):
        """av_pose_msgs/SoundTrackArray of tracker `Track`s as `doa_node` publishes it (`track_fields`)."""
        items = [self.make('av_pose_msgs/msg/SoundTrack', **track_fields(t)) for t in tracks]
        return self.make('av_pose_msgs/msg/SoundTrackArray', header=self.header(stamp_ns, frame), tracks=items)
