"""Sound Localization from Motion (SLfM, Chen, Qian & Owens, ICCV 2023): the networks (losses: `models.slfm_losses`).

Conventions (radians inside the networks and losses, degrees in public APIs outside them):
- θ, sound azimuth of a binaural window in the array (head) frame: REP-103, counter-clockwise from the array's
  +x (forward), left positive; channel 0 is the left ear (array +y). θ = tanh(·)·π.
- φ, camera rotation from view s to view t: the yaw of view t's frame in view s's frame, counter-clockwise (seen
  from above) positive, as REP-103 yaw. φ = tanh(·)·π/2.
- A static source at θ_s seen from a rig that yaws by φ from s to t lies at θ_t = θ_s − φ, so the geometric
  loss 1 − cos(θ_s − θ_t − φ) is zero for consistent predictions.

Networks:
- `AudioAzimuthNet`: binaural 2×M at 16 kHz → SLfM's [L mag, L phase, R mag, R phase] STFT (n_fft 512, window
  400, hop 160; `models.audio_encoder.BinauralEncoder`, shared with the NVAS U-Net) → ResNet-18 → embed_dim →
  MLP → θ.
- `VisualRotationNet`: both images → a shared ResNet-18 to layer3 (stride 16) → cosine correlation volume between
  the two maps, softmaxed over the target view's positions, plus its soft-argmax displacement field (an addition
  to SLfM) → 6 convolutions → feature_dim → MLP → φ.
- `CrossViewBinauralizer`: the pretext (stage `binauralize`): `NvasUNet` predicts view t's L − R STFT from its
  L + R through a complex mask, conditioned on view s's binaural embedding and the visual feature of (s, t).
  Its `unet.binaural_encoder` and `visual` initialise `SlfmNet.audio.encoder` and `SlfmNet.visual`.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from av_pose.audio.stft import as_batch
from av_pose.errors import UserInputError
from av_pose.models.audio_encoder import BinauralEncoder
from av_pose.models.nvas import NvasUNet, nvas_inputs, nvas_loss, predicted_difference
from av_pose.models.resnet import ResNet18

SLFM_RATE = 16000
"""Sample rate (Hz) of the audio networks' input."""
IMAGE_MEAN, IMAGE_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DOA_ARRAY, DOA_BINS = 'binaural', 360
"""The array whose steering `AudioAzimuthNet.doa_spectrum` uses, and its spectrum's 1° sectors."""


