"""pose_node: image conversions, static transforms, the frame queue and message builders (pure), then the node
over real DDS fed with a ShoeboxAV scene written by `scene-to-bag` and replayed from the bag.

The scene: a 6 s free-moving rig, 256×192 images at 10 fps, ReSpeaker 4-mic audio in 32 ms chunks, one talker.
The test adds what a robot would have: a static base_link → camera_optical transform and, for the metric scale,
wheel odometry (here: the ground-truth base positions).
"""
from __future__ import annotations

import copy
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import pytest

pytest.importorskip('rclpy')
pytest.importorskip('audio_common_msgs.msg')

import cv2  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseWithCovarianceStamped, TwistWithCovarianceStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosbags.highlevel import AnyReader  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from av_pose.audio.arrays import load_array  # noqa: E402
from av_pose.audio.buffer import AudioRingBuffer  # noqa: E402
from av_pose.bag.scene_to_bag import DEFAULT_START_EPOCH_S, BagOptions, scene_to_bag  # noqa: E402
from av_pose.errors import UserInputError  # noqa: E402
from av_pose.geometry import R_CAM_ARRAY_DEFAULT, invert_transform, make_transform, relative_pose  # noqa: E402
from av_pose.metrics.pose import rotation_error_deg  # noqa: E402
from av_pose.pose.base import UNKNOWN_VARIANCE, PoseEstimate, PoseEstimator  # noqa: E402
from av_pose.pose.outputs import TrajectoryTrail  # noqa: E402
from av_pose.pose.sequence import ground_truth_scale, run_odometry  # noqa: E402
from av_pose.pose.smoothing import ChainSmoother  # noqa: E402
from av_pose.ros import images, pose_messages  # noqa: E402
from av_pose.ros.audio_adapters import import_message_type  # noqa: E402
from av_pose.ros.conversions import seconds_to_time  # noqa: E402
from av_pose.ros.node_common import EstimateScheduler  # noqa: E402
from av_pose.ros.pose_inputs import (  # noqa: E402
    BackgroundCalibration,
    CameraLens,
    FrameQueue,
    cut_window,
    scaled_intrinsics,
)
from av_pose.ros.pose_node import PARAMETERS, PoseNode, config_from_parameters  # noqa: E402
from av_pose.ros.qos import latched_qos  # noqa: E402
from av_pose.ros.tf_listener import StaticTransforms, static_tf_qos  # noqa: E402
from av_pose.scene.generate import SynthConfig  # noqa: E402
from av_pose.vision.lens import LensDistortion  # noqa: E402

from ros_harness import REPO_ROOT, NodeProcess, RosClient, unique_domain_id, unique_namespace  # noqa: E402
from scene_fixtures import scene_with_static_talker  # noqa: E402

pytestmark = pytest.mark.ros

EPOCH = DEFAULT_START_EPOCH_S
T_BASE_CAM = make_transform(R_CAM_ARRAY_DEFAULT.T @ Rotation.from_euler('x', -12, degrees=True).as_matrix(),
                            [0.0, 0.0, 0.0])  # camera looks along base x, pitched 12° down, same origin
LEARNED_MEDIAN_BOUND_DEG = 9.0
"""Median relative rotation error the shipped learned model must stay under on the replayed scene, degrees
(reporting the identity there errs by 9.9° median; av-tiny 7.3° offline, vision-tiny 9.9°)."""


def stamp_s(header) -> float:
    return header.stamp.sec + 1e-9 * header.stamp.nanosec


# ------------------------------------------------------------------------------------------ images
@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16', 'yuv422', 'yuyv',
                                      'bayer_rggb8'])
def test_image_encodings_decode_to_rgb(encoding):
    rng = np.random.default_rng(0)
    rgb = np.repeat(np.repeat(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), 2, 0), 2, 1)  # 12×16, blocky
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if encoding in ('rgb8', 'bgr8'):
        msg = images.rgb_to_image(rgb, 1.0, 'cam', encoding)
        expected, tolerance = rgb, 0
    elif encoding in ('rgba8', 'bgra8'):
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA if encoding == 'rgba8' else cv2.COLOR_RGB2BGRA)
        msg = Image(height=12, width=16, encoding=encoding, step=64, data=pixels.tobytes())
        expected, tolerance = rgb, 0
    elif encoding == 'mono8':
        msg = images.rgb_to_image(rgb, 1.0, 'cam', 'mono8')
        expected, tolerance = np.dstack([gray] * 3), 0
    elif encoding == 'mono16':
        msg = Image(height=12, width=16, encoding='mono16', is_bigendian=1, step=32,
                    data=(gray.astype('>u2') * 257).tobytes())
        expected, tolerance = np.dstack([gray] * 3), 0
    elif encoding in ('yuv422', 'yuyv'):  # grey (U = V = 128) with a luma ramp must come out grey and in order
        luma = np.tile(np.linspace(20, 230, 16).astype(np.uint8), (12, 1))
        chroma = np.full((12, 16), 128, dtype=np.uint8)
        packed = np.stack([chroma, luma], -1) if encoding == 'yuv422' else np.stack([luma, chroma], -1)
        decoded = images.image_to_rgb(Image(height=12, width=16, encoding=encoding, step=32, data=packed.tobytes()))
        assert np.abs(decoded.astype(int) - decoded[..., :1]).max() <= 1
        assert np.all(np.diff(decoded[0, :, 1].astype(int)) > 0)
        return
    else:  # a Bayer mosaic of a flat-coloured image demosaics back to that colour
        rgb = np.full((12, 16, 3), (200, 100, 50), dtype=np.uint8)
        mosaic = np.zeros((12, 16), dtype=np.uint8)
        mosaic[0::2, 0::2], mosaic[0::2, 1::2], mosaic[1::2, 0::2], mosaic[1::2, 1::2] = 200, 100, 100, 50
        msg = Image(height=12, width=16, encoding=encoding, step=16, data=mosaic.tobytes())
        expected, tolerance = rgb, 1
    decoded = images.image_to_rgb(msg)
    assert decoded.shape == (12, 16, 3) and decoded.dtype == np.uint8
    inner = (slice(2, -2), slice(2, -2))
    assert np.abs(decoded[inner].astype(int) - expected[inner].astype(int)).max() <= tolerance


def test_image_rows_with_padding_and_odd_sizes():
    rgb = np.random.default_rng(1).integers(0, 256, (7, 5, 3), dtype=np.uint8)  # odd width and height
    padded = np.zeros((7, 20), dtype=np.uint8)
    padded[:, :15] = rgb.reshape(7, 15)
    msg = Image(height=7, width=5, encoding='rgb8', step=20, data=padded.tobytes())
    np.testing.assert_array_equal(images.image_to_rgb(msg), rgb)


@pytest.mark.parametrize(('fields', 'message'), [
    ({'encoding': '32FC1', 'step': 64}, 'unsupported image encoding'),
    ({'height': 0}, 'size 16×0'),
    ({'width': 0, 'step': 0}, 'size 0×12'),
    ({'step': 40}, 'step 40 is shorter than a row'),
    ({'data': bytes(100)}, 'needs 576 bytes, got 100'),
    ({'width': 99999, 'step': 299997}, 'exceeds'),
    ({'encoding': 'yuv422', 'width': 15, 'step': 30}, 'odd width'),
])
def test_bad_images_raise_one_line_errors(fields, message):
    values = {'height': 12, 'width': 16, 'encoding': 'rgb8', 'step': 48, 'data': bytes(576), **fields}
    with pytest.raises(images.ImageDecodeError, match=message):
        images.image_to_rgb(Image(**values))


def test_compressed_images_round_trip_and_corrupt_jpeg():
    rgb = np.zeros((48, 64, 3), dtype=np.uint8)
    rgb[:, :32] = (250, 20, 20)
    rgb[:, 32:] = (20, 20, 250)
    png = images.rgb_to_compressed(rgb, 2.5, 'cam', 'png')
    np.testing.assert_array_equal(images.compressed_to_rgb(png), rgb)
    assert (png.header.stamp.sec, png.header.stamp.nanosec, png.header.frame_id) == (2, 500_000_000, 'cam')
    jpeg = images.rgb_to_compressed(rgb, 2.5, 'cam', 'jpeg', quality=95)
    assert np.abs(images.compressed_to_rgb(jpeg).astype(int) - rgb).mean() < 3.0
    corrupt = CompressedImage(format='jpeg', data=bytes(jpeg.data)[:20] + bytes(200))
    with pytest.raises(images.ImageDecodeError, match='corrupt'):
        images.compressed_to_rgb(corrupt)
    with pytest.raises(images.ImageDecodeError, match='no data'):
        images.compressed_to_rgb(CompressedImage(format='jpeg'))


# ------------------------------------------------------------------------------------------ small parts
def test_static_transforms_walk_the_tree():
    tree = StaticTransforms()
    T_base_link = make_transform(Rotation.from_euler('z', 30, degrees=True).as_matrix(), [0.2, 0.0, 0.5])
    T_link_optical = make_transform(R_CAM_ARRAY_DEFAULT.T, [0.0, 0.05, 0.0])
    T_optical_mic = make_transform(np.eye(3), [0.0, -0.1, 0.02])
    tree.add('base_link', 'camera_link', T_base_link)
    tree.add('/camera_link', 'camera_optical', T_link_optical)
    tree.add('camera_optical', 'mic_array', T_optical_mic)
    tree.add('map', 'other', np.eye(4))
    np.testing.assert_allclose(tree.lookup('base_link', 'camera_optical'), T_base_link @ T_link_optical)
    np.testing.assert_allclose(tree.lookup('camera_optical', 'base_link'),
                               invert_transform(T_base_link @ T_link_optical), atol=1e-12)
    np.testing.assert_allclose(tree.lookup('mic_array', 'camera_link'),
                               invert_transform(T_link_optical @ T_optical_mic), atol=1e-12)
    np.testing.assert_allclose(tree.lookup('base_link', 'base_link'), np.eye(4))
    assert tree.lookup('base_link', 'other') is None and tree.lookup('base_link', '') is None


