"""ZoneNet: a learned reading of the zone spectra of a window, for several sound sources at once.

Zone voting (`av_pose.audio.doa.zones`) lets each ~0.1 s zone of a window vote for its strongest directions and
keeps the histogram's peaks. It throws away everything but each zone's argmax, so a talker next to a louder
noise, or a reflection that wins a few zones, is decided by a hand-set vote share. ZoneNet reads the zones'
whole NormMUSIC spectra instead and says, per 1° sector, how likely a point source is there:

- input: the Z zone spectra and the whole window's spectrum, each on 360 one-degree sectors (bin i is the
  azimuth sector [i°, i+1°) counter-clockwise from the array's +x, REP-103), as two channels each: the spectrum
  over its maximum, and its log minus its mean (clipped to ±5, halved);
- with `onsets`, also the window's onset-weighted NormMUSIC spectrum (8 ms frames whose power rises ≥ 6 dB,
  `av_pose.audio.doa.onset`: mostly direct sound; flat where the window has no onset);
- each zone through the same circular convolutions, then mean and max over the zones (so any number of zones,
  in any order), joined to the whole window's (and the onsets') features and to cos/sin of k·azimuth (k = 1 …
  `harmonics`: what the array's own geometry does to the spectra is fixed in its frame);
- dilated circular convolutions → one logit per sector. Trained (`av-pose train`, stage `zone-net`) against a
  Gaussian bump (σ `TARGET_SIGMA_DEG`) at every active point source's true azimuth.

Its peaks (`ZoneNet` → sigmoid → `DirectionGrid` peaks above a threshold) are the sources; their height is a
probability the tracker can gate on. `av_pose.models.zone_net_doa` makes it a DOA method (`method: zone-net`).
"""
from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from av_pose.audio.doa.grid import DirectionGrid
from av_pose.errors import UserInputError

SECTORS = 360
MAX_SOURCES = 8
"""Most sources a window is labelled with in training, and reported at inference."""
TARGET_SIGMA_DEG = 3.0
"""Width of the training target's bump around each source, degrees."""
LOG_CLIP = 5.0
PEAK_SEPARATION_DEG = 15.0
"""Least angle between two sources read from the probabilities, degrees."""
SECTOR_GRID = DirectionGrid(step_deg=1.0, offset_deg=0.5)
"""The 360 one-degree sectors as a grid (point i at i + 0.5°), built once: peaks are searched on it every window."""


def sector_inputs(values: torch.Tensor) -> torch.Tensor:
    """Sector spectra ...×360 (non-negative; NaN read as 0) → ...×2×360 network channels (module docstring)."""
    values = torch.nan_to_num(values.float(), nan=0.0, posinf=0.0).clamp_min(1e-6)
    relative = values / values.amax(-1, keepdim=True)
    log = values.log()
    log = (log - log.mean(-1, keepdim=True)).clamp(-LOG_CLIP, LOG_CLIP) / 2.0
    return torch.stack([relative, log], -2)


class CircularConv1d(nn.Module):
    """A 1-D convolution over azimuth sectors that wraps around 360°, length kept."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, dilation: int = 1) -> None:
        super().__init__()
        self.pad = dilation * (kernel - 1) // 2
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N×C×360 → N×C'×360."""
        return self.conv(functional.pad(x, (self.pad, self.pad), mode='circular'))


