"""Frame pairs with audio windows and ground-truth relative poses, for training and evaluation.

An item (a dict) is the same for every dataset in `av_pose.data`:

- `image_a`, `image_b`: 3×H×W float32 tensors in [0, 1] (RGB).
- `audio_a`, `audio_b`: C×N float32 tensors, the `window_s` window centred on each frame's time
  (zero-padded beyond the recording); `coverage_a`, `coverage_b`: the fraction inside it (float).
- `T_a_b`: 4×4 float32 tensor, ground-truth relative pose b→a = inv(P_a)·P_b (maps camera-b points into
  camera-a coordinates; Reloc3r "2→1" with a = view 1), and `T_b_a` its inverse. Camera frames are
  OpenCV optical (z forward, x right, y down).
- `azimuths_a_deg`, `azimuths_b_deg`: float32 tensors of fixed length `max_sources`, ground-truth
  azimuth (degrees [0, 360), REP-103 array frame) of each source at each frame, NaN where a source is
  inactive or absent.
- `scene_id` (str: the scene folder's name, or `parent/name` when two folders share a name), `t_a`, `t_b`
  (seconds, scene clock), `frame_a`, `frame_b` (frame indices).

The default collate of torch.utils.data.DataLoader batches these dicts.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from av_pose.errors import UserInputError
from av_pose.geometry import invert_transform, relative_pose
from av_pose.scene.format import SCENE_JSON, SceneRecord, read_scene

Item = dict
Transform = Callable[[Item], Item]


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 RGB → 3×H×W float32 tensor in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)


def padded_azimuths(azimuths_deg: np.ndarray, max_sources: int) -> torch.Tensor:
    """Azimuths (S,) as a float32 tensor of length `max_sources`, NaN-padded (extra sources dropped)."""
    out = np.full(max_sources, np.nan, dtype=np.float32)
    count = min(len(azimuths_deg), max_sources)
    out[:count] = np.asarray(azimuths_deg[:count], dtype=np.float32)
    return torch.from_numpy(out)


def make_pair_item(*, image_a: np.ndarray, image_b: np.ndarray, audio_a: tuple[np.ndarray, float],
                   audio_b: tuple[np.ndarray, float], T_world_a: np.ndarray, T_world_b: np.ndarray,
                   azimuths_a_deg: np.ndarray, azimuths_b_deg: np.ndarray, max_sources: int, scene_id: str,
                   t_a: float, t_b: float, frame_a: int, frame_b: int) -> Item:
    """Assemble one item in the common format from numpy inputs (audio given as (C×N, coverage))."""
    T_a_b = relative_pose(T_world_a, T_world_b)
    return {
        'image_a': image_to_tensor(image_a), 'image_b': image_to_tensor(image_b),
        'audio_a': torch.from_numpy(np.ascontiguousarray(audio_a[0], dtype=np.float32)),
        'audio_b': torch.from_numpy(np.ascontiguousarray(audio_b[0], dtype=np.float32)),
        'coverage_a': float(audio_a[1]), 'coverage_b': float(audio_b[1]),
        'T_a_b': torch.from_numpy(T_a_b.astype(np.float32)),
        'T_b_a': torch.from_numpy(invert_transform(T_a_b).astype(np.float32)),
        'azimuths_a_deg': padded_azimuths(azimuths_a_deg, max_sources),
        'azimuths_b_deg': padded_azimuths(azimuths_b_deg, max_sources),
        'scene_id': scene_id, 't_a': float(t_a), 't_b': float(t_b),
        'frame_a': int(frame_a), 'frame_b': int(frame_b),
    }


def pair_frame_indices(times_s: np.ndarray, gap_s: float, stride: int = 1) -> list[tuple[int, int]]:
    """Pairs (i, j) of frames about `gap_s` apart: j is the frame nearest to t_i + gap_s.

    A pair is kept when that frame is within half a median frame interval of t_i + gap_s, so the gap is
    snapped to the frame times. Every `stride`-th anchor frame i is used.
    """
    if len(times_s) < 2:
        return []
    tolerance = 0.5 * float(np.median(np.diff(times_s))) + 1e-9
    pairs = []
    for i in range(0, len(times_s), max(1, stride)):
        target = times_s[i] + gap_s
        j = int(np.clip(np.searchsorted(times_s, target), 1, len(times_s) - 1))
        j = j if abs(times_s[j] - target) <= abs(times_s[j - 1] - target) else j - 1
        if j > i and abs(times_s[j] - target) <= tolerance:
            pairs.append((i, j))
    return pairs


def unique_scene_ids(records: Sequence) -> list[str]:
    """One id per record (scene or bag): its name, or `parent/name` for names that occur more than once."""
    names = [record.name for record in records]
    return [name if names.count(name) == 1 else
            f'{Path(getattr(record, "directory", None) or record.path).parent.name}/{name}'
            for name, record in zip(names, records)]


def find_scene_dirs(root: str | Path | Iterable[str | Path]) -> list[Path]:
    """Scene folders: `root` if it holds scene.json, else every folder below it that does (sorted), or the list.

    Symbolic links to folders are followed (a data folder assembled from links to rendered sets), each real folder
    once.
    """
    if isinstance(root, (str, Path)):
        root = Path(root)
        if (root / SCENE_JSON).is_file():
            return [root]
        if not root.is_dir():
            raise UserInputError(f'{root}: no such scene folder')
        found, seen = [], set()
        for folder, subfolders, files in os.walk(root, followlinks=True):
            real = os.path.realpath(folder)
            if real in seen:  # a link back up the tree, or a second link to the same folder
                subfolders.clear()
                continue
            seen.add(real)
            if SCENE_JSON in files:
                found.append(Path(folder))
        return sorted(found)
    return [Path(p) for p in root]


class FramePairDataset(Dataset):
    """Frame pairs `gap_s` apart from a folder of scenes (see the module docstring for the item format).

    Args:
        scenes: A folder of scene folders, one scene folder, or a list of scene folders.
        gap_s: Time between the two frames (seconds; the paper uses 1 s and reports 0.5–4 s),
            snapped to the frame times.
        window_s: Audio window length centred on each frame (seconds; paper: 1.0).
        stride: Use every `stride`-th frame as the first frame of a pair.
        max_sources: Length of the azimuth vectors; default = the most sources in any scene.
        transform: Optional hook applied to each finished item (e.g. image corruptions).
    """

    def __init__(self, scenes: str | Path | Sequence[str | Path], gap_s: float = 1.0, window_s: float = 1.0,
                 stride: int = 1, max_sources: int | None = None, transform: Transform | None = None) -> None:
        if gap_s <= 0 or window_s <= 0:
            raise UserInputError(f'gap_s and window_s must be positive, got {gap_s} and {window_s}')
        self.records: list[SceneRecord] = [read_scene(d, check_files=False) for d in find_scene_dirs(scenes)]
        if not self.records:
            raise UserInputError(f'no scenes (folders with {SCENE_JSON}) found in {scenes}')
        self.scene_ids = unique_scene_ids(self.records)
        self.gap_s, self.window_s, self.transform = float(gap_s), float(window_s), transform
        most_sources = max(r.num_sources for r in self.records)
        self.max_sources = most_sources if max_sources is None else int(max_sources)
        self.index: list[tuple[int, int, int]] = [
            (k, i, j) for k, record in enumerate(self.records)
            for i, j in pair_frame_indices(record.frame_times_s, self.gap_s, stride)]
        if not self.index:
            raise UserInputError(f'no frame pairs {gap_s} s apart in {len(self.records)} scene(s): '
                                 'the scenes are shorter than the gap')

    def __len__(self) -> int:
        """Number of frame pairs."""
        return len(self.index)

    def __getitem__(self, index: int) -> Item:
        """The item for pair `index` (dict described in the module docstring)."""
        k, i, j = self.index[index]
        record = self.records[k]
        t_a, t_b = record.frame_times_s[i], record.frame_times_s[j]
        item = make_pair_item(
            image_a=record.frame(i), image_b=record.frame(j),
            audio_a=record.audio_window(t_a, self.window_s), audio_b=record.audio_window(t_b, self.window_s),
            T_world_a=record.T_world_cam[i], T_world_b=record.T_world_cam[j],
            azimuths_a_deg=record.source_azimuths_deg(t_a), azimuths_b_deg=record.source_azimuths_deg(t_b),
            max_sources=self.max_sources, scene_id=self.scene_ids[k], t_a=t_a, t_b=t_b, frame_a=i, frame_b=j)
        return self.transform(item) if self.transform is not None else item


def _unit_hash(name: str, seed: int) -> float:
    """A number in [0, 1) fixed by (name, seed): the first 8 bytes of SHA-256."""
    digest = hashlib.sha256(f'{seed}:{name}'.encode()).digest()
    return int.from_bytes(digest[:8], 'big') / 2.0 ** 64


def split_scenes(scene_dirs: Iterable[str | Path], fractions: Sequence[float] = (0.8, 0.1, 0.1),
                 seed: int = 0) -> tuple[list[Path], list[Path], list[Path]]:
    """Split scenes into (train, val, test) by a hash of each folder name and `seed`.

    Each scene's split depends only on its own name and the seed, so adding scenes never moves the
    others; the fractions hold in expectation. Each list is sorted.
    """
    fractions = [float(f) for f in fractions]
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise UserInputError(f'fractions must be three non-negative numbers summing to 1, got {fractions}')
    edges = np.cumsum(fractions)[:2]
    splits: tuple[list[Path], list[Path], list[Path]] = ([], [], [])
    for directory in sorted(Path(d) for d in scene_dirs):
        splits[int(np.searchsorted(edges, _unit_hash(directory.name, seed), side='right'))].append(directory)
    return splits
