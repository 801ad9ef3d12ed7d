"""rosbag2 → recording (`av_pose.bag.reader`): a ShoeboxAV scene written by `av-pose scene-to-bag` reads back as
the scene (frames, audio within PCM rounding, K, mount, poses); other image encodings, sqlite3 storage and missing
topics; a robot's frames (odometry on /tf, the sensors' mounts on /tf_static); and `av-pose calibrate` gives the
same answer on the bag as on the scene folder."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from scipy.spatial.transform import Rotation
from test_calibration import turning_scene

from av_pose.audio.pcm import encode_pcm
from av_pose.bag.reader import BagReadError, BagReadOptions, read_bag
from av_pose.bag.scene_to_bag import (
    AUDIO_FRAME,
    AUDIO_MSG_TYPES,
    DEFAULT_START_EPOCH_S,
    BagOptions,
    make_typestore,
    scene_to_bag,
)
from av_pose.cli import main
from av_pose.geometry import R_CAM_ARRAY_DEFAULT, array_mount, invert_transform, make_transform, rotation_from_ypr
from av_pose.scene.format import read_scene
from av_pose.scene.generate import SynthConfig, generate_scene

S16_STEP = 1.0 / 32768


@pytest.fixture(scope='module')
def scene_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp('bag_reader') / 'scene'
    mount = array_mount((0.02, -0.03, 0.01), (0.0, 0.0, 30.0))
    generate_scene(directory, SynthConfig(duration_s=2.0, image_size=(48, 32), num_sources=1, T_cam_array=mount),
                   seed=2)
    return directory


@pytest.mark.parametrize('family', AUDIO_MSG_TYPES)
def test_bag_reads_back_as_the_scene(scene_dir, tmp_path, family):
    scene_to_bag(scene_dir, tmp_path / 'bag', BagOptions(audio_msg_type=family, progress=False))
    bag, scene = read_bag(tmp_path / 'bag'), read_scene(scene_dir)
    assert bag.num_frames == scene.num_frames == 21 and bag.image_size == scene.image_size
    np.testing.assert_allclose(bag.frame_times_s, scene.frame_times_s, atol=1e-9)
    assert bag.time_origin_s == pytest.approx(DEFAULT_START_EPOCH_S)
    for index in (0, 7, 20):
        np.testing.assert_array_equal(bag.frame(index), scene.frame(index))
    np.testing.assert_allclose(bag.K, scene.K)
    np.testing.assert_allclose(bag.T_cam_array, scene.T_cam_array, atol=1e-12)
    np.testing.assert_allclose(bag.T_world_cam, scene.T_world_cam, atol=1e-9)
    np.testing.assert_allclose(bag.pose_at(0.55), scene.pose_at(0.55), atol=1e-9)
    assert bag.sample_rate == scene.sample_rate and bag.mic_array.name == 'respeaker4'
    assert bag.duration_s == pytest.approx(scene.duration_s)
    np.testing.assert_allclose(bag.audio(), scene.audio(), atol=S16_STEP + 1e-7)
    for center_s in (0.3, 1.0, 1.9):  # windows cut by the same rule, zero-padded past the ends alike
        (bag_window, bag_coverage), (scene_window, scene_coverage) = (bag.audio_window(center_s, 1.0),
                                                                      scene.audio_window(center_s, 1.0))
        assert bag_coverage == pytest.approx(scene_coverage)
        np.testing.assert_allclose(bag_window, scene_window, atol=S16_STEP + 1e-7)


def write_test_bag(path, frames, *, encoding='rgb8', compressed=None, storage=StoragePlugin.MCAP, with_tf=False,
                   with_info=True, fs=16000, stamp0_ns=5 * 10**9):
    """A hand-made bag: images in `encoding` (or CompressedImage `compressed`: 'jpeg'/'png'), camera info,
    introlab AudioFrame audio (4 channels, a 440 Hz tone) from stamp0, optional /tf: `with_tf` True gives world →
    cam at every image ('once': at the first only), 'robot' a robot's tree (odom → base_link on /tf at every
    image, base_link → cam and base_link → mic_array on /tf_static: ROBOT_STATICS)."""
    typestore = make_typestore(AUDIO_FRAME)
    t = typestore.types

    def header(ns, frame_id):
        return t['std_msgs/msg/Header'](stamp=t['builtin_interfaces/msg/Time'](sec=ns // 10**9, nanosec=ns % 10**9),
                                        frame_id=frame_id)

    audio = 0.3 * np.sin(2 * np.pi * 440 * np.arange(fs) / fs)[None].repeat(4, 0) * np.array([[1], [0.5], [-1], [0]])
    image_type = 'sensor_msgs/msg/CompressedImage' if compressed else 'sensor_msgs/msg/Image'
    with Writer(path, version=9, storage_plugin=storage) as writer:
        image_conn = writer.add_connection('/camera/image_raw', image_type, typestore=typestore)
        audio_conn = writer.add_connection('/audio', AUDIO_FRAME, typestore=typestore)
        info_conn = writer.add_connection('/camera/camera_info', 'sensor_msgs/msg/CameraInfo', typestore=typestore)
        tf_conn = writer.add_connection('/tf', 'tf2_msgs/msg/TFMessage', typestore=typestore)
        static_conn = writer.add_connection('/tf_static', 'tf2_msgs/msg/TFMessage', typestore=typestore)

        def stamped(ns, parent, child, T):
            q = Rotation.from_matrix(T[:3, :3]).as_quat()
            return t['geometry_msgs/msg/TransformStamped'](
                header=header(ns, parent), child_frame_id=child,
                transform=t['geometry_msgs/msg/Transform'](
                    translation=t['geometry_msgs/msg/Vector3'](x=T[0, 3], y=T[1, 3], z=T[2, 3]),
                    rotation=t['geometry_msgs/msg/Quaternion'](x=q[0], y=q[1], z=q[2], w=q[3])))

        if with_tf == 'robot':
            statics = [stamped(stamp0_ns, 'base_link', child, T) for child, T in ROBOT_STATICS.items()]
            writer.write(static_conn, stamp0_ns, typestore.serialize_cdr(
                t['tf2_msgs/msg/TFMessage'](transforms=statics), 'tf2_msgs/msg/TFMessage'))
        for start in range(0, fs, 800):
            ns = stamp0_ns + int(round(start / fs * 1e9))
            chunk = audio[:, start:start + 800]
            msg = t[AUDIO_FRAME](header=header(ns, 'mic_array'), format='signed_16', channel_count=4,
                                 sampling_frequency=fs, frame_sample_count=chunk.shape[1],
                                 data=np.frombuffer(encode_pcm(chunk, 'S16LE'), dtype=np.uint8))
            writer.write(audio_conn, ns, typestore.serialize_cdr(msg, AUDIO_FRAME))
        for index, rgb in enumerate(frames):
            ns = stamp0_ns + 100_000_000 * (index + 1)
            height, width = rgb.shape[:2]
            if compressed:
                ok, data = cv2.imencode('.jpg' if compressed == 'jpeg' else '.png', rgb[:, :, ::-1])
                msg = t[image_type](header=header(ns, 'cam'), format=compressed, data=data.reshape(-1))
            else:
                pixels = {'rgb8': rgb, 'bgr8': rgb[:, :, ::-1], 'mono8': rgb[:, :, :1],
                          'bgra8': np.dstack([rgb[:, :, ::-1], np.full((height, width), 255, np.uint8)])}[encoding]
                channels = pixels.shape[2]
                padded = np.zeros((height, width * channels + 4), np.uint8)  # rows padded: step > width·channels
                padded[:, :width * channels] = pixels.reshape(height, -1)
                msg = t[image_type](header=header(ns, 'cam'), height=height, width=width, encoding=encoding,
                                    is_bigendian=0, step=width * channels + 4, data=padded.reshape(-1))
            writer.write(image_conn, ns, typestore.serialize_cdr(msg, image_type))
            if with_info:
                K = np.array([[40.0, 0, 24], [0, 40, 16], [0, 0, 1]])
                roi = t['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                            do_rectify=False)
                info = t['sensor_msgs/msg/CameraInfo'](
                    header=header(ns, 'cam'), height=height, width=width, distortion_model='plumb_bob',
                    d=np.zeros(5), k=K.reshape(-1), r=np.eye(3).reshape(-1), p=np.hstack([K, np.zeros((3, 1))]).ravel(),
                    binning_x=0, binning_y=0, roi=roi)
                writer.write(info_conn, ns, typestore.serialize_cdr(info, 'sensor_msgs/msg/CameraInfo'))
            if with_tf and not (with_tf == 'once' and index):
                transform = (stamped(ns, 'odom', 'base_link', robot_odometry(index)) if with_tf == 'robot' else
                             stamped(ns, 'world', 'cam', make_transform(np.eye(3), [0.1 * index, 0.0, 1.0])))
                writer.write(tf_conn, ns, typestore.serialize_cdr(t['tf2_msgs/msg/TFMessage'](transforms=[transform]),
                                                                  'tf2_msgs/msg/TFMessage'))
    return audio


ROBOT_STATICS = {  # base_link → the camera's optical frame (0.2 m ahead, 0.3 m up) and → the array (yawed 90°)
    'cam': make_transform(rotation_from_ypr(0.3, 0.0, 0.0) @ R_CAM_ARRAY_DEFAULT.T, [0.2, 0.0, 0.3]),
    'mic_array': make_transform(rotation_from_ypr(np.pi / 2, 0.0, 0.0), [0.0, 0.05, 0.5])}


def robot_odometry(index):
    """odom → base_link at image `index`: driving along x and turning 10° per image."""
    return make_transform(rotation_from_ypr(np.radians(10.0 * index), 0.0, 0.0), [0.1 * index, 0.02 * index, 0.0])


@pytest.fixture(scope='module')
def frames():
    rng = np.random.default_rng(0)
    smooth = cv2.GaussianBlur(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8), (5, 5), 0)
    return [np.roll(smooth, 2 * k, axis=1) for k in range(3)]


@pytest.mark.parametrize('encoding, compressed, storage', [
    ('rgb8', None, StoragePlugin.SQLITE3), ('bgr8', None, StoragePlugin.MCAP), ('bgra8', None, StoragePlugin.MCAP),
    ('mono8', None, StoragePlugin.MCAP), (None, 'png', StoragePlugin.MCAP), (None, 'jpeg', StoragePlugin.SQLITE3)])
def test_image_encodings_storages_and_defaults(tmp_path, frames, encoding, compressed, storage):
    audio = write_test_bag(tmp_path / 'bag', frames, encoding=encoding, compressed=compressed, storage=storage)
    bag = read_bag(tmp_path / 'bag')
    np.testing.assert_allclose(bag.frame_times_s, [0.1, 0.2, 0.3], atol=1e-9)
    for index, rgb in enumerate(frames):
        image = bag.frame(index)
        assert image.shape == rgb.shape and image.dtype == np.uint8
        if encoding == 'mono8':
            np.testing.assert_array_equal(image, np.repeat(rgb[:, :, :1], 3, axis=2))
        elif compressed == 'jpeg':
            assert np.abs(image.astype(int) - rgb).mean() < 8.0  # lossy
        else:
            np.testing.assert_array_equal(image, rgb)
    np.testing.assert_allclose(bag.K, [[40, 0, 24], [0, 40, 16], [0, 0, 1]])
    np.testing.assert_allclose(bag.audio(), audio, atol=S16_STEP + 1e-7)
    np.testing.assert_allclose(bag.T_cam_array, array_mount())  # no /tf_static: the default mount
    assert bag.T_world_cam is None  # no /tf
    with pytest.raises(BagReadError, match='no ground-truth poses'):
        bag.pose_at(0.1)


def test_ground_truth_follows_the_image_frame(tmp_path, frames):
    write_test_bag(tmp_path / 'bag', frames, with_tf=True)
    bag = read_bag(tmp_path / 'bag')
    np.testing.assert_allclose(bag.T_world_cam[:, 0, 3], [0.0, 0.1, 0.2], atol=1e-12)
    assert read_bag(tmp_path / 'bag', BagReadOptions(world_frame='map')).T_world_cam is None
    write_test_bag(tmp_path / 'once', frames, with_tf='once')  # one pose for three images: no trajectory
    assert read_bag(tmp_path / 'once').T_world_cam is None


def test_a_robots_frames_give_the_camera_poses_and_the_mount(tmp_path, frames):
    """Wheel odometry on /tf (odom → base_link) and the robot's statics: the camera's poses in odom and the
    array's mount come through the tree, wherever the frames hang."""
    write_test_bag(tmp_path / 'bag', frames, with_tf='robot')
    bag = read_bag(tmp_path / 'bag', BagReadOptions(world_frame='/odom'))
    for index in range(len(frames)):
        np.testing.assert_allclose(bag.T_world_cam[index], robot_odometry(index) @ ROBOT_STATICS['cam'], atol=1e-9)
    np.testing.assert_allclose(bag.T_cam_array, invert_transform(ROBOT_STATICS['cam']) @ ROBOT_STATICS['mic_array'],
                               atol=1e-9)
    halfway = bag.pose_at(0.5 * (bag.frame_times_s[0] + bag.frame_times_s[1]))  # between two odometry stamps
    np.testing.assert_allclose(halfway[:3, 3], 0.5 * (bag.T_world_cam[0, :3, 3] + bag.T_world_cam[1, :3, 3]),
                               atol=1e-3)
    assert read_bag(tmp_path / 'bag').T_world_cam is None  # no 'world' frame in a robot's tree


