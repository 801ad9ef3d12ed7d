"""Direction grids for DOA search, peak finding on them, and steering vectors.

Directions are unit vectors in the array frame (REP-103): azimuth counter-clockwise from +x,
elevation up from the x-y plane. Two grids share one interface (`Grid`): `DirectionGrid`, a regular
azimuth × elevation grid (the horizontal circle by default), and `SphereGrid`, an equal-area Fibonacci
sphere for 3-D arrays.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from av_pose.audio.arrays import SPEED_OF_SOUND_M_S, MicArray
from av_pose.audio.doa.peaks import find_circular_peaks, pick_peaks

SECTORS = 360  # output spectrum bins, bin i = azimuth sector [i°, i+1°)


@dataclass(frozen=True)
class Peaks:
    """The K strongest, separated peaks of B grid spectra (NaN where a row has fewer).

    Attributes:
        azimuths_deg: B×K in [0, 360), strongest first.
        elevations_deg: B×K, degrees up from the x-y plane.
        heights: B×K grid values at the peaks.
        floor: B×1 reference level (median of the spectrum) for confidences.
    """

    azimuths_deg: np.ndarray
    elevations_deg: np.ndarray
    heights: np.ndarray
    floor: np.ndarray


class Grid(ABC):
    """Search directions of a DOA estimator: G unit vectors, their 1° azimuth sectors and peak search."""

    @abstractmethod
    def unit_vectors(self) -> np.ndarray:
        """G×3 unit vectors, array frame."""

    @abstractmethod
    def to_sectors(self, values: torch.Tensor) -> torch.Tensor:
        """Grid values B×G → B×360 azimuth sectors ([i°, i+1°) counter-clockwise from +x)."""

    @abstractmethod
    def find_peaks(self, values: np.ndarray, num_peaks: int, min_separation_deg: float) -> Peaks:
        """The `num_peaks` highest local maxima of B×G non-negative values, `min_separation_deg` apart."""


@dataclass(frozen=True)
class DirectionGrid(Grid):
    """A regular azimuth × elevation grid.

    Azimuth points are `offset_deg + k·step_deg` (k = 0 … 360/step − 1) and `1 / step_deg` must be an
    integer, so that every 1° output sector holds the same number of points. Peaks are searched along
    azimuth (the maximum over elevation); each peak's elevation is the best grid elevation there.
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

    def find_peaks(self, values: np.ndarray, num_peaks: int, min_separation_deg: float) -> Peaks:
        """Peaks of the azimuth profile, sub-grid refined along azimuth; elevation = best grid elevation."""
        by_elevation = values.reshape(values.shape[0], *self.shape)  # B×E×A
        profile = by_elevation.max(1)
        azimuths, indices = find_circular_peaks(profile, self.step_deg, self.offset_deg, num_peaks,
                                                min_separation_deg)
        found = indices >= 0
        safe = np.maximum(indices, 0)
        heights = np.where(found, np.take_along_axis(profile, safe, axis=1), np.nan)
        best = np.take_along_axis(by_elevation.argmax(1), safe, axis=1)
        elevations = np.where(found, np.asarray(self.elevations_deg, dtype=float)[best], np.nan)
        return Peaks(azimuths, elevations, heights, np.median(profile, axis=1, keepdims=True))


