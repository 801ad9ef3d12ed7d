"""Fast first-order ambisonic (FOA) scene renderer, in the manner of SonoWorld (free field, no room).

A point source at p with amplitude a contributes a·σ(d)·y(Rᵀ(p − t)/d) to the four channels, where
(R, t) is the rig pose T_world_array, d = |p − t| in metres, σ(d) = e^{−αd}/d and y the real spherical
harmonics of order ≤ 1 in AmbiX convention: ACN channel order W, Y, Z, X with SN3D normalisation, so a unit
plane wave from unit direction u (array frame, REP-103) gives [1, u_y, u_z, u_x]. An areal source is the
mean over points spread around its centre; an 'ambient' source feeds W only. Gains are evaluated at rig
poses every hop_s and linearly interpolated per sample, so moving rigs and sources pan smoothly. There is
no propagation delay (hence no Doppler) and no reverberation.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from av_pose.errors import UserInputError
from av_pose.scene.signals import SourceSpec, make_signal

PoseSource = Callable[[float], np.ndarray] | np.ndarray
"""A rig pose T_world_array: a fixed 4×4 array, or a callable t_s ↦ 4×4."""

DEFAULT_ALPHA_PER_M = 0.05
MIN_DISTANCE_M = 0.1  # σ(d) is evaluated at no less than this distance
VIRTUAL_MIC_PATTERNS = {'omni': 1.0, 'subcardioid': 0.7, 'cardioid': 0.5, 'supercardioid': 0.366,
                        'hypercardioid': 0.25, 'figure8': 0.0}
"""First-order polar patterns p: gain p + (1 − p)·cos θ towards the look direction."""
_SPREAD_DIRECTIONS = np.vstack([np.zeros(3), np.eye(3), -np.eye(3)])


def array_poses(pose_fn: PoseSource, times_s: np.ndarray) -> np.ndarray:
    """Evaluate a rig pose source at times_s (K,): K×4×4 T_world_array."""
    if callable(pose_fn):
        poses = np.stack([np.asarray(pose_fn(float(t)), dtype=np.float64) for t in times_s])
    else:
        poses = np.broadcast_to(np.asarray(pose_fn, dtype=np.float64), (len(times_s), 4, 4))
    if poses.shape[1:] != (4, 4) or not np.all(np.isfinite(poses)):
        raise UserInputError(f'rig poses must be finite 4×4 transforms, got shape {poses.shape[1:]}')
    return poses


def block_times(duration_s: float, fs: int, hop_s: float) -> tuple[int, int, np.ndarray]:
    """(num_samples T, hop in samples H, pose times (K,) = k·H/fs covering [0, T] with one past the end)."""
    if duration_s <= 0 or fs <= 0 or hop_s <= 0:
        raise UserInputError(f'duration {duration_s} s, sample rate {fs} Hz and hop {hop_s} s '
                             'must be positive')
    num_samples = int(round(duration_s * fs))
    hop = max(1, int(round(hop_s * fs)))
    num_blocks = -(-num_samples // hop) + 1
    return num_samples, hop, np.arange(num_blocks) * hop / fs


def foa_directions(directions_unit: np.ndarray) -> np.ndarray:
    """Real SH of order ≤ 1 (ACN/SN3D) of unit vectors (..., 3), array frame: (..., 4) = [1, y, z, x]."""
    u = np.asarray(directions_unit, dtype=np.float64)
    return np.stack([np.ones(u.shape[:-1]), u[..., 1], u[..., 2], u[..., 0]], axis=-1)


def distance_gain(distance_m: np.ndarray, alpha_per_m: float = DEFAULT_ALPHA_PER_M) -> np.ndarray:
    """σ(d) = e^{−αd}/d, with d held at MIN_DISTANCE_M or more."""
    d = np.maximum(np.asarray(distance_m, dtype=np.float64), MIN_DISTANCE_M)
    return np.exp(-alpha_per_m * d) / d


def source_points(centre_m: np.ndarray, spread_m: float = 0.0) -> np.ndarray:
    """Points (P, 3) representing a source: its centre, plus six at ±spread_m along each axis if spread."""
    centre = np.asarray(centre_m, dtype=np.float64)
    return centre[None] if spread_m <= 0 else centre + spread_m * _SPREAD_DIRECTIONS


def foa_gains(points_world: np.ndarray, T_world_array: np.ndarray,
              alpha_per_m: float = DEFAULT_ALPHA_PER_M) -> np.ndarray:
    """FOA gains (4,) of a source made of points (P, 3) in the world: mean_p σ(d_p)·y(Rᵀ(p − t)/d_p)."""
    R, t = T_world_array[:3, :3], T_world_array[:3, 3]
    local = (np.asarray(points_world, dtype=np.float64) - t) @ R          # rows are Rᵀ(p − t)
    distance = np.linalg.norm(local, axis=-1)
    unit = local / np.maximum(distance, 1e-9)[:, None]
    return (distance_gain(distance, alpha_per_m)[:, None] * foa_directions(unit)).mean(axis=0)


def render_foa(sources: Sequence[SourceSpec], signals: Sequence[np.ndarray] | None, pose_fn: PoseSource,
               duration_s: float, fs: int = 16000, hop_s: float = 0.1,
               alpha_per_m: float = DEFAULT_ALPHA_PER_M,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """FOA audio 4×T float32 (W, Y, Z, X) heard by a rig at T_world_array = pose_fn(t).

    `signals` are dry mono signals, one per source (None: made by `make_signal` with `rng`); each source's
    gain_db and activity envelope are applied here.
    """
    num_samples, hop, times = block_times(duration_s, fs, hop_s)
    signals = source_signals(sources, signals, duration_s, fs, rng)
    poses = array_poses(pose_fn, times)
    sample_times = np.arange(num_samples) / fs
    out = np.zeros((4, num_samples))
    for spec, signal in zip(sources, signals):
        driven = signal[:num_samples] * spec.gain_envelope(num_samples, fs)
        if spec.is_diffuse:
            out[0] += driven
            continue
        gains = np.stack([foa_gains(source_points(spec.position_at(t), spec.spread_m), pose, alpha_per_m)
                          for t, pose in zip(times, poses)])
        for channel in range(4):
            out[channel] += driven * np.interp(sample_times, times, gains[:, channel])
    return out.astype(np.float32)


def source_signals(sources: Sequence[SourceSpec], signals: Sequence[np.ndarray] | None, duration_s: float,
                    fs: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Validate given mono signals against the sources, or synthesise them."""
    num_samples = int(round(duration_s * fs))
    if signals is None:
        rng = np.random.default_rng() if rng is None else rng
        return [make_signal(spec.kind, duration_s, fs, rng) for spec in sources]
    if len(signals) != len(sources):
        raise UserInputError(f'{len(signals)} signals given for {len(sources)} sources')
    checked = []
    for index, signal in enumerate(signals):
        signal = np.asarray(signal, dtype=np.float64)
        if signal.ndim != 1 or len(signal) < num_samples:
            raise UserInputError(f'signal {index} must be mono with at least {num_samples} samples, '
                                 f'got shape {signal.shape}')
        checked.append(signal)
    return checked


