"""Parallax of the audio yaw: the part of the DOA spectrum's shift that the rig's travel makes, not its turn.

When the rig moves by d (metres, in the array frame of view a) while it yaws by ψ, a source at azimuth θ and
horizontal distance r is heard in view b at atan2(r·sin θ − d_y, r·cos θ − d_x) − ψ. Its peak shifts by −ψ + δ(θ),
with the parallax δ(θ) = atan2(r·sin θ − d_y, r·cos θ − d_x) − θ: zero for sources along the direction of travel,
largest across it, and larger the nearer the source. The spectrum alignment (`av_pose.pose.audio_yaw`) reads
ψ̂ ≈ ψ − δ̄, δ̄ the parallax of the sources that dominate the spectra. Given the travel d that the odometry expects
(`OdometryIntegrator.translation_prior`: a reference odometry's own travel, or the known distance along the last
known direction of travel),
`predicted_parallax_deg` estimates δ̄ as the mean of δ(θ_k) over the significant peaks θ_k of view a's spectrum,
weighted by their height², each source placed at a typical distance `SOURCE_DISTANCE_M` (its true distance is not
known to a pair), and ψ̂ + δ̄ is the corrected yaw.

Measured (docs/results.md, "Parallax of the audio yaw"): on the moving ShoeboxAV sets, 1 s pairs, the audio yaw's
median error 3.90° uncorrected, 3.08° with the pair's true travel and every peak at 3 m (2.94° with the sources' true
positions), 3.42° with the travel of the second before; in the odometry (where the path keeps its direction,
`OdometryIntegrator.path_persists`) the demo's heading per frame 19.0° → 10.7° RMS.
"""
from __future__ import annotations

import numpy as np

from av_pose.audio.doa.peaks import find_circular_peaks
from av_pose.pose.base import PosePair

SOURCE_DISTANCE_M = 3.0
"""Horizontal distance at which every heard source is placed, metres. The moving ShoeboxAV sets' sources are a median
2.1 / 2.7 m from the rig (10–90 %: 1.2–4.3 m); a little beyond that under-corrects where the predicted travel is off
(1.5 / 3 / 4 m: median errors 3.74 / 3.42 / 3.44° with a constant-velocity travel)."""
MAX_PEAKS = 4
"""Spectrum peaks that take part (the strongest)."""
MIN_RELATIVE_HEIGHT = 0.15
"""A peak takes part when it rises this fraction of the spectrum's range above its minimum."""
PEAK_SEPARATION_DEG = 10.0
"""Peaks closer than this to a higher one are the same source."""
MAX_TRAVEL_SHARE = 0.5
"""A travel longer than this share of the source distance is not corrected for (a jump of the scale's reference, or a
gap so long that sources a typical distance away could lie anywhere around the path)."""


def predicted_parallax_deg(spectrum: np.ndarray, travel_m: np.ndarray, distance_m: float = SOURCE_DISTANCE_M,
                           offset_deg: float = 0.5) -> float:
    """The parallax δ̄ (degrees) that the travel adds to the shift of a view's DOA spectrum (module docstring).

    Args:
        spectrum: (N,) DOA spectrum of view a over azimuths `offset_deg + k·360/N` of the array frame.
        travel_m: (2,) or (3,) displacement of the array from view a to view b in view a's array frame, metres
            (only x and y count).
        distance_m: horizontal distance at which each peak's source is placed, metres.
        offset_deg: azimuth of the spectrum's first bin, degrees.

    Returns:
        δ̄, to be added to the alignment's yaw; 0 when the spectrum has no peak, the travel is zero or longer than
        `MAX_TRAVEL_SHARE` of `distance_m`.
    """
    values = np.asarray(spectrum, dtype=np.float64)
    travel = np.asarray(travel_m, dtype=np.float64).reshape(-1)[:2]
    if values.ndim != 1 or not np.all(np.isfinite(values)) or not np.all(np.isfinite(travel)) \
            or not np.any(travel) or not distance_m > 0 or np.linalg.norm(travel) > MAX_TRAVEL_SHARE * distance_m:
        return 0.0
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return 0.0
    azimuths, indices = find_circular_peaks(values[None], 360.0 / values.size, offset_deg, MAX_PEAKS,
                                            PEAK_SEPARATION_DEG)
    found = indices[0] >= 0
    heights = values[np.maximum(indices[0], 0)]
    keep = found & (heights >= low + MIN_RELATIVE_HEIGHT * (high - low))
    if not keep.any():
        return 0.0
    theta = np.radians(azimuths[0][keep])
    moved = np.arctan2(distance_m * np.sin(theta) - travel[1], distance_m * np.cos(theta) - travel[0])
    parallax = np.angle(np.exp(1j * (moved - theta)))
    weights = heights[keep] ** 2
    return float(np.degrees(np.sum(weights * parallax) / np.sum(weights)))


def array_travel(pair: PosePair) -> np.ndarray | None:
    """The pair's predicted camera travel (`PosePair.translation_prior_m`) in view a's array frame, metres, or None.

    The camera's displacement expressed in the array's axes (the lever arm between them is left out: a few
    centimetres turned by a few degrees).
    """
    travel = pair.translation_prior_m
    if travel is None:
        return None
    travel = np.asarray(travel, dtype=np.float64).reshape(-1)
    if travel.shape != (3,) or not np.all(np.isfinite(travel)):
        return None
    return np.asarray(pair.sensors.T_cam_array, dtype=np.float64)[:3, :3].T @ travel
