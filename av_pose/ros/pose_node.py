"""ROS 2 node `pose_node`: audio-visual relative camera pose, integrated into odometry, TF and markers.

Inputs (relative names): `image` (sensor_msgs/Image, or CompressedImage with `image_transport: compressed`),
`camera_info` (optional: the intrinsics the geometric estimator needs), `audio` (+ latched `audio_info`) in
any family `doa_node` takes, `scale_odometry` (nav_msgs/Odometry, only with `translation_scale: odometry`),
and `/tf_static` for the base → camera and camera → array extrinsics.

Every keyframe (`rate_hz` per second of image time) is paired with the keyframe `pair_gap_s` earlier and its
audio window (`audio_window_s`, centred on the frame; the part later than `audio_wait_s` after the frame is
not waited for) → `PoseEstimator` (batched when frames queue up; a frame ready for `max_frame_age_s` is skipped
when a newer one is ready too, so latency stays bounded on a slow CPU) → `OdometryIntegrator` → outputs, stamped
with the image stamp: TF `odom_frame` → `base_frame` (or → the camera frame when `base_frame` is empty),
`pose/odometry` (nav_msgs/Odometry), `pose/twist` (TwistWithCovarianceStamped, base axes), `pose/relative`
(PoseWithCovarianceStamped: the estimate T_a_b in the earlier camera's frame, unit translation direction),
`pose/markers` and `/diagnostics`. Callbacks only store messages; a worker thread does the work.

Degrades, never stops: no audio → vision only; no images → audio-only frames on the audio clock (yaw only);
both stale → nothing is published. Bad images are counted and skipped; time going back (bag loop) restarts
the odometry chain from the last pose with one warning.

Run: `pose_node --ros-args -r image:=/camera/image_raw -r audio:=/mic/audio` or
`python -m av_pose.ros.pose_node --ros-args ...`.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseWithCovarianceStamped, TwistWithCovarianceStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from av_pose.audio.buffer import AudioRingBuffer
from av_pose.audio.streaming import DoaFrame
from av_pose.errors import UserInputError
from av_pose.geometry import parent_axes_covariance
from av_pose.pose.base import UNKNOWN_VARIANCE, PoseEstimator, PosePair, Sensors, View
from av_pose.pose.calibration import shows_visual_turn
from av_pose.pose.odometry import OdometryIntegrator, OdometryStep, checked_estimate, hold_frame_for
from av_pose.pose.outputs import TrajectoryTrail, sound_directions
from av_pose.pose.scale import ReferenceScale, make_scale_policy
from av_pose.ros import images, pose_messages
from av_pose.ros.audio_adapters import make_adapter, stamp_to_seconds
from av_pose.ros.entry import StopRequest
from av_pose.ros.node_common import (
    AudioInput,
    EstimateScheduler,
    Warnings,
    declare_parameters,
    fatal_on_user_error,
    run_node,
)
from av_pose.ros.odometry_input import ScaleOdometry
from av_pose.ros.pose_config import PARAMETERS, PoseNodeConfig, config_from_parameters, mount_calibrator
from av_pose.ros.pose_inputs import (
    BackgroundCalibration,
    CameraLens,
    FrameQueue,
    KeyframeDoa,
    PendingFrame,
    cut_window,
)
from av_pose.ros.rig_frames import RigFrames
from av_pose.ros.tf_listener import make_transform_source

NODE_NAME = 'pose_node'
AUDIO_CAPACITY_S = 12.0  # > max gap (4 s) + window: partner windows are re-cut from the buffer
CALIBRATION_PERIOD_S = 10.0  # seconds of data time between mount calibration reports
__all__ = ['PARAMETERS', 'PoseNode', 'PoseNodeConfig', 'config_from_parameters', 'main']


@dataclass(frozen=True)
class KeyImage:
    """What a keyframe keeps for later pairs: its decoded image (None for audio-only), camera frame and DOA."""

    image: np.ndarray | None
    frame_id: str
    doa: DoaFrame | None = None


class PoseNode(Node):
    """Pairs keyframes, estimates their relative pose, integrates odometry and publishes it."""

    def __init__(self, estimator: PoseEstimator | None = None, **node_kwargs: Any) -> None:
        """`estimator`: use this one instead of building `model` (tests, embedding)."""
        super().__init__(NODE_NAME, **node_kwargs)
        self._lock = threading.Lock()
        with fatal_on_user_error(self):
            self.config = cfg = config_from_parameters(declare_parameters(self, PARAMETERS))
            scale = make_scale_policy(cfg.scale, cfg.speed_mps)
            if cfg.cpu_threads:
                import torch
                torch.set_num_threads(cfg.cpu_threads)
            self._integrator = OdometryIntegrator(scale, gap_s=cfg.gap_s, smoother=cfg.smoother,
                                                  direction_hold_s=cfg.direction_hold_s,
                                                  direction_hold_frame=hold_frame_for(cfg.planar_motion))
            from av_pose.pose.registry import make_pose_estimator, uses_image_features

            if estimator is None:
                estimator = make_pose_estimator(cfg.model, detector=cfg.detector, device=cfg.device)
            self._estimator = estimator
            self.estimator_label = cfg.model if estimator.name == 'pose' else estimator.name
            if uses_image_features(cfg.model) and cfg.detector != 'orb':
                self.estimator_label += f' ({cfg.detector} features)'
            self._warnings = Warnings(self)
            self._audio = AudioInput(self, make_adapter(cfg.audio_msg_type, cfg.fallback), cfg.array,
                                     self._warnings, self._make_buffer, lock=self._lock)
        self._frames = FrameQueue(EstimateScheduler(cfg.period_s), capacity=4 * cfg.max_batch)
        self._doa = KeyframeDoa(cfg.array)
        self._calibration, self.calibration, self._calibration_started = None, None, False
        calibrator = mount_calibrator(cfg)
        if calibrator is not None:
            self._calibration = BackgroundCalibration(calibrator, CALIBRATION_PERIOD_S, self._on_calibration)
        self._camera = CameraLens(cfg.images_rectified, self._warnings.warn, cfg.camera_hfov_deg)
        self._rig = RigFrames(cfg, make_transform_source(self), self._warnings)
        self._trail = TrajectoryTrail(cfg.trajectory_points, cfg.trajectory_min_step_m, cfg.trajectory_period_s)
        self._latencies_ms: deque[float] = deque(maxlen=200)
        self._image_size: tuple[int, int] | None = None
        self._last_camera_frame = ''
        self._last_image_arrival: float | None = None
        self._mode = ''
        self.published = self._reported_drops = self.direction_held = self.travel_priors = 0
        self._counts_at_report = (0, 0, 0, time.monotonic())
        image_type = CompressedImage if cfg.compressed else Image
        self.create_subscription(image_type, 'image', self._on_image, qos_profile_sensor_data)
        self.create_subscription(CameraInfo, 'camera_info', self._on_camera_info, qos_profile_sensor_data)
        self._scale_odometry = ScaleOdometry(scale, cfg.base_frame) if isinstance(scale, ReferenceScale) else None
        if self._scale_odometry is not None:
            self.create_subscription(Odometry, 'scale_odometry', self._on_scale_odometry, 50)
        self._tf_pub = self.create_publisher(TFMessage, '/tf', 100)
        self._odom_pub = self.create_publisher(Odometry, 'pose/odometry', 10)
        self._twist_pub = self.create_publisher(TwistWithCovarianceStamped, 'pose/twist', 10)
        self._relative_pub = self.create_publisher(PoseWithCovarianceStamped, 'pose/relative', 10)
        self._markers_pub = self.create_publisher(MarkerArray, 'pose/markers', 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(1.0, self._publish_diagnostics)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._worker = threading.Thread(target=self._work, name='pose_worker', daemon=True)
        self._worker.start()
        self.get_logger().info(
            f'estimator {self.estimator_label}, pairs '
            f'{cfg.gap_s:g} s apart at {1 / cfg.period_s:g} Hz, scale {scale.describe()}, smoothing '
            f'{cfg.smoother.describe() if cfg.smoother else "off"}, direction hold '
            f'{self._integrator.describe_direction_hold()}; inputs '
            f'{self.resolve_topic_name("image")} ({image_type.__name__}), {self.resolve_topic_name("audio")} '
            f'({cfg.audio_msg_type}, array {cfg.array.name}); TF {cfg.odom_frame} -> '
            f'{cfg.base_frame or "<camera frame>"}')

    # ------------------------------------------------------------------------------------------ inputs
    def _make_buffer(self, sample_rate: int) -> AudioRingBuffer:
        return AudioRingBuffer(self.config.array.num_channels, sample_rate, capacity_s=AUDIO_CAPACITY_S)

    def _on_image(self, msg: Any) -> None:
        self._last_image_arrival = arrival = time.monotonic()
        with self._lock:
            problem = self._frames.offer(stamp_to_seconds(msg.header.stamp), msg, str(msg.header.frame_id), arrival)
        if problem is not None:
            reason, message = problem
            if reason == 'time_jump':
                self._warnings.warn('time_jump', message)
            else:
                self._warnings.drop('image', reason, message)
        self._wake.set()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera.info = msg

    def _on_scale_odometry(self, msg: Odometry) -> None:
        with self._lock:
            stored = self._scale_odometry.add(msg)
        if not stored:
            self._warnings.drop('scale_odometry message', 'bad_odometry', 'non-finite position, or a stamp not after '
                                'the last one')

    def _fresh(self, arrival_s: float | None, now: float) -> bool:
        return arrival_s is not None and now - arrival_s < self.config.stale_s

    # ------------------------------------------------------------------------------------------ worker
    def _work(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.05)
            self._wake.clear()
            try:
                while not self._stop.is_set() and self._step():
                    pass
            except Exception as err:  # the worker must survive anything one batch does
                self._warnings.warn('worker', f'pose worker error: {type(err).__name__}: {err}')

    def _step(self) -> bool:
        """Estimate one batch of ready frames; False when nothing was ready."""
        cfg, now = self.config, time.monotonic()
        audio_fresh = self._fresh(self._audio.last_arrival_s, now)
        with self._lock:
            if self._frames.take_reset():
                self._integrator.reset()
                self._trail.clear()
            buffer = self._audio.buffer
            audio_end = buffer.end_s if (buffer is not None and audio_fresh) else None
            if not self._fresh(self._last_image_arrival, now) and audio_end is not None:
                self._frames.offer_audio_only(audio_end - cfg.wait_s, now)
            behind = self._frames.behind
            frames = self._frames.ready(audio_end, cfg.wait_s, cfg.max_batch, self._integrator.min_gap_s, now,
                                        cfg.max_frame_age_s)
            behind = self._frames.behind - behind
        if behind:
            self._warnings.drop('keyframe', 'behind', f'ready for more than {cfg.max_frame_age_s:g} s while a newer '
                                f'one was: the estimator is slower than rate_hz {1.0 / cfg.period_s:g} on this machine '
                                '(lower rate_hz, or use a GPU); skipped so that the latency stays bounded', behind)
        if not frames:
            return False
        keys = []
        for frame in frames:
            key = self._decode(frame)
            if key is not None:
                view = self._view(frame.stamp_s, key.image)
                keys.append((frame, replace(key, doa=self._doa(view, self._sample_rate())), view))
        stamps, payloads = [frame.stamp_s for frame, _, _ in keys], [key for _, key, _ in keys]
        restarts = self._integrator.restarts
        plan = self._integrator.plan(stamps, payloads)
        if plan.pairs:
            with self._lock:  # the reference odometry's travel, in the camera's axes (ReferenceScale.travel)
                if self._scale_odometry is not None:
                    self._scale_odometry.place_camera(self._rig.camera_in, self._last_camera_frame, self._warnings)
                priors = [self._integrator.translation_prior(partner, stamps[position])
                          for position, partner in plan.pairs]
            pairs = [PosePair(self._view(partner.stamp_s, partner.payload.image), keys[position][2],
                              self._sensors(keys[position][1].frame_id or partner.payload.frame_id), prior)
                     for (position, partner), prior in zip(plan.pairs, priors)]
            self.travel_priors += sum(prior is not None for prior in priors)
            try:
                estimates = self._estimator.estimate_batch(pairs)
            except Exception as err:
                self._warnings.warn('estimate', f'pose estimate failed: {type(err).__name__}: {err}')
                return True
            for (position, partner), estimate in zip(plan.pairs, estimates):
                frame, key, _ = keys[position]
                estimate = checked_estimate(estimate)
                if not estimate.valid:   # dropped: the next frame pairs across it
                    self._warnings.drop('frame', 'invalid_estimate', f'no pose for the frame at {frame.stamp_s:.3f} '
                                        f's: {estimate.info.get("reason", "invalid estimate")}')
                with self._lock:  # the scale policy is fed by a callback
                    step = self._integrator.settle(partner, frame.stamp_s, estimate, payload=key)
                if isinstance(step, OdometryStep):
                    self.direction_held += step.direction_held
                    self._publish(step, estimate, frame, key, key.frame_id or partner.payload.frame_id)
                    self._calibrate(estimate, partner.payload, key)
        self._integrator.finish(plan, stamps, payloads)
        if self._integrator.restarts > restarts:
            self._warnings.warn('chain_restart', f'no pose for longer than {self._integrator.max_gap_s:g} s: odometry '
                                f'restarts from the last pose, its covariance grown by {UNKNOWN_VARIANCE:g} '
                                f'({self._integrator.restarts} restarts so far)')
        return True

    def _decode(self, frame: PendingFrame) -> KeyImage | None:
        """The frame's image (None for audio-only frames); counts and skips bad ones; resets on a new size."""
        if frame.msg is None:
            return KeyImage(None, self.config.camera_frame or self._last_camera_frame)
        try:
            rgb = (images.compressed_to_rgb if self.config.compressed else images.image_to_rgb)(frame.msg)
        except UserInputError as err:
            self._warnings.drop('image', 'undecodable', str(err))
            return None
        rgb = self._camera.undistort(rgb)
        size = (rgb.shape[1], rgb.shape[0])
        if self._image_size is not None and size != self._image_size:
            self._warnings.warn('resolution', f'image size changed from {self._image_size[0]}×'
                                f'{self._image_size[1]} to {size[0]}×{size[1]}: odometry chain restarted')
            self._integrator.reset()
            self._trail.clear()
        self._image_size = size
        self._last_camera_frame = self.config.camera_frame or frame.frame_id
        return KeyImage(rgb, self._last_camera_frame)

    def _view(self, stamp_s: float, image: np.ndarray | None) -> View:
        """A view with its audio window cut from the buffer (None when there is no audio there)."""
        with self._lock:
            buffer = self._audio.buffer
            window = None if buffer is None else cut_window(buffer, stamp_s, self.config.window_s,
                                                            stamp_s + self.config.wait_s)
        if window is None:
            return View(stamp_s=stamp_s, image=image)
        return View(stamp_s=stamp_s, image=image, audio=window.samples, audio_coverage=window.coverage)

    def _sample_rate(self) -> int | None:
        buffer = self._audio.buffer
        return None if buffer is None else int(buffer.sample_rate)

    def _calibrate(self, estimate: Any, key_a: KeyImage, key_b: KeyImage) -> None:
        """Queue a visual pair with both DOAs for the mount calibrator."""
        if self._calibration is not None and key_a.doa is not None and key_b.doa is not None \
                and shows_visual_turn(estimate):
            if self.config.calibration_source_deg is not None and not self._calibration_started:
                self.get_logger().info(f'array mount: the source direction '
                                       f'{self.config.calibration_source_deg[0]:+.1f}° refers to the keyframe at '
                                       f'{key_a.doa.stamp_s:.3f} s, the first with a visual pose and DOA')
            self._calibration_started = True
            self._calibration.add_pair(estimate.T_a_b[:3, :3], estimate.T_a_b[:3, 3] if estimate.translation_known
                                       else None, key_a.doa, key_b.doa)

    def _on_calibration(self, result: Any) -> None:
        if self.calibration is None or self.calibration.message != result.message:
            self.get_logger().info(f'array mount: {result.message}')
        self.calibration = result

    def _sensors(self, camera_frame: str) -> Sensors:
        buffer = self._audio.buffer
        return Sensors(K=self._intrinsics(), array=self.config.array,
                       sample_rate=None if buffer is None else int(buffer.sample_rate),
                       T_cam_array=self._rig.mount(camera_frame, self._array_frame()),
                       planar_up=self._rig.planar_up(camera_frame))

    def _array_frame(self) -> str:
        return self.config.array_frame or self._audio.frame_id

    def _intrinsics(self) -> np.ndarray | None:
        """K scaled to the images' size, or None before CameraInfo and an image."""
        return self._camera.intrinsics(self._image_size)

    # ------------------------------------------------------------------------------------------ outputs
    def _publish(self, step: OdometryStep, estimate: Any, frame: PendingFrame, key: KeyImage,
                 camera_frame: str) -> None:
        cfg = self.config
        body = self._rig.body(camera_frame, self._array_frame())
        if body is None:
            self._warnings.drop('estimate', 'no_extrinsic', f'no transform {cfg.base_frame or "odom child"} -> '
                                f'{camera_frame or "<no camera frame>"} on /tf_static yet')
            return
        child, T_base_cam = body
        T, covariance = step.body_pose(T_base_cam)
        twist, twist_covariance = step.body_twist(T_base_cam)
        if not all(np.all(np.isfinite(x)) for x in (T, covariance, twist, twist_covariance)):
            self._warnings.warn('non_finite', f'non-finite odometry at {step.stamp_s:.3f} s not published')
            return
        stamp = step.stamp_s
        if cfg.publish_tf:
            self._tf_pub.publish(TFMessage(transforms=[pose_messages.transform_message(stamp, cfg.odom_frame,
                                                                                        child, T)]))
        self._odom_pub.publish(pose_messages.odometry_message(
            stamp, cfg.odom_frame, child, T, parent_axes_covariance(T, covariance), twist, twist_covariance))
        self._twist_pub.publish(pose_messages.twist_message(stamp, child, twist, twist_covariance))
        if camera_frame:
            self._relative_pub.publish(pose_messages.pose_with_covariance(stamp, camera_frame, estimate.T_a_b,
                                                                          estimate.covariance))
        trajectory = self._trail.add(stamp, T[:3, 3])
        T_odom_cam = T @ T_base_cam
        T_cam_array = self._rig.mount(camera_frame, self._array_frame())
        self._markers_pub.publish(pose_messages.pose_markers(
            stamp, cfg.odom_frame, trajectory, T_odom_cam, self._intrinsics(), self._image_size,
            [] if key.doa is None else sound_directions(key.doa.azimuths_deg, key.doa.confidence,
                                                        T_odom_cam @ T_cam_array),
            lifetime_s=max(0.5, 3.0 * cfg.period_s)))
        self.published += 1
        self._latencies_ms.append(1e3 * (time.monotonic() - frame.arrival_s))

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        images_fresh = self._fresh(self._last_image_arrival, now)
        audio_fresh = self._fresh(self._audio.last_arrival_s, now)
        mode, level = {(True, True): ('audio-visual', 'ok'), (True, False): ('vision only (no audio)', 'warn'),
                       (False, True): ('audio only (no images): yaw only', 'warn'),
                       (False, False): ('no input: nothing published', 'warn')}[(images_fresh, audio_fresh)]
        if mode != self._mode and self._mode:
            self.get_logger().warning(f'input changed: {mode}') if level == 'warn' else \
                self.get_logger().info(f'input changed: {mode}')
        self._mode = mode
        received, chunks, published, then = self._counts_at_report
        elapsed = max(now - then, 1e-6)
        images_received = self._frames.received
        dropped = dict(self._warnings.dropped)
        new_drops = sum(dropped.values()) - self._reported_drops
        self._reported_drops += new_drops
        latencies = np.array(self._latencies_ms) if self._latencies_ms else np.array([math.nan])
        smoother = self._integrator.smoother
        values = {'mode': mode, 'estimator': self.estimator_label, 'camera': self._camera.describe(),
                  'scale': self._integrator.scale.describe(),
                  'smoothing': smoother.describe() if smoother else 'off',
                  'direction hold': self._integrator.describe_direction_hold(),
                  'estimates with a held direction': self.direction_held,
                  'pairs with a travel prior (parallax of the audio yaw)': self.travel_priors,
                  'chain restarts (no pose for longer than the longest gap)': self._integrator.restarts,
                  'images received': images_received, 'image rate hz': (images_received - received) / elapsed,
                  'audio chunks received': self._audio.received,
                  'audio rate hz': (self._audio.received - chunks) / elapsed,
                  'estimates published': self.published, 'estimate rate hz': (self.published - published) / elapsed,
                  'latency mean ms': float(np.mean(latencies)), 'latency max ms': float(np.max(latencies)),
                  'images skipped (rate)': self._frames.skipped,
                  **({'array mount': self.calibration.message} if self.calibration is not None else {}),
                  **{f'dropped: {reason}': count for reason, count in sorted(dropped.items())}}
        self._counts_at_report = (images_received, self._audio.received, self.published, now)
        message = mode if not new_drops else f'{mode}; {new_drops} inputs dropped recently'
        self._diag_pub.publish(pose_messages.status_message(
            self.get_clock().now().nanoseconds * 1e-9, f'{self.get_fully_qualified_name()}: audio-visual pose',
            'warn' if new_drops else level, message, self.estimator_label, values))

    def destroy_node(self) -> None:
        """Stop the worker and release the estimator with the node."""
        stop = getattr(self, '_stop', None)
        if stop is not None:
            stop.set()
            self._wake.set()
            self._worker.join(timeout=10.0)
        estimator = getattr(self, '_estimator', None)
        if estimator is not None:
            estimator.release()
        if getattr(self, '_doa', None) is not None:
            self._doa.release()
        if getattr(self, '_calibration', None) is not None:
            self._calibration.stop()
        super().destroy_node()


def main(args: list[str] | None = None, stop: StopRequest | None = None) -> int:
    """Run the node (console script `pose_node`, via `av_pose.ros.entry`); returns the process exit code."""
    return run_node(PoseNode, args, stop)


if __name__ == '__main__':
    sys.exit(main())
