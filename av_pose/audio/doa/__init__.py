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
LEARNED_METHODS: dict[str, str] = {'slfm': 'av_pose.models.slfm_doa:SlfmDoaEstimator',
                                   'zone-net': 'av_pose.models.zone_net_doa:ZoneNetDoa'}
"""Learned methods with the same interface, imported on use (`model=` names their weights)."""
ALL_METHODS = (*METHODS, *LEARNED_METHODS)


def make_estimator(method: str, array: MicArray, sample_rate: float, onset_emphasis: bool = False,
                   **options) -> DoaEstimator:
    """Build the estimator registered as `method` (normmusic, music, srp_phat, intensity; learned: slfm, zone-net).

    `options` are DoaEstimator's keyword arguments (nfft, freq_range_hz or freq_bins, num_sources,
    min_separation_deg, grid, speed_of_sound or temperature_c, device) and, for music / normmusic, subspace;
    `slfm` takes `model` (a shipped name or a checkpoint path), `num_sources` 1 and `device`; `zone-net` takes
    `model`, `num_sources` (1–8), `zone_frames` and NormMUSIC's options (`av_pose.models.zone_net_doa`).
    `onset_emphasis`: the method's spectrum plus an onset-weighted one (`av_pose.audio.doa.onset.OnsetEmphasisDoa`),
    or with zone voting the onset frames' votes beside the zones' (`OnsetVotingDoa`); both estimate like a
    DoaEstimator; spectral methods only.
    """
    if onset_emphasis:
        from av_pose.audio.doa.onset import make_onset_emphasis

        return make_onset_emphasis(method, array, sample_rate, **options)
    if method in LEARNED_METHODS:
        import importlib

        module_name, _, attribute = LEARNED_METHODS[method].partition(':')
        learned = getattr(importlib.import_module(module_name), attribute)
        return learned(array, sample_rate, **{key: value for key, value in options.items() if value is not None})
    options.pop('model', None)
    try:
        cls = METHODS[method]
    except KeyError:
        raise UserInputError(f'unknown DOA method {method!r}: use one of {", ".join(ALL_METHODS)}') from None
    return cls(array, sample_rate, **options)


__all__ = ['ALL_METHODS', 'LEARNED_METHODS', 'METHODS',
           'DirectionGrid', 'DoaEstimator', 'DoaResult', 'Grid', 'SphereGrid', 'make_estimator',
           'resolve_device', 'resolves_elevation']
