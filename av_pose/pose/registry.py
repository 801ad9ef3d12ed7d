"""Pose estimators by name: `make_pose_estimator('geometric')`, a shipped model name, or a checkpoint path.

The same names are taken by `av-pose eval --model`, `av-pose bag --model`, the demo and `pose_node`'s `model`
parameter. Built-in names map to `module:factory` strings, imported only when used (so `av-pose --help` and
the ROS nodes stay light). A factory takes keyword options (`device`, ...) and returns a `PoseEstimator`.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from av_pose.errors import UserInputError
from av_pose.pose.base import PoseEstimator


@dataclass(frozen=True)
class EstimatorEntry:
    """A named estimator: `factory` is 'package.module:function'; `summary` is one line for listings."""

    factory: str
    summary: str


ESTIMATORS: dict[str, EstimatorEntry] = {
    'geometric': EstimatorEntry('av_pose.pose.geometric:make_geometric',
                                'no weights: essential matrix (OpenCV) fused with the DOA-spectrum yaw shift'),
    'geometric-vision': EstimatorEntry('av_pose.pose.geometric:make_geometric_vision',
                                       'no weights: essential matrix only (the vision half of geometric)'),
    'geometric-audio': EstimatorEntry('av_pose.pose.geometric:make_geometric_audio',
                                      'no weights: DOA-spectrum yaw shift only (the audio half of geometric)'),
}

CHECKPOINT_LOADER = 'av_pose.pose.learned:load_checkpoint_estimator'
"""Factory for a path to a checkpoint (file or folder); it takes the path as its first argument."""


def _import_factory(spec: str) -> Callable[..., PoseEstimator]:
    module_name, _, attribute = spec.partition(':')
    return getattr(importlib.import_module(module_name), attribute)


def make_pose_estimator(spec: str, **options) -> PoseEstimator:
    """A ready `PoseEstimator` for a registered name or a local checkpoint path.

    Args:
        spec: a name from `ESTIMATORS` (see `av-pose models`) or a path to a checkpoint file or folder.
        **options: passed to the factory (e.g. `device='auto'|'cpu'|'cuda'`).

    Raises:
        UserInputError: unknown name and no such path (one line, listing the names).
    """
    if spec in ESTIMATORS:
        return _import_factory(ESTIMATORS[spec].factory)(**options)
    path = Path(spec).expanduser()
    if path.exists():
        try:
            loader = _import_factory(CHECKPOINT_LOADER)
        except (ImportError, AttributeError) as err:
            raise UserInputError(f'{spec}: checkpoints cannot be loaded by this build ({err})') from err
        return loader(path, **options)
    raise UserInputError(f'unknown model {spec!r}: not a file or folder, and not one of '
                         f'{", ".join(sorted(ESTIMATORS))}')
