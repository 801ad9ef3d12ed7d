"""Stage `zone-net`: the learned reading of NormMUSIC zone spectra (`models.zone_net`), from ShoeboxAV scenes.

Items are audio windows of `data.window_s` centred on every `data.stride`-th frame of each scene (every
`data.val_stride`-th for validation), labelled with the array-frame azimuths of the point sources active at the
window centre (the scene's ground truth: this stage is supervised). Their network inputs are computed once, when
the dataset is built, by the same `zone_spectra` the DOA method runs. Augmentation: each item is turned by a
random symmetry of its array (the rotations and the mirror image across its x axis that map the microphones onto
themselves: 90° steps and the mirror for the ReSpeaker 4, 60° for the UMA-8), spectra and azimuths together.
Loss: binary cross-entropy per sector against `bump_targets`, positives weighted by `model.zone_net.pos_weight`.
Score: F1 of the peaks above `model.zone_net.threshold` against the active sources (one-to-one within
`MATCH_DEG`) on the validation windows.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from av_pose.audio.arrays import MicArray
from av_pose.errors import UserInputError
from av_pose.models.zone_net import MAX_SOURCES, SECTORS, ZoneNet, bump_targets, sector_peaks
from av_pose.train.stages import Stage

MATCH_DEG = 10.0
FEATURE_BATCH = 64
NET_KEYS = ('width', 'harmonics', 'onsets')
INPUTS = ('zones', 'whole', 'onset')


def network_inputs(batch: dict) -> dict[str, torch.Tensor]:
    """The entries of a batch that `ZoneNet.forward` takes."""
    return {name: batch[name] for name in INPUTS if name in batch}


def array_symmetries(array: MicArray, tolerance_m: float = 1e-4) -> list[tuple[int, bool]]:
    """(rotation in whole degrees, mirrored) pairs that map the microphones' x-y positions onto themselves.

    Mirrored means y → −y (azimuth θ → −θ), applied before the rotation. (0, False) is always first.
    """
    xy = np.asarray(array.positions_m, dtype=np.float64)[:, :2]  # M×2
    found = []
    for mirrored in (False, True):
        base = xy * ([1.0, -1.0] if mirrored else [1.0, 1.0])
        for degrees in range(360):
            c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
            moved = base @ np.array([[c, s], [-s, c]])
            distance = np.linalg.norm(moved[:, None] - xy[None], axis=-1).min(1)
            if distance.max() < tolerance_m:
                found.append((degrees, mirrored))
    return found


def apply_symmetry(inputs: dict[str, torch.Tensor], azimuths_deg: torch.Tensor, degrees: int,
                   mirrored: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Network inputs (name → …×360 sector tensors) and azimuths as heard by the array turned by (degrees, mirrored)."""
    if mirrored:  # sector i (centre i + 0.5°) ↔ sector 359 − i
        inputs, azimuths_deg = {k: v.flip(-1) for k, v in inputs.items()}, -azimuths_deg
    return {k: v.roll(degrees, -1) for k, v in inputs.items()}, torch.remainder(azimuths_deg + degrees, 360.0)


class ZoneWindows(Dataset):
    """{'zones': Z×2×360, 'whole': 2×360, ['onset': 2×360,] 'azimuths_deg': (8,) NaN-padded} for ShoeboxAV windows."""

    def __init__(self, entries: list[str], window_s: float, stride: int, zone_frames: int, onsets: bool, seed: int,
                 augment: bool, progress: bool = True, zone_sources: int | None = None) -> None:
        from av_pose.data.pairs import find_scene_dirs
        from av_pose.models.zone_net_doa import make_zone_estimator, zone_spectra
        from av_pose.scene.format import read_scene

        folders = [folder for entry in entries for folder in find_scene_dirs(entry)]
        if not folders:
            raise UserInputError(f'zone-net: no scenes under {", ".join(map(str, entries))}')
        inputs: dict[str, list[torch.Tensor]] = {}
        truth, symmetries, self.groups = [], [], []
        estimators: dict[tuple, object] = {}
        group_of: dict[tuple, int] = {}
        for folder in tqdm(folders, desc='zone spectra', unit='scene', disable=not progress):
            record = read_scene(folder)
            array = record.array()
            key = (array.name, record.sample_rate)
            if key not in estimators:
                estimators[key] = make_zone_estimator(array, record.sample_rate, zone_frames, onsets,
                                                       zone_sources=zone_sources)
                group_of[key] = len(self.groups)
                self.groups.append(array_symmetries(array))
            centres = [t for t in record.frame_times_s[::stride]
                       if t - window_s / 2 >= 0 and t + window_s / 2 <= record.duration_s]
            points = record.point_source_indices()
            if len(points) > MAX_SOURCES:
                raise UserInputError(f'{folder}: zone-net trains on at most {MAX_SOURCES} point sources')
            for start in range(0, len(centres), FEATURE_BATCH):
                batch = np.stack([record.audio_window(t, window_s)[0] for t in centres[start:start + FEATURE_BATCH]])
                for name, values in zone_spectra(estimators[key], torch.as_tensor(batch)).items():
                    inputs.setdefault(name, []).append(values.half())
            azimuths = np.full((len(centres), MAX_SOURCES), np.nan, dtype=np.float32)
            azimuths[:, :len(points)] = np.stack([record.source_azimuths_deg(t)[points] for t in centres])
            truth.append(torch.as_tensor(azimuths))
            symmetries += [group_of[key]] * len(centres)
        for estimator in estimators.values():
            estimator.release()
        self.inputs = {name: torch.cat(values) for name, values in inputs.items()}
        self.truth = torch.cat(truth)
        self.symmetry = np.asarray(symmetries)
        self.seed, self.augment = seed, augment

    def __len__(self) -> int:
        return len(self.truth)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (-1, key)
        inputs, azimuths = {k: v[index].float() for k, v in self.inputs.items()}, self.truth[index]
        if self.augment:
            group = self.groups[self.symmetry[index]]
            degrees, mirrored = group[np.random.default_rng([self.seed, epoch + 1, index]).integers(len(group))]
            inputs, azimuths = apply_symmetry(inputs, azimuths, degrees, mirrored)
        return {**inputs, 'azimuths_deg': azimuths}


