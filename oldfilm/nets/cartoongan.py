"""CartoonGAN generator (Chen, Lai & Liu, CVPR 2018) in the layout of the public PyTorch port.

Weights: ``{Hayao,Hosoda,Paprika,Shinkai}_net_G_float.pth`` from Yijunmaverick/CartoonGAN-Test-
Pytorch-Torch (MIT; the authors' Torch models copied layer by layer into ``network/Transformer.py``).
:func:`convert_cartoongan` reads such a file (or one written by ``oldfilm train cartoon``) into a
state dict that :class:`CartoonGAN` loads strictly.

Architecture (names are the public state-dict keys):

- ``conv01_1`` 7x7 3->64 after reflection padding 3, ``in01_1``, ReLU;
- ``conv02_1`` 3x3 stride 2 zero-pad 1 (64->128), ``conv02_2`` 3x3 zero-pad 1, ``in02_1``, ReLU;
- ``conv03_1`` 3x3 stride 2 (128->256), ``conv03_2``, ``in03_1``, ReLU;
- 8 residual blocks ``conv04_*`` .. ``conv11_*`` (256 channels): reflection pad 1, 3x3 conv,
  norm, ReLU, reflection pad 1, 3x3 conv, norm, plus the block's input (no ReLU after the sum);
- ``deconv01_1`` ConvTranspose 3x3 stride 2 pad 1 output_padding 1 (256->128), ``deconv01_2``
  3x3 zero-pad 1, ``in12_1``, ReLU; ``deconv02_1`` (128->64), ``deconv02_2``, ``in13_1``, ReLU;
- ``deconv03_1`` 7x7 64->3 after reflection padding 3, tanh.

Every conv has a bias. The norm is the port's own ``InstanceNormalization``: per sample and
channel, (x - mean) / sqrt(biased var + 1e-9) * ``scale`` + ``shift`` (two parameters, no running
statistics), i.e. ``F.instance_norm`` with eps 1e-9.

Colours (public ``test.py``): the input is **BGR** in [-1, 1] (RGB [0, 1] -> channels reversed ->
2x - 1), the tanh output is BGR in [-1, 1] and goes back by reversing the channels and 0.5x + 0.5
(then clamped to [0, 1] when saved). Their test resizes the image (PIL bicubic) so that its long
side is 450, see :func:`public_resize_shape`.

Sizes: the two stride-2 convs give ceil(H/2), ceil(H/4); the transposed convs double exactly, so
the output is 4*ceil(H/4) x 4*ceil(W/4). The output's top-left H x W is aligned with the input
(the public script just keeps the few extra rows/columns); :func:`cartoongan_post` crops them.
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

RES_BLOCKS = tuple(range(4, 12))      # conv04_* .. conv11_*
PUBLIC_LONG_SIDE = 450


class ScaleShiftInstanceNorm(nn.Module):
    """Instance norm with the port's parameter names (``scale``, ``shift``) and eps 1e-9."""

    def __init__(self, channels: int, eps: float = 1e-9):
        super().__init__()
        self.scale = nn.Parameter(torch.empty(channels).uniform_())   # the port's initialisation
        self.shift = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.scale, bias=self.shift, eps=self.eps)


class CartoonGAN(nn.Module):
    """BGR [-1, 1] (B, 3, H, W) -> BGR [-1, 1] (B, 3, 4*ceil(H/4), 4*ceil(W/4)); H, W >= 5."""

    def __init__(self):
        super().__init__()
        norm = ScaleShiftInstanceNorm
        self.conv01_1 = nn.Conv2d(3, 64, 7)
        self.in01_1 = norm(64)
        self.conv02_1 = nn.Conv2d(64, 128, 3, stride=2, padding=1)
        self.conv02_2 = nn.Conv2d(128, 128, 3, padding=1)
        self.in02_1 = norm(128)
        self.conv03_1 = nn.Conv2d(128, 256, 3, stride=2, padding=1)
        self.conv03_2 = nn.Conv2d(256, 256, 3, padding=1)
        self.in03_1 = norm(256)
        for i in RES_BLOCKS:
            for j in (1, 2):
                setattr(self, f"conv{i:02d}_{j}", nn.Conv2d(256, 256, 3))
                setattr(self, f"in{i:02d}_{j}", norm(256))
        self.deconv01_1 = nn.ConvTranspose2d(256, 128, 3, stride=2, padding=1, output_padding=1)
        self.deconv01_2 = nn.Conv2d(128, 128, 3, padding=1)
        self.in12_1 = norm(128)
        self.deconv02_1 = nn.ConvTranspose2d(128, 64, 3, stride=2, padding=1, output_padding=1)
        self.deconv02_2 = nn.Conv2d(64, 64, 3, padding=1)
        self.in13_1 = norm(64)
        self.deconv03_1 = nn.Conv2d(64, 3, 7)

    @staticmethod
    def _reflect(x: torch.Tensor, p: int) -> torch.Tensor:
        return F.pad(x, (p, p, p, p), mode="reflect")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in01_1(self.conv01_1(self._reflect(x, 3))))
        y = F.relu(self.in02_1(self.conv02_2(self.conv02_1(y))))
        y = F.relu(self.in03_1(self.conv03_2(self.conv03_1(y))))
        for i in RES_BLOCKS:
            conv1, norm1 = getattr(self, f"conv{i:02d}_1"), getattr(self, f"in{i:02d}_1")
            conv2, norm2 = getattr(self, f"conv{i:02d}_2"), getattr(self, f"in{i:02d}_2")
            r = F.relu(norm1(conv1(self._reflect(y, 1))))
            y = y + norm2(conv2(self._reflect(r, 1)))
        y = F.relu(self.in12_1(self.deconv01_2(self.deconv01_1(y))))
        y = F.relu(self.in13_1(self.deconv02_2(self.deconv02_1(y))))
        return torch.tanh(self.deconv03_1(self._reflect(y, 3)))