def test_frame_queue_keyframes_stamps_and_batches():
    queue = FrameQueue(EstimateScheduler(0.1), capacity=6)
    problems = [queue.offer(100.0 + k / 30, f'msg{k}', 'cam', arrival_s=k / 30) for k in range(30)]  # 30 fps
    # one keyframe per 0.1 s of image time (10 of 30 images); the queue holds 6, so the 4 oldest were dropped
    assert queue.received == 30 and queue.skipped == 20 and len(queue) == 6
    assert [p[0] for p in problems if p] == ['queue_full'] * 4
    assert queue.offer(100.5, 'late', 'cam', 1.0)[0] == 'late'
    assert queue.offer(100.0 + 29 / 30, 'dup', 'cam', 1.0)[0] == 'duplicate'
    assert queue.offer(float('nan'), 'nan', 'cam', 1.0)[0] == 'stamp'
    # audio up to 100.75 s and 0.1 s of wait: keyframes up to 100.6 s are ready, at most 2 per batch
    batches = [queue.ready(audio_end_s=100.75, wait_s=0.1, max_batch=2, min_gap_s=0.5, now=1.0) for _ in range(3)]
    assert [[round(f.stamp_s, 3) for f in batch] for batch in batches] == [[100.4, 100.5], [100.6], []]
    assert queue.offer(90.0, 'loop', 'cam', 2.0)[0] == 'time_jump' and queue.take_reset() and not queue.take_reset()
    assert len(queue) == 1  # the queue restarted with the looped frame


def test_frame_queue_waits_for_audio_but_not_forever():
    queue = FrameQueue(EstimateScheduler(0.1), capacity=8)
    for k in range(8):
        queue.offer(10.0 + 0.1 * k, k, 'cam', arrival_s=0.0)
    assert [f.msg for f in queue.ready(10.15, 0.1, 8, 0.5, now=0.2)] == [0]  # 10.1 needs audio up to 10.2
    assert [f.msg for f in queue.ready(10.25, 0.1, 8, 0.5, now=0.2)] == [1]
    assert [f.msg for f in queue.ready(None, 0.1, 8, 0.5, now=0.3)] == [2, 3, 4, 5, 6]  # no audio: go; gap 0.5
    assert [f.msg for f in queue.ready(10.3, 0.1, 8, 0.5, now=5.0)] == [7]  # audio lags > 1 s: go anyway
    queue.offer_audio_only(11.0, 6.0)
    assert [f.msg for f in queue.ready(None, 0.1, 8, 0.5, 6.0)] == [None]


def test_frame_queue_skips_stale_frames_only_when_a_newer_one_is_ready():
    """A worker slower than rate_hz: frames ready for more than max_age_s go when a newer one is ready, so the
    latency stays bounded; frames held up by lagging audio are not skipped when it comes."""
    queue = FrameQueue(EstimateScheduler(0.1), capacity=8)
    for k in range(8):
        queue.offer(10.0 + 0.1 * k, k, 'cam', arrival_s=0.1 * k)
    # at 0.8 s, audio to 10.42: frames 0-3 are ready; 0 and 1 have been for more than 0.25 s of audio (0.37, 0.27)
    assert [f.msg for f in queue.ready(10.42, 0.05, 4, 0.5, now=0.8, max_age_s=0.25)] == [2, 3]
    assert queue.behind == 2
    # audio lags: frame 4 came 0.8 s ago, but its audio only now: it is estimated, nothing skipped
    assert [f.msg for f in queue.ready(10.51, 0.05, 4, 0.5, now=1.2, max_age_s=0.25)] == [4] and queue.behind == 2
    # a late chunk makes 5-7 ready at once: each waited for audio, not for the worker
    assert [f.msg for f in queue.ready(10.78, 0.05, 4, 0.5, now=1.5, max_age_s=0.25)] == [5, 6, 7]
    assert queue.behind == 2
    # no audio: the wall time since a frame came counts
    for k in range(3):
        queue.offer(11.0 + 0.1 * k, k, 'cam', arrival_s=2.0 + 0.1 * k)
    assert [f.msg for f in queue.ready(None, 0.05, 4, 0.5, now=2.33, max_age_s=0.25)] == [1, 2] and queue.behind == 3


def test_cut_window_leaves_out_audio_after_the_wait():
    buffer = AudioRingBuffer(2, 1000, capacity_s=5.0)
    buffer.push(np.ones((2, 3000), dtype=np.float32), 10.0)  # 10.0 .. 13.0 s
    window = cut_window(buffer, 11.0, 1.0, until_s=11.1)
    assert window.samples.shape == (2, 1000) and window.coverage == pytest.approx(0.6)
    assert window.samples[:, :600].min() == 1.0 and window.samples[:, 600:].max() == 0.0
    assert cut_window(buffer, 12.0, 1.0, until_s=13.0).coverage == pytest.approx(1.0)
    assert cut_window(buffer, 20.0, 1.0, until_s=20.1) is None


