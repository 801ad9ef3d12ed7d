"""Reading weights from local files and loading them strictly, with one readable line on a mismatch.

Formats (nothing is ever downloaded):
- a flat state dict saved with `torch.save` (`.pth`, `.pt`, `.bin`, ...), read with `weights_only=True`;
- a training checkpoint `{'model': state_dict, ...}` (the other entries are ignored here);
- a `.safetensors` file;
- a Hugging Face snapshot folder: `model.safetensors` (or `pytorch_model.bin`) beside an optional
  `config.json` holding the model's constructor keywords (e.g. the layout of `siyan824/reloc3r-512`).
"""
from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from av_pose.errors import UserInputError

SNAPSHOT_WEIGHT_FILES = ('model.safetensors', 'pytorch_model.bin')
"""Weight files looked for, in order, inside a snapshot folder."""

_NAMES_SHOWN = 3


@dataclass
class Checkpoint:
    """Weights read from disk: `state_dict` (name → tensor), `config` (constructor keywords, {} if none)."""

    state_dict: dict[str, torch.Tensor]
    config: dict = field(default_factory=dict)
    source: str = ''


def _load_torch_file(path: Path) -> object:
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        raise UserInputError(f'{path}: not a weights-only torch checkpoint (tensors saved with torch.save); it is '
                             'corrupt or holds Python objects, which are never unpickled') from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserInputError(f'{path}: not a readable torch checkpoint ({first_line})') from err


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device='cpu')
    except (SafetensorError, OSError, ValueError) as err:
        raise UserInputError(f'{path}: not a readable safetensors file ({err})') from err


def _as_state_dict(content: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(content, Mapping) and 'model' in content and isinstance(content['model'], Mapping):
        content = content['model']
    if not isinstance(content, Mapping) or not content:
        raise UserInputError(f'{path}: expected a state dict or a {{"model": state_dict}} checkpoint, '
                             f'found {type(content).__name__}')
    not_tensors = [name for name, value in content.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise UserInputError(f'{path}: expected a state dict of tensors; {len(not_tensors)} entries are not '
                             f'tensors ({", ".join(map(str, not_tensors[:_NAMES_SHOWN]))})')
    return dict(content)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Weights (and constructor keywords, for snapshot folders) from a local file or folder.

    Raises:
        UserInputError: no such path, a folder without weights, an unreadable file or a bad config.json.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        weight_files = [path / name for name in SNAPSHOT_WEIGHT_FILES if (path / name).is_file()]
        if not weight_files:
            raise UserInputError(f'{path}: folder holds none of {", ".join(SNAPSHOT_WEIGHT_FILES)}')
        config = {}
        if (path / 'config.json').is_file():
            try:
                config = json.loads((path / 'config.json').read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise UserInputError(f'{path / "config.json"}: not valid JSON ({err})') from err
            if not isinstance(config, dict):
                raise UserInputError(f'{path / "config.json"}: expected a JSON object of keywords')
        checkpoint = read_checkpoint(weight_files[0])
        return Checkpoint(checkpoint.state_dict, config, str(path))
    if not path.is_file():
        raise UserInputError(f'{path}: no such checkpoint file or folder')
    if path.suffix == '.safetensors':
        return Checkpoint(_load_safetensors(path), {}, str(path))
    return Checkpoint(_as_state_dict(_load_torch_file(path), path), {}, str(path))


def _named(names: list[str]) -> str:
    shown = ', '.join(names[:_NAMES_SHOWN])
    return shown + (', ...' if len(names) > _NAMES_SHOWN else '')


def state_dict_mismatch(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """None when `state_dict` has exactly the model's keys and shapes, else one line describing the difference."""
    expected = model.state_dict()
    missing = [name for name in expected if name not in state_dict]
    unexpected = [name for name in state_dict if name not in expected]
    misshaped = [f'{name} {list(state_dict[name].shape)} vs {list(expected[name].shape)}'
                 for name in expected if name in state_dict and state_dict[name].shape != expected[name].shape]
    if not (missing or unexpected or misshaped):
        return None
    parts = [f'{len(missing)} missing ({_named(missing)})' if missing else '0 missing',
             f'{len(unexpected)} unexpected ({_named(unexpected)})' if unexpected else '0 unexpected',
             (f'{len(misshaped)} mis-shaped (checkpoint vs model: {_named(misshaped)})' if misshaped
              else '0 mis-shaped')]
    return f'{len(expected)} keys expected; ' + '; '.join(parts)


def load_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = 'checkpoint',
                description: str = '') -> nn.Module:
    """Copy `state_dict` into `model` only when keys and shapes match exactly.

    Raises:
        UserInputError: one line naming the counts and the first few missing, unexpected and mis-shaped keys.
    """
    problem = state_dict_mismatch(model, state_dict)
    if problem is not None:
        target = f' {description}' if description else ''
        raise UserInputError(f'{source} does not fit the{target} model: {problem}')
    model.load_state_dict(state_dict, strict=True)
    return model
