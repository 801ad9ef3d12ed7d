"""ROS 2 node `doa_node`: direction of arrival from a microphone-array audio stream.

Subscribes (relative names) `audio` (type from parameter `audio_msg_type`) and, for ros-drivers audio,
the latched `audio_info`. Publishes, stamped with the audio time of the window centre:
`doa/spectrum` (sensor_msgs/LaserScan, 360 one-degree bins in [0, 1]), `doa/sources`
(geometry_msgs/PoseArray, unit vectors towards the sources), `doa/markers` (visualization_msgs/MarkerArray)
and `/diagnostics`.

Estimates are driven by audio time, not wall time: after each chunk, once the newest sample has advanced
by 1 / update_rate_hz since the last estimate, the newest window is analysed. Bag replay at any rate and
use_sim_time therefore give the same output. The work happens in the audio callback because every
chunk must enter the buffer (no frames may be skipped); an estimate costs a few ms per window.

Run: `doa_node --ros-args -p array:=respeaker4 -r audio:=/mic/audio` or
`python -m av_pose.ros.doa_node --ros-args ...`.
"""
from __future__ import annotations

import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import LaserScan
from visualization_msgs.msg import MarkerArray

from av_pose.audio.arrays import MicArray, load_array
from av_pose.audio.buffer import PushStatus
from av_pose.audio.doa import METHODS, make_estimator, resolve_device
from av_pose.audio.pcm import parse_sample_format
from av_pose.audio.streaming import StreamingDoa
from av_pose.errors import UserInputError
from av_pose.ros import conversions
from av_pose.ros.audio_adapters import ADAPTERS, AudioChunk, PcmFormat, make_adapter
from av_pose.ros.qos import audio_qos, latched_qos

NODE_NAME = 'doa_node'
THROTTLE_S = 5.0
MAX_WARNING_KINDS = 64  # beyond this, warnings are throttled per reason only
DEFAULT_SAMPLE_RATE = 16000  # used to validate the set-up when neither the array nor a parameter fixes a rate

# name -> (default, description). Types are checked by `config_from_parameters` (so 10 and 10.0 both work).
PARAMETERS: dict[str, tuple[Any, str]] = {
    'array': ('respeaker4', 'Microphone array: a preset name or the path of an array YAML file'),
    'method': ('normmusic', f'DOA method: {" | ".join(METHODS)} (intensity needs an foa array)'),
    'window_s': (1.0, 'Analysis window length, seconds of audio'),
    'update_rate_hz': (10.0, 'Estimates per second of audio time'),
    'max_sources': (1, 'Number of sources to report (fewer than the number of microphones)'),
    'freq_range_hz': ([500.0, 4000.0], 'Frequency band [low, high] used by the estimator, Hz'),
    'frame_id': ('', 'frame_id of the outputs; empty = the frame_id of the audio messages'),
    'device': ('auto', 'Torch device: auto (cuda when available) | cpu | cuda'),
    'audio_msg_type': ('audio_common_msgs/msg/AudioDataStamped',
                       f'Type of the audio topic: {" | ".join(ADAPTERS)}'),
    'channels': (0, 'Fallback channel count until audio_info arrives; 0 = the array channel count'),
    'sample_rate': (0, 'Fallback sample rate in Hz until audio_info arrives; 0 = the array rate'),
    'sample_format': ('S16LE', 'Fallback sample format until audio_info arrives (S16LE, S32LE, F32LE)'),
}


@dataclass(frozen=True)
class DoaNodeConfig:
    """Validated node settings (seconds, Hz; `fallback` is the PCM format assumed before audio_info)."""

    array: MicArray
    method: str
    window_s: float
    update_period_s: float
    max_sources: int
    freq_range_hz: tuple[float, float]
    frame_id: str
    device: str
    audio_msg_type: str
    fallback: PcmFormat | None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(values: dict[str, Any], name: str) -> float:
    value = values[name]
    if not _is_number(value) or value <= 0:
        raise UserInputError(f'parameter {name} must be a positive number, got {value!r}')
    return float(value)


def _band(values: dict[str, Any]) -> tuple[float, float]:
    band = values['freq_range_hz']
    if isinstance(band, (str, bytes)) or not hasattr(band, '__len__') or len(band) != 2 \
            or not all(_is_number(v) for v in band):
        raise UserInputError(f'parameter freq_range_hz must be [low, high] in Hz, got {band!r}')
    return float(band[0]), float(band[1])


def _integer(values: dict[str, Any], name: str, minimum: int) -> int:
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserInputError(f'parameter {name} must be an integer >= {minimum}, got {value!r}')
    return value


def _text(values: dict[str, Any], name: str) -> str:
    if not isinstance(values[name], str):
        raise UserInputError(f'parameter {name} must be a string, got {values[name]!r}')
    return values[name].strip()