def test_scaled_intrinsics_follow_the_image_size():
    info = CameraInfo(width=640, height=480, k=[500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(scaled_intrinsics(info, (640, 480)), np.reshape(info.k, (3, 3)))
    np.testing.assert_allclose(scaled_intrinsics(info, (320, 240)), [[250, 0, 160], [0, 250, 120], [0, 0, 1]])
    assert scaled_intrinsics(CameraInfo(), (320, 240)) is None
    rectified = CameraInfo(width=640, height=480, k=info.k, p=[480.0, 0, 330.0, 0, 0, 480.0, 250.0, 0, 0, 0, 1.0, 0])
    np.testing.assert_allclose(scaled_intrinsics(rectified, (640, 480), rectified=True),
                               [[480, 0, 330], [0, 480, 250], [0, 0, 1]])  # image_rect: P, not K


def test_camera_lens_undistorts_raw_images_and_warns_about_a_lens_it_cannot_use():
    from av_pose.vision.lens import Undistorter

    K = np.array([[360.0, 0.0, 255.5], [0.0, 360.0, 191.5], [0.0, 0.0, 1.0]])  # for 512×384
    lens = LensDistortion('plumb_bob', (-0.28, 0.09, 0.0, 0.0, 0.0))
    info = CameraInfo(width=512, height=384, k=K.reshape(-1).tolist(), distortion_model='plumb_bob',
                      d=list(lens.coefficients), p=np.hstack([K, np.zeros((3, 1))]).reshape(-1).tolist())
    image = np.random.default_rng(0).integers(0, 256, (192, 256, 3), dtype=np.uint8)  # resized by half
    warnings = []
    camera = CameraLens(False, lambda reason, message: warnings.append((reason, message)))
    np.testing.assert_array_equal(camera.undistort(image), image)  # before any CameraInfo: as it came
    assert camera.describe() == 'no camera_info yet'
    camera.info = info
    assert camera.describe() == 'plumb_bob lens: raw images undistorted onto K'
    half = camera.intrinsics((256, 192))
    np.testing.assert_allclose(half, [[180, 0, 127.75], [0, 180, 95.75], [0, 0, 1]])
    np.testing.assert_array_equal(camera.undistort(image), Undistorter(half, lens, (256, 192))(image))
    assert not warnings
    rectified = CameraLens(True, lambda *args: warnings.append(args))
    rectified.info = info
    np.testing.assert_array_equal(rectified.undistort(image), image)
    assert rectified.describe() == 'rectified images: intrinsics from P'
    camera.info = CameraInfo(width=512, height=384, k=info.k, distortion_model='fov', d=[0.9])
    np.testing.assert_array_equal(camera.undistort(image), image)
    assert warnings == [('camera_info', "camera_info: unknown distortion model 'fov' (known: plumb_bob, "
                                        "rational_polynomial, equidistant); images used without undistortion")]
    assert camera.describe().startswith("raw images used as they come (unknown distortion model 'fov'")
    camera.info = CameraInfo(width=512, height=384, k=info.k, distortion_model='plumb_bob', d=[0.0] * 5)
    assert camera.describe() == 'pinhole (D all zero)'
    np.testing.assert_array_equal(camera.undistort(image), image)
    uncalibrated = CameraLens(False, lambda *args: None, fallback_hfov_deg=90.0)
    np.testing.assert_allclose(uncalibrated.intrinsics((256, 192)), [[128, 0, 127.5], [0, 128, 95.5], [0, 0, 1]])
    uncalibrated.info = CameraInfo(width=256, height=192)   # an uncalibrated driver's zeros
    np.testing.assert_allclose(uncalibrated.intrinsics((256, 192)), [[128, 0, 127.5], [0, 128, 95.5], [0, 0, 1]])
    assert uncalibrated.describe() == 'camera_info without intrinsics (K unset): a centred pinhole of ' \
                                      'camera_hfov_deg 90°'
    uncalibrated.info = info   # a calibrated camera_info wins
    np.testing.assert_allclose(uncalibrated.intrinsics((256, 192)), half)


def test_background_calibration_solves_off_the_worker_thread():
    from av_pose.audio.streaming import DoaFrame
    from av_pose.pose.calibration import MountCalibration, OnlineMountCalibrator

    results = []
    background = BackgroundCalibration(OnlineMountCalibrator(load_array('respeaker4')), 1.0, results.append)
    spectrum = np.exp(-0.5 * ((np.arange(360) - 90.0) / 5.0) ** 2).astype(np.float32)
    for k in range(30):  # a still rig hearing one source at 90°: the yaw is unobservable, and says so
        doa_a, doa_b = (DoaFrame(10.0 + 0.1 * j, spectrum, np.array([90.0]), np.array([0.9]), 1.0) for j in (k, k + 10))
        background.add_pair(np.eye(3), None, doa_a, doa_b)
    deadline = time.monotonic() + 10.0
    while not results and time.monotonic() < deadline:
        time.sleep(0.05)
    background.stop()
    assert results and isinstance(results[0], MountCalibration) and not results[0].observable
    assert results[0].pairs_used >= 11 and 'unobservable' in results[0].message


def test_known_source_bearing_parameters_give_the_mount_yaw_from_turning():
    """calibration_source_*: a rig turning in place, a source at 40° when the node starts, the array at 90°."""
    from av_pose.audio.streaming import DoaFrame
    from av_pose.geometry import R_CAM_ARRAY_DEFAULT, rotation_from_ypr
    from av_pose.ros.pose_config import mount_calibrator

    assert mount_calibrator(config_from_parameters(_params())) is None
    unknown = mount_calibrator(config_from_parameters(_params(calibrate_array=True)))
    assert unknown.source_bearing_deg is None
    cfg = config_from_parameters(_params(calibrate_array=True, calibration_source_known=True,
                                         calibration_source_bearing_deg=40.0))
    assert cfg.calibration_source_deg == (40.0, 0.0)
    results = []
    background = BackgroundCalibration(mount_calibrator(cfg), 1.0, results.append)
    headings = 3.0 * np.arange(31)   # the rig's yaw at each keyframe, degrees: 90° in 30 steps

    def doa(k: int) -> DoaFrame:
        azimuth = (40.0 - headings[k] - 90.0) % 360.0   # the source in the array frame (mount yaw 90°)
        spectrum = np.exp(8.0 * (np.cos(np.radians(np.arange(360) + 0.5 - azimuth)) - 1.0)).astype(np.float32)
        return DoaFrame(10.0 + 0.5 * k, spectrum, np.array([azimuth]), np.array([0.9]), 1.0)

    for k in range(30):
        turn = R_CAM_ARRAY_DEFAULT @ rotation_from_ypr(np.radians(headings[k + 1] - headings[k]), 0, 0) \
            @ R_CAM_ARRAY_DEFAULT.T   # camera b → camera a
        background.add_pair(turn, None, doa(k), doa(k + 1))
    deadline = time.monotonic() + 10.0
    while not results and time.monotonic() < deadline:
        time.sleep(0.05)
    background.stop()
    assert results and results[-1].observable and 'bearing' in results[-1].message, results
    assert abs((results[-1].yaw_offset_deg - 90.0 + 180.0) % 360.0 - 180.0) < 0.5, results[-1]
    with pytest.raises(UserInputError, match='calibration_source_elevation_deg'):
        config_from_parameters(_params(calibration_source_known=True, calibration_source_elevation_deg=95.0))


def test_messages_never_carry_non_finite_numbers():
    covariance = np.diag([1.0, np.nan, np.inf, 2e6, 0.1, 0.1])
    values = np.array(pose_messages.finite_covariance(covariance)).reshape(6, 6)
    assert np.all(np.isfinite(values)) and values[1, 1] == values[2, 2] == values[3, 3] == UNKNOWN_VARIANCE
    T = make_transform(Rotation.from_euler('xyz', [10, -20, 170], degrees=True).as_matrix(), [1.0, 2.0, 3.0])
    odom = pose_messages.odometry_message(5.0, 'odom', 'base_link', T, np.eye(6), np.arange(6.0), np.eye(6))
    q = odom.pose.pose.orientation
    np.testing.assert_allclose(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), T[:3, :3], atol=1e-12)
    assert (odom.child_frame_id, odom.header.frame_id, odom.twist.twist.angular.z) == ('base_link', 'odom', 5.0)
    markers = pose_messages.pose_markers(5.0, 'odom', np.zeros((3, 3)), T, None, None).markers
    frustum = [m for m in markers if m.ns == 'camera'][0]
    assert len(frustum.points) == 16 and frustum.points[0].x == pytest.approx(1.0)  # apex at the camera centre


def test_trajectory_trail_thins_bounds_and_resends_once_a_period():
    trail = TrajectoryTrail(max_points=5, min_step_m=0.01, period_s=1.0)
    sent = [trail.add(0.1 * i, [0.02 * i, 0.0, 0.0]) for i in range(11)]  # walking 0.2 m/s for 1 s
    assert [i for i, points in enumerate(sent) if points is not None] == [0, 10]
    np.testing.assert_allclose(sent[10][:, 0], [0.12, 0.14, 0.16, 0.18, 0.2])  # the newest five
    standing = [trail.add(1.0 + 0.1 * i, [0.2 + 0.001 * (i % 2), 0.0, 0.0]) for i in range(1, 11)]
    assert [i for i, points in enumerate(standing) if points is not None] == [9]  # resent for late viewers
    assert len(standing[9]) == 5 and standing[9][-1][0] == pytest.approx(0.2)  # millimetre jitter adds nothing
    assert trail.add(2.1, [np.nan, 0.0, 0.0]) is None and len(trail.points) == 5
    replayed = trail.add(0.0, [0.0, 0.0, 0.0])  # a bag played again: stamps go back, the marker goes at once
    assert replayed is not None and replayed[-1] == pytest.approx([0.0, 0.0, 0.0])
    trail.clear()  # the odometry restarted: no line back to the old path
    assert len(trail.add(0.0, [1.0, 0.0, 0.0])) == 1 and len(trail.add(1.0, [1.0, 0.5, 0.0])) == 2
    every = TrajectoryTrail(period_s=0.0, min_step_m=0.0)
    assert all(every.add(5.0, [0.0, 0.0, 0.0]) is not None for _ in range(3)) and len(every.points) == 3


def _params(**changes):
    values = {name: default for name, (default, _) in PARAMETERS.items()}
    values.update(changes)
    return values


def test_config_defaults():
    cfg = config_from_parameters(_params(rate_hz=5))
    from av_pose.pose.registry import DEFAULT_MODEL, ESTIMATORS

    assert (cfg.model, cfg.gap_s, cfg.period_s, cfg.scale, cfg.base_frame) == (DEFAULT_MODEL, 1.0, 0.2, 'none',
                                                                                'base_link')
    assert cfg.planar_motion is False  # free 6-DoF motion unless the user says the robot drives on a floor
    assert cfg.smoother == ChainSmoother(1.0, 0.3)   # the interleaved chains are tied together by default
    assert config_from_parameters(_params(smoothing_lag_s=0.0)).smoother is None
    assert cfg.direction_hold_s == 5.0   # steps without a translation direction follow the last known one
    assert DEFAULT_MODEL == ('av-tiny' if 'av-tiny' in ESTIMATORS else 'geometric')


@pytest.mark.parametrize(('changes', 'message'), [
    ({'pair_gap_s': 0.2}, r'pair_gap_s must be a number in \[0.5, 4\]'),
    ({'rate_hz': 0}, 'rate_hz must be a positive number'),
    ({'translation_scale': 'metric'}, 'translation_scale must be one of none, fixed, odometry'),
    ({'image_transport': 'theora'}, 'image_transport must be one of raw, compressed'),
    ({'device': 'tpu'}, 'device must be one of'),
    ({'detector': 'surf'}, 'detector must be one of orb, sift, akaze'),
    ({'camera_hfov_deg': 180.0}, r'camera_hfov_deg must be a number in \[0, 179\]'),
    ({'publish_tf': 'yes'}, 'publish_tf must be true or false'),
    ({'odom_frame': ''}, 'odom_frame must not be empty'),
    ({'max_batch': 0}, 'max_batch must be an integer >= 1'),
    ({'smoothing_lag_s': -1.0}, r'smoothing_lag_s must be a number in \[0, 60\]'),
    ({'smoothing_angular_accel': 0.0}, 'smoothing_angular_accel must be a positive number'),
    ({'direction_hold_s': -2.0}, r'direction_hold_s must be a number in \[0, 60\]'),
    ({'array': 'no_such_array'}, 'unknown array'),
    ({'audio_msg_type': 'std_msgs/msg/String'}, 'audio_msg_type'),
])
def test_config_rejects_bad_values(changes, message):
    with pytest.raises(UserInputError, match=message):
        config_from_parameters(_params(**changes))


# ------------------------------------------------------------------------------------------ scene and replay
@dataclass
class SceneBag:
    """The scene's record and its bag's messages as rclpy objects: [(stamp_s, topic, message)] in bag order."""

    record: object
    events: list
    image_stamps: np.ndarray


def to_rclpy(message, msgtype: str):
    """Copy a rosbags message into the rclpy class of the same type (nested messages and arrays included)."""
    out = import_message_type(msgtype)()
    for name, type_name in out.get_fields_and_field_types().items():
        value = getattr(message, name)
        if type_name.startswith('sequence<') and '/' in type_name:
            element = type_name[len('sequence<'):-1].split(',')[0].replace('/', '/msg/')
            setattr(out, name, [to_rclpy(v, element) for v in value])
        elif '/' in type_name:
            setattr(out, name, to_rclpy(value, type_name.replace('/', '/msg/')))
        elif isinstance(value, np.ndarray):
            setattr(out, name, value.tobytes() if value.dtype == np.uint8 else value.tolist())
        else:
            setattr(out, name, value)
    return out


def make_scene_bag(root, lens: LensDistortion | None = None) -> SceneBag:
    """The test's scene (through `lens` when given) written as a bag and read back as rclpy messages."""
    config = SynthConfig(duration_s=6.0, fps=10.0, image_size=(256, 192), array=load_array('respeaker4'),
                         num_sources=1, snr_db=40.0, distortion=lens)
    record = scene_with_static_talker(root / 'scene', config, seed=5)
    scene_to_bag(root / 'scene', root / 'bag', BagOptions(progress=False))
    with AnyReader([root / 'bag']) as reader:
        events = [(stamp_ns * 1e-9, c.topic, to_rclpy(reader.deserialize(raw, c.msgtype), c.msgtype))
                  for c, stamp_ns, raw in reader.messages()]
    return SceneBag(record, events, np.array([t for t, topic, _ in events if topic == '/camera/image_raw']))


@pytest.fixture(scope='module')
def scene_bag(tmp_path_factory) -> SceneBag:
    return make_scene_bag(tmp_path_factory.mktemp('pose_scene'))


def truth_base_pose(record, t: float) -> np.ndarray:
    """Ground-truth T_world_base at bag time t (the base carries the camera at T_BASE_CAM)."""
    return record.pose_at(t - EPOCH) @ invert_transform(T_BASE_CAM)


class TruthEstimator(PoseEstimator):
    """The scene's ground truth as a monocular estimator reports it (unit translation), recording its input."""

    name = 'truth'

    def __init__(self, record, nan_after_s: float | None = None,
                 blind_between_s: tuple[float, float] | None = None,
                 invalid_between_s: tuple[float, float] | None = None) -> None:
        self.record, self.pairs, self.nan_after_s, self.blind_between_s = record, [], nan_after_s, blind_between_s
        self.invalid_between_s = invalid_between_s

    def estimate_batch(self, pairs):
        out = []
        for pair in pairs:
            self.pairs.append(pair)
            T = relative_pose(self.record.pose_at(pair.view_a.stamp_s - EPOCH),
                              self.record.pose_at(pair.view_b.stamp_s - EPOCH))
            T[:3, 3] /= max(np.linalg.norm(T[:3, 3]), 1e-12)
            if self.nan_after_s is not None and pair.view_b.stamp_s > self.nan_after_s:
                T[0, 0] = np.nan  # a broken estimator: the node must publish nothing for it
            blind = self.blind_between_s is not None and \
                self.blind_between_s[0] <= pair.view_b.stamp_s <= self.blind_between_s[1]
            if blind:   # vision lost the translation direction (blur): the rotation alone, as the image shift gives
                T[:3, 3] = 0.0
            out.append(PoseEstimate(T, np.diag([1e6 if blind else 1e-4] * 3 + [1e-5] * 3), used=('vision',),
                                    translation_known=not blind))
            if self.invalid_between_s is not None and \
                    self.invalid_between_s[0] <= pair.view_b.stamp_s <= self.invalid_between_s[1]:
                out[-1] = PoseEstimate.invalid('no pose (test)')
        return out


class Outputs:
    """Everything the node publishes, collected by the test client."""

    def __init__(self, client: RosClient, ns: str) -> None:
        self.odometry = client.collect(Odometry, f'{ns}/pose/odometry')
        self.twist = client.collect(TwistWithCovarianceStamped, f'{ns}/pose/twist')
        self.relative = client.collect(PoseWithCovarianceStamped, f'{ns}/pose/relative')
        self.markers = client.collect(MarkerArray, f'{ns}/pose/markers')
        self.tf = client.collect(TFMessage, '/tf', qos=100)
        self.diagnostics = client.collect(DiagnosticArray, '/diagnostics')

    def statuses(self, node_name: str) -> list[dict]:
        """Key/values (plus 'message' and 'level') of the node's diagnostics statuses, oldest first."""
        out = []
        for array in self.diagnostics:
            status = array.status[0]
            if node_name in status.name:
                level = status.level if isinstance(status.level, int) else int.from_bytes(status.level, 'little')
                out.append({'message': status.message, 'level': level, 'stamp': stamp_s(array.header),
                            **{kv.key: kv.value for kv in status.values}})
        return out

    def status(self, node_name: str) -> dict:
        """The newest status of the node ({} before the first)."""
        statuses = self.statuses(node_name)
        return statuses[-1] if statuses else {}


class Replay:
    """Publishes a scene bag's messages into namespace `ns` at `speed` × real time, as `ros2 bag play` would."""

    TOPICS = {'/camera/image_raw': 'image', '/camera/camera_info': 'camera_info', '/audio': 'audio'}

    def __init__(self, client: RosClient, ns: str, scene: SceneBag, compressed: bool = False,
                 scale_odometry: bool = False, clock: bool = False, odometry_child: str = 'base_link') -> None:
        self.client, self.ns, self.scene, self.compressed = client, ns, scene, compressed
        node = client.node
        image_type = CompressedImage if compressed else Image
        self.pubs = {'image': node.create_publisher(image_type, f'{ns}/image', 10),
                     'camera_info': node.create_publisher(CameraInfo, f'{ns}/camera_info', 10),
                     'audio': node.create_publisher(type(self._first('/audio')), f'{ns}/audio', 100)}
        info = self._first('/audio_info')
        self.info_pub = node.create_publisher(type(info), f'{ns}/audio_info', latched_qos())
        self.info_pub.publish(info)
        self.static_pub = node.create_publisher(TFMessage, '/tf_static', static_tf_qos())
        camera_mic = self._first('/tf_static')
        base_camera = pose_messages.transform_message(EPOCH, 'base_link', 'camera_optical', T_BASE_CAM)
        self.static_pub.publish(TFMessage(transforms=[*camera_mic.transforms, base_camera]))
        self.odom_pub = node.create_publisher(Odometry, f'{ns}/scale_odometry', 50) if scale_odometry else None
        self.odometry_child = odometry_child   # the wheel odometry's child frame (base_link: linked to the camera)
        self.clock_pub = None
        if clock:
            from rosgraph_msgs.msg import Clock
            self.clock_pub = node.create_publisher(Clock, '/clock', 10)

    def _first(self, topic: str):
        return next(msg for _, t, msg in self.scene.events if t == topic)

    def wait_for_node(self, topics=('image', 'audio')) -> bool:
        return all(self.client.wait_for_subscribers(self.pubs[name]) for name in topics)

    def play(self, speed: float = 2.0, topics=('image', 'camera_info', 'audio'), until_s: float | None = None,
             edit=None) -> list[float]:
        """Publish the chosen topics in stamp order; `edit(stamp, name, msg)` may replace or drop (None) a message.

        Returns the stamps of the images published.
        """
        events = [(t, self.TOPICS[topic], msg) for t, topic, msg in self.scene.events
                  if self.TOPICS.get(topic) in topics and (until_s is None or t - EPOCH < until_s)]
        start_wall, start_stamp, published = time.monotonic(), events[0][0], []
        for stamp, name, msg in events:
            while (ahead := (stamp - start_stamp) / speed - (time.monotonic() - start_wall)) > 0:
                self.client.executor.spin_once(timeout_sec=min(ahead, 0.01))
            if name == 'image':
                if self.odom_pub is not None:
                    odom = pose_messages.odometry_message(stamp, 'wheel_odom', self.odometry_child,
                                                          truth_base_pose(self.scene.record, stamp), np.eye(6),
                                                          np.zeros(6), np.eye(6))
                    self.odom_pub.publish(odom)
                if self.clock_pub is not None:
                    from rosgraph_msgs.msg import Clock
                    self.clock_pub.publish(Clock(clock=seconds_to_time(stamp)))
                if self.compressed:
                    msg = images.rgb_to_compressed(images.image_to_rgb(msg), stamp, msg.header.frame_id)
            if edit is not None:
                msg = edit(stamp, name, msg)
                if msg is None:
                    continue
            self.pubs[name].publish(msg)
            if name == 'image':
                published.append(stamp)
        return published


def in_process_node(client: RosClient, ns: str, estimator, **params) -> PoseNode:
    overrides = [Parameter(name, value=value) for name, value in {'stale_timeout_s': 1.0, **params}.items()]
    node = PoseNode(estimator=estimator, context=client.context, namespace=ns, parameter_overrides=overrides)
    client.executor.add_node(node)
    return node



def pose_of(msg) -> np.ndarray:
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    return make_transform(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), [p.x, p.y, p.z])


