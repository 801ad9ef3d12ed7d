"""The Reloc3r relative-pose network (Dong et al., CVPR 2025) with the official parameter names and shapes.

`build_reloc3r(**kwargs)` takes the keywords of the official `Reloc3rRelpose.__init__` (same defaults:
Reloc3r-512) or a named config; `load_reloc3r(path, ...)` loads weights strictly from a local file or
Hugging Face snapshot folder. The forward equals the official one (fp32 poses within 1e-4 on equal weights).

Poses: `pose2` = T_1_2 maps camera-2 points into camera 1 (the "2→1" pose Reloc3r's inference returns);
`pose1` = T_2_1 the converse. Camera frames are OpenCV optical; translations have an arbitrary scale.
Images are B×3×H×W, RGB normalised to [-1, 1] (mean 0.5, std 0.5), stored landscape (W ≥ H) with sides that
are multiples of the patch size; `true_shape` (B×2, (height, width)) marks portrait images stored transposed.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch
from torch import nn

from av_pose.errors import UserInputError
from av_pose.models.blocks import DecoderBlock, EncoderBlock, PatchEmbed, layer_norm
from av_pose.models.checkpoints import load_strict, read_checkpoint, state_dict_mismatch
from av_pose.models.pose_head import PoseHead
from av_pose.models.rope import RoPE2D

OFFICIAL_DEFAULTS = dict(img_size=512, patch_size=16, enc_embed_dim=1024, enc_depth=24, enc_num_heads=16,
                         dec_embed_dim=768, dec_depth=12, dec_num_heads=12, mlp_ratio=4, norm_im2_in_dec=True,
                         pos_embed='RoPE100')
"""The official `Reloc3rRelpose.__init__` keywords and defaults (its `norm_layer` is fixed here: LayerNorm eps 1e-6)."""

CONFIGS: dict[str, dict] = {
    'reloc3r-512': {},
    'reloc3r-224': {'img_size': 224},
    # CPU-trainable sizes from the same code (see the README for their measured speed).
    'small': dict(img_size=128, patch_size=16, enc_embed_dim=256, enc_depth=6, enc_num_heads=4,
                  dec_embed_dim=192, dec_depth=4, dec_num_heads=3, head_width=256),
    'tiny': dict(img_size=64, patch_size=8, enc_embed_dim=128, enc_depth=4, enc_num_heads=4,
                 dec_embed_dim=96, dec_depth=2, dec_num_heads=2),
}
"""Named configs: keyword overrides of OFFICIAL_DEFAULTS. reloc3r-512/-224 share one weight layout."""

DEFAULT_CONFIG = 'reloc3r-512'


class Reloc3r(nn.Module):
    """Reloc3r: a shared RoPE ViT encoder, a shared cross-view decoder and a pose head per view.

    Args: the official keywords (see OFFICIAL_DEFAULTS; `img_size` is only stored: it sets the inference
    resolution, not any weight shape), plus two of ours: `head_width`, the pose head's hidden width (None:
    the official 4·patch_size²), and `amp_dtype`: None, torch.float16 or torch.bfloat16, the autocast dtype of
    the encoder and decoder on CUDA (the head always runs in float32; no effect on CPU).

    `encode`, `decode` and `pose_head` are public so the audio-visual model can reuse them.
    """

    def __init__(self, img_size: int = 512, patch_size: int = 16, enc_embed_dim: int = 1024, enc_depth: int = 24,
                 enc_num_heads: int = 16, dec_embed_dim: int = 768, dec_depth: int = 12, dec_num_heads: int = 12,
                 mlp_ratio: float = 4, norm_im2_in_dec: bool = True, pos_embed: str = 'RoPE100',
                 head_width: int | None = None, amp_dtype: torch.dtype | None = None):
        super().__init__()
        self.config = dict(img_size=img_size, patch_size=patch_size, enc_embed_dim=enc_embed_dim,
                           enc_depth=enc_depth, enc_num_heads=enc_num_heads, dec_embed_dim=dec_embed_dim,
                           dec_depth=dec_depth, dec_num_heads=dec_num_heads, mlp_ratio=mlp_ratio,
                           norm_im2_in_dec=norm_im2_in_dec, pos_embed=pos_embed, head_width=head_width)
        self.img_size = img_size
        self.patch_size = patch_size
        self.amp_dtype = amp_dtype
        self.patch_embed = PatchEmbed(patch_size, 3, enc_embed_dim)
        self.rope = RoPE2D(base=_rope_base(pos_embed))
        self.enc_blocks = nn.ModuleList(EncoderBlock(enc_embed_dim, enc_num_heads, mlp_ratio, self.rope)
                                        for _ in range(enc_depth))
        self.enc_norm = layer_norm(enc_embed_dim)
        self.decoder_embed = nn.Linear(enc_embed_dim, dec_embed_dim)
        self.dec_blocks = nn.ModuleList(DecoderBlock(dec_embed_dim, dec_num_heads, mlp_ratio, self.rope,
                                                     norm_memory=norm_im2_in_dec) for _ in range(dec_depth))
        self.dec_norm = layer_norm(dec_embed_dim)
        self.pose_head = PoseHead(dec_embed_dim, width=head_width or 4 * patch_size ** 2)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Upstream's initialisation: Xavier-uniform linears and patch projection, zero biases, unit norms."""
        nn.init.xavier_uniform_(self.patch_embed.proj.weight.data.view(self.patch_embed.embed_dim, -1))
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None or device.type != 'cuda':
            return contextlib.nullcontext()
        return torch.autocast('cuda', dtype=self.amp_dtype)

    def _encode_images(self, images: torch.Tensor, true_shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, positions = self.patch_embed(images, true_shape)
        for block in self.enc_blocks:
            tokens = block(tokens, positions)
        return self.enc_norm(tokens), positions

    def encode(self, img1: torch.Tensor, img2: torch.Tensor, true_shape1: torch.Tensor | None = None,
               true_shape2: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Both views through the shared encoder (one batch when their sizes agree).

        Returns (feat1, feat2, pos1, pos2): B×N×enc_dim tokens after `enc_norm`, B×N×2 (row, col) positions.
        """
        true_shape1 = _true_shape(img1, true_shape1)
        true_shape2 = _true_shape(img2, true_shape2)
        if img1.shape[-2:] == img2.shape[-2:]:
            tokens, positions = self._encode_images(torch.cat((img1, img2)), torch.cat((true_shape1, true_shape2)))
            feat1, feat2 = tokens.chunk(2)
            pos1, pos2 = positions.chunk(2)
            return feat1, feat2, pos1, pos2
        feat1, pos1 = self._encode_images(img1, true_shape1)
        feat2, pos2 = self._encode_images(img2, true_shape2)
        return feat1, feat2, pos1, pos2

    def decode(self, feat1: torch.Tensor, pos1: torch.Tensor, feat2: torch.Tensor,
               pos2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-view decoding: each layer updates both views from the previous layer's pair.

        Returns (dec1, dec2): B×N×dec_dim tokens of the last layer after `dec_norm`.
        """
        x1, x2 = self.decoder_embed(feat1), self.decoder_embed(feat2)
        for block in self.dec_blocks:
            x1, x2 = block(x1, x2, pos1, pos2), block(x2, x1, pos2, pos1)
        return self.dec_norm(x1), self.dec_norm(x2)

    def decoder_tokens(self, img1: torch.Tensor, img2: torch.Tensor, true_shape1: torch.Tensor | None = None,
                       true_shape2: torch.Tensor | None = None,
                       encoder_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode and decode under the model's autocast setting; returns float32 (dec1, dec2) head inputs.

        `encoder_grad=False` runs the encoder without autograd (a frozen encoder: less memory, same values).
        """
        with self._autocast(img1.device):
            with torch.set_grad_enabled(encoder_grad and torch.is_grad_enabled()):
                feat1, feat2, pos1, pos2 = self.encode(img1, img2, true_shape1, true_shape2)
            dec1, dec2 = self.decode(feat1, pos1, feat2, pos2)
        return dec1.float(), dec2.float()

    def forward(self, view1: dict, view2: dict) -> tuple[dict, dict]:
        """Official call: views {'img': B×3×H×W, 'true_shape': B×2 (optional)} → ({'pose': T_2_1}, {'pose': T_1_2}).

        pose1 (B×4×4) maps camera-1 points into camera 2; pose2 maps camera-2 points into camera 1.
        """
        dec1, dec2 = self.decoder_tokens(view1['img'], view2['img'], view1.get('true_shape'),
                                         view2.get('true_shape'))
        with torch.autocast(dec1.device.type, enabled=False):
            return {'pose': self.pose_head(dec1)}, {'pose': self.pose_head(dec2)}


def _true_shape(images: torch.Tensor, true_shape: torch.Tensor | None) -> torch.Tensor:
    if true_shape is None:
        return torch.tensor(images.shape[-2:], device=images.device).expand(images.shape[0], 2)
    return torch.as_tensor(true_shape, device=images.device)


def _rope_base(pos_embed: str) -> float:
    try:
        if pos_embed.startswith('RoPE'):
            return float(pos_embed[len('RoPE'):])
    except ValueError:
        pass
    raise UserInputError(f'pos_embed {pos_embed!r} is not supported (only RoPE<base>, e.g. RoPE100)')


def reloc3r_keywords(config: str | None = None, **kwargs) -> dict:
    """The full constructor keywords of a named config with `kwargs` on top (UserInputError if unknown)."""
    name = config or DEFAULT_CONFIG
    if name not in CONFIGS:
        raise UserInputError(f'unknown Reloc3r config {name!r} (known: {", ".join(CONFIGS)})')
    _check_keywords(kwargs)
    return {**OFFICIAL_DEFAULTS, **CONFIGS[name], **kwargs}


def _check_keywords(keywords: dict, where: str = '') -> None:
    allowed = set(OFFICIAL_DEFAULTS) | {'head_width', 'amp_dtype'}
    unknown = sorted(set(keywords) - allowed)
    if unknown:
        raise UserInputError(f'{where}unknown Reloc3r keyword(s) {", ".join(unknown)} (accepted: '
                             f'{", ".join(sorted(allowed))})')


def build_reloc3r(config: str | None = None, **kwargs) -> Reloc3r:
    """A freshly initialised Reloc3r: a named config (default 'reloc3r-512') with official keywords on top."""
    return Reloc3r(**reloc3r_keywords(config, **kwargs))


def load_reloc3r(path: str | Path, config: str | None = None, device: str | torch.device = 'cpu',
                 **kwargs) -> Reloc3r:
    """Reloc3r with weights loaded strictly from a local file or snapshot folder, in eval mode on `device`.

    Flat state dicts, {'model': ...} checkpoints and .safetensors carry no config: `config` and `kwargs` give
    it (default reloc3r-512). A snapshot folder's config.json gives the keywords; `kwargs` override them.

    Raises:
        UserInputError: unreadable path, unknown keywords, or keys/shapes that do not match (one line).
    """
    checkpoint = read_checkpoint(path)
    _check_keywords(checkpoint.config, where=f'{Path(checkpoint.source) / "config.json"}: ')
    keywords = reloc3r_keywords(config, **{**checkpoint.config, **kwargs})
    with torch.device('meta'):  # shapes only: a mismatch is found before any memory is allocated
        model = Reloc3r(**keywords)
    description = f'Reloc3r ({config or DEFAULT_CONFIG}{" + config.json" if checkpoint.config else ""})'
    problem = state_dict_mismatch(model, checkpoint.state_dict)
    if problem is not None:
        raise UserInputError(f'{checkpoint.source} does not fit the {description} model: {problem}')
    model = model.to_empty(device=torch.device(device))
    load_strict(model, checkpoint.state_dict, source=checkpoint.source, description=description)
    return model.eval()


def save_reloc3r_snapshot(model: Reloc3r, folder: str | Path) -> Path:
    """Write `config.json` (constructor keywords) and `model.safetensors` into `folder`; returns the folder.

    This is the layout `load_reloc3r(folder)` reads (and Hugging Face snapshots use).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    keywords = {name: value for name, value in model.config.items() if value is not None}  # official keys only
    (folder / 'config.json').write_text(json.dumps(keywords, indent=2, sort_keys=True) + '\n')
    state_dict = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state_dict, str(folder / 'model.safetensors'))
    return folder
