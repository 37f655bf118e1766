"""Zhang et al.'s automatic colorizers in the layout of their public PyTorch release.

Weights (richzhang/colorization, BSD-2-Clause): ``colorization_release_v2-9b330a0b.pth`` (ECCV16,
"Colorful Image Colorization", Zhang, Isola & Efros 2016) and ``siggraph17-df00044c.pth``
(SIGGRAPH17, "Real-Time User-Guided Image Colorization with Learned Deep Priors", Zhang, Zhu et
al. 2017, here without user hints). :func:`convert_eccv16` / :func:`convert_siggraph17` read such a
file safely into a state dict that :class:`ECCV16` / :class:`SIGGRAPH17` load strictly.

Both follow oldfilm's colorizer contract: ``forward(L)`` takes CIE L* in [0, 100] shaped
(B, 1, H, W), H and W multiples of 16, and returns a*b* (B, 2, H, W) in Lab units. Inside, as in the
public ``base_color.py``: L -> (L - 50) / 100, the network's ab output * 110 (and hint ab / 110).
Their demo runs the nets at 256x256 and resizes ab to the photo; oldfilm's stage does that part.

Layout (names are the public state-dict keys; every conv has a bias unless said; "block" = 3x3
convs each followed by ReLU, then BatchNorm; ``modelN.i`` counts the ReLUs and norms too):

ECCV16 -- ``model1`` 1->64->64 (second conv stride 2), ``model2`` 64->128->128 (stride 2),
``model3`` 128->256 x3 (last stride 2), ``model4`` 256->512 x3, ``model5`` and ``model6`` 512 x3
with dilation 2 (padding 2), ``model7`` 512 x3; ``model8``: ConvTranspose 4x4 stride 2 pad 1
(512->256), ReLU, two 3x3 convs + ReLU (no norm), 1x1 conv 256->313 logits over the quantised ab
bins; softmax over the bins (the release's code applies no temperature: plain
``Softmax(dim=1)``); ``model_out`` 1x1 conv 313->2 without bias, a linear read-out of the bin
probabilities; then bilinear x4 (align_corners=False): the net works at 1/4 resolution.

SIGGRAPH17 -- input: L, hint ab and a hint mask (4 channels); without hints ab = 0 and mask = 0
as in their demo. ``model1`` 4->64->64, ``model2`` 64->128->128, ``model3`` 128->256 x3,
``model4`` 256->512 x3 (stride 1 everywhere; each of model2..4 takes ``[::2, ::2]`` of the
previous block's output), ``model5``/``model6`` dilation 2, ``model7``; decoder: ``model8up``
ConvTranspose (512->256) + ``model3short8`` (3x3 on model3's output), ``model8`` ReLU then two
3x3 256 convs + ReLU, BatchNorm; ``model9up`` (256->128) + ``model2short9``, ``model9`` ReLU,
3x3 conv, ReLU, BatchNorm; ``model10up`` (128->128) + ``model1short10`` (64->128), ``model10``
ReLU, 3x3 conv, LeakyReLU 0.2; ``model_out`` 1x1 conv 128->2, tanh. Full resolution output.
``model_class`` (1x1 conv 256->529, the paper's classification head) is in the file but not
used by the release's forward; it is kept so that the file loads strictly.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..weights import ModelEntry
from .public import convert_for
from .transforms import Lightness

L_CENT, L_NORM, AB_NORM = 50.0, 100.0, 110.0   # public base_color.py
ECCV16_BINS = 313
SIGGRAPH17_CLASSES = 529


def _convs(widths: list[int], *, last_stride: int = 1, dilation: int = 1, relu_first: bool = False,
           norm: bool = True) -> nn.Sequential:
    """[ReLU,] (3x3 conv, ReLU) for each step of ``widths`` [, BatchNorm]; the last conv has
    ``last_stride``. The indices of the result are the public ones."""
    layers: list[nn.Module] = [nn.ReLU()] if relu_first else []
    steps = list(zip(widths, widths[1:]))
    for i, (cin, cout) in enumerate(steps):
        stride = last_stride if i == len(steps) - 1 else 1
        layers += [nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation), nn.ReLU()]
    if norm:
        layers.append(nn.BatchNorm2d(widths[-1]))
    return nn.Sequential(*layers)


def _up(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)


def _trunk(net: nn.Module, cin: int, stride: int) -> None:
    """model1..model7, shared by both nets (ECCV16 downsamples with strided convs, SIGGRAPH17 by
    subsampling between blocks)."""
    net.model1 = _convs([cin, 64, 64], last_stride=stride)
    net.model2 = _convs([64, 128, 128], last_stride=stride)
    net.model3 = _convs([128, 256, 256, 256], last_stride=stride)
    net.model4 = _convs([256, 512, 512, 512])
    net.model5 = _convs([512] * 4, dilation=2)
    net.model6 = _convs([512] * 4, dilation=2)
    net.model7 = _convs([512] * 4)


class ECCV16(nn.Module):
    """L* [0, 100] (B, 1, H, W) -> a*b* (B, 2, H, W); H, W multiples of 16 (8 suffices)."""

    def __init__(self):
        super().__init__()
        _trunk(self, 1, stride=2)
        self.model8 = nn.Sequential(_up(512, 256), nn.ReLU(), *_convs([256, 256, 256], norm=False),
                                    nn.Conv2d(256, ECCV16_BINS, 1))
        self.model_out = nn.Conv2d(ECCV16_BINS, 2, 1, bias=False)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        x = (L - L_CENT) / L_NORM
        for block in (self.model1, self.model2, self.model3, self.model4, self.model5, self.model6,
                      self.model7, self.model8):
            x = block(x)
        ab = self.model_out(torch.softmax(x, dim=1))
        return F.interpolate(ab, scale_factor=4, mode="bilinear", align_corners=False) * AB_NORM


class SIGGRAPH17(nn.Module):
    """L* [0, 100] (B, 1, H, W) -> a*b* (B, 2, H, W); H, W multiples of 16 (8 suffices).

    Optional user hints as in the public release: ``hint_ab`` (B, 2, H, W) in Lab units where
    ``hint_mask`` (B, 1, H, W) is 1, zeros elsewhere; both default to zeros (no hints)."""

    def __init__(self):
        super().__init__()
        _trunk(self, 4, stride=1)
        self.model8up = nn.Sequential(_up(512, 256))
        self.model8 = _convs([256, 256, 256], relu_first=True)
        self.model9up = nn.Sequential(_up(256, 128))
        self.model9 = _convs([128, 128], relu_first=True)
        self.model10up = nn.Sequential(_up(128, 128))
        self.model10 = nn.Sequential(nn.ReLU(), nn.Conv2d(128, 128, 3, padding=1), nn.LeakyReLU(0.2))
        self.model3short8 = nn.Sequential(nn.Conv2d(256, 256, 3, padding=1))
        self.model2short9 = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1))
        self.model1short10 = nn.Sequential(nn.Conv2d(64, 128, 3, padding=1))
        self.model_class = nn.Sequential(nn.Conv2d(256, SIGGRAPH17_CLASSES, 1))
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, 1), nn.Tanh())

    def forward(self, L: torch.Tensor, hint_ab: torch.Tensor | None = None,
                hint_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, _, h, w = L.shape
        if hint_ab is None:
            hint_ab = L.new_zeros(b, 2, h, w)
        if hint_mask is None:
            hint_mask = L.new_zeros(b, 1, h, w)
        x = torch.cat([(L - L_CENT) / L_NORM, hint_ab / AB_NORM, hint_mask], 1)
        c1 = self.model1(x)
        c2 = self.model2(c1[..., ::2, ::2])
        c3 = self.model3(c2[..., ::2, ::2])
        c7 = self.model7(self.model6(self.model5(self.model4(c3[..., ::2, ::2]))))
        c8 = self.model8(self.model8up(c7) + self.model3short8(c3))
        c9 = self.model9(self.model9up(c8) + self.model2short9(c2))
        c10 = self.model10(self.model10up(c9) + self.model1short10(c1))
        return self.model_out(c10) * AB_NORM


def eccv16(*, weights: dict[str, torch.Tensor] | None = None) -> ECCV16:
    """The ECCV16 colorizer; ``weights`` (e.g. from :func:`convert_eccv16`) is loaded strictly."""
    net = ECCV16()
    if weights is not None:
        net.load_state_dict(weights, strict=True)
    return net


def siggraph17(*, weights: dict[str, torch.Tensor] | None = None) -> SIGGRAPH17:
    """The SIGGRAPH17 colorizer (no hints by default); ``weights`` (e.g. from
    :func:`convert_siggraph17`) is loaded strictly."""
    net = SIGGRAPH17()
    if weights is not None:
        net.load_state_dict(weights, strict=True)
    return net


# ----------------------------------------------------------------------------- weight files

def convert_eccv16(path: str | Path) -> dict[str, torch.Tensor]:
    """``colorization_release_v2-9b330a0b.pth`` (or any ECCV16 colorizer state dict) -> a state dict
    that :class:`ECCV16` loads strictly, ready for safetensors. Raises :class:`WeightsError`."""
    return convert_for(ECCV16(), path, "Zhang ECCV16")


def convert_siggraph17(path: str | Path) -> dict[str, torch.Tensor]:
    """``siggraph17-df00044c.pth`` (or any SIGGRAPH17 colorizer state dict) -> a state dict that
    :class:`SIGGRAPH17` loads strictly, ready for safetensors. Raises :class:`WeightsError`."""
    return convert_for(SIGGRAPH17(), path, "Zhang SIGGRAPH17")


# `oldfilm models pull zhang-eccv16`, or `oldfilm models import NAME FILE`
MODELS = [ModelEntry(
    name=f"zhang-{name}", task="colorize", builder=builder, file=f"zhang-{name}.safetensors",
    license="BSD-2-Clause",
    source=f"https://github.com/richzhang/colorization (colorizers/{name}.py loads {file}; {paper}; "
    f"install with `oldfilm models import zhang-{name} {file}`)",
    transforms=Lightness(render_size=256), convert=convert,   # their demo runs at 256x256
    url=f"https://colorizers.s3.us-east-2.amazonaws.com/{file}",
    sha256=file.rsplit("-", 1)[1].removesuffix(".pth"),   # torch hub's hash prefix in the name
) for name, builder, convert, file, paper in (
    ("eccv16", eccv16, convert_eccv16, "colorization_release_v2-9b330a0b.pth",
     "Colorful Image Colorization, Zhang, Isola & Efros, ECCV 2016"),
    ("siggraph17", siggraph17, convert_siggraph17, "siggraph17-df00044c.pth",
     "Real-Time User-Guided Image Colorization with Learned Deep Priors, Zhang, Zhu et al., "
     "SIGGRAPH 2017; run without user hints"))]
