"""Bearing-only localisation: the point where the rays from a moving rig towards a sound source meet.

A bearing is a ray: its origin is the array centre in the world (odom) frame, its direction the unit vector
towards the source. Least squares over rays minimises the squared perpendicular distances of the point to each
ray, weighted by the inverse variance of that distance (range × bearing standard deviation). A weak prior on
the position (information form) keeps the problem well posed when the rig has barely moved: the estimate then
sits at a prior range along the bearings and its covariance is long along the ray. That is the batch form of a
bearing-only Kalman filter for a static source, so one solver serves both regimes.

Planar arrays hear no elevation: their rays are solved in the horizontal plane (2-D) and the height is taken
from the array with a large variance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_RANGE_M = 0.3  # ranges below this do not shrink the perpendicular variance any further


@dataclass(frozen=True)
class RayFit:
    """Least-squares intersection of D-dimensional rays.

    Attributes:
        position: (D,) metres, the world point closest to all rays (weighted).
        covariance: D×D m², the inverse of the information matrix, inflated by the residual when the rays
            disagree more than their stated noise.
        chi2_per_dof: weighted squared residual per degree of freedom (≈ 1 when the noise model holds; large
            when the rays do not meet: a moving source or a wrong association).
        num_rays: rays used.
    """

    position: np.ndarray
    covariance: np.ndarray
    chi2_per_dof: float
    num_rays: int


def _projectors(directions: np.ndarray) -> np.ndarray:
    """N×D×D projectors onto the planes perpendicular to unit `directions` (N×D)."""
    dim = directions.shape[1]
    return np.eye(dim)[None] - directions[:, :, None] * directions[:, None, :]


def fit_rays(origins: np.ndarray, directions: np.ndarray, sigma_rad: np.ndarray | float,
             prior_mean: np.ndarray | None = None, prior_std_m: float = 10.0, iterations: int = 3,
             times_s: np.ndarray | None = None, velocity_std_mps: float = 0.5,
             robust_sigmas: float | None = None) -> RayFit:
    """Weighted least-squares point of N rays (the weights follow the ranges, so it iterates).

    Args:
        origins: N×D ray origins, metres (D = 2 or 3).
        directions: N×D directions (normalised here).
        sigma_rad: bearing standard deviation, radians (scalar or N).
        prior_mean: (D,) prior position, metres; None = the mean origin.
        prior_std_m: isotropic prior standard deviation, metres (weak by default).
        iterations: re-weightings with the ranges of the previous solution.
        times_s: N ray times, seconds: when given, the source moves at a constant velocity and `position` is
            where it is at the latest time. Bearing-only motion analysis: the velocity is observable only
            while the rig's own path bends.
        velocity_std_mps: prior standard deviation of that velocity (mean 0), m/s.
        robust_sigmas: None for least squares; else Cauchy re-weighting: a ray whose perpendicular residual is
            r standard deviations gets its weight times 1 / (1 + (r / robust_sigmas)²), so that bearings of
            another source (a wrong association) lose their pull. Iterates at least 8 times, from the crossing
            of two rays that best explains all of them (`_robust_start`) when the source is static.
    """
    origins = np.asarray(origins, dtype=np.float64)
    directions = np.asarray(directions, dtype=np.float64)
    directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    num, dim = origins.shape
    sigma = np.broadcast_to(np.asarray(sigma_rad, dtype=np.float64), (num,))
    prior = origins.mean(axis=0) if prior_mean is None else np.asarray(prior_mean, dtype=np.float64)
    # unknowns: position (D) [+ velocity (D)]; ray n sees position + dt_n · velocity
    if times_s is None:
        design = np.broadcast_to(np.eye(dim), (num, dim, dim))
        prior_info = np.eye(dim) / prior_std_m ** 2
        prior_state = prior
    else:
        dt = np.asarray(times_s, dtype=np.float64) - float(np.max(times_s))
        design = np.concatenate([np.broadcast_to(np.eye(dim), (num, dim, dim)),
                                 dt[:, None, None] * np.eye(dim)[None]], axis=2)
        prior_info = np.diag([prior_std_m ** -2] * dim + [velocity_std_mps ** -2] * dim)
        prior_state = np.concatenate([prior, np.zeros(dim)])
    projectors = _projectors(directions)
    normal = np.einsum('nki,nkl,nlj->nij', design, projectors, design)   # N×S×S
    rhs = np.einsum('nki,nkl,nl->ni', design, projectors, origins)       # N×S
    ranges = np.full(num, 2.0)
    down_weight = np.ones(num)
    if robust_sigmas and times_s is None:
        ranges, down_weight = _robust_start(origins, directions, projectors, sigma, robust_sigmas)
    for _ in range(max(1, iterations, 8 if robust_sigmas else 0)):
        weights = down_weight / (np.maximum(ranges, MIN_RANGE_M) * sigma) ** 2
        information = np.einsum('n,nij->ij', weights, normal) + prior_info
        state = np.linalg.solve(information, np.einsum('n,ni->i', weights, rhs) + prior_info @ prior_state)
        points = np.einsum('nij,j->ni', design, state)
        ranges = np.einsum('nd,nd->n', points - origins, directions)
        if robust_sigmas:
            down_weight = _cauchy_weights(points, origins, directions, projectors, sigma, robust_sigmas)[1]
    if np.median(ranges) < MIN_RANGE_M:
        # the rays met at (or behind) their own origins: they all start from about one point (no baseline) and
        # only their noise "intersects" there. Range is unobservable: the prior range stands, long along the ray.
        ranges = np.full(num, float(np.linalg.norm(prior - origins.mean(axis=0))))
        weights = 1.0 / (np.maximum(ranges, MIN_RANGE_M) * sigma) ** 2
        state = prior_state.astype(np.float64).copy()
        points = np.einsum('nij,j->ni', design, state)
        mean_direction = directions.mean(axis=0) / max(np.linalg.norm(directions.mean(axis=0)), 1e-12)
        information = prior_info.astype(np.float64).copy()  # along the ray: the prior alone
        information[:dim, :dim] += weights.sum() * (np.eye(dim) - np.outer(mean_direction, mean_direction))
    perpendicular = np.einsum('nij,nj->ni', projectors, points - origins)
    chi2 = float(np.sum(weights * np.sum(perpendicular ** 2, axis=1)))
    unknowns = len(state)
    chi2_per_dof = chi2 / (num * (dim - 1) - unknowns) if num * (dim - 1) > unknowns else 1.0
    covariance = np.linalg.inv(information)[:dim, :dim] * max(1.0, chi2_per_dof)
    return RayFit(state[:dim], covariance, chi2_per_dof, num)


def _cauchy_weights(points: np.ndarray, origins: np.ndarray, directions: np.ndarray, projectors: np.ndarray,
                    sigma: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ranges, Cauchy weights, Cauchy losses) of N rays about candidate points (N×D, or D broadcast)."""
    offsets = points - origins
    ranges = np.einsum('nd,nd->n', offsets, directions)
    residual = np.linalg.norm(np.einsum('nij,nj->ni', projectors, offsets), axis=1)
    normalised = (residual / (np.maximum(ranges, MIN_RANGE_M) * sigma) / scale) ** 2
    normalised = np.where(ranges > 0, normalised, np.maximum(normalised, 1e6))  # behind the ray: no support
    return ranges, 1.0 / (1.0 + normalised), np.log1p(normalised)


