"""Reader for Ego-Exo4D / Project Aria takes: RGB frames, 7-channel audio and the MPS trajectory.

Expected layout of a take folder (the frames and the audio must be extracted beforehand, e.g. with
projectaria_tools from the take's VRS; this package reads no VRS or MP4)::

    TAKE/
      trajectory/closed_loop_trajectory.csv   Project Aria MPS output (or TAKE/closed_loop_trajectory.csv)
      frames/<tracking_timestamp_us>.jpg|png  RGB frames of camera-rgb (stream 214-1), named by their
                                              device capture time in integer microseconds
      audio.wav                               the 7-channel microphone stream (231-1), 48 kHz, any PCM type
      audio.json                              {"first_sample_timestamp_us": <device time of sample 0>}
      calibration.json                        optional {"T_device_camera": 4×4} (camera-rgb extrinsics,
                                              e.g. device_calib.get_transform_device_sensor("camera-rgb"))

closed_loop_trajectory.csv columns used (Project Aria MPS docs): `tracking_timestamp_us` (device clock,
µs), `tx_world_device`, `ty_world_device`, `tz_world_device` (metres) and `qx_world_device`,
`qy_world_device`, `qz_world_device`, `qw_world_device` (T_world_device rotation); other columns
(graph_uid, utc_timestamp_ns, velocities, gravity, quality_score) are ignored. The world frame is
gravity aligned. Camera poses are T_world_device(t) · T_device_camera; without calibration.json,
T_device_camera is the identity and the "camera" poses are those of the Aria device frame.
Frames are used as stored (Ego-Exo4D keeps Aria RGB turned 90°). Source azimuths are unknown: NaN.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation
from torch.utils.data import Dataset

from av_pose.audio.wav import extract_window, open_wav
from av_pose.data.pairs import Item, Transform, make_pair_item, pair_frame_indices
from av_pose.errors import UserInputError
from av_pose.geometry import interpolate_poses, make_transform
from av_pose.scene.format import load_rgb

TRAJECTORY_CSV = 'closed_loop_trajectory.csv'
POSE_COLUMNS = ('tx_world_device', 'ty_world_device', 'tz_world_device',
                'qx_world_device', 'qy_world_device', 'qz_world_device', 'qw_world_device')
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')


def read_closed_loop_trajectory(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(times_s N, T_world_device N×4×4) from an MPS closed_loop_trajectory.csv, sorted by time."""
    path = Path(path)
    try:
        with path.open(newline='') as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or [])
            missing = [c for c in ('tracking_timestamp_us',) + POSE_COLUMNS if c not in columns]
            if missing:
                raise UserInputError(f'{path}: missing column(s) {", ".join(missing)}')
            rows = [(float(r['tracking_timestamp_us']), [float(r[c]) for c in POSE_COLUMNS]) for r in reader]
    except FileNotFoundError as err:
        raise UserInputError(f'{path}: trajectory file is missing') from err
    except UserInputError:
        raise
    except ValueError as err:
        raise UserInputError(f'{path}: non-numeric trajectory value ({err})') from err
    if len(rows) < 2:
        raise UserInputError(f'{path}: needs at least two poses, got {len(rows)}')
    times_us, values = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    times_us, unique = np.unique(times_us, return_index=True)
    values = values[unique]
    T_world_device = make_transform(Rotation.from_quat(values[:, 3:]).as_matrix(), values[:, :3])
    return times_us * 1e-6, T_world_device


def find_take_dirs(root: str | Path | Sequence[str | Path]) -> list[Path]:
    """Take folders: `root` if it is one (has frames/), else its sub-folders that are; or the list given."""
    if not isinstance(root, (str, Path)):
        return [Path(p) for p in root]
    root = Path(root)
    if (root / 'frames').is_dir():
        return [root]
    return sorted(p for p in root.iterdir() if (p / 'frames').is_dir()) if root.is_dir() else []


