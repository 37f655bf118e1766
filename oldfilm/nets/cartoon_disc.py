"""CartoonGAN's discriminator (Chen et al., CVPR 2018, fig. 2): a flat stack of 3x3 convs that
scores overlapping patches (output at 1/4 of the input size, one logit per patch).

    k3n32s1 LReLU | k3n64s2 LReLU | k3n128s1 Norm LReLU | k3n128s2 LReLU
    | k3n256s1 Norm LReLU | k3n256s1 Norm LReLU | k3n1s1

LeakyReLU slope 0.2, zero padding 1. The paper leaves the norm open; instance norm (affine) is
used here because the batches are small. Input: RGB in [-1, 1].
"""
from __future__ import annotations

import torch
from torch import nn

# (out channels, stride, norm) per conv before the last one
LAYOUT = ((1, 1, False), (2, 2, False), (4, 1, True), (4, 2, False), (8, 1, True), (8, 1, True))


class CartoonDiscriminator(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for mult, stride, norm in LAYOUT:
            cout = width * mult
            layers.append(nn.Conv2d(cin, cout, 3, stride=stride, padding=1))
            if norm:
                layers.append(nn.InstanceNorm2d(cout, affine=True))
            layers.append(nn.LeakyReLU(0.2))
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, rgb_pm1: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [-1, 1] -> patch logits (B, 1, ceil(H/4), ceil(W/4))."""
        return self.net(rgb_pm1)


def cartoon_discriminator(*, width: int = 32) -> CartoonDiscriminator:
    return CartoonDiscriminator(width=width)
