"""Write a scene folder (`av_pose.scene.format`) as a rosbag2 in MCAP, for replay with `ros2 bag play --clock`.

Topics (frame ids configurable; defaults world, camera_optical, mic_array):

- `/camera/image_raw` sensor_msgs/msg/Image (rgb8) and `/camera/camera_info` sensor_msgs/msg/CameraInfo
  (the scene's lens and its raw frames; plumb_bob with D = 0 for a pinhole; P = [K | 0]), one each per frame,
  stamped with the frame time.
- `/audio`: consecutive chunks of `chunk_ms` in one of three message families, stamped with the time of
  the chunk's first sample (never the write time): ros-drivers `audio_common_msgs/msg/AudioDataStamped`
  (interleaved PCM bytes; plus a latched `/audio_info` audio_common_msgs/msg/AudioInfo), mgonzs13
  `audio_common_msgs/msg/AudioStamped` (typed interleaved arrays + AudioInfo with PortAudio format
  codes) or introlab `audio_utils_msgs/msg/AudioFrame` (interleaved PCM bytes).
- `/tf` tf2_msgs/msg/TFMessage: world → camera_optical ground truth (T_world_cam) per frame.
- `/tf_static` (latched): camera_optical → mic_array (T_cam_array), once.

With `base_frame` set (`--base-frame base_link`), the frames are laid out as on a robot: `/tf` world → base (the
rig's body: x forward, y left, z up, at the camera's centre; with `world_frame` 'odom' what wheel odometry
publishes) per frame, and `/tf_static` base → camera_optical and base → mic_array.

Stamps are `start_epoch_s` + scene time. The default start, 1.7e9 s (2023-11-14 UTC), keeps every stamp
non-zero: tf2 treats a zero stamp as "latest", and ROS 2 tools read zero as "unset".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from av_pose.audio.families import INTROLAB_NAMES, PORTAUDIO_CODES, mgonzs13_field
from av_pose.audio.pcm import encode_pcm, parse_sample_format
from av_pose.bag.writer import MessageBuilder
from av_pose.errors import UserInputError
from av_pose.geometry import R_CAM_ARRAY_DEFAULT, invert_transform, make_transform
from av_pose.scene.format import SceneRecord, read_scene

DEFAULT_START_EPOCH_S = 1.7e9
AUDIO_DATA_STAMPED = 'audio_common_msgs/msg/AudioDataStamped'
AUDIO_STAMPED = 'audio_common_msgs/msg/AudioStamped'
AUDIO_FRAME = 'audio_utils_msgs/msg/AudioFrame'
AUDIO_MSG_TYPES = (AUDIO_DATA_STAMPED, AUDIO_STAMPED, AUDIO_FRAME)

# Message definitions, by family. ros-drivers and introlab: the texts of tools/interfaces/*/msg;
# mgonzs13 (source-only package, also named audio_common_msgs): from its repository.
MSG_DEFINITIONS: dict[str, dict[str, str]] = {
    AUDIO_DATA_STAMPED: {
        'audio_common_msgs/msg/AudioData': 'uint8[] data\n',
        'audio_common_msgs/msg/AudioDataStamped': 'std_msgs/Header header\nAudioData audio\n',
        'audio_common_msgs/msg/AudioInfo': (
            '# Number of channels\nuint8 channels\n# Sampling rate [Hz]\nuint32 sample_rate\n'
            '# Audio format (e.g. S16LE)\nstring sample_format\n'
            '# Amount of audio data per second [bits/s]\nuint32 bitrate\n'
            '# Audio coding format (e.g. WAVE, MP3)\nstring coding_format\n'),
    },
    AUDIO_STAMPED: {
        'audio_common_msgs/msg/AudioData': ('float32[] float32_data\nint32[] int32_data\nint16[] int16_data\n'
                                            'int8[] int8_data\nuint8[] uint8_data\n'),
        'audio_common_msgs/msg/AudioInfo': 'int32 format\nint32 channels\nint32 rate\nint32 chunk\n',
        'audio_common_msgs/msg/Audio': 'AudioData audio_data\nAudioInfo info\n',
        'audio_common_msgs/msg/AudioStamped': 'std_msgs/Header header\nAudio audio\n',
    },
    AUDIO_FRAME: {
        'audio_utils_msgs/msg/AudioFrame': ('std_msgs/Header header\nstring format\nuint32 channel_count\n'
                                            'uint32 sampling_frequency\nuint32 frame_sample_count\nuint8[] data\n'),
    },
}


@dataclass
class BagOptions:
    """How to write the bag: audio family, chunking, PCM format, stamps and frame ids."""

    audio_msg_type: str = AUDIO_DATA_STAMPED
    chunk_ms: float = 32.0
    sample_format: str = 'S16LE'
    start_epoch_s: float = DEFAULT_START_EPOCH_S
    world_frame: str = 'world'
    camera_frame: str = 'camera_optical'
    array_frame: str = 'mic_array'
    base_frame: str = ''
    """Non-empty: a robot's frame layout (module docstring)."""
    progress: bool = True