@dataclass(frozen=True)
class SphereGrid(Grid):
    """Equal-area directions on the sphere (a Fibonacci lattice), for arrays that resolve elevation.

    Point i has z = 1 − (2i + 1) / points and azimuth i × the golden angle; neighbouring points are about
    sqrt(4π / points) rad apart (3.2° for 4096). Points below `min_elevation_deg` are dropped (e.g. 0 for
    the upper hemisphere). Sectors take the maximum over the points in each 1° azimuth sector; peaks are
    local maxima among each point's 6 nearest neighbours, refined by the value-weighted mean direction of
    the peak and those neighbours.
    """

    points: int = 4096
    min_elevation_deg: float = -90.0

    def __post_init__(self) -> None:
        if self.points < 64:
            raise ValueError(f'a sphere grid needs at least 64 points, got {self.points}')
        if not -90.0 <= self.min_elevation_deg < 90.0:
            raise ValueError(f'min_elevation_deg must be in [-90, 90), got {self.min_elevation_deg}')

    @cached_property
    def _vectors(self) -> np.ndarray:
        index = np.arange(self.points) + 0.5
        z = 1.0 - 2.0 * index / self.points
        azimuth = np.pi * (3.0 - math.sqrt(5.0)) * np.arange(self.points)
        radius = np.sqrt(1.0 - z * z)
        vectors = np.stack([radius * np.cos(azimuth), radius * np.sin(azimuth), z], -1)
        return vectors[z >= math.sin(math.radians(self.min_elevation_deg)) - 1e-12]

    @cached_property
    def azimuths_deg(self) -> np.ndarray:
        """G point azimuths in [0, 360), degrees."""
        return np.rad2deg(np.arctan2(self._vectors[:, 1], self._vectors[:, 0])) % 360.0

    @cached_property
    def elevations_deg(self) -> np.ndarray:
        """G point elevations, degrees."""
        return np.rad2deg(np.arcsin(np.clip(self._vectors[:, 2], -1.0, 1.0)))

    @cached_property
    def neighbours(self) -> np.ndarray:
        """G×6 indices of each point's nearest other points."""
        from scipy.spatial import cKDTree

        return cKDTree(self._vectors).query(self._vectors, k=7)[1][:, 1:]

    @cached_property
    def _sector_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(sector of every point, G; for every sector the sector whose value it shows, 360)."""
        sector = np.floor(self.azimuths_deg).astype(np.int64) % SECTORS
        filled = np.flatnonzero(np.bincount(sector, minlength=SECTORS))
        gaps = np.abs((np.arange(SECTORS)[:, None] - filled[None, :] + 180) % SECTORS - 180)
        return sector, filled[gaps.argmin(1)]

    def unit_vectors(self) -> np.ndarray:
        """G×3 unit vectors."""
        return self._vectors.copy()

    def to_sectors(self, values: torch.Tensor) -> torch.Tensor:
        """Grid values B×G → B×360: maximum over the points in each sector (an empty sector shows its nearest)."""
        sector, source = self._sector_index
        index = torch.as_tensor(sector, device=values.device).expand(values.shape[0], -1)
        sectors = values.new_full((values.shape[0], SECTORS), float('-inf'))
        sectors.scatter_reduce_(1, index, values, 'amax')
        return sectors[:, torch.as_tensor(source, device=values.device)]

    def find_peaks(self, values: np.ndarray, num_peaks: int, min_separation_deg: float) -> Peaks:
        """Local maxima over the 6 nearest neighbours, greedily `min_separation_deg` apart (great circle)."""
        neighbours = self.neighbours
        is_peak = values >= values[:, neighbours].max(-1)
        vectors = self._vectors
        cos_separation = math.cos(math.radians(min(max(min_separation_deg, 0.0), 180.0)))
        indices = pick_peaks(values, is_peak, num_peaks,
                             lambda chosen: vectors[chosen] @ vectors.T > cos_separation)
        found = indices >= 0
        safe = np.maximum(indices, 0)
        around = np.concatenate([safe[..., None], neighbours[safe]], -1)  # B×K×7
        weights = np.take_along_axis(values, around.reshape(len(values), -1), 1).reshape(around.shape)
        weights = weights - weights.min(-1, keepdims=True)
        direction = (weights[..., None] * vectors[around]).sum(-2)
        direction = np.where(weights.sum(-1, keepdims=True) > 0, direction, vectors[safe])
        direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
        azimuths = np.where(found, np.rad2deg(np.arctan2(direction[..., 1], direction[..., 0])) % 360.0, np.nan)
        elevations = np.where(found, np.rad2deg(np.arcsin(np.clip(direction[..., 2], -1.0, 1.0))), np.nan)
        heights = np.where(found, np.take_along_axis(values, safe, axis=1), np.nan)
        return Peaks(azimuths, elevations, heights, np.median(values, axis=1, keepdims=True))


def resolves_elevation(array: MicArray) -> bool:
    """True for arrays that tell up from down: FOA, or pressure capsules not all in one plane (or line)."""
    if array.kind == 'foa':
        return True
    centred = array.positions_m - array.positions_m.mean(0)
    singular = np.linalg.svd(centred, compute_uv=False)
    return bool(singular.size >= 3 and singular[2] > 1e-3 * max(singular[0], 1e-12))


def steering_vectors(array: MicArray, grid: Grid, freqs_hz: np.ndarray,
                     speed_of_sound: float = SPEED_OF_SOUND_M_S) -> np.ndarray:
    """Far-field array response, F×G×C complex128.

    Pressure arrays: a_c(f, u) = exp(+j 2π f (u·p_c) / c) with c = `speed_of_sound` m/s (a wave from
    direction u reaches a microphone at p_c earlier by u·p_c / c; same sign convention as numpy's FFT and
    pyroomacoustics). FOA arrays: the real first-order spherical harmonics in AmbiX order (W, Y, Z, X;
    SN3D), independent of frequency and of c. Ears on a spherical head (`MicArray.head_radius_m`): the head's
    response at each ear (Brown & Duda: its shadow and the path round it, `spherical_head_ears`), relative to the
    head centre as the free-field vectors are.
    """
    directions = grid.unit_vectors()
    if array.kind == 'foa':
        x, y, z = directions.T
        harmonics = np.stack([np.ones(len(directions)), y, z, x], -1)
        return np.broadcast_to(harmonics, (len(freqs_hz), *harmonics.shape)).astype(np.complex128)
    if array.head_radius_m is not None:
        from av_pose.audio.binaural import head_shadow, spherical_head_ears

        ears = array.positions_m
        cosine = directions @ ((ears[0] - ears[1]) / np.linalg.norm(ears[0] - ears[1]))  # G, to the left ear
        delay_s, alpha = spherical_head_ears(np.stack([cosine, -cosine], -1), array.head_radius_m, speed_of_sound)
        shadow = np.moveaxis(head_shadow(alpha, freqs_hz, array.head_radius_m, speed_of_sound), -1, 0)  # F×G×C
        omega = 2.0 * np.pi * np.asarray(freqs_hz, dtype=np.float64)[:, None, None]
        return shadow * np.exp(-1j * omega * delay_s[None])
    delays_s = directions @ array.positions_m.T / speed_of_sound  # G×C
    return np.exp(2j * np.pi * np.asarray(freqs_hz)[:, None, None] * delays_s[None])