class ZoneNet(nn.Module):
    """Per-sector source logits from a window's zone spectra (module docstring).

    Args:
        width: Channels of the convolutions.
        harmonics: Azimuth harmonics given as fixed input channels (0: none, the net is then rotation-equivariant).
        onsets: Also read the onset-weighted spectrum.
    """

    def __init__(self, width: int = 32, harmonics: int = 4, onsets: bool = False) -> None:
        super().__init__()
        if width < 2 or harmonics < 0:
            raise UserInputError(f'zone-net: width must be >= 2 and harmonics >= 0, got {width}, {harmonics}')
        self.config = {'width': int(width), 'harmonics': int(harmonics), 'onsets': bool(onsets)}
        self.zone = nn.Sequential(CircularConv1d(2, width, 9), nn.ReLU(), CircularConv1d(width, width, 9), nn.ReLU())
        self.whole = nn.Sequential(CircularConv1d(2, width // 2, 9), nn.ReLU())
        self.onset = nn.Sequential(CircularConv1d(2, width // 2, 9), nn.ReLU()) if onsets else None
        azimuth = (torch.arange(SECTORS) + 0.5) * (2 * math.pi / SECTORS)
        position = [f(k * azimuth) for k in range(1, harmonics + 1) for f in (torch.cos, torch.sin)]
        self.register_buffer('position', torch.stack(position) if position else torch.zeros(0, SECTORS),
                             persistent=False)
        channels = 2 * width + (2 if onsets else 1) * (width // 2) + 2 * harmonics
        layers: list[nn.Module] = []
        for dilation in (1, 2, 4, 8):
            layers += [CircularConv1d(channels, width, 5, dilation), nn.ReLU()]
            channels = width
        self.body = nn.Sequential(*layers, CircularConv1d(width, 1, 5))

    def forward(self, zones: torch.Tensor, whole: torch.Tensor, onset: torch.Tensor | None = None) -> torch.Tensor:
        """Network inputs (`sector_inputs`) → B×360 logits.

        Zones B×Z×2×360, the whole window B×2×360 and, with `onsets`, the onset spectrum B×2×360.
        """
        batch, count = zones.shape[:2]
        encoded = self.zone(zones.reshape(batch * count, *zones.shape[2:])).reshape(batch, count, -1, SECTORS)
        parts = [encoded.mean(1), encoded.amax(1), self.whole(whole)]
        if self.onset is not None:
            if onset is None:
                raise UserInputError('this zone-net reads the onset spectrum too: give `onset`')
            parts.append(self.onset(onset))
        return self.body(torch.cat([*parts, self.position.expand(batch, -1, -1)], 1))[:, 0]


def sector_peaks(probability: np.ndarray, count: int, threshold: float,
                 min_separation_deg: float = PEAK_SEPARATION_DEG) -> tuple[np.ndarray, np.ndarray]:
    """The sources in B×360 per-sector probabilities: B×count azimuths and their probabilities.

    Azimuths in degrees [0, 360), refined between sectors, strongest first, at least `min_separation_deg` apart;
    NaN below `threshold` or where fewer peaks exist.
    """
    peaks = SECTOR_GRID.find_peaks(np.asarray(probability, dtype=np.float64), count, min_separation_deg)
    keep = np.nan_to_num(peaks.heights, nan=0.0) >= threshold
    return np.where(keep, peaks.azimuths_deg, np.nan), np.where(keep, peaks.heights, np.nan)


def bump_targets(azimuths_deg: np.ndarray, sigma_deg: float = TARGET_SIGMA_DEG) -> np.ndarray:
    """B×S source azimuths (degrees, NaN = inactive) → B×360 targets: the largest Gaussian bump at each sector."""
    azimuths = np.asarray(azimuths_deg, dtype=np.float64).reshape(len(azimuths_deg), -1)
    centres = np.arange(SECTORS) + 0.5
    distance = np.abs((centres[None, None, :] - np.nan_to_num(azimuths, nan=0.0)[..., None] + 180.0) % 360.0 - 180.0)
    bumps = np.where(np.isfinite(azimuths)[..., None], np.exp(-0.5 * (distance / sigma_deg) ** 2), 0.0)
    return bumps.max(1) if azimuths.shape[1] else np.zeros((len(azimuths), SECTORS))


def load_zone_net(path: str | Path, device: str | torch.device = 'cpu') -> tuple[ZoneNet, dict]:
    """The `ZoneNet` of a `zone-net` training checkpoint and its build entry (the zone_frames it was trained with).

    Loaded strictly, weights only, in eval mode on `device`.
    """
    from av_pose.models.checkpoints import load_strict

    try:
        payload = torch.load(path, map_location='cpu', weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise UserInputError(f'{path}: cannot read the checkpoint ({str(err).strip().splitlines()[0]})') from None
    build = payload.get('build', {}) if isinstance(payload, dict) else {}
    if build.get('kind') != 'zone-net':
        raise UserInputError(f'{path}: not a zone-net checkpoint (kind {build.get("kind")!r})')
    model = ZoneNet(**{k: build[k] for k in ('width', 'harmonics', 'onsets') if k in build})
    load_strict(model, payload['model'], str(path))
    return model.to(device).eval(), build