@dataclass
class BagSummary:
    """What was written: message count per topic and the stamp range (ns)."""

    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    first_stamp_ns: int = 0
    last_stamp_ns: int = 0


def msg_definition_folders() -> list[Path]:
    """Where `av_pose_msg_definitions` looks, in order.

    `av_pose_msgs/msg` beside the `av_pose` package (a source checkout); `share/av_pose_msgs/msg` of this Python's
    prefix (`make setup`) and of each AMENT_PREFIX_PATH entry (colcon); then `share/av_pose/av_pose_msgs/msg` of
    those prefixes (the copy setup.py installs with av_pose, for a pip install without the interface package).
    """
    import os
    import sys

    prefixes = [Path(sys.prefix), *(Path(p) for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p)]
    return [Path(__file__).resolve().parents[2] / 'av_pose_msgs' / 'msg',
            *(prefix / 'share' / 'av_pose_msgs' / 'msg' for prefix in prefixes),
            *(prefix / 'share' / 'av_pose' / 'av_pose_msgs' / 'msg' for prefix in prefixes)]


def av_pose_msg_definitions() -> dict[str, str]:
    """The `av_pose_msgs` .msg texts by type name from the first of `msg_definition_folders` that has them ({})."""
    for folder in msg_definition_folders():
        files = sorted(folder.glob('*.msg')) if folder.is_dir() else []
        if files:
            return {f'av_pose_msgs/msg/{path.stem}': path.read_text() for path in files}
    return {}


