"""Sample-format vocabularies of the three ROS audio message families, in av_pose.audio.pcm terms.

- ros-drivers `audio_common_msgs/AudioInfo.sample_format` uses the PCM names themselves (S16LE, ...).
- mgonzs13 `audio_common_msgs/AudioInfo.format` is a PortAudio code; the samples travel in the
  `AudioData` array field named after their dtype (`int16_data`, ...).
- introlab `audio_utils_msgs/AudioFrame.format` is a string.
"""
from __future__ import annotations

PORTAUDIO_DTYPES: dict[int, str] = {1: 'float32', 2: 'int32', 8: 'int16', 16: 'int8', 32: 'uint8'}
PORTAUDIO_CODES: dict[str, int] = {dtype: code for code, dtype in PORTAUDIO_DTYPES.items()}
INTROLAB_FORMATS: dict[str, str] = {'signed_16': 'S16LE', 'signed_32': 'S32LE', 'float': 'F32LE'}
INTROLAB_NAMES: dict[str, str] = {pcm: name for name, pcm in INTROLAB_FORMATS.items()}


def mgonzs13_field(dtype_name: str) -> str:
    """The mgonzs13 AudioData array field carrying samples of numpy dtype `dtype_name` (e.g. int16_data)."""
    return f'{dtype_name}_data'
