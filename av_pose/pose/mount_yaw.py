"""The array's yaw on the rig from DOA bearings along a visually known motion (see `av_pose.pose.calibration`).

Two solvers over the same bearings (`Rays`: the DOA peaks of the views, with each view's rotation and position in
its segment's first default-array frame):
- `solve_yaw`: bearing-only triangulation. With the right yaw, the world bearings of a static source all meet at one
  point; needs the rig to travel (turning alone cannot show the yaw).
- `solve_yaw_from_bearing`: a static source whose direction at the first view is known (the user faced it, or it
  sits at a known pixel): every later view then says where the source is in the rig's frame, and the DOA says where
  it is in the array's, so each confident DOA peak gives the yaw directly. Turning suffices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from av_pose.geometry import rotation_from_ypr
from av_pose.metrics.azimuth import wrap_signed_deg
from av_pose.metrics.spherical import az_el_from_direction, direction_from_az_el

UNOBSERVABLE_STD_DEG = 180.0
"""yaw_std_deg reported when the recording does not determine the yaw (no translation, no static source)."""


@dataclass(frozen=True)
class Rays:
    """Bearings of the DOA peaks of the views, M of them (see `_refine` for how they are used)."""

    origin: np.ndarray     # M×3 view positions in their segment's first default-array frame (path units)
    R_origin: np.ndarray   # M×3×3 view's default-array frame → segment's first one
    azimuth: np.ndarray    # M degrees, array frame, mirror-corrected
    weight: np.ndarray     # M DOA confidences
    segment: np.ndarray    # M segment ids
    block: np.ndarray      # M time blocks (0..9) for the jackknife

    def subset(self, keep: np.ndarray) -> Rays:
        """The rays where `keep` is True."""
        return Rays(*(getattr(self, name)[keep] for name in ('origin', 'R_origin', 'azimuth', 'weight', 'segment',
                                                                'block')))

    def world_angles(self, yaw_deg: float, index=slice(None)) -> np.ndarray:
        """Horizontal angle (radians, segment frame) of each bearing for the mount yaw `yaw_deg`."""
        theta = np.radians(self.azimuth[index])
        local = np.stack([np.cos(theta), np.sin(theta), np.zeros_like(theta)], axis=-1)
        direction = np.einsum('mij,mj->mi', self.R_origin[index] @ rotation_from_ypr(np.radians(yaw_deg), 0, 0),
                              local)
        return np.arctan2(direction[:, 1], direction[:, 0])


# ---------------------------------------------------------------------------------------------------- solver
@dataclass(frozen=True)
class YawFit:
    """Result of `solve_yaw` or `solve_yaw_from_bearing`.

    Yaw and its 1-σ (degrees), bearings kept, sources found, robust cost (NaN from the bearing solver), and the
    profile (yaw grid in degrees, its likelihood, or the bearing solver's kernel density, with a peak of 1).
    """

    yaw_deg: float
    std_deg: float
    rays: int
    sources: int
    cost: float
    profile_yaw_deg: np.ndarray
    profile_likelihood: np.ndarray


_HOUGH_STEP_DEG = 6.0
_HOUGH_CELLS = 48           # cells along the larger side of each segment's search area
_AREA_MARGIN = 2.5          # search area = path bounding box ± this × path extent
_PATH_CLEARANCE = 0.15      # sources are not sought closer to the path than this × extent
_ASSIGN_GATE_DEG = 20.0     # a bearing further than this from every source is an outlier
_MIN_EXTENT = 0.3           # path units (≈ seconds of travel): less gives no triangulation baseline
_MIN_RESIDUAL_DEG = 1.0     # bearings are never trusted beyond this when the profile is read as a likelihood
_SOURCE_CANDIDATES = 2      # source cells per segment that seed the fit at each yaw of the profile


def _jackknife_std(deviations: list[float]) -> float:
    """Jackknife 1-σ (degrees) from leave-one-block-out yaw deviations; UNOBSERVABLE_STD_DEG below 3 blocks."""
    n = len(deviations)
    if n < 3:
        return UNOBSERVABLE_STD_DEG
    values = np.asarray(deviations, dtype=np.float64)
    return float(np.sqrt((n - 1) / n * np.sum((values - values.mean()) ** 2)))


def _segment_extent(origin: np.ndarray) -> float:
    """Horizontal extent of a segment's path (path units)."""
    return float(max(np.ptp(origin[:, 0]), np.ptp(origin[:, 1])))


def _segment_grid(origin: np.ndarray) -> np.ndarray:
    """Candidate source cells (G×2, horizontal plane) around a segment's path (M×3)."""
    extent = _segment_extent(origin)
    low, high = origin[:, :2].min(0) - _AREA_MARGIN * extent, origin[:, :2].max(0) + _AREA_MARGIN * extent
    step = float((high - low).max()) / _HOUGH_CELLS
    gx, gy = np.meshgrid(np.arange(low[0], high[0], step), np.arange(low[1], high[1], step))
    cells = np.stack([gx.ravel(), gy.ravel()], axis=1)
    path = origin[:: max(1, len(origin) // 200), :2]
    clearance = np.min(np.linalg.norm(cells[:, None] - path[None], axis=-1), axis=1)
    return cells[clearance > _PATH_CLEARANCE * extent]


@dataclass(frozen=True)
class _Votes:
    """One segment's Hough data (see `_hough`).

    Candidate cells G×2 and, per bearing (M of them), cos and sin of the angle from its view to each cell minus its
    world angle at yaw 0 (M×G), and its weight (M,).
    """

    cells: np.ndarray
    cos_part: np.ndarray
    sin_part: np.ndarray
    weight: np.ndarray

    def kernel(self, yaw_deg: float, kappa: float) -> np.ndarray:
        """M×G von Mises agreement of each bearing, turned by the mount yaw, with the direction to each cell."""
        yaw = np.radians(yaw_deg)
        return np.exp(kappa * (self.cos_part * np.float32(np.cos(yaw)) + self.sin_part * np.float32(np.sin(yaw))
                               - 1.0))


def _hough(rays: Rays, segments: list[int]) -> dict[int, _Votes]:
    """Per segment, what the votes of every bearing for every horizontal cell need (`_Votes`).

    The yaw only turns each bearing about its view's z axis, which near-level views make a shift of its
    horizontal angle; the votes use that approximation, the refinement (`_refine`) is exact.
    """
    base = rays.world_angles(0.0)
    out: dict[int, _Votes] = {}
    for segment in segments:
        index = np.flatnonzero(rays.segment == segment)
        cells = _segment_grid(rays.origin[index])
        towards = cells[None, :, :] - rays.origin[index, None, :2]
        angle = np.arctan2(towards[..., 1], towards[..., 0]) - base[index, None]
        out[segment] = _Votes(cells, np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32),
                              rays.weight[index].astype(np.float32))
    return out


def _peaks(votes: _Votes, yaw_deg: float, kappa: float, min_distance: float, count: int = _SOURCE_CANDIDATES,
           relative: float = 0.4) -> np.ndarray:
    """Up to `count` source cells for the mount yaw `yaw_deg`, strongest first, by explaining the bearings away.

    The cell with the most votes is taken; every bearing then keeps only the part of its weight that cell does not
    explain (1 − its kernel there), and the votes are counted again. A strong source's vote blob thus yields one
    cell, not a second one beside it that would crowd out a weaker source. A cell is kept while it has at least
    `relative` × the first cell's votes and lies `min_distance` from the cells taken.
    """
    kernel = votes.kernel(yaw_deg, kappa)
    weight = votes.weight.copy()
    chosen: list[int] = []
    first = None
    while len(chosen) < count:
        tally = weight @ kernel
        if chosen:
            near = np.min(np.linalg.norm(votes.cells[:, None] - votes.cells[chosen][None], axis=-1), axis=1)
            tally = np.where(near >= min_distance, tally, 0.0)
        best = int(np.argmax(tally))
        first = tally[best] if first is None else first
        if tally[best] <= 0.0 or tally[best] < relative * first:
            break
        chosen.append(best)
        weight = weight * (1.0 - kernel[:, best])
    return votes.cells[chosen]


def _refine(rays: Rays, yaw0: float, sources: np.ndarray, owner: np.ndarray, sigma: float,
            keep: np.ndarray | None = None, rounds: int = 2, fit_yaw: bool = True, max_nfev: int = 400):
    """Robust least squares over the source positions S×3 (and the yaw when `fit_yaw`).

    The residual of a bearing is its measured azimuth minus the azimuth of the source in that view's array frame
    (exact in 3-D: tilted views included); a source's height has a weak prior at the path's mean height. Bearings
    are assigned to the nearest source of their segment within _ASSIGN_GATE_DEG; the others are outliers.
    Returns (yaw, sources, inlier mask, cost, robust residual scale in degrees) or None when too few bearings fit;
    the cost (Cauchy, capped at the gate) counts every bearing in `keep`, so costs of different yaws compare.
    """
    gate = np.radians(_ASSIGN_GATE_DEG)
    mask = np.ones(len(rays.weight), bool) if keep is None else keep
    yaw, sources = float(yaw0), sources.copy()
    other_segment = rays.segment[:, None] != owner[None, :]
    height = np.array([rays.origin[rays.segment == o, 2].mean() for o in owner])
    height_scale = np.array([max(_segment_extent(rays.origin[rays.segment == o]), 1e-6) for o in owner])
    theta = np.radians(rays.azimuth)

    def residuals(yaw_deg: float, points: np.ndarray, rows=slice(None)) -> np.ndarray:
        offset = points[None, :, :] - rays.origin[rows, None, :]                  # M×S×3 in segment frames
        local = np.einsum('mji,msj->msi', rays.R_origin[rows], offset)            # in each view's default frame
        predicted = np.arctan2(local[..., 1], local[..., 0]) - np.radians(yaw_deg)
        r = np.angle(np.exp(1j * (theta[rows, None] - predicted)))
        return np.where(other_segment[rows], np.pi, r)

    for _ in range(rounds):
        r = residuals(yaw, sources)
        assign = np.argmin(np.abs(r), axis=1)
        inlier = mask & (np.abs(r[np.arange(len(assign)), assign]) < gate)
        if inlier.sum() < 3 * len(sources) + 2:
            return None
        rows = np.flatnonzero(inlier)
        scale = np.sqrt(rays.weight[rows]) / sigma
        picked = assign[rows]

        def fun(params: np.ndarray) -> np.ndarray:
            yaw_deg, points = (params[0], params[1:]) if fit_yaw else (yaw, params)  # noqa: B023
            points = points.reshape(-1, 3)
            bearing = residuals(yaw_deg, points, rows)[np.arange(len(rows)), picked] * scale  # noqa: B023
            return np.concatenate([bearing, 0.1 * (points[:, 2] - height) / height_scale])

        start = np.concatenate([[yaw], sources.ravel()]) if fit_yaw else sources.ravel()
        solution = least_squares(fun, start, loss='cauchy', f_scale=1.0, diff_step=1e-6, max_nfev=max_nfev,
                                 xtol=1e-10, ftol=1e-10)
        yaw, sources = (float(solution.x[0]), solution.x[1:]) if fit_yaw else (yaw, solution.x)
        sources = sources.reshape(-1, 3)
    r = np.abs(residuals(yaw, sources)).min(axis=1)
    cost = float(np.sum(rays.weight[mask] * np.log1p((np.minimum(r[mask], gate) / sigma) ** 2)))
    inlier = mask & (r < gate)
    return yaw, sources, inlier, cost, float(np.degrees(1.4826 * np.median(r[inlier])))


def solve_yaw(rays: Rays, sigma_deg: float = 5.0, temperature: float = 5.0,
              trust_residuals: bool = False) -> YawFit | None:
    """Mount yaw from bearings along the path (module docstring); None when no segment has a baseline.

    A profile over the yaw (sources seeded by the Hough votes and refitted at each yaw of the grid), the best yaw
    refined jointly with the sources, and its 1-σ: the larger of the time-block jackknife spread and the spread
    of the profile read as a likelihood exp(−Δcost·(σ/s)² / `temperature`): the cost is the bearings' Cauchy
    negative log-likelihood at scale σ = `sigma_deg`, s the robust scale of the fitted residuals (at least 1°
    when `trust_residuals`, i.e. a metric path, else at least σ), and the temperature discounts the overlap of
    neighbouring DOA windows and the approximate path.
    """
    segments = [s for s in np.unique(rays.segment)
                if _segment_extent(rays.origin[rays.segment == s]) >= _MIN_EXTENT and np.sum(rays.segment == s) >= 8]
    if not segments:
        return None
    rays = rays.subset(np.isin(rays.segment, segments))
    sigma = np.radians(sigma_deg)
    yaws = np.arange(-180.0, 180.0, _HOUGH_STEP_DEG)
    kappa = 1.0 / np.radians(2.0 * sigma_deg) ** 2   # a von Mises kernel twice as wide as the residual scale
    votes = _hough(rays, segments)
    profile = np.full(len(yaws), np.inf)
    starts: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(yaws)
    for k, yaw in enumerate(yaws):
        points, owner = [], []
        for segment in segments:
            origin = rays.origin[rays.segment == segment]
            found = _peaks(votes[segment], yaw, kappa, 0.3 * _segment_extent(origin))
            points += [[x, y, origin[:, 2].mean()] for x, y in found]
            owner += [segment] * len(found)
        fit = _refine(rays, yaw, np.array(points), np.array(owner), sigma, rounds=1, fit_yaw=False, max_nfev=40)
        if fit is not None:
            profile[k], starts[k] = fit[3], (fit[1], np.array(owner))
    if not np.isfinite(profile).any():
        return None
    best = int(np.argmin(profile))
    fit = _refine(rays, yaws[best], *starts[best], sigma)
    if fit is None:
        return None
    yaw, sources, inlier, cost, residual_deg = fit
    owner = starts[best][1]
    spread = _jackknife_std([wrap_signed_deg(f[0] - yaw) for block in np.unique(rays.block)
                             if (f := _refine(rays, yaw, sources, owner, sigma, keep=rays.block != block,
                                              rounds=1)) is not None])
    finite = np.isfinite(profile)
    floor = _MIN_RESIDUAL_DEG if trust_residuals else sigma_deg
    sharpen = (sigma_deg / max(residual_deg, floor)) ** 2   # the cost assumed σ; the fit may show less
    likelihood = np.exp(-(profile[finite] - profile[finite].min()) * sharpen / temperature)
    offsets = np.radians(wrap_signed_deg(yaws[finite] - yaw))
    resultant = np.abs(np.sum(likelihood * np.exp(1j * offsets))) / likelihood.sum()
    profile_std = np.degrees(np.sqrt(-2.0 * np.log(min(max(resultant, 1e-12), 1.0))))   # rounding: ≤ 1
    std = float(min(max(spread, profile_std), UNOBSERVABLE_STD_DEG))
    return YawFit(float(wrap_signed_deg(yaw)), std, int(inlier.sum()), len(sources), cost, yaws[finite], likelihood)


# ------------------------------------------------------------------------------------ a source of known bearing
BEARING_KERNEL_DEG = 5.0
"""Width of the von Mises kernel density over the per-peak yaws whose mode starts `solve_yaw_from_bearing`."""
BEARING_GATE_DEG = 10.0
"""Per-peak yaws further than this from the mode belong to other sources or reflections and are left out."""
BEARING_STD_FLOOR_DEG = 2.5
"""Least 1-σ reported. Room reflections bias the DOA, by an amount that depends on where the source sits relative
to the array's axes, and turning for 20 s does not average that out: on 50 ShoeboxAV turning scenes
(docs/results.md, "Array mount") about two thirds of the errors lie within 2.5°, and 5 of 50 beyond 3σ (up to
18°), which the jackknife does not see."""


def _gated_mean(yaws: np.ndarray, weights: np.ndarray, start: float, rounds: int = 3) -> tuple[float, np.ndarray]:
    """Weighted mean of the yaws (degrees) within BEARING_GATE_DEG of `start`, re-centred `rounds` times."""
    yaw = float(start)
    near = np.zeros(len(yaws), bool)
    for _ in range(rounds):
        near = np.abs(wrap_signed_deg(yaws - yaw)) < BEARING_GATE_DEG
        if not near.any() or weights[near].sum() <= 0:
            break
        yaw += float(np.average(wrap_signed_deg(yaws[near] - yaw), weights=weights[near]))
    return float(wrap_signed_deg(yaw)), near


def solve_yaw_from_bearing(rays: Rays, bearing_deg: float, elevation_deg: float = 0.0,
                           segment: int = 0) -> YawFit | None:
    """Mount yaw from a static source whose direction at the first view of `segment` is known (module docstring).

    Args:
        rays: the DOA peaks (mirror-corrected) with the views' rotations to the segment's first default-array frame.
        bearing_deg: the source's azimuth at that first view, in the rig's default-array frame (= the camera's
            heading frame: counter-clockwise from the camera's forward axis), degrees.
        elevation_deg: its elevation above that frame's x-y plane, degrees (matters only when the rig tilts).
        segment: the chained views the bearing refers to.

    Each peak θ_k of view k gives Y_k = α_k − θ_k, α_k the source's azimuth in view k's default-array frame (the
    known direction turned by the view's visual rotation). Other sources and reflections scatter; the yaw is the
    mode of a kernel density over all Y_k (weights: DOA confidences), refined by the weighted mean within
    BEARING_GATE_DEG; 1-σ is the time-block jackknife spread, at least BEARING_STD_FLOOR_DEG. None when the
    segment has fewer than 5 peaks. The source must stay put and the rig mostly turn: travel adds parallax.
    """
    rays = rays.subset(rays.segment == segment)
    if len(rays.weight) < 5:
        return None
    local = np.einsum('mji,j->mi', rays.R_origin, direction_from_az_el(bearing_deg, elevation_deg))  # view frames
    yaws = wrap_signed_deg(az_el_from_direction(local)[0] - rays.azimuth)
    grid = np.arange(-180.0, 180.0, 0.5)
    kappa = 1.0 / np.radians(BEARING_KERNEL_DEG) ** 2
    density = (rays.weight[None, :] * np.exp(kappa * (np.cos(np.radians(grid[:, None] - yaws[None, :])) - 1.0))).sum(1)
    yaw, near = _gated_mean(yaws, rays.weight, grid[np.argmax(density)])
    if near.sum() < 5:
        return None
    spread = _jackknife_std([wrap_signed_deg(_gated_mean(yaws[keep], rays.weight[keep], yaw)[0] - yaw)
                             for block in np.unique(rays.block) if (keep := rays.block != block).sum() >= 5])
    return YawFit(yaw, max(spread, BEARING_STD_FLOOR_DEG), int(near.sum()), 1, float('nan'), grid,
                  density / max(float(density.max()), 1e-30))
