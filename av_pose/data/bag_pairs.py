"""Frame pairs from your own robot's rosbag2 recordings, for fine-tuning: `BagPairDataset`.

A bag with images, camera info, audio and ground-truth /tf (world → camera, e.g. from motion capture or a
map-based localiser; as `av-pose scene-to-bag` writes them) reads as frame pairs `gap_s` apart in the item
format of `av_pose.data.pairs` (`make_pair_item`), so it mixes with `FramePairDataset` of ShoeboxAV scenes.
Bags carry no source positions: `azimuths_a_deg` / `azimuths_b_deg` are NaN (length `max_sources`).
Times `t_a`, `t_b` are seconds from the bag's first audio sample; `scene_id` is the bag's name (with its parent
folder's when two bags share a name). `records` / `scene_ids` mirror `FramePairDataset`'s.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from av_pose.bag.reader import BagReadOptions, BagRecording, read_bag
from av_pose.data.pairs import Item, Transform, make_pair_item, pair_frame_indices, unique_scene_ids
from av_pose.errors import UserInputError


class BagPairDataset(Dataset):
    """Frame pairs from rosbag2 recordings with ground truth (see the module docstring).

    Args:
        bags: one bag path (folder, .mcap or .db3) or a list of them.
        gap_s: time between the two frames (s), snapped to the frame times.
        window_s: audio window centred on each frame (s).
        stride: every `stride`-th frame starts a pair.
        max_sources: length of the (NaN) azimuth vectors, to match the scenes it is mixed with.
        options: topics, frames and the array (`BagReadOptions`; defaults as scene-to-bag writes).
        transform: optional hook applied to each finished item.

    Raises:
        UserInputError: a bag without ground-truth /tf, or no pairs `gap_s` apart.
    """

    def __init__(self, bags: str | Path | Sequence[str | Path], gap_s: float = 1.0, window_s: float = 1.0,
                 stride: int = 1, max_sources: int = 1, options: BagReadOptions | None = None,
                 transform: Transform | None = None) -> None:
        if gap_s <= 0 or window_s <= 0 or max_sources < 0:
            raise UserInputError(f'gap_s and window_s must be positive and max_sources >= 0, got {gap_s}, '
                                 f'{window_s}, {max_sources}')
        paths = [bags] if isinstance(bags, (str, Path)) else list(bags)
        self.recordings: list[BagRecording] = [read_bag(p, options) for p in paths]
        for recording in self.recordings:
            if recording.T_world_cam is None:
                raise UserInputError(f'{recording.path}: no ground-truth /tf (world → camera); training needs it')
        self.records = self.recordings
        self.scene_ids = unique_scene_ids(self.recordings)
        self.gap_s, self.window_s, self.max_sources, self.transform = float(gap_s), float(window_s), \
            int(max_sources), transform
        self.index = [(k, i, j) for k, recording in enumerate(self.recordings)
                      for i, j in pair_frame_indices(recording.frame_times_s, self.gap_s, stride)]
        if not self.index:
            raise UserInputError(f'no frame pairs {gap_s} s apart in {len(self.recordings)} bag(s)')

    def __len__(self) -> int:
        """Number of frame pairs."""
        return len(self.index)

    def __getitem__(self, index: int) -> Item:
        """The item for pair `index` (the `av_pose.data.pairs` format)."""
        k, i, j = self.index[index]
        recording = self.recordings[k]
        t_a, t_b = float(recording.frame_times_s[i]), float(recording.frame_times_s[j])
        unknown = np.full(0, np.nan)
        item = make_pair_item(
            image_a=recording.frame(i), image_b=recording.frame(j),
            audio_a=recording.audio_window(t_a, self.window_s), audio_b=recording.audio_window(t_b, self.window_s),
            T_world_a=recording.T_world_cam[i], T_world_b=recording.T_world_cam[j],
            azimuths_a_deg=unknown, azimuths_b_deg=unknown, max_sources=self.max_sources,
            scene_id=self.scene_ids[k], t_a=t_a, t_b=t_b, frame_a=i, frame_b=j)
        return self.transform(item) if self.transform is not None else item
