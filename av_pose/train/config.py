"""Training configs: defaults ← experiment YAML ← `key=value` overrides, saved with the git revision.

Keys are nested dicts; an override names a dotted path (`optim.lr=3e-4`, `model.kind=av`) and its value is
parsed as YAML (`1e-4` → float, `[a, b]` → list, `null` → None). An unknown key is an error, so a typo never
trains silently with the default.
"""
from __future__ import annotations

import copy
import subprocess
from collections.abc import Sequence
from pathlib import Path

import yaml

from av_pose.errors import UserInputError

DEFAULTS: dict = {
    'stage': 'pose',
    'seed': 0,
    'out': None,
    'init': None,  # a checkpoint to start from (e.g. a vision-only model for the AV stage)
    # reloc3r_overrides: Reloc3r keywords over the named config (e.g. {img_size: 128}: RoPE has no fixed size)
    'model': {'kind': 'vision', 'reloc3r': 'tiny', 'reloc3r_overrides': {}, 'freeze_encoder': True,
              'embed_dim': 256, 'head_width': 256,
              'doa_correlation': False,
              'audio': {'binaural_dim': 128}, 'nvas': {'base_channels': 16, 'depth': 4}, 'nvas_init': None,
              'slfm': {'audio': {'embed_dim': 512, 'hidden': 256, 'width': 64},  # stages binauralize, slfm*
                       'visual': {'image_size': [128, 96], 'width': 64, 'feature_dim': 512, 'head_channels': 128},
                       'unet': {'base_channels': 64, 'depth': 5}, 'side_cue': 'iid', 'side_loss': 'bce',
                       'side_scale_deg': 10.0, 'visual_cue': False},
              'zone_net': {'width': 32, 'harmonics': 4, 'onsets': False, 'zone_frames': 4,  # stage zone-net
                           'zone_sources': None, 'pos_weight': 5.0, 'threshold': 0.5}},
    'data': {'train': [], 'val': [], 'gap_s': 1.0, 'gaps_s': None, 'window_s': 1.0, 'stride': 1,
             'val_stride': 4, 'binaural_rate': 16000, 'workers': 0},
    'augment': {'color_jitter': 0.3, 'audio_gain_db': 6.0, 'audio_noise_db': -40.0, 'audio_dropout': 0.1},
    # pose stages: rotation + weight × translation-direction angle (pairs moved less than min_translation_m: none)
    'loss': {'translation_weight': 1.0, 'min_translation_m': 1e-6},
    'optim': {'lr': 3e-4, 'lr_min': 3e-6, 'weight_decay': 0.05, 'warmup_epochs': 1, 'epochs': 10,
              'batch_size': 16, 'clip_grad': 1.0, 'amp': 'bf16'},
    'log': {'every': 10, 'tensorboard': 'auto', 'checkpoint_every': 0, 'select': 'score'},
}
"""Every key a config may set; `av-pose train` prints the merged result."""


OPEN_ENDED = ('audio', 'reloc3r_overrides')
"""Mappings of model keywords, merged key by key without a fixed key list (the model checks them)."""


def merge(base: dict, update: dict, where: str = '') -> dict:
    """`base` with `update` merged in recursively (a new dict); unknown keys raise UserInputError."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if key not in out:
            raise UserInputError(f"unknown config key '{where}{key}' (known: {', '.join(sorted(out))})")
        if key in OPEN_ENDED and isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = {**out[key], **copy.deepcopy(value)}  # keywords checked by the model
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = merge(out[key], value, f'{where}{key}.')
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> dict:
    """'a.b=1e-4' → {'a': {'b': 0.0001}} (the value parsed as YAML; float literals such as 1e-4 as floats)."""
    key, sep, value = text.partition('=')
    if not sep or not key:
        raise UserInputError(f'override {text!r} must look like key=value (e.g. optim.lr=1e-4)')
    nested: dict = {}
    cursor = nested
    parts = key.strip().split('.')
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = _number_or_value(yaml.safe_load(value))
    return nested


def _number_or_value(value):
    """YAML 1.1 reads '1e-4' as a string; a string that is a float literal becomes the float."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> dict:
    """DEFAULTS ← the YAML at `path` (if any) ← each override in order."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise UserInputError(f'{path}: cannot read the training config ({err})') from None
        if not isinstance(data, dict):
            raise UserInputError(f'{path}: a training config must be a mapping')
        config = merge(config, data)
    for text in overrides:
        config = merge(config, parse_override(text))
    return config


def git_revision(folder: str | Path = Path(__file__).parent) -> str:
    """The current commit (with '+dirty' when the tree has changes), or 'unknown' outside a git checkout."""
    try:
        rev = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=folder, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=folder,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ('+dirty' if dirty else '')
    except (OSError, subprocess.SubprocessError):
        return 'unknown'


def save_config(config: dict, folder: str | Path) -> Path:
    """Write `config.yaml` (the merged config plus `git_revision`) into `folder`; returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / 'config.yaml'
    path.write_text(yaml.safe_dump({**config, 'git_revision': git_revision()}, sort_keys=False))
    return path
