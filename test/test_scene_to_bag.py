"""scene-to-bag: write a tiny scene as MCAP, read it back with rosbags AnyReader and compare."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.typesys import get_types_from_msg
from scipy.spatial.transform import Rotation
from test_scene_format import make_scene

from av_pose.audio.pcm import decode_pcm
from av_pose.bag.scene_to_bag import (
    AUDIO_DATA_STAMPED,
    AUDIO_FRAME,
    AUDIO_MSG_TYPES,
    AUDIO_STAMPED,
    DEFAULT_START_EPOCH_S,
    MSG_DEFINITIONS,
    BagOptions,
    scene_to_bag,
)
from av_pose.cli import main
from av_pose.cli.scene_to_bag import AUDIO_MSG_TYPES as CLI_AUDIO_MSG_TYPES
from av_pose.errors import UserInputError
from av_pose.scene.format import read_scene

REPO = Path(__file__).resolve().parents[1]
START_NS = int(DEFAULT_START_EPOCH_S * 1e9)


@pytest.fixture(scope='module')
def scene_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp('bag') / 'scene'
    make_scene(directory, duration_s=1.0)
    return directory


def read_bag(path: Path) -> dict[str, list[tuple[int, object]]]:
    """topic → [(bag timestamp ns, message)] in bag order."""
    out: dict[str, list[tuple[int, object]]] = {}
    with AnyReader([path]) as reader:
        for connection, timestamp, raw in reader.messages():
            out.setdefault(connection.topic, []).append((timestamp, reader.deserialize(raw, connection.msgtype)))
    return out


def stamp_ns(header) -> int:
    return header.stamp.sec * 10**9 + header.stamp.nanosec


def decoded_audio(messages, family: str, sample_format: str) -> np.ndarray:
    """Concatenate /audio chunks back into C×T float32."""
    chunks = []
    for _, msg in messages:
        if family == AUDIO_DATA_STAMPED:
            chunks.append(decode_pcm(msg.audio.data.tobytes(), sample_format, 4))
        elif family == AUDIO_FRAME:
            assert msg.channel_count == 4 and msg.sampling_frequency == 16000
            chunks.append(decode_pcm(msg.data.tobytes(), sample_format, 4))
            assert chunks[-1].shape[1] == msg.frame_sample_count
        else:
            info = msg.audio.info
            assert (info.channels, info.rate) == (4, 16000)
            field = {8: 'int16_data', 2: 'int32_data', 1: 'float32_data'}[info.format]
            chunks.append(decode_pcm(getattr(msg.audio.audio_data, field), sample_format, 4))
            assert chunks[-1].shape[1] == info.chunk
    return np.concatenate(chunks, axis=1)


@pytest.mark.parametrize('family', AUDIO_MSG_TYPES)
def test_bag_round_trip(scene_dir, tmp_path, family):
    summary = scene_to_bag(scene_dir, tmp_path / 'bag', BagOptions(audio_msg_type=family, progress=False))
    assert (tmp_path / 'bag' / 'metadata.yaml').is_file() and list((tmp_path / 'bag').glob('*.mcap'))
    record = read_scene(scene_dir)
    topics = read_bag(tmp_path / 'bag')
    expected_counts = {'/camera/image_raw': 10, '/camera/camera_info': 10, '/tf': 10, '/tf_static': 1,
                       '/audio': 32}  # 16000 samples in 512-sample (32 ms) chunks: 31 full + 1 partial
    if family == AUDIO_DATA_STAMPED:
        expected_counts['/audio_info'] = 1
    assert {topic: len(msgs) for topic, msgs in topics.items()} == expected_counts
    assert summary.counts == expected_counts

    for i, (timestamp, image) in enumerate(topics['/camera/image_raw']):
        expected_stamp = START_NS + int(round(record.frame_times_s[i] * 1e9))
        assert timestamp == stamp_ns(image.header) == expected_stamp
        assert (image.encoding, image.width, image.height, image.step) == ('rgb8', 8, 6, 24)
        np.testing.assert_array_equal(image.data.reshape(6, 8, 3), record.frame(i))
    info = topics['/camera/camera_info'][0][1]
    np.testing.assert_allclose(info.k.reshape(3, 3), record.K)
    np.testing.assert_allclose(info.p.reshape(3, 4)[:, :3], record.K)

    for i, (_, tf) in enumerate(topics['/tf']):
        (transform,) = tf.transforms
        assert (transform.header.frame_id, transform.child_frame_id) == ('world', 'camera_optical')
        q = transform.transform.rotation
        v = transform.transform.translation
        np.testing.assert_allclose(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(),
                                   record.T_world_cam[i][:3, :3], atol=1e-12)
        np.testing.assert_allclose([v.x, v.y, v.z], record.T_world_cam[i][:3, 3], atol=1e-12)
    (static,) = topics['/tf_static'][0][1].transforms
    assert (static.header.frame_id, static.child_frame_id) == ('camera_optical', 'mic_array')
    q = static.transform.rotation
    np.testing.assert_allclose(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), record.T_cam_array[:3, :3],
                               atol=1e-12)

    audio_msgs = topics['/audio']
    for k, (timestamp, msg) in enumerate(audio_msgs):
        assert timestamp == stamp_ns(msg.header) == START_NS + int(round(k * 512 / 16000 * 1e9))
        assert msg.header.frame_id == 'mic_array'
    decoded = decoded_audio(audio_msgs, family, 'S16LE')
    assert decoded.shape == (4, 16000)
    np.testing.assert_allclose(decoded, record.audio(), atol=1.0 / 32768 + 1e-7)  # S16 rounding
    if family == AUDIO_DATA_STAMPED:
        audio_info = topics['/audio_info'][0][1]
        assert (audio_info.channels, audio_info.sample_rate, audio_info.sample_format) == (4, 16000, 'S16LE')


@pytest.mark.parametrize('family', [AUDIO_STAMPED, AUDIO_FRAME])
def test_float_audio_is_exact(scene_dir, tmp_path, family):
    options = BagOptions(audio_msg_type=family, sample_format='F32LE', chunk_ms=100, progress=False)
    scene_to_bag(scene_dir, tmp_path / 'bag', options)
    audio_msgs = read_bag(tmp_path / 'bag')['/audio']
    assert len(audio_msgs) == 10
    np.testing.assert_array_equal(decoded_audio(audio_msgs, family, 'F32LE'), read_scene(scene_dir).audio())


def test_registered_definitions_match_the_interface_files():
    for family in (AUDIO_DATA_STAMPED, AUDIO_FRAME):
        for name, text in MSG_DEFINITIONS[family].items():
            package, _, msg = name.split('/')
            on_disk = (REPO / 'tools' / 'interfaces' / package / 'msg' / f'{msg}.msg').read_text()
            assert get_types_from_msg(text, name) == get_types_from_msg(on_disk, name)
    assert CLI_AUDIO_MSG_TYPES == AUDIO_MSG_TYPES


def test_cli_writes_a_bag_and_reports_errors_in_one_line(scene_dir, tmp_path, capsys):
    bag = tmp_path / 'out'
    assert main(['scene-to-bag', str(scene_dir), '--out', str(bag), '--quiet', '--start-epoch', '100']) == 0
    assert '/audio: 32 messages' in capsys.readouterr().out
    assert read_bag(bag)['/camera/image_raw'][0][0] == 100 * 10**9
    assert main(['scene-to-bag', str(scene_dir), '--out', str(bag), '--quiet']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'already exists' in err
    assert main(['scene-to-bag', str(tmp_path / 'missing'), '--out', str(tmp_path / 'b2'), '--quiet']) == 2
    assert 'not a scene folder' in capsys.readouterr().err
    with pytest.raises(UserInputError, match='chunk-ms'):
        scene_to_bag(scene_dir, tmp_path / 'b3', BagOptions(chunk_ms=0, progress=False))


@pytest.mark.parametrize('family', AUDIO_MSG_TYPES)
def test_node_adapters_decode_the_bag_messages(scene_dir, tmp_path, family):
    """What the bag writer encodes, the doa_node adapters decode: same samples, stamps on the sample clock."""
    from av_pose.ros.audio_adapters import PcmFormat, make_adapter

    scene_to_bag(scene_dir, tmp_path / 'bag', BagOptions(audio_msg_type=family, sample_format='S16LE'))
    adapter = make_adapter(family, PcmFormat(4, 16000, 'S16LE'))
    chunks = [adapter.decode(msg) for _, msg in read_bag(tmp_path / 'bag')['/audio']]
    decoded = np.concatenate([chunk.samples for chunk in chunks], axis=1)
    np.testing.assert_allclose(decoded, read_scene(scene_dir).audio(), atol=1.0 / 32768 + 1e-7)
    first = chunks[0].stamp_s
    offsets = np.cumsum([0] + [chunk.samples.shape[1] for chunk in chunks[:-1]]) / 16000.0
    np.testing.assert_allclose([chunk.stamp_s - first for chunk in chunks], offsets, atol=1e-6)
    assert {chunk.sample_rate for chunk in chunks} == {16000}