def featurize_binaural(audio: np.ndarray | torch.Tensor, fs: int, device: torch.device | str = 'cpu'
                       ) -> torch.Tensor:
    """Two-channel audio 2×N or B×2×N at `fs` Hz (row 0 left) → float32 B×2×M at 16 kHz on `device`.

    The audio networks' only input path, for training and inference alike: non-finite samples become 0, other
    rates are resampled (polyphase, scipy) to `SLFM_RATE`. The networks compute the STFT features themselves.
    """
    batch = as_batch(audio, 'cpu' if int(fs) != SLFM_RATE else device)
    if batch.shape[1] != 2:
        raise UserInputError(f'SLfM needs 2-channel (left, right) audio, got {batch.shape[1]} channels')
    batch = torch.nan_to_num(batch, nan=0.0, posinf=0.0, neginf=0.0)
    if int(fs) != SLFM_RATE:
        from scipy.signal import resample_poly

        g = math.gcd(int(fs), SLFM_RATE)
        batch = torch.from_numpy(resample_poly(batch.numpy(), SLFM_RATE // g, int(fs) // g, axis=-1)
                                 .astype(np.float32))
    return batch.to(device)


class IpdBinauralEncoder(BinauralEncoder):
    """`BinauralEncoder` with the interaural phase difference added to its input (6 channels).

    Input [L mag, L phase, R mag, R phase, cos IPD, sin IPD], IPD = angle(L·conj(R)); the same arguments and
    state_dict keys (`resnet.*`) as `BinauralEncoder`.

    SLfM's 4 channels hold each ear's phase alone; the direction lies in their wrapped difference, which a small
    network trained for minutes on a CPU hardly learns to form (see `AudioAzimuthNet`).
    """

    def __init__(self, embed_dim: int = 1024, n_fft: int = 512, win_length: int = 400, hop_length: int = 160,
                 width: int = 64):
        super().__init__(embed_dim, n_fft, win_length, hop_length, width)
        self.resnet = ResNet18(in_channels=6, embed_dim=embed_dim, width=width)

    def features(self, binaural: torch.Tensor) -> torch.Tensor:
        """B×2×M → B×6×(n_fft/2)×T network input in [−1, 1]."""
        spec = self.stft(binaural)
        ipd = torch.angle(spec[:, 0] * spec[:, 1].conj())
        return torch.cat([super().features(binaural), torch.stack([torch.cos(ipd), torch.sin(ipd)], 1)], 1)


def binaural_encoder(embed_dim: int, n_fft: int, win_length: int, hop_length: int, width: int,
                     ipd: bool) -> BinauralEncoder:
    """SLfM's 4-channel `BinauralEncoder`, or with `ipd` the 6-channel `IpdBinauralEncoder`."""
    return (IpdBinauralEncoder if ipd else BinauralEncoder)(embed_dim, n_fft, win_length, hop_length, width)


class AudioAzimuthNet(nn.Module):
    """Binaural B×2×M (16 kHz) → sound azimuth θ (B,) radians in (−π, π), left positive.

    Args:
        embed_dim: the encoder's output size (512 in SLfM).
        hidden: the MLP's hidden size (256 in SLfM).
        width: the ResNet-18's first-layer channels (64 = ResNet-18; 16 for CPU configs).
        n_fft, win_length, hop_length: the STFT, samples at 16 kHz.
        ipd: add cos/sin of the interaural phase difference to SLfM's 4 input channels (`IpdBinauralEncoder`).
        doa: also hear the window's NormMUSIC spectrum (`doa_spectrum`), projected to `doa_dim` and joined to the
            encoder's embedding before the MLP (beyond SLfM; the AV pose model's spatial audio encoder has both).
        doa_onset: that spectrum with onset emphasis (`audio.doa.onset.OnsetEmphasisDoa`: plus the spectrum of the
            8 ms frames where the direct sound leads the echoes).
    """

    def __init__(self, embed_dim: int = 512, hidden: int = 256, width: int = 64, n_fft: int = 512,
                 win_length: int = 400, hop_length: int = 160, ipd: bool = False, doa: bool = False,
                 doa_dim: int = 64, doa_onset: bool = False):
        super().__init__()
        self.doa_onset = bool(doa_onset)
        self.encoder = binaural_encoder(embed_dim, n_fft, win_length, hop_length, width, ipd)
        self.doa = nn.Sequential(nn.Linear(DOA_BINS, doa_dim), nn.ReLU()) if doa else None
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(embed_dim + (doa_dim if doa else 0), hidden), nn.ReLU(),
                                  nn.Linear(hidden, 1))
        self._doa_estimator = None

    @torch.no_grad()
    def doa_spectrum(self, binaural: torch.Tensor) -> torch.Tensor:
        """B×2×M (16 kHz) → B×360 NormMUSIC spectrum, in [0, 1] per window, on the input's device.

        Steered as the `binaural` preset (its spherical head) whatever the 2-channel array; 1° sectors
        counter-clockwise from the array's +x.
        """
        from av_pose.audio.arrays import load_array
        from av_pose.audio.doa import make_estimator

        estimator = self._doa_estimator
        if estimator is None or estimator.device != binaural.device:
            estimator = self._doa_estimator = make_estimator('normmusic', load_array(DOA_ARRAY), SLFM_RATE,
                                                             onset_emphasis=self.doa_onset, device=binaural.device)
        return estimator.sector_spectrum(binaural.float())

    def forward(self, binaural: torch.Tensor) -> torch.Tensor:
        """B×2×M → θ (B,) radians."""
        embedding = self.encoder(binaural)
        if self.doa is not None:
            embedding = torch.cat([embedding, self.doa(self.doa_spectrum(binaural))], 1)
        return torch.tanh(self.head(embedding)[:, 0]) * math.pi