def test_unusable_bags_give_one_line_errors(tmp_path, frames, capsys):
    write_test_bag(tmp_path / 'bag', frames, with_info=False)
    with pytest.raises(BagReadError, match='no topic /camera/left'):
        read_bag(tmp_path / 'bag', BagReadOptions(image_topic='/camera/left'))
    with pytest.raises(BagReadError, match='array uma8 has 7'):
        read_bag(tmp_path / 'bag', BagReadOptions(array='uma8'))
    assert read_bag(tmp_path / 'bag').K is None
    assert main(['calibrate', str(tmp_path / 'bag')]) == 2  # vision needs K
    assert 'camera intrinsics' in capsys.readouterr().err
    with pytest.raises(BagReadError, match='no such bag'):
        read_bag(tmp_path / 'missing')


def test_calibrate_gives_the_same_answer_on_the_bag(tmp_path, capsys):
    scene = turning_scene(tmp_path / 'scene', -120.0, mirrored=True, duration_s=8.0, seed=1)
    scene_to_bag(scene, tmp_path / 'bag', BagOptions(progress=False))
    answers = []
    for recording in (scene, tmp_path / 'bag'):
        assert main(['calibrate', str(recording), '--json']) == 0
        answers.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    from_scene, from_bag = answers
    assert from_scene['mirrored'] and from_bag['mirrored'] and from_bag['channel_order'] == [0, 3, 2, 1]
    for key in ('pairs_used', 'turning_pairs', 'preset_ok', 'observable'):
        assert from_bag[key] == from_scene[key], key
    assert from_bag['shift_slope'] == pytest.approx(from_scene['shift_slope'], abs=0.05)
    assert abs(from_bag['yaw_offset_deg'] - from_scene['yaw_offset_deg']) < 1.0  # S16 rounding of the audio only
    assert from_bag['yaw_std_deg'] == pytest.approx(from_scene['yaw_std_deg'], rel=0.05, abs=0.5)


