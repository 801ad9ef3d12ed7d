"""Read a rosbag2 (MCAP or sqlite3) into an in-memory recording with a SceneRecord's accessors.

`read_bag(path, options)` → `BagRecording` with `frame_times_s`, `frame(i)` (H×W×3 uint8 RGB), `K`, `mic_array`,
`sample_rate`, `audio()`, `audio_window(center_s, duration_s)`, `T_cam_array`, `T_world_cam` (or None), so code
written for scene folders (`av_pose.scene.format.read_scene`) runs on bags unchanged.

Topics (options, defaults as `av-pose scene-to-bag` writes them): images on `/camera/image_raw`
(sensor_msgs/Image: rgb8, bgr8, mono8, rgba8, bgra8) or a sensor_msgs/CompressedImage topic (jpeg/png);
`/camera/camera_info` (K); `/audio` in any of the three audio families (`av_pose.ros.audio_adapters` decodes
them; `/audio_info` gives the ros-drivers format); `/tf_static` and `/tf` the frames: the array's mount
T_cam_array and the camera's poses T_world_cam are looked up through the whole tree
(`av_pose.transforms.TimedTransforms`), so a scene-to-bag bag (world → camera on /tf, camera → array on
/tf_static) and a robot's (odom → base_link on /tf from its wheel odometry, base_link → camera_link → optical
frame and base_link → mic_array on /tf_static; `world_frame` 'odom') both work. Message definitions come
from the bag itself, else from the ROS 2 Kilted store plus the audio family named in the options.

Times: seconds relative to the first audio sample (the first audio chunk's header stamp), as in a scene folder;
`time_origin_s` is that stamp (ROS time, seconds), so bag time = time_origin_s + t. The audio is assembled by
the ring-buffer rules of `AudioRingBuffer` (stamps from the headers, short gaps filled with zeros, late and
duplicate chunks dropped) and cut into windows by the same rule as scene files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from av_pose.audio.arrays import MicArray, load_array
from av_pose.audio.buffer import AudioRingBuffer
from av_pose.errors import UserInputError
from av_pose.geometry import array_mount, interpolate_poses, make_transform
from av_pose.transforms import TimedTransforms
from av_pose.vision.lens import LensDistortion, Undistorter, undistorter_for

IMAGE_CHANNELS = {'rgb8': 3, 'bgr8': 3, 'mono8': 1, 'rgba8': 4, 'bgra8': 4}


class BagReadError(UserInputError):
    """A bag that cannot be read as a recording (missing topics, unsupported encodings, bad audio)."""


@dataclass(frozen=True)
class BagReadOptions:
    """Topic and frame names, the array, and the audio family for bags that carry no message definitions."""

    image_topic: str = '/camera/image_raw'
    camera_info_topic: str = '/camera/camera_info'
    audio_topic: str = '/audio'
    audio_info_topic: str = '/audio_info'
    tf_topic: str = '/tf'
    tf_static_topic: str = '/tf_static'
    world_frame: str = 'world'
    """The fixed frame of the camera's poses: 'world' in scene-to-bag bags, 'odom' (wheel odometry) on a robot."""
    array_frame: str = 'mic_array'
    camera_frame: str = ''
    """Camera frame id for the tf lookups; empty = the images' header frame_id."""
    array: str | MicArray = 'respeaker4'
    audio_msg_type: str = 'audio_common_msgs/msg/AudioDataStamped'
    """Used only for a bag without message definitions (old sqlite3 bags)."""
    images_rectified: bool = False
    """The image topic is already undistorted (image_rect): CameraInfo's P, no lens; else K and D, undistorted."""
    camera_hfov_deg: float = 0.0
    """Without usable intrinsics in the bag: a centred pinhole with this horizontal field of view (0: none)."""