def config_from_parameters(values: dict[str, Any]) -> DoaNodeConfig:
    """Check raw parameter values (as given by rclpy) and resolve them; raises UserInputError."""
    method, device = _text(values, 'method'), _text(values, 'device')
    if method not in METHODS:
        raise UserInputError(f'parameter method must be one of {", ".join(METHODS)}, got {method!r}')
    if device not in ('auto', 'cpu', 'cuda'):
        raise UserInputError(f'parameter device must be auto, cpu or cuda, got {device!r}')
    array = load_array(_text(values, 'array'))
    sample_format = _text(values, 'sample_format')
    parse_sample_format(sample_format)
    channels = _integer(values, 'channels', 0) or array.num_channels
    if channels != array.num_channels:
        raise UserInputError(f'parameter channels is {channels} but array {array.name} has {array.num_channels} '
                             'microphones (use 0 for the array count)')
    sample_rate = _integer(values, 'sample_rate', 0) or array.sample_rate
    if array.sample_rate and sample_rate != array.sample_rate:
        raise UserInputError(f'parameter sample_rate is {sample_rate} Hz but array {array.name} records at '
                             f'{array.sample_rate} Hz (use 0 for the array rate)')
    fallback = PcmFormat(channels, sample_rate, sample_format) if sample_rate else None
    return DoaNodeConfig(array=array, method=method, window_s=_positive(values, 'window_s'),
                         update_period_s=1.0 / _positive(values, 'update_rate_hz'),
                         max_sources=_integer(values, 'max_sources', 1), freq_range_hz=_band(values),
                         frame_id=_text(values, 'frame_id'), device=resolve_device(device).type,
                         audio_msg_type=_text(values, 'audio_msg_type'), fallback=fallback)


class EstimateScheduler:
    """Decides, by audio time, when the next estimate is due: on a grid of `period_s` seconds of audio.

    Due times advance by exactly `period_s`, so with chunks that do not divide the period the mean rate
    is still 1 / period_s. The grid restarts when audio time goes back or skips ahead.
    """

    def __init__(self, period_s: float) -> None:
        self.period_s = float(period_s)
        self.reset()

    def due(self, end_s: float) -> bool:
        """True when audio up to `end_s` (time after the newest sample) reaches the next due time."""
        return self._next_s is None or end_s < self._last_s or end_s >= self._next_s - 1e-6

    def mark(self, end_s: float) -> None:
        """Record that an estimate covered audio up to `end_s`."""
        on_grid = self._next_s is not None and self._last_s <= end_s < self._next_s + self.period_s
        self._next_s = (self._next_s if on_grid else end_s) + self.period_s
        self._last_s = float(end_s)

    def reset(self) -> None:
        """Forget the grid (after a time jump or a rebuilt estimator)."""
        self._next_s: float | None = None
        self._last_s = -math.inf