# ------------------------------------------------------------------------------------------ DDS runs
def replay_end_error(scene_bag, estimator, odometry_child: str = 'base_link', edit=None, published: list | None = None,
                     **parameters) -> tuple[float, list[dict]]:
    """Replay the scene into a node (wheel-odometry scale); the last pose's position error (m) and its statuses.

    `odometry_child`: the wheel odometry's child frame; a frame not on /tf_static gives distances only. `edit(replay,
    stamp, name, msg)`: as `Replay.play`'s, with the replay (its publishers) first. `published`: filled with the
    node's odometry messages.
    """
    with RosClient(unique_domain_id()) as client:
        ns = unique_namespace()
        node = in_process_node(client, ns, estimator, translation_scale='odometry', **parameters)
        outputs = Outputs(client, ns)
        replay = Replay(client, ns, scene_bag, scale_odometry=True, odometry_child=odometry_child)
        assert replay.wait_for_node()
        replay.play(speed=2.0, edit=None if edit is None else lambda *args: edit(replay, *args))
        client.settle(outputs.odometry, quiet_s=1.5)
        client.spin_for(1.5)
        statuses = outputs.statuses(f'{ns}/pose_node')
        odometry = list(outputs.odometry)
        client.executor.remove_node(node)
        node.destroy_node()
    if published is not None:
        published += odometry
    first, last = stamp_s(odometry[0].header), stamp_s(odometry[-1].header)
    end = invert_transform(pose_of(odometry[0])) @ pose_of(odometry[-1])
    expected = invert_transform(truth_base_pose(scene_bag.record, first)) @ truth_base_pose(scene_bag.record, last)
    return float(np.linalg.norm(end[:3, 3] - expected[:3, 3])), statuses


