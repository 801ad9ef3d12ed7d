"""Stage `pose`: any model of `models.av_pose.MODEL_KINDS` on frame pairs, with Reloc3r's loss both ways.

Loss (Reloc3r): geodesic rotation angle + angle between the predicted and true translation directions (radians),
for T_a_b and T_b_a, averaged over the batch. The angle of R_predᵀR_gt is computed as 2·asin(‖R_pred − R_gt‖_F
/ √8), equal to the geodesic angle with a gradient that stays finite at zero. Validation score: total AUC@20
(max of the two errors) on the validation pairs; for audio-only models, rotation AUC@20 (their translation
direction is near chance, as in the paper).

`init` (config) starts from a checkpoint: a vision-only checkpoint of this stage (or a Reloc3r state dict or
snapshot) for the audio-visual kinds, which then equal the vision model exactly at step 0; `model.nvas_init`
loads an NVAS stage checkpoint's binaural encoder into the spatial audio encoder.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import DataLoader, Dataset

from av_pose.errors import UserInputError
from av_pose.models.av_pose import ChancePose, RelativePoseNet, build_pose_model, model_inputs
from av_pose.models.reloc3r import reloc3r_keywords
from av_pose.train.pose_data import PoseTrainingSet
from av_pose.train.stages import Stage


def rotation_angle(R_pred: torch.Tensor, R_true: torch.Tensor) -> torch.Tensor:
    """Geodesic angle (radians) between B×3×3 rotations, via the chordal distance (finite gradient at 0)."""
    chord = ((R_pred - R_true).square().flatten(1).sum(dim=1) + 1e-12).sqrt() / math.sqrt(8.0)
    return 2.0 * torch.asin(chord.clamp(max=1.0))


def direction_angle(t_pred: torch.Tensor, t_true: torch.Tensor, min_norm: float = 1e-6) -> torch.Tensor:
    """Angle (radians) between B×3 translation directions; 0 (and no gradient) for short true translations.

    Below `min_norm` (metres for metric ground truth) the direction is not observable.

    Zero vectors never reach a norm's or acos's singular point, so the gradient stays finite (no NaN poisons a
    batch that holds a still camera).
    """
    moving = t_true.norm(dim=1) > min_norm
    safe_true = torch.where(moving[:, None], t_true, torch.ones_like(t_true))
    cosine = (functional.normalize(t_pred, dim=1, eps=1e-8) * functional.normalize(safe_true, dim=1)).sum(dim=1)
    return torch.acos(cosine.clamp(-1.0 + 1e-6, 1.0 - 1e-6)) * moving


def pose_loss(T_a_b: torch.Tensor, T_b_a: torch.Tensor, batch: dict,
              translation_weight: float = 1.0,
              min_translation_m: float = 1e-6) -> tuple[torch.Tensor, dict[str, float]]:
    """Reloc3r's loss summed over both directions, mean over the batch (module docstring).

    `translation_weight` scales the direction term (Reloc3r: 1); pairs whose true translation is shorter than
    `min_translation_m` have no direction term; angles in radians.
    """
    rotation = translation = 0.0
    for pred, true in ((T_a_b, batch['T_a_b']), (T_b_a, batch['T_b_a'])):
        rotation = rotation + rotation_angle(pred[:, :3, :3].float(), true[:, :3, :3].float()).mean()
        translation = translation + direction_angle(pred[:, :3, 3].float(), true[:, :3, 3].float(),
                                                    min_translation_m).mean()
    parts = {'rotation_deg': math.degrees(float(rotation.detach()) / 2),
             'translation_deg': math.degrees(float(translation.detach()) / 2)}
    return rotation + translation_weight * translation, parts


class PoseStage(Stage):
    """Relative pose for every model kind (module docstring)."""

    translation_weight: float = 1.0
    """Set from `loss.translation_weight` by `build`."""
    min_translation_m: float = 1e-6
    """Set from `loss.min_translation_m` by `build`."""

    def build(self, config: dict) -> nn.Module:
        """See `Stage.build`."""
        model = config['model']
        self.translation_weight = float(config['loss']['translation_weight'])
        self.min_translation_m = float(config['loss']['min_translation_m'])
        try:
            network = build_pose_model(model['kind'], reloc3r=model['reloc3r'], audio=model['audio'],
                                       reloc3r_overrides=model['reloc3r_overrides'],
                                       freeze_encoder=model['freeze_encoder'], embed_dim=model['embed_dim'],
                                       head_width=model['head_width'], doa_correlation=model['doa_correlation'])
        except (ValueError, TypeError) as err:
            raise UserInputError(f'model: {err}') from None
        if model['nvas_init']:
            if not hasattr(getattr(network, 'audio_encoder', None), 'binaural_encoder'):
                raise UserInputError(f'model.nvas_init: a {model["kind"]} model has no binaural encoder')
            load_nvas_encoder(network, model['nvas_init'])
        return network

    def initialise(self, model: nn.Module, path: str) -> None:
        """See `Stage.initialise`."""
        from av_pose.models.checkpoints import read_checkpoint

        checkpoint = read_checkpoint(path)
        state = checkpoint.state_dict
        if isinstance(model, RelativePoseNet) and model.vision is not None and any(
                k.startswith('vision.') for k in state):
            state = {k[len('vision.'):]: v for k, v in state.items() if k.startswith('vision.')}
        if isinstance(model, RelativePoseNet) and model.vision is not None:
            model.init_from_vision(state)
        else:
            model.load_state_dict(state)

    def datasets(self, config: dict) -> tuple[Dataset | None, Dataset | None]:
        """See `Stage.datasets`."""
        data, model = config['data'], config['model']
        needs_images, needs_audio = model_inputs(model['kind'])
        keywords = (reloc3r_keywords(model['reloc3r'], **model['reloc3r_overrides']) if needs_images
                    else {'img_size': 0, 'patch_size': 1})
        img_size, patch = keywords['img_size'], keywords['patch_size']
        gaps = data['gaps_s'] or [data['gap_s']]
        common = dict(gaps_s=gaps, window_s=data['window_s'], img_size=img_size, patch_size=patch,
                      seed=int(config['seed']), binaural_rate=data['binaural_rate'], with_audio=needs_audio)
        if not data['val']:
            raise UserInputError('data.val: give at least one folder of validation scenes')
        val = PoseTrainingSet(data['val'], stride=data['val_stride'], augment=None, **common)
        if model['kind'] == 'chance':
            return None, val
        if not data['train']:
            raise UserInputError('data.train: give at least one folder of training scenes')
        train = PoseTrainingSet(data['train'], stride=data['stride'], augment=config['augment'], **common)
        return train, val

    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """See `Stage.loss`."""
        T_a_b, T_b_a = model(batch)
        return pose_loss(T_a_b, T_b_a, batch, self.translation_weight, self.min_translation_m)

    @torch.no_grad()
    def predict(self, model: nn.Module, dataset: Dataset, batch_size: int,
                device: torch.device) -> dict[str, np.ndarray]:
        """T_a_b predictions, ground truth and flags over a dataset (N×4×4 float64 and N bools)."""
        model.eval()
        predictions, truths, changes = [], [], []
        for batch in DataLoader(dataset, batch_size=batch_size):
            batch = self.to_device(batch, device)
            T_a_b, _ = model(batch)
            predictions.append(T_a_b.double().cpu())
            truths.append(batch['T_a_b'].double().cpu())
            if 'sound_change' in batch:
                changes.append(batch['sound_change'].cpu())
        model.train()
        return {'T_pred': torch.cat(predictions).numpy(), 'T_true': torch.cat(truths).numpy(),
                'sound_change': torch.cat(changes).numpy() if changes else None}

    def validate(self, model: nn.Module, val_set: Dataset, config: dict, dist) -> dict[str, float]:
        """See `Stage.validate`."""
        from av_pose.metrics.pose import evaluate_pose_pairs

        if isinstance(model, ChancePose):
            truths = torch.stack([val_set[i]['T_a_b'] for i in range(len(val_set))])
            model.fit(truths)
        result = self.predict(model, val_set, config['optim']['batch_size'], dist.device)
        summary = evaluate_pose_pairs(result['T_pred'], result['T_true'])['summary']
        needs_images, _ = model_inputs(config['model']['kind'])
        metrics = {'rotation_auc20': summary['rotation']['auc@20'], 'total_auc20': summary['total']['auc@20'],
                   'rotation_median_deg': summary['rotation']['median_deg'],
                   'translation_median_deg': summary['translation']['median_deg']}
        metrics['score'] = metrics['total_auc20'] if needs_images else metrics['rotation_auc20']
        return metrics

    def export(self, model: nn.Module, config: dict) -> dict:
        """See `Stage.export`."""
        model_config = config['model']
        return {'kind': model_config['kind'], 'reloc3r': model_config['reloc3r'],
                'reloc3r_overrides': dict(model_config['reloc3r_overrides']), 'audio': model_config['audio'],
                'freeze_encoder': model_config['freeze_encoder'], 'embed_dim': model_config['embed_dim'],
                'head_width': model_config['head_width'], 'doa_correlation': model_config['doa_correlation'],
                'window_s': config['data']['window_s'],
                'binaural_rate': config['data']['binaural_rate']}


def load_nvas_encoder(model: RelativePoseNet, path: str) -> None:
    """Load the binaural encoder of an NVAS checkpoint into the model's spatial audio encoder (strictly)."""
    payload = torch.load(path, map_location='cpu', weights_only=True)
    prefix = 'binaural_encoder.'
    state = {k[len(prefix):]: v for k, v in payload['model'].items() if k.startswith(prefix)}
    if not state:
        raise UserInputError(f'{path}: no binaural_encoder weights (is it an nvas checkpoint?)')
    model.audio_encoder.binaural_encoder.load_state_dict(state)

