"""Direction grids for DOA search and steering vectors on them.

Directions are unit vectors in the array frame (REP-103): azimuth counter-clockwise from +x,
elevation up from the x-y plane.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from av_pose.audio.arrays import SPEED_OF_SOUND_M_S, MicArray

SECTORS = 360  # output spectrum bins, bin i = azimuth sector [i°, i+1°)


@dataclass(frozen=True)
class DirectionGrid:
    """A regular azimuth × elevation grid.

    Azimuth points are `offset_deg + k·step_deg` (k = 0 … 360/step − 1) and `1 / step_deg` must be an
    integer, so that every 1° output sector holds the same number of points.
    """

    step_deg: float = 0.5
    offset_deg: float = 0.25
    elevations_deg: tuple[float, ...] = (0.0,)

    def __post_init__(self) -> None:
        per_sector = 1.0 / self.step_deg
        if abs(per_sector - round(per_sector)) > 1e-9 or per_sector < 1:
            raise ValueError(f'grid step must be 1/n degrees, got {self.step_deg}')
        if not 0.0 <= self.offset_deg < self.step_deg:
            raise ValueError('grid offset must lie in [0, step)')

    @property
    def points_per_sector(self) -> int:
        """Azimuth points inside one 1° sector."""
        return int(round(1.0 / self.step_deg))

    @cached_property
    def azimuths_deg(self) -> np.ndarray:
        """The A = 360 / step azimuths, degrees."""
        return self.offset_deg + self.step_deg * np.arange(SECTORS * self.points_per_sector)

    @cached_property
    def shape(self) -> tuple[int, int]:
        """(number of elevations E, number of azimuths A); grid values are laid out E-major."""
        return len(self.elevations_deg), len(self.azimuths_deg)

    def unit_vectors(self) -> np.ndarray:
        """(E·A)×3 unit vectors, elevation-major."""
        az = np.deg2rad(self.azimuths_deg)[None, :]
        el = np.deg2rad(np.asarray(self.elevations_deg, dtype=np.float64))[:, None]
        vectors = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el) + 0 * az], axis=-1)
        return vectors.reshape(-1, 3)

    def to_sectors(self, values: torch.Tensor) -> torch.Tensor:
        """Grid values B×(E·A) → B×360: mean over each 1° sector, max over elevation."""
        elevations, _ = self.shape
        sectors = values.reshape(values.shape[0], elevations, SECTORS, self.points_per_sector).mean(-1)
        return sectors.amax(1)

    def azimuth_profile(self, values: torch.Tensor) -> torch.Tensor:
        """Grid values B×(E·A) → B×A, the maximum over elevation for every azimuth."""
        elevations, azimuths = self.shape
        return values.reshape(values.shape[0], elevations, azimuths).amax(1)


def steering_vectors(array: MicArray, grid: DirectionGrid, freqs_hz: np.ndarray,
                     speed_of_sound: float = SPEED_OF_SOUND_M_S) -> np.ndarray:
    """Far-field array response, F×G×C complex128.

    Pressure arrays: a_c(f, u) = exp(+j 2π f (u·p_c) / c) (a wave from direction u reaches a microphone at
    p_c earlier by u·p_c / c; same sign convention as numpy's FFT and pyroomacoustics). FOA arrays: the
    real first-order spherical harmonics in AmbiX order (W, Y, Z, X; SN3D), independent of frequency.
    """
    directions = grid.unit_vectors()
    if array.kind == 'foa':
        x, y, z = directions.T
        harmonics = np.stack([np.ones(len(directions)), y, z, x], -1)
        return np.broadcast_to(harmonics, (len(freqs_hz), *harmonics.shape)).astype(np.complex128)
    delays_s = directions @ array.positions_m.T / speed_of_sound  # G×C
    return np.exp(2j * np.pi * np.asarray(freqs_hz)[:, None, None] * delays_s[None])