TRAVEL_PRIORS = 'pairs with a travel prior (parallax of the audio yaw)'
"""pose_node's /diagnostics key."""


def test_node_walks_on_along_the_last_direction_where_the_estimator_loses_it(scene_bag):
    """For 1 s mid-scene the estimates have a rotation but no translation direction (`direction_hold_s`).

    The wheel odometry's frame (`wheels`) is not linked to the camera on /tf_static: it gives distances only, and the
    node holds the last direction vision saw; linked (`base_link`), its own travel fills the blind second exactly.
    """
    blind = (EPOCH + 2.5, EPOCH + 3.5)   # (2 s of it: 0.66 → 0.44 m, the rig changes course)
    errors = {}
    for hold_s, child in ((0.0, 'wheels'), (5.0, 'wheels'), (5.0, 'base_link')):   # off; the default hold
        errors[hold_s, child], statuses = replay_end_error(
            scene_bag, TruthEstimator(scene_bag.record, blind_between_s=blind), odometry_child=child,
            smoothing_lag_s=0.0, direction_hold_s=hold_s)
        held = max(int(s.get('estimates with a held direction', 0)) for s in statuses)
        assert (held >= 8) == (hold_s > 0) and held <= 11   # ten keyframes in the blind second
        priors = max(int(s.get(TRAVEL_PRIORS, 0)) for s in statuses)
        assert (priors >= 30) == (child == 'base_link'), priors   # every pair, with the reference's travel
    print(f'\ndirection hold over DDS: the end {errors[0.0, "wheels"]:.3f} m off without, '
          f'{errors[5.0, "wheels"]:.3f} m with it, {errors[5.0, "base_link"]:.3f} m with the wheels\' travel')
    assert errors[0.0, 'wheels'] > 0.15 and errors[5.0, 'wheels'] < 0.75 * errors[0.0, 'wheels']   # 0.22, 0.11 m
    assert errors[5.0, 'base_link'] < 0.02   # the truth's travel: 0.000 m
    assert statuses[-1]['direction hold'] == '5 s in odom'
    assert 'direction of travel' in statuses[-1]['scale']


def test_bad_wheel_odometry_is_counted_and_never_stops_the_node(scene_bag):
    """A NaN position is dropped and counted; a zero quaternion keeps the position (the distance, not the travel,
    around it); the node publishes on and ends where the truth does."""
    def damage(replay, stamp, name, msg):
        scene_t = round(stamp - EPOCH, 3)
        if name == 'image' and scene_t in (2.0, 3.0):
            bad = pose_messages.odometry_message(stamp + 0.01, 'wheel_odom', 'base_link',
                                                 truth_base_pose(scene_bag.record, stamp + 0.01), np.eye(6),
                                                 np.zeros(6), np.eye(6))
            if scene_t == 2.0:
                bad.pose.pose.position.x = float('nan')
            else:
                bad.pose.pose.orientation.x = bad.pose.pose.orientation.y = 0.0
                bad.pose.pose.orientation.z = bad.pose.pose.orientation.w = 0.0
            replay.odom_pub.publish(bad)
        return msg

    odometry = []
    end_error, statuses = replay_end_error(scene_bag, TruthEstimator(scene_bag.record), edit=damage,
                                           published=odometry)
    status = statuses[-1]
    assert status['dropped: bad_odometry'] == '1' and int(status[TRAVEL_PRIORS]) >= 30
    last = stamp_s(odometry[-1].header)
    assert last - EPOCH > 5.0 and end_error < 0.05, (last - EPOCH, end_error)


RESTARTS = 'chain restarts (no pose for longer than the longest gap)'
"""pose_node's /diagnostics key."""


def test_node_pairs_across_frames_without_a_pose_and_restarts_after_the_longest_gap(scene_bag):
    """Invalid estimates are dropped: the next keyframe pairs across them; after 4 s without a pose, a restart."""
    bridged, statuses = replay_end_error(scene_bag, TruthEstimator(scene_bag.record,
                                                                   invalid_between_s=(EPOCH + 2.5, EPOCH + 3.5)))
    status = statuses[-1]
    assert int(status['dropped: invalid_estimate']) >= 8 and status[RESTARTS] == '0'
    assert bridged < 0.05   # exact poses across the gap: nothing of the motion is lost (measured 0.000 m)
    lost, statuses = replay_end_error(scene_bag, TruthEstimator(scene_bag.record,
                                                                invalid_between_s=(EPOCH + 0.8, EPOCH + 5.2)))
    assert int(statuses[-1][RESTARTS]) >= 1 and lost > bridged   # the motion of 4.4 s is unknown
    print(f'\ndropped pairs over DDS: end {bridged:.3f} m off across 1 s without a pose, {lost:.3f} m across 4.4 s')



@dataclass
class EpochRecording:
    """The scene on the bag's clock (stamps EPOCH + scene time), for `run_odometry` beside the node."""

    record: object

    def __getattr__(self, name):
        return getattr(self.record, name)

    @property
    def frame_times_s(self) -> np.ndarray:
        return np.asarray(self.record.frame_times_s) + EPOCH

    def audio_window(self, center_s: float, duration_s: float):
        return self.record.audio_window(center_s - EPOCH, duration_s)


def test_the_node_and_the_bag_tool_estimate_the_same_pairs(scene_bag):
    """One policy for frames without a pose (dropped, paired across, a restart after 4 s): pose_node over DDS and
    `run_odometry` (the bag tool, eval, the demo) ask the estimator for exactly the same pairs."""
    invalid = (EPOCH + 0.8, EPOCH + 5.2)
    online = TruthEstimator(scene_bag.record, invalid_between_s=invalid)
    _, statuses = replay_end_error(scene_bag, online, rate_hz=5.0)
    offline = TruthEstimator(scene_bag.record, invalid_between_s=invalid)
    recording = EpochRecording(scene_bag.record)
    track = run_odometry(recording, {'truth': offline}, lambda: ground_truth_scale(recording), rate_hz=5.0)['truth']
    pairs = [[(round(p.view_a.stamp_s - EPOCH, 3), round(p.view_b.stamp_s - EPOCH, 3)) for p in e.pairs]
             for e in (online, offline)]
    assert pairs[0] == pairs[1] and len(pairs[0]) >= 10
    assert (0.6, 4.6) in pairs[0] and (4.8, 5.4) in pairs[0]   # across the gap up to 4 s back, then a restart
    assert int(statuses[-1][RESTARTS]) == track.restarts == 1


