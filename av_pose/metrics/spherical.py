"""Spherical direction metrics in the style of SonoWorld.

Directions are (azimuth, elevation) in degrees in a REP-103 frame: azimuth counter-clockwise from +x
(forward) in the x-y plane, elevation up from that plane towards +z, in [−90°, 90°].

Single source: absolute azimuth error (wrap-around), absolute elevation error, and the angular (geodesic,
great-circle) error between the two unit vectors.

Several sources: predicted and reference *energy maps* on an azimuth × elevation grid (`SphericalGrid`,
maps shaped n_el × n_az, cell centres) are compared with
- CC: Pearson correlation of the two maps, each cell weighted by its area (∝ cos elevation);
- AUC: area under the ROC curve of the predicted values used as scores to classify the reference's
  "hot" cells, i.e. the cells whose reference energy exceeds the area-weighted `hot_quantile` of the
  reference map (default 0.9, so the hottest 10 % of the sphere's area are positives). Positives and
  negatives are weighted by cell area and ties count one half. 1.0 = every hot cell scores above every
  cold cell, 0.5 = chance. This is our choice; SonoWorld does not pin the AUC variant down.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from av_pose.errors import UserInputError
from av_pose.geometry import angle_between_deg
from av_pose.metrics.azimuth import azimuth_abs_error_deg


def direction_from_az_el(azimuth_deg, elevation_deg) -> np.ndarray:
    """Unit vectors (..., 3) for azimuths and elevations in degrees (broadcast)."""
    az = np.radians(np.asarray(azimuth_deg, dtype=np.float64))
    el = np.radians(np.asarray(elevation_deg, dtype=np.float64))
    az, el = np.broadcast_arrays(az, el)
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def az_el_from_direction(direction) -> tuple[np.ndarray, np.ndarray]:
    """(azimuth in [0, 360), elevation in [−90, 90]) in degrees of direction vectors (..., 3), any length."""
    d = np.asarray(direction, dtype=np.float64)
    azimuth = np.mod(np.degrees(np.arctan2(d[..., 1], d[..., 0])), 360.0)
    elevation = np.degrees(np.arctan2(d[..., 2], np.hypot(d[..., 0], d[..., 1])))
    return np.where(azimuth >= 360.0, 0.0, azimuth), elevation


def elevation_abs_error_deg(pred_el_deg, target_el_deg) -> np.ndarray:
    """Absolute elevation error in degrees."""
    return np.abs(np.asarray(pred_el_deg, dtype=np.float64) - np.asarray(target_el_deg, dtype=np.float64))


def angular_error_deg(pred_az_deg, pred_el_deg, target_az_deg, target_el_deg) -> np.ndarray:
    """Great-circle angle in degrees [0, 180] between predicted and target directions."""
    return angle_between_deg(direction_from_az_el(pred_az_deg, pred_el_deg),
                             direction_from_az_el(target_az_deg, target_el_deg))


def direction_errors(pred_az_deg, pred_el_deg, target_az_deg, target_el_deg) -> dict[str, float]:
    """Mean absolute azimuth, elevation and angular errors in degrees over single-source estimates."""
    return {'azimuth_deg': float(np.mean(azimuth_abs_error_deg(pred_az_deg, target_az_deg))),
            'elevation_deg': float(np.mean(elevation_abs_error_deg(pred_el_deg, target_el_deg))),
            'angular_deg': float(np.mean(angular_error_deg(pred_az_deg, pred_el_deg,
                                                           target_az_deg, target_el_deg)))}


@dataclass(frozen=True)
class SphericalGrid:
    """Equiangular azimuth × elevation grid over the sphere; maps on it are n_el × n_az arrays.

    Cell (j, i) is centred at azimuth (i + ½)·360/n_az and elevation −90 + (j + ½)·180/n_el degrees.
    """

    n_az: int = 72
    n_el: int = 36

    def __post_init__(self) -> None:
        if self.n_az < 2 or self.n_el < 1:
            raise UserInputError(f'SphericalGrid needs n_az ≥ 2 and n_el ≥ 1, got {self.n_az}×{self.n_el}')

    @property
    def azimuths_deg(self) -> np.ndarray:
        """Cell-centre azimuths (n_az,) in degrees."""
        return (np.arange(self.n_az) + 0.5) * 360.0 / self.n_az

    @property
    def elevations_deg(self) -> np.ndarray:
        """Cell-centre elevations (n_el,) in degrees."""
        return -90.0 + (np.arange(self.n_el) + 0.5) * 180.0 / self.n_el

    @property
    def area_weights(self) -> np.ndarray:
        """n_el × n_az cell areas ∝ cos(elevation), normalised to sum to 1."""
        weights = np.repeat(np.cos(np.radians(self.elevations_deg))[:, None], self.n_az, axis=1)
        return weights / weights.sum()

    @property
    def directions(self) -> np.ndarray:
        """n_el × n_az × 3 unit vectors of the cell centres."""
        az, el = np.meshgrid(self.azimuths_deg, self.elevations_deg)
        return direction_from_az_el(az, el)

    def render(self, azimuths_deg, elevations_deg, energies=None, width_deg: float = 10.0) -> np.ndarray:
        """Energy map (n_el × n_az) of point sources, each a von Mises–Fisher blob.

        Args:
            azimuths_deg: K source azimuths in degrees.
            elevations_deg: K source elevations in degrees.
            energies: K source energies (default 1 each).
            width_deg: Angular standard deviation of each blob in degrees.
        """
        sources = direction_from_az_el(np.ravel(azimuths_deg), np.ravel(elevations_deg))
        energies = np.ones(len(sources)) if energies is None else np.ravel(energies).astype(np.float64)
        if len(energies) != len(sources) or width_deg <= 0:
            raise UserInputError('render needs one energy per source and a positive width')
        concentration = 1.0 / np.radians(width_deg) ** 2
        cosines = np.einsum('eak,sk->eas', self.directions, sources)
        return np.sum(energies * np.exp(concentration * (cosines - 1.0)), axis=-1)

    def check_map(self, energy_map, name: str) -> np.ndarray:
        """`energy_map` as float64 after checking its shape is n_el × n_az and its values are finite."""
        energy_map = np.asarray(energy_map, dtype=np.float64)
        if energy_map.shape != (self.n_el, self.n_az) or not np.all(np.isfinite(energy_map)):
            raise UserInputError(f'{name} must be a finite {self.n_el}×{self.n_az} (el × az) map, '
                                 f'got shape {energy_map.shape}')
        return energy_map


def energy_map_cc(pred_map, ref_map, grid: SphericalGrid) -> float:
    """Area-weighted Pearson correlation in [−1, 1] of two energy maps; NaN if either map is constant."""
    pred = grid.check_map(pred_map, 'pred_map')
    ref = grid.check_map(ref_map, 'ref_map')
    weights = grid.area_weights
    pred_centred = pred - np.sum(weights * pred)
    ref_centred = ref - np.sum(weights * ref)
    denominator = np.sqrt(np.sum(weights * pred_centred**2) * np.sum(weights * ref_centred**2))
    if denominator <= 0:
        return float('nan')
    return float(np.clip(np.sum(weights * pred_centred * ref_centred) / denominator, -1.0, 1.0))


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, quantile: float) -> float:
    """Smallest value v such that the weight of values ≤ v is at least `quantile` of the total."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) / np.sum(weights)
    return float(values[order][min(np.searchsorted(cumulative, quantile), len(values) - 1)])


