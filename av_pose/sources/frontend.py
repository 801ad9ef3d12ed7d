"""The DOA front end of sound-source tracking and mapping: one estimator shared by eval, the bag tool and docs.

Several simultaneous sources on a small array are found best by zone voting (`av_pose.audio.doa.zones`). On
ShoeboxAV with 2–4 sources it cut the share of confirmed track-windows that match no source from 60–79 % to
37–45 %. On a 4-microphone ReSpeaker it raised the tracked share of source-windows from 31–45 % to 47–58 %
(docs/results.md, "Sound sources").
"""
from __future__ import annotations

from av_pose.audio.arrays import MicArray
from av_pose.audio.doa import DoaEstimator, make_estimator
from av_pose.audio.doa.base import MAX_ZONE_SOURCES

ZONE_FRAMES = 4
"""Default STFT frames per voting zone (4 × 16 ms hop ≈ 0.1 s at 16 kHz); 0 = one spectrum per window."""
WINDOW_S = 0.5
"""Default analysis window of the tracking front end, seconds (every 0.1 s). Half the pose models' 1 s: a rig
turning at 30°/s sweeps its sources by 15° instead of 30° within a window, which zone voting would otherwise split
into two peaks; on ShoeboxAV it tracked more of each source than 1 s windows did."""


def source_doa_estimator(array: MicArray, sample_rate: float, num_peaks: int, zone_frames: int = ZONE_FRAMES,
                         method: str = 'normmusic', device: str = 'cpu', onset_emphasis: bool = False,
                         zone_net: str | None = None) -> DoaEstimator:
    """`method` reporting up to `num_peaks` peaks per window (capped: C − 1 without zones, 8 with them).

    `onset_emphasis`: with zone voting the onsets vote too (`av_pose.audio.doa.onset.OnsetVotingDoa`: fewer false
    tracks, but many onsets take vote share from steady sources; off by default for the source map's sake).
    `zone_net`: instead of the votes, the zone spectra are read by a learned network (`method` zone-net; a shipped
    name or a checkpoint path: `av_pose.models.zone_net_doa`); its zones are as long as it was trained with.
    """
    if zone_net is not None:
        return make_estimator('zone-net', array, sample_rate, model=zone_net, device=device,
                              num_sources=max(1, min(int(num_peaks), MAX_ZONE_SOURCES)))
    cap = MAX_ZONE_SOURCES if zone_frames else array.num_channels - 1
    return make_estimator(method, array, sample_rate, onset_emphasis, num_sources=max(1, min(int(num_peaks), cap)),
                          zone_frames=zone_frames, device=device)