def cartoongan(*, weights: dict[str, torch.Tensor] | None = None) -> CartoonGAN:
    """A CartoonGAN generator; ``weights`` (a state dict, e.g. from :func:`convert_cartoongan`) is
    loaded strictly."""
    net = CartoonGAN()
    if weights is not None:
        net.load_state_dict(weights, strict=True)
    return net


def cartoongan_pre(rgb01: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] (B, 3, H, W) -> the network's input, BGR in [-1, 1] (public test.py)."""
    return rgb01.flip(1) * 2.0 - 1.0


def cartoongan_post(out: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """The network's BGR [-1, 1] output -> RGB in [0, 1]; with ``size`` = (H, W) of the input, the
    extra rows/columns of inputs whose sides are not multiples of 4 are cropped away."""
    if size is not None:
        out = out[..., :size[0], :size[1]]
    return (out.flip(1) * 0.5 + 0.5).clamp(0.0, 1.0)


def cartoongan_apply(net: CartoonGAN, rgb01: torch.Tensor) -> torch.Tensor:
    """RGB [0, 1] (B, 3, H, W) -> cartoon RGB [0, 1] of the same size (no resizing here; the public
    test ran at a long side of 450, see :func:`public_resize_shape`)."""
    return cartoongan_post(net(cartoongan_pre(rgb01)), rgb01.shape[-2:])


def public_resize_shape(h: int, w: int, long_side: int = PUBLIC_LONG_SIDE) -> tuple[int, int]:
    """(H, W) the public test.py resizes an H x W image to: long side ``long_side``, the other side
    truncated (``int``), a square or portrait image gets height ``long_side``."""
    if w > h:
        return int(long_side * h / w), long_side
    return long_side, int(long_side * w / h)


def convert_cartoongan(path: str | Path) -> dict[str, torch.Tensor]:
    """A user's ``*_net_G_float.pth`` (or any CartoonGAN generator state dict) -> a state dict that
    :class:`CartoonGAN` loads strictly, ready for safetensors. Raises :class:`WeightsError`."""
    return convert_for(CartoonGAN(), path, "CartoonGAN")


@dataclass(frozen=True)
class CartoonGANTransforms(Transforms):
    """The public test.py's: resized (bicubic) to a long side of ``long_side``, BGR in [-1, 1]; the
    output cropped, back to RGB in [0, 1] and to the frames' size."""

    long_side: int = PUBLIC_LONG_SIDE

    def pre(self, rgb: torch.Tensor) -> torch.Tensor:
        size = public_resize_shape(*rgb.shape[-2:], self.long_side)
        return cartoongan_pre(F.interpolate(rgb, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1))

    def post(self, out: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        return resize_like(cartoongan_post(out, public_resize_shape(*rgb.shape[-2:], self.long_side)), rgb)


# `oldfilm models pull NAME`, or `oldfilm models import NAME FILE`
MODELS = [ModelEntry(
    name=f"cartoongan-{style.lower()}", task="cartoonize", builder=cartoongan,
    file=f"cartoongan-{style.lower()}.safetensors", license="MIT",
    source=f"https://github.com/Yijunmaverick/CartoonGAN-Test-Pytorch-Torch ({style}_net_G_float.pth "
    f"from pretrained_model/download_pth.sh, Chen et al. 2018; install with "
    f"`oldfilm models import cartoongan-{style.lower()} {style}_net_G_float.pth`)",
    transforms=CartoonGANTransforms(), convert=convert_cartoongan,
    url=f"http://vllab1.ucmerced.edu/~yli62/CartoonGAN/pytorch_pth/{style}_net_G_float.pth",
) for style in ("Hayao", "Hosoda", "Paprika", "Shinkai")]
