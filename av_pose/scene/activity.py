"""When the sources of a scene sound: per-window activity from the scene's ground truth."""
from __future__ import annotations

import numpy as np

from av_pose.scene.format import SceneRecord

ACTIVE_FRACTION = 0.5
"""A source counts as active in a window when it sounds for at least this fraction of it."""


def source_activity(record: SceneRecord, center_s: float, window_s: float) -> np.ndarray:
    """Fraction (S,) in [0, 1] of the window [center − w/2, center + w/2] during which each source sounds.

    A source sounds on [start_s, end_s) (`end_s` absent: until the end), as in the scene format.
    """
    low, high = center_s - 0.5 * window_s, center_s + 0.5 * window_s
    fractions = []
    for source in record.sources:
        start_s, end_s = source.get('start_s'), source.get('end_s')
        start_s = -np.inf if start_s is None else float(start_s)
        end_s = np.inf if end_s is None else float(end_s)
        fractions.append(max(0.0, min(high, end_s) - max(low, start_s)) / window_s)
    return np.asarray(fractions, dtype=np.float64)


def sound_changes(record: SceneRecord, t_a: float, t_b: float, window_s: float) -> bool:
    """True when some source is active (≥ ACTIVE_FRACTION of the window) in one window and not the other."""
    active_a = source_activity(record, t_a, window_s) >= ACTIVE_FRACTION
    active_b = source_activity(record, t_b, window_s) >= ACTIVE_FRACTION
    return bool(np.any(active_a != active_b))