def test_calibrate_reads_a_robots_odometry_from_the_bag(tmp_path, capsys):
    """The same scene as a robot's bag (odom → base_link on /tf, the camera and the array hung from base_link on
    /tf_static): `--motion odometry --world-frame odom` calibrates along the bag's odometry as along the scene's
    own poses, and the mount comes through the tree."""
    scene = turning_scene(tmp_path / 'scene', 90.0, duration_s=8.0, seed=2)
    scene_to_bag(scene, tmp_path / 'bag', BagOptions(progress=False, world_frame='odom', base_frame='base_link'))
    bag = read_bag(tmp_path / 'bag', BagReadOptions(world_frame='odom'))
    record = read_scene(scene)
    np.testing.assert_allclose(bag.T_cam_array, record.T_cam_array, atol=1e-6)
    np.testing.assert_allclose(bag.T_world_cam, record.T_world_cam, atol=1e-6)
    answers = []
    for recording, frame in ((scene, []), (tmp_path / 'bag', ['--world-frame', 'odom'])):
        assert main(['calibrate', str(recording), '--motion', 'odometry', '--json', *frame]) == 0
        answers.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    from_scene, from_bag = answers
    for key in ('pairs_used', 'turning_pairs', 'preset_ok', 'mirrored', 'observable'):
        assert from_bag[key] == from_scene[key], key
    assert from_bag['shift_slope'] == pytest.approx(from_scene['shift_slope'], abs=0.05)  # S16 rounding only
    assert main(['calibrate', str(tmp_path / 'bag'), '--motion', 'odometry']) == 2  # no 'world' frame in it
    assert 'no camera poses' in capsys.readouterr().err
