"""source_map_node over real DDS: tracked bearings + odometry + /tf_static → source positions and Nav2 goals."""
import math

import numpy as np
import pytest
from av_pose_msgs.msg import SoundSourceArray, SoundTrack, SoundTrackArray
from geometry_msgs.msg import PoseStamped, TransformStamped
from nav_msgs.msg import Odometry
from std_msgs.msg import UInt32
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from av_pose.geometry import invert_transform, make_transform, rotation_from_ypr
from av_pose.ros import conversions
from av_pose.ros.pose_messages import matrix_to_quaternion
from av_pose.ros.source_map_node import config_from_parameters
from av_pose.ros.tf_listener import static_tf_qos

from ros_harness import NodeProcess, RosClient, unique_domain_id, unique_namespace

NODE = 'av_pose.ros.source_map_node'
SOURCES = {5: np.array([3.0, 2.0, 1.0]), 9: np.array([0.5, -2.5, 1.0])}
T_BASE_ARRAY = make_transform(rotation_from_ypr(math.pi / 2, 0.0, 0.0), [0.1, 0.0, 0.4])  # array x = base left


def T_odom_base(t: float) -> np.ndarray:
    """The robot drives a 1.5 m-radius arc at 0.3 m/s."""
    heading = 0.2 * t
    position = [1.5 * math.sin(heading), 1.5 * (1 - math.cos(heading)), 0.0]
    return make_transform(rotation_from_ypr(heading, 0.0, 0.0), position)


def odometry(t: float, T: np.ndarray) -> Odometry:
    msg = Odometry()
    msg.header.stamp, msg.header.frame_id, msg.child_frame_id = conversions.seconds_to_time(t), 'odom', 'base_link'
    msg.pose.pose.position.x, msg.pose.pose.position.y, msg.pose.pose.position.z = T[:3, 3].tolist()
    msg.pose.pose.orientation = matrix_to_quaternion(T[:3, :3])
    return msg


def tracks(t: float) -> SoundTrackArray:
    """Source 5 as a publisher that fills only the filtered `azimuth` (not `heard`); source 9 heard, with its
    true bearing in `measured_azimuth` and a filtered `azimuth` 15° off (a lagging filter): the map must use the
    measured bearing where there is one."""
    T_odom_array = T_odom_base(t) @ T_BASE_ARRAY
    msg = SoundTrackArray(header=conversions.make_header(t, 'array_link'))
    for track_id, position in SOURCES.items():
        local = invert_transform(T_odom_array)[:3, :3] @ (position - T_odom_array[:3, 3])
        bearing = math.atan2(local[1], local[0])
        track = SoundTrack(id=track_id, azimuth=bearing, elevation=float('nan'), activity=0.8, age=t, confirmed=True)
        if track_id == 9:
            track.azimuth, track.heard, track.measured_azimuth = bearing + math.radians(15.0), True, bearing
        msg.tracks.append(track)
    return msg


def test_parameters_are_checked():
    defaults = {'map_frame': '', 'base_frame': '', 'array_frame': '', 'bearing_sigma_deg': 5.0,
                'prior_range_m': 2.0, 'moving_window_s': 3.0, 'localized_std_m': 0.5, 'merge_distance_m': 0.6,
                'forget_s': 0.0, 'robust_sigmas': 3.0, 'goal_standoff_m': 0.8, 'publish_rate_hz': 2.0,
                'max_odometry_wait_s': 2.0}
    assert config_from_parameters(defaults).map.forget_s == math.inf
    assert config_from_parameters(defaults).map.robust_sigmas == 3.0
    assert config_from_parameters({**defaults, 'robust_sigmas': 0.0}).map.robust_sigmas is None
    for key in ('forget_s', 'robust_sigmas'):
        with pytest.raises(Exception, match=key):
            config_from_parameters({**defaults, key: -1.0})


def test_map_goal_and_bad_input_over_dds():
    domain, ns = unique_domain_id(), unique_namespace()
    with RosClient(domain) as client, NodeProcess(NODE, domain, ns, params={'publish_rate_hz': 5.0}) as node:
        maps = client.collect(SoundSourceArray, f'{ns}/sources/map')
        markers = client.collect(MarkerArray, f'{ns}/sources/markers')
        goals = client.collect(PoseStamped, f'{ns}/sources/goal')
        static = client.node.create_publisher(TFMessage, '/tf_static', static_tf_qos())
        extrinsic = TransformStamped(header=conversions.make_header(0.0, 'base_link'), child_frame_id='array_link')
        extrinsic.transform.translation.x, _, extrinsic.transform.translation.z = 0.1, 0.0, 0.4
        extrinsic.transform.rotation = matrix_to_quaternion(T_BASE_ARRAY[:3, :3])
        static.publish(TFMessage(transforms=[extrinsic]))
        odom_pub = client.node.create_publisher(Odometry, f'{ns}/odom', 50)
        tracks_pub = client.node.create_publisher(SoundTrackArray, f'{ns}/doa/tracks', 50)
        goal_pub = client.node.create_publisher(UInt32, f'{ns}/sources/goal_request', 10)
        assert client.wait_for_subscribers(tracks_pub), node.output()
        assert client.wait_for_subscribers(odom_pub) and client.wait_for_subscribers(static), node.output()
        bad = odometry(0.05, np.eye(4))
        bad.pose.pose.orientation.w = 0.0  # a zero quaternion: dropped with a warning
        odom_pub.publish(bad)
        for step in range(80):  # 8 s; tracks are published before the odometry that covers them
            t = 0.1 * step
            tracks_pub.publish(tracks(t))
            odom_pub.publish(odometry(t, T_odom_base(t)))
            client.spin_for(0.02)
        assert client.spin_until(lambda: maps and len(maps[-1].sources) == 2, 10.0), node.output()
        client.spin_for(0.5)
        final = {s.id: s for s in maps[-1].sources}
        for source_id, position in SOURCES.items():
            located = final[source_id]
            error = math.hypot(located.position.x - position[0], located.position.y - position[1])
            assert error < 0.15, (source_id, error)
            assert located.localized and not located.moving and located.observations >= 70
        assert maps[-1].header.frame_id == 'odom'
        assert markers and {m.ns for m in markers[-1].markers} >= {'sound_sources', 'sound_source_ids'}
        assert client.wait_for_subscribers(goal_pub)
        goal_pub.publish(UInt32(data=42))  # unknown: a warning, no goal
        goal_pub.publish(UInt32(data=5))
        assert client.spin_until(lambda: goals, 5.0), node.output()
        goal = goals[-1].pose.position
        assert math.hypot(goal.x - 3.0, goal.y - 2.0) == pytest.approx(0.8, abs=0.2)
        assert node.alive()
        log = node.output()
    assert 'no goal for source 42' in log and 'zero quaternion' in log
