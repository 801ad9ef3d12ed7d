"""Training stages by name: each says how to build its model, its data, its loss and its validation score.

`pose` trains any model of `models.av_pose.MODEL_KINDS`; `nvas` trains the binaural encoder on the novel-view
acoustic synthesis pretext. Later stages register themselves in `STAGES` ('module:Class').
"""
from __future__ import annotations

import abc
import importlib

import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from av_pose.errors import UserInputError

STAGES: dict[str, str] = {
    'pose': 'av_pose.train.stages.pose:PoseStage',
    'nvas': 'av_pose.train.stages.nvas:NvasStage',
    'binauralize': 'av_pose.train.stages.slfm:BinauralizeStage',
    'slfm': 'av_pose.train.stages.slfm:SlfmStage',
    'slfm-supervised': 'av_pose.train.stages.slfm:SlfmSupervisedStage',
    'zone-net': 'av_pose.train.stages.zone_net:ZoneNetStage',
}


class Stage(abc.ABC):
    """What the shared loop (`train.loop.train`) needs from a stage."""

    collate = staticmethod(default_collate)
    progress = True
    """Whether a stage may show progress bars of its own (building its datasets); the loop sets it."""

    @abc.abstractmethod
    def build(self, config: dict) -> nn.Module:
        """A fresh model for the merged config."""

    def initialise(self, model: nn.Module, path: str) -> None:
        """Start from the weights of checkpoint `path` (default: a strict load of a same-stage checkpoint)."""
        model.load_state_dict(torch.load(path, map_location='cpu', weights_only=True)['model'])

    @abc.abstractmethod
    def datasets(self, config: dict) -> tuple[Dataset | None, Dataset | None]:
        """(train, val): train items are keyed by (epoch, index) so augmentation is reproducible."""

    @staticmethod
    def to_device(batch: dict, device: torch.device) -> dict:
        """Tensors of the batch moved to `device`; other entries as they are."""
        return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

    @abc.abstractmethod
    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """(scalar loss to minimise, named parts for the log)."""

    @abc.abstractmethod
    def validate(self, model: nn.Module, val_set: Dataset, config: dict, dist) -> dict[str, float]:
        """Validation metrics; 'score' (higher is better) selects checkpoint-best."""

    @abc.abstractmethod
    def export(self, model: nn.Module, config: dict) -> dict:
        """What rebuilds the model without the training config (saved as the checkpoint's 'build')."""


def get_stage(name: str) -> Stage:
    """An instance of the stage registered as `name`."""
    if name not in STAGES:
        raise UserInputError(f'unknown training stage {name!r} (known: {", ".join(STAGES)})')
    module_name, _, attribute = STAGES[name].partition(':')
    return getattr(importlib.import_module(module_name), attribute)()
