"""Fixed-lag smoothing of odometry chains that interleave: one trajectory out of pairs a gap apart.

`OdometryIntegrator` pairs every keyframe with one about `gap_s` earlier, so at `rate_hz` keyframes per second
the trajectory is gap_s · rate_hz chains side by side (5 at the defaults of `av-pose bag`, 10 at `pose_node`'s),
each drifting on its own: consecutive keyframes come from different chains, and the published pose jumps
between them by their difference (on the moving ShoeboxAV set with `geometric` at 5 Hz, 9° of rotation, RMS,
from one keyframe to the next; docs/results.md, "Odometry smoothing"). Nothing in the pairs ties the chains
together; a prior on the motion does. `ChainSmoother` solves, after each keyframe, for the rotations of the
keyframes of the last `lag_s` seconds (older ones held fixed):

- one factor per keyframe b whose partner a is in the graph: the relative estimate, residual
  log(R_a⁻¹ · R_b · R_Z⁻¹) in a's axes, information the inverse of its rotation covariance (an invalid estimate
  handed to `OdometryIntegrator.add` is identity with UNKNOWN_VARIANCE and weighs nothing; pose_node and
  `run_odometry` drop those instead);
- one factor per three consecutive keyframes: the body angular velocity changes little from one interval to the
  next, residual log(R_k⁻¹ R_k+1)/Δt₂ − log(R_k-1⁻¹ R_k)/Δt₁ (rad/s), variance `angular_accel_rad_s2`² × the
  mean of the two intervals (a white-noise angular acceleration).

Gauss–Newton on right perturbations R·exp(φ) with Jacobians at small residuals, two iterations (the chains start
within a few degrees of each other). The positions then follow the chains again with the new rotations,
p_b = p_a + R_a · t_ab: the translation is left to the pairs (smoothing it too, with a constant-velocity prior,
made the ATE on ShoeboxAV worse where half the pairs leave the translation unknown). Poses are those of the
sensor; radians and metres. Covariances are left to the integrator (the chain's, an upper bound).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from av_pose.errors import UserInputError
from av_pose.geometry import so3_exp, so3_log

DEFAULT_LAG_S = 1.0
"""Default `lag_s`, seconds: 2 s gave the same figures on ShoeboxAV (docs/results.md, "Odometry smoothing")."""
DEFAULT_ANGULAR_ACCEL = 0.3
"""Default `angular_accel_rad_s2`: 0.1 cost RPE on clean frames, 1.0 left more jumps (the same section)."""
MIN_VARIANCE = 1e-8
"""Smallest variance (rad²) an estimate's rotation is credited with: (0.006°)²."""


def rotation_information(covariance: np.ndarray) -> np.ndarray:
    """3×3 inverse of the rotation block of a 6×6 (tx, ty, tz, rx, ry, rz) covariance, eigenvalues floored.

    A zero variance is not infinite certainty, and the floor (`MIN_VARIANCE`) keeps the normal equations solvable.
    """
    block = np.asarray(covariance, dtype=np.float64)[3:, 3:]
    values, vectors = np.linalg.eigh(0.5 * (block + block.T))
    return (vectors / np.maximum(values, MIN_VARIANCE)) @ vectors.T


@dataclass(frozen=True)
class ChainEdge:
    """A relative estimate in the graph: keyframe `partner` → keyframe `frame` (indices into the poses).

    Z: 4×4 T_a_b as integrated (metric translation or zero); information: 3×3 inverse of its rotation's
    covariance (a's axes; `rotation_information`).
    """

    partner: int
    frame: int
    Z: np.ndarray
    information: np.ndarray


