"""Stages `binauralize`, `slfm` and `slfm-supervised`: SLfM's sound azimuth and camera rotation (`models.slfm`).

- `binauralize` (pretext, no labels): `CrossViewBinauralizer` predicts view t's L − R from its L + R, view s's
  binaural audio and both images. Score: minus the validation L1.
- `slfm` (no labels): `SlfmNet` trained with 5·geometric + 1·binaural (IID) + 1·symmetry; `init:
  RUN/checkpoint-best.pt` of a binauralize run loads its audio encoder and visual network (strictly);
  `model.slfm.side_cue` picks the binaural target (`models.slfm_losses.SIDE_CUES`): 'iid' (SLfM), 'itd' (the
  side from the time difference, for microphones without a head between) or 'itd-azimuth' (the soft target
  (sin θ + 1) / 2 of the azimuth a spherical head's time difference gives, which does not pull frontal sources
  out to ±90°); `model.slfm.side_loss` how the azimuth meets it ('bce', SLfM's cross-entropy, or 'cauchy', a
  robust loss on the folded azimuth with scale `side_scale_deg`, for the soft target: it settles on the cue's
  common reading instead of its mean);
  `model.slfm.visual_cue` adds what the images alone say of the rotation (`models.slfm_losses.VISUAL_CUES`): its
  sign from their phase correlation ('sign', or true), or also its size through the camera's intrinsics ('yaw').
  Score: minus the validation self-supervised loss (checkpoints are selected without labels); the labelled
  validation metrics (folded azimuth MAE, rotation MAE) are logged beside it.
- `slfm-supervised` (the upper bound): the audio network alone, regressed on the labelled azimuths with
  min over the front/back reflection of 1 − cos(θ̂ − θ). Score: minus the folded validation azimuth MAE.

Config: `model.slfm.{audio, visual, unet}` size the networks; `data.train` / `data.val` are ShoeboxAV scene
folders (rotation-only, two-channel arrays) or `hm3d-ss:ROOT` entries; `data.gaps_s` (or `gap_s`) the frame gaps,
`data.window_s` the audio window.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from av_pose.errors import UserInputError
from av_pose.train.stages import Stage


def _datasets(config: dict, labelled_train: bool, labelled_val: bool) -> tuple[Dataset, Dataset]:
    from av_pose.data.slfm_pairs import build_slfm_pairs

    data = config['data']
    if not data['train'] or not data['val']:
        raise UserInputError('data.train and data.val: give folders of rotation-only scenes for the SLfM stages')
    common = dict(gaps_s=data['gaps_s'] or [data['gap_s']], window_s=data['window_s'],
                  image_size=tuple(config['model']['slfm']['visual']['image_size']), seed=int(config['seed']))
    return (build_slfm_pairs(data['train'], stride=data['stride'], labelled=labelled_train, random_direction=True,
                             **common),
            build_slfm_pairs(data['val'], stride=data['val_stride'], labelled=labelled_val, **common))


def _slfm_keywords(config: dict) -> dict:
    slfm = config['model']['slfm']
    visual = dict(slfm['visual'])
    visual['image_size'] = tuple(visual['image_size'])
    return {'audio': dict(slfm['audio']), 'visual': visual}


def azimuth_metrics(predictions: dict[str, np.ndarray]) -> dict[str, float]:
    """Folded SLfM azimuth MAE over both views' labelled windows and, with φ, rotation MAE (degrees)."""
    from av_pose.metrics.azimuth import slfm_angle_error_deg

    pred = np.concatenate([predictions['theta_s_deg'], predictions['theta_t_deg']])
    true = np.concatenate([predictions['azimuth_s_deg'], predictions['azimuth_t_deg']])
    keep = np.isfinite(true)
    metrics = {'azimuth_mae_deg': float(np.mean(slfm_angle_error_deg(pred[keep], true[keep])))
               if keep.any() else float('nan')}
    if 'phi_deg' in predictions:
        metrics['rotation_mae_deg'] = float(np.mean(slfm_angle_error_deg(
            predictions['phi_deg'], predictions['rotation_deg'], fold=False)))
    return metrics


class BinauralizeStage(Stage):
    """Cross-view binauralisation pretext (module docstring)."""

    def build(self, config: dict) -> nn.Module:
        """See `Stage.build`."""
        from av_pose.models.slfm import CrossViewBinauralizer

        return CrossViewBinauralizer(**_slfm_keywords(config), unet=config['model']['slfm']['unet'])

    def datasets(self, config: dict) -> tuple[Dataset | None, Dataset | None]:
        """See `Stage.datasets`."""
        return _datasets(config, labelled_train=False, labelled_val=False)

    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """See `Stage.loss`."""
        return _bare(model).loss(batch), {}

    @torch.no_grad()
    def validate(self, model: nn.Module, val_set: Dataset, config: dict, dist) -> dict[str, float]:
        """See `Stage.validate`."""
        model.eval()
        total = sum(float(_bare(model).loss(self.to_device(batch, dist.device))) * len(batch['audio_s'])
                    for batch in DataLoader(val_set, batch_size=config['optim']['batch_size']))
        model.train()
        loss = total / len(val_set)
        return {'l1': loss, 'score': -loss}

    def export(self, model: nn.Module, config: dict) -> dict:
        """See `Stage.export`."""
        return {'kind': 'slfm-binauralize', **_bare(model).config}


