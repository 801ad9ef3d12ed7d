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
    card: str | None = None
    """Model card file (Markdown) for shipped learned models, relative to the package; None for built-ins."""
    vision_only_twin: str | None = None
    """For a shipped audio-visual model: the name of the vision-only model trained the same way (for A/B)."""
    checkpoint: str | None = None
    """Shipped weights, relative to the package (loaded by CHECKPOINT_LOADER); None for built-ins."""
    image_features: bool = False
    """It detects and matches image features (its factory takes `detector`)."""


ESTIMATORS: dict[str, EstimatorEntry] = {
    'geometric': EstimatorEntry('av_pose.pose.geometric:make_geometric',
                                'no weights: essential matrix (OpenCV; the global image shift where it fails, '
                                'read around the audio yaw where it is faint) fused with the DOA-spectrum yaw shift',
                                image_features=True),
    'geometric-vision': EstimatorEntry('av_pose.pose.geometric:make_geometric_vision',
                                       'no weights: essential matrix, or the global image shift where it fails '
                                       '(the vision half of geometric)', image_features=True),
    'geometric-audio': EstimatorEntry('av_pose.pose.geometric:make_geometric_audio',
                                      'no weights: DOA-spectrum yaw shift only (the audio half of geometric)'),
}

CHECKPOINT_LOADER = 'av_pose.pose.learned:load_checkpoint_estimator'
"""Factory for a path to a checkpoint (file or folder); it takes the path as its first argument."""

PACKAGE_DIR = Path(__file__).resolve().parent.parent
SHIPPED: dict[str, EstimatorEntry] = {
    'av-tiny': EstimatorEntry(CHECKPOINT_LOADER, 'learned audio-visual (tiny Reloc3r + spatial audio encoder, '
                              'trained on ShoeboxAV); CPU real-time', card='weights/av-tiny.md',
                              vision_only_twin='vision-tiny', checkpoint='weights/av-tiny.pt'),
    'vision-tiny': EstimatorEntry(CHECKPOINT_LOADER, 'learned vision-only (tiny Reloc3r trained on ShoeboxAV): '
                                  'the A/B twin of av-tiny', card='weights/vision-tiny.md',
                                  checkpoint='weights/vision-tiny.pt'),
    'doa-cp-tiny': EstimatorEntry(CHECKPOINT_LOADER, 'learned audio-only DOA-CP baseline (MLP on both DOA spectra '
                                  'and their circular correlation)',
                                  card='weights/doa-cp-tiny.md', checkpoint='weights/doa-cp-tiny.pt'),
}
"""Learned models shipped inside the package; each is listed in ESTIMATORS only when its weights are present."""
ESTIMATORS.update({name: entry for name, entry in SHIPPED.items() if (PACKAGE_DIR / entry.checkpoint).is_file()})
DEFAULT_MODEL = 'av-tiny' if 'av-tiny' in ESTIMATORS else 'geometric'
"""What the nodes and the demo use when no model is named: the shipped AV model, else the geometric one."""


def shipped_av_models() -> list[tuple[str, str]]:
    """(vision-only name, audio-visual name) for each shipped learned audio-visual model whose weights exist."""
    return [(entry.vision_only_twin, name) for name, entry in ESTIMATORS.items()
            if entry.vision_only_twin is not None and entry.vision_only_twin in ESTIMATORS]


def _import_factory(spec: str) -> Callable[..., PoseEstimator]:
    module_name, _, attribute = spec.partition(':')
    return getattr(importlib.import_module(module_name), attribute)


def uses_image_features(spec: str) -> bool:
    """Whether the estimator `spec` detects image features, so that `make_pose_estimator(detector=...)` applies."""
    return spec in ESTIMATORS and ESTIMATORS[spec].image_features


def make_pose_estimator(spec: str, detector: str | None = None, **options) -> PoseEstimator:
    """A ready `PoseEstimator` for a registered name or a local checkpoint path.

    Args:
        spec: a name from `ESTIMATORS` (see `av-pose models`) or a path to a checkpoint file or folder.
        detector: image features ('orb', 'sift', 'akaze'; `av_pose.vision.features`) for the estimators that
            detect them (`uses_image_features`: geometric, geometric-vision); the others ignore it. None: the
            estimator's default (ORB).
        **options: passed to the factory (e.g. `device='auto'|'cpu'|'cuda'`).

    Raises:
        UserInputError: unknown name and no such path (one line, listing the names); unknown or unavailable
            detector.
    """
    if detector is not None and uses_image_features(spec):
        options['detector'] = detector
    if spec in ESTIMATORS:
        entry = ESTIMATORS[spec]
        if entry.checkpoint is not None:
            return _import_factory(entry.factory)(PACKAGE_DIR / entry.checkpoint, name=spec, **options)
        return _import_factory(entry.factory)(**options)
    path = Path(spec).expanduser()
    if path.exists():
        try:
            loader = _import_factory(CHECKPOINT_LOADER)
        except (ImportError, AttributeError) as err:
            raise UserInputError(f'{spec}: checkpoints cannot be loaded by this build ({err})') from err
        return loader(path, **options)
    raise UserInputError(f'unknown model {spec!r}: not a file or folder, and not one of '
                         f'{", ".join(sorted(ESTIMATORS))}')
