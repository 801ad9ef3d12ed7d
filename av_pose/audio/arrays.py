"""Microphone array geometries.

Positions are in metres in the array frame (REP-103: x forward, y left, z up); azimuth is measured
counter-clockwise from +x in the x-y plane. Channel i of the audio is the microphone at row i.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from av_pose.errors import UserInputError

SPEED_OF_SOUND_M_S = 343.0  # dry air at about 20 °C


def speed_of_sound_m_s(temperature_c: float) -> float:
    """Speed of sound in dry air at `temperature_c` °C, m/s: 331.3·sqrt(1 + T/273.15) (343.2 at 20 °C)."""
    if not (math.isfinite(temperature_c) and -100.0 <= temperature_c <= 100.0):
        raise UserInputError(f'temperature must be in [-100, 100] °C, got {temperature_c}')
    return 331.3 * math.sqrt(1.0 + temperature_c / 273.15)


class ArrayConfigError(UserInputError):
    """A microphone-array specification that cannot be used (bad YAML, unknown preset, bad shape)."""


def ring_positions(radius_m: float, count: int, first_deg: float = 0.0,
                   step_deg: float | None = None) -> list[list[float]]:
    """`count` points on a horizontal circle, the first at azimuth `first_deg`.

    Consecutive points are `step_deg` apart (default 360/count, counter-clockwise; negative steps go
    clockwise).
    """
    step = 360.0 / count if step_deg is None else step_deg
    angles = [math.radians(first_deg + step * i) for i in range(count)]
    return [[radius_m * math.cos(a), radius_m * math.sin(a), 0.0] for a in angles]


@dataclass(frozen=True)
class MicArray:
    """A rigid microphone array.

    Attributes:
        name: Identifier (preset name or the YAML's `name`).
        positions_m: C×3 microphone positions in metres, array frame.
        sample_rate: Native sample rate in Hz, or None when the array does not fix one.
        channel_names: One label per channel, in channel order.
        kind: 'pressure' for omnidirectional capsules, 'foa' for first-order ambisonic B-format
            input (channels W, Y, Z, X in ACN order with SN3D normalisation, "AmbiX").
        head_radius_m: For a 2-channel array whose capsules are the ears of a rigid spherical head (at ±r on
            one axis through the origin): its radius r in metres. The scene renderer then adds the head's
            shadow and its longer path round it (Brown & Duda), and the DOA estimators steer with the same
            head model. None: capsules in free air.
    """

    name: str
    positions_m: np.ndarray
    sample_rate: int | None = None
    channel_names: tuple[str, ...] = field(default=())
    kind: str = 'pressure'
    head_radius_m: float | None = None

    def __post_init__(self) -> None:
        positions = np.asarray(self.positions_m, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != 3 or positions.shape[0] < 1:
            raise ArrayConfigError(f'array {self.name!r}: positions_m must be a list of [x, y, z], '
                                   f'got shape {positions.shape}')
        if not np.all(np.isfinite(positions)):
            raise ArrayConfigError(f'array {self.name!r}: positions_m contains non-finite values')
        if self.kind not in ('pressure', 'foa'):
            raise ArrayConfigError(f'array {self.name!r}: kind must be pressure or foa, got {self.kind!r}')
        if self.kind == 'foa' and positions.shape[0] != 4:
            raise ArrayConfigError(f'array {self.name!r}: an foa array has exactly 4 channels')
        object.__setattr__(self, 'positions_m', positions)
        if self.head_radius_m is not None:
            radius = float(self.head_radius_m)
            on_sphere = positions.shape[0] == 2 and np.allclose(positions[0], -positions[1], atol=1e-3) \
                and abs(np.linalg.norm(positions[0]) - radius) < 1e-3
            if not (math.isfinite(radius) and radius > 0 and on_sphere and self.kind == 'pressure'):
                raise ArrayConfigError(f'array {self.name!r}: head_radius_m {self.head_radius_m} needs two '
                                       'pressure capsules at ±head_radius_m on one axis through the origin')
            object.__setattr__(self, 'head_radius_m', radius)
        names = tuple(self.channel_names) or tuple(f'mic{i}' for i in range(positions.shape[0]))
        if len(names) != positions.shape[0]:
            raise ArrayConfigError(f'array {self.name!r}: {len(names)} channel names for '
                                   f'{positions.shape[0]} microphones')
        object.__setattr__(self, 'channel_names', names)

    @property
    def num_channels(self) -> int:
        """Number of channels C."""
        return int(self.positions_m.shape[0])

    @property
    def aperture_m(self) -> float:
        """Largest distance between two microphones, metres."""
        diffs = self.positions_m[:, None, :] - self.positions_m[None, :, :]
        return float(np.linalg.norm(diffs, axis=-1).max())

    @property
    def spatial_alias_hz(self) -> float:
        """Frequency above which the closest microphone pair aliases, c / (2·d_min), in Hz."""
        diffs = self.positions_m[:, None, :] - self.positions_m[None, :, :]
        dist = np.linalg.norm(diffs, axis=-1)
        dist = dist[~np.eye(len(dist), dtype=bool)]
        dist = dist[dist > 1e-6]
        return float('inf') if dist.size == 0 else SPEED_OF_SOUND_M_S / (2.0 * float(dist.min()))

    def to_dict(self) -> dict:
        """Plain-data form, as written to YAML and scene.json."""
        out = {'name': self.name, 'positions_m': self.positions_m.round(6).tolist(), 'kind': self.kind,
               'channel_names': list(self.channel_names)}
        if self.sample_rate is not None:
            out['sample_rate'] = int(self.sample_rate)
        if self.head_radius_m is not None:
            out['head_radius_m'] = self.head_radius_m
        return out

    @classmethod
    def from_dict(cls, data: dict, source: str = 'array') -> MicArray:
        """Build from a mapping with `positions_m` and optional `name`, `sample_rate`, `kind`."""
        if not isinstance(data, dict) or 'positions_m' not in data:
            raise ArrayConfigError(f'{source}: expected a mapping with positions_m: [[x, y, z], ...]')
        sample_rate = data.get('sample_rate')
        if sample_rate is not None and (not isinstance(sample_rate, (int, float)) or sample_rate <= 0):
            raise ArrayConfigError(f'{source}: sample_rate must be a positive number, got {sample_rate!r}')
        try:
            positions = np.asarray(data['positions_m'], dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ArrayConfigError(f'{source}: positions_m is not a numeric list of [x, y, z]') from err
        return cls(name=str(data.get('name', Path(source).stem)), positions_m=positions,
                   sample_rate=None if sample_rate is None else int(sample_rate),
                   channel_names=tuple(data.get('channel_names', ())), kind=str(data.get('kind', 'pressure')),
                   head_radius_m=None if data.get('head_radius_m') is None else _number(data['head_radius_m'],
                                                                                     source, 'head_radius_m'))

    @classmethod
    def from_yaml(cls, path: str | Path) -> MicArray:
        """Load `name: x` / `sample_rate: 16000` (optional) / `positions_m: [[x, y, z], ...]`."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as err:
            raise ArrayConfigError(f'{path}: cannot read array file ({err.strerror})') from err
        except yaml.YAMLError as err:
            raise ArrayConfigError(f'{path}: not valid YAML ({str(err).splitlines()[0]})') from err
        return cls.from_dict(data, source=str(path))


def _number(value, source: str, key: str) -> float:
    """A YAML/JSON number, or ArrayConfigError naming `key`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArrayConfigError(f'{source}: {key} must be a number, got {value!r}')
    return float(value)


def _presets() -> dict[str, MicArray]:
    # Capsule positions and channel order of the hardware presets follow the ODAS configurations
    # (introlab/odas config/odaslive/respeaker_usb_4_mic_array.cfg, respeaker_6_mic_array.cfg and
    # config/minidsp/uma8.json); the array x axis is the board's x axis in those files.
    return {
        # ReSpeaker USB Mic Array v2.0: four capsules on a 32 mm radius, channels at 180°, 270°, 0°, 90°
        # (the four microphone channels 1-4 of the board's 6-channel firmware).
        'respeaker4': MicArray('respeaker4', ring_positions(0.032, 4, 180.0, 90.0), 16000),
        # ReSpeaker 6-Mic Circular Array kit: 46.3 mm radius, channels at 120°, 180°, ..., 60°.
        'respeaker6': MicArray('respeaker6', ring_positions(0.0463, 6, 120.0, 60.0), 16000),
        # miniDSP UMA-8 v2: the centre capsule (channel 0), then six on a 43 mm radius clockwise from 90°.
        'uma8': MicArray('uma8', [[0.0, 0.0, 0.0]] + ring_positions(0.043, 6, 90.0, -60.0), 48000),
        # Two ears on the interaural axis (y), 8.75 cm head radius (Brown & Duda spherical-head
        # model, the average adult head); channel 0 is the left ear (+y).
        'binaural': MicArray('binaural', [[0.0, 0.0875, 0.0], [0.0, -0.0875, 0.0]], None,
                             ('left', 'right'), head_radius_m=0.0875),
        # First-order ambisonics, AmbiX channel order W, Y, Z, X (ACN, SN3D): a coincident
        # (virtual) capsule, so positions are all the origin.
        'foa': MicArray('foa', np.zeros((4, 3)), None, ('W', 'Y', 'Z', 'X'), kind='foa'),
    }


PRESETS: dict[str, MicArray] = _presets()


def load_array(spec: str | Path | MicArray) -> MicArray:
    """Return the preset named `spec`, or load it as a YAML path; a MicArray passes through."""
    if isinstance(spec, MicArray):
        return spec
    key = str(spec)
    if key in PRESETS:
        return PRESETS[key]
    path = Path(key)
    if path.suffix.lower() in ('.yaml', '.yml') or path.exists():
        return MicArray.from_yaml(path)
    raise ArrayConfigError(f'unknown array {key!r}: use one of {", ".join(sorted(PRESETS))} '
                           'or a YAML file with positions_m')
