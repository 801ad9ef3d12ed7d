"""Reloc3r inference on images of any size: the official preprocessing, then both relative poses as numpy.

Preprocessing (upstream's `load_images`): resize so the long side equals `img_size` (for `img_size` 224: the
short side to 224, then a centre square crop), centre-crop each side to a multiple of the patch size (a
square image to 4:3 landscape), normalise RGB to [-1, 1]. Portrait images are stored transposed with their
`true_shape`, as the network expects. Resizing is bicubic with antialiasing (upstream uses PIL
LANCZOS/BICUBIC, so pixels differ slightly). Intrinsics, when given, follow the resize and crop
(pixel centres at integer coordinates).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

from av_pose.models.reloc3r import Reloc3r


@dataclass
class PreparedImages:
    """Network input for one view of B pairs.

    Attributes:
        images: B×3×h×w in [-1, 1], stored landscape (portrait images transposed).
        true_shape: B×2 int64 (height, width) of the images as the camera took them.
        K: B×3×3 float64 intrinsics of the prepared images (None when none were given).
    """

    images: torch.Tensor
    true_shape: torch.Tensor
    K: torch.Tensor | None = None


@dataclass
class RelativePosePrediction:
    """Both relative poses (B×4×4 float64, OpenCV camera frames, translation of arbitrary scale).

    `T_1_2` maps camera-2 points into camera 1 (Reloc3r's 2→1 `pose2`); `T_2_1` maps camera-1 points into
    camera 2 (`pose1`). `K1`, `K2`: B×3×3 intrinsics of the prepared images, when intrinsics were given.
    """

    T_1_2: np.ndarray
    T_2_1: np.ndarray
    K1: np.ndarray | None = None
    K2: np.ndarray | None = None


def _resized_size(height: int, width: int, img_size: int) -> tuple[int, int]:
    long_side = max(height, width)
    if img_size == 224:  # upstream: the short side becomes 224
        target = round(img_size * max(width / height, height / width))
    else:
        target = img_size
    return int(round(height * target / long_side)), int(round(width * target / long_side))


def _crop_box(height: int, width: int, img_size: int, patch_size: int) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width) of the centre crop on the resized image."""
    centre_y, centre_x = height // 2, width // 2
    if img_size == 224:
        half = min(centre_x, centre_y)
        half_h = half_w = half - half % (patch_size // 2) if patch_size > 1 else half
    else:
        half_w = (2 * centre_x) // patch_size * patch_size // 2
        half_h = (2 * centre_y) // patch_size * patch_size // 2
        if height == width:  # a square becomes 4:3 landscape
            half_h = (3 * 2 * half_w // 4) // patch_size * patch_size // 2
    return centre_y - half_h, centre_x - half_w, 2 * half_h, 2 * half_w


def prepare_images(images: torch.Tensor | np.ndarray, img_size: int, patch_size: int = 16,
                   K: torch.Tensor | np.ndarray | None = None) -> PreparedImages:
    """B×3×H×W RGB in [0, 1] or uint8 (one size for the batch) → Reloc3r input at `img_size` (module docstring)."""
    images = torch.as_tensor(images)
    images = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f'expected B×3×H×W images, got {tuple(images.shape)}')
    batch, _, height, width = images.shape
    new_height, new_width = _resized_size(height, width, img_size)
    if (new_height, new_width) != (height, width):
        images = functional.interpolate(images, size=(new_height, new_width), mode='bicubic', align_corners=False,
                               antialias=True).clamp(0.0, 1.0)
    top, left, crop_height, crop_width = _crop_box(new_height, new_width, img_size, patch_size)
    images = images[:, :, top:top + crop_height, left:left + crop_width] * 2.0 - 1.0
    true_shape = torch.tensor([crop_height, crop_width]).expand(batch, 2).clone()
    if crop_height > crop_width:
        images = images.transpose(-1, -2)
    prepared_K = None
    if K is not None:
        scale = torch.tensor([new_width / width, new_height / height], dtype=torch.float64)
        prepared_K = torch.as_tensor(K, dtype=torch.float64).reshape(-1, 3, 3).expand(batch, 3, 3).clone()
        prepared_K[:, :2, :2] *= scale[:, None]
        prepared_K[:, :2, 2] = (prepared_K[:, :2, 2] + 0.5) * scale - 0.5
        prepared_K[:, :2, 2] -= torch.tensor([left, top], dtype=torch.float64)
    return PreparedImages(images.contiguous(), true_shape, prepared_K)


@torch.no_grad()
def predict_relative_pose(model: Reloc3r, images1: torch.Tensor | np.ndarray, images2: torch.Tensor | np.ndarray,
                          K1: torch.Tensor | np.ndarray | None = None, K2: torch.Tensor | np.ndarray | None = None,
                          img_size: int | None = None) -> RelativePosePrediction:
    """Relative poses of B image pairs (each B×3×H×W RGB in [0, 1] or uint8, any size), official preprocessing.

    Runs on the model's device with its `amp_dtype` (head in float32). `img_size` defaults to the model's.
    """
    device = next(model.parameters()).device
    size = img_size or model.img_size
    first = prepare_images(images1, size, model.patch_size, K1)
    second = prepare_images(images2, size, model.patch_size, K2)
    pose1, pose2 = model({'img': first.images.to(device), 'true_shape': first.true_shape.to(device)},
                         {'img': second.images.to(device), 'true_shape': second.true_shape.to(device)})
    return RelativePosePrediction(
        T_1_2=pose2['pose'].double().cpu().numpy(), T_2_1=pose1['pose'].double().cpu().numpy(),
        K1=None if first.K is None else first.K.numpy(), K2=None if second.K is None else second.K.numpy())
