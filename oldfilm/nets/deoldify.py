"""DeOldify's three public generators (Antic 2019), with the key layout of their weight files.

Weights: ``ColorizeVideo_gen.pth``, ``ColorizeStable_gen.pth`` and ``ColorizeArtistic_gen.pth``
from jantic/DeOldify (MIT, code and weights). They are fastai v1 ``Learner.save`` files: the model's
state dict, either bare or under ``'model'`` next to an ``'opt'`` entry. :func:`convert_deoldify`
reads one safely into a state dict that :class:`DeOldify` loads strictly.

Architecture (``deoldify/unet.py`` and ``generators.py`` on the repository's vendored fastai
1.0.56.dev0): a fastai ``DynamicUnet`` on a torchvision ResNet cut before its pooling, with
``blur=True``, ``norm_type=NormType.Spectral``, ``self_attention=True``, ``y_range=(-3, 3)``,
3 output channels. Names are the public state-dict keys (``layers.<i>``):

- ``layers.0``: the ResNet body (conv1, bn1, relu, maxpool, layer1..layer4); the decoder takes skips
  from ``relu`` (1/2), ``layer1`` (1/4), ``layer2`` (1/8) and ``layer3`` (1/16);
- ``layers.1`` BatchNorm of the 1/32 features, ReLU; ``layers.3`` two 3x3 convs ni -> 2ni -> ni;
- ``layers.4..7`` U-Net blocks. Each upsamples with a 1x1 conv + BatchNorm, ReLU, pixel shuffle x2,
  replication pad (left/top 1) and a 2x2 stride-1 average (the "blur"), resized with nearest
  neighbour to the skip's size if they differ (H, W that are multiples of 16 but not of 32); joins
  ReLU(cat(upsampled, BatchNorm(skip))); then 3x3 conv(s), each conv -> ReLU -> BatchNorm.
  ``video``/``stable`` ("wide", ResNet-101, nf_factor 2): one conv per block, widths 512, 512,
  512, 256. ``artistic`` ("deep", ResNet-34, nf_factor 1.5): two convs per block, widths
  768, 768, 672, 300. The second block's last conv is followed by self-attention;
- ``layers.8`` a weight-normed 1x1 conv (with bias) + ReLU + pixel shuffle x2 + the same blur (the
  vendored fastai blurs in every ``PixelShuffle_ICNR``; fastai >= 1.0.56 from PyPI would not here);
- ``layers.9`` concatenates the network's input (3 channels); ``layers.10`` a residual block of two
  3x3 convs with bias, each followed by ReLU; ``layers.11`` a 1x1 conv with bias to 3 channels;
  then ``sigmoid(x) * 6 - 3``.

Every conv except the ResNet's and ``layers.8`` is spectrally normalised
(``torch.nn.utils.spectral_norm``: ``weight_orig``, ``weight_u``, ``weight_v``; in eval mode the
weight is ``weight_orig / (u . W v)`` with the stored u, v). Self-attention (SAGAN, 1-D convs over
the flattened positions): ``f, g, h = query(x), key(x), value(x)``,
``beta = softmax(f^T g, dim=1)``, ``out = gamma * h beta + x``.

Pre/post-processing (``deoldify/filters.py``, fastai ``pred_batch``): the frame is stretched to a
render_factor*16 square (bilinear), made gray with PIL's ``convert('LA')`` (BT.601 Y' of the sRGB
values, as 3 equal channels in [0, 1]), normalised with the ImageNet mean/std; the output is
de-normalised the same way, clamped to [0, 1], resized back to the frame and only its chroma is kept
(they swap in the original's Y of YUV). :class:`DeOldify` is that gray-RGB-in, RGB-out path;
:class:`DeOldifyTransforms` gives it the frames' luma at the render size and takes the a*b* of its
colours (the colorize stage keeps the film's own luma).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from ..errors import WeightsError
from ..ops.color import rgb_to_lab
from ..weights import ModelEntry
from .public import check_public_state, read_public_state
from .transforms import Lightness

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Y_RANGE = (-3.0, 3.0)

# variant -> (decoder, ResNet depth, nf_factor, public file, DeOldify's default render_factor)
VARIANTS = {
    "video": ("wide", 101, 2.0, "ColorizeVideo_gen.pth", 21),
    "stable": ("wide", 101, 2.0, "ColorizeStable_gen.pth", 35),
    "artistic": ("deep", 34, 1.5, "ColorizeArtistic_gen.pth", 35),
}
SKIPS = (2, 4, 5, 6)   # ResNet body children whose outputs feed the decoder (relu, layer1..3)


def _conv_relu_bn(cin: int, cout: int, ks: int = 3, *, attention: bool = False) -> nn.Sequential:
    """Spectral-normed conv (no bias) -> ReLU -> BatchNorm (-> self-attention)."""
    layers = [spectral_norm(nn.Conv2d(cin, cout, ks, padding=ks // 2, bias=False)), nn.ReLU(inplace=True),
              nn.BatchNorm2d(cout)]
    if attention:
        layers.append(SelfAttention(cout))
    return nn.Sequential(*layers)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Replication pad left/top by 1, then a 2x2 stride-1 mean: the size is kept."""
    return F.avg_pool2d(F.pad(x, (1, 0, 1, 0), mode="replicate"), 2, stride=1)


