"""ColorNet: oldfilm's own small colorization U-Net.

Contract: ``forward(L)`` takes CIE L* in [0, 100] shaped (B, 1, H, W), H and W multiples of 16,
and returns the predicted a*b* chroma (B, 2, H, W) in Lab units.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ..weights import ModelEntry
from .transforms import Lightness


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ColorNet(nn.Module):
    def __init__(self, *, width: int = 16, ab_scale: float = 110.0):
        super().__init__()
        w = [width, width * 2, width * 4, width * 8]
        self.ab_scale = ab_scale
        self.enc0 = nn.Sequential(_block(1, w[0]), _block(w[0], w[0]))
        self.enc1 = nn.Sequential(_block(w[0], w[1], 2), _block(w[1], w[1]))
        self.enc2 = nn.Sequential(_block(w[1], w[2], 2), _block(w[2], w[2]))
        self.enc3 = nn.Sequential(_block(w[2], w[3], 2), _block(w[3], w[3]))
        self.mid = nn.Sequential(_block(w[3], w[3], 2), _block(w[3], w[3], dilation=2),
                                 _block(w[3], w[3], dilation=4), _block(w[3], w[3]))
        self.dec3 = _block(w[3] * 2, w[2])
        self.dec2 = _block(w[2] * 2, w[1])
        self.dec1 = _block(w[1] * 2, w[0])
        self.dec0 = _block(w[0] * 2, w[0])
        self.head = nn.Conv2d(w[0], 2, 1)

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        x0 = self.enc0(L / 50.0 - 1.0)
        x1 = self.enc1(x0)
        x2 = self.enc2(x1)
        x3 = self.enc3(x2)
        m = self.mid(x3)
        y = self.dec3(torch.cat([self._up(m, x3), x3], 1))
        y = self.dec2(torch.cat([self._up(y, x2), x2], 1))
        y = self.dec1(torch.cat([self._up(y, x1), x1], 1))
        y = self.dec0(torch.cat([self._up(y, x0), x0], 1))
        return torch.tanh(self.head(y)) * self.ab_scale


def colornet(*, width: int = 16, ab_scale: float = 110.0) -> ColorNet:
    return ColorNet(width=width, ab_scale=ab_scale)


MODELS = [ModelEntry(
    name="colornet-v1", task="colorize", builder=colornet, file="colornet-v1.safetensors",
    license="GPL-2.0-or-later (trained on GPL-2+ and CC-BY-SA images; see its card)",
    source="trained by `oldfilm train colorizer` (see its model card)",
    config={"width": 16, "ab_scale": 110.0}, transforms=Lightness(render_size=256),
)]