def weighted_roc_auc(scores, labels, weights) -> float:
    """ROC AUC of `scores` for boolean `labels` with sample `weights` (ties count ½).

    Returns NaN when either class has no weight.
    """
    scores = np.ravel(scores).astype(np.float64)
    labels = np.ravel(labels).astype(bool)
    weights = np.ravel(weights).astype(np.float64)
    positive_total, negative_total = weights[labels].sum(), weights[~labels].sum()
    if positive_total <= 0 or negative_total <= 0:
        return float('nan')
    unique_scores, inverse = np.unique(scores, return_inverse=True)
    positive = np.bincount(inverse, weights * labels, minlength=len(unique_scores))
    negative = np.bincount(inverse, weights * ~labels, minlength=len(unique_scores))
    negative_below = np.cumsum(negative) - negative
    auc = np.sum(positive * (negative_below + 0.5 * negative)) / (positive_total * negative_total)
    return float(np.clip(auc, 0.0, 1.0))


def energy_map_auc(pred_map, ref_map, grid: SphericalGrid, hot_quantile: float = 0.9) -> float:
    """Area-weighted ROC AUC of the predicted map at finding the reference's hot cells (module doc)."""
    if not 0.0 < hot_quantile < 1.0:
        raise UserInputError(f'hot_quantile must lie in (0, 1), got {hot_quantile}')
    pred = grid.check_map(pred_map, 'pred_map')
    ref = grid.check_map(ref_map, 'ref_map')
    weights = grid.area_weights
    hot = ref > _weighted_quantile(ref.ravel(), weights.ravel(), hot_quantile)
    return weighted_roc_auc(pred, hot, weights)


def energy_map_metrics(pred_map, ref_map, grid: SphericalGrid, hot_quantile: float = 0.9) -> dict[str, float]:
    """{'cc': energy_map_cc, 'auc': energy_map_auc} for one pair of maps."""
    return {'cc': energy_map_cc(pred_map, ref_map, grid),
            'auc': energy_map_auc(pred_map, ref_map, grid, hot_quantile)}
