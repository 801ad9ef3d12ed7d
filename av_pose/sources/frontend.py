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
from av_pose.sources.tracker import TrackerConfig

ZONE_FRAMES = 4
"""Default STFT frames per voting zone (4 × 16 ms hop ≈ 0.1 s at 16 kHz); 0 = one spectrum per window."""
WINDOW_S = 0.5
"""Default analysis window of the tracking front end, seconds (every 0.1 s). Half the pose models' 1 s: a rig
turning at 30°/s sweeps its sources by 15° instead of 30° within a window, which zone voting would otherwise split
into two peaks; on ShoeboxAV it tracked more of each source than 1 s windows did."""

ZONE_NET_MEASUREMENT_STD_DEG = 6.0
"""The 1-σ of a ZoneNet peak that the tracker assumes (zone voting's: `TrackerConfig`'s default, 3°). A smoother
track state cut id switches with either front end, but with zone voting it held on to wrong bearings that then
spoiled the map (docs/results.md, stops 23–24); ZoneNet's peaks are surer. On the ten ShoeboxAV tracking sets, 3° →
6°: id switches 2.53 → 1.77 per source-minute (held out 3.75 → 2.89), MOTA 34.5 → 36.4 % (40.9 → 43.0 %),
coverage +1 point, no longer linger; the map within noise (stop 30)."""
ZONE_NET_ACCEL_STD_DEG_S2 = 10.0
"""The azimuth acceleration noise of a track fed by ZoneNet (`TrackerConfig.accel_std_deg_s2`; zone voting keeps 20
deg/s²). With ZoneNet's peaks at threshold 0.6 on the ten tracking sets (stop 31), 20 → 10: id switches 1.30 →
0.99 per source-minute (held out 2.45 → 2.03), MOTA 38.4 → 39.7 % (44.2 → 44.7 %), coverage +0.9 (+0.5) points, the
median error 3.25° → 3.28° (3.22° → 3.23°), no longer linger; 5 and 7 deg/s² gained no more."""
ZONE_NET_COAST_S = 1.5
"""How long a confirmed track fed by ZoneNet coasts unheard before it dies, seconds (`TrackerConfig.coast_s`; zone
voting keeps 0.8, where longer coasting held places where no source was, docs/results.md stop 25). ZoneNet's peaks
leave gaps more than they invent: on the ten tracking sets (stop 34) 0.8 → 1.5 s raised coverage 53.5 → 57.6 %
(held out 56.2 → 61.2 %), MOTA 40.8 → 41.4 % (44.5 → 46.0 %), id switches 0.50 → 0.46 per source-minute (1.30 →
1.27), with the median error 3.28° → 3.31° (3.03° → 3.13°) and the longest linger after a stop 1.0 → 1.6 s (target
2 s). The map uses a coasting prediction for at most `SourceMapConfig.prediction_s` (0.8 s): with the true poses
its mean median error moved 0.61 → 0.59 m after 5 s and 0.41 → 0.43 m at the end (0.55 → 0.60 m per source 5 s
after it starts)."""


def method_tracker_defaults(method: str) -> dict[str, float]:
    """`TrackerConfig` fields that suit the peaks of DOA method `method`.

    zone-net: its peaks' 1-σ, acceleration noise and coasting; the other methods: none (`TrackerConfig`'s
    defaults).
    """
    if method == 'zone-net':
        return {'measurement_std_deg': ZONE_NET_MEASUREMENT_STD_DEG, 'accel_std_deg_s2': ZONE_NET_ACCEL_STD_DEG_S2,
                'coast_s': ZONE_NET_COAST_S}
    return {}


def front_end_tracker_config(zone_net: str | None, config: TrackerConfig | None = None) -> TrackerConfig | None:
    """`config` when given, else the tracker settings that suit the front end (None: `TrackerConfig`'s defaults)."""
    if config is not None or zone_net is None:
        return config
    return TrackerConfig(**method_tracker_defaults('zone-net'))


def source_doa_estimator(array: MicArray, sample_rate: float, num_peaks: int, zone_frames: int = ZONE_FRAMES,
                         method: str = 'normmusic', device: str = 'cpu', onset_emphasis: bool = False,
                         zone_net: str | None = None, zone_net_threshold: float | None = None) -> DoaEstimator:
    """`method` reporting up to `num_peaks` peaks per window (capped: C − 1 without zones, 8 with them).

    `onset_emphasis`: with zone voting the onsets vote too (`av_pose.audio.doa.onset.OnsetVotingDoa`: fewer false
    tracks, but many onsets take vote share from steady sources; off by default for the source map's sake).
    `zone_net`: instead of the votes, the zone spectra are read by a learned network (`method` zone-net; a shipped
    name or a checkpoint path: `av_pose.models.zone_net_doa`); its zones are as long as it was trained with, and
    `zone_net_threshold` (None: its default, `zone_net_doa.THRESHOLD`) is the least probability of a reported peak.
    """
    if zone_net is not None:
        threshold = {} if zone_net_threshold is None else {'threshold': zone_net_threshold}
        return make_estimator('zone-net', array, sample_rate, model=zone_net, device=device,
                              num_sources=max(1, min(int(num_peaks), MAX_ZONE_SOURCES)), **threshold)
    cap = MAX_ZONE_SOURCES if zone_frames else array.num_channels - 1
    return make_estimator(method, array, sample_rate, onset_emphasis, num_sources=max(1, min(int(num_peaks), cap)),
                          zone_frames=zone_frames, device=device)