def _robust_start(origins: np.ndarray, directions: np.ndarray, projectors: np.ndarray, sigma: np.ndarray,
                  scale: float, candidates: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(ranges, weights) at the crossing of two rays with the least total Cauchy loss over all rays.

    Pairs are rays far apart in the sequence (the widest baselines); with no usable crossing, unit weights.
    """
    num = len(origins)
    first = np.linspace(0, num // 2, min(candidates, max(num // 2, 1)), dtype=int)
    best, start = np.inf, (np.full(num, 2.0), np.ones(num))
    for i in np.unique(first):
        j = min(num - 1, i + num // 2)
        normal = projectors[i] + projectors[j]
        if j == i or np.linalg.cond(normal) > 1e6:
            continue
        point = np.linalg.solve(normal, projectors[i] @ origins[i] + projectors[j] @ origins[j])
        ranges, weights, losses = _cauchy_weights(point, origins, directions, projectors, sigma, scale)
        if losses.sum() < best:
            best, start = losses.sum(), (ranges, weights)
    return start


def bearing_vectors(azimuth_deg: np.ndarray, elevation_deg: np.ndarray | None, R_world_array: np.ndarray) -> np.ndarray:
    """N×3 world unit vectors of bearings given in the array frame (azimuth CCW from array +x, elevation up).

    `elevation_deg` None or NaN means the array does not resolve elevation: the bearing is taken horizontal in
    the array frame. `R_world_array` is 3×3 or N×3×3.
    """
    azimuth = np.radians(np.atleast_1d(np.asarray(azimuth_deg, dtype=np.float64)))
    elevation = np.zeros_like(azimuth) if elevation_deg is None else np.radians(
        np.nan_to_num(np.atleast_1d(np.asarray(elevation_deg, dtype=np.float64)), nan=0.0))
    local = np.stack([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                      np.sin(elevation)], axis=-1)
    R = np.asarray(R_world_array, dtype=np.float64)
    return np.einsum('...ij,...j->...i', R, local)
