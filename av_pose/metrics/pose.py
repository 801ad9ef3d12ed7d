"""Relative camera-pose metrics as in Reloc3r and the audio-visual pose paper.

Per pair: rotation error (angle of R_predᵀ·R_gt), translation-direction error (angle between the predicted
and true translation vectors; scale-free, because monocular pose recovers translation only up to scale),
and total error = max of the two; also the yaw error (about the camera's up axis, the rotation a rig's audio yaw
measures). Over a set: mean/median and AUC@5/10/20° (SuperGlue/Reloc3r definition). All angles in degrees.
AUC values are fractions in [0, 1] (papers often print them ×100).
"""
from __future__ import annotations

import numpy as np

from av_pose.errors import UserInputError
from av_pose.geometry import R_CAM_ARRAY_DEFAULT, angle_between_deg, rotation_angle_deg, yaw_of

AUC_THRESHOLDS_DEG = (5.0, 10.0, 20.0)
ZERO_TRANSLATION_M = 1e-9


def rotation_error_deg(R_pred, R_gt) -> np.ndarray:
    """Geodesic rotation error in degrees [0, 180] of predictions R_pred against R_gt, both (..., 3, 3)."""
    return rotation_angle_deg(R_pred, R_gt)


def yaw_error_deg(R_pred, R_gt) -> np.ndarray:
    """|yaw difference| in degrees [0, 180] about the camera's up axis (optical −y) of rotations (..., 3, 3).

    Each camera-frame rotation is expressed in the level body frame (x forward = optical z, y left, z up) and
    its z-y-x yaw taken; pitch and roll do not count.
    """
    body = R_CAM_ARRAY_DEFAULT.T @ np.asarray(R_pred, dtype=np.float64) @ R_CAM_ARRAY_DEFAULT, \
        R_CAM_ARRAY_DEFAULT.T @ np.asarray(R_gt, dtype=np.float64) @ R_CAM_ARRAY_DEFAULT
    difference = np.degrees(yaw_of(body[0]) - yaw_of(body[1]))
    return np.abs((difference + 180.0) % 360.0 - 180.0)


def translation_direction_error_deg(t_pred, t_gt, zero_norm: float = ZERO_TRANSLATION_M) -> np.ndarray:
    """Angle in degrees [0, 180] between translation vectors t_pred and t_gt, both (..., 3).

    Zero-length translations have no direction. Reloc3r's evaluation divides by the norms and so yields
    NaN for them; we do the same except that two (near-)zero vectors (norm < `zero_norm`, both camera
    positions unchanged) agree and score 0°. A NaN error counts as a failure in `pose_auc` and is left
    out of means/medians (see `evaluate_pose_pairs`, which reports how many there were).
    """
    t_pred = np.asarray(t_pred, dtype=np.float64)
    t_gt = np.asarray(t_gt, dtype=np.float64)
    pred_zero = np.linalg.norm(t_pred, axis=-1) < zero_norm
    gt_zero = np.linalg.norm(t_gt, axis=-1) < zero_norm
    error = angle_between_deg(t_pred, t_gt)
    return np.where(pred_zero & gt_zero, 0.0, np.where(pred_zero | gt_zero, np.nan, error))


def total_error_deg(rotation_err_deg, translation_err_deg) -> np.ndarray:
    """Per-pair total error = max(rotation, translation-direction error); NaN if either is NaN."""
    return np.maximum(np.asarray(rotation_err_deg, dtype=np.float64),
                      np.asarray(translation_err_deg, dtype=np.float64))


