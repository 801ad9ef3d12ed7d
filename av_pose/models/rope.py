"""2-D rotary position embedding (RoPE) on patch grids, as CroCo/DUSt3R/Reloc3r use it.

A token at grid position (row, col) has the first half of each head's channels rotated by angles
`row · θ_j` and the second half by `col · θ_j`, θ_j = base^(-2j / (Dh/2)), j = 0 … Dh/4 − 1. Within each
half, channel i pairs with channel i + Dh/4 (the "rotate-half" layout). Applied to queries and keys only.
"""
from __future__ import annotations

import torch
from torch import nn


def patch_positions(rows: int, cols: int, device: torch.device | str = 'cpu') -> torch.Tensor:
    """Integer (row, col) of every patch of a rows×cols grid in row-major order: (rows·cols)×2 int64."""
    row_index = torch.arange(rows, device=device)
    col_index = torch.arange(cols, device=device)
    return torch.cartesian_prod(row_index, col_index).reshape(rows * cols, 2)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) → (−x2, x1) over the last dimension split in two halves."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class RoPE2D(nn.Module):
    """Rotary embedding of (row, col) grid positions into B×heads×N×Dh queries or keys.

    Args:
        base: frequency base (100 for Reloc3r's 'RoPE100').
        max_positions: the largest grid side (in patches) the cached tables cover.

    The cos/sin tables are kept in a plain dict per (Dh/2, device, dtype): they never enter the state dict,
    so strict checkpoint loading sees no buffers. They are computed in float32 and then cast to the tokens'
    dtype (fp16/bf16 under autocast), as upstream does.
    """

    def __init__(self, base: float = 100.0, max_positions: int = 1024):
        super().__init__()
        self.base = float(base)
        self.max_positions = int(max_positions)
        self._tables: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def extra_repr(self) -> str:
        """Shown by print(module)."""
        return f'base={self.base:g}, max_positions={self.max_positions}'

    def _cos_sin(self, half_dim: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        key = (half_dim, device, dtype)
        if key not in self._tables:
            inv_freq = 1.0 / (self.base ** (torch.arange(0, half_dim, 2, device=device).float() / half_dim))
            steps = torch.arange(self.max_positions, device=device, dtype=torch.float32)
            angles = torch.outer(steps, inv_freq).to(dtype)
            angles = torch.cat((angles, angles), dim=-1)
            self._tables[key] = (angles.cos(), angles.sin())
        return self._tables[key]

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Rotate `tokens` (B×heads×N×Dh, Dh a multiple of 4) by `positions` (B×N×2 int64 (row, col))."""
        head_dim = tokens.shape[-1]
        if head_dim % 4:
            raise ValueError(f'2-D RoPE needs a head dimension divisible by 4, got {head_dim}')
        cos, sin = self._cos_sin(head_dim // 2, tokens.device, tokens.dtype)
        rows, cols = tokens.chunk(2, dim=-1)
        rotated = [half * cos[index][:, None] + rotate_half(half) * sin[index][:, None]
                   for half, index in ((rows, positions[..., 0]), (cols, positions[..., 1]))]
        return torch.cat(rotated, dim=-1)
