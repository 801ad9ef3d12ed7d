"""Two-view models on normalised image points: residuals, Jacobians, refinement and Fisher covariances.

Points are N×3 normalised image coordinates x = K⁻¹·(u, v, 1) (camera optical frame: z forward, x right,
y down). The pose is (R, t) = (R_a_b, t_a_b): X_a = R·X_b + t, so matches satisfy x_aᵀ[t]×R x_b = 0
(essential model) or x_a ∝ R·x_b (pure rotation). Parameters are perturbed as R → R·exp([ω]×) (ω in rad)
and t → t + B·δ with B an orthonormal basis of the plane orthogonal to the unit vector t.

Planar motion (a ground robot; `up` = the rig's up axis in the camera frame, unit): R turns about `up` only and
t lies in the plane orthogonal to it, two parameters (ψ, the turn; φ, the heading of t). `planar_pose` projects
a pose onto that set and `planar_directions` maps (dψ, dφ) into (ω, δ), so the refinement and the covariance
below take `up` and work in those two parameters.
"""
from __future__ import annotations

import cv2
import numpy as np

from av_pose.geometry import hat

PLANAR_TILT_STD_DEG = 1.0
"""Planar motion: standard deviation (degrees) of the pitch and roll a level floor still lets the rig take
between two frames, and of the translation direction out of the floor's plane (the fit holds them at zero)."""


def normalized_points(points_px: np.ndarray, K: np.ndarray) -> np.ndarray:
    """N×3 normalised image coordinates (x, y, 1) = K⁻¹·(u, v, 1) of N×2 pixel points."""
    homogeneous = np.column_stack([points_px, np.ones(len(points_px))])
    return homogeneous @ np.linalg.inv(K).T


def project_to_so3(M: np.ndarray) -> np.ndarray:
    """The rotation closest to M (3×3) in the Frobenius norm (SVD with the determinant fix)."""
    U, _, Vt = np.linalg.svd(M)
    return U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise cross products of N×3 (or 3,) arrays; much faster than np.cross on small inputs."""
    return np.stack([u[..., 1] * v[..., 2] - u[..., 2] * v[..., 1],
                     u[..., 2] * v[..., 0] - u[..., 0] * v[..., 2],
                     u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]], axis=-1)


def tangent_basis(t: np.ndarray) -> np.ndarray:
    """3×2 orthonormal basis of the plane orthogonal to the unit vector t."""
    helper = np.zeros(3)
    helper[np.argmin(np.abs(t))] = 1.0
    first = _cross(t, helper)
    first /= np.sqrt(first @ first)
    return np.column_stack([first, _cross(t, first)])


def robust_sigma(residuals: np.ndarray) -> float:
    """1.4826 × median absolute value: the standard deviation of zero-mean Gaussian residuals."""
    return float(1.4826 * np.median(np.abs(residuals))) if residuals.size else 0.0


# --- essential model ----------------------------------------------------------------------------------------

def sampson(R: np.ndarray, t: np.ndarray, x_a: np.ndarray, x_b: np.ndarray,
            with_jacobian: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Signed Sampson distances (N,) of x_aᵀ[t]×R x_b = 0 (normalised units) and their Jacobian N×5 (ω, δ).

    The Sampson denominator is held fixed in the Jacobian (the usual Gauss-Newton approximation). With
    independent keypoint noise σ per coordinate in both images, each distance has standard deviation σ.
    """
    E = hat(t) @ R
    E_x_b = x_b @ E.T                      # rows: E·x_b
    row = x_a @ E                          # rows: x_aᵀ·E = (Eᵀ·x_a)ᵀ
    algebraic = np.einsum('ni,ni->n', x_a, E_x_b)
    scale = np.sqrt(E_x_b[:, 0] ** 2 + E_x_b[:, 1] ** 2 + row[:, 0] ** 2 + row[:, 1] ** 2)
    scale = np.maximum(scale, 1e-12)
    if not with_jacobian:
        return algebraic / scale, None
    jacobian = np.empty((len(x_a), 5))
    jacobian[:, :3] = _cross(x_b, row)     # x_aᵀE·(ω × x_b) = (x_b × x_aᵀE)·ω
    jacobian[:, 3:] = _cross(x_b @ R.T, x_a) @ tangent_basis(t)   # x_a·(δt × R x_b) = δt·(R x_b × x_a)
    jacobian /= scale[:, None]
    return algebraic / scale, jacobian


def tilt_prior(up: np.ndarray) -> np.ndarray:
    """3×3 rotation covariance (rad²) of planar motion's pitch and roll: PLANAR_TILT_STD_DEG across `up`."""
    return np.radians(PLANAR_TILT_STD_DEG) ** 2 * (np.eye(3) - np.outer(up, up))


