"""Two-view items for SLfM: images and binaural windows of views s and t, with or without labels.

Sources: ShoeboxAV scene folders (`data.pairs.FramePairDataset`; rotation-only scenes, `av-pose synth
--rotation-only`) and HM3D-SS pairs (`data.hm3d_ss.HM3DSSPairDataset`), or any dataset of items in the common
pair format (`data.pairs`). Two-channel arrays are used directly (channel 0 = left); other arrays go through the
HRTF binauraliser (`audio.binaural.multichannel_to_binaural`, a head facing the array's +x): that render holds
no direction for a symmetric HRTF (L = R), so learn azimuth from two-channel arrays.

Self-supervised items (`labelled=False`) hold exactly `SELF_SUPERVISED_KEYS`:
- `image_s`, `image_t`: 3×H×W float32 in [0, 1], resized to `image_size` (W, H);
- `K`: 3×3 float32 pinhole intrinsics of those resized images (pixels), the camera's calibration, not a label;
  NaN where unknown (HM3D-SS);
- `audio_s`, `audio_t`: 2×M float32 binaural windows at 16 kHz (`models.slfm.featurize_binaural`), `window_s`
  long and centred on each frame (SLfM used 2.55 s static clips; a rotating rig blurs longer windows, so 1 s).
Labelled items add (`LABEL_KEYS`) `azimuth_s_deg`, `azimuth_t_deg`: the first active source's azimuth in each
view's array frame (REP-103, degrees (−180, 180], NaN when no source sounds), and `rotation_deg`: the yaw φ of
view t's array frame in view s's (counter-clockwise positive), so a static source has θ_t = θ_s − φ.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional
from torch.utils.data import ConcatDataset, Dataset

from av_pose.audio.binaural import SphericalHeadHrtf, multichannel_to_binaural
from av_pose.errors import UserInputError
from av_pose.metrics.azimuth import wrap_signed_deg
from av_pose.models.slfm import SLFM_RATE, featurize_binaural
from av_pose.pose.yaw import yaw_in_array_deg

SELF_SUPERVISED_KEYS = ('image_s', 'image_t', 'K', 'audio_s', 'audio_t')
LABEL_KEYS = ('azimuth_s_deg', 'azimuth_t_deg', 'rotation_deg')
HM3D_PREFIX = 'hm3d-ss:'
"""A data entry `hm3d-ss:ROOT` reads HM3D-SS pairs (views 0 and 1, synthetic speech/music as dry sounds)."""


def first_active_deg(azimuths_deg: torch.Tensor) -> float:
    """The first finite azimuth of a NaN-padded vector, wrapped to (−180, 180]; NaN if none."""
    values = azimuths_deg.numpy()
    finite = values[np.isfinite(values)]
    return float(wrap_signed_deg(finite[0])) if finite.size else float('nan')


class _ToBinaural:
    """A view's C×N window at the array's rate → 2×M at 16 kHz."""

    def __init__(self, num_channels: int, sample_rate: int):
        self.num_channels, self.sample_rate = int(num_channels), int(sample_rate)
        self.hrtf = SphericalHeadHrtf(SLFM_RATE) if self.num_channels != 2 else None

    def __call__(self, audio: torch.Tensor) -> torch.Tensor:
        if self.hrtf is None:
            return featurize_binaural(audio, self.sample_rate)[0]
        mono_rate = featurize_binaural(torch.stack([audio.mean(0)] * 2), self.sample_rate)[0, :1]
        return torch.from_numpy(multichannel_to_binaural(mono_rate.numpy(), self.hrtf, 0.0))


def hm3d_ss_pairs(root: str | Path, window_s: float, seed: int = 0) -> Dataset:
    """HM3D-SS pairs (views 0, 1) heard with synthetic dry sounds (`scene.signals`), one draw per pair."""
    from av_pose.data.hm3d_ss import HM3DSSPairDataset
    from av_pose.scene.signals import make_signal

    def mono(index: int, count: int) -> list[np.ndarray]:
        rng = np.random.default_rng([seed, index])
        return [make_signal(str(rng.choice(['speech', 'music'])), window_s + 0.5, SLFM_RATE, rng)
                for _ in range(count)]

    return HM3DSSPairDataset(root, mono, window_s=window_s, window_start_s=0.25)


class SlfmPairs(Dataset):
    """SLfM items (module docstring) from common-format pair datasets.

    Args:
        pairs: common-format pair datasets (each item has image_a/b, audio_a/b, T_a_b, azimuths_a/b_deg).
        arrays: per dataset, (number of channels, sample rate) of its audio.
        mounts: per dataset, a function scene_id → T_cam_array (4×4).
        cameras: per dataset, a function scene_id → (K 3×3, (W, H)) of its images as stored, or None where the
            intrinsics are unknown (default: unknown everywhere).
        image_size: (W, H) of the returned images.
        labelled: add `LABEL_KEYS` (supervised training and evaluation only).
        seed: with `random_direction`, which view is s is drawn per (epoch, index) from this seed.
        random_direction: swap the two views of an item with probability 1/2.
    """

    def __init__(self, pairs: Sequence[Dataset], arrays: Sequence[tuple[int, int]], mounts: Sequence,
                 image_size: tuple[int, int], labelled: bool = False, seed: int = 0, random_direction: bool = False,
                 cameras: Sequence | None = None):
        if not pairs:
            raise UserInputError('SLfM: no pair datasets given')
        self.pairs = ConcatDataset(list(pairs))
        self.converters = [_ToBinaural(*array) for array in arrays]
        self.mounts = list(mounts)
        self.cameras = list(cameras) if cameras is not None else [None] * len(self.mounts)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.labelled, self.seed, self.random_direction = bool(labelled), int(seed), bool(random_direction)

    def __len__(self) -> int:
        return len(self.pairs)

    def _image(self, image: torch.Tensor) -> torch.Tensor:
        width, height = self.image_size
        if image.shape[-2:] == (height, width):
            return image
        return functional.interpolate(image[None], size=(height, width), mode='bilinear', align_corners=False)[0]

    def _intrinsics(self, part: int, scene_id: str) -> torch.Tensor:
        """K of the resized images (pixel centres map as `_image`'s resize maps them), NaN where unknown."""
        camera = self.cameras[part]
        if camera is None:
            return torch.full((3, 3), float('nan'))
        K, (width, height) = camera(scene_id)
        scale = np.diag([self.image_size[0] / width, self.image_size[1] / height, 1.0])
        shift = np.array([[0.0, 0.0, 0.5 * (scale[0, 0] - 1.0)], [0.0, 0.0, 0.5 * (scale[1, 1] - 1.0)], [0, 0, 0]])
        return torch.from_numpy((scale + shift) @ np.asarray(K, dtype=np.float64)).float()

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, index = key if isinstance(key, tuple) else (-1, key)
        part = int(np.searchsorted(self.pairs.cumulative_sizes, index, side='right'))
        item = self.pairs[index]
        convert = self.converters[part]
        views = ['a', 'b']
        if self.random_direction and np.random.default_rng([self.seed, epoch + 1, index]).random() < 0.5:
            views.reverse()
        s, t = views
        out = {'image_s': self._image(item[f'image_{s}']), 'image_t': self._image(item[f'image_{t}']),
               'K': self._intrinsics(part, item['scene_id']),
               'audio_s': convert(item[f'audio_{s}']), 'audio_t': convert(item[f'audio_{t}'])}
        if self.labelled:
            T_s_t = item['T_a_b'] if s == 'a' else item['T_b_a']
            out['azimuth_s_deg'] = torch.tensor(first_active_deg(item[f'azimuths_{s}_deg']), dtype=torch.float32)
            out['azimuth_t_deg'] = torch.tensor(first_active_deg(item[f'azimuths_{t}_deg']), dtype=torch.float32)
            yaw = yaw_in_array_deg(T_s_t.numpy()[:3, :3], self.mounts[part](item['scene_id']))
            out['rotation_deg'] = torch.tensor(yaw, dtype=torch.float32)
        return out


def build_slfm_pairs(entries: Sequence[str], gaps_s: Sequence[float], window_s: float, stride: int,
                     image_size: tuple[int, int], labelled: bool = False, seed: int = 0,
                     random_direction: bool = False) -> SlfmPairs:
    """`SlfmPairs` over data entries: ShoeboxAV scene folders (or folders of them) and `hm3d-ss:ROOT` entries.

    One `FramePairDataset` per frame gap in `gaps_s` (seconds) for the scene folders; HM3D-SS pairs once.
    """
    from av_pose.data.pairs import FramePairDataset, find_scene_dirs

    folders = [folder for entry in entries if not str(entry).startswith(HM3D_PREFIX)
               for folder in find_scene_dirs(entry)]
    pairs, arrays, mounts, cameras = [], [], [], []
    for gap in gaps_s:
        if folders:
            frames = FramePairDataset(folders, gap_s=gap, window_s=window_s, stride=stride)
            channels = {record.mic_array.num_channels for record in frames.records}
            rates = {int(record.sample_rate) for record in frames.records}
            if len(channels) != 1 or len(rates) != 1:
                raise UserInputError('SLfM: put scenes of different arrays or sample rates in separate folders')
            by_id = dict(zip(frames.scene_ids, (record.T_cam_array for record in frames.records)))
            camera_by_id = dict(zip(frames.scene_ids, ((record.K, record.image_size) for record in frames.records)))
            pairs.append(frames)
            arrays.append((channels.pop(), rates.pop()))
            mounts.append(by_id.__getitem__)
            cameras.append(camera_by_id.__getitem__)
    for entry in entries:
        if str(entry).startswith(HM3D_PREFIX):
            pairs.append(hm3d_ss_pairs(str(entry)[len(HM3D_PREFIX):], window_s, seed))
            arrays.append((2, SLFM_RATE))
            mounts.append(_hm3d_mount)
            cameras.append(None)  # not stored with the pairs
    return SlfmPairs(pairs, arrays, mounts, image_size, labelled=labelled, seed=seed,
                     random_direction=random_direction, cameras=cameras)



HM3D_SENSOR_PITCH_DEG = -22.5
"""SLfM's HM3D-SS camera looks 22.5° down from a level head (sensor_pitch −π/8); its azimuths are the head's."""


def _hm3d_mount(_scene_id: str) -> np.ndarray:
    """T_cam_array of HM3D-SS: the level binaural head (heading = the camera's) in the pitched camera's frame."""
    from av_pose.geometry import array_mount

    return array_mount(rpy_deg=(0.0, HM3D_SENSOR_PITCH_DEG, 0.0))
