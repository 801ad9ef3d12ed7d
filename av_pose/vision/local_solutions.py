"""The local solutions of a two-view fit: where the refinement starts, which other minima compete, their spread.

An essential matrix has one decomposition with the points in front of both cameras, but a near-planar scene fits
a second pose about as well (the homography's decompositions find it), and planar motion adds headings across
the up axis. `av_pose.vision.two_view` refines from each start, keeps the lowest cost and reports the others as
`alternatives` with probabilities, whose spread widens its covariance and among which another sensor can choose
(`av_pose.pose.geometric`). Frames and conventions as in `two_view`: camera optical frames, (R_a_b, unit t_a_b).
"""
from __future__ import annotations

import cv2
import numpy as np

from av_pose.geometry import so3_log
from av_pose.vision.epipolar import in_front, planar_pose, sampson

PLANAR_HEADINGS = 4
"""Planar motion: extra starts with the translation's heading spread over 180° (±t cost the same), which the
two-parameter fit cannot reach from a wrong start across the turn–sideways valley."""


def view_turn_deg(R: np.ndarray) -> float:
    """Angle (degrees) between the two cameras' optical axes for R = R_a_b.

    A turn about the optical axis itself (a camera looking at the floor) spins the image and keeps the view.
    """
    return float(np.degrees(np.arccos(np.clip(R[2, 2], -1.0, 1.0))))


def beyond_field_of_view(R: np.ndarray, K: np.ndarray) -> bool:
    """Whether the view turns further than the horizontal field of view of K (principal point at the centre)."""
    return view_turn_deg(R) > 2.0 * np.degrees(np.arctan2(K[0, 2] + 0.5, K[0, 0]))


def essential_starts(E: np.ndarray, H_ab: np.ndarray | None, x_a: np.ndarray, x_b: np.ndarray, K: np.ndarray,
                      mask: np.ndarray, up: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Starting poses (R_a_b, unit t_a_b) for the refinement, best guess first.

    The decomposition of E that puts most of its inliers in front of both cameras (as `cv2.recoverPose`), and
    the homography's decompositions (a near-planar scene has two essential solutions; the homography finds the
    other one). With `up` (planar motion) each is projected onto planar motion, those that turn the view beyond
    the field of view are dropped (the views share matches; a straight-ahead start replaces them when none is
    left), and PLANAR_HEADINGS headings with the first one's turn are added.
    """
    R1, R2, t_e = cv2.decomposeEssentialMat(E)
    # OpenCV's (R, t) map camera a to camera b (x_b = R x_a + t): invert to (R_a_b, t_a_b).
    candidates = [(R_cv.T, -R_cv.T @ (sign * t_e.ravel())) for R_cv in (R1, R2) for sign in (1.0, -1.0)]
    front = [int(in_front(R, t, x_a[mask], x_b[mask]).sum()) for R, t in candidates]
    starts = [candidates[int(np.argmax(front))]]
    if H_ab is not None and np.all(np.isfinite(H_ab)):
        _, rotations, translations, _ = cv2.decomposeHomographyMat(H_ab, K)
        starts += [(R_cv.T, -R_cv.T @ t_cv.ravel()) for R_cv, t_cv in zip(rotations, translations)]
    if up is not None:
        starts = [planar_pose(R, t, up) for R, t in starts]
        starts = [(R, t) for R, t in starts if not beyond_field_of_view(R, K)] \
            or [planar_pose(np.eye(3), np.array([0.0, 0.0, 1.0]), up)]
        R0, t0 = starts[0]
        sideways = np.cross(up, t0)
        starts += [(R0, np.cos(a) * t0 + np.sin(a) * sideways)
                   for a in np.pi * np.arange(1, PLANAR_HEADINGS + 1) / (PLANAR_HEADINGS + 1)]
    poses: list[tuple[np.ndarray, np.ndarray]] = []
    for R, t in starts:
        norm = np.linalg.norm(t)
        duplicate = any(np.trace(R_seen.T @ R) > 1.0 + 2.0 * np.cos(np.radians(0.5))
                        and abs(t_seen @ t) > np.cos(np.radians(2.0)) * norm for R_seen, t_seen in poses)
        if norm > 1e-9 and not duplicate:  # ±t give the same cost: the sign is settled by cheirality later
            poses.append((R, t / norm))
    return poses


def competing_solutions(R: np.ndarray, t: np.ndarray, others: list[tuple[np.ndarray, np.ndarray]], x_a: np.ndarray,
                         x_b: np.ndarray, noise: float, planar: bool) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The other local solutions (R_k, t_k) that differ from (R, t), with their probabilities p_k.

    Each solution's weight is exp(−χ²/2) of its truncated Sampson cost (σ = `noise`), normalised with the chosen
    solution's (whose probability is 1 − Σ p_k). In a planar scene (few essential inliers off the homography) two
    solutions explain the matches exactly alike and their cost difference is noise: they are weighted equally.
    t_k is signed like t (the sign is settled by cheirality for the chosen one).
    """
    def chi2(R_k: np.ndarray, t_k: np.ndarray) -> float:
        return float(np.minimum((sampson(R_k, t_k, x_a, x_b, with_jacobian=False)[0] / noise) ** 2, 9.0).sum())

    best = chi2(R, t)
    solutions, weights = [], []
    for R_k, t_k in others:
        t_k = t_k * (np.sign(t_k @ t) or 1.0)
        if np.linalg.norm(np.concatenate([t_k - t, so3_log(R.T @ R_k)])) > 1e-3:
            solutions.append((R_k, t_k))
            weights.append(1.0 if planar else float(np.exp(-0.5 * max(chi2(R_k, t_k) - best, 0.0))))
    total = 1.0 + sum(weights)
    return [(R_k, t_k, weight / total) for (R_k, t_k), weight in zip(solutions, weights)]


def solution_spread(R: np.ndarray, t: np.ndarray, solutions: list[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """6×6 second moment Σ p_k·Δ_k·Δ_kᵀ of solutions (R_k, t_k, p_k) about (R, t), Δ_k = (t_k − t, log(Rᵀ R_k))."""
    spread = np.zeros((6, 6))
    for R_k, t_k, probability in solutions:
        delta = np.concatenate([t_k - t, so3_log(R.T @ R_k)])
        spread += probability * np.outer(delta, delta)
    return spread
