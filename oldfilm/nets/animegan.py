"""AnimeGANv2 generator in the layout of bryandlee/animegan2-pytorch (MIT), a port of the
TensorFlow AnimeGANv2 (Chen, Liu & Chen).

Weights: ``paprika.pt``, ``face_paint_512_v1.pt``, ``face_paint_512_v2.pt``, ``celeba_distill.pt``
(bare state dicts, loaded strictly by the public test.py / hubconf.py). :func:`convert_animegan`
reads them into a state dict that :class:`AnimeGAN2` loads strictly.

Building block ``ConvNormLReLU`` = Sequential(pad, conv (no bias unless said), GroupNorm(1 group,
affine, eps 1e-5), LeakyReLU(0.2)): keys ``<i>.1.weight`` (conv) and ``<i>.2.{weight,bias}``
(norm); padding is reflection, 1 px for 3x3, 3 px for 7x7, none for 1x1, and (left 0, right 1,
top 0, bottom 1) for the two stride-2 convs.
``InvertedResBlock(in, out)`` = ``layers``: 0 = 1x1 ConvNormLReLU to 2*in, 1 = depthwise 3x3
ConvNormLReLU (groups = channels, with bias), 2 = 1x1 conv to out (no bias), 3 = GroupNorm(1);
plus the input when in == out.

- ``block_a``: CNL(3->32, 7x7), CNL(32->64, stride 2), CNL(64->64)
- ``block_b``: CNL(64->128, stride 2), CNL(128->128)
- ``block_c``: CNL(128->128), IRB(128->256), 3 x IRB(256->256), CNL(256->128)
- bilinear up to ``block_a``'s output size; ``block_d``: 2 x CNL(128->128)
- bilinear up to the input size; ``block_e``: CNL(128->64), CNL(64->64), CNL(64->32, 7x7)
- ``out_layer``: 1x1 conv 32->3 (no bias), tanh.

Upsampling: the public forward takes ``align_corners`` (default True, used by torch.hub) and
resizes to the exact sizes above; with False (the default of the public test.py, which this
module follows) it uses ``scale_factor=2``. Here both modes resize to the exact sizes, which is
the same computation whenever H and W are multiples of 4 (for other sizes the public False mode
returns an image a few pixels smaller than its input; its ``--x32`` option resizes inputs to
multiples of 32, at least 256).

Colours: RGB in [-1, 1] in (2x - 1), tanh RGB out, clipped to [-1, 1] and mapped by 0.5x + 0.5.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..weights import ModelEntry
from .public import convert_for
from .transforms import Transforms, resize_like


class ConvNormLReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1,
                 pad: int | tuple[int, int, int, int] = 1, groups: int = 1, bias: bool = False):
        super().__init__(
            nn.ReflectionPad2d(pad),
            nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=0, groups=groups, bias=bias),
            nn.GroupNorm(1, cout, affine=True),
            nn.LeakyReLU(0.2),
        )


class InvertedResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, expansion: float = 2.0):
        super().__init__()
        mid = int(round(cin * expansion))
        parts: list[nn.Module] = []
        if expansion != 1:
            parts.append(ConvNormLReLU(cin, mid, kernel_size=1, pad=0))
        parts += [ConvNormLReLU(mid, mid, groups=mid, bias=True),
                  nn.Conv2d(mid, cout, 1, bias=False),
                  nn.GroupNorm(1, cout, affine=True)]
        self.layers = nn.Sequential(*parts)
        self.residual = cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layers(x)
        return x + y if self.residual else y


HALF = (0, 1, 0, 1)   # ReflectionPad2d (left, right, top, bottom) before the stride-2 convs


class AnimeGAN2(nn.Module):
    """RGB [-1, 1] (B, 3, H, W) -> RGB [-1, 1] (B, 3, H, W), tanh; H, W >= 8."""

    def __init__(self, align_corners: bool = False):
        super().__init__()
        self.align_corners = align_corners
        self.block_a = nn.Sequential(ConvNormLReLU(3, 32, 7, pad=3), ConvNormLReLU(32, 64, stride=2, pad=HALF),
                                     ConvNormLReLU(64, 64))
        self.block_b = nn.Sequential(ConvNormLReLU(64, 128, stride=2, pad=HALF), ConvNormLReLU(128, 128))
        self.block_c = nn.Sequential(ConvNormLReLU(128, 128), InvertedResBlock(128, 256),
                                     *[InvertedResBlock(256, 256) for _ in range(3)], ConvNormLReLU(256, 128))
        self.block_d = nn.Sequential(ConvNormLReLU(128, 128), ConvNormLReLU(128, 128))
        self.block_e = nn.Sequential(ConvNormLReLU(128, 64), ConvNormLReLU(64, 64), ConvNormLReLU(64, 32, 7, pad=3))
        self.out_layer = nn.Sequential(nn.Conv2d(32, 3, 1, bias=False), nn.Tanh())

    def _up(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=self.align_corners)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.block_a(x)
        y = self.block_c(self.block_b(a))
        y = self.block_d(self._up(y, a.shape[-2:]))
        y = self.block_e(self._up(y, x.shape[-2:]))
        return self.out_layer(y)


def animegan2(*, align_corners: bool = False, weights: dict[str, torch.Tensor] | None = None) -> AnimeGAN2:
    """An AnimeGANv2 generator; ``weights`` (e.g. from :func:`convert_animegan`) is loaded strictly."""
    net = AnimeGAN2(align_corners=align_corners)
    if weights is not None:
        net.load_state_dict(weights, strict=True)
    return net


def animegan_pre(rgb01: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> the network's input, RGB in [-1, 1]."""
    return rgb01 * 2.0 - 1.0