def test_node_integrates_the_scene_into_odometry_tf_and_markers(scene_bag):
    """Ground-truth relative poses in, wheel-odometry scale: the node's odometry is the scene's trajectory."""
    estimator = TruthEstimator(scene_bag.record)
    with RosClient(unique_domain_id()) as client:
        ns = unique_namespace()
        node = in_process_node(client, ns, estimator, translation_scale='odometry', calibrate_array=True,
                               calibration_source_known=True,  # exercises the known-direction path too
                               planar_motion=True, smoothing_lag_s=0.0)  # exact chains (test_smoothing: the prior)
        outputs = Outputs(client, ns)
        replay = Replay(client, ns, scene_bag, scale_odometry=True)
        assert replay.wait_for_node()
        sent = replay.play(speed=2.0)
        client.settle(outputs.odometry, quiet_s=1.5)
        # sensor-data QoS is best effort: under CPU load a frame or two may never reach the node
        assert client.spin_until(lambda: int(outputs.status(f'{ns}/pose_node').get('images received', 0))
                                 >= len(sent) - 3, 10.0), (outputs.status(f'{ns}/pose_node'), len(sent))
        published_when_idle = len(odometry := outputs.odometry)
        client.spin_for(1.5)
        statuses = outputs.statuses(f'{ns}/pose_node')
        client.executor.remove_node(node)
        node.destroy_node()
    assert len(odometry) == published_when_idle  # both inputs stale: nothing more is published
    assert statuses[-1]['mode'] == 'no input: nothing published'

    stamps = np.array([stamp_s(m.header) for m in odometry])
    assert len(odometry) >= len(sent) - 6, (len(odometry), len(sent))  # all but the first 0.5 s of keyframes
    assert set(np.round(stamps, 6)) <= set(np.round(sent, 6))          # stamped with image stamps
    assert {(m.header.frame_id, m.child_frame_id) for m in odometry} == {('odom', 'base_link')}
    transforms = [t for m in outputs.tf for t in m.transforms if t.child_frame_id == 'base_link']
    assert sorted(stamp_s(t.header) for t in transforms) == sorted(stamps.tolist())
    # every pose relative to the first one equals the ground truth (anchor-independent comparison)
    P0, W0 = pose_of(odometry[0]), truth_base_pose(scene_bag.record, stamps[0])
    for msg, t in zip(odometry, stamps):
        expected = invert_transform(W0) @ truth_base_pose(scene_bag.record, t)
        got = invert_transform(P0) @ pose_of(msg)
        assert rotation_error_deg(got[:3, :3], expected[:3, :3]) < 1e-4
        np.testing.assert_allclose(got[:3, 3], expected[:3, 3], atol=1e-6)
    travelled = np.linalg.norm(np.diff([truth_base_pose(scene_bag.record, t)[:3, 3] for t in stamps], axis=0),
                               axis=1).sum()
    assert travelled > 0.5  # the rig moved: the comparison above is not trivial
    # covariance: finite, positive, and growing along the trajectory
    traces = [np.trace(np.reshape(m.pose.covariance, (6, 6))) for m in odometry]
    assert np.all(np.isfinite(traces)) and traces[-1] > 3 * traces[0]
    # the estimator got pairs one gap apart, with images and the audio window of each frame
    gaps = [p.view_b.stamp_s - p.view_a.stamp_s for p in estimator.pairs]
    assert np.median(gaps) == pytest.approx(1.0, abs=1e-6) and min(gaps) >= 0.5 - 1e-6
    assert all(p.view_b.image.shape == (192, 256, 3) and p.view_a.audio.shape == (4, 16000)
               for p in estimator.pairs)
    assert np.median([p.view_b.audio_coverage for p in estimator.pairs]) == pytest.approx(0.55, abs=0.03)
    assert all(np.allclose(p.sensors.T_cam_array, scene_bag.record.T_cam_array) for p in estimator.pairs)
    assert estimator.pairs[-1].sensors.K == pytest.approx(scene_bag.record.K)
    # planar_motion: base_link's z axis in the camera frame, from /tf_static
    assert all(np.allclose(p.sensors.planar_up, T_BASE_CAM[2, :3]) for p in estimator.pairs)
    # twist in the body frame, the relative pose in the earlier camera's frame, markers
    assert {m.header.frame_id for m in outputs.twist} == {'base_link'} and len(outputs.twist) == len(odometry)
    assert {m.header.frame_id for m in outputs.relative} == {'camera_optical'}
    # the trajectory line goes out about once a second of stamps (trajectory_period_s), drawn through the odometry
    trails = [(stamp_s(array.markers[0].header), m) for array in outputs.markers for m in array.markers
              if m.ns == 'trajectory']
    span_s = stamp_s(odometry[-1].header) - stamp_s(odometry[0].header)
    assert len(outputs.markers) == len(odometry) and 1 <= len(trails) <= span_s + 2
    positions = np.array([[m.pose.pose.position.x, m.pose.pose.position.y, m.pose.pose.position.z] for m in odometry])
    sent_s, last = trails[-1]
    drawn = np.array([[p.x, p.y, p.z] for p in last.points])
    assert np.abs(drawn[:, None] - positions[None]).sum(-1).min(1).max() < 1e-9  # every point a published pose
    assert len(drawn) >= 0.5 * sum(stamp_s(m.header) <= sent_s for m in odometry)
    # sound arrows point at the talker: odom → world through any published pose and its ground truth
    T_world_odom = truth_base_pose(scene_bag.record, stamps[-1]) @ invert_transform(pose_of(odometry[-1]))
    talker = np.asarray(scene_bag.record.sources[0]['position_m'])
    arrows = [m for array in outputs.markers for m in array.markers
              if m.ns == 'sound' and m.type == m.ARROW and m.action == m.ADD]
    assert len(arrows) >= len(odometry) // 2
    arrow_errors = []
    for arrow in arrows:
        start, end = (T_world_odom[:3, :3] @ [p.x, p.y, p.z] + T_world_odom[:3, 3] for p in arrow.points)
        seen, truth = (end - start)[:2], (talker - start)[:2]
        arrow_errors.append(np.degrees(np.arccos(seen @ truth / np.linalg.norm(seen) / np.linalg.norm(truth))))
    # the windows end audio_wait_s after each frame, so they describe the rig ~0.2 s earlier (it turns ≤ 45°/s)
    print(f'\nsound arrows: median error {np.median(arrow_errors):.1f}°, max {np.max(arrow_errors):.1f}°')
    assert np.median(arrow_errors) <= 6.0 and np.percentile(arrow_errors, 90) <= 15.0
    running = [s for s in statuses if s['mode'] == 'audio-visual']
    assert node.calibration is None  # reports come every 10 s of data: the 6 s scene is too short (see below)
    assert running and running[-1]['estimator'] == 'truth' and 'odometry' in running[-1]['scale']
    assert running[-1]['smoothing'] == 'off'   # smoothing_lag_s 0.0 above
    assert running[-1]['direction hold'] == "5 s in the rig's axes"   # planar_motion above: the robot's own axes
    assert running[-1]['estimates with a held direction'] == '0'  # the truth estimator always knows the direction
    status = statuses[-1]
    assert not any(key.startswith('dropped') for key in status), status  # a clean replay loses nothing
    print(f'\ntruth estimator replay: {len(odometry)} estimates, latency mean {status["latency mean ms"]} ms, '
          f'max {status["latency max ms"]} ms')


def test_without_audio_vision_only_and_a_corrupt_jpeg_is_skipped(scene_bag):
    """Compressed images, no audio: the node warns, says 'vision only' and keeps publishing (and planar motion
    with no base_frame takes a level camera's up axis)."""
    estimator = TruthEstimator(scene_bag.record)

    def corrupt_one(stamp, name, msg):
        if name == 'image' and abs(stamp - EPOCH - 3.0) < 1e-3:
            msg = CompressedImage(header=msg.header, format='jpeg', data=bytes(msg.data)[:100] + bytes(300))
        return msg

    with RosClient(unique_domain_id()) as client:
        ns = unique_namespace()
        node = in_process_node(client, ns, estimator, image_transport='compressed', translation_scale='fixed',
                               speed_mps=0.3, planar_motion=True, base_frame='')
        outputs = Outputs(client, ns)
        replay = Replay(client, ns, scene_bag, compressed=True)
        assert replay.wait_for_node(topics=('image',))
        sent = replay.play(speed=2.0, topics=('image', 'camera_info'), edit=corrupt_one)
        client.settle(outputs.odometry, quiet_s=1.5)
        statuses = outputs.statuses(f'{ns}/pose_node')
        client.executor.remove_node(node)
        node.destroy_node()
    assert len(outputs.odometry) >= len(sent) - 8
    assert all(p.view_a.audio is None and p.view_b.audio is None for p in estimator.pairs)
    # planar_motion without base_frame: a level camera's up axis
    assert all(np.array_equal(p.sensors.planar_up, [0.0, -1.0, 0.0]) for p in estimator.pairs)
    assert any(s['mode'] == 'vision only (no audio)' and s['level'] == 1 for s in statuses)  # WARN
    assert statuses[-1]['dropped: undecodable'] == '1'
    assert 3.0 not in np.round(np.array([stamp_s(m.header) for m in outputs.odometry]) - EPOCH, 6)
    # fixed scale: 0.3 m/s over each pair's gap
    speeds = np.array([np.linalg.norm([m.twist.twist.linear.x, m.twist.twist.linear.y, m.twist.twist.linear.z])
                       for m in outputs.odometry])
    assert np.median(speeds) == pytest.approx(0.3, rel=0.05)


def test_without_images_audio_only_frames_follow_the_audio_clock(scene_bag):
    estimator = TruthEstimator(scene_bag.record)
    with RosClient(unique_domain_id()) as client:
        ns = unique_namespace()
        node = in_process_node(client, ns, estimator)
        outputs = Outputs(client, ns)
        replay = Replay(client, ns, scene_bag)
        assert replay.wait_for_node(topics=('audio',))
        replay.play(speed=2.0, topics=('audio',))
        client.settle(outputs.odometry, quiet_s=1.5)
        statuses = outputs.statuses(f'{ns}/pose_node')
        client.executor.remove_node(node)
        node.destroy_node()
    assert len(outputs.odometry) >= 20
    assert all(p.view_a.image is None and p.view_b.image is None for p in estimator.pairs)
    assert min(p.view_b.audio_coverage for p in estimator.pairs) > 0.5
    assert any(s['mode'] == 'audio only (no images): yaw only' for s in statuses)
    # rotation-only odometry (scale none): no translation, its variance unknown, the rotation follows the rig
    last = outputs.odometry[-1]
    assert (last.pose.pose.position.x, last.pose.pose.position.y) == (0.0, 0.0)
    assert last.pose.covariance[0] >= 0.99 * UNKNOWN_VARIANCE
    # no image ever named the camera frame: base_link -> camera comes through the array frame and the mount
    assert {m.child_frame_id for m in outputs.odometry} == {'base_link'} and not outputs.relative


