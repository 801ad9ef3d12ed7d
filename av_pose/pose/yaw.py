"""Rig yaw about the microphone array's z axis, in camera coordinates, and a relative pose updated with one.

A yaw ψ (degrees, counter-clockwise about the array's z axis, REP-103) is the camera-frame rotation
R_cam_array·Rz(ψ)·R_cam_arrayᵀ; `T_cam_array` (4×4) is the array's mount on the rig. Rotations are T_a_b's
(camera b → camera a, optical frames).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from av_pose.geometry import rotation_from_ypr, so3_exp, yaw_of
from av_pose.metrics.azimuth import wrap_signed_deg


def yaw_rotation_in_camera(yaw_deg: float, T_cam_array: np.ndarray) -> np.ndarray:
    """3×3 R_a_b in the camera frame of a rig yaw `yaw_deg` about the array z axis: R_ca·Rz(ψ)·R_caᵀ."""
    R_cam_array = np.asarray(T_cam_array, dtype=np.float64)[:3, :3]
    return R_cam_array @ rotation_from_ypr(np.radians(yaw_deg), 0.0, 0.0) @ R_cam_array.T


def yaw_in_array_deg(R_a_b: np.ndarray, T_cam_array: np.ndarray) -> float:
    """Yaw (degrees, (−180, 180]) about the array z axis of a camera-frame rotation R_a_b (3×3).

    The z-y-x yaw of the rotation conjugated into the array frame, R_caᵀ·R_a_b·R_ca.
    """
    R_cam_array = np.asarray(T_cam_array, dtype=np.float64)[:3, :3]
    return float(np.degrees(yaw_of(R_cam_array.T @ np.asarray(R_a_b, dtype=np.float64) @ R_cam_array)))


@dataclass(frozen=True)
class YawUpdate:
    """`yaw_update`'s result: the updated pose and covariance, and how far apart prior and measurement were."""

    R_a_b: np.ndarray
    t_a_b: np.ndarray
    covariance: np.ndarray
    innovation_sigma: float
    prior_yaw_std_deg: float


def yaw_update(R_a_b: np.ndarray, t_a_b: np.ndarray, covariance: np.ndarray, yaw_deg: float, yaw_std_deg: float,
               T_cam_array: np.ndarray) -> YawUpdate:
    """One Kalman update of a relative pose with a measured yaw about the array z axis.

    The state is the 6-D error (δt, ω) of (t_a_b, R_a_b) with R = R_a_b·exp([ω]×) (`av_pose.pose.base`
    conventions); the measurement is h(R) = `yaw_in_array_deg(R, T_cam_array)`, linearised at R_a_b by central
    differences. A unit translation direction is renormalised after the update.

    Args:
        R_a_b: 3×3 prior rotation (camera b → camera a).
        t_a_b: (3,) prior translation direction (or zeros).
        covariance: 6×6 prior covariance (tx, ty, tz, rx, ry, rz), unit-direction² and rad².
        yaw_deg: measured yaw, degrees.
        yaw_std_deg: its 1-σ, degrees.
        T_cam_array: 4×4 mount of the array.
    """
    H = np.zeros(6)
    step = 1e-6
    for k in range(3):  # d yaw / d ω (rad/rad)
        delta = np.zeros(3)
        delta[k] = step
        plus = yaw_in_array_deg(R_a_b @ so3_exp(delta), T_cam_array)
        minus = yaw_in_array_deg(R_a_b @ so3_exp(-delta), T_cam_array)
        H[3 + k] = np.radians(wrap_signed_deg(plus - minus)) / (2.0 * step)
    prior_var = float(H @ covariance @ H)
    innovation = np.radians(wrap_signed_deg(yaw_deg - yaw_in_array_deg(R_a_b, T_cam_array)))
    S = prior_var + float(np.radians(yaw_std_deg) ** 2)
    gain = covariance @ H / S
    correction = gain * innovation
    t = np.asarray(t_a_b, dtype=np.float64) + correction[:3]
    norm = np.linalg.norm(t)
    return YawUpdate(R_a_b=R_a_b @ so3_exp(correction[3:]), t_a_b=t / norm if norm > 1e-12 else t,
                     covariance=covariance - np.outer(gain, H @ covariance),
                     innovation_sigma=float(abs(innovation) / np.sqrt(S)),
                     prior_yaw_std_deg=float(np.degrees(np.sqrt(max(prior_var, 0.0)))))