class VisualRotationNet(nn.Module):
    """Images of views s and t (B×3×H×W in [0, 1]) → camera yaw φ from s to t (B,) radians in (−π/2, π/2).

    Args:
        image_size: (W, H) the images are resized to; the correlation volume has (H/16)·(W/16) channels.
        width: the ResNet-18's first-layer channels.
        feature_dim: size of the pooled correlation feature (the binauralisation U-Net's visual condition).
        head_channels: channels of the 6-layer convolutional head.
    """

    def __init__(self, image_size: tuple[int, int] = (128, 96), width: int = 64, feature_dim: int = 512,
                 head_channels: int = 128):
        super().__init__()
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.grid = (math.ceil(self.image_size[1] / 16), math.ceil(self.image_size[0] / 16))
        self.encoder = ResNet18(3, output='layer3', width=width)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(10.0)))
        cells = self.grid[0] * self.grid[1]
        layers, channels = [], cells + 3
        for index in range(6):
            layers += [nn.Conv2d(channels, head_channels, 3, padding=1, stride=2 if index == 3 else 1),
                       nn.BatchNorm2d(head_channels), nn.ReLU()]
            channels = head_channels
        self.head = nn.Sequential(*layers)
        self.feature = nn.Linear(head_channels, feature_dim)
        self.angle = nn.Sequential(nn.ReLU(), nn.Linear(feature_dim, feature_dim // 2), nn.ReLU(),
                                   nn.Linear(feature_dim // 2, 1))
        self.feature_dim = int(feature_dim)
        height, width_cells = self.grid
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width_cells), indexing='ij')
        self.register_buffer('coords', torch.stack([xs.flatten(), ys.flatten()]), persistent=False)  # 2×cells
        self.register_buffer('mean', torch.tensor(IMAGE_MEAN)[:, None, None], persistent=False)
        self.register_buffer('std', torch.tensor(IMAGE_STD)[:, None, None], persistent=False)

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        width, height = self.image_size
        if images.shape[-2:] != (height, width):
            images = functional.interpolate(images, size=(height, width), mode='bilinear', align_corners=False)
        return functional.normalize(self.encoder((images - self.mean) / self.std), dim=1)

    def features(self, image_s: torch.Tensor, image_t: torch.Tensor) -> torch.Tensor:
        """B×feature_dim correlation feature of the pair (s, t)."""
        f_s, f_t = self._encode(image_s), self._encode(image_t)
        batch, _, height, width = f_s.shape
        # volume[b, j, y, x]: similarity of view-s cell (y, x) with view-t cell j, softmaxed over j
        volume = torch.einsum('bcj,bcyx->bjyx', f_t.flatten(2), f_s)
        volume = torch.softmax(volume * self.log_temperature.exp(), dim=1)
        displacement = torch.einsum('cj,bjyx->bcyx', self.coords, volume) - self.coords.view(1, 2, height, width)
        peak = volume.amax(1, keepdim=True)
        pooled = self.head(torch.cat([volume, displacement, peak], 1)).mean(dim=(2, 3))
        return self.feature(pooled)

    def forward(self, image_s: torch.Tensor, image_t: torch.Tensor) -> torch.Tensor:
        """φ (B,) radians: the yaw of view t in view s's frame, counter-clockwise positive."""
        return torch.tanh(self.angle(self.features(image_s, image_t))[:, 0]) * (math.pi / 2)


class SlfmNet(nn.Module):
    """The two SLfM heads: `audio` (θ from binaural audio) and `visual` (φ from an image pair).

    Args:
        audio: `AudioAzimuthNet` keywords (embed_dim, hidden, width, ...).
        visual: `VisualRotationNet` keywords (image_size, width, feature_dim, head_channels), or None for an
            audio-only network (the supervised upper bound).
    """

    def __init__(self, audio: Mapping | None = None, visual: Mapping | None = None):
        super().__init__()
        self.config = {'audio': dict(audio or {}), 'visual': None if visual is None else dict(visual)}
        self.audio = AudioAzimuthNet(**self.config['audio'])
        self.visual = VisualRotationNet(**self.config['visual']) if visual is not None else None

    def rotation(self, image_s: torch.Tensor, image_t: torch.Tensor) -> torch.Tensor:
        """φ from view s to view t, radians (B,): the mean of `visual`'s φ(s→t) and −φ(t→s).

        The symmetry loss trains the two to agree; averaging them (both orders in one batch, twice the visual
        network's work) halves what they do not share. On the held-out ShoeboxAV test split the shipped
        slfm-tiny's rotation MAE went 6.34° → 5.42° (median 5.48° → 4.19°; docs/results.md, SLfM).
        """
        count = len(image_s)
        phis = self.visual(torch.cat([image_s, image_t]), torch.cat([image_t, image_s]))
        return 0.5 * (phis[:count] - phis[count:])


class CrossViewBinauralizer(nn.Module):
    """Pretext network: view t's L − R from its L + R, given view s's binaural audio and both images.

    Args:
        audio: `AudioAzimuthNet` keywords; embed_dim, width and the STFT size the U-Net's binaural encoder.
        visual: `VisualRotationNet` keywords.
        unet: `NvasUNet` keywords (base_channels, depth, mask_scale).
    """

    def __init__(self, audio: Mapping | None = None, visual: Mapping | None = None, unet: Mapping | None = None):
        super().__init__()
        self.config = {'audio': dict(audio or {}), 'visual': dict(visual or {}), 'unet': dict(unet or {})}
        audio = self.config['audio']
        self.visual = VisualRotationNet(**self.config['visual'])
        stft = {'n_fft': audio.get('n_fft', 512), 'win_length': audio.get('win_length', 400),
                'hop_length': audio.get('hop_length', 160)}
        self.unet = NvasUNet(binaural_dim=audio.get('embed_dim', 512), resnet_width=audio.get('width', 64),
                             condition_dim=self.visual.feature_dim, **stft, **self.config['unet'])
        self.unet.binaural_encoder = binaural_encoder(audio.get('embed_dim', 512), **stft,
                                                      width=audio.get('width', 64), ipd=audio.get('ipd', False))

    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Complex L1 (`nvas_loss`) of view t's predicted L − R STFT; batch: audio_s/t B×2×M, image_s/t."""
        source, mono_spec, difference = nvas_inputs(self.unet, batch['audio_s'], batch['audio_t'])
        condition = self.visual.features(batch['image_s'], batch['image_t'])
        mask = self.unet(mono_spec, source, condition)
        return nvas_loss(predicted_difference(mask, mono_spec), difference)

    def encoder_state(self) -> dict[str, torch.Tensor]:
        """State dict for `SlfmNet`: `audio.encoder.*` from the U-Net's binaural encoder, `visual.*`."""
        state = {f'audio.encoder.{k}': v for k, v in self.unet.binaural_encoder.state_dict().items()}
        state.update({f'visual.{k}': v for k, v in self.visual.state_dict().items()})
        return state


@torch.no_grad()
def predict_batches(model: SlfmNet, batches, device: torch.device | str) -> dict[str, np.ndarray]:
    """Predictions over batches of SLfM items: θ_s, θ_t and, with a visual net, φ (`SlfmNet.rotation`), degrees.

    Label keys present in the batches (`data.slfm_pairs.LABEL_KEYS`) are passed through, concatenated.
    """
    was_training = model.training
    model.eval()
    out: dict[str, list] = {}
    for batch in batches:
        audio_s, audio_t = batch['audio_s'].to(device), batch['audio_t'].to(device)
        thetas = model.audio(torch.cat([audio_s, audio_t])).float().cpu()
        out.setdefault('theta_s_deg', []).append(torch.rad2deg(thetas[:len(audio_s)]))
        out.setdefault('theta_t_deg', []).append(torch.rad2deg(thetas[len(audio_s):]))
        if model.visual is not None:
            phi = model.rotation(batch['image_s'].to(device), batch['image_t'].to(device)).float().cpu()
            out.setdefault('phi_deg', []).append(torch.rad2deg(phi))
        for key in ('azimuth_s_deg', 'azimuth_t_deg', 'rotation_deg'):
            if key in batch:
                out.setdefault(key, []).append(batch[key].float().cpu())
    model.train(was_training)
    return {key: torch.cat(values).double().numpy() for key, values in out.items()}


SLFM_KINDS = ('slfm',)
"""Checkpoint kinds that hold an SlfmNet (slfm and slfm-supervised runs both save 'slfm')."""


def load_slfm_model(path: str | Path, device: str | torch.device = 'cpu') -> SlfmNet:
    """The `SlfmNet` of a `slfm` / `slfm-supervised` training checkpoint, loaded strictly, in eval mode."""
    try:
        payload = torch.load(path, map_location='cpu', weights_only=True)
    except (OSError, RuntimeError) as err:
        raise UserInputError(f'{path}: cannot read the checkpoint ({err})') from None
    build = payload.get('build', {}) if isinstance(payload, dict) else {}
    if build.get('kind') not in SLFM_KINDS:
        raise UserInputError(f'{path}: not an SLfM azimuth checkpoint (kind {build.get("kind")!r})')
    model = SlfmNet(audio=build['audio'], visual=build['visual'])
    model.load_state_dict(payload['model'])
    return model.to(device).eval()


def load_slfm_azimuth(path: str | Path, device: str | torch.device = 'cpu'
                      ) -> Callable[[np.ndarray | torch.Tensor, int], np.ndarray]:
    """Batched predictor `predict(audio B×2×N or 2×N, fs) -> azimuth_deg (B,)` of a checkpoint.

    Azimuth in degrees (−180, 180], REP-103 array frame (counter-clockwise from +x, left positive); channel 0
    is the left microphone. Runs on `device` ('cpu', 'cuda', ...), without gradients.
    """
    from av_pose.audio.doa import resolve_device

    device = resolve_device(device)
    model = load_slfm_model(path, device)

    @torch.no_grad()
    def predict(audio: np.ndarray | torch.Tensor, fs: int) -> np.ndarray:
        theta = model.audio(featurize_binaural(audio, fs, device))
        return torch.rad2deg(theta).double().cpu().numpy()

    return predict
