"""The on-disk scene: one folder per rendered (or recorded) audio-visual clip.

Layout of a scene folder::

    SCENE/
      scene.json          metadata and ground truth (below)
      audio.wav           float32 WAV, C channels in the array's channel order, `sample_rate` Hz
      frames/000000.png   RGB8 PNG per video frame, frame i is frames/{i:06d}.png
      frames/000001.png
      ...

Clocks: scene time 0 is the first audio sample; audio sample k is at k / sample_rate seconds and
frame i at `frames[i].t` seconds on the same clock.

scene.json (keys sorted, floats rounded to 10 significant digits, so equal inputs give equal bytes):

- `format_version` (int, currently 1), `renderer` (str: what made it), `seed` (int or null),
  `duration_s` (audio length in seconds), `fps`, `sample_rate` (Hz), `image_size` [W, H] (pixels).
- `K`: 3×3 pinhole intrinsics of the camera (pixels).
- optional `distortion` (`model`, `coefficients`: `av_pose.vision.lens.LensDistortion`): the frames were taken
  through this lens; `SceneRecord.frame` undistorts them onto the pinhole K, `raw_frame` reads them as stored.
- `array`: the microphone array (`name`, `positions_m` C×3 in the array frame (REP-103: x forward,
  y left, z up), `kind`, `channel_names`, optional `sample_rate`).
- `T_cam_array`: 4×4, maps array-frame points into the camera optical frame (the array's pose on the rig).
- `room`: `dims_m` [Lx, Ly, Lz], `rt60_s`, plus whatever else the renderer records. World frame: z up,
  room occupies [0, Lx]×[0, Ly]×[0, Lz].
- `sources`: list; each has `kind`, `start_s`, `end_s` (active interval, scene time) and either
  `position_m` [x, y, z] (static, world frame) or `trajectory` [{`t`, `position_m`}, ...] (linear in between,
  held at the ends), or `position_m: null` for a diffuse bed (no azimuth); other keys (gain) are kept.
- `frames`: list; each `t` (seconds) and `T_world_cam` (4×4 camera-to-world, OpenCV optical axes:
  z forward, x right, y down).
- optional `source_levels` (ShoeboxAV since stop 35): `frame_s`, `band_hz`, `db`: per source (null for the
  diffuse bed) its direct sound's level at the array every `frame_s` (`scene.activity.source_levels`), which
  tells a pause or a masked source from a sounding one (`scene.activity.audible_sources`).

Ground truth: the azimuth of source s at time t is atan2(y, x) of its position in the array frame,
T_world_array(t) = pose_at(t) · T_cam_array, in degrees [0, 360), NaN while the source is inactive.
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from av_pose.audio.arrays import ArrayConfigError, MicArray
from av_pose.audio.wav import extract_window, open_wav, pcm_to_float, write_wav
from av_pose.errors import UserInputError
from av_pose.geometry import (
    array_mount,
    azimuth_deg_in_frame,
    interpolate_poses,
    invert_transform,
    transform_points,
)
from av_pose.metrics.azimuth import wrap_signed_deg
from av_pose.metrics.spherical import az_el_from_direction
from av_pose.vision.lens import LensDistortion, Undistorter, undistorter_for

FORMAT_VERSION = 1
SCENE_JSON = 'scene.json'
AUDIO_WAV = 'audio.wav'
FRAMES_DIR = 'frames'
_SIGNIFICANT_DIGITS = 10
_PNG_COMPRESS_LEVEL = 6


class SceneFormatError(UserInputError):
    """A scene folder that is missing files or holds files that cannot be read."""


def frame_path(directory: str | Path, index: int) -> Path:
    """Path of frame `index` inside a scene folder."""
    return Path(directory) / FRAMES_DIR / f'{index:06d}.png'


def load_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as H×W×3 uint8 RGB (alpha dropped, grey expanded)."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert('RGB'), dtype=np.uint8)
    except FileNotFoundError as err:
        raise SceneFormatError(f'{path}: image file is missing') from err
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise SceneFormatError(f'{path}: not a readable image ({err})') from err


def _source_position(source: dict, t: float) -> np.ndarray:
    """World position (3,) of a source at time t (NaN when inactive)."""
    active = source.get('start_s', -math.inf) <= t < source.get('end_s', math.inf)  # as the audio envelope
    if not active or ('trajectory' not in source and source.get('position_m') is None):  # inactive or diffuse
        return np.full(3, np.nan)
    if 'trajectory' not in source:
        return np.asarray(source['position_m'], dtype=np.float64)
    times = np.array([p['t'] for p in source['trajectory']], dtype=np.float64)
    points = np.array([p['position_m'] for p in source['trajectory']], dtype=np.float64)
    return np.array([np.interp(t, times, points[:, axis]) for axis in range(3)])


@dataclass
class SceneRecord:
    """Metadata and ground truth of one scene; frames and audio are read lazily from `directory`.

    Attributes:
        fps: Video frame rate (Hz). sample_rate: Audio rate (Hz). image_size: (W, H) pixels.
        K: 3×3 intrinsics. distortion: the lens of the stored frames (None: a pinhole).
        mic_array: the microphone array (see `array()`).
        T_cam_array: 4×4 array → camera optical frame. room: room description (`dims_m`, `rt60_s`, ...).
        sources: source dicts (see module docstring). frame_times_s: N frame times (s).
        T_world_cam: N×4×4 camera-to-world poses (OpenCV optical). seed, duration_s, renderer: provenance.
        extra: other scene.json keys, kept as read. directory: the scene folder (None before writing).
    """

    fps: float
    sample_rate: int
    image_size: tuple[int, int]
    K: np.ndarray
    mic_array: MicArray
    T_cam_array: np.ndarray
    room: dict
    sources: list[dict]
    frame_times_s: np.ndarray
    T_world_cam: np.ndarray
    duration_s: float = 0.0
    seed: int | None = None
    renderer: str = 'unknown'
    extra: dict = field(default_factory=dict)
    directory: Path | None = None
    distortion: LensDistortion | None = None
    _undistorter: Undistorter | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        self.T_cam_array = np.asarray(self.T_cam_array, dtype=np.float64).reshape(4, 4)
        self.frame_times_s = np.asarray(self.frame_times_s, dtype=np.float64).reshape(-1)
        self.T_world_cam = np.asarray(self.T_world_cam, dtype=np.float64).reshape(-1, 4, 4)
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        if len(self.frame_times_s) != len(self.T_world_cam):
            raise SceneFormatError(f'{len(self.frame_times_s)} frame times but {len(self.T_world_cam)} poses')
        if np.any(np.diff(self.frame_times_s) <= 0):
            raise SceneFormatError('frame times must increase strictly')

    @property
    def name(self) -> str:
        """Scene id: the folder name (or 'scene' when not on disk)."""
        return self.directory.name if self.directory is not None else 'scene'

    @property
    def num_frames(self) -> int:
        """Number of video frames N."""
        return len(self.frame_times_s)

    @property
    def num_sources(self) -> int:
        """Number of sound sources S."""
        return len(self.sources)

    def array(self) -> MicArray:
        """The microphone array (positions in the array frame, channel order of audio.wav)."""
        return self.mic_array

    def _require_directory(self) -> Path:
        if self.directory is None:
            raise SceneFormatError('this scene record is not on disk (write_scene it first)')
        return self.directory

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as H×W×3 uint8 RGB, as the pinhole camera K sees it (undistorted when the scene has a lens)."""
        image = self.raw_frame(index)
        if self.distortion is None:
            return image
        self._undistorter = undistorter_for(self._undistorter, self.K, self.distortion, self.image_size)
        return self._undistorter(image)

    def raw_frame(self, index: int) -> np.ndarray:
        """Frame `index` as stored (H×W×3 uint8 RGB, through the lens `distortion` if any)."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f'frame {index} out of range [0, {self.num_frames})')
        image = load_rgb(frame_path(self._require_directory(), index))
        if image.shape[:2] != (self.image_size[1], self.image_size[0]):
            width, height = self.image_size
            raise SceneFormatError(f'{frame_path(self.directory, index)}: size {image.shape[1]}x'
                                   f'{image.shape[0]} differs from image_size {width}x{height}')
        return image

    def _audio_tc(self) -> np.ndarray:
        path = self._require_directory() / AUDIO_WAV
        sample_rate, data = open_wav(path)
        if sample_rate != self.sample_rate or data.shape[1] != self.mic_array.num_channels:
            raise SceneFormatError(f'{path}: {data.shape[1]} channels at {sample_rate} Hz, scene.json says '
                                   f'{self.mic_array.num_channels} at {self.sample_rate} Hz')
        return data

    def audio(self) -> np.ndarray:
        """All audio as C×T float32: a transposed view of the memory-mapped WAV (nothing copied)."""
        return pcm_to_float(self._audio_tc()).T

    def audio_window(self, center_s: float, duration_s: float) -> tuple[np.ndarray, float]:
        """(C×N float32 window centred on `center_s`, coverage): zero-padded beyond the recording."""
        return extract_window(self._audio_tc(), self.sample_rate, center_s, duration_s)

    def pose_at(self, t: float) -> np.ndarray:
        """Camera-to-world pose T_world_cam (4×4) at time t, interpolated between frames."""
        return interpolate_poses(self.frame_times_s, self.T_world_cam, float(t))

    def source_positions_at(self, t: float) -> np.ndarray:
        """S×3 world positions of the sources at time t; NaN rows for inactive sources."""
        return np.array([_source_position(s, float(t)) for s in self.sources]).reshape(-1, 3)

    def source_azimuths_deg(self, t: float) -> np.ndarray:
        """Azimuth (S,) of each source in the array frame at time t, degrees [0, 360); NaN while inactive."""
        positions = self.source_positions_at(t)
        azimuths = azimuth_deg_in_frame(positions, self.pose_at(t) @ self.T_cam_array)
        return np.where(np.isnan(positions[:, 0]), np.nan, azimuths)

    def point_source_indices(self) -> list[int]:
        """Indices of the point sources (those with a position or trajectory; not the diffuse ambient bed)."""
        return [i for i, s in enumerate(self.sources) if 'trajectory' in s or s.get('position_m') is not None]

    def source_heading_direction_deg(self, t: float, index: int = 0) -> tuple[float, float]:
        """(azimuth, elevation) in degrees of point source `index` seen from the camera at time t.

        In the camera's heading frame (x forward, y left, z up: the default-array frame), whether or not the
        source sounds at t: what a user who faced (or measured) a static source gives `av-pose calibrate
        --source-bearing`.
        """
        source = dict(self.sources[self.point_source_indices()[index]], start_s=-math.inf, end_s=math.inf)
        offset = transform_points(invert_transform(self.pose_at(t) @ array_mount()), _source_position(source, float(t)))
        azimuth, elevation = az_el_from_direction(offset)
        return float(wrap_signed_deg(azimuth)), float(elevation)

    def to_json_dict(self) -> dict:
        """The scene.json content (plain data)."""
        data = dict(self.extra)
        data.update({
            'format_version': FORMAT_VERSION, 'renderer': self.renderer, 'seed': self.seed,
            'duration_s': float(self.duration_s), 'fps': float(self.fps),
            'sample_rate': int(self.sample_rate),
            'image_size': list(self.image_size), 'K': self.K.tolist(), 'array': self.mic_array.to_dict(),
            **({} if self.distortion is None else {'distortion': self.distortion.to_dict()}),
            'T_cam_array': self.T_cam_array.tolist(), 'room': self.room, 'sources': self.sources,
            'frames': [{'t': float(t), 'T_world_cam': T.tolist()}
                       for t, T in zip(self.frame_times_s, self.T_world_cam)],
        })
        return data

    @classmethod
    def from_json_dict(cls, data: dict, directory: Path | None = None) -> SceneRecord:
        """Build from scene.json content; raises SceneFormatError naming the first missing/bad key."""
        where = f'{directory / SCENE_JSON}' if directory is not None else SCENE_JSON
        required = ('fps', 'sample_rate', 'image_size', 'K', 'array', 'T_cam_array', 'room', 'sources',
                    'frames')
        missing = [key for key in required if key not in data]
        if missing:
            raise SceneFormatError(f'{where}: missing key(s) {", ".join(missing)}')
        version = data.get('format_version', FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise SceneFormatError(f'{where}: format_version {version!r} is not supported by this reader '
                                   f'(up to {FORMAT_VERSION})')
        known = set(required) | {'format_version', 'renderer', 'seed', 'duration_s', 'distortion'}
        try:
            frames = data['frames']
            return cls(fps=float(data['fps']), sample_rate=int(data['sample_rate']),
                       image_size=tuple(data['image_size']), K=data['K'],
                       mic_array=MicArray.from_dict(data['array'], source=where),
                       T_cam_array=data['T_cam_array'], room=dict(data['room']),
                       sources=list(data['sources']),
                       frame_times_s=[f['t'] for f in frames], T_world_cam=[f['T_world_cam'] for f in frames],
                       duration_s=float(data.get('duration_s', 0.0)), seed=data.get('seed'),
                       renderer=str(data.get('renderer', 'unknown')),
                       extra={k: v for k, v in data.items() if k not in known}, directory=directory,
                       distortion=_distortion(data.get('distortion'), where))
        except ArrayConfigError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise SceneFormatError(f'{where}: malformed field ({err})') from err


def _distortion(data: dict | None, where: str) -> LensDistortion | None:
    """scene.json's optional `distortion`; SceneFormatError naming the file when malformed."""
    if data is None:
        return None
    try:
        return LensDistortion.from_dict(data)
    except UserInputError as err:
        raise SceneFormatError(f'{where}: {err}') from err


