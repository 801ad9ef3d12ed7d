"""pyroomacoustics shoebox simulations with known source azimuths, shared by the DOA tests."""
from __future__ import annotations

import numpy as np
import pyroomacoustics as pra

from av_pose.audio.arrays import MicArray

ROOM_DIMS = np.array([8.0, 7.0, 3.0])
ARRAY_CENTRE = np.array([4.1, 3.4, 1.4])


def seed_pyroomacoustics(seed: int) -> None:
    """Make `Room.simulate`'s sensor noise reproducible: pyroomacoustics ≥ 0.8 draws it from its own package RNG
    (seeded from entropy at import, so every test process heard different noise), older versions from numpy's."""
    if hasattr(pra, 'random') and hasattr(pra.random, 'seed'):
        pra.random.seed(seed)
    else:
        np.random.seed(seed)


def simulate(array: MicArray, fs: int, azimuths_deg: list[float], rt60_s: float = 0.3, snr_db: float = 20.0,
             duration_s: float = 1.0, distance_m: float = 1.5, seed: int = 0,
             gains: list[np.ndarray] | None = None) -> np.ndarray:
    """C×T audio of white-noise sources at `azimuths_deg` (array frame, horizontal) in an 8×7×3 m room.

    `gains`: per source a (T,) gain envelope the noise is multiplied by (default: always on).
    """
    rng = np.random.default_rng(seed)
    absorption, max_order = pra.inverse_sabine(rt60_s, ROOM_DIMS)
    room = pra.ShoeBox(ROOM_DIMS, fs=fs, materials=pra.Material(absorption), max_order=max_order)
    samples = int(duration_s * fs)
    for index, azimuth in enumerate(azimuths_deg):
        rad = np.deg2rad(azimuth)
        position = ARRAY_CENTRE + distance_m * np.array([np.cos(rad), np.sin(rad), 0.0])
        gain = 1.0 if gains is None else gains[index]
        room.add_source(position, signal=rng.standard_normal(samples) * gain)
    room.add_microphone_array(pra.MicrophoneArray((array.positions_m + ARRAY_CENTRE).T, fs))
    seed_pyroomacoustics(seed)
    room.simulate(snr=snr_db)
    return room.mic_array.signals[:, :samples].astype(np.float32)


def circular_error_deg(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Absolute azimuth difference with wrap-around, degrees."""
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


def turn_taking_gains(count: int, samples: int, fs: int, burst_s: float = 0.15, seed: int = 0) -> list[np.ndarray]:
    """Per source a 0/1 (T,) envelope: bursts of `burst_s` in shuffled rounds, so that one source sounds at a time."""
    rng = np.random.default_rng(seed)
    burst = int(burst_s * fs)
    order = np.concatenate([rng.permutation(count) for _ in range(samples // (burst * count) + 1)])
    gains = [np.zeros(samples, np.float32) for _ in range(count)]
    for slot, source in enumerate(order):
        gains[source][slot * burst:(slot + 1) * burst] = 1.0
    return gains