class SelfAttention(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))
        self.query = spectral_norm(nn.Conv1d(channels, channels // 8, 1, bias=False))
        self.key = spectral_norm(nn.Conv1d(channels, channels // 8, 1, bias=False))
        self.value = spectral_norm(nn.Conv1d(channels, channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)
        f, g, h = self.query(flat), self.key(flat), self.value(flat)
        beta = torch.softmax(torch.bmm(f.transpose(1, 2), g), dim=1)
        return (self.gamma * torch.bmm(h, beta) + flat).view_as(x)


class ShuffleUp(nn.Module):
    """1x1 conv (+ BatchNorm) to 4x the channels, ReLU, pixel shuffle x2, blur."""

    def __init__(self, cin: int, cout: int, *, weight_norm: bool = False):
        super().__init__()
        if weight_norm:
            self.conv = nn.Sequential(WeightNormConv1x1(cin, 4 * cout))
        else:
            self.conv = nn.Sequential(spectral_norm(nn.Conv2d(cin, 4 * cout, 1, bias=False)), nn.BatchNorm2d(4 * cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _blur(F.pixel_shuffle(F.relu(self.conv(x)), 2))


class WeightNormConv1x1(nn.Module):
    """A 1x1 conv with bias whose weight is ``weight_g * weight_v / |weight_v|`` (per output
    channel), stored as ``torch.nn.utils.weight_norm`` stores it (bias, weight_g, weight_v)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        v = nn.init.kaiming_normal_(torch.empty(cout, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.weight_g = nn.Parameter(torch.linalg.vector_norm(v, dim=(1, 2, 3), keepdim=True))
        self.weight_v = nn.Parameter(v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight_v * (self.weight_g / torch.linalg.vector_norm(self.weight_v, dim=(1, 2, 3), keepdim=True))
        return F.conv2d(x, w, self.bias)


class UnetBlock(nn.Module):
    def __init__(self, up_in: int, skip_in: int, up_out: int, widths: tuple[int, ...], *, attention: bool):
        super().__init__()
        self.shuf = ShuffleUp(up_in, up_out)
        self.bn = nn.BatchNorm2d(skip_in)
        cin = up_out + skip_in
        self.wide = len(widths) == 1
        if self.wide:   # one conv, named "conv"
            self.conv = _conv_relu_bn(cin, widths[0], attention=attention)
        else:           # "deep": two, "conv1" and "conv2"
            self.conv1 = _conv_relu_bn(cin, widths[0])
            self.conv2 = _conv_relu_bn(widths[0], widths[1], attention=attention)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.shuf(x)
        if up.shape[-2:] != skip.shape[-2:]:
            up = F.interpolate(up, size=skip.shape[-2:], mode="nearest")
        y = F.relu(torch.cat([up, self.bn(skip)], 1))
        return self.conv(y) if self.wide else self.conv2(self.conv1(y))


class ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(spectral_norm(nn.Conv2d(channels, channels, 3, padding=1)), nn.ReLU(inplace=True))
            for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers[1](self.layers[0](x))


class DeOldify(nn.Module):
    """``forward(gray)``: DeOldify's image path, gray RGB in [0, 1] (B, 3, H, W), H and W multiples
    of 16 -> colour RGB in [0, 1], same size.

    With ``square`` (DeOldify's way) a non-square frame is stretched to a square of its long side
    before the network and the colours are resized back.
    """

    def __init__(self, *, variant: str = "video", square: bool = True):
        import torchvision   # imported when a model is built: it takes ~2 s to load

        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown DeOldify variant {variant!r}: choose one of {', '.join(VARIANTS)}")
        decoder, depth, nf_factor, _, _ = VARIANTS[variant]
        self.variant, self.square = variant, square
        resnet = {101: torchvision.models.resnet101, 34: torchvision.models.resnet34}[depth](weights=None)
        body = nn.Sequential(*list(resnet.children())[:-2])
        expansion = 4 if depth == 101 else 1
        skip_ch = [64, 64 * expansion, 128 * expansion, 256 * expansion][::-1]   # layer3, layer2, layer1, relu
        ni = 512 * expansion
        blocks, x = [], ni
        for i, s in enumerate(skip_ch):
            final = i == len(skip_ch) - 1
            if decoder == "wide":
                n_out = int(512 * nf_factor) // (2 if final else 1)
                up_out, widths = n_out // 2, (n_out // 2,)
            else:
                up_out = x // 2
                nf = int(((up_out + s) // (2 if final else 1)) * nf_factor)
                widths = (nf, nf)
            blocks.append(UnetBlock(x, s, up_out, widths, attention=(i == 1)))
            x = widths[-1]
        self.layers = nn.ModuleList([
            body,
            nn.BatchNorm2d(ni),
            nn.ReLU(),
            nn.Sequential(_conv_relu_bn(ni, 2 * ni), _conv_relu_bn(2 * ni, ni)),
            *blocks,
            ShuffleUp(x, x, weight_norm=True),
            nn.Identity(),                                    # fastai's MergeLayer(dense=True)
            ResBlock(x + 3),
            nn.Sequential(spectral_norm(nn.Conv2d(x + 3, 3, 1))),
        ])

    def net(self, x: torch.Tensor) -> torch.Tensor:
        """The public network: ImageNet-normalised RGB (B, 3, H, W) -> normalised RGB in (-3, 3)."""
        body, bn, _, middle, *blocks, up, _, res, head = self.layers
        skips, y = [], x
        for i, layer in enumerate(body):
            y = layer(y)
            if i in SKIPS:
                skips.append(y)
        y = middle(F.relu(bn(y)))
        for block, skip in zip(blocks, reversed(skips)):
            y = block(y, skip)
        y = res(torch.cat([up(y), x], 1))
        lo, hi = Y_RANGE
        return torch.sigmoid(head(y)) * (hi - lo) + lo

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        """DeOldify's image path: gray RGB in [0, 1] (B, 3, H, W) -> colour RGB in [0, 1], same size."""
        h, w = gray.shape[-2:]
        if self.square and h != w:
            side = max(h, w)
            gray = F.interpolate(gray, size=(side, side), mode="bilinear", align_corners=False)
        mean = gray.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = gray.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        rgb = (self.net((gray - mean) / std) * std + mean).clamp(0, 1)
        if rgb.shape[-2:] != (h, w):
            rgb = F.interpolate(rgb, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
        return rgb


def deoldify(*, variant: str = "video", square: bool = True,
             weights: dict[str, torch.Tensor] | None = None) -> DeOldify:
    """A DeOldify generator (``video``, ``stable`` or ``artistic``); ``weights`` (a state dict,
    e.g. from :func:`convert_deoldify`) is loaded strictly."""
    net = DeOldify(variant=variant, square=square)
    if weights is not None:
        net.load_state_dict(weights, strict=True)
    return net


def reference_state(variant: str) -> dict[str, torch.Tensor]:
    """The variant's state dict with the right keys and shapes but no data (meta tensors)."""
    with torch.device("meta"):
        return DeOldify(variant=variant).state_dict()


def convert_deoldify(path: str | Path, *, variant: str | None = None) -> dict[str, torch.Tensor]:
    """A user's ``Colorize*_gen.pth`` (fastai save, bare or ``{'model': ..., 'opt': ...}``) -> a
    state dict that :class:`DeOldify` of that variant loads strictly, ready for safetensors.
    Without ``variant`` the file's backbone picks it (ResNet-101: video/stable, ResNet-34:
    artistic). Raises :class:`WeightsError` (refused pickle, wrong keys or shapes)."""
    state = read_public_state(path, "DeOldify", container_key="model")
    if variant is None:   # only ResNet-101's bottleneck blocks have a conv3
        variant = "video" if "layers.0.4.0.conv3.weight" in state else "artistic"
    if variant not in VARIANTS:
        raise WeightsError(f"unknown DeOldify variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    _, depth, _, file, _ = VARIANTS[variant]
    return check_public_state(state, reference_state(variant), path, f"DeOldify {variant} (ResNet-{depth}, {file})")


@dataclass(frozen=True)
class DeOldifyTransforms(Lightness):
    """In: the frames' luma Y' at the render size as a gray sRGB picture (3 equal channels, as PIL's
    ``convert('LA')``); out: the a*b* of the network's colours."""

    def pre(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.gray(rgb).expand(-1, 3, -1, -1)

    def post(self, out: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        return rgb_to_lab(out.float())[:, 1:]


# `oldfilm models pull deoldify-video`, or `oldfilm models import NAME FILE`
MODELS = [ModelEntry(
    name=f"deoldify-{variant}", task="colorize", builder=deoldify, file=f"deoldify-{variant}.safetensors",
    license="MIT (code and weights, as the DeOldify README states)",
    source=f"https://github.com/jantic/DeOldify ({file}, its README's completed generator weights, "
    f"ResNet-{depth} DynamicUnet by Jason Antic; install with `oldfilm models import deoldify-{variant} {file}`)",
    config={"variant": variant}, convert=partial(convert_deoldify, variant=variant),
    transforms=DeOldifyTransforms(render_size=factor * 16),   # DeOldify's default render_factor x 16 (visualize.py)
    url={"stable": f"https://www.dropbox.com/s/axsd2g85uyixaho/{file}?dl=1"}.get(
        variant, f"https://data.deepai.org/deoldify/{file}"),
) for variant, (_, depth, _, file, factor) in VARIANTS.items()]