class DoaNode(Node):
    """Streams audio messages through `StreamingDoa` and publishes DOA spectra, sources and markers."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        values = {name: self.declare_parameter(name, default, ParameterDescriptor(
                      description=description, dynamic_typing=True)).value
                  for name, (default, description) in PARAMETERS.items()}
        self.config = cfg = config_from_parameters(values)
        self._adapter = make_adapter(cfg.audio_msg_type, cfg.fallback)
        audio_type, info_type = self._adapter.load_message_class(), self._adapter.load_info_class()
        self._doa = self._make_streaming(cfg.fallback.sample_rate if cfg.fallback else DEFAULT_SAMPLE_RATE)
        self._scheduler = EstimateScheduler(cfg.update_period_s)
        self._frame_id = cfg.frame_id
        self._received = self._published = self._reported_drops = 0
        self._dropped: Counter[str] = Counter()
        self._loggers: dict[str, Any] = {}

        self._scan_pub = self.create_publisher(LaserScan, 'doa/spectrum', 10)
        self._sources_pub = self.create_publisher(PoseArray, 'doa/sources', 10)
        self._markers_pub = self.create_publisher(MarkerArray, 'doa/markers', 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_subscription(audio_type, 'audio', self._on_audio, audio_qos())
        if info_type is not None:
            self.create_subscription(info_type, self._adapter.info_topic, self._on_info, latched_qos())
        self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(
            f'array {cfg.array.name} ({cfg.array.num_channels} ch), {cfg.method} on {cfg.device}, '
            f'window {cfg.window_s:g} s every {cfg.update_period_s:g} s of audio, band '
            f'{cfg.freq_range_hz[0]:g}-{cfg.freq_range_hz[1]:g} Hz; input {self.resolve_topic_name("audio")} '
            f'({cfg.audio_msg_type})')

    # ------------------------------------------------------------------------------------------ set-up
    def _make_streaming(self, sample_rate: float) -> StreamingDoa:
        cfg = self.config
        estimator = make_estimator(cfg.method, cfg.array, sample_rate, freq_range_hz=cfg.freq_range_hz,
                                   num_sources=cfg.max_sources, device=cfg.device)
        return StreamingDoa(estimator, window_s=cfg.window_s)

    def _warn(self, reason: str, text: str) -> None:
        """Warning throttled per kind of problem, so that one kind never hides another.

        rclpy throttles per logger object and call site, so each kind (the reason plus the text with its
        numbers masked) gets its own child logger, named after the reason.
        """
        key = f'{reason}:{re.sub(r"[0-9.]+", "#", text)}' if len(self._loggers) < MAX_WARNING_KINDS else reason
        if key not in self._loggers:
            self._loggers[key] = self.get_logger().get_child(reason)
        self._loggers[key].warning(text, throttle_duration_sec=THROTTLE_S)

    def _drop(self, reason: str, text: str) -> None:
        self._dropped[reason] += 1
        self._warn(reason, f'dropped audio chunk: {text} ({self._dropped[reason]} so far)')

    # ------------------------------------------------------------------------------------------ input
    def _on_info(self, msg: Any) -> None:
        change = self._adapter.on_info(msg)
        if change:
            self.get_logger().info(change)

    def _on_audio(self, msg: Any) -> None:
        self._received += 1
        try:
            chunk = self._adapter.decode(msg)
            if self._check_chunk(chunk):
                self._push(chunk)
        except UserInputError as err:
            self._drop('undecodable', str(err))
        except Exception as err:  # a bad message must never stop the node
            self._drop('error', f'{type(err).__name__}: {err}')

    def _check_chunk(self, chunk: AudioChunk) -> bool:
        """Channel count and sample rate against the array and estimator; rebuild on a rate change."""
        array, rate = self.config.array, chunk.sample_rate
        if chunk.samples.shape[0] != array.num_channels:
            self._drop('channels', f'{chunk.samples.shape[0]} channels but array {array.name} has '
                       f'{array.num_channels}')
            return False
        if rate == self._doa.estimator.sample_rate:
            return True
        if array.sample_rate is not None:
            self._drop('sample_rate', f'{rate} Hz but array {array.name} records at {array.sample_rate} Hz')
            return False
        try:
            rebuilt = self._make_streaming(rate)
        except UserInputError as err:  # e.g. the band lies above the new Nyquist frequency
            self._drop('sample_rate', f'cannot analyse {rate} Hz audio: {err}')
            return False
        self._doa.estimator.release()
        self._doa = rebuilt
        self._scheduler.reset()
        self.get_logger().info(f'stream sample rate is now {rate} Hz: DOA estimator rebuilt')
        return True

    def _push(self, chunk: AudioChunk) -> None:
        if chunk.non_finite:
            self._warn('non_finite', f'{chunk.non_finite} NaN/inf samples in the chunk at '
                       f'{chunk.stamp_s:.3f} s were set to 0')
        result = self._doa.push(chunk.samples, chunk.stamp_s)
        if result.status is PushStatus.RESET:
            self._scheduler.reset()
            self._warn('time_jump', f'audio time jump at {chunk.stamp_s:.3f} s: {result.message}')
        elif result.status in (PushStatus.OUT_OF_ORDER, PushStatus.DUPLICATE):
            self._drop('late', result.message)
            return
        elif result.status is PushStatus.GAP_FILLED:
            self._warn('gap', f'audio gap before {chunk.stamp_s:.3f} s: {result.message}')
        self._frame_id = self.config.frame_id or chunk.frame_id
        end_s = self._doa.buffer.end_s
        if end_s is not None and self._scheduler.due(end_s):
            try:
                self._estimate(end_s)
            except Exception as err:  # the chunk is buffered; only this estimate is lost
                self._scheduler.mark(end_s)
                self._warn('estimate', f'DOA estimate failed: {type(err).__name__}: {err}')

    # ------------------------------------------------------------------------------------------ output
    def _estimate(self, end_s: float) -> None:
        frame = self._doa.latest()
        if frame is None:
            return
        self._scheduler.mark(end_s)
        stamp_s, frame_id = frame.stamp_s, self._frame_id
        self._scan_pub.publish(conversions.spectrum_to_scan(frame.spectrum, stamp_s, frame_id,
                                                            self.config.update_period_s))
        self._sources_pub.publish(conversions.sources_to_pose_array(frame.azimuths_deg, stamp_s, frame_id))
        self._markers_pub.publish(conversions.doa_markers(
            frame.spectrum, frame.azimuths_deg, frame.confidence, stamp_s, frame_id,
            lifetime_s=max(0.5, 3.0 * self.config.update_period_s)))
        self._published += 1

    def destroy_node(self) -> None:
        """Release the estimator (and any GPU memory it holds) with the node."""
        streaming = getattr(self, '_doa', None)  # absent when the constructor failed
        if streaming is not None:
            streaming.estimator.release()
        super().destroy_node()

    def _publish_diagnostics(self) -> None:
        total = sum(self._dropped.values())
        self._diag_pub.publish(conversions.drop_diagnostics(
            self.get_clock().now().nanoseconds * 1e-9, f'{self.get_fully_qualified_name()}: audio DOA',
            self.config.array.name, self._received, self._published, self._dropped,
            total - self._reported_drops))
        self._reported_drops = total


def main(args: list[str] | None = None) -> int:
    """Entry point of the `doa_node` console script; returns the process exit code."""
    rclpy.init(args=args)
    try:
        node = DoaNode()
    except UserInputError as err:
        rclpy.logging.get_logger(NODE_NAME).fatal(f'invalid configuration: {err}')
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