def planar_rotation_covariance(turn_variance: float, up: np.ndarray) -> np.ndarray:
    """3×3 rotation covariance (rad²) of planar motion: `turn_variance` about `up`, the floor's tilt across it."""
    return turn_variance * np.outer(up, up) + tilt_prior(up)


def planar_pose(R: np.ndarray, t: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The planar-motion pose nearest (R, t), with `up` the unit up axis.

    The rotation about `up` by R's turn of the horizontal plane, and t's horizontal part as a unit vector (a
    horizontal axis when t is vertical).
    """
    ahead = np.array([0.0, 0.0, 1.0]) - up[2] * up
    if ahead @ ahead < 1e-6:  # the camera looks straight up or down: any horizontal axis will do
        ahead = np.array([1.0, 0.0, 0.0]) - up[0] * up
    ahead /= np.sqrt(ahead @ ahead)
    turned = R @ ahead
    turn = np.arctan2(up @ _cross(ahead, turned), ahead @ turned)
    horizontal = t - (t @ up) * up
    norm = np.sqrt(horizontal @ horizontal)
    return cv2.Rodrigues((turn * up).reshape(3, 1))[0], horizontal / norm if norm > 1e-9 else ahead


def planar_directions(R: np.ndarray, t: np.ndarray, up: np.ndarray) -> np.ndarray:
    """5×2 map from planar steps to the (ω, δ) of `sampson` at a planar pose (R, t).

    Columns: dψ, a turn about `up` (rad); dφ, a turn of the translation's heading about `up` (rad).
    """
    directions = np.zeros((5, 2))
    directions[:3, 0] = R.T @ up           # R·exp([Rᵀu]× dψ) = exp([u]× dψ)·R
    sideways = _cross(up, t)
    directions[3:, 1] = tangent_basis(t).T @ (sideways / np.sqrt(sideways @ sideways))
    return directions


def _cauchy_cost(residual: np.ndarray, noise: float) -> float:
    return float(np.sum(np.log1p((residual / noise) ** 2)))


def _rotate(R: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """R·exp([ω]×) (OpenCV's Rodrigues: much faster than the batched so3_exp for one rotation)."""
    return R @ cv2.Rodrigues(omega.reshape(3, 1))[0]


def refine_essential(R: np.ndarray, t: np.ndarray, x_a: np.ndarray, x_b: np.ndarray, noise: float,
                     iterations: int = 10, up: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Levenberg-Marquardt on the Cauchy-robust Sampson cost Σ log(1 + (d/noise)²); returns (R, t, cost).

    The cost valley of two views is long and curved (rotation trades against translation), so plain
    Gauss-Newton steps overshoot; LM with step control walks along it. With `up`, the motion is planar: the
    start is projected (`planar_pose`) and only the turn and the heading are fitted.
    """
    if up is not None:
        R, t = planar_pose(R, t, up)
    residual, jacobian = sampson(R, t, x_a, x_b)
    directions = np.eye(5) if up is None else planar_directions(R, t, up)
    jacobian = jacobian @ directions
    cost = _cauchy_cost(residual, noise)
    damping = 1e-3
    for _ in range(iterations):
        weight = 1.0 / (1.0 + (residual / noise) ** 2)
        normal = jacobian.T @ (jacobian * weight[:, None])
        gradient = jacobian.T @ (weight * residual)
        basis = tangent_basis(t)
        while True:
            try:
                step = directions @ -np.linalg.solve(normal + damping * np.diag(np.diag(normal) + 1e-12), gradient)
            except np.linalg.LinAlgError:  # no information in the matches (all Jacobians zero)
                return R, t, cost
            R_new = _rotate(R, step[:3])
            t_new = t + basis @ step[3:]
            t_new /= np.linalg.norm(t_new)
            residual_new, _ = sampson(R_new, t_new, x_a, x_b, with_jacobian=False)
            cost_new = _cauchy_cost(residual_new, noise)
            if cost_new < cost:
                break
            damping *= 10.0
            if damping > 1e6:
                return R, t, cost
        converged = cost - cost_new < 1e-5 * cost
        R, t, cost = R_new, t_new, cost_new
        residual, jacobian = sampson(R, t, x_a, x_b)
        if up is not None:
            directions = planar_directions(R, t, up)
        jacobian = jacobian @ directions
        damping = max(damping / 10.0, 1e-7)
        if converged:
            break
    return R, t, cost


def in_front(R: np.ndarray, t: np.ndarray, x_a: np.ndarray, x_b: np.ndarray) -> np.ndarray:
    """(N,) bool: the midpoint triangulation of each match lies in front of both cameras."""
    ray_b = x_b @ R.T                      # camera-b rays in camera-a coordinates
    # λ_a·x_a − λ_b·ray_b ≈ t in least squares: 2×2 normal equations per match.
    a11 = np.einsum('ni,ni->n', x_a, x_a)
    a12 = -np.einsum('ni,ni->n', x_a, ray_b)
    a22 = np.einsum('ni,ni->n', ray_b, ray_b)
    b1, b2 = x_a @ t, -(ray_b @ t)
    det = a11 * a22 - a12 ** 2
    with np.errstate(divide='ignore', invalid='ignore'):
        depth_a = (a22 * b1 - a12 * b2) / det
        depth_b = (a11 * b2 - a12 * b1) / det
    return (depth_a > 0) & (depth_b > 0) & (np.abs(det) > 1e-12)


def essential_covariance(R: np.ndarray, t: np.ndarray, x_a: np.ndarray, x_b: np.ndarray,
                         noise: float, up: np.ndarray | None = None) -> np.ndarray:
    """6×6 Fisher covariance σ²(JᵀJ)⁻¹ of (t, ω) from the Sampson Jacobian (noise σ in normalised units).

    Order (tx, ty, tz, rx, ry, rz); the translation block lies in the plane orthogonal to t (rank 2). With `up`
    (planar motion) it is that of the turn and the heading alone (rank 2: the constrained directions get none).
    """
    _, jacobian = sampson(R, t, x_a, x_b)
    if up is None:
        covariance_5 = np.linalg.pinv(jacobian.T @ jacobian) * noise ** 2
    else:
        directions = planar_directions(R, t, up)
        reduced = jacobian @ directions
        covariance_5 = directions @ np.linalg.pinv(reduced.T @ reduced) @ directions.T * noise ** 2
    basis = tangent_basis(t)
    covariance = np.zeros((6, 6))
    covariance[3:, 3:] = covariance_5[:3, :3]
    covariance[:3, :3] = basis @ covariance_5[3:, 3:] @ basis.T
    covariance[:3, 3:] = basis @ covariance_5[3:, :3]
    covariance[3:, :3] = covariance[:3, 3:].T
    return covariance


# --- pure-rotation model --------------------------------------------------------------------------------

def rotation_residuals(R: np.ndarray, x_a: np.ndarray, x_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """N×2 residuals π(R x_b) − π(x_a) (normalised units) and their Jacobian N×2×3 with respect to ω."""
    X = x_b @ R.T
    z = X[:, 2:3]
    residual = X[:, :2] / z - x_a[:, :2] / x_a[:, 2:3]
    d_projection = np.zeros((len(X), 2, 3))
    d_projection[:, 0, 0] = d_projection[:, 1, 1] = 1.0 / z[:, 0]
    d_projection[:, :, 2] = -X[:, :2] / z ** 2
    d_X = -R[None] @ hat(x_b)              # d(R (x_b + ω × x_b))/dω = −R [x_b]×
    return residual, d_projection @ d_X


def fit_rotation(x_a: np.ndarray, x_b: np.ndarray) -> np.ndarray:
    """Least-squares rotation R with unit(x_a) ≈ R·unit(x_b) (Kabsch / Wahba)."""
    u_a = x_a / np.linalg.norm(x_a, axis=1, keepdims=True)
    u_b = x_b / np.linalg.norm(x_b, axis=1, keepdims=True)
    return project_to_so3(u_a.T @ u_b)


def refine_rotation(R: np.ndarray, x_a: np.ndarray, x_b: np.ndarray, threshold: float,
                    iterations: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Refit R to the matches whose residual is below `threshold` (normalised units); returns (R, mask).

    Kabsch on the inliers, then Gauss-Newton on their reprojection residuals (the least-squares fit in the image,
    whose Fisher covariance `rotation_covariance` gives; Kabsch weighs the field of view unevenly).
    """
    mask = np.zeros(len(x_a), bool)
    for _ in range(iterations):
        residual, _ = rotation_residuals(R, x_a, x_b)
        new_mask = np.linalg.norm(residual, axis=1) < threshold
        if new_mask.sum() < 3 or np.array_equal(new_mask, mask):
            break
        mask = new_mask
        R = fit_rotation(x_a[mask], x_b[mask])
    if mask.sum() >= 3:
        for _ in range(3):
            residual, jacobian = rotation_residuals(R, x_a[mask], x_b[mask])
            normal = np.einsum('nki,nkj->ij', jacobian, jacobian)
            step = -np.linalg.lstsq(normal, np.einsum('nki,nk->i', jacobian, residual), rcond=None)[0]
            R = _rotate(R, step)
            if np.linalg.norm(step) < 1e-9:
                break
    return R, mask


def rotation_covariance(R: np.ndarray, x_a: np.ndarray, x_b: np.ndarray, noise: float) -> np.ndarray:
    """3×3 Fisher covariance of ω from the reprojection Jacobian (noise σ per residual coordinate, normalised)."""
    _, jacobian = rotation_residuals(R, x_a, x_b)
    return np.linalg.pinv(np.einsum('nki,nkj->ij', jacobian, jacobian)) * noise ** 2
