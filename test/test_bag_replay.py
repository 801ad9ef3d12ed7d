"""A ShoeboxAV scene written as a rosbag2 and replayed into doa_node over DDS (as `ros2 bag play` would).

`ros2 bag play` is not installable from PyPI, so the test replays the bag itself: it reads `/audio_info` and
`/audio` with rosbags and republishes them with their recorded stamps. The node's azimuths are then checked
against the scene's ground truth at the stamps the node gives them.
"""
import numpy as np
import pytest
from audio_common_msgs.msg import AudioDataStamped, AudioInfo
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rosbags.highlevel import AnyReader

from av_pose.audio.arrays import load_array
from av_pose.bag.scene_to_bag import DEFAULT_START_EPOCH_S, BagOptions, scene_to_bag
from av_pose.metrics.azimuth import azimuth_abs_error_deg
from av_pose.ros.qos import latched_qos
from av_pose.scene.generate import SynthConfig

from ros_harness import NodeProcess, RosClient, unique_domain_id, unique_namespace
from scene_fixtures import scene_with_static_talker

pytestmark = pytest.mark.ros


def to_rclpy(message, rclpy_type):
    """Copy a rosbags AudioDataStamped / AudioInfo into the rclpy message class."""
    out = rclpy_type()
    if rclpy_type is AudioInfo:
        out.channels, out.sample_rate = message.channels, message.sample_rate
        out.sample_format, out.coding_format = message.sample_format, message.coding_format
        return out
    out.header.stamp.sec, out.header.stamp.nanosec = message.header.stamp.sec, message.header.stamp.nanosec
    out.header.frame_id = message.header.frame_id
    out.audio.data = bytes(message.audio.data)
    return out


def test_doa_node_on_replayed_scene_bag_matches_ground_truth(tmp_path):
    config = SynthConfig(duration_s=5.0, array=load_array('respeaker6'), rotation_only=True, num_sources=1,
                         image_size=(64, 48), snr_db=40.0)
    record = scene_with_static_talker(tmp_path / 'scene', config, seed=11)
    scene_to_bag(tmp_path / 'scene', tmp_path / 'bag', BagOptions())
    with AnyReader([tmp_path / 'bag']) as reader:
        wanted = [c for c in reader.connections if c.topic in ('/audio', '/audio_info')]
        messages = [(c.topic, reader.deserialize(raw, c.msgtype)) for c, _, raw in reader.messages(wanted)]
    info = [to_rclpy(m, AudioInfo) for topic, m in messages if topic == '/audio_info']
    chunks = [to_rclpy(m, AudioDataStamped) for topic, m in messages if topic == '/audio']
    assert len(info) == 1 and len(chunks) >= 150

    domain, namespace = unique_domain_id(), unique_namespace()
    with RosClient(domain) as client, NodeProcess('av_pose.ros.doa_node', domain, namespace,
                                                  params={'array': 'respeaker6'}) as node:
        sources = client.collect(PoseArray, f'{namespace}/doa/sources')
        diagnostics = client.collect(DiagnosticArray, '/diagnostics')
        info_pub = client.node.create_publisher(AudioInfo, f'{namespace}/audio_info', latched_qos())
        info_pub.publish(info[0])
        audio_pub = client.node.create_publisher(AudioDataStamped, f'{namespace}/audio', 50)
        assert client.wait_for_subscribers(audio_pub) and client.wait_for_subscribers(info_pub), node.output()
        assert client.wait_for_publishers(f'{namespace}/doa/sources'), node.output()
        for chunk in chunks:
            audio_pub.publish(chunk)
            client.spin_for(0.004)
        assert client.spin_until(lambda: len(sources) >= 35, timeout_s=20.0), len(sources)

        def received() -> str | None:  # the node's own count of audio messages, from its diagnostics
            for array in reversed(diagnostics):
                if f'{namespace}/doa_node' in array.status[0].name:
                    return {kv.key: kv.value for kv in array.status[0].values}['chunks received']
            return None

        assert client.spin_until(lambda: received() == str(len(chunks)), timeout_s=10.0), received()
        assert node.alive(), node.output()
        log = node.output()
        assert 'dropped audio chunk' not in log and 'audio gap' not in log  # a clean replay loses nothing

    errors, frames = [], set()
    for message in sources:
        scene_time_s = message.header.stamp.sec + 1e-9 * message.header.stamp.nanosec - DEFAULT_START_EPOCH_S
        frames.add(message.header.frame_id)
        truth = record.source_azimuths_deg(scene_time_s)[0]
        if message.poses and np.isfinite(truth):
            position = message.poses[0].position  # unit vector towards the source, array frame
            estimate_deg = np.degrees(np.arctan2(position.y, position.x))
            errors.append(float(azimuth_abs_error_deg(estimate_deg, truth)))
    assert len(errors) >= 35, len(errors)  # 4 s of full windows at 10 Hz, minus silences
    assert np.median(errors) <= 3.0 and np.percentile(errors, 90) <= 5.0, np.round(errors, 1)
    assert frames == {chunks[0].header.frame_id}
