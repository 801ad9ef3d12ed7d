"""Direction-of-arrival estimation, batched in torch: MUSIC, NormMUSIC, SRP-PHAT, FOA intensity."""
from __future__ import annotations

from av_pose.audio.arrays import MicArray
from av_pose.audio.doa.base import DoaEstimator, DoaResult, resolve_device
from av_pose.audio.doa.grid import DirectionGrid, Grid, SphereGrid, resolves_elevation
from av_pose.audio.doa.intensity import PseudoIntensity
from av_pose.audio.doa.music import Music, NormMusic
from av_pose.audio.doa.srp_phat import SrpPhat
from av_pose.errors import UserInputError

METHODS: dict[str, type[DoaEstimator]] = {
    cls.name: cls for cls in (NormMusic, Music, SrpPhat, PseudoIntensity)
}


def make_estimator(method: str, array: MicArray, sample_rate: float, **options) -> DoaEstimator:
    """Build the estimator registered as `method` (normmusic, music, srp_phat, intensity).

    `options` are DoaEstimator's keyword arguments (nfft, freq_range_hz or freq_bins, num_sources,
    min_separation_deg, grid, speed_of_sound or temperature_c, device) and, for music / normmusic, subspace.
    """
    try:
        cls = METHODS[method]
    except KeyError:
        raise UserInputError(f'unknown DOA method {method!r}: use one of {", ".join(METHODS)}') from None
    return cls(array, sample_rate, **options)


__all__ = ['METHODS', 'DirectionGrid', 'DoaEstimator', 'DoaResult', 'Grid', 'SphereGrid', 'make_estimator',
           'resolve_device', 'resolves_elevation']
