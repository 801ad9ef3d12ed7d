"""A dataset transform that adds the spatial audio encoder's inputs to frame-pair items.

Items from `FramePairDataset` (or any reader with the same format) gain, from their `audio_a` / `audio_b` windows:

- `doa_a`, `doa_b`: 360 float32, NormMUSIC spectrum in the camera heading frame (see
  `av_pose.models.audio_encoder.AudioFeaturizer`), so scenes with different arrays and mounts collate;
- `binaural_a`, `binaural_b`: 2×M float32 at the featurizer's `binaural_rate` (M = 16000 for 1 s at 16 kHz);
- `audio_ok`: bool, both windows usable (finite, not all zero, coverage ≥ 0.5; `audio_encoder.usable`).

Each scene's array, sample rate and mount come from its record (`dataset.records`, matched through
`dataset.scene_ids` to the item's `scene_id`).
The raw windows `audio_a` / `audio_b` (C×N, different per array and rate) are removed unless `keep_audio` is set,
so that the default collate batches scenes of different arrays; keep them only when all scenes share an array.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from av_pose.audio.binaural import Hrtf
from av_pose.models.audio_encoder import AudioFeaturizer, usable

Item = dict
Transform = Callable[[Item], Item]


class SceneFeaturizers:
    """scene_id → the `AudioFeaturizer` of that scene's array, sample rate and mount.

    Featurizers are built on first use (so inside each DataLoader worker) and shared by scenes with the same
    array geometry, rate and `T_cam_array`.

    Args:
        records: scene_id → record with `mic_array`, `sample_rate` and `T_cam_array`
            (`dict(zip(dataset.scene_ids, dataset.records))`).
        device, hrtf, binaural_rate: passed to every `AudioFeaturizer` (CPU for DataLoader workers).
    """

    def __init__(self, records: Mapping, *, device: str = 'cpu', hrtf: Hrtf | None = None,
                 binaural_rate: int = 16000) -> None:
        self.records = dict(records)
        self.device, self.hrtf, self.binaural_rate = device, hrtf, int(binaural_rate)
        self._built: dict[tuple, AudioFeaturizer] = {}

    def __call__(self, scene_id: str) -> AudioFeaturizer:
        """The featurizer for the scene named `scene_id` (KeyError if the scene is unknown)."""
        record = self.records[scene_id]
        T_cam_array = np.asarray(record.T_cam_array, dtype=np.float64)
        key = (record.mic_array.kind, record.mic_array.positions_m.tobytes(), int(record.sample_rate),
               T_cam_array.round(9).tobytes())
        if key not in self._built:
            self._built[key] = AudioFeaturizer(record.sample_rate, record.mic_array, T_cam_array, device=self.device,
                                               hrtf=self.hrtf, binaural_rate=self.binaural_rate)
        return self._built[key]


class AddAudioFeatures:
    """Item transform: `inner` first (e.g. audio gain/noise, image corruptions), then the audio features.

    Args:
        featurizer_for_scene: scene_id → AudioFeaturizer (e.g. `SceneFeaturizers(...)`).
        inner: an earlier transform, or None.
        keep_audio: keep the raw `audio_a` / `audio_b` windows (they only collate when all scenes share an array
            and a sample rate).
    """

    def __init__(self, featurizer_for_scene: Callable[[str], AudioFeaturizer], inner: Transform | None = None,
                 keep_audio: bool = False):
        self.featurizer_for_scene, self.inner, self.keep_audio = featurizer_for_scene, inner, bool(keep_audio)

    def __call__(self, item: Item) -> Item:
        """Add doa_a, doa_b, binaural_a, binaural_b and audio_ok to `item` (one batched featurization of both)."""
        if self.inner is not None:
            item = self.inner(item)
        audio = torch.stack([torch.as_tensor(item['audio_a']), torch.as_tensor(item['audio_b'])])
        features = self.featurizer_for_scene(item['scene_id']).featurize(audio)
        ok = usable(audio, [item['coverage_a'], item['coverage_b']])
        doa, binaural = features.doa.cpu(), features.binaural.cpu()
        item.update(doa_a=doa[0], doa_b=doa[1], binaural_a=binaural[0], binaural_b=binaural[1],
                    audio_ok=bool(ok.all()))
        if not self.keep_audio:
            del item['audio_a'], item['audio_b']
        return item


def add_audio_features(dataset, *, device: str = 'cpu', hrtf: Hrtf | None = None, binaural_rate: int = 16000,
                       keep_audio: bool = False):
    """Make `dataset` (a FramePairDataset) yield audio features; returns the dataset.

    Its transform becomes `AddAudioFeatures` around the existing one (which runs first); `device`, `hrtf` and
    `binaural_rate` go to every featurizer, `keep_audio` to the transform.
    """
    featurizers = SceneFeaturizers(dict(zip(dataset.scene_ids, dataset.records)), device=device, hrtf=hrtf,
                                   binaural_rate=binaural_rate)
    dataset.transform = AddAudioFeatures(featurizers, inner=dataset.transform, keep_audio=keep_audio)
    return dataset