def test_bad_images_and_stamps_never_stop_the_node(scene_bag):
    """Unknown encoding, zero size, a new resolution, late and repeated stamps, a bag loop and NaN estimates."""
    loop_at = 4.0  # scene seconds: from here the first 2 s are played again with stamps 4 s back (a bag loop)
    estimator = TruthEstimator(scene_bag.record, nan_after_s=EPOCH + 5.45)

    def damage(stamp, name, msg):
        scene_t = round(stamp - EPOCH, 3)
        if name != 'image' or scene_t not in (1.0, 1.5, 2.0):
            return msg
        msg = copy.deepcopy(msg)  # the fixture's messages are shared
        if scene_t == 1.0:
            msg.encoding = '32FC1'
        elif scene_t == 1.5:
            msg.height, msg.width, msg.data = 0, 0, b''
        elif scene_t == 2.0:
            small = cv2.resize(images.image_to_rgb(msg), (128, 96))
            msg = images.rgb_to_image(small, stamp, msg.header.frame_id)
        return msg

    with RosClient(unique_domain_id()) as client:
        ns = unique_namespace()
        node = in_process_node(client, ns, estimator)
        outputs = Outputs(client, ns)
        replay = Replay(client, ns, scene_bag)
        assert replay.wait_for_node()
        sent = replay.play(speed=2.0, edit=damage)
        image_pub = replay.pubs['image']
        frames = [m for _, topic, m in scene_bag.events if topic == '/camera/image_raw']
        image_pub.publish(frames[-1])  # the newest stamp again
        image_pub.publish(frames[-4])  # 0.3 s back in time: a late frame
        client.spin_for(0.3)
        replay.play(speed=2.0, until_s=loop_at)  # the loop: stamps jump back by about 6 s
        client.settle(outputs.odometry, quiet_s=1.5)
        statuses = outputs.statuses(f'{ns}/pose_node')
        client.executor.remove_node(node)
        node.destroy_node()
    status = statuses[-1]
    assert (status['dropped: undecodable'], status['dropped: duplicate'], status['dropped: late']) == ('2', '1', '1')
    assert int(status['dropped: invalid_estimate']) >= 1
    stamps = np.array([stamp_s(m.header) for m in outputs.odometry]) - EPOCH
    for msg in outputs.odometry:
        assert np.all(np.isfinite(msg.pose.covariance)) and np.isfinite(msg.pose.pose.orientation.w)
    assert not np.any((stamps > 5.45) & (stamps < 6.0))  # NaN estimates were not published
    # after the loop the node publishes again, continuing from the last pose (odom continuous)
    first_run, second_run = stamps[:np.argmin(np.diff(stamps)) + 1], stamps[np.argmin(np.diff(stamps)) + 1:]
    assert len(second_run) >= 10 and second_run.max() < loop_at and first_run.max() > 5.0
    # the resolution change restarted the chain: pairs never mix image sizes
    assert all(p.view_a.image.shape == p.view_b.image.shape for p in estimator.pairs)
    assert len(sent) == len(scene_bag.image_stamps)