def pose_auc(errors_deg, thresholds_deg=AUC_THRESHOLDS_DEG) -> dict[float, float]:
    """Area under the recall-vs-error curve up to each threshold, normalised by the threshold.

    Definition of SuperGlue / Reloc3r: with the N errors sorted and a 0 prepended, recall rises by 1/N
    at each error; the curve is integrated with the trapezoid rule from 0 to the threshold (holding the
    last recall below it) and divided by the threshold. Errors equal to the threshold do not count.
    NaN errors (undefined) count as failures, i.e. as errors above every threshold.

    Args:
        errors_deg: N errors in degrees (N ≥ 1).
        thresholds_deg: Positive thresholds in degrees.

    Returns:
        {threshold: auc in [0, 1]}.
    """
    errors = np.asarray(errors_deg, dtype=np.float64).ravel()
    if errors.size == 0:
        raise UserInputError('pose_auc needs at least one error value')
    errors = np.sort(np.where(np.isnan(errors), np.inf, errors))
    curve_errors = np.concatenate([[0.0], errors])
    recall = np.arange(errors.size + 1) / errors.size
    aucs = {}
    for threshold in thresholds_deg:
        if not threshold > 0:
            raise UserInputError(f'AUC thresholds must be positive, got {threshold}')
        last = int(np.searchsorted(curve_errors, threshold))
        x = np.concatenate([curve_errors[:last], [threshold]])
        y = np.concatenate([recall[:last], [recall[last - 1]]])
        aucs[float(threshold)] = float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)) / threshold)
    return aucs


def _summarise(errors: np.ndarray, thresholds_deg) -> dict[str, float]:
    """Mean/median over defined errors, count of undefined ones and AUCs for one error kind."""
    defined = errors[~np.isnan(errors)]
    summary = {'mean_deg': float(np.mean(defined)) if defined.size else float('nan'),
               'median_deg': float(np.median(defined)) if defined.size else float('nan'),
               'undefined': int(errors.size - defined.size)}
    for threshold, auc in pose_auc(errors, thresholds_deg).items():
        summary[f'auc@{threshold:g}'] = auc
    return summary


def evaluate_pose_pairs(T_pred, T_gt, thresholds_deg=AUC_THRESHOLDS_DEG) -> dict[str, dict]:
    """Evaluate predicted relative poses against ground truth.

    Args:
        T_pred: N×4×4 (or N×3×4 [R | t]) predicted relative poses (e.g. T_1_2, camera 2 → camera 1,
            as Reloc3r); only the rotation and the direction of the translation are used.
        T_gt: N×4×4 ground-truth relative poses in the same convention.
        thresholds_deg: AUC thresholds in degrees.

    Returns:
        {'per_pair': {'rotation_deg', 'translation_deg', 'total_deg', 'yaw_deg'}: arrays (N,),
         'summary': {'rotation' | 'translation' | 'total' | 'yaw': {'mean_deg', 'median_deg', 'undefined',
                     'auc@5', 'auc@10', 'auc@20'}}, 'count': N}.
    """
    T_pred = np.asarray(T_pred, dtype=np.float64)
    T_gt = np.asarray(T_gt, dtype=np.float64)
    if T_pred.ndim == 2 and T_gt.ndim == 2:
        T_pred, T_gt = T_pred[None], T_gt[None]
    if T_pred.shape != T_gt.shape or T_pred.ndim != 3 or T_pred.shape[1:] not in ((4, 4), (3, 4)) \
            or len(T_pred) == 0:
        raise UserInputError(f'evaluate_pose_pairs needs two N×4×4 (or N×3×4) arrays of equal shape (N ≥ 1), '
                             f'got {T_pred.shape} and {T_gt.shape}')
    rotation = rotation_error_deg(T_pred[:, :3, :3], T_gt[:, :3, :3])
    translation = translation_direction_error_deg(T_pred[:, :3, 3], T_gt[:, :3, 3])
    total = total_error_deg(rotation, translation)
    per_pair = {'rotation_deg': rotation, 'translation_deg': translation, 'total_deg': total,
                'yaw_deg': yaw_error_deg(T_pred[:, :3, :3], T_gt[:, :3, :3])}
    summary = {name.removesuffix('_deg'): _summarise(errors, thresholds_deg)
               for name, errors in per_pair.items()}
    return {'per_pair': per_pair, 'summary': summary, 'count': len(T_pred)}
