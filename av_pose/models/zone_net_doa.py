"""ZoneNet as a DOA method (`method: zone-net`): NormMUSIC zone spectra read by a small learned network.

The same outputs as the spectrum-based estimators (`DoaResult`): the spectrum is the network's per-sector source
probability (B×360, not min-max normalised: 0.8 means 0.8), the sources are its peaks of at least `threshold`,
strongest first and `min_separation_deg` apart, each with its probability as the confidence. The zone spectra
come from `normmusic` with zone voting (`zone_frames` STFT frames per zone) on the same array and band, so any
planar array preset works; shipped weights were trained on ShoeboxAV scenes of the ReSpeaker 4, ReSpeaker 6 and UMA-8.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from av_pose.audio.arrays import MicArray
from av_pose.audio.doa.base import FREQUENCY_INNERMOST, DoaEstimator, DoaResult
from av_pose.audio.doa.grid import DirectionGrid
from av_pose.audio.doa.onset import OnsetVotingDoa
from av_pose.audio.doa.zones import default_zone_sources, zone_source_count
from av_pose.audio.stft import as_batch
from av_pose.errors import UserInputError
from av_pose.models.zone_net import (
    MAX_SOURCES,
    PEAK_SEPARATION_DEG,
    SECTORS,
    load_zone_net,
    sector_inputs,
    sector_peaks,
)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SHIPPED_ZONE_NETS = {'zone-net-tiny': 'weights/zone-net-tiny.pt'}
DEFAULT_ZONE_NET = 'zone-net-tiny'
THRESHOLD = 0.65
"""Default least probability of a reported source: the highest MOTA of the sweep on the six development tracking sets
(`tools/zone_net_threshold_sweep.py`, the shipped tracker settings), chosen for each shipped network. Stop 32's
network: 0.6 → 0.65 id switches 0.97 → 0.73 per source-minute (held out 1.42 → 1.48), false tracks 1.06 → 0.80 per
minute (0.66 → 0.13), MOTA 39.9 → 40.7 % (44.9 → 44.6 %), coverage 54.6 → 53.5 % (58.1 → 56.5 %). Stop 31's network
had its best at 0.6 (0.5 → 0.6: false tracks 2.4 → 1.2 per minute, MOTA 37.8 → 39.7 %)."""


def resolve_zone_net(name_or_path: str | None) -> Path:
    """A shipped ZoneNet name (default `zone-net-tiny`) or a checkpoint path → the checkpoint file."""
    spec = name_or_path or DEFAULT_ZONE_NET
    path = PACKAGE_DIR / SHIPPED_ZONE_NETS[spec] if spec in SHIPPED_ZONE_NETS else Path(spec).expanduser()
    if not path.is_file():
        raise UserInputError(f'zone-net model {spec!r}: no such file (shipped: {", ".join(SHIPPED_ZONE_NETS)}; '
                             'or a checkpoint path from `av-pose train config/train/zone-net-tiny.yaml`)')
    return path


def zone_spectra(zoned: DoaEstimator | OnsetVotingDoa, audio: torch.Tensor) -> dict[str, torch.Tensor]:
    """B×C×N audio windows → the inputs of `ZoneNet`: 'zones' B×Z×2×360, 'whole' B×2×360 and 'onset' B×2×360.

    `zoned` (`make_zone_estimator`) is NormMUSIC with zone voting on a `DirectionGrid`; its grid spectra are pooled
    to 1° sectors (`Grid.to_sectors`) and turned into network channels by `sector_inputs`. 'onset' (the
    onset-weighted spectrum) only when `zoned` hears onsets too.
    """
    main = zoned.main if isinstance(zoned, OnsetVotingDoa) else zoned
    band = main.band_of_audio(audio)
    batch = band.shape[0]
    zones = main.zones.split(band, main.buffer, main.band_memory_order == FREQUENCY_INNERMOST)
    inputs = {'zones': sector_inputs(main.grid.to_sectors(main.grid_spectrum(zones).float()).reshape(batch, -1,
                                                                                                    SECTORS)),
              'whole': sector_inputs(main.grid.to_sectors(main.grid_spectrum(band).float()))}
    if main is not zoned:
        inputs['onset'] = sector_inputs(main.grid.to_sectors(zoned.onset_grid_values(audio).float()))
    return inputs


def zone_subspace(array: MicArray, zone_sources: int | None) -> int:
    """Signal-subspace size of each zone's NormMUSIC spectrum.

    `zone_sources` kept below the microphone count, or the array's default when None (`default_zone_sources`:
    1 up to 6 microphones, 2 from 7).
    """
    if zone_sources is None:
        return default_zone_sources(array.num_channels)
    return max(1, min(zone_source_count(zone_sources), array.num_channels - 1))


def make_zone_estimator(array: MicArray, sample_rate: float, zone_frames: int, onsets: bool = False,
                        device: str | torch.device = 'cpu', zone_sources: int | None = None,
                        **options: object) -> DoaEstimator | OnsetVotingDoa:
    """The NormMUSIC zone estimator (with onset frames for `onsets`) whose spectra ZoneNet reads (train and serve).

    `zone_sources`: each zone's signal-subspace size (`zone_subspace`; None: the array's default).
    """
    from av_pose.audio.doa import make_estimator

    grid = options.pop('grid', None)
    if grid is not None and not isinstance(grid, DirectionGrid):
        raise UserInputError('method zone-net reads azimuth sectors: use the default horizontal grid')
    return make_estimator('normmusic', array, sample_rate, onsets, zone_frames=zone_frames, device=device,
                          zone_sources=zone_subspace(array, zone_sources), **options)


class ZoneNetDoa:
    """Several sources per window from a learned reading of NormMUSIC zone spectra; DoaEstimator's interface.

    Args:
        array: Any planar array preset or YAML array (azimuths in its frame, REP-103).
        sample_rate: Audio rate, Hz.
        model: Shipped name or checkpoint path (default the shipped `zone-net-tiny`).
        num_sources: Most sources reported per window (1 … 8).
        threshold: Least probability of a reported source, in (0, 1).
        min_separation_deg: Least angle between two reported sources, degrees.
        device: 'cpu', 'cuda' or 'auto'. Other keywords (nfft, freq_range_hz, speed_of_sound, ...) go to NormMUSIC;
            the zones are as long, and their signal subspaces as large, as the network was trained with (its
            checkpoint's `zone_frames` and `zone_sources`), whatever `zone_frames` and `zone_sources` say.
    """

    name = 'zone-net'

    def __init__(self, array: MicArray, sample_rate: float, *, model: str | None = None, num_sources: int = 4,
                 threshold: float = THRESHOLD, min_separation_deg: float = PEAK_SEPARATION_DEG,
                 device: str | torch.device = 'cpu', **options: object) -> None:
        if not 1 <= int(num_sources) <= MAX_SOURCES:
            raise UserInputError(f'method zone-net reports 1 to {MAX_SOURCES} sources, not {num_sources}')
        if not 0.0 < float(threshold) < 1.0:
            raise UserInputError(f'zone-net threshold must be in (0, 1), got {threshold}')
        for ignored in ('zone_frames', 'zone_sources', 'zone_width_deg', 'min_zone_share'):
            options.pop(ignored, None)
        self.model_path = resolve_zone_net(model)
        self.net, build = load_zone_net(self.model_path, 'cpu')
        self.zoned = make_zone_estimator(array, sample_rate, int(build['zone_frames']), self.net.onset is not None,
                                         device, build.get('zone_sources'), **options)
        self.net = self.net.to(self.zoned.device)
        self.array, self.sample_rate, self.device = array, float(sample_rate), self.zoned.device
        self.num_sources, self.threshold = int(num_sources), float(threshold)
        self.min_separation_deg = float(min_separation_deg)
        self.nfft, self.speed_of_sound, self.zones = self.zoned.nfft, self.zoned.speed_of_sound, self.zoned.zones
        self.grid = self.zoned.grid

    @property
    def min_samples(self) -> int:
        """Shortest window taken, samples: one zone of STFT frames."""
        return self.zoned.min_samples

    @torch.no_grad()
    def probabilities(self, audio: np.ndarray | torch.Tensor) -> torch.Tensor:
        """C×N or B×C×N audio → B×360 per-sector source probabilities."""
        return torch.sigmoid(self.net(**zone_spectra(self.zoned, as_batch(audio, self.device))))

    def estimate(self, audio: np.ndarray | torch.Tensor) -> DoaResult:
        """DOA of C×N or B×C×N audio windows (class docstring)."""
        probability = self.probabilities(audio).cpu().numpy()
        azimuths, confidence = sector_peaks(probability, self.num_sources, self.threshold, self.min_separation_deg)
        return DoaResult(probability, azimuths, confidence, np.where(np.isfinite(azimuths), 0.0, np.nan))

    def release(self) -> None:
        """Drop the network and NormMUSIC's workspace."""
        self.zoned.release()
        self.net = None
