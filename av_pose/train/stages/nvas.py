"""Stage `nvas`: pretrain the binaural encoder by novel-view acoustic synthesis (`models.nvas`).

Pairs of ShoeboxAV views (the pose stage's frame pairs) become NVAS examples through `head_following_views`:
each view's mono is rendered through the HRTF at the camera heading of the scene's first active source (ground
truth), so L − R carries direction; the U-Net hears the source view binaurally and predicts the target view's
L − R from its mono. Which view is the source is drawn per item (seeded by (seed, epoch, index)). Validation
score: minus the mean L1 loss on the validation pairs. `model.audio` (binaural_dim, resnet_width) sizes the
encoder as the pose model will use it; `model.nvas` sizes the U-Net. The pose stage loads the result with
`model.nvas_init=RUN/checkpoint-best.pt`.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from av_pose.data.audio_features import SceneFeaturizers
from av_pose.data.pairs import FramePairDataset, find_scene_dirs
from av_pose.errors import UserInputError
from av_pose.train.stages import Stage

U_NET_KEYS = ('base_channels', 'depth', 'mask_scale')
ENCODER_KEYS = ('binaural_dim', 'resnet_width', 'n_fft', 'win_length', 'hop_length')


def first_heading(azimuths_deg: torch.Tensor, T_cam_array: np.ndarray) -> float:
    """Camera heading (degrees) of the first active source (NaN-padded array-frame azimuths), NaN if none."""
    from av_pose.models.audio_encoder import camera_heading_deg

    active = azimuths_deg[torch.isfinite(azimuths_deg)]
    return float(camera_heading_deg(float(active[0]), T_cam_array)) if len(active) else float('nan')


class NvasPairs(Dataset):
    """{'source', 'target'}: 2×M head-following binaural windows of two views of one scene."""

    def __init__(self, scenes, gap_s: float, window_s: float, stride: int, seed: int, binaural_rate: int,
                 random_direction: bool):
        folders = [folder for entry in scenes for folder in find_scene_dirs(entry)]
        self.pairs = FramePairDataset(folders, gap_s=gap_s, window_s=window_s, stride=stride)
        self.records = dict(zip(self.pairs.scene_ids, self.pairs.records))
        self.featurizer = SceneFeaturizers(self.records, binaural_rate=binaural_rate)
        self.seed, self.random_direction = seed, random_direction

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        from av_pose.models.nvas import head_following_views

        epoch, index = key if isinstance(key, tuple) else (-1, key)
        item = self.pairs[index]
        record = self.records[item['scene_id']]
        views = [(item['audio_a'], first_heading(item['azimuths_a_deg'], record.T_cam_array)),
                 (item['audio_b'], first_heading(item['azimuths_b_deg'], record.T_cam_array))]
        if self.random_direction and np.random.default_rng([self.seed, epoch + 1, index]).random() < 0.5:
            views.reverse()
        (source, heading_source), (target, heading_target) = views
        rendered = head_following_views(self.featurizer(item['scene_id']), source[None], target[None],
                                        [heading_source], [heading_target])
        return {'source': rendered['source'][0].cpu(), 'target': rendered['target'][0].cpu()}


class NvasStage(Stage):
    """NVAS pretext training (module docstring)."""

    def build(self, config: dict) -> nn.Module:
        """See `Stage.build`."""
        from av_pose.models.nvas import NvasUNet

        audio, u_net = config['model']['audio'], config['model']['nvas']
        return NvasUNet(**{k: audio[k] for k in ENCODER_KEYS if k in audio},
                        **{k: u_net[k] for k in U_NET_KEYS if k in u_net})

    def datasets(self, config: dict) -> tuple[Dataset | None, Dataset | None]:
        """See `Stage.datasets`."""
        data = config['data']
        if not data['train'] or not data['val']:
            raise UserInputError('data.train and data.val: give folders of scenes for the NVAS stage')
        common = dict(gap_s=data['gap_s'], window_s=data['window_s'], seed=int(config['seed']),
                      binaural_rate=data['binaural_rate'])
        return (NvasPairs(data['train'], stride=data['stride'], random_direction=True, **common),
                NvasPairs(data['val'], stride=data['val_stride'], random_direction=False, **common))

    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """See `Stage.loss`."""
        from av_pose.models.nvas import nvas_step

        return nvas_step(model, batch), {}

    @torch.no_grad()
    def validate(self, model: nn.Module, val_set: Dataset, config: dict, dist) -> dict[str, float]:
        """See `Stage.validate`."""
        from av_pose.models.nvas import nvas_step

        model.eval()
        losses = [float(nvas_step(model, self.to_device(batch, dist.device))) * len(batch['source'])
                  for batch in DataLoader(val_set, batch_size=config['optim']['batch_size'])]
        model.train()
        loss = sum(losses) / len(val_set)
        return {'l1': loss, 'score': -loss}

    def export(self, model: nn.Module, config: dict) -> dict:
        """See `Stage.export`."""
        return {'kind': 'nvas', **model.config}
