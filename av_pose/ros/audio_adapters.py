"""Adapters from the three ROS 2 audio message families to float32 sample arrays.

Each adapter turns one message into an `AudioChunk` (samples C×T float32 in [-1, 1], the ROS time of the
first sample in seconds, the sample rate in Hz and the header frame_id). The message classes are imported
only when an adapter is selected (`load_message_class`), so the families that are not installed cost
nothing. Supported families (interleaved PCM in all three):

- ros-drivers `audio_common_msgs/msg/AudioDataStamped` (`uint8[] data`); the format comes from the latched
  `audio_info` topic (`AudioInfo`) or, until one arrives, from fallback parameters.
- mgonzs13 `audio_common_msgs/msg/AudioStamped`: typed arrays chosen by a PortAudio format code.
- introlab `audio_utils_msgs/msg/AudioFrame`: format string, channel count and rate in every message.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from av_pose.audio.families import INTROLAB_FORMATS, PORTAUDIO_DTYPES, mgonzs13_field
from av_pose.audio.pcm import decode_pcm_counted, parse_sample_format, sanitize
from av_pose.audio.wav import pcm_to_float
from av_pose.errors import UserInputError


class AudioDecodeError(UserInputError):
    """A message that cannot be turned into samples (bad size, unknown format, missing format info)."""


@dataclass(frozen=True)
class PcmFormat:
    """Layout of interleaved PCM bytes: channel count, rate in Hz, sample format such as 'S16LE'."""

    channels: int
    sample_rate: int
    sample_format: str


@dataclass(frozen=True)
class AudioChunk:
    """Decoded audio: `samples` C×T float32 in [-1, 1], `stamp_s` = ROS time of the first sample (s).

    `non_finite` counts NaN/inf samples in the message; they were replaced by 0 in `samples`.
    """

    samples: np.ndarray
    stamp_s: float
    sample_rate: int
    frame_id: str
    non_finite: int = 0


def stamp_to_seconds(stamp: Any) -> float:
    """builtin_interfaces/Time (or anything with `sec`, `nanosec`) → float seconds."""
    return float(stamp.sec) + 1e-9 * float(stamp.nanosec)


def import_message_type(type_name: str) -> type:
    """Import a message class from its ROS type string, e.g. 'audio_common_msgs/msg/AudioDataStamped'."""
    parts = type_name.split('/')
    if len(parts) != 3 or parts[1] != 'msg' or not all(parts):
        raise UserInputError(f'message type {type_name!r} is not of the form package/msg/Name')
    package, _, name = parts
    try:
        module = importlib.import_module(f'{package}.msg')
    except ImportError as err:
        raise UserInputError(f'message package {package!r} is not installed or not sourced ({err})') from err
    if not hasattr(module, name):
        raise UserInputError(f'message type {type_name!r} not found: the installed {package} has no {name} '
                             '(two different packages are called audio_common_msgs; check which is built)')
    return getattr(module, name)


def _header_fields(msg: Any) -> tuple[float, str]:
    return stamp_to_seconds(msg.header.stamp), str(msg.header.frame_id)


def _check_positive(value: int, what: str) -> int:
    value = int(value)
    if value <= 0:
        raise AudioDecodeError(f'{what} must be positive, got {value}')
    return value


class AudioAdapter(ABC):
    """Turns messages of one audio type into `AudioChunk`s.

    Subclasses name their message type (`msg_type`) and, when the format travels on a separate latched
    topic, the info type and relative topic name (`info_type`, `info_topic`).
    """

    msg_type: ClassVar[str]
    info_type: ClassVar[str | None] = None
    info_topic: ClassVar[str | None] = None

    def __init__(self, fallback: PcmFormat | None = None) -> None:
        """`fallback`: format to assume until an info message arrives (ignored by in-band formats)."""
        self.fallback = fallback

    def load_message_class(self) -> type:
        """Import and return the audio message class (raises UserInputError when unavailable)."""
        return import_message_type(self.msg_type)

    def load_info_class(self) -> type | None:
        """Import and return the format-info message class, or None when the format is in-band."""
        return None if self.info_type is None else import_message_type(self.info_type)

    def on_info(self, msg: Any) -> str | None:
        """Take a format-info message; return a one-line description when the format changed."""
        return None

    @abstractmethod
    def decode(self, msg: Any) -> AudioChunk:
        """Decode one message; raise AudioDecodeError when it cannot be used."""


_PCM_CODINGS = ('', 'wave', 'wav', 'pcm', 'raw')


class AudioDataStampedAdapter(AudioAdapter):
    """ros-drivers `AudioDataStamped`: raw bytes, format from `audio_info` or fallback parameters."""

    msg_type = 'audio_common_msgs/msg/AudioDataStamped'
    info_type = 'audio_common_msgs/msg/AudioInfo'
    info_topic = 'audio_info'

    def __init__(self, fallback: PcmFormat | None = None) -> None:
        super().__init__(fallback)
        self._format = fallback
        self._coding = ''

    @property
    def pcm_format(self) -> PcmFormat | None:
        """The format used to decode data: the last AudioInfo, else the fallback, else None."""
        return self._format

    def on_info(self, msg: Any) -> str | None:
        """Adopt channels, sample_rate, sample_format and coding_format from an AudioInfo."""
        new = PcmFormat(int(msg.channels), int(msg.sample_rate), str(msg.sample_format))
        coding = str(msg.coding_format).lower()
        if new == self._format and coding == self._coding:
            return None
        self._format, self._coding = new, coding
        return (f'audio format {new.channels} ch, {new.sample_rate} Hz, {new.sample_format}, '
                f'coding {coding or "unspecified"}')

    def decode(self, msg: Any) -> AudioChunk:
        """Decode interleaved PCM bytes with the current format."""
        if self._coding not in _PCM_CODINGS:
            raise AudioDecodeError(f'coding_format {self._coding!r} is compressed; publish PCM '
                                   '(audio_capture format:=wave)')
        if self._format is None:
            raise AudioDecodeError('audio format unknown: no audio_info received and no channels/'
                                   'sample_rate/sample_format parameters set')
        channels = _check_positive(self._format.channels, 'channels')
        rate = _check_positive(self._format.sample_rate, 'sample_rate')
        stamp_s, frame_id = _header_fields(msg)
        samples, non_finite = decode_pcm_counted(bytes(msg.audio.data), self._format.sample_format, channels)
        return AudioChunk(samples, stamp_s, rate, frame_id, non_finite)


class AudioStampedAdapter(AudioAdapter):
    """mgonzs13 `AudioStamped`: interleaved typed samples in the array picked by `info.format`."""

    msg_type = 'audio_common_msgs/msg/AudioStamped'

    def decode(self, msg: Any) -> AudioChunk:
        """Decode `msg.audio.audio_data.<type>_data` according to `msg.audio.info`."""
        info = msg.audio.info
        code = int(info.format)
        if code not in PORTAUDIO_DTYPES:
            raise AudioDecodeError(f'unknown PortAudio format code {code} (supported: '
                                   f'{", ".join(str(c) for c in PORTAUDIO_DTYPES)})')
        dtype = PORTAUDIO_DTYPES[code]
        field = mgonzs13_field(dtype)
        channels = _check_positive(info.channels, 'channels')
        rate = _check_positive(info.rate, 'rate')
        values = np.asarray(getattr(msg.audio.audio_data, field), dtype=dtype)
        if values.size % channels:
            raise AudioDecodeError(f'{values.size} samples in {field} is not a multiple of '
                                   f'{channels} channels')
        scaled = pcm_to_float(values).reshape(-1, channels).T
        samples, non_finite = sanitize(np.ascontiguousarray(scaled, dtype=np.float32))
        stamp_s, frame_id = _header_fields(msg)
        return AudioChunk(samples, stamp_s, rate, frame_id, non_finite)


class AudioFrameAdapter(AudioAdapter):
    """introlab `AudioFrame`: format, channel_count, sampling_frequency and bytes in each message."""

    msg_type = 'audio_utils_msgs/msg/AudioFrame'

    def decode(self, msg: Any) -> AudioChunk:
        """Decode `msg.data`, checking its size against frame_sample_count × channel_count."""
        name = str(msg.format)
        if name not in INTROLAB_FORMATS:
            raise AudioDecodeError(f'unsupported AudioFrame format {name!r} '
                                   f'(supported: {", ".join(INTROLAB_FORMATS)})')
        channels = _check_positive(msg.channel_count, 'channel_count')
        rate = _check_positive(msg.sampling_frequency, 'sampling_frequency')
        data = bytes(msg.data)
        sample_format = INTROLAB_FORMATS[name]
        sample_bytes = parse_sample_format(sample_format).dtype.itemsize
        expected = int(msg.frame_sample_count) * channels * sample_bytes
        if len(data) != expected:
            raise AudioDecodeError(f'AudioFrame has {len(data)} bytes, expected {expected} for '
                                   f'{msg.frame_sample_count} frames × {channels} ch of {name}')
        stamp_s, frame_id = _header_fields(msg)
        samples, non_finite = decode_pcm_counted(data, sample_format, channels)
        return AudioChunk(samples, stamp_s, rate, frame_id, non_finite)


ADAPTERS: dict[str, type[AudioAdapter]] = {
    cls.msg_type: cls for cls in (AudioDataStampedAdapter, AudioStampedAdapter, AudioFrameAdapter)
}


def make_adapter(msg_type: str, fallback: PcmFormat | None = None) -> AudioAdapter:
    """Adapter for the ROS type string `msg_type`; `fallback` serves formats with a separate info topic."""
    if msg_type not in ADAPTERS:
        raise UserInputError(f'audio_msg_type {msg_type!r} is not supported; '
                             f'use one of {", ".join(ADAPTERS)}')
    return ADAPTERS[msg_type](fallback)