def _rgb(msg, msgtype: str) -> np.ndarray:
    """H×W×3 uint8 RGB from a sensor_msgs Image or CompressedImage."""
    import cv2

    if msgtype.endswith('CompressedImage'):
        image = cv2.imdecode(np.frombuffer(bytes(msg.data), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise BagReadError(f'compressed image ({msg.format!r}) could not be decoded (jpeg and png are supported)')
        if image.ndim == 2:
            return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    encoding = str(msg.encoding).lower()
    if encoding not in IMAGE_CHANNELS:
        raise BagReadError(f'image encoding {msg.encoding!r} is not supported ({", ".join(IMAGE_CHANNELS)})')
    height, width, step, channels = int(msg.height), int(msg.width), int(msg.step), IMAGE_CHANNELS[encoding]
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if step < width * channels or data.size < step * height:
        raise BagReadError(f'image of {data.size} bytes does not hold {height} rows of step {step}')
    pixels = data[:step * height].reshape(height, step)[:, :width * channels].reshape(height, width, channels)
    if encoding == 'mono8':
        return np.repeat(pixels, 3, axis=2)
    order = [2, 1, 0] if encoding.startswith('bgr') else [0, 1, 2]
    return np.ascontiguousarray(pixels[:, :, order])


def _transform(ts) -> np.ndarray:
    """4×4 child → parent of a geometry_msgs/TransformStamped."""
    from scipy.spatial.transform import Rotation

    q, v = ts.transform.rotation, ts.transform.translation
    return make_transform(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), [v.x, v.y, v.z])


def _stamp_ns(header) -> int:
    return int(header.stamp.sec) * 10**9 + int(header.stamp.nanosec)


@dataclass
class BagRecording:
    """A bag in memory with the accessors of `SceneRecord` (see the module docstring for times and frames).

    Attributes:
        frame_times_s: N image times (s, relative to the first audio sample). K: 3×3 intrinsics (None without
            camera info). mic_array: the array (from the options). sample_rate: Hz. T_cam_array: 4×4 from
            the frames (default mount when the camera and `array_frame` are not connected). T_world_cam: N×4×4
            poses of the camera in `world_frame` from the frames (ground truth, or a robot's odometry), or None.
        time_origin_s: ROS time (s) of relative time 0. path: the bag. image_size: (W, H).
        distortion: the lens of the stored images from CameraInfo (None: a pinhole, or rectified images);
            `frame` undistorts them onto K.
    """

    path: Path
    frame_times_s: np.ndarray
    K: np.ndarray | None
    mic_array: MicArray
    sample_rate: int
    T_cam_array: np.ndarray
    T_world_cam: np.ndarray | None
    time_origin_s: float
    image_size: tuple[int, int]
    _images: list = field(repr=False, default_factory=list)
    _buffer: AudioRingBuffer | None = field(repr=False, default=None)
    _audio_end_s: float = 0.0
    distortion: LensDistortion | None = None
    _undistorter: Undistorter | None = field(repr=False, default=None)

    @property
    def name(self) -> str:
        """The bag folder's name."""
        return self.path.name

    @property
    def num_frames(self) -> int:
        """Number of images N."""
        return len(self.frame_times_s)

    @property
    def duration_s(self) -> float:
        """Audio length, seconds."""
        return self._audio_end_s

    @property
    def fps(self) -> float:
        """Mean image rate, Hz."""
        return (self.num_frames - 1) / float(np.ptp(self.frame_times_s)) if self.num_frames > 1 else 0.0

    def array(self) -> MicArray:
        """The microphone array (channel order of the audio)."""
        return self.mic_array

    def frame(self, index: int) -> np.ndarray:
        """Image `index` as H×W×3 uint8 RGB on the pinhole K (undistorted when the bag's CameraInfo has a lens)."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f'frame {index} out of range [0, {self.num_frames})')
        image = _rgb(*self._images[index])
        size = (image.shape[1], image.shape[0])
        self._undistorter = undistorter_for(self._undistorter, self.K, self.distortion, size)
        return image if self._undistorter is None else self._undistorter(image)

    def audio(self) -> np.ndarray:
        """All audio as C×T float32 (zeros where chunks were missing)."""
        return self.audio_window(0.5 * self._audio_end_s, self._audio_end_s)[0]

    def audio_window(self, center_s: float, duration_s: float) -> tuple[np.ndarray, float]:
        """(C×N float32 window centred on `center_s` (relative seconds), coverage): zeros beyond the audio."""
        window = self._buffer.window(center_s, duration_s)
        return window.samples, window.coverage

    def pose_at(self, t: float) -> np.ndarray:
        """Ground-truth T_world_cam (4×4) at relative time t (interpolated); raises when the bag has none."""
        if self.T_world_cam is None:
            raise BagReadError(f'{self.path}: no ground-truth poses (/tf world → camera)')
        return interpolate_poses(self.frame_times_s, self.T_world_cam, float(t))


def read_bag(path: str | Path, options: BagReadOptions | None = None) -> BagRecording:
    """Read the bag at `path` (a rosbag2 folder or its .mcap / .db3 file) into a `BagRecording`."""
    from rosbags.highlevel import AnyReader, AnyReaderError

    from av_pose.bag.scene_to_bag import make_typestore
    from av_pose.ros.audio_adapters import AudioDecodeError, make_adapter
    from av_pose.ros.pose_inputs import camera_intrinsics, camera_lens

    options = options or BagReadOptions()
    path = Path(path)
    if not path.exists():
        raise BagReadError(f'{path}: no such bag')
    array = load_array(options.array)
    images, infos, chunks, tf, tf_static = [], [], [], [], []
    try:
        with AnyReader([path], default_typestore=make_typestore(options.audio_msg_type)) as reader:
            topics = {c.topic: c.msgtype for c in reader.connections}
            for name in (options.image_topic, options.audio_topic):
                if name not in topics:
                    raise BagReadError(f'{path}: no topic {name} (topics: {", ".join(sorted(topics))})')
            adapter = make_adapter(topics[options.audio_topic])
            wanted = {options.image_topic, options.camera_info_topic, options.audio_topic, options.audio_info_topic,
                      options.tf_topic, options.tf_static_topic}
            for connection, _, raw in reader.messages([c for c in reader.connections if c.topic in wanted]):
                msg = reader.deserialize(raw, connection.msgtype)
                topic = connection.topic
                if topic == options.image_topic:
                    images.append((_stamp_ns(msg.header), msg.header.frame_id, (msg, connection.msgtype)))
                elif topic == options.camera_info_topic:
                    infos.append(msg)
                elif topic == options.audio_info_topic:
                    adapter.on_info(msg)
                elif topic == options.audio_topic:
                    try:
                        chunk = adapter.decode(msg)
                    except AudioDecodeError as err:
                        raise BagReadError(f'{path}: audio message cannot be decoded ({err})') from err
                    chunks.append((_stamp_ns(msg.header), chunk))
                else:
                    (tf_static if topic == options.tf_static_topic else tf).extend(msg.transforms)
    except AnyReaderError as err:
        raise BagReadError(f'{path}: not a readable rosbag2 ({err})') from err
    if not images or not chunks:
        raise BagReadError(f'{path}: {len(images)} images and {len(chunks)} audio chunks; need both')
    chunks.sort(key=lambda item: item[0])
    images.sort(key=lambda item: item[0])
    origin_ns, sample_rate = chunks[0][0], chunks[0][1].sample_rate
    if chunks[0][1].samples.shape[0] != array.num_channels:
        raise BagReadError(f'{path}: audio has {chunks[0][1].samples.shape[0]} channels, array {array.name} has '
                           f'{array.num_channels} (choose the array with --array)')
    end_s = max((ns - origin_ns) * 1e-9 + c.samples.shape[1] / c.sample_rate for ns, c in chunks)
    buffer = AudioRingBuffer(array.num_channels, sample_rate, capacity_s=end_s + 1.0, max_gap_fill_s=end_s + 1.0,
                             max_backward_jump_s=end_s + 1.0)
    for ns, chunk in chunks:
        if chunk.sample_rate != sample_rate or chunk.samples.shape[0] != array.num_channels:
            raise BagReadError(f'{path}: the audio format changes within the bag')
        buffer.push(chunk.samples, (ns - origin_ns) * 1e-9)
    times = np.array([(ns - origin_ns) * 1e-9 for ns, _, _ in images])
    camera_frame = options.camera_frame or str(images[0][1])
    rgb0 = _rgb(*images[0][2])
    size = (rgb0.shape[1], rgb0.shape[0])
    if not 0.0 <= options.camera_hfov_deg < 180.0:
        raise BagReadError(f'the camera field of view must be in [0, 180) degrees, got {options.camera_hfov_deg:g}')
    info = infos[0] if infos else None
    K = camera_intrinsics(info, size, options.images_rectified, options.camera_hfov_deg)
    try:
        lens = camera_lens(info, options.images_rectified)
    except UserInputError as err:
        raise BagReadError(f'{path}: {options.camera_info_topic}: {err} (--images-rectified takes the images as they '
                           f'are)') from err
    frames = TimedTransforms()
    for stamped in tf_static:
        frames.static.add(stamped.header.frame_id, stamped.child_frame_id, _transform(stamped))
    for stamped in tf:
        frames.add_moving(stamped.header.frame_id, stamped.child_frame_id,
                          (_stamp_ns(stamped.header) - origin_ns) * 1e-9, _transform(stamped))
    mount = frames.lookup(camera_frame, options.array_frame, float(times[0]))
    poses = [frames.lookup(options.world_frame, camera_frame, float(t)) for t in times]
    stamps = frames.fewest_stamps(options.world_frame, camera_frame)
    sparse = len(times) > 1 and stamps is not None and stamps < 2  # one stamp of a moving edge: no trajectory
    T_world_cam = None if sparse or any(T is None for T in poses) else np.array(poses)
    return BagRecording(path=path, frame_times_s=times, K=K, mic_array=array, sample_rate=int(sample_rate),
                        T_cam_array=array_mount() if mount is None else mount, T_world_cam=T_world_cam,
                        time_origin_s=origin_ns * 1e-9, image_size=size, distortion=lens,
                        _images=[item[2] for item in images], _buffer=buffer, _audio_end_s=end_s)
