"""Synthetic DOA spectra for the tests of the audio yaw and its parallax."""
from __future__ import annotations

import numpy as np

AZIMUTHS = np.arange(360) + 0.5  # sector centres


def peaks_spectrum(centres_deg, heights, width_deg=6.0) -> np.ndarray:
    """360-bin spectrum with von Mises-shaped peaks (wrap-around), min-max normalised like a DoaResult."""
    spectrum = np.zeros(360)
    for centre, height in zip(centres_deg, heights):
        spectrum += height * np.exp((np.cos(np.radians(AZIMUTHS - centre)) - 1.0) / np.radians(width_deg) ** 2)
    return (spectrum - spectrum.min()) / (spectrum.max() - spectrum.min())
