"""Sound tracks and the sound-source map ↔ ROS messages (av_pose_msgs, markers, TF, Nav2 goals).

Angles in messages are radians (REP-103), the core's are degrees. Tracks are in the array frame, the map in the
world (odom) frame. Needs the `av_pose_msgs` interface package (built by `make setup`, or in a colcon
workspace beside av_pose).
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from av_pose_msgs.msg import SoundSource, SoundSourceArray, SoundTrack, SoundTrackArray
from geometry_msgs.msg import Point, PoseStamped, TransformStamped
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from av_pose.ros.conversions import make_header, seconds_to_duration, seconds_to_time, yaw_quaternion
from av_pose.ros.pose_messages import matrix_to_pose, matrix_to_quaternion
from av_pose.sources.source_map import MappedSource, PlacedMarkerSpec, id_rgba, source_fields, source_marker_specs
from av_pose.sources.tracker import COASTING, CONFIRMED, TENTATIVE, Track, track_fields

TRACK_NAMESPACES = ('sound_tracks', 'sound_track_ids')


def id_color(track_id: int, alpha: float = 1.0) -> ColorRGBA:
    """A stable colour per id (`id_rgba`)."""
    r, g, b, a = id_rgba(track_id, alpha)
    return ColorRGBA(r=r, g=g, b=b, a=a)


def _direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg) if math.isfinite(elevation_deg) else 0.0
    return np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])


def track_array_message(stamp_s: float, frame_id: str, tracks: Iterable) -> SoundTrackArray:
    """Tracks (objects with id, azimuth_deg, elevation_deg, activity, age_s, confirmed) → SoundTrackArray."""
    items = [SoundTrack(**track_fields(t)) for t in tracks]
    return SoundTrackArray(header=make_header(stamp_s, frame_id), tracks=items)


def tracks_from_message(msg: SoundTrackArray) -> list[Track]:
    """SoundTrackArray → the tracker's `Track`s (degrees; state 'tentative', 'confirmed' or 'coasting').

    The measured azimuth is taken only where `heard` is set (a publisher that leaves both fields at their
    defaults gives coasting tracks, whose filtered azimuth then serves).
    """
    tracks = []
    for t in msg.tracks:
        heard = bool(t.heard) and math.isfinite(t.measured_azimuth)
        state = TENTATIVE if not t.confirmed else (CONFIRMED if heard else COASTING)
        tracks.append(Track(int(t.id), math.degrees(t.azimuth), math.degrees(t.elevation), float(t.activity),
                            float(t.age), bool(t.confirmed), state,
                            measured_azimuth_deg=math.degrees(t.measured_azimuth) if heard else math.nan))
    return tracks


def track_markers(stamp_s: float, frame_id: str, tracks: Iterable, lifetime_s: float = 0.5,
                  length_m: float = 1.2) -> MarkerArray:
    """One arrow per confirmed track (length grows with activity) and its id as text, in the array frame."""
    header, lifetime = make_header(stamp_s, frame_id), seconds_to_duration(lifetime_s)
    markers = [Marker(header=header, ns=TRACK_NAMESPACES[0], action=Marker.DELETEALL)]
    for track in tracks:
        if not track.confirmed:
            continue
        direction = _direction(track.azimuth_deg, track.elevation_deg)
        arrow = Marker(header=header, ns=TRACK_NAMESPACES[0], id=int(track.id), type=Marker.ARROW,
                       action=Marker.ADD, lifetime=lifetime, color=id_color(track.id, 0.4 + 0.6 * track.activity))
        arrow.points = [Point(), Point(**dict(zip('xyz', (length_m * direction).tolist())))]
        arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.04, 0.08, 0.1  # shaft diameter, head diameter, head length
        label = Marker(header=header, ns=TRACK_NAMESPACES[1], id=int(track.id), type=Marker.TEXT_VIEW_FACING,
                       action=Marker.ADD, lifetime=lifetime, color=id_color(track.id), text=f'sound {track.id}')
        label.pose.position = Point(**dict(zip('xyz', (1.15 * length_m * direction + [0, 0, 0.1]).tolist())))
        label.pose.orientation.w = 1.0
        label.scale.z = 0.15
        markers += [arrow, label]
    return MarkerArray(markers=markers)


def track_transforms(stamp_s: float, frame_id: str, tracks: Iterable, prefix: str = 'sound_',
                     distance_m: float = 1.0) -> list[TransformStamped]:
    """TF frames `<prefix><id>` for confirmed tracks: `distance_m` along the bearing, x pointing away from the array.

    A bearing has no range: the distance is nominal (ros4hri's `voice_<id>` frames do the same).
    """
    out = []
    for track in tracks:
        if not track.confirmed:
            continue
        direction = _direction(track.azimuth_deg, track.elevation_deg)
        msg = TransformStamped(header=make_header(stamp_s, frame_id), child_frame_id=f'{prefix}{int(track.id)}')
        position = distance_m * direction
        msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = position.tolist()
        elevation = math.radians(track.elevation_deg) if math.isfinite(track.elevation_deg) else 0.0
        azimuth = math.radians(track.azimuth_deg)
        cz, sz, cy, sy = math.cos(azimuth), math.sin(azimuth), math.cos(-elevation), math.sin(-elevation)
        R = np.array([[cz * cy, -sz, cz * sy], [sz * cy, cz, sz * sy], [-sy, 0.0, cy]])  # yaw, then pitch up
        msg.transform.rotation = matrix_to_quaternion(R)
        out.append(msg)
    return out


def source_map_message(stamp_s: float, frame_id: str, sources: Iterable[MappedSource]) -> SoundSourceArray:
    """MappedSource list → SoundSourceArray (positions in `frame_id`; fields: `source_fields`)."""
    items = []
    for source in sources:
        fields = source_fields(source)
        x, y, z = fields.pop('position')
        items.append(SoundSource(position=Point(x=x, y=y, z=z), last_heard=seconds_to_time(fields.pop('last_heard_s')),
                                 **fields))
    return SoundSourceArray(header=make_header(stamp_s, frame_id), sources=items)


def source_markers(stamp_s: float, frame_id: str, sources: Iterable[MappedSource], sigmas: float = 2.0) -> MarkerArray:
    """Per source: a sphere, a flat 2σ (`sigmas`) covariance ellipse and the id, as `source_marker_specs` says."""
    header = make_header(stamp_s, frame_id)
    markers = []
    for spec in source_marker_specs(list(sources), sigmas):
        marker = Marker(header=header, ns=spec.ns, id=int(spec.id), type=int(spec.type), action=int(spec.action),
                        lifetime=seconds_to_duration(spec.lifetime_s), color=ColorRGBA(
                            **dict(zip('rgba', (float(c) for c in spec.color)))),
                        points=[Point(**dict(zip('xyz', p))) for p in np.asarray(spec.points, float).tolist()])
        marker.pose = matrix_to_pose(spec.pose if isinstance(spec, PlacedMarkerSpec) else np.eye(4))
        marker.text = spec.text if isinstance(spec, PlacedMarkerSpec) else ''
        marker.scale.x, marker.scale.y, marker.scale.z = (float(v) for v in spec.scale)
        markers.append(marker)
    return MarkerArray(markers=markers)


def goal_message(stamp_s: float, frame_id: str, x: float, y: float, yaw_rad: float) -> PoseStamped:
    """A Nav2 goal (geometry_msgs/PoseStamped, z = 0) in `frame_id`."""
    msg = PoseStamped(header=make_header(stamp_s, frame_id))
    msg.pose.position.x, msg.pose.position.y = float(x), float(y)
    msg.pose.orientation = yaw_quaternion(yaw_rad)
    return msg