def _rounded(value):
    """Plain data with floats rounded to fixed significant digits and numpy scalars/arrays made plain."""
    if isinstance(value, dict):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, np.ndarray):
        return _rounded(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise SceneFormatError(f'scene metadata holds a non-finite number ({value})')
        return float(f'{value:.{_SIGNIFICANT_DIGITS}g}') + 0.0  # + 0.0 turns -0.0 into 0.0
    return value


def write_scene(directory: str | Path, record: SceneRecord, frames: Iterable[np.ndarray],
                audio: np.ndarray) -> SceneRecord:
    """Write a scene folder deterministically and return the record bound to it.

    Args:
        directory: Scene folder (created; existing files of the same names are replaced).
        record: Metadata; `duration_s` is set from the audio length.
        frames: One H×W×3 uint8 RGB image per entry of `record.frame_times_s`, in order.
        audio: C×T float samples in [-1, 1], C = record.mic_array.num_channels, at record.sample_rate.
    """
    directory = Path(directory)
    audio = np.asarray(audio, dtype=np.float32)
    channels = record.mic_array.num_channels
    if audio.ndim != 2 or audio.shape[0] != channels:
        raise SceneFormatError(f'audio must be C×T with C={channels} channels, got shape {audio.shape}')
    (directory / FRAMES_DIR).mkdir(parents=True, exist_ok=True)
    width, height = record.image_size
    count = 0
    for index, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
            raise SceneFormatError(f'frame {index}: expected {height}×{width}×3 uint8, '
                                   f'got {frame.shape} {frame.dtype}')
        if index >= record.num_frames:
            raise SceneFormatError(f'more frames than the {record.num_frames} frame times in the record')
        # Pillow writes no timestamp or text chunks into PNGs, so fixed settings give fixed bytes.
        Image.fromarray(frame).save(frame_path(directory, index), format='PNG',
                                    compress_level=_PNG_COMPRESS_LEVEL, optimize=False)
        count += 1
    if count != record.num_frames:
        raise SceneFormatError(f'got {count} frames for {record.num_frames} frame times')
    write_wav(directory / AUDIO_WAV, audio, record.sample_rate)
    duration_s = audio.shape[1] / float(record.sample_rate)
    bound = dataclasses.replace(record, duration_s=duration_s, directory=directory)
    text = json.dumps(_rounded(bound.to_json_dict()), sort_keys=True, indent=1, allow_nan=False)
    (directory / SCENE_JSON).write_text(text + '\n', encoding='utf-8')
    return bound


def read_scene(directory: str | Path, check_files: bool = True) -> SceneRecord:
    """Read scene.json of a scene folder (frames and audio stay on disk until asked for).

    With `check_files`, also checks that every frame PNG exists and that audio.wav's header matches
    the metadata; each problem is reported as one SceneFormatError line.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise SceneFormatError(f'{directory}: not a scene folder (no such directory)')
    json_path = directory / SCENE_JSON
    try:
        data = json.loads(json_path.read_text(encoding='utf-8'))
    except FileNotFoundError as err:
        raise SceneFormatError(f'{json_path}: missing (is {directory} a scene folder?)') from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SceneFormatError(f'{json_path}: not valid JSON ({err})') from err
    if not isinstance(data, dict):
        raise SceneFormatError(f'{json_path}: expected a JSON object')
    record = SceneRecord.from_json_dict(data, directory)
    if check_files:
        missing = [i for i in range(record.num_frames) if not frame_path(directory, i).is_file()]
        if missing:
            raise SceneFormatError(f'{directory / FRAMES_DIR}: {len(missing)} of {record.num_frames} frame '
                                   f'PNGs missing (first: {frame_path(directory, missing[0]).name})')
        record._audio_tc()
    return record
