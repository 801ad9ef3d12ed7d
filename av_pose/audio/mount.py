"""The array mount file: how the microphone array sits on the camera, and which channel order undoes a mirror.

YAML written by `av-pose calibrate` and read by `av-pose synth --array-mount`, `doa_node` and `pose_node`::

    T_cam_array: [[...], [...], [...], [0, 0, 0, 1]]   # 4×4, array frame (REP-103) → camera optical frame
    yaw_offset_deg: 90.0      # yaw about the array's own z from the default mounting (array x = camera forward)
    yaw_std_deg: 1.4          # 1-σ of that yaw (informational)
    mirrored: false           # the channels were wired in mirror order
    channel_order: [0, 3, 2, 1]   # only when mirrored: new channel j = recorded channel channel_order[j]
    array: respeaker4         # the preset / array name the channel order refers to

Only `T_cam_array` is required by `load_mount`; the rest documents where it came from. A consumer applies the
channel order first (`apply_channel_order`), then treats the audio as the preset's channels mounted at T_cam_array.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from av_pose.audio.arrays import MicArray
from av_pose.errors import UserInputError

_POSITION_TOLERANCE_M = 1e-4


class MountFileError(UserInputError):
    """A mount file that cannot be read or holds an unusable transform or channel order."""


def _check_transform(value, source: str) -> np.ndarray:
    try:
        T = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise MountFileError(f'{source}: T_cam_array is not a numeric 4×4 matrix') from err
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise MountFileError(f'{source}: T_cam_array must be a finite 4×4 matrix, got shape {T.shape}')
    R = T[:3, :3]
    if not np.allclose(T[3], [0, 0, 0, 1], atol=1e-9) or not np.allclose(R.T @ R, np.eye(3), atol=1e-4) \
            or np.linalg.det(R) < 0:
        raise MountFileError(f'{source}: T_cam_array is not a rigid transform (rotation part must be orthonormal, '
                             'det +1; last row 0 0 0 1)')
    return T


def _check_channel_order(value, source: str, channels: int | None = None) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise MountFileError(f'{source}: channel_order must be a list of channel indices')
    order = [int(v) for v in value]
    if sorted(order) != list(range(len(order))):
        raise MountFileError(f'{source}: channel_order {order} is not a permutation of 0..{len(order) - 1}')
    if channels is not None and len(order) != channels:
        raise MountFileError(f'{source}: channel_order has {len(order)} entries for {channels} channels')
    return order


def load_mount(path: str | Path) -> tuple[np.ndarray, list[int] | None]:
    """(T_cam_array 4×4 float64, channel_order or None) from a mount YAML file (see the module docstring)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8'))
    except OSError as err:
        raise MountFileError(f'{path}: cannot read mount file ({err.strerror})') from err
    except yaml.YAMLError as err:
        raise MountFileError(f'{path}: not valid YAML ({str(err).splitlines()[0]})') from err
    if not isinstance(data, dict) or 'T_cam_array' not in data:
        raise MountFileError(f'{path}: expected a mapping with T_cam_array (4×4)')
    return _check_transform(data['T_cam_array'], str(path)), _check_channel_order(data.get('channel_order'),
                                                                                   str(path))


def write_mount(path: str | Path, T_cam_array: np.ndarray, *, yaw_offset_deg: float, yaw_std_deg: float,
                mirrored: bool, channel_order: Sequence[int] | None, array_name: str) -> Path:
    """Write a mount file; `channel_order` is stored only when the array is mirrored."""
    path = Path(path)
    T = _check_transform(T_cam_array, str(path))
    data = {'T_cam_array': [[round(float(v), 9) + 0.0 for v in row] for row in T],
            'yaw_offset_deg': round(float(yaw_offset_deg), 3), 'yaw_std_deg': round(float(yaw_std_deg), 3),
            'mirrored': bool(mirrored), 'array': str(array_name)}
    if mirrored and channel_order is not None:
        data['channel_order'] = [int(v) for v in channel_order]
    if not path.parent.is_dir():
        raise MountFileError(f'{path.parent}: output folder does not exist')
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None), encoding='utf-8')
    return path


def mirror_channel_order(array: MicArray) -> list[int] | None:
    """The channel permutation that undoes a mirrored wiring (y → −y) of `array`, or None if none exists.

    A mirrored recording has channel i recorded at the reflection F·p_i of microphone i's position p_i
    (F = diag(1, −1, 1): azimuth θ → −θ). Reordering with σ, new channel j = recorded channel σ[j] where
    p_σ[j] = F·p_j, restores the preset's order. Needs an array symmetric under y → −y (all the ring presets
    are); FOA and asymmetric arrays give None.
    """
    if array.kind != 'pressure':
        return None
    positions = array.positions_m
    mirrored = positions * np.array([1.0, -1.0, 1.0])
    distance = np.linalg.norm(positions[None, :, :] - mirrored[:, None, :], axis=-1)  # [j, k] = |F p_j − p_k|
    order = distance.argmin(axis=1)
    if not np.all(distance[np.arange(len(order)), order] < _POSITION_TOLERANCE_M) or \
            len(set(order.tolist())) != len(order):
        return None
    return [int(v) for v in order]


def apply_channel_order(audio: np.ndarray, channel_order: Sequence[int] | None) -> np.ndarray:
    """C×T (or B×C×T) audio with its channels reordered: out[..., j, :] = audio[..., channel_order[j], :]."""
    if channel_order is None:
        return audio
    audio = np.asarray(audio)
    order = _check_channel_order(list(channel_order), 'channel_order', audio.shape[-2])
    return audio[..., order, :]