class SlfmStage(Stage):
    """Self-supervised SLfM (module docstring)."""

    def build(self, config: dict) -> nn.Module:
        """See `Stage.build`."""
        from av_pose.models.slfm import SlfmNet
        from av_pose.models.slfm_losses import visual_cue_name

        slfm = config['model']['slfm']
        self.cues = {'side_cue': slfm['side_cue'], 'visual_cue': visual_cue_name(slfm['visual_cue']),
                     'side_loss': slfm['side_loss'], 'side_scale_deg': float(slfm['side_scale_deg'])}
        return SlfmNet(**_slfm_keywords(config))

    def initialise(self, model: nn.Module, path: str) -> None:
        """A binauralize checkpoint: its audio encoder and visual network, strictly; else a same-stage one."""
        payload = torch.load(path, map_location='cpu', weights_only=True)
        if payload.get('stage') != 'binauralize':
            model.load_state_dict(payload['model'])
            return
        from av_pose.models.slfm import CrossViewBinauralizer

        pretext = CrossViewBinauralizer(**{k: v for k, v in payload['build'].items() if k != 'kind'})
        pretext.load_state_dict(payload['model'])
        missing, unexpected = model.load_state_dict(pretext.encoder_state(), strict=False)
        fresh = ('audio.head.', 'audio.doa.', 'visual.angle.')  # what the pretext does not have
        wanted = [k for k in missing if not k.startswith(fresh)]
        if unexpected or wanted:
            raise UserInputError(f'{path}: the binauralize networks do not match model.slfm '
                                 f'(unexpected {unexpected[:3]}, missing {wanted[:3]})')

    def datasets(self, config: dict) -> tuple[Dataset | None, Dataset | None]:
        """See `Stage.datasets`: unlabelled training items, labelled validation items."""
        return _datasets(config, labelled_train=False, labelled_val=True)

    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """See `Stage.loss`."""
        from av_pose.models.slfm_losses import slfm_losses

        return slfm_losses(_bare(model), batch, **self.cues)

    @torch.no_grad()
    def validate(self, model: nn.Module, val_set: Dataset, config: dict, dist) -> dict[str, float]:
        """See `Stage.validate`."""
        from av_pose.data.slfm_pairs import SELF_SUPERVISED_KEYS
        from av_pose.models.slfm import predict_batches
        from av_pose.models.slfm_losses import slfm_losses

        loader = DataLoader(val_set, batch_size=config['optim']['batch_size'])
        model.eval()
        total = sum(float(slfm_losses(_bare(model), self.to_device(
            {k: batch[k] for k in SELF_SUPERVISED_KEYS}, dist.device), **self.cues)[0])
            * len(batch['audio_s'])
            for batch in loader)
        loss = total / len(val_set)
        metrics = {'loss': loss, **azimuth_metrics(predict_batches(_bare(model), loader, dist.device))}
        model.train()
        return {**metrics, 'score': -loss}

    def export(self, model: nn.Module, config: dict) -> dict:
        """See `Stage.export`."""
        return {'kind': 'slfm', **_bare(model).config}


class SlfmSupervisedStage(SlfmStage):
    """Supervised azimuth upper bound (module docstring)."""

    def build(self, config: dict) -> nn.Module:
        """See `Stage.build`: the audio network only."""
        from av_pose.models.slfm import SlfmNet

        return SlfmNet(audio=_slfm_keywords(config)['audio'], visual=None)

    def datasets(self, config: dict) -> tuple[Dataset | None, Dataset | None]:
        """See `Stage.datasets`."""
        return _datasets(config, labelled_train=True, labelled_val=True)

    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """See `Stage.loss`."""
        from av_pose.models.slfm_losses import reflect

        audio = torch.cat([batch['audio_s'], batch['audio_t']])
        truth = torch.deg2rad(torch.cat([batch['azimuth_s_deg'], batch['azimuth_t_deg']]))
        keep = torch.isfinite(truth)
        theta = _bare(model).audio(audio)
        truth = torch.where(keep, truth, torch.zeros_like(truth))
        error = torch.minimum(1.0 - torch.cos(theta - truth), 1.0 - torch.cos(theta - reflect(truth)))
        loss = (error * keep).sum() / keep.sum().clamp_min(1)
        return loss, {'error_deg': math.degrees(math.acos(max(-1.0, 1.0 - float(loss.detach()))))}

    @torch.no_grad()
    def validate(self, model: nn.Module, val_set: Dataset, config: dict, dist) -> dict[str, float]:
        """See `Stage.validate`."""
        from av_pose.models.slfm import predict_batches

        loader = DataLoader(val_set, batch_size=config['optim']['batch_size'])
        metrics = azimuth_metrics(predict_batches(_bare(model), loader, dist.device))
        return {**metrics, 'score': -metrics['azimuth_mae_deg']}


def _bare(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
