"""Reloc3r's pose regression head: decoder tokens of one view → a 4×4 relative pose.

proj (in_dim → width, per token) → two residual blocks of three 1×1 convolutions (ReLU after each, then the
skip) → mean over tokens → Linear-ReLU-Linear-ReLU → `fc_t` (3: translation, arbitrary scale) and `fc_rot`
(9: a 3×3 whose rows are normalised and projected onto SO(3) by SVD with the determinant fix).

Every step before the mean acts on each token alone, so the tokens' grid layout (and portrait/landscape
orientation) cannot change the result: the head takes B×S×in_dim tokens and no image shape. The audio-visual
model concatenates audio features to the tokens and builds the head with a wider `in_dim`.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


class ResConvBlock(nn.Module):
    """x + relu(conv3(relu(conv2(relu(conv1(x)))))) with 1×1 convolutions of `channels` (B×C×H×W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.res_conv1 = nn.Conv2d(channels, channels, 1)
        self.res_conv2 = nn.Conv2d(channels, channels, 1)
        self.res_conv3 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """B×C×H×W → B×C×H×W."""
        y = functional.relu(self.res_conv1(x))
        y = functional.relu(self.res_conv2(y))
        return x + functional.relu(self.res_conv3(y))


def rotation_from_9d(raw: torch.Tensor) -> torch.Tensor:
    """Closest proper rotation (det +1) to each B×3×3 (or B×9) after normalising its rows: B×3×3.

    Row-normalise M, then with M = U S Vᵀ return U diag(1, 1, det(U Vᵀ)) Vᵀ (Reloc3r's SVD orthogonalisation).
    """
    matrix = functional.normalize(raw.reshape(-1, 3, 3), p=2, dim=-1)
    # Decompose Mᵀ = A S Bᵀ (so M = B S Aᵀ) as upstream does; the result is B diag(1, 1, det) Aᵀ.
    left, _, right_h = torch.linalg.svd(matrix.transpose(-1, -2))
    right = right_h.transpose(-1, -2)
    det = torch.det(right @ left.transpose(-1, -2))
    right = torch.cat([right[..., :2], right[..., 2:] * det[:, None, None]], dim=-1)
    return right @ left.transpose(-1, -2)


class PoseHead(nn.Module):
    """Tokens B×S×in_dim → pose B×4×4 (float32 math is the caller's choice; upstream runs it outside autocast).

    Args:
        in_dim: token width entering `proj` (Reloc3r: the decoder width, 768).
        width: hidden width (Reloc3r: 4·patch_size² = 1024).
        num_res_blocks: residual 1×1-conv blocks (Reloc3r: 2).
    """

    def __init__(self, in_dim: int, width: int, num_res_blocks: int = 2):
        super().__init__()
        self.proj = nn.Linear(in_dim, width)
        self.res_conv = nn.ModuleList(ResConvBlock(width) for _ in range(num_res_blocks))
        self.more_mlps = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.fc_t = nn.Linear(width, 3)
        self.fc_rot = nn.Linear(width, 9)

    def pooled_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """B×S×in_dim tokens → B×width features after the residual blocks, the token mean and the MLP."""
        features = self.proj(tokens).transpose(1, 2).unsqueeze(-1)  # B×width×S×1
        for block in self.res_conv:
            features = block(features)
        return self.more_mlps(features.mean(dim=(2, 3)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """B×S×in_dim tokens → B×4×4 pose [R t; 0 1]."""
        features = self.pooled_features(tokens)
        rotation = rotation_from_9d(self.fc_rot(features))
        translation = self.fc_t(features)
        top = torch.cat([rotation, translation[:, :, None]], dim=-1)
        bottom = top.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(top.shape[0], 1, 4)
        return torch.cat([top, bottom], dim=1)