@dataclass(frozen=True)
class ChainSmoother:
    """The smoother of the module docstring.

    Args:
        lag_s: keyframes newer than this before the latest one are re-estimated; older ones are held fixed.
        angular_accel_rad_s2: the prior's 1-σ of the rig's angular acceleration (white noise: the turn rate
            changes by this × sqrt(interval) over an interval): smaller smooths more.
        iterations: Gauss–Newton iterations per keyframe.
    """

    lag_s: float = DEFAULT_LAG_S
    angular_accel_rad_s2: float = DEFAULT_ANGULAR_ACCEL
    iterations: int = 2

    def __post_init__(self) -> None:
        if not (self.lag_s > 0 and self.angular_accel_rad_s2 > 0 and self.iterations >= 1):
            raise UserInputError(f'smoothing needs lag_s > 0, angular_accel_rad_s2 > 0 and iterations >= 1, got '
                                 f'{self.lag_s}, {self.angular_accel_rad_s2}, {self.iterations}')

    def describe(self) -> str:
        """One line for logs and diagnostics."""
        return f'rotations of the last {self.lag_s:g} s, turn-rate prior {self.angular_accel_rad_s2:g} rad/s^2'

    def smooth(self, stamps_s: Sequence[float], poses: Sequence[np.ndarray], edges: Sequence[ChainEdge]
               ) -> np.ndarray:
        """The poses (K×4×4, time order) re-estimated; those older than `lag_s` before the last are kept.

        The rotations of the recent keyframes are solved for; their positions then follow the chains again,
        p_b = p_a + R_a · t_ab with the new R_a, in time order.
        """
        stamps = np.asarray(stamps_s, dtype=np.float64)
        T = np.array(poses, dtype=np.float64).reshape(-1, 4, 4)
        count = len(T)
        free = np.flatnonzero(stamps >= stamps[-1] - self.lag_s - 1e-9)
        if count < 3 or len(free) == 0:
            return T
        first = int(free[0])
        n = len(free)
        edges = [edge for edge in edges if max(edge.partner, edge.frame) >= first]
        if not edges:   # nothing ties the recent keyframes to anything: keep them
            return T
        a = np.array([edge.partner for edge in edges], dtype=np.int64)
        b = np.array([edge.frame for edge in edges], dtype=np.int64)
        Z_R = np.array([edge.Z[:3, :3] for edge in edges]).reshape(-1, 3, 3)
        # whitening: information = L Lᵀ, so r' = Lᵀ r and J' = Lᵀ J
        edge_white = np.swapaxes(np.linalg.cholesky(np.array([edge.information for edge in edges])
                                                    .reshape(-1, 3, 3)), -1, -2)
        k = np.arange(max(1, first - 1), count - 1)          # middle keyframes of the turn-rate triples
        dt1, dt2 = stamps[k] - stamps[k - 1], stamps[k + 1] - stamps[k]
        keep = (dt1 > 0) & (dt2 > 0)
        k, dt1, dt2 = k[keep], dt1[keep], dt2[keep]
        turn_white = 1.0 / (self.angular_accel_rad_s2 * np.sqrt(0.5 * (dt1 + dt2)))
        rows = 3 * (len(edges) + len(k))
        R = T[:, :3, :3].copy()
        for _ in range(self.iterations):
            J = np.zeros((rows, 3 * n))
            residual = np.zeros(rows)
            R_a_b = np.swapaxes(R[a], -1, -2) @ R[b]
            r = so3_log(R_a_b @ np.swapaxes(Z_R, -1, -2))      # (E, 3), in a's axes
            residual[:3 * len(edges)] = np.einsum('eij,ej->ei', edge_white, r).ravel()
            blocks = [(b, edge_white @ R_a_b), (a, -edge_white)]
            steps = np.swapaxes(R[:-1], -1, -2) @ R[1:]          # step i: keyframe i → i + 1
            rates = so3_log(steps)
            offset = 3 * len(edges)
            residual[offset:] = ((rates[k] / dt2[:, None] - rates[k - 1] / dt1[:, None])
                                 * turn_white[:, None]).ravel()
            w = turn_white[:, None, None]
            turn_blocks = [(k - 1, w * np.swapaxes(steps[k - 1], -1, -2) / dt1[:, None, None]),
                           (k, w * (-np.swapaxes(steps[k], -1, -2) / dt2[:, None, None]
                                    - np.eye(3) / dt1[:, None, None])),
                           (k + 1, w * np.eye(3) / dt2[:, None, None])]
            for base, factor_blocks in ((0, blocks), (offset, turn_blocks)):
                for index, block in factor_blocks:
                    for row, (pose, value) in enumerate(zip(index, block)):
                        if pose >= first:
                            column = 3 * (pose - first)
                            J[base + 3 * row:base + 3 * row + 3, column:column + 3] = value
            H = J.T @ J
            H += np.eye(len(H)) * (1e-9 * max(1.0, float(np.max(np.diag(H)))))
            try:
                delta = -np.linalg.solve(H, J.T @ residual)
            except np.linalg.LinAlgError:
                break
            if not np.all(np.isfinite(delta)):
                break
            R[free] = R[free] @ so3_exp(delta.reshape(n, 3))
            if float(np.max(np.abs(delta))) < 1e-9:
                break
        by_frame = {edge.frame: edge for edge in edges}
        for index in free:
            T[index, :3, :3] = R[index]
            if index in by_frame:
                edge = by_frame[index]
                T[index, :3, 3] = T[edge.partner, :3, 3] + T[edge.partner, :3, :3] @ edge.Z[:3, 3]
        return T


def chain_smoother(lag_s: float = DEFAULT_LAG_S, angular_accel_rad_s2: float = DEFAULT_ANGULAR_ACCEL
                   ) -> ChainSmoother | None:
    """The smoother for these settings, or None (no smoothing) for a lag of 0."""
    if lag_s == 0:
        return None
    return ChainSmoother(lag_s, angular_accel_rad_s2)
