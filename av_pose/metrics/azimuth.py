"""Azimuth errors: plain wrap-around MAE and the SLfM evaluation protocol.

Inputs are azimuths in degrees measured counter-clockwise from the front (REP-103: 0° = +x forward,
+90° = left), in any range ([0, 360) and (−180, 180] both work). This is SLfM's convention too: its
angles are positive to the left.

SLfM protocol (SLfM `evaluation/evaluate_angle.py`): a two-microphone (binaural) setup cannot tell front
from back, so angles are first folded into the front half-plane [−90°, 90°] by reflecting back
directions about the left-right axis (θ → 180° − θ, or −180° − θ on the right side); the error is
arccos(clamp(cos(θ_pred − θ_target), −1, 1)) in degrees; mean and median are reported. SLfM folds the
predictions only, its test targets already lie in front; here `fold=True` folds both, which is the same
for front targets and stays symmetric otherwise.
"""
from __future__ import annotations

import numpy as np

from av_pose.errors import UserInputError


def wrap_signed_deg(angle_deg) -> np.ndarray:
    """Angles in degrees wrapped to (−180, 180]."""
    wrapped = 180.0 - np.mod(180.0 - np.asarray(angle_deg, dtype=np.float64), 360.0)
    return np.where(wrapped <= -180.0, wrapped + 360.0, wrapped)


def azimuth_difference_deg(pred_deg, target_deg) -> np.ndarray:
    """Signed difference pred − target in degrees, wrapped to (−180, 180] (positive: pred is to the left)."""
    return wrap_signed_deg(np.asarray(pred_deg, dtype=np.float64) - np.asarray(target_deg, dtype=np.float64))


def azimuth_abs_error_deg(pred_deg, target_deg) -> np.ndarray:
    """Absolute wrap-around azimuth error in degrees [0, 180] (359° vs 1° → 2°)."""
    return np.abs(azimuth_difference_deg(pred_deg, target_deg))


def azimuth_mae_deg(pred_deg, target_deg) -> float:
    """Mean absolute wrap-around azimuth error in degrees; NaN predictions make the result NaN."""
    errors = azimuth_abs_error_deg(pred_deg, target_deg)
    if errors.size == 0:
        raise UserInputError('azimuth_mae_deg needs at least one azimuth')
    return float(np.mean(errors))


def fold_front_deg(angle_deg) -> np.ndarray:
    """Fold azimuths into the front half-plane [−90°, 90°] by front-back reflection (θ → ±180° − θ).

    170° (behind, left) → 10°; −100° (behind, right) → −80°; front angles are unchanged.
    """
    signed = wrap_signed_deg(angle_deg)
    return np.where(signed > 90.0, 180.0 - signed, np.where(signed < -90.0, -180.0 - signed, signed))


def slfm_angle_error_deg(pred_deg, target_deg, fold: bool = True) -> np.ndarray:
    """Per-sample SLfM angle error in degrees [0, 180]: arccos of the clamped cosine of the difference.

    With `fold` both angles are first folded into the front half-plane (errors then lie in [0, 180]
    but front-back confusions cost nothing).
    """
    pred = np.asarray(pred_deg, dtype=np.float64)
    target = np.asarray(target_deg, dtype=np.float64)
    if fold:
        pred, target = fold_front_deg(pred), fold_front_deg(target)
    cosine = np.cos(np.radians(pred - target))
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def lower_median(values) -> float:
    """torch.median's median: the lower of the two middle values for an even count (numpy averages them).

    SLfM reports torch medians, so reproducing its figures to the last digit needs this one.
    """
    ordered = np.sort(np.ravel(np.asarray(values, dtype=np.float64)))
    if ordered.size == 0:
        raise UserInputError('lower_median needs at least one value')
    return float(ordered[(ordered.size - 1) // 2])


def slfm_summary(pred_deg, target_deg, fold: bool = True) -> dict[str, float]:
    """SLfM-protocol summary of `slfm_angle_error_deg`: {'mean_deg', 'median_deg', 'count'}.

    'median_deg' is torch's median as SLfM reports it (`lower_median`: the lower middle value for an even count,
    not numpy's average of the two).
    """
    errors = np.ravel(slfm_angle_error_deg(pred_deg, target_deg, fold=fold))
    if errors.size == 0:
        raise UserInputError('slfm_summary needs at least one azimuth')
    return {'mean_deg': float(np.mean(errors)), 'median_deg': lower_median(errors), 'count': int(errors.size)}
