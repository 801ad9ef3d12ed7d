"""Monocular scale chaining: the length ratio of consecutive two-view translations from shared keypoints.

A two-view fit (`av_pose.vision.two_view`) knows its translation only up to scale. Two consecutive pairs a → b and
b → c share view b; its keypoints that are inliers of both are triangulated with each pair's unit baseline, and
the same point's depth in b gives |t_bc| / |t_ab|. Camera optical frames, as in `two_view`.
"""
from __future__ import annotations

import numpy as np

from av_pose.vision.epipolar import normalized_points


def _depths(points_near: np.ndarray, points_far: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray,
            near_is_a: bool) -> tuple[np.ndarray, np.ndarray]:
    """Depths (z, unit baseline) of matched points in the shared view, and their parallax angles (degrees).

    The pair maps view-b rays into view a: λ_a·f_a = λ_b·R·f_b + t. `near_is_a` says which side is the shared view.
    """
    f_a, f_b = (points_near, points_far) if near_is_a else (points_far, points_near)
    f_a, f_b = normalized_points(f_a, K), normalized_points(f_b, K) @ R.T
    A = np.stack([f_a, -f_b], axis=-1)                                          # N×3×2
    lam = np.linalg.solve(np.einsum('nij,nik->njk', A, A) + 1e-12 * np.eye(2), np.einsum('nij,i->nj', A, t)[..., None])
    cos = np.einsum('ni,ni->n', f_a, f_b) / (np.linalg.norm(f_a, axis=1) * np.linalg.norm(f_b, axis=1))
    return lam[:, 0 if near_is_a else 1, 0], np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def relative_scale(first, second, K: np.ndarray, min_points: int = 8) -> float | None:
    """Length ratio |t_bc| / |t_ab| of consecutive visual pairs a → b → c (`TwoViewGeometry`), or None.

    Monocular scale propagation: keypoints of view b that are inliers of both pairs (the same detections, so the
    same pixel coordinates) are triangulated with each pair's unit baseline; the same point's depth in b gives the
    ratio (median over points seen with ≥ 0.5° of parallax in both pairs).
    """
    if not (first.translation_ok and second.translation_ok):
        return None
    in_b = {tuple(point): i for i, point in enumerate(np.round(first.inlier_points[1], 3))}
    common = [(in_b[tuple(point)], j) for j, point in enumerate(np.round(second.inlier_points[0], 3))
              if tuple(point) in in_b]
    if len(common) < min_points:
        return None
    i, j = np.array(common).T
    depth_ab, angle_ab = _depths(first.inlier_points[1][i], first.inlier_points[0][i], first.R_a_b, first.t_a_b, K,
                                 near_is_a=False)
    depth_bc, angle_bc = _depths(second.inlier_points[0][j], second.inlier_points[1][j], second.R_a_b, second.t_a_b,
                                 K, near_is_a=True)
    good = (depth_ab > 0) & (depth_bc > 0) & (angle_ab > 0.5) & (angle_bc > 0.5)
    return float(np.median(depth_ab[good] / depth_bc[good])) if good.sum() >= min_points else None