def make_typestore(audio_msg_type: str):
    """A rosbags typestore (ROS 2 Kilted) with the chosen audio family's and, where found, av_pose_msgs' messages."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    if audio_msg_type not in MSG_DEFINITIONS:
        raise UserInputError(f'unknown audio message type {audio_msg_type!r}; use one of {", ".join(AUDIO_MSG_TYPES)}')
    typestore = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for name, text in {**MSG_DEFINITIONS[audio_msg_type], **av_pose_msg_definitions()}.items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore


class _Messages:
    """Builds rosbags message objects from numpy data for one typestore."""

    def __init__(self, typestore, options: BagOptions, record: SceneRecord) -> None:
        self.types, self.options, self.record = typestore.types, options, record
        self.start_ns = int(round(options.start_epoch_s * 1e9))
        self.fmt = parse_sample_format(options.sample_format)

    def stamp_ns(self, t_s: float) -> int:
        """Bag/header stamp (ns) of scene time t_s."""
        return self.start_ns + int(round(t_s * 1e9))

    def header(self, stamp_ns: int, frame_id: str):
        """std_msgs/Header."""
        time = self.types['builtin_interfaces/msg/Time'](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
        return self.types['std_msgs/msg/Header'](stamp=time, frame_id=frame_id)

    def image(self, stamp_ns: int, rgb: np.ndarray):
        """sensor_msgs/Image (rgb8)."""
        height, width = rgb.shape[:2]
        return self.types['sensor_msgs/msg/Image'](
            header=self.header(stamp_ns, self.options.camera_frame), height=height, width=width,
            encoding='rgb8', is_bigendian=0, step=3 * width, data=np.ascontiguousarray(rgb).reshape(-1))

    def camera_info(self, stamp_ns: int):
        """sensor_msgs/CameraInfo: K and the scene's lens (plumb_bob with D = 0 for a pinhole), P = [K | 0]."""
        K, (width, height) = self.record.K, self.record.image_size
        lens = self.record.distortion
        roi = self.types['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                              do_rectify=False)
        return self.types['sensor_msgs/msg/CameraInfo'](
            header=self.header(stamp_ns, self.options.camera_frame), height=height, width=width,
            distortion_model='plumb_bob' if lens is None else lens.model,
            d=np.zeros(5) if lens is None else np.array(lens.coefficients), k=K.reshape(-1).copy(),
            r=np.eye(3).reshape(-1),
            p=np.hstack([K, np.zeros((3, 1))]).reshape(-1), binning_x=0, binning_y=0, roi=roi)

    def audio_info(self):
        """ros-drivers audio_common_msgs/AudioInfo (only for the AudioDataStamped family)."""
        channels, rate = self.record.mic_array.num_channels, int(self.record.sample_rate)
        return self.types['audio_common_msgs/msg/AudioInfo'](
            channels=channels, sample_rate=rate, sample_format=self.fmt.name,
            bitrate=rate * channels * 8 * self.fmt.dtype.itemsize, coding_format='wave')

    def audio(self, stamp_ns: int, samples: np.ndarray):
        """One chunk (C×n float) in the configured family."""
        t, name = self.types, self.fmt.name
        header = self.header(stamp_ns, self.options.array_frame)
        data = encode_pcm(samples, name)
        channels, count = samples.shape
        if self.options.audio_msg_type == AUDIO_DATA_STAMPED:
            payload = t['audio_common_msgs/msg/AudioData'](data=np.frombuffer(data, dtype=np.uint8))
            return t[AUDIO_DATA_STAMPED](header=header, audio=payload)
        if self.options.audio_msg_type == AUDIO_FRAME:
            return t[AUDIO_FRAME](header=header, format=INTROLAB_NAMES[name], channel_count=channels,
                                  sampling_frequency=int(self.record.sample_rate), frame_sample_count=count,
                                  data=np.frombuffer(data, dtype=np.uint8))
        arrays = {mgonzs13_field(dtype): np.zeros(0, dtype=dtype) for dtype in PORTAUDIO_CODES}
        arrays[mgonzs13_field(self.fmt.dtype.name)] = np.frombuffer(data, dtype=self.fmt.dtype).astype(
            self.fmt.dtype.newbyteorder('='))
        info = t['audio_common_msgs/msg/AudioInfo'](format=PORTAUDIO_CODES[self.fmt.dtype.name], channels=channels,
                                                    rate=int(self.record.sample_rate), chunk=count)
        audio = t['audio_common_msgs/msg/Audio'](audio_data=t['audio_common_msgs/msg/AudioData'](**arrays),
                                                 info=info)
        return t[AUDIO_STAMPED](header=header, audio=audio)


def latched_qos() -> list:
    """The rosbags QoS list of a latched (transient local, depth 1) topic, for /tf_static and /audio_info."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    zero = QosTime(sec=0, nsec=0)
    return [Qos(history=QosHistory.KEEP_LAST, depth=1, reliability=QosReliability.RELIABLE,
                durability=QosDurability.TRANSIENT_LOCAL, deadline=zero, lifespan=zero,
                liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=zero,
                avoid_ros_namespace_conventions=False)]


def scene_to_bag(scene_dir: str | Path, out_path: str | Path, options: BagOptions | None = None) -> BagSummary:
    """Write the scene in `scene_dir` as an MCAP rosbag2 folder at `out_path` (which must not exist)."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from tqdm import tqdm

    options = options or BagOptions()
    record = read_scene(scene_dir)
    out_path = Path(out_path)
    if out_path.exists():
        raise UserInputError(f'{out_path}: already exists (rosbag2 writes a new folder)')
    if not out_path.parent.is_dir():
        raise UserInputError(f'{out_path.parent}: output folder does not exist')
    if options.chunk_ms <= 0:
        raise UserInputError(f'--chunk-ms must be positive, got {options.chunk_ms}')
    typestore = make_typestore(options.audio_msg_type)
    build = _Messages(typestore, options, record)
    frames = MessageBuilder(typestore)
    audio = record.audio()
    chunk = max(1, int(round(options.chunk_ms * 1e-3 * record.sample_rate)))
    # (stamp, order, topic, argument): latched topics first, then frames and audio chunks by time.
    if options.base_frame:  # a robot: the body on /tf, the sensors' mounts on /tf_static
        T_base_cam = make_transform(R_CAM_ARRAY_DEFAULT.T, [0.0, 0.0, 0.0])
        static_edges = [(options.base_frame, options.camera_frame, T_base_cam),
                        (options.base_frame, options.array_frame, T_base_cam @ record.T_cam_array)]
        moving_child, T_cam_moving = options.base_frame, invert_transform(T_base_cam)
    else:
        static_edges = [(options.camera_frame, options.array_frame, record.T_cam_array)]
        moving_child, T_cam_moving = options.camera_frame, np.eye(4)
    events = [(build.stamp_ns(0.0), 0, '/tf_static', None)]
    if options.audio_msg_type == AUDIO_DATA_STAMPED:
        events.append((build.stamp_ns(0.0), 0, '/audio_info', None))
    for i, t in enumerate(record.frame_times_s):
        stamp = build.stamp_ns(float(t))
        events += [(stamp, 1, '/tf', i), (stamp, 2, '/camera/camera_info', i), (stamp, 2, '/camera/image_raw', i)]
    events += [(build.stamp_ns(start / record.sample_rate), 3, '/audio', start)
               for start in range(0, audio.shape[1], chunk)]
    events.sort(key=lambda e: (e[0], e[1]))
    msgtypes = {'/tf_static': 'tf2_msgs/msg/TFMessage', '/audio_info': 'audio_common_msgs/msg/AudioInfo',
                '/tf': 'tf2_msgs/msg/TFMessage', '/camera/camera_info': 'sensor_msgs/msg/CameraInfo',
                '/camera/image_raw': 'sensor_msgs/msg/Image', '/audio': options.audio_msg_type}
    summary = BagSummary(path=out_path, first_stamp_ns=events[0][0], last_stamp_ns=events[-1][0])
    with Writer(out_path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {}
        for topic in dict.fromkeys(e[2] for e in events):
            qos = latched_qos() if topic in ('/tf_static', '/audio_info') else ()
            connections[topic] = writer.add_connection(topic, msgtypes[topic], typestore=typestore,
                                                       offered_qos_profiles=qos)
        for stamp, _, topic, arg in tqdm(events, desc=f'{record.name} → bag', unit='msg',
                                         disable=not options.progress):
            if topic == '/tf_static':
                msg = frames.tf(stamp, static_edges)
            elif topic == '/audio_info':
                msg = build.audio_info()
            elif topic == '/tf':
                msg = frames.tf(stamp, [(options.world_frame, moving_child, record.T_world_cam[arg] @ T_cam_moving)])
            elif topic == '/camera/camera_info':
                msg = build.camera_info(stamp)
            elif topic == '/camera/image_raw':
                msg = build.image(stamp, record.raw_frame(arg))  # as the camera took it; CameraInfo has the lens
            else:
                msg = build.audio(stamp, np.asarray(audio[:, arg:arg + chunk]))
            writer.write(connections[topic], stamp, typestore.serialize_cdr(msg, msgtypes[topic]))
            summary.counts[topic] = summary.counts.get(topic, 0) + 1
    return summary
