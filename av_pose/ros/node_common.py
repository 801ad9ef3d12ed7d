"""What the av_pose nodes share: parameter checks, throttled warnings, the audio input, start-up and shutdown.

- Parameters: `declare_parameters` (every parameter with a description, any type accepted so that 10 and
  10.0 both work) and small validators that raise `UserInputError` with one line.
- `Warnings`: a throttled warning per kind of problem, and counts of dropped inputs per reason.
- `AudioInput`: the `audio` (+ latched `audio_info`) subscription of any audio family, decoded, checked
  against the array and pushed into an `AudioRingBuffer`, exactly as both nodes need it.
- `EstimateScheduler`: a grid of due times on the data's own clock.
- `run_node`: fixed malloc thresholds (`av_pose.ros.heap`), init, construct, spin, and a clean stop on any
  number of SIGINT/SIGTERM; a bad configuration gives one FATAL line from the node's own (namespaced) logger
  and exit code 2.
"""
from __future__ import annotations

import contextlib
import math
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from av_pose.audio.arrays import MicArray, load_array
from av_pose.audio.buffer import AudioRingBuffer, PushResult, PushStatus
from av_pose.audio.pcm import parse_sample_format
from av_pose.errors import UserInputError
from av_pose.ros.audio_adapters import ADAPTERS, AudioAdapter, AudioChunk, PcmFormat, make_adapter
from av_pose.ros.entry import StopRequest, catch_stop_signals
from av_pose.ros.heap import fix_malloc_thresholds
from av_pose.ros.qos import audio_qos, latched_qos

THROTTLE_S = 5.0
MAX_WARNING_KINDS = 64  # beyond this, warnings are throttled per reason only


# ------------------------------------------------------------------------------------------ parameters
def declare_parameters(node: Node, table: dict[str, tuple[Any, str]]) -> dict[str, Any]:
    """Declare every `name: (default, description)` of `table`; returns the values given at start-up."""
    return {name: node.declare_parameter(name, default, ParameterDescriptor(
                description=description, dynamic_typing=True)).value
            for name, (default, description) in table.items()}


