"""Novel-view acoustic synthesis (NVAS) pretext network: the binaural encoder's pretraining (stage `nvas`).

As in SLfM's cross-view binauralisation and 2.5D visual sound, without the visual encoder: a U-Net takes the
target view's mono STFT (real, imag) and predicts a complex mask; mask × mono STFT is the predicted STFT of the
target's left − right difference. The source view's binaural audio, through `BinauralEncoder`, conditions the
U-Net (its embedding is tiled over the bottleneck). The encoder trained here is the one the pose model uses:
`NvasUNet.binaural_encoder.state_dict()` loads strictly into `SpatialAudioEncoder.binaural_encoder`.

Conventions: mono = (L + R) / 2, difference = L − R, both STFT'd by the encoder's own STFT (Nyquist bin dropped);
each example is scaled by 1 / (RMS of its target mono) so that the loss does not depend on loudness; the mask is
bounded to ±`mask_scale` (2 by default: |L − R| ≤ 2·|mono| whenever the ears are less than 90° out of phase).
Loss: L1 on the real and imaginary parts of predicted − true difference STFT (complex, not magnitude).

Training views must carry direction in L − R: `head_following_views` renders each view's mono through the HRTF
at the sound's camera heading (ShoeboxAV ground truth through `camera_heading_deg`: a head that turns with the
camera), or two-ear recordings (ShoeboxAV's `binaural` array, HM3D-SS). The pose model's fixed-head renders
(`AudioFeaturizer.featurize`, source always straight ahead) have L = R for a symmetric HRTF: nothing to learn.
On ShoeboxAV's `binaural` array (two omnis 17.5 cm apart, reverberant rooms) L − R above ~1 kHz is mostly diffuse:
a tiny model's loss fell only 1.4–1.7× in 40–100 steps there, against 2.8× in 40 steps on head-following renders.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from av_pose.audio.stft import as_batch
from av_pose.errors import UserInputError
from av_pose.models.audio_encoder import AudioFeaturizer, BinauralEncoder


def _down(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1),
                         nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2))


def _up(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class NvasUNet(nn.Module):
    """Mono STFT of the target view + binaural audio of the source view → complex mask for the target's L − R.

    Args:
        binaural_dim: size of the binaural embedding (the pose model's `binaural_dim`).
        base_channels: channels of the first U-Net level; level i has base·min(2^i, 8) (64 … 512 as 2.5D).
        depth: U-Net levels (stride-2 convolutions), at least 2; n_fft / 2 must be divisible by 2^depth.
        n_fft, win_length, hop_length: STFT of the binaural encoder and of the U-Net input, samples.
        mask_scale: the mask's real and imaginary parts lie in [−mask_scale, mask_scale].
        resnet_width: the binaural encoder's first-stage channels (64 = ResNet-18).
        condition_dim: size of an extra conditioning vector tiled at the bottleneck beside the binaural
            embedding (SLfM's visual correlation feature); 0 = none.

    Attributes:
        binaural_encoder: the `BinauralEncoder` (state_dict keys `resnet.*`).
        config: the constructor arguments.
    """

    def __init__(self, binaural_dim: int = 1024, base_channels: int = 64, depth: int = 5, n_fft: int = 512,
                 win_length: int = 400, hop_length: int = 160, mask_scale: float = 2.0, resnet_width: int = 64,
                 condition_dim: int = 0):
        super().__init__()
        if depth < 2 or (n_fft // 2) % (2 ** depth):
            raise UserInputError(f'NVAS U-Net: need depth >= 2 and n_fft / 2 = {n_fft // 2} bins divisible by '
                                 f'2^depth = {2 ** depth}')
        self.config = {'binaural_dim': int(binaural_dim), 'base_channels': int(base_channels), 'depth': int(depth),
                       'n_fft': int(n_fft), 'win_length': int(win_length), 'hop_length': int(hop_length),
                       'mask_scale': float(mask_scale), 'resnet_width': int(resnet_width)}
        if condition_dim:
            self.config['condition_dim'] = int(condition_dim)
        self.depth, self.mask_scale = int(depth), float(mask_scale)
        self.binaural_encoder = BinauralEncoder(binaural_dim, n_fft, win_length, hop_length, resnet_width)
        channels = [base_channels * min(2 ** i, 8) for i in range(depth)]
        self.down = nn.ModuleList(_down(c_in, c_out) for c_in, c_out in zip([2] + channels[:-1], channels))
        self.up = nn.ModuleList([_up(channels[-1] + binaural_dim + int(condition_dim), channels[-2])]
                                + [_up(2 * channels[i], channels[i - 1]) for i in range(depth - 2, 0, -1)])
        self.out = nn.ConvTranspose2d(2 * channels[0], 2, 4, stride=2, padding=1)
        nn.init.zeros_(self.out.weight)  # the mask starts at 0: predicted L − R = 0, the no-difference baseline
        nn.init.zeros_(self.out.bias)

    def forward(self, mono_spec: torch.Tensor, source_binaural: torch.Tensor,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        """mono_spec B×2×F×T (real, imag; F = n_fft / 2), source_binaural B×2×M → mask B×2×F×T.

        `condition` (B×condition_dim) is required when the U-Net was built with condition_dim.
        """
        frames = mono_spec.shape[-1]
        multiple = 2 ** self.depth
        x = functional.pad(mono_spec, (0, (-frames) % multiple))
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        embedding = self.binaural_encoder(source_binaural)
        if condition is not None:
            embedding = torch.cat([embedding, condition.to(embedding.dtype)], 1)
        x = torch.cat([x, embedding[:, :, None, None].expand(-1, -1, *x.shape[-2:])], 1)
        for layer, skip in zip(self.up, reversed(skips[:-1])):
            x = torch.cat([layer(x), skip], 1)
        return self.mask_scale * torch.tanh(self.out(x))[..., :frames]


def nvas_inputs(model: NvasUNet, source: torch.Tensor, target: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(source binaural, target mono STFT B×2×F×T, target L − R STFT B×2×F×T) from raw binaural B×2×M views.

    Both views are scaled by 1 / RMS of the target's mono waveform (per example); STFTs are the encoder's.
    """
    device = next(model.parameters()).device
    source, target = source.to(device, torch.float32), target.to(device, torch.float32)
    if source.ndim != 3 or source.shape[1] != 2 or target.shape != source.shape:
        raise ValueError(f'source and target must both be B×2×M binaural audio, got {tuple(source.shape)} and '
                         f'{tuple(target.shape)}')
    mono = target.mean(1, keepdim=True)
    scale = 1.0 / mono.square().mean(-1, keepdim=True).sqrt().clamp_min(1e-6)
    spec = model.binaural_encoder.stft(torch.cat([mono, target[:, :1] - target[:, 1:]], 1) * scale)
    as_channels = torch.stack([spec.real, spec.imag], 1)  # B×2×K×F×T, K = (mono, difference)
    return source * scale, as_channels[:, :, 0], as_channels[:, :, 1]


def predicted_difference(mask: torch.Tensor, mono_spec: torch.Tensor) -> torch.Tensor:
    """Complex product mask × mono STFT, both B×2×F×T as (real, imag) → B×2×F×T."""
    real = mask[:, 0] * mono_spec[:, 0] - mask[:, 1] * mono_spec[:, 1]
    imag = mask[:, 0] * mono_spec[:, 1] + mask[:, 1] * mono_spec[:, 0]
    return torch.stack([real, imag], 1)


def nvas_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 on the complex difference spectrogram: mean |Δ real| and |Δ imag| of B×2×F×T (real, imag) pairs."""
    return (pred - target).abs().mean()


def nvas_step(model: NvasUNet, batch_views: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The NVAS loss of a batch {'source': B×2×M, 'target': B×2×M} of raw binaural audio (scalar tensor)."""
    source, mono_spec, difference = nvas_inputs(model, batch_views['source'], batch_views['target'])
    return nvas_loss(predicted_difference(model(mono_spec, source), mono_spec), difference)


def head_following_views(featurizer: AudioFeaturizer, audio_source: np.ndarray | torch.Tensor,
                         audio_target: np.ndarray | torch.Tensor, heading_source_deg, heading_target_deg
                         ) -> dict[str, torch.Tensor]:
    """NVAS training views {'source', 'target'} (B×2×M each) from two views' multichannel windows.

    Each window's mono is rendered through the featurizer's HRTF for a source at its camera heading (degrees,
    B each, e.g. `camera_heading_deg` of ShoeboxAV ground-truth azimuths): a head that turns with the camera.
    A NaN heading (no active source) renders straight ahead (L = R: nothing to learn from that view).

    Args:
        featurizer: the `AudioFeaturizer` of the windows' array, sample rate and mount.
        audio_source: B×C×N windows of the source view (numpy or torch) at the featurizer's sample rate.
        audio_target: the same for the target view.
        heading_source_deg: B camera headings of the sound in the source view, degrees.
        heading_target_deg: the same in the target view.
    """
    views = {}
    for key, audio, heading in (('source', audio_source, heading_source_deg),
                                ('target', audio_target, heading_target_deg)):
        mono = torch.nan_to_num(as_batch(audio, featurizer.device)).mean(1)
        views[key] = featurizer.binaural(mono, np.nan_to_num(np.asarray(heading, dtype=np.float64), nan=0.0))
    return views
