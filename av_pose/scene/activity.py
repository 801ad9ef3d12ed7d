"""When the sources of a scene sound: per-window activity and audibility from the scene's ground truth.

Activity is each source's [start_s, end_s); audibility uses the levels the renderer stores (`source_levels`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from av_pose.scene.format import SceneRecord
from av_pose.scene.signals import SourceSpec

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


LEVEL_FRAME_S = 0.05
"""Frame of the stored source levels (scene.json `source_levels`), seconds."""
LEVEL_BAND_HZ = (500.0, 4000.0)
"""Band of the stored levels: the DOA estimators' default band."""
PAUSE_MARGIN_DB = 20.0
"""A window more than this below the source's own loud level (90th percentile of its active frames) is a pause."""
MASKING_MARGIN_DB = 10.0
"""A source more than this below the loudest other active source in a window is masked there."""


def source_levels(sources: Sequence[SourceSpec], signals: Sequence[np.ndarray],
                  array_pose_fn: Callable[[float], np.ndarray], duration_s: float, fs: int) -> dict:
    """What each source sends to the array, for scene.json's `source_levels` (written by the renderer).

    Per point source, every `LEVEL_FRAME_S`: the power (dB) of its dry signal, with its gain and activity
    envelope, in `LEVEL_BAND_HZ`, attenuated by the direct path to the array centre (−20·log10 of the distance
    in metres); None for the diffuse bed. `array_pose_fn(t)` → T_world_array 4×4. Reverberation is left out: it
    is a level of the direct sound, for telling a pause or a masked source from a sounding one.
    """
    from scipy.signal import butter, sosfilt

    sos = butter(4, LEVEL_BAND_HZ, btype='band', fs=fs, output='sos')
    frame = int(round(LEVEL_FRAME_S * fs))
    count = int(round(duration_s * fs)) // frame
    centres = (np.arange(count) + 0.5) * LEVEL_FRAME_S
    array_m = np.array([array_pose_fn(t)[:3, 3] for t in centres])
    levels: list[list[float] | None] = []
    for spec, signal in zip(sources, signals):
        if spec.is_diffuse:
            levels.append(None)
            continue
        samples = count * frame
        driven = sosfilt(sos, np.asarray(signal[:samples], dtype=np.float64) * spec.gain_envelope(samples, fs))
        power = np.mean(driven.reshape(count, frame) ** 2, axis=1)
        distance = np.linalg.norm(np.array([spec.position_at(t) for t in centres]) - array_m, axis=1)
        db = 10.0 * np.log10(np.maximum(power, 1e-20)) - 20.0 * np.log10(np.maximum(distance, 0.1))
        levels.append([round(float(v), 2) for v in db])
    return {'frame_s': LEVEL_FRAME_S, 'band_hz': list(LEVEL_BAND_HZ), 'db': levels}


def audible_sources(record: SceneRecord, centres_s: Sequence[float], window_s: float) -> np.ndarray | None:
    """W×S bool: which sources are audible in each window, or None when the scene stores no `source_levels`.

    Windows of `window_s` seconds centred at `centres_s`. Audible: active (at least ACTIVE_FRACTION of the
    window), its level over the window (`source_levels`) at most `PAUSE_MARGIN_DB` below its own loud level (the
    90th percentile of its active frames; not in a pause: a talker between phrases, a click train between clicks)
    and at most `MASKING_MARGIN_DB` below the loudest other active source in the window (not masked). The
    diffuse bed is never audible. Each source's levels are read and its loud level found once for all windows.
    """
    stored = record.extra.get('source_levels')
    if not stored:
        return None
    frame_s = float(stored['frame_s'])
    centres = np.asarray(centres_s, dtype=np.float64).reshape(-1)
    fractions = np.array([source_activity(record, c, window_s) for c in centres]).reshape(len(centres), -1)
    active = fractions >= ACTIVE_FRACTION
    window_db = np.full(active.shape, -np.inf)
    first = np.maximum(np.floor((centres - 0.5 * window_s) / frame_s + 0.5).astype(int), 0)
    last = np.floor((centres + 0.5 * window_s) / frame_s + 0.5).astype(int)
    loud_db = np.full(active.shape[1], np.nan)
    for index, db in enumerate(stored['db']):
        if db is None:
            continue
        db = np.asarray(db, dtype=np.float64)
        frames = _active_frames(record.sources[index], len(db), frame_s)
        loud_db[index] = np.percentile(db[frames] if frames.any() else db, 90)
        energy = np.concatenate([[0.0], np.cumsum(10.0 ** (db / 10.0))])  # window means from prefix sums
        stop = np.minimum(last, len(db))
        count = stop - np.minimum(first, stop)
        with np.errstate(divide='ignore', invalid='ignore'):
            mean = (energy[stop] - energy[np.minimum(first, stop)]) / count
            window_db[:, index] = np.where(active[:, index] & (count > 0), 10.0 * np.log10(mean), -np.inf)
    audible = np.zeros(active.shape, dtype=bool)
    for index in range(active.shape[1]):
        others = np.delete(window_db, index, axis=1).max(axis=1, initial=-np.inf)
        level = window_db[:, index]
        audible[:, index] = (np.isfinite(level) & (level >= loud_db[index] - PAUSE_MARGIN_DB)
                             & (level >= others - MASKING_MARGIN_DB))
    return audible


def _active_frames(source: dict, count: int, frame_s: float) -> np.ndarray:
    """Mask (count,) of the level frames whose centre lies in the source's [start_s, end_s)."""
    centres = (np.arange(count) + 0.5) * frame_s
    start_s, end_s = source.get('start_s'), source.get('end_s')
    start_s = -np.inf if start_s is None else float(start_s)
    end_s = np.inf if end_s is None else float(end_s)
    return (centres >= start_s) & (centres < end_s)