class AriaTake:
    """One take: frame times and files, device trajectory, memory-mapped audio and its start time."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        csv_path = self.directory / 'trajectory' / TRAJECTORY_CSV
        self.traj_times_s, self.T_world_device = read_closed_loop_trajectory(
            csv_path if csv_path.is_file() else self.directory / TRAJECTORY_CSV)
        frames = [p for p in (self.directory / 'frames').iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        try:
            stamped = sorted((int(p.stem), p) for p in frames)
        except ValueError as err:
            raise UserInputError(f'{self.directory / "frames"}: frame names must be integer '
                                 f'microsecond timestamps ({err})') from err
        self.frame_times_s = np.array([stamp * 1e-6 for stamp, _ in stamped])
        self.frame_paths = [p for _, p in stamped]
        calibration = self._json('calibration.json', {})
        self.T_device_camera = np.asarray(calibration.get('T_device_camera', np.eye(4)),
                                          dtype=np.float64).reshape(4, 4)
        audio_meta = self._json('audio.json', None)
        if audio_meta is None or 'first_sample_timestamp_us' not in audio_meta:
            raise UserInputError(f'{self.directory / "audio.json"}: needs first_sample_timestamp_us')
        self.audio_start_s = float(audio_meta['first_sample_timestamp_us']) * 1e-6
        self.sample_rate, _ = open_wav(self.directory / 'audio.wav')

    def _json(self, name: str, default):
        path = self.directory / name
        if not path.is_file():
            return default
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise UserInputError(f'{path}: not valid JSON ({err})') from err

    def camera_pose(self, t_s: float) -> np.ndarray:
        """T_world_camera (4×4) at device time t_s, interpolated from the 1 kHz trajectory."""
        return interpolate_poses(self.traj_times_s, self.T_world_device, t_s) @ self.T_device_camera

    def audio_window(self, center_s: float, duration_s: float) -> tuple[np.ndarray, float]:
        """(C×N float32 window centred on device time `center_s`, coverage)."""
        _, data = open_wav(self.directory / 'audio.wav')
        return extract_window(data, self.sample_rate, center_s, duration_s, first_sample_s=self.audio_start_s)


class EgoExo4DPairDataset(Dataset):
    """Frame pairs `gap_s` apart from Aria takes, as items in the common format (`av_pose.data.pairs`).

    Times in the items are device times in seconds. `max_sources` sets the (all-NaN) azimuth length.
    """

    def __init__(self, takes: str | Path | Sequence[str | Path], gap_s: float = 1.0, window_s: float = 1.0,
                 stride: int = 1, max_sources: int = 1, transform: Transform | None = None) -> None:
        self.takes = [AriaTake(d) for d in find_take_dirs(takes)]
        if not self.takes:
            raise UserInputError(f'no Aria takes (folders with frames/) found in {takes}')
        self.window_s, self.max_sources, self.transform = float(window_s), int(max_sources), transform
        self.index = [(k, i, j) for k, take in enumerate(self.takes)
                      for i, j in pair_frame_indices(take.frame_times_s, float(gap_s), stride)]
        if not self.index:
            raise UserInputError(f'no frame pairs {gap_s} s apart in the given takes')

    def __len__(self) -> int:
        """Number of frame pairs."""
        return len(self.index)

    def __getitem__(self, index: int) -> Item:
        """The item for pair `index` (azimuths are NaN: Ego-Exo4D has no source positions)."""
        k, i, j = self.index[index]
        take = self.takes[k]
        t_a, t_b = take.frame_times_s[i], take.frame_times_s[j]
        no_azimuths = np.full(self.max_sources, np.nan)
        item = make_pair_item(
            image_a=load_rgb(take.frame_paths[i]), image_b=load_rgb(take.frame_paths[j]),
            audio_a=take.audio_window(t_a, self.window_s), audio_b=take.audio_window(t_b, self.window_s),
            T_world_a=take.camera_pose(t_a), T_world_b=take.camera_pose(t_b),
            azimuths_a_deg=no_azimuths, azimuths_b_deg=no_azimuths, max_sources=self.max_sources,
            scene_id=take.directory.name, t_a=t_a, t_b=t_b, frame_a=i, frame_b=j)
        return self.transform(item) if self.transform is not None else item
