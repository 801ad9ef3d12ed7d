"""Reader for SLfM's HM3D-SS rotation pairs (Chen, Qian, Owens, ICCV 2023; code IFICL/SLfM).

Expected layout (as written by SLfM's `Dataset/AI-Habitat/generate_audiosfm.py`)::

    ROOT/<scene>/pair-NNNN/
      metadata.json
      camera_{i}_rgb.png                      view i, RGB(A) PNG (320×240 by default)
      binaural_rirs/sound_{s}_camera_{i}_rir.wav    binaural RIR of source s at view i (2 channels,
                                                    left then right, 16 kHz)
      (binaural_rirs_direct/, binaural_rirs_indirect/, camera_{i}_depth.png: optional, unused here)

`ROOT` may also be one of SLfM's split CSVs (`data-split/hm3d-4view-rotation/test.csv`, one column
`path`); otherwise every folder below ROOT holding a metadata.json is a pair.

metadata.json keys used (per view i and source s):

- `camera_{i}_position`: [x, y, z] metres, Habitat world frame (y up), sensor height included.
- `camera_{i}_rotation_in_quaternion`: [w, x, y, z], camera-to-world rotation of the Habitat camera
  (OpenGL axes: x right, y up, −z forward; yaw about +y composed with the fixed sensor pitch).
- `relative_angle_between_sound_{s}_camera_{i}`: source direction in degrees, left positive, in the
  horizontal plane relative to the agent's heading (−180, 180] — that is the REP-103 azimuth of the
  source in the binaural array frame (x forward, y left) of that view, wrapped here to [0, 360).
- `source_{s}_position`: [x, y, z] metres, Habitat world frame.

Audio as in SLfM's data loader: each view hears Σ_s mono_s ⊛ RIR_{s,i}, truncated to the mono length;
the mono signals are the caller's (SLfM used LibriSpeech / FMA clips at 16 kHz). The RIR wavs are
written by soundfile's default 16-bit PCM and read here scaled to [-1, 1).
Poses become OpenCV optical camera-to-world transforms in the Habitat world frame; relative poses do
not depend on the world frame.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve
from scipy.spatial.transform import Rotation
from torch.utils.data import Dataset

from av_pose.audio.wav import extract_window, open_wav, pcm_to_float
from av_pose.data.pairs import Item, Transform, make_pair_item
from av_pose.errors import UserInputError
from av_pose.geometry import make_transform, wrap_deg
from av_pose.scene.format import load_rgb

SAMPLE_RATE_HZ = 16000
METADATA_JSON = 'metadata.json'
# OpenGL camera axes (x right, y up, z backward) → OpenCV optical axes (x right, y down, z forward).
R_GL_CV = np.diag([1.0, -1.0, -1.0])

MonoSignals = Sequence[np.ndarray] | Callable[[int, int], Sequence[np.ndarray]]


def habitat_camera_pose(position: Sequence[float], quaternion_wxyz: Sequence[float]) -> np.ndarray:
    """T_world_cam (4×4, OpenCV optical axes, Habitat world frame) of a Habitat camera."""
    w, x, y, z = (float(v) for v in quaternion_wxyz)
    R_world_gl = Rotation.from_quat([x, y, z, w]).as_matrix()
    return make_transform(R_world_gl @ R_GL_CV, np.asarray(position, dtype=np.float64))


def list_pair_dirs(root: str | Path) -> list[Path]:
    """Pair folders from a root folder (every folder with metadata.json) or an SLfM split CSV."""
    root = Path(root)
    if root.suffix.lower() == '.csv':
        try:
            with root.open(newline='') as handle:
                return [Path(row['path']) for row in csv.DictReader(handle)]
        except (OSError, KeyError) as err:
            raise UserInputError(f'{root}: cannot read a split CSV with a "path" column ({err})') from err
    if not root.is_dir():
        raise UserInputError(f'{root}: no such HM3D-SS folder')
    return sorted(p.parent for p in root.rglob(METADATA_JSON))


def _read_metadata(pair_dir: Path) -> dict:
    path = pair_dir / METADATA_JSON
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as err:
        raise UserInputError(f'{path}: missing (not an HM3D-SS pair folder)') from err
    except json.JSONDecodeError as err:
        raise UserInputError(f'{path}: not valid JSON ({err})') from err


def count_sources(metadata: dict) -> int:
    """Number of sources in a pair's metadata (keys source_{s}_position)."""
    return sum(1 for key in metadata if key.startswith('source_') and key.endswith('_position'))


def view_azimuths_deg(metadata: dict, view: int) -> np.ndarray:
    """Ground-truth azimuth (S,) of each source in view `view`'s array frame, degrees [0, 360)."""
    return np.array([wrap_deg(metadata.get(f'relative_angle_between_sound_{s}_camera_{view}', np.nan))
                     for s in range(count_sources(metadata))], dtype=np.float64)


