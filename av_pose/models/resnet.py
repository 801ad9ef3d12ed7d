"""ResNet-18 (He et al. 2016) with a C-channel stem, for the audio encoders and the SLfM visual rotation net.

Layout and parameter names follow the common torchvision one (`conv1`, `bn1`, `layer1.0.conv1`, ...,
`layerN.0.downsample.{0,1}`, `fc`): BasicBlocks [2, 2, 2, 2] of 64/128/256/512 channels; the stem is a 7×7
stride-2 convolution and a 3×3 stride-2 max-pool, so layer3 has stride 16 and layer4 stride 32.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

LAYER_CHANNELS = (64, 128, 256, 512)
BLOCKS_PER_LAYER = (2, 2, 2, 2)


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN stages with an identity (or 1×1 conv-BN when the shape changes) skip, ReLU after the sum."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """B×in×H×W → B×out×H/stride×W/stride."""
        y = functional.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = x if self.downsample is None else self.downsample(x)
        return functional.relu(y + skip)


def _layer(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(in_channels, out_channels, stride),
                         *(BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)))


class ResNet18(nn.Module):
    """ResNet-18 on B×in_channels×H×W inputs.

    Args:
        in_channels: input channels (3 for RGB, 4 for SLfM's [L mag, L phase, R mag, R phase], ...).
        embed_dim: output size of the final linear layer `fc`; None keeps the 512-d pooled features (no `fc`).
        output: 'embedding' → forward returns B×embed_dim (global average pool, then `fc`);
            'layer3' → the network stops after layer3 (no layer4 or `fc` parameters) and forward returns the
            B×4·width×⌈H/16⌉×⌈W/16⌉ feature map.
        width: channels of layer1 (64 in ResNet-18; layers double it); smaller widths make CPU-sized encoders.
    """

    def __init__(self, in_channels: int = 3, embed_dim: int | None = 512, output: str = 'embedding',
                 width: int = 64):
        super().__init__()
        if output not in ('embedding', 'layer3'):
            raise ValueError(f"output must be 'embedding' or 'layer3', got {output!r}")
        self.output = output
        c1, c2, c3, c4 = (width * channels // LAYER_CHANNELS[0] for channels in LAYER_CHANNELS)
        self.conv1 = nn.Conv2d(in_channels, c1, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.layer1 = _layer(c1, c1, BLOCKS_PER_LAYER[0], stride=1)
        self.layer2 = _layer(c1, c2, BLOCKS_PER_LAYER[1], stride=2)
        self.layer3 = _layer(c2, c3, BLOCKS_PER_LAYER[2], stride=2)
        self.layer4 = _layer(c3, c4, BLOCKS_PER_LAYER[3], stride=2) if output == 'embedding' else None
        self.fc = nn.Linear(c4, embed_dim) if output == 'embedding' and embed_dim is not None else None
        self.out_dim = (embed_dim or c4) if output == 'embedding' else c3
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_layer3(self, x: torch.Tensor) -> torch.Tensor:
        """B×C×H×W → the layer3 map B×4·width×⌈H/16⌉×⌈W/16⌉."""
        x = functional.max_pool2d(functional.relu(self.bn1(self.conv1(x))), kernel_size=3, stride=2, padding=1)
        return self.layer3(self.layer2(self.layer1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """B×C×H×W → B×out_dim embedding, or the layer3 map when built with output='layer3'."""
        features = self.forward_layer3(x)
        if self.layer4 is None:
            return features
        pooled = self.layer4(features).mean(dim=(2, 3))
        return pooled if self.fc is None else self.fc(pooled)
