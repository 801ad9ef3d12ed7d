"""Relative-pose networks over two views: vision-only Reloc3r, the audio-visual model and the audio baselines.

One class, `RelativePoseNet`, builds every model of the paper's Table 1 from two optional branches:

- vision: a Reloc3r (`models.reloc3r`) on RGB (`image_source='rgb'`) or, for NA-CP, on spectrogram images of
  each view's binaural audio (`image_source='spectrogram'`);
- audio: `'sae'`, the spatial audio encoder (DOA spectrum ‖ binaural embedding → Linear; `models.audio_encoder`),
  or `'na-cp'`, a second Reloc3r on spectrogram images whose decoder tokens are mean-pooled per view
  (the paper's Reloc3r-AV).

Late fusion (Adebi et al. 2025): the visual head-input tokens go through a Linear (dec → dec), the audio
embedding is concatenated to every token, and the pose head's first projection is widened to take both.
The paper is silent on which audio a direction's branch sees; here the branch that predicts view b's pose
relative to view a takes [f_A(b) ‖ f_A(a)] → Linear → dec (its own view first), and symmetrically.
`init_from_vision` sets the visual Linear to identity and the audio columns of the widened projection to zero,
so that at initialisation the output equals the vision-only model's exactly.

Beyond the paper (its stated future work), an optional `AudioGate` scales the audio embedding by a scalar in
[0, 1] per pair computed from how much the audio changed between the two windows (spectral content and the
best rotation-compensated DOA agreement): when a source starts or stops while the camera is still, the DOA
spectra move for a reason that is not camera motion.

Also beyond the paper, `doa_correlation=True` adds the circular cross-correlation of the two views' DOA spectra
(`circular_correlation`, 360 values indexed by shift) to each branch's audio pair input: the camera's yaw is a
shift of the spectrum, which a correlation exposes directly and an MLP on the raw spectra must discover.

Batches are dicts: `image_a`, `image_b` (B×3×h×w in [-1, 1], prepared by `reloc3r_inference.prepare_images`),
`doa_a`, `doa_b` (B×360, camera-heading frame), `binaural_a`, `binaural_b` (B×2×M), `audio_ok` (B bool; rows
without usable audio get a zero audio embedding, i.e. the vision-only path of the fused head).
`forward` returns (T_a_b, T_b_a), B×4×4 float32: T_a_b maps camera-b points into camera a (Reloc3r's 2→1 with
a = view 1); translations have arbitrary scale.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from av_pose.models.pose_head import PoseHead
from av_pose.models.reloc3r import Reloc3r, reloc3r_keywords

DOA_BINS = 360
AUDIO_SOURCES = ('sae', 'na-cp')
IMAGE_SOURCES = ('rgb', 'spectrogram')


def circular_correlation(doa_x: torch.Tensor, doa_y: torch.Tensor) -> torch.Tensor:
    """B×360 circular cross-correlation of two B×360 DOA spectra (each zero-mean, unit-norm first).

    Entry k = Σ_n x̂[n]·ŷ[n + k] ∈ [−1, 1]: it peaks at the shift k (degrees) that carries x's pattern onto y's,
    i.e. at −yaw when the camera turned by `yaw` between x and y and the sources stayed put.
    """
    x = functional.normalize(doa_x.float() - doa_x.float().mean(1, keepdim=True), dim=1)
    y = functional.normalize(doa_y.float() - doa_y.float().mean(1, keepdim=True), dim=1)
    return torch.fft.irfft(torch.fft.rfft(x).conj() * torch.fft.rfft(y), n=x.shape[1])


def spectrogram_size(network: Reloc3r) -> tuple[int, int]:
    """(h, w) of the spectrogram images a Reloc3r takes: 4:3 landscape at its img_size, patch multiples."""
    patch = network.patch_size
    return network.img_size * 3 // 4 // patch * patch, network.img_size // patch * patch


def spectrogram_image(binaural: torch.Tensor, size: tuple[int, int], n_fft: int = 512,
                      hop: int = 160) -> torch.Tensor:
    """Binaural audio B×2×M → B×3×h×w "image" in [-1, 1] for NA-CP: [left, right, mean] log-magnitude.

    Log magnitude in dB is mapped from [−100, 20] to [−1, 1] (clipped), then resized bilinearly to `size` (h, w):
    frequency runs down the rows (low at the top), time along the columns.
    """
    batch, channels, samples = binaural.shape
    window = torch.hann_window(n_fft, device=binaural.device)
    spec = torch.stft(binaural.reshape(batch * channels, samples).float(), n_fft, hop, window=window,
                      return_complex=True).abs()
    decibels = 20.0 * torch.log10(spec + 1e-5)
    decibels = decibels.reshape(batch, channels, *decibels.shape[-2:])
    planes = torch.cat([decibels, decibels.mean(dim=1, keepdim=True)], dim=1)
    image = ((planes + 100.0) / 60.0 - 1.0).clamp(-1.0, 1.0)
    return functional.interpolate(image, size=size, mode='bilinear', align_corners=False)


class AudioGate(nn.Module):
    """Per-pair scalar in [0, 1] from how much the audio changed between two windows (module docstring).

    Inputs per pair: 1 − cosine similarity of the two windows' log band energies (mono), 1 − the best circular
    correlation of the two DOA spectra over all shifts (rotation-invariant), |log energy ratio|. A small MLP
    maps them to a logit; it starts near 1 (bias 3 → 0.95) so an untrained gate barely changes the model.
    """

    def __init__(self, hidden: int = 16, bands: int = 32):
        super().__init__()
        self.bands = bands
        self.mlp = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.constant_(self.mlp[2].bias, 3.0)

    def change_features(self, doa_a: torch.Tensor, doa_b: torch.Tensor, binaural_a: torch.Tensor,
                        binaural_b: torch.Tensor) -> torch.Tensor:
        """B×3 change features (content change, DOA disagreement after the best shift, energy change)."""
        def band_energies(binaural: torch.Tensor) -> torch.Tensor:
            power = torch.fft.rfft(binaural.float().mean(dim=1)).abs().square()
            usable = power.shape[-1] // self.bands * self.bands
            return power[:, :usable].reshape(power.shape[0], self.bands, -1).mean(-1) + 1e-10

        log_a, log_b = band_energies(binaural_a).log(), band_energies(binaural_b).log()
        content = 1.0 - functional.cosine_similarity(log_a - log_a.mean(1, keepdim=True),
                                                     log_b - log_b.mean(1, keepdim=True), dim=1)
        disagreement = 1.0 - circular_correlation(doa_a, doa_b).max(dim=1).values
        energy = (log_a.exp().sum(1).log() - log_b.exp().sum(1).log()).abs()
        return torch.stack([content, disagreement, energy], dim=1)

    def forward(self, doa_a: torch.Tensor, doa_b: torch.Tensor, binaural_a: torch.Tensor,
                binaural_b: torch.Tensor) -> torch.Tensor:
        """B×1 gate in [0, 1]."""
        features = self.change_features(doa_a, doa_b, binaural_a, binaural_b)
        return torch.sigmoid(self.mlp(torch.nan_to_num(features)))


class NaCpAudioEncoder(nn.Module):
    """Reloc3r-AV's audio branch: NA-CP's Reloc3r on both views' spectrogram images, tokens mean-pooled → out_dim."""

    def __init__(self, reloc3r: dict, out_dim: int):
        super().__init__()
        self.network = Reloc3r(**reloc3r)
        self.network.pose_head = None  # only its decoder tokens are used
        self.project = nn.Linear(self.network.config['dec_embed_dim'], out_dim)

    def forward(self, binaural_a: torch.Tensor, binaural_b: torch.Tensor,
                size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B×out_dim for view a, B×out_dim for view b)."""
        dec_a, dec_b = self.network.decoder_tokens(spectrogram_image(binaural_a, size),
                                                   spectrogram_image(binaural_b, size))
        return self.project(dec_a.mean(1)), self.project(dec_b.mean(1))


class RelativePoseNet(nn.Module):
    """Two views → both relative poses; every Table 1 model is one configuration (module docstring).

    Args:
        vision: Reloc3r keywords (a full set, e.g. from `reloc3r_keywords('tiny')`), or None (audio-only).
        audio: keywords of the audio branch, or None (vision-only). For 'sae': `SpatialAudioEncoder` keywords
            except `out_dim` (e.g. `use_doa`, `use_binaural`, `binaural_dim`); for 'na-cp': {'reloc3r': {...}}.
        audio_source: 'sae' or 'na-cp'.
        image_source: 'rgb' or 'spectrogram' (NA-CP: the vision branch looks at spectrograms).
        gate: add the `AudioGate`.
        doa_correlation: feed the DOA spectra's circular cross-correlation to the audio pair Linear ('sae' only).
        freeze_encoder: no gradient through the vision encoder (the paper's default).
        embed_dim, head_width: audio embedding and head widths when there is no vision branch.
    """

    def __init__(self, vision: dict | None = None, audio: dict | None = None, audio_source: str = 'sae',
                 image_source: str = 'rgb', gate: bool = False, freeze_encoder: bool = True,
                 embed_dim: int = 256, head_width: int = 256, doa_correlation: bool = False):
        super().__init__()
        if vision is None and audio is None:
            raise ValueError('a RelativePoseNet needs a vision branch, an audio branch or both')
        if audio_source not in AUDIO_SOURCES or image_source not in IMAGE_SOURCES:
            raise ValueError(f'audio_source must be one of {AUDIO_SOURCES}, image_source one of {IMAGE_SOURCES}')
        self.config = dict(vision=vision, audio=audio, audio_source=audio_source, image_source=image_source,
                           gate=gate, freeze_encoder=freeze_encoder, embed_dim=embed_dim, head_width=head_width,
                           doa_correlation=doa_correlation)
        self.doa_correlation = bool(doa_correlation and audio is not None and audio_source == 'sae')
        self.freeze_encoder = freeze_encoder
        self.image_source = image_source
        self.vision = Reloc3r(**vision) if vision is not None else None
        dim = self.vision.config['dec_embed_dim'] if self.vision is not None else embed_dim
        self.audio_encoder: nn.Module | None = None
        self.visual_proj = self.audio_pair = self.gate = None
        if audio is not None:
            if audio_source == 'sae':
                from av_pose.models.audio_encoder import SpatialAudioEncoder

                self.audio_encoder = SpatialAudioEncoder(out_dim=dim, **audio)
            else:
                self.audio_encoder = NaCpAudioEncoder(audio['reloc3r'], dim)
            self.audio_pair = nn.Linear(2 * dim + DOA_BINS * self.doa_correlation, dim)
            self.gate = AudioGate() if gate else None
        if self.vision is not None:
            width = self.vision.pose_head.proj.out_features
            if audio is not None:
                self.visual_proj = nn.Linear(dim, dim)
                self.vision.pose_head = PoseHead(2 * dim, width)
                self._zero_audio_columns()
            self.head = self.vision.pose_head
        else:
            self.head = PoseHead(dim, head_width)
        if self.vision is not None and freeze_encoder:
            for module in (self.vision.patch_embed, self.vision.enc_blocks, self.vision.enc_norm):
                module.requires_grad_(False)

    @property
    def uses_vision(self) -> bool:
        """True when the model looks at RGB images."""
        return self.vision is not None and self.image_source == 'rgb'

    @property
    def uses_audio(self) -> bool:
        """True when the model listens (audio branch or spectrogram images)."""
        return self.audio_encoder is not None or self.image_source == 'spectrogram'

    @property
    def img_size(self) -> int:
        """The vision branch's inference resolution (pixels of the long side)."""
        return self.vision.img_size if self.vision is not None else 0

    @property
    def patch_size(self) -> int:
        """The vision branch's patch size (pixels)."""
        return self.vision.patch_size if self.vision is not None else 1

    def _zero_audio_columns(self) -> None:
        dim = self.visual_proj.in_features
        with torch.no_grad():
            nn.init.eye_(self.visual_proj.weight)
            nn.init.zeros_(self.visual_proj.bias)
            self.vision.pose_head.proj.weight[:, dim:] = 0.0

    @torch.no_grad()
    def init_from_vision(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load a vision-only Reloc3r state dict (official names) into the vision branch, widening the head.

        Afterwards the visual Linear is the identity and the audio columns of the head's first projection are
        zero, so the output equals the vision-only model's exactly.
        """
        own = self.vision.state_dict()
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        if missing or unexpected:
            raise ValueError(f'vision weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}')
        for name, tensor in state_dict.items():
            target = own[name]
            if name == 'pose_head.proj.weight' and tensor.shape != target.shape:
                target.zero_()
                target[:, :tensor.shape[1]] = tensor
            else:
                target.copy_(tensor)
        if self.visual_proj is not None:
            self._zero_audio_columns()

    def _audio_embeddings(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config['audio_source'] == 'sae':
            emb_a = self.audio_encoder(batch['doa_a'], batch['binaural_a'])
            emb_b = self.audio_encoder(batch['doa_b'], batch['binaural_b'])
        else:
            emb_a, emb_b = self.audio_encoder(batch['binaural_a'], batch['binaural_b'],
                                              spectrogram_size(self.audio_encoder.network))
        # The embedding for the branch predicting view b's pose (relative to a) puts its own view first.
        own_first_b, own_first_a = [emb_b, emb_a], [emb_a, emb_b]
        if self.doa_correlation:
            own_first_b.append(circular_correlation(batch['doa_b'], batch['doa_a']))
            own_first_a.append(circular_correlation(batch['doa_a'], batch['doa_b']))
        for_b = self.audio_pair(torch.cat(own_first_b, dim=1))
        for_a = self.audio_pair(torch.cat(own_first_a, dim=1))
        scale = batch['audio_ok'].to(for_a.dtype).reshape(-1, 1)
        if self.gate is not None:
            scale = scale * self.gate(batch['doa_a'], batch['doa_b'], batch['binaural_a'], batch['binaural_b'])
        return for_a * scale, for_b * scale

    def _vision_tokens(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if self.image_source == 'rgb':
            img_a, img_b = batch['image_a'], batch['image_b']
        else:
            size = spectrogram_size(self.vision)
            img_a = spectrogram_image(batch['binaural_a'], size)
            img_b = spectrogram_image(batch['binaural_b'], size)
        return self.vision.decoder_tokens(img_a, img_b, batch.get('true_shape_a'), batch.get('true_shape_b'),
                                          encoder_grad=not self.freeze_encoder)

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(T_a_b, T_b_a), each B×4×4 float32 (module docstring)."""
        audio = self._audio_embeddings(batch) if self.audio_encoder is not None else None
        if self.vision is None:
            for_a, for_b = audio
            return self.head(for_b[:, None]), self.head(for_a[:, None])
        dec_a, dec_b = self._vision_tokens(batch)
        with torch.autocast(dec_a.device.type, enabled=False):
            if audio is None:
                return self.head(dec_b), self.head(dec_a)
            for_a, for_b = (a.float() for a in audio)
            tokens_a = torch.cat([self.visual_proj(dec_a), for_a[:, None].expand(-1, dec_a.shape[1], -1)], dim=2)
            tokens_b = torch.cat([self.visual_proj(dec_b), for_b[:, None].expand(-1, dec_b.shape[1], -1)], dim=2)
            return self.head(tokens_b), self.head(tokens_a)


class ChancePose(nn.Module):
    """The Chance baseline: always the mean ground-truth pose of a split, both directions.

    Rotation: the chordal mean; translation: the mean direction. `fit` sets both from N×4×4 ground-truth T_a_b.
    """

    def __init__(self):
        super().__init__()
        self.config: dict = {}
        self.register_buffer('mean_T_a_b', torch.eye(4))
        self.register_buffer('mean_T_b_a', torch.eye(4))

    @torch.no_grad()
    def fit(self, T_a_b: torch.Tensor) -> None:
        """Set the means from N×4×4 ground-truth poses T_a_b (T_b_a's from their inverses)."""
        for poses, buffer in ((T_a_b, self.mean_T_a_b), (torch.linalg.inv(T_a_b), self.mean_T_b_a)):
            left, _, right_h = torch.linalg.svd(poses[:, :3, :3].double().sum(0))
            fix = torch.diag(torch.tensor([1.0, 1.0, torch.det(left @ right_h).item()], dtype=torch.float64))
            buffer[:3, :3] = (left @ fix @ right_h).float()
            buffer[:3, 3] = functional.normalize(functional.normalize(poses[:, :3, 3], dim=1).mean(0), dim=0)

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(T_a_b, T_b_a) B×4×4: the stored means, whatever the input."""
        size = len(batch['audio_ok']) if 'audio_ok' in batch else len(next(iter(batch.values())))
        return self.mean_T_a_b.expand(size, 4, 4), self.mean_T_b_a.expand(size, 4, 4)


MODEL_KINDS: dict[str, str] = {
    'chance': 'the mean ground-truth pose of the validation split',
    'doa-cp': 'DOA-CP: an MLP on both views\' DOA spectra (audio only)',
    'na-cp': 'NA-CP: both views\' spectrograms in place of RGB in a Reloc3r-style network (audio only)',
    'vision': 'Reloc3r: vision only',
    'reloc3r-av': 'Reloc3r-AV: vision with late fusion of NA-CP audio features',
    'av-no-doa': 'ours without the DOA spectrum',
    'av-no-binaural': 'ours without the binaural embedding',
    'av': 'ours: Reloc3r with the spatial audio encoder fused late into the pose head',
    'av-gate': 'ours with the audio gate',
}
"""Every model `build_pose_model` makes, with one line each (the paper's Table 1 rows plus the gate)."""


def model_inputs(kind: str) -> tuple[bool, bool]:
    """(needs RGB images, needs audio features) for a model kind of MODEL_KINDS."""
    return kind not in ('chance', 'doa-cp', 'na-cp'), kind not in ('vision', 'chance')


def build_pose_model(kind: str, reloc3r: str = 'tiny', audio: dict | None = None, freeze_encoder: bool = True,
                     embed_dim: int = 256, head_width: int = 256, doa_correlation: bool = False,
                     reloc3r_overrides: dict | None = None) -> nn.Module:
    """A fresh model of `kind` (see MODEL_KINDS) with the Reloc3r config `reloc3r` for its vision parts.

    `audio` holds `SpatialAudioEncoder` keywords (e.g. `binaural_dim`) shared by the SAE-based kinds;
    `doa_correlation` applies to the kinds with a DOA spectrum (doa-cp, av, av-gate, av-no-binaural);
    `reloc3r_overrides` are Reloc3r keywords over the named config (e.g. {'img_size': 128}).
    """
    audio = dict(audio or {})
    vision = reloc3r_keywords(reloc3r, **(reloc3r_overrides or {}))
    if kind == 'chance':
        return ChancePose()
    if kind == 'vision':
        return RelativePoseNet(vision=vision, freeze_encoder=freeze_encoder)
    if kind == 'doa-cp':
        return RelativePoseNet(audio={**audio, 'use_binaural': False}, embed_dim=embed_dim, head_width=head_width,
                               doa_correlation=doa_correlation)
    if kind == 'na-cp':
        return RelativePoseNet(vision=vision, image_source='spectrogram', freeze_encoder=False)
    if kind == 'reloc3r-av':
        return RelativePoseNet(vision=vision, audio={'reloc3r': vision}, audio_source='na-cp',
                               freeze_encoder=freeze_encoder)
    variants = {'av': {}, 'av-gate': {}, 'av-no-doa': {'use_doa': False}, 'av-no-binaural': {'use_binaural': False}}
    if kind in variants:
        return RelativePoseNet(vision=vision, audio={**audio, **variants[kind]}, gate=kind == 'av-gate',
                               freeze_encoder=freeze_encoder, doa_correlation=doa_correlation and kind != 'av-no-doa')
    raise ValueError(f'unknown model kind {kind!r} (known: {", ".join(MODEL_KINDS)})')