def peak_match_counts(probability: np.ndarray, azimuths_deg: np.ndarray, threshold: float) -> tuple[int, int, int]:
    """(matched, reported peaks, active sources) of B×360 probabilities against B×S azimuths (NaN inactive).

    A peak matches one source within `MATCH_DEG`, one-to-one (`eval.track_score.matched_sources`).
    """
    from av_pose.eval.track_score import matched_sources

    found, _ = sector_peaks(probability, MAX_SOURCES, threshold)
    matched = sum(matched_sources(row_found, row_truth[np.isfinite(row_truth)], MATCH_DEG)
                  for row_found, row_truth in zip(found, azimuths_deg))
    return matched, int(np.isfinite(found).sum()), int(np.isfinite(azimuths_deg).sum())


class ZoneNetStage(Stage):
    """Supervised training of `ZoneNet` (module docstring)."""

    pos_weight = 5.0  # set from the config by `build`

    def build(self, config: dict) -> nn.Module:
        """See `Stage.build`."""
        options = config['model']['zone_net']
        self.pos_weight = float(options['pos_weight'])
        return ZoneNet(**{k: options[k] for k in NET_KEYS})

    def datasets(self, config: dict) -> tuple[Dataset | None, Dataset | None]:
        """See `Stage.datasets`."""
        data, options = config['data'], config['model']['zone_net']
        if not data['train'] or not data['val']:
            raise UserInputError('data.train and data.val: give folders of ShoeboxAV scenes for the zone-net stage')
        common = dict(window_s=data['window_s'], zone_frames=options['zone_frames'], onsets=options['onsets'],
                      zone_sources=options['zone_sources'], seed=int(config['seed']), progress=self.progress)
        return (ZoneWindows(data['train'], stride=data['stride'], augment=True, **common),
                ZoneWindows(data['val'], stride=data['val_stride'], augment=False, **common))

    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """See `Stage.loss`."""
        target = torch.as_tensor(bump_targets(batch['azimuths_deg'].cpu().numpy()), dtype=torch.float32,
                                 device=batch['zones'].device)
        pos_weight = torch.tensor(float(self.pos_weight), device=target.device)
        logits = model(**network_inputs(batch))
        return functional.binary_cross_entropy_with_logits(logits.float(), target, pos_weight=pos_weight), {}

    @torch.no_grad()
    def validate(self, model: nn.Module, val_set: Dataset, config: dict, dist) -> dict[str, float]:
        """See `Stage.validate`."""
        model.eval()
        counts = np.zeros(3)
        for batch in DataLoader(val_set, batch_size=config['optim']['batch_size']):
            batch = self.to_device(batch, dist.device)
            probability = torch.sigmoid(model(**network_inputs(batch)).float()).cpu().numpy()
            counts += peak_match_counts(probability, batch['azimuths_deg'].cpu().numpy(),
                                        config['model']['zone_net']['threshold'])
        model.train()
        matched, reported, active = (float(count) for count in counts)
        precision, recall = matched / max(reported, 1.0), matched / max(active, 1.0)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        return {'precision': precision, 'recall': recall, 'f1': f1, 'score': f1}

    def export(self, model: nn.Module, config: dict) -> dict:
        """See `Stage.export`."""
        options = config['model']['zone_net']
        return {'kind': 'zone-net', **model.config, 'zone_frames': int(options['zone_frames']),
                'zone_sources': options['zone_sources'], 'window_s': float(config['data']['window_s']),
                'sectors': SECTORS}