def render_binaural(rirs: Sequence[np.ndarray], mono: Sequence[np.ndarray]) -> np.ndarray:
    """Σ_s mono_s ⊛ rir_s (rir T×2), truncated to the longest mono signal: 2×T float32."""
    length = max(len(m) for m in mono)
    out = np.zeros((2, length), dtype=np.float64)
    for rir, signal in zip(rirs, mono):
        wet = fftconvolve(np.asarray(signal, dtype=np.float64)[None, :], rir.T.astype(np.float64), axes=1)
        count = min(length, wet.shape[1])
        out[:, :count] += wet[:, :count]
    return out.astype(np.float32)


class HM3DSSPairDataset(Dataset):
    """Two views of each HM3D-SS pair as one item in the common format (`av_pose.data.pairs`).

    Args:
        root: Folder of pair folders, or an SLfM split CSV.
        mono_signals: Dry mono signals at 16 kHz; source s uses mono_signals[s % len], or a callable
            (pair index, number of sources) → one signal per source.
        views: Which two views form the pair (a, b).
        window_s: Length of the audio window; it starts `window_start_s` into the rendered audio.
        rir_folder: binaural_rirs (direct + reverberant), binaural_rirs_direct or binaural_rirs_indirect.
        max_sources: Length of the azimuth vectors (default: most sources over the pairs).
        transform: Optional hook applied to each item.
    """

    def __init__(self, root: str | Path, mono_signals: MonoSignals, views: tuple[int, int] = (0, 1),
                 window_s: float = 1.0, window_start_s: float = 0.0, rir_folder: str = 'binaural_rirs',
                 max_sources: int | None = None, transform: Transform | None = None) -> None:
        self.pair_dirs = list_pair_dirs(root)
        if not self.pair_dirs:
            raise UserInputError(f'no HM3D-SS pairs ({METADATA_JSON}) found under {root}')
        if not callable(mono_signals) and len(mono_signals) == 0:
            raise UserInputError('mono_signals must hold at least one signal')
        self.mono_signals, self.views, self.rir_folder = mono_signals, tuple(views), rir_folder
        self.window_s, self.window_start_s, self.transform = float(window_s), float(window_start_s), transform
        self.max_sources = max_sources if max_sources is not None else max(
            count_sources(_read_metadata(d)) for d in self.pair_dirs)

    def __len__(self) -> int:
        """Number of pairs."""
        return len(self.pair_dirs)

    def _mono_for(self, index: int, num_sources: int) -> list[np.ndarray]:
        if callable(self.mono_signals):
            return [np.asarray(m, dtype=np.float32) for m in self.mono_signals(index, num_sources)]
        return [np.asarray(self.mono_signals[s % len(self.mono_signals)], dtype=np.float32)
                for s in range(num_sources)]

    def view_audio(self, pair_dir: Path, view: int, mono: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
        """(2×N binaural window, coverage) heard at `view` of the pair in `pair_dir`."""
        rirs = []
        for s in range(len(mono)):
            path = pair_dir / self.rir_folder / f'sound_{s}_camera_{view}_rir.wav'
            sample_rate, data = open_wav(path)
            if sample_rate != SAMPLE_RATE_HZ or data.shape[1] != 2:
                raise UserInputError(f'{path}: expected 2 channels at {SAMPLE_RATE_HZ} Hz, '
                                     f'got {data.shape[1]} at {sample_rate} Hz')
            rirs.append(pcm_to_float(np.asarray(data)))
        audio = render_binaural(rirs, mono)
        center_s = self.window_start_s + self.window_s / 2.0
        return extract_window(audio.T, SAMPLE_RATE_HZ, center_s, self.window_s)

    def __getitem__(self, index: int) -> Item:
        """The item for pair `index`; `t_a` = `t_b` = 0 (static views), `frame_a/b` = view indices."""
        pair_dir = self.pair_dirs[index]
        metadata = _read_metadata(pair_dir)
        mono = self._mono_for(index, count_sources(metadata))
        a, b = self.views
        try:
            poses = [habitat_camera_pose(metadata[f'camera_{v}_position'],
                                         metadata[f'camera_{v}_rotation_in_quaternion']) for v in (a, b)]
        except KeyError as err:
            raise UserInputError(f'{pair_dir / METADATA_JSON}: missing {err.args[0]}') from err
        item = make_pair_item(
            image_a=load_rgb(pair_dir / f'camera_{a}_rgb.png'),
            image_b=load_rgb(pair_dir / f'camera_{b}_rgb.png'),
            audio_a=self.view_audio(pair_dir, a, mono), audio_b=self.view_audio(pair_dir, b, mono),
            T_world_a=poses[0], T_world_b=poses[1],
            azimuths_a_deg=view_azimuths_deg(metadata, a), azimuths_b_deg=view_azimuths_deg(metadata, b),
            max_sources=self.max_sources, scene_id=f'{pair_dir.parent.name}/{pair_dir.name}',
            t_a=0.0, t_b=0.0, frame_a=a, frame_b=b)
        return self.transform(item) if self.transform is not None else item
