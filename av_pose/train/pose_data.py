"""Frame pairs ready for the pose networks: prepared images, DOA and binaural features, and augmentation.

`PoseTrainingSet` reads ShoeboxAV scene folders (`data.pairs.FramePairDataset`) and rosbag2 recordings with
ground-truth /tf (`data.bag_pairs.BagPairDataset`: your own robot's data), mixed freely. Each item gets:
- `image_a`, `image_b`: 3×h×w in [−1, 1] at the network's resolution (Reloc3r's preprocessing);
- `doa_a`, `doa_b` (360, camera-heading frame) and `binaural_a`, `binaural_b` (2×M at `binaural_rate`) from
  `models.audio_encoder.AudioFeaturizer` built for the item's own array and mount, so batches mix arrays;
- `audio_ok` (bool): both windows usable (finite, not silent, ≥ half covered) and not dropped by augmentation;
- `T_a_b`, `T_b_a` (4×4), plus `sound_change` (bool: a source starts or stops between the windows).
Training keys are (epoch, index): augmentation draws from a generator seeded by (seed, epoch, index) —
colour jitter on both images, one gain (±`audio_gain_db`) and sensor noise (`audio_noise_db` below the
window's RMS) on both windows, and audio dropout (the vision-only path) with probability `audio_dropout`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from av_pose.data.audio_features import AddAudioFeatures, SceneFeaturizers
from av_pose.data.pairs import FramePairDataset, find_scene_dirs
from av_pose.models.reloc3r_inference import prepare_images
from av_pose.scene.format import SceneRecord
from av_pose.vision.corruptions import apply_corruption, sample_corruption


def is_bag(entry: str | Path) -> bool:
    """A rosbag2 recording: an .mcap / .db3 file or a folder with metadata.yaml (not a scene folder)."""
    path = Path(entry)
    return path.suffix in ('.mcap', '.db3') or (path / 'metadata.yaml').is_file()


def jitter_image(image: torch.Tensor, strength: float, rng: np.random.Generator) -> torch.Tensor:
    """Colour jitter (brightness, contrast, saturation, hue) of a 3×H×W [0, 1] image, severity ~ U(0, strength)."""
    if strength <= 0:
        return image
    params = sample_corruption('jitter', rng, severity=float(rng.uniform(0.0, strength)))
    jittered = apply_corruption(image.permute(1, 2, 0).numpy().astype(np.float64), params, rng)
    return torch.from_numpy(np.clip(jittered, 0.0, 1.0).astype(np.float32)).permute(2, 0, 1)


def augment_audio(audio_a: torch.Tensor, audio_b: torch.Tensor, gain_db: float, noise_db: float,
                  rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One random gain on both C×N windows (their level difference is a cue) and independent sensor noise."""
    gain = 10.0 ** (rng.uniform(-gain_db, gain_db) / 20.0) if gain_db > 0 else 1.0
    out = []
    for audio in (audio_a, audio_b):
        audio = audio * gain
        rms = float(audio.square().mean().sqrt())
        if noise_db is not None and rms > 0:
            noise = rng.standard_normal(audio.shape).astype(np.float32) * rms * 10.0 ** (noise_db / 20.0)
            audio = audio + torch.from_numpy(noise)
        out.append(audio)
    return out[0], out[1]


class PoseTrainingSet(Dataset):
    """Items for the pose networks (module docstring).

    Args:
        scenes: scene folders or folders of scenes (ShoeboxAV format), mixed freely.
        gaps_s: frame gaps; one FramePairDataset per gap, concatenated.
        img_size, patch_size: the network's Reloc3r preprocessing (img_size 0: no images, audio-only models).
        augment: the `augment` config section, or None (validation).
        seed: augmentation seed.
        with_audio: compute audio features (False for vision-only models saves the DOA work).
    """

    def __init__(self, scenes: Sequence[str], gaps_s: Sequence[float], window_s: float, stride: int,
                 img_size: int, patch_size: int, augment: dict | None, seed: int, binaural_rate: int,
                 with_audio: bool = True):
        bags = [Path(entry) for entry in scenes if is_bag(entry)]
        folders = [folder for entry in scenes if not is_bag(entry) for folder in find_scene_dirs(entry)]
        self.parts: list[Dataset] = []
        for gap in gaps_s:
            if folders:
                self.parts.append(FramePairDataset(folders, gap_s=gap, window_s=window_s, stride=stride))
            if bags:
                from av_pose.data.bag_pairs import BagPairDataset

                self.parts.append(BagPairDataset(bags, gap_s=gap, window_s=window_s, stride=stride))
        self.pairs = ConcatDataset(self.parts)
        self.img_size, self.patch_size = img_size, patch_size
        self.augment, self.seed = augment, seed
        self.binaural_rate, self.with_audio, self.window_s = binaural_rate, with_audio, window_s
        self.records = {scene_id: record for part in self.parts
                        for scene_id, record in zip(part.scene_ids, part.records)}
        self.add_features = AddAudioFeatures(SceneFeaturizers(self.records, binaural_rate=binaural_rate))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (-1, key)
        item = self.pairs[index]
        rng = np.random.default_rng([self.seed, epoch + 1, index]) if self.augment is not None else None
        out = {'T_a_b': item['T_a_b'], 'T_b_a': item['T_b_a'], 'index': index}
        if self.img_size:
            images = [item['image_a'], item['image_b']]
            if rng is not None:
                images = [jitter_image(image, self.augment['color_jitter'], rng) for image in images]
            prepared = prepare_images(torch.stack(images), self.img_size, self.patch_size)
            out['image_a'], out['image_b'] = prepared.images[0], prepared.images[1]
        if self.with_audio:
            out.update(self.audio_features(item, rng))
        return out

    def audio_features(self, item: dict, rng: np.random.Generator | None) -> dict:
        """doa_a/b, binaural_a/b, audio_ok and sound_change for one item (augmented when `rng` is given)."""
        from av_pose.scene.activity import sound_changes

        item = dict(item)
        if rng is not None:
            item['audio_a'], item['audio_b'] = augment_audio(item['audio_a'], item['audio_b'],
                                                             self.augment['audio_gain_db'],
                                                             self.augment['audio_noise_db'], rng)
        item = self.add_features(item)
        ok = item['audio_ok'] and (rng is None or rng.random() >= self.augment['audio_dropout'])
        record = self.records[item['scene_id']]
        change = sound_changes(record, item['t_a'], item['t_b'], self.window_s) if isinstance(record, SceneRecord) \
            else False  # bags carry no source activity
        return {'doa_a': item['doa_a'], 'doa_b': item['doa_b'], 'binaural_a': item['binaural_a'],
                'binaural_b': item['binaural_b'], 'audio_ok': torch.tensor(ok),
                'sound_change': torch.tensor(change)}