def _look_directions(directions: np.ndarray) -> np.ndarray:
    """Unit look vectors (M, 3) from azimuths (M,) deg, [azimuth, elevation] (M, 2) deg or vectors (M, 3)."""
    directions = np.asarray(directions, dtype=np.float64)
    if directions.ndim == 1:
        directions = np.stack([directions, np.zeros_like(directions)], axis=-1)
    if directions.ndim != 2 or directions.shape[1] not in (2, 3):
        raise UserInputError(f'virtual-mic directions must be (M,), (M, 2) or (M, 3), got {directions.shape}')
    if directions.shape[1] == 3:
        return directions / np.linalg.norm(directions, axis=1, keepdims=True)
    azimuth, elevation = np.radians(directions[:, 0]), np.radians(directions[:, 1])
    return np.stack([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                     np.sin(elevation)], axis=-1)


def foa_to_virtual_mics(foa: np.ndarray, directions: np.ndarray, pattern: str = 'cardioid') -> np.ndarray:
    """First-order virtual microphones M×T from FOA 4×T (AmbiX W, Y, Z, X).

    directions: azimuths (M,) in degrees (CCW from +x, horizontal), [azimuth, elevation] (M, 2) in degrees,
    or look vectors (M, 3), all in the array frame. A plane wave s from unit direction u gives
    s·(p + (1 − p)·u·look) with p from VIRTUAL_MIC_PATTERNS, e.g. a virtual binaural-like pair is
    directions=[90, -90] (left, right) with 'cardioid', a virtual ring is azimuths every 360/M degrees.
    """
    if pattern not in VIRTUAL_MIC_PATTERNS:
        raise UserInputError(f'unknown pattern {pattern!r}: use one of {", ".join(VIRTUAL_MIC_PATTERNS)}')
    foa = np.asarray(foa)
    if foa.ndim != 2 or foa.shape[0] != 4:
        raise UserInputError(f'FOA audio must be 4×T (W, Y, Z, X), got shape {foa.shape}')
    omni = VIRTUAL_MIC_PATTERNS[pattern]
    look = _look_directions(directions)
    weights = np.concatenate([np.full((len(look), 1), omni), (1.0 - omni) * look[:, [1, 2, 0]]], axis=1)
    return (weights @ foa).astype(np.float32)