def is_number(value: Any) -> bool:
    """True for a finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def positive(values: dict[str, Any], name: str) -> float:
    """values[name] as a positive float."""
    value = values[name]
    if not is_number(value) or value <= 0:
        raise UserInputError(f'parameter {name} must be a positive number, got {value!r}')
    return float(value)


def number_in(values: dict[str, Any], name: str, low: float, high: float) -> float:
    """values[name] as a float in [low, high]."""
    value = values[name]
    if not is_number(value) or not low <= value <= high:
        raise UserInputError(f'parameter {name} must be a number in [{low:g}, {high:g}], got {value!r}')
    return float(value)


def integer(values: dict[str, Any], name: str, minimum: int) -> int:
    """values[name] as an int ≥ minimum."""
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserInputError(f'parameter {name} must be an integer >= {minimum}, got {value!r}')
    return value


def text(values: dict[str, Any], name: str) -> str:
    """values[name] as a stripped string."""
    if not isinstance(values[name], str):
        raise UserInputError(f'parameter {name} must be a string, got {values[name]!r}')
    return values[name].strip()


def choice(values: dict[str, Any], name: str, options: tuple[str, ...]) -> str:
    """values[name], which must be one of `options`."""
    value = text(values, name)
    if value not in options:
        raise UserInputError(f'parameter {name} must be one of {", ".join(options)}, got {value!r}')
    return value


def boolean(values: dict[str, Any], name: str) -> bool:
    """values[name] as a bool."""
    if not isinstance(values[name], bool):
        raise UserInputError(f'parameter {name} must be true or false, got {values[name]!r}')
    return values[name]


AUDIO_PARAMETERS: dict[str, tuple[Any, str]] = {
    'array': ('respeaker4', 'Microphone array: a preset name or the path of an array YAML file'),
    'audio_msg_type': ('audio_common_msgs/msg/AudioDataStamped',
                       f'Type of the audio topic: {" | ".join(ADAPTERS)}'),
    'channels': (0, 'Fallback channel count until audio_info arrives; 0 = the array channel count'),
    'sample_rate': (0, 'Fallback sample rate in Hz until audio_info arrives; 0 = the array rate'),
    'sample_format': ('S16LE', 'Fallback sample format until audio_info arrives (S16LE, S32LE, F32LE)'),
}
"""The audio input parameters every node with an `AudioInput` declares: name → (default, description)."""


def audio_config(values: dict[str, Any]) -> tuple[MicArray, str, PcmFormat | None]:
    """The array, the audio message type and the fallback PCM format from the AUDIO_PARAMETERS values."""
    array = load_array(text(values, 'array'))
    sample_format = text(values, 'sample_format')
    parse_sample_format(sample_format)
    channels = integer(values, 'channels', 0) or array.num_channels
    if channels != array.num_channels:
        raise UserInputError(f'parameter channels is {channels} but array {array.name} has {array.num_channels} '
                             'microphones (use 0 for the array count)')
    sample_rate = integer(values, 'sample_rate', 0) or array.sample_rate
    if array.sample_rate and sample_rate != array.sample_rate:
        raise UserInputError(f'parameter sample_rate is {sample_rate} Hz but array {array.name} records at '
                             f'{array.sample_rate} Hz (use 0 for the array rate)')
    msg_type = text(values, 'audio_msg_type')
    make_adapter(msg_type)  # checks the name
    return array, msg_type, PcmFormat(channels, sample_rate, sample_format) if sample_rate else None



# ------------------------------------------------------------------------------------------ warnings
class Warnings:
    """Throttled warnings per kind of problem, and counts of dropped inputs per reason.

    rclpy throttles per logger object and call site, so each kind (the reason plus the text with its numbers
    masked) gets its own child logger, named after the reason: one kind never hides another.
    """

    def __init__(self, node: Node) -> None:
        self._logger = node.get_logger()
        self._loggers: dict[str, Any] = {}
        self.dropped: Counter[str] = Counter()

    def warn(self, reason: str, message: str) -> None:
        """Log `message` at most every THROTTLE_S seconds per kind."""
        key = f'{reason}:{re.sub(r"[0-9.]+", "#", message)}' if len(self._loggers) < MAX_WARNING_KINDS else reason
        if key not in self._loggers:
            self._loggers[key] = self._logger.get_child(reason)
        self._loggers[key].warning(message, throttle_duration_sec=THROTTLE_S)

    def drop(self, what: str, reason: str, message: str, count: int = 1) -> None:
        """Count `count` dropped inputs (`what`: 'audio chunk', 'image', ...) and warn."""
        self.dropped[reason] += count
        self.warn(reason, f'dropped {what}: {message} ({self.dropped[reason]} so far)')


# ------------------------------------------------------------------------------------------ audio input
class AudioInput:
    """Subscribes `audio` (and the family's latched info topic), decodes, checks and buffers every chunk.

    Args:
        node: the node that owns the subscriptions.
        adapter: the audio family's adapter (`make_adapter`).
        array: the microphone array (fixes the channel count and, when it has one, the sample rate).
        warnings: where drops and problems are counted and logged.
        make_buffer: builds the buffer for a stream sample rate (Hz); called when the rate changes and may
            raise UserInputError (the chunk is then dropped).
        buffer: the buffer to start with (None: built on the first chunk).
        on_chunk: called after each accepted chunk with the chunk and the buffer's PushResult.
        rate_change_note: appended to the log line of a rate change.
        lock: held while the buffer is written or replaced (for nodes that read it from another thread).
    """

    def __init__(self, node: Node, adapter: AudioAdapter, array: MicArray, warnings: Warnings,
                 make_buffer: Callable[[int], AudioRingBuffer], buffer: AudioRingBuffer | None = None,
                 on_chunk: Callable[[AudioChunk, PushResult], None] | None = None, rate_change_note: str = '',
                 lock: Any = None) -> None:
        self._node, self._adapter, self.array, self._warnings = node, adapter, array, warnings
        self._make_buffer, self.buffer, self._on_chunk = make_buffer, buffer, on_chunk
        self._note, self._lock = rate_change_note, lock or contextlib.nullcontext()
        self.received = 0
        self.frame_id = ''
        self.last_arrival_s: float | None = None  # time.monotonic() of the last accepted chunk
        node.create_subscription(adapter.load_message_class(), 'audio', self._on_audio, audio_qos())
        info_type = adapter.load_info_class()
        if info_type is not None:
            node.create_subscription(info_type, adapter.info_topic, self._on_info, latched_qos())

    def _on_info(self, msg: Any) -> None:
        change = self._adapter.on_info(msg)
        if change:
            self._node.get_logger().info(change)

    def _drop(self, reason: str, message: str) -> None:
        self._warnings.drop('audio chunk', reason, message)

    def _on_audio(self, msg: Any) -> None:
        self.received += 1
        try:
            chunk = self._adapter.decode(msg)
            if self._check_chunk(chunk):
                self._push(chunk)
        except UserInputError as err:
            self._drop('undecodable', str(err))
        except Exception as err:  # a bad message must never stop the node
            self._drop('error', f'{type(err).__name__}: {err}')

    def _check_chunk(self, chunk: AudioChunk) -> bool:
        """Channel count and sample rate against the array and buffer; a new buffer on a rate change."""
        array, rate = self.array, chunk.sample_rate
        if chunk.samples.shape[0] != array.num_channels:
            self._drop('channels', f'{chunk.samples.shape[0]} channels but array {array.name} has '
                       f'{array.num_channels}')
            return False
        if self.buffer is not None and rate == self.buffer.sample_rate:
            return True
        if array.sample_rate is not None and rate != array.sample_rate:
            self._drop('sample_rate', f'{rate} Hz but array {array.name} records at {array.sample_rate} Hz')
            return False
        try:
            rebuilt = self._make_buffer(rate)
        except UserInputError as err:  # e.g. the band lies above the new Nyquist frequency
            self._drop('sample_rate', f'cannot analyse {rate} Hz audio: {err}')
            return False
        with self._lock:
            had_buffer, self.buffer = self.buffer is not None, rebuilt
        if had_buffer:
            self._node.get_logger().info(f'stream sample rate is now {rate} Hz{self._note}')
        return True

    def _push(self, chunk: AudioChunk) -> None:
        if chunk.non_finite:
            self._warnings.warn('non_finite', f'{chunk.non_finite} NaN/inf samples in the chunk at '
                                f'{chunk.stamp_s:.3f} s were set to 0')
        with self._lock:
            result = self.buffer.push(chunk.samples, chunk.stamp_s)
        if result.status is PushStatus.RESET:
            self._warnings.warn('time_jump', f'audio time jump at {chunk.stamp_s:.3f} s: {result.message}')
        elif result.status in (PushStatus.OUT_OF_ORDER, PushStatus.DUPLICATE):
            self._drop('late', result.message)
            return
        elif result.status is PushStatus.GAP_FILLED:
            self._warnings.warn('gap', f'audio gap before {chunk.stamp_s:.3f} s: {result.message}')
        self.frame_id = chunk.frame_id
        self.last_arrival_s = time.monotonic()
        if self._on_chunk is not None:
            self._on_chunk(chunk, result)


# ------------------------------------------------------------------------------------------ scheduling
class EstimateScheduler:
    """Decides, by data time, when the next estimate is due: on a grid of `period_s` seconds.

    Due times are the grid's origin plus whole periods (computed afresh, never summed: at ROS stamps of about 1.7e9 s
    each float64 sum rounds by up to 2.4e-7 s, and twenty of them moved a due time past a frame exactly on the grid,
    so pose_node skipped that keyframe); a frame up to `TOLERANCE_S` early counts as on time. So with inputs that do
    not divide the period the mean rate is still 1 / period_s. The grid restarts when time goes back or skips ahead.
    """

    TOLERANCE_S = 1e-4

    def __init__(self, period_s: float) -> None:
        self.period_s = float(period_s)
        self.reset()

    def due(self, end_s: float) -> bool:
        """True when data up to `end_s` reaches the next due time."""
        return self._origin_s is None or end_s < self._last_s or end_s >= self._next_s() - self.TOLERANCE_S

    def mark(self, end_s: float) -> None:
        """Record that an estimate covered data up to `end_s`."""
        if self._origin_s is not None and self._last_s <= end_s < self._next_s() + self.period_s:
            self._periods += 1
        else:
            self._origin_s, self._periods = float(end_s), 1
        self._last_s = float(end_s)

    def reset(self) -> None:
        """Forget the grid (after a time jump or a rebuilt estimator)."""
        self._origin_s: float | None = None
        self._periods = 0
        self._last_s = -math.inf

    def _next_s(self) -> float:
        return self._origin_s + self._periods * self.period_s


# ------------------------------------------------------------------------------------------ life cycle
class StartupError(UserInputError):
    """The node refused its configuration; the reason was already logged as one FATAL line."""


@contextlib.contextmanager
def fatal_on_user_error(node: Node) -> Iterator[None]:
    """Turn a UserInputError raised while a node sets up into one FATAL line from its own logger."""
    try:
        yield
    except UserInputError as err:
        node.get_logger().fatal(f'invalid configuration: {err}')
        raise StartupError(str(err)) from err


def run_node(make_node: Callable[[], Node], args: list[str] | None = None,
             stop: StopRequest | None = None) -> int:
    """Run a node until SIGINT/SIGTERM or ROS shutdown; returns the process exit code (2: bad configuration).

    rclpy's own signal handlers are off: a signal only sets `stop` (see `av_pose.ros.entry`, which catches
    signals before the heavy imports), which the spin loop checks every 0.1 s, so any number of signals (a
    launch file's SIGINT followed by the terminal's) stops the node cleanly, during start-up too. glibc's
    malloc thresholds are fixed first (`av_pose.ros.heap`; the console scripts already did, before the imports).
    """
    stop = catch_stop_signals(stop or StopRequest())
    fix_malloc_thresholds()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
        executor.remove_node(node)
        return 0
    except StartupError:
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        for sig in (signal.SIGINT, signal.SIGTERM):  # the interpreter's exit must not be cut short either
            signal.signal(sig, signal.SIG_IGN)
