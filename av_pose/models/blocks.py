"""Transformer building blocks with 2-D RoPE: patch embedding, encoder and decoder blocks.

Each block takes its sizes as arguments; parameter names follow CroCo/Reloc3r so that their checkpoints load
strictly (`attn.qkv`, `attn.proj`, `cross_attn.projq/projk/projv/proj`, `mlp.fc1/fc2`, `norm1/2/3`, `norm_y`).
Tokens are B×N×D; positions are B×N×2 int64 (row, col) patch indices. LayerNorms use eps 1e-6 and GELUs are
exact (tanh-free), as upstream.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from av_pose.models.rope import RoPE2D, patch_positions

LAYER_NORM_EPS = 1e-6


def layer_norm(dim: int) -> nn.LayerNorm:
    """The LayerNorm of every block (eps 1e-6; torch's default 1e-5 would shift outputs by ~1e-4)."""
    return nn.LayerNorm(dim, eps=LAYER_NORM_EPS)


class Mlp(nn.Module):
    """Linear(dim → hidden) – exact GELU – Linear(hidden → dim)."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """B×N×dim → B×N×dim."""
        return self.fc2(self.act(self.fc1(x)))


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """B×N×(heads·Dh) → B×heads×N×Dh."""
    batch, tokens, dim = x.shape
    return x.reshape(batch, tokens, num_heads, dim // num_heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """B×heads×N×Dh → B×N×(heads·Dh)."""
    batch, heads, tokens, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, tokens, heads * head_dim)


class SelfAttention(nn.Module):
    """Multi-head self-attention with RoPE on q and k; `qkv` output laid out as (3, heads, head_dim)."""

    def __init__(self, dim: int, num_heads: int, rope: RoPE2D | None = None, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by {num_heads} heads')
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.rope = rope

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Tokens B×N×dim with positions B×N×2 → B×N×dim."""
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if self.rope is not None:
            q, k = self.rope(q, positions), self.rope(k, positions)
        return self.proj(_merge_heads(functional.scaled_dot_product_attention(q, k, v)))


class CrossAttention(nn.Module):
    """Multi-head attention of queries from x onto keys/values from y, RoPE with each side's positions."""

    def __init__(self, dim: int, num_heads: int, rope: RoPE2D | None = None, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by {num_heads} heads')
        self.num_heads = num_heads
        self.projq = nn.Linear(dim, dim, bias=qkv_bias)
        self.projk = nn.Linear(dim, dim, bias=qkv_bias)
        self.projv = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.rope = rope

    def forward(self, x: torch.Tensor, y: torch.Tensor, x_positions: torch.Tensor,
                y_positions: torch.Tensor) -> torch.Tensor:
        """Queries from x (B×N×dim), keys and values from y (B×M×dim) → B×N×dim."""
        q = _split_heads(self.projq(x), self.num_heads)
        k = _split_heads(self.projk(y), self.num_heads)
        v = _split_heads(self.projv(y), self.num_heads)
        if self.rope is not None:
            q, k = self.rope(q, x_positions), self.rope(k, y_positions)
        return self.proj(_merge_heads(functional.scaled_dot_product_attention(q, k, v)))


class EncoderBlock(nn.Module):
    """Pre-norm ViT block: x + attn(norm1 x), then x + mlp(norm2 x)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, rope: RoPE2D | None = None):
        super().__init__()
        self.norm1 = layer_norm(dim)
        self.attn = SelfAttention(dim, num_heads, rope)
        self.norm2 = layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Tokens B×N×dim with positions B×N×2 → B×N×dim."""
        x = x + self.attn(self.norm1(x), positions)
        return x + self.mlp(self.norm2(x))


class DecoderBlock(nn.Module):
    """CroCo decoder block: self-attn(norm1 x), cross-attn(norm2 x → norm_y y), mlp(norm3 x), each residual.

    Args:
        norm_memory: apply `norm_y` to the other view's tokens (Reloc3r: True); False drops the layer.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, rope: RoPE2D | None = None,
                 norm_memory: bool = True):
        super().__init__()
        self.norm1 = layer_norm(dim)
        self.attn = SelfAttention(dim, num_heads, rope)
        self.cross_attn = CrossAttention(dim, num_heads, rope)
        self.norm2 = layer_norm(dim)
        self.norm3 = layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm_y = layer_norm(dim) if norm_memory else nn.Identity()

    def forward(self, x: torch.Tensor, y: torch.Tensor, x_positions: torch.Tensor,
                y_positions: torch.Tensor) -> torch.Tensor:
        """Update view x (B×N×D) given the other view y (B×M×D); returns the new x."""
        x = x + self.attn(self.norm1(x), x_positions)
        memory = self.norm_y(y)
        x = x + self.cross_attn(self.norm2(x), memory, x_positions, y_positions)
        return x + self.mlp(self.norm3(x))


class PatchEmbed(nn.Module):
    """Non-overlapping patches → tokens, for landscape-stored batches that may hold portrait images.

    Images are B×C×H×W with W ≥ H and both multiples of `patch_size`. `true_shape` (B×2, (height, width))
    marks portrait images (height > width): those are stored transposed, and are transposed back before the
    projection, so their tokens and (row, col) positions follow the true portrait layout. Tokens are float32
    (the projection may run in reduced precision under autocast).
    """

    def __init__(self, patch_size: int, in_channels: int, embed_dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def _tokens(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images).permute(0, 2, 3, 1).flatten(1, 2).float()

    def forward(self, images: torch.Tensor, true_shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return tokens B×N×D (float32) and positions B×N×2 (int64 (row, col))."""
        batch, _, height, width = images.shape
        if width < height:
            raise ValueError(f'images must be stored in landscape (W ≥ H), got H={height} W={width}; '
                             'pass portrait images transposed with their true_shape')
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f'image sides {height}×{width} must be multiples of the patch size {self.patch_size}')
        if tuple(true_shape.shape) != (batch, 2):
            raise ValueError(f'true_shape must be B×2 (height, width), got {tuple(true_shape.shape)}')
        rows, cols = height // self.patch_size, width // self.patch_size
        portrait = true_shape[:, 1] < true_shape[:, 0]
        if not portrait.any():
            tokens = self._tokens(images)
            positions = patch_positions(rows, cols, images.device).expand(batch, -1, -1)
            return tokens, positions
        tokens = images.new_zeros((batch, rows * cols, self.embed_dim), dtype=torch.float32)
        positions = images.new_zeros((batch, rows * cols, 2), dtype=torch.int64)
        landscape = ~portrait
        tokens[landscape] = self._tokens(images[landscape])
        tokens[portrait] = self._tokens(images[portrait].transpose(-1, -2))
        positions[landscape] = patch_positions(rows, cols, images.device)
        positions[portrait] = patch_positions(cols, rows, images.device)
        return tokens, positions