# ------------------------------------------------------------------------------------------ processes
def _entry_process(node: str, domain: int, ns: str, params: dict | None = None) -> subprocess.Popen:
    """The console-script entry point (`av_pose.ros.entry`) in a subprocess, as `ros2 run`/launch start it."""
    args = [sys.executable, '-c', f'import sys; from av_pose.ros.entry import {node}; sys.exit({node}())',
            '--ros-args', '-r', f'__ns:={ns}']
    for name, value in (params or {}).items():
        args += ['-p', f'{name}:={value}']
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED='1')
    return subprocess.Popen(args, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop_with_sigints(process: subprocess.Popen, count: int = 3) -> tuple[int, str]:
    for _ in range(count):
        process.send_signal(signal.SIGINT)
        time.sleep(0.005)
    try:
        code = process.wait(timeout=30)
    finally:
        process.kill()
    return code, process.stdout.read() if process.stdout else ''


@pytest.mark.parametrize(('node', 'when'), [('doa_node', 'running'), ('doa_node', 'starting'),
                                            ('pose_node', 'starting')])  # pose_node running: the geometric test
def test_any_number_of_sigints_stops_the_node_cleanly(node, when):
    if node == 'pose_node':
        pytest.importorskip('av_pose.pose.geometric')
    process = _entry_process(node, unique_domain_id(), unique_namespace())
    if when == 'running':
        first_line = process.stdout.readline()  # the start-up INFO line: the node is spinning
        assert 'INFO' in first_line, first_line
        time.sleep(0.3)
    else:
        time.sleep(1.0)  # still importing torch / building the estimator
    code, output = _stop_with_sigints(process)
    assert code == 0 and 'Traceback' not in output and 'KeyboardInterrupt' not in output, (code, output)


@pytest.mark.parametrize(('node', 'params', 'message'), [
    ('doa_node', {'method': 'beamformer'}, 'method must be one of'),
    ('pose_node', {'pair_gap_s': '9.0'}, 'pair_gap_s must be a number in'),
    ('pose_node', {'model': 'no_such_model'}, "unknown model 'no_such_model'"),
])
def test_bad_parameters_give_one_namespaced_fatal_line(node, params, message):
    ns = unique_namespace()
    process = _entry_process(node, unique_domain_id(), ns, params)
    try:
        code = process.wait(timeout=60)
    finally:
        process.kill()
    lines = [line for line in process.stdout.read().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert message in lines[0] and f'[{ns.strip("/")}.{node}]' in lines[0] and 'FATAL' in lines[0], lines


def replay_with_sim_time(scene_bag, model: str, topics=('image', 'camera_info', 'audio'), **parameters) -> dict:
    """The scene bag replayed into `pose_node` (a subprocess, use_sim_time with /clock) running `model`.

    Returns the published odometry and relative poses, the diagnostics, the node's exit code after three
    SIGINTs and its log, the image stamps sent, the rotation error of each relative pose against its pair's
    ground truth and the integrated rotation drift (degrees).
    """
    domain, ns = unique_domain_id(), unique_namespace()
    # every keyframe estimated however busy the machine is (a replay, not a live robot: nothing skipped as stale)
    params = {'use_sim_time': True, 'model': model, 'device': 'cpu', 'stale_timeout_s': 1.0, 'max_frame_age_s': 0.0,
              **parameters}
    with RosClient(domain) as client, NodeProcess('av_pose.ros.pose_node', domain, ns, params=params) as node:
        outputs = Outputs(client, ns)
        replay = Replay(client, ns, scene_bag, clock=True)
        assert replay.wait_for_node(), node.output()
        sent = replay.play(speed=1.0, topics=topics)
        client.settle(outputs.odometry, quiet_s=2.0, timeout_s=20.0)
        statuses = outputs.statuses(f'{ns}/pose_node')
        assert node.alive(), node.output()
        code, _ = _stop_with_sigints(node.process)  # three SIGINTs while running: a clean stop
        log = node.output()
    odometry, relative = outputs.odometry, outputs.relative
    stamps = np.array([stamp_s(m.header) for m in odometry])
    drift = []
    if len(odometry):  # the integrated orientation against the ground truth, relative to the first pose
        P0, W0 = pose_of(odometry[0]), truth_base_pose(scene_bag.record, stamps[0])
        drift = [rotation_error_deg((invert_transform(P0) @ pose_of(m))[:3, :3],
                                    (invert_transform(W0) @ truth_base_pose(scene_bag.record, t))[:3, :3])
                 for m, t in zip(odometry, stamps)]
    # each relative pose against the ground truth of its pair (partner one gap back, where that frame was a keyframe)
    keyframes = set(np.round(stamps, 6))
    errors = []
    for msg in relative:
        t_b = stamp_s(msg.header)
        if round(t_b - 1.0, 6) in keyframes:
            truth = relative_pose(scene_bag.record.pose_at(t_b - 1.0 - EPOCH), scene_bag.record.pose_at(t_b - EPOCH))
            errors.append(rotation_error_deg(pose_of(msg)[:3, :3], truth[:3, :3]))
    return {'odometry': odometry, 'relative': relative, 'statuses': statuses, 'code': code, 'log': log,
            'sent': sent, 'stamps': stamps, 'errors': np.array(errors), 'drift': np.array(drift)}


def test_geometric_estimator_on_the_replayed_scene_with_sim_time(scene_bag):
    """The real `geometric` estimator in `pose_node` against ground truth."""
    run = replay_with_sim_time(scene_bag, 'geometric')
    log, odometry, stamps, errors, drift = run['log'], run['odometry'], run['stamps'], run['errors'], run['drift']
    assert run['code'] == 0 and 'Traceback' not in log, log
    assert len(odometry) >= len(run['sent']) - 10, (len(odometry), log)
    assert set(np.round(stamps, 6)) <= set(np.round(run['sent'], 6))
    # diagnostics follow /clock (sim time), not the wall clock
    assert all(abs(s['stamp'] - EPOCH) < 10.0 for s in run['statuses']), [s['stamp'] for s in run['statuses']]
    status = [s for s in run['statuses'] if s['mode'] == 'audio-visual'][-1]
    print(f'\ngeometric on the replayed scene: {len(odometry)} estimates; relative rotation error median '
          f'{np.median(errors):.2f}°, max {np.max(errors):.2f}° ({len(errors)} pairs); integrated drift max '
          f'{np.max(drift):.2f}°; latency mean {status["latency mean ms"]} ms, max {status["latency max ms"]} ms')
    assert len(errors) >= 30
    assert np.median(errors) <= 2.0 and np.percentile(errors, 90) <= 5.0
    assert np.max(drift) <= 10.0


def test_raw_images_through_a_wide_lens_are_undistorted_with_camera_info(scene_bag, tmp_path):
    """The test's scene through a wide-angle lens (k1 −0.28, k2 0.09: corners 25 px in), its CameraInfo carrying D.

    The node undistorts the raw images onto K, so its vision-only relative rotations are as good as through the
    pinhole (`test_lens` shows what ignoring the lens costs each pair).
    """
    lens_bag = make_scene_bag(tmp_path, LensDistortion('plumb_bob', (-0.28, 0.09, 0.0, 0.0)))
    run = replay_with_sim_time(lens_bag, 'geometric-vision')
    through_lens = run['errors']
    assert run['statuses'][-1]['camera'] == 'plumb_bob lens: raw images undistorted onto K'
    pinhole = replay_with_sim_time(scene_bag, 'geometric-vision')['errors']
    print(f'\nvision-only relative rotation error, median / 90th percentile: wide lens {np.median(through_lens):.2f}° '
          f'/ {np.percentile(through_lens, 90):.2f}°, pinhole {np.median(pinhole):.2f}° / '
          f'{np.percentile(pinhole, 90):.2f}° ({len(through_lens)} / {len(pinhole)} pairs)')
    assert len(through_lens) >= 30 and len(pinhole) >= 30
    assert np.median(through_lens) <= np.median(pinhole) + 0.3
    assert np.percentile(through_lens, 90) <= np.percentile(pinhole, 90) + 0.5


def test_a_camera_without_camera_info_runs_on_its_nominal_field_of_view(scene_bag):
    """No camera_info at all (an uncalibrated webcam): `camera_hfov_deg` gives the geometric estimator its pinhole
    (ShoeboxAV's camera is the centred 70° one, so vision is as good as with camera_info); without it the node
    says so in /diagnostics and the images cannot be used (audio-only rotations)."""
    nominal = replay_with_sim_time(scene_bag, 'geometric', topics=('image', 'audio'), camera_hfov_deg=70.0)
    blind = replay_with_sim_time(scene_bag, 'geometric', topics=('image', 'audio'))
    print(f'\nno camera_info, camera_hfov_deg 70: relative rotation median {np.median(nominal["errors"]):.2f}° '
          f'({len(nominal["errors"])} pairs); without it {np.median(blind["errors"]):.2f}° ({len(blind["errors"])})')
    assert nominal['statuses'][-1]['camera'] == 'no camera_info yet: a centred pinhole of camera_hfov_deg 70°'
    assert blind['statuses'][-1]['camera'] == 'no camera_info yet'
    assert len(nominal['errors']) >= 30 and np.median(nominal['errors']) <= 2.0
    assert np.median(blind['errors']) > np.median(nominal['errors'])


def test_shipped_learned_model_on_the_replayed_scene(scene_bag):
    """The default model (the shipped audio-visual one) in `pose_node`: stamps, a clean stop, bounded errors."""
    from av_pose.pose.registry import DEFAULT_MODEL

    if DEFAULT_MODEL == 'geometric':
        pytest.skip('no shipped learned model in this build')
    run = replay_with_sim_time(scene_bag, DEFAULT_MODEL)
    assert run['code'] == 0 and 'Traceback' not in run['log'], run['log']
    assert len(run['odometry']) >= len(run['sent']) - 10, (len(run['odometry']), run['log'])
    assert set(np.round(run['stamps'], 6)) <= set(np.round(run['sent'], 6))
    errors = run['errors']
    print(f'\n{DEFAULT_MODEL} on the replayed scene: {len(run["odometry"])} estimates; relative rotation error '
          f'median {np.median(errors):.2f}°, 90th percentile {np.percentile(errors, 90):.2f}° ({len(errors)} pairs)')
    assert len(errors) >= 30 and np.all(np.isfinite(errors))
    assert np.median(errors) <= LEARNED_MEDIAN_BOUND_DEG


# ------------------------------------------------------------------------------------------ load
def stream_live(scene: SceneBag, duration_s: float, fps: float = 30.0, chunk_s: float = 0.01,
                model: str = 'geometric') -> dict:
    """`pose_node` (a subprocess) fed live for `duration_s`: fps images (the scene's frames cycled, each held
    for fps/10 frames) and `chunk_s` audio chunks, stamped with the wall clock as a camera driver would.

    Returns figures: estimates, rates, node-side and end-to-end latency (image publish → TF received; its
    maximum, when it came, and the maximum after the first 10 s), drops, memory of the node process after the first
    quarter and at the end.
    """
    domain, ns = unique_domain_id(), unique_namespace()
    frames = [m for _, topic, m in scene.events if topic == '/camera/image_raw']
    info = next(m for _, topic, m in scene.events if topic == '/camera/camera_info')
    audio_info = next(m for _, topic, m in scene.events if topic == '/audio_info')
    pcm = np.concatenate([np.frombuffer(bytes(m.audio.data), dtype=np.uint8).reshape(-1, 8)
                          for _, topic, m in scene.events if topic == '/audio'])  # 4 ch × S16LE per sample
    chunk = int(round(chunk_s * audio_info.sample_rate))
    audio_type = import_message_type('audio_common_msgs/msg/AudioDataStamped')
    params = {'model': model, 'device': 'cpu', 'stale_timeout_s': 1.0}
    with RosClient(domain) as client, NodeProcess('av_pose.ros.pose_node', domain, ns, params=params) as node:
        outputs = Outputs(client, ns)
        replay = Replay(client, ns, scene)
        received_at: dict[float, float] = {}
        client.node.create_subscription(TFMessage, '/tf', lambda m: [received_at.setdefault(
            round(stamp_s(t.header), 6), time.monotonic()) for t in m.transforms], 100)
        assert replay.wait_for_node(), node.output()
        published_at, memory = {}, {}
        start = time.monotonic()
        t0 = round(time.time(), 3)
        next_image, next_chunk, image_index, chunk_index = 0.0, 0.0, 0, 0
        while (now := time.monotonic() - start) < duration_s:
            if now >= next_image:
                msg = frames[(image_index // max(1, round(fps / 10))) % len(frames)]
                stamp = t0 + image_index / fps
                msg.header.stamp = seconds_to_time(stamp)
                info.header.stamp = msg.header.stamp
                replay.pubs['camera_info'].publish(info)
                replay.pubs['image'].publish(msg)
                published_at[round(stamp, 6)] = time.monotonic()
                image_index += 1
                next_image = image_index / fps
            if now >= next_chunk:
                rows = np.arange(chunk_index * chunk, (chunk_index + 1) * chunk) % len(pcm)
                message = audio_type()
                message.header.stamp = seconds_to_time(t0 + chunk_index * chunk_s)
                message.header.frame_id = 'mic_array'
                message.audio.data = pcm[rows].tobytes()
                replay.pubs['audio'].publish(message)
                chunk_index += 1
                next_chunk = chunk_index * chunk_s
            if now > duration_s / 4 and 'early' not in memory:
                memory['early'] = node.rss_kib()
            client.executor.spin_once(timeout_sec=max(0.0, min(next_image, next_chunk) - now))
        memory['end'] = node.rss_kib()
        client.spin_for(2.0)
        status = [s for s in outputs.statuses(f'{ns}/pose_node') if s['mode'] == 'audio-visual'][-1]
        assert node.alive(), node.output()
    stamps = sorted(s for s in received_at if s in published_at)
    latency = np.array([received_at[s] - published_at[s] for s in stamps]) * 1e3
    settled = np.array(stamps) - t0 >= 10.0  # past start-up (first estimates, warm caches)
    return {'seconds': duration_s, 'images': image_index, 'chunks': chunk_index, 'estimates': len(latency),
            'estimates_per_s': len(latency) / duration_s, 'latency_ms_median': float(np.median(latency)),
            'latency_ms_p90': float(np.percentile(latency, 90)), 'latency_ms_max': float(latency.max()),
            'latency_max_at_s': float(stamps[int(np.argmax(latency))] - t0),
            'latency_ms_max_after_10s': float(latency[settled].max()) if settled.any() else math.nan,
            'node_latency_ms_mean': float(status['latency mean ms']),
            'drops': {k: v for k, v in status.items() if k.startswith('dropped')},
            'rss_mib_early': memory['early'] / 1024, 'rss_mib_end': memory['end'] / 1024,
            'rss_growth': memory['end'] / memory['early'] - 1.0}


@pytest.mark.parametrize('which', ['geometric', 'shipped'])
def test_live_stream_keeps_up(scene_bag, which):
    """12 s of 30 fps images and 100 Hz audio chunks at 256×192, 10 estimates/s: the geometric estimator and the
    shipped learned model (the default)."""
    from av_pose.pose.registry import DEFAULT_MODEL

    model = 'geometric' if which == 'geometric' else DEFAULT_MODEL
    if which == 'shipped' and model == 'geometric':
        pytest.skip('no shipped learned model in this build')
    figures = stream_live(scene_bag, duration_s=12.0, model=model)
    print(f'\nlive 30 fps + 100 Hz audio, {model}: {figures}')
    assert figures['estimates_per_s'] >= 5.0  # target 10/s; this machine is shared by parallel test runs
    assert figures['latency_ms_median'] <= 500.0


@pytest.mark.slow
@pytest.mark.timeout(900)  # ten minutes of streaming, beyond the suite's 300 s per test
@pytest.mark.parametrize('which', ['geometric', 'shipped'])
def test_ten_minutes_of_live_input_without_memory_growth(scene_bag, which):
    from av_pose.pose.registry import DEFAULT_MODEL

    model = 'geometric' if which == 'geometric' else DEFAULT_MODEL
    if which == 'shipped' and model == 'geometric':
        pytest.skip('no shipped learned model in this build')
    figures = stream_live(scene_bag, duration_s=600.0, model=model)
    print(f'\nlive 10 min, {model}: {figures}')
    assert figures['rss_growth'] <= 0.05 and figures['estimates_per_s'] >= 5.0