def animegan_post(out: torch.Tensor) -> torch.Tensor:
    """The network's RGB [-1, 1] output -> RGB in [0, 1] (clipped, as the public test.py)."""
    return out.clamp(-1.0, 1.0) * 0.5 + 0.5


def animegan_apply(net: AnimeGAN2, rgb01: torch.Tensor) -> torch.Tensor:
    """RGB [0, 1] (B, 3, H, W) -> anime RGB [0, 1] of the same size (exactly the public model's
    output when H and W are multiples of 4)."""
    return animegan_post(net(animegan_pre(rgb01)))


def convert_animegan(path: str | Path) -> dict[str, torch.Tensor]:
    """A user's AnimeGANv2 ``.pt`` (bryandlee port) -> a state dict that :class:`AnimeGAN2` loads
    strictly, ready for safetensors. Raises :class:`WeightsError` (refused pickle, wrong keys)."""
    return convert_for(AnimeGAN2(), path, "AnimeGANv2")


@dataclass(frozen=True)
class AnimeGANTransforms(Transforms):
    """RGB in [-1, 1] at the frames' size cut to multiples of ``size_multiple`` (area resize; the
    public output then has the input's size), and back to RGB in [0, 1] at the frames' size."""

    size_multiple: int = 4

    def pre(self, rgb: torch.Tensor) -> torch.Tensor:
        h, w = rgb.shape[-2:]
        m = self.size_multiple
        return animegan_pre(F.interpolate(rgb, size=(max(8, h // m * m), max(8, w // m * m)), mode="area"))

    def post(self, out: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        return resize_like(animegan_post(out), rgb)


# `oldfilm models pull NAME`, or `oldfilm models import NAME FILE`
MODELS = [ModelEntry(
    name=f"animegan2-{name}", task="cartoonize", builder=animegan2,
    file=f"animegan2-{name}.safetensors", license="MIT",
    source=f"https://github.com/bryandlee/animegan2-pytorch ({name}.pt from its weights/ folder, "
    f"AnimeGANv2 by Chen et al.; install with `oldfilm models import animegan2-{name} {name}.pt`)",
    transforms=AnimeGANTransforms(), convert=convert_animegan,
    url=f"https://github.com/bryandlee/animegan2-pytorch/raw/main/weights/{name}.pt",
) for name in ("paprika", "face_paint_512_v2", "celeba_distill", "face_paint_512_v1")]
