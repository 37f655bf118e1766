"""Cartoonize: turn (colour) frames into an animated-film look in an artist's style.

The default stylizer needs no learned weights and runs in batches on any device: edge-preserving
smoothing (guided filter), flat shading (luma bands) and a colour palette, both fixed per shot so
they do not flicker, ink lines (XDoG), and a per-style look. A public generator (CartoonGAN,
AnimeGANv2) is used instead when its weights are installed and chosen with ``model``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..ops.color import downsample, luma, rgb_to_ycbcr, ycbcr_to_rgb
from ..ops.filters import gaussian_blur, guided_filter, ink_lines, kmeans
from .. import weights
from ..errors import BadInput
from . import Frames, Stage


@dataclass(frozen=True)
class Style:
    description: str
    radius: int            # smoothing window (at half resolution)
    eps: float             # smoothing edge sensitivity: larger is flatter
    levels: int            # luma bands of flat shading
    flatness: float        # 0 keeps the shading gradients, 1 is pure bands
    palette: int           # colours in the per-shot chroma palette
    saturation: float
    warmth: float          # + towards red/yellow, - towards blue
    contrast: float
    gamma: float
    bloom: float           # glow around highlights
    sky: float             # push bright blue areas towards saturated cyan
    ink: float             # line opacity
    ink_colour: tuple[float, float, float]
    line_sigma: float


STYLES = {
    "shinkai": Style("Makoto Shinkai: saturated cyan skies, bright highlights with a soft bloom, clean thin "
                     "dark-blue lines, crisp detailed light", 2, 0.004, 7, 0.55, 12, 1.4, -0.015, 1.08, 0.9,
                     0.45, 0.9, 0.55, (0.08, 0.10, 0.22), 0.9),
    "hayao": Style("Hayao Miyazaki (Ghibli): warm, soft watercolour fills, gentle contrast, light brown "
                   "pencil-like lines", 3, 0.01, 9, 0.45, 14, 1.1, 0.05, 0.92, 0.95, 0.12, 0.25, 0.35,
                   (0.28, 0.18, 0.10), 1.3),
    "hosoda": Style("Mamoru Hosoda: clean flat fills with few tones, neutral colour, crisp black outlines",
                    3, 0.008, 5, 0.8, 10, 1.15, 0.0, 1.05, 1.0, 0.0, 0.2, 0.9, (0.04, 0.04, 0.05), 0.8),
    "paprika": Style("Satoshi Kon (Paprika): high contrast, vivid saturated colour, bold dark lines",
                     2, 0.005, 7, 0.6, 12, 1.65, 0.02, 1.25, 0.95, 0.15, 0.3, 0.75, (0.06, 0.02, 0.08), 1.0),
}


def _soft_bands(y: torch.Tensor, bounds: torch.Tensor, centres: torch.Tensor, width: float = 0.015) -> torch.Tensor:
    """Map luma to band centres with smooth steps at the band bounds (no flicker at the edges)."""
    out = centres[0] + torch.zeros_like(y)
    for b, lo, hi in zip(bounds, centres[:-1], centres[1:]):
        out = out + (hi - lo) * torch.sigmoid((y - b) / width)
    return out


class Cartoonize(Stage):
    name = "cartoonize"
    warmup = None   # shading bands and palette are fitted on the shot's first frame

    def __init__(self, style: str = "shinkai", *, model: str | None = None, models_dir: str | None = None):
        if style not in STYLES:
            raise BadInput(f"unknown style {style!r}: choose one of {', '.join(STYLES)} (see --list-styles)")
        self.style_name, self.style = style, STYLES[style]
        self.model_name, self.net = model, None
        if model is not None:
            self.entry = weights.get(model, "cartoonize")
            self.net = weights.load(model, models_dir=models_dir)
        self.reset()

    def reset(self) -> None:
        self._bands = None     # (bounds, centres) of luma, fixed for the shot
        self._palette = None   # (K, 2) CbCr centres, fixed for the shot

    def _fit_shot(self, ycc: torch.Tensor) -> None:
        s = self.style
        y = ycc[:, 0].flatten()
        step = max(1, y.numel() // 20000)
        sample = y[::step].float().sort().values
        q = torch.linspace(0, 1, s.levels + 1, device=y.device)
        edges = sample[(q * (len(sample) - 1)).round().long()]
        centres = torch.stack([sample[(sample >= a) & (sample <= b)].mean() if ((sample >= a) & (sample <= b)).any()
                               else (a + b) / 2 for a, b in zip(edges[:-1], edges[1:])])
        self._bands = ((edges[1:-1] + 0) , centres)
        cbcr = ycc[:, 1:].permute(0, 2, 3, 1).reshape(-1, 2)[::step].float()
        self._palette = kmeans(cbcr.cpu(), s.palette).to(ycc.device)

    def process(self, frames: Frames) -> Frames:
        if self.net is not None:
            return frames.with_rgb(self.generate(frames.rgb.float()))
        return frames.with_rgb(self.stylize(frames.rgb.float()))

    @torch.inference_mode()
    def generate(self, rgb: torch.Tensor) -> torch.Tensor:
        """Run a public generator with its own conventions (its entry's transforms), at full size."""
        t = self.entry.transforms
        return t.post(self.net(t.pre(rgb)), rgb)

    def stylize(self, rgb: torch.Tensor) -> torch.Tensor:
        # a few frames at a time: the filters' many full-size intermediates then stay small
        # (at 1080p a whole batch of them is gigabytes and runs at memory speed)
        step = max(1, 1_200_000 // (rgb.shape[-2] * rgb.shape[-1]))
        with torch.autocast(rgb.device.type, enabled=False):   # filters and colour maths in fp32
            return torch.cat([self._stylize(rgb[i:i + step].float()) for i in range(0, len(rgb), step)])

    def _stylize(self, rgb: torch.Tensor) -> torch.Tensor:
        s = self.style
        h, w = rgb.shape[-2:]
        half = downsample(rgb, (h // 2, w // 2)) if min(h, w) >= 64 else rgb
        smooth = guided_filter(luma(half), half, s.radius, s.eps)
        smooth = guided_filter(luma(smooth), smooth, s.radius, s.eps)
        ycc = rgb_to_ycbcr(smooth.clamp(0, 1))
        guide_s = ycc[:, :1]
        if self._bands is None:   # fit on the shot's first frame: the same whatever the batching
            self._fit_shot(ycc[:1])
        y, cbcr = ycc[:, :1], ycc[:, 1:]
        bounds, centres = self._bands
        y = s.flatness * _soft_bands(y, bounds, centres) + (1 - s.flatness) * y
        # pull chroma towards the shot's palette (soft assignment: no hard jumps between frames)
        pal = self._palette                                            # (K, 2)
        flat = cbcr.flatten(2).transpose(1, 2)                          # (B, N, 2)
        d2 = (flat ** 2).sum(-1, keepdim=True) - 2 * flat @ pal.T + (pal ** 2).sum(-1)
        snapped = (torch.softmax(-d2 / 0.0008, dim=-1) @ pal).transpose(1, 2).view_as(cbcr)
        cbcr = 0.6 * snapped + 0.4 * cbcr
        # the style's look
        y = ((y - 0.5) * s.contrast + 0.5).clamp(1e-4, 1) ** s.gamma
        cbcr = cbcr * s.saturation + torch.tensor([-s.warmth, s.warmth], device=y.device).view(1, 2, 1, 1)
        if s.sky:
            sky = torch.sigmoid((cbcr[:, :1] - 0.02) / 0.02) * torch.sigmoid((y - 0.45) / 0.06)
            cbcr = cbcr + s.sky * sky * torch.tensor([0.08, -0.05], device=y.device).view(1, 2, 1, 1)
            y = y + 0.05 * s.sky * sky
        if s.bloom:
            glow = gaussian_blur(downsample((y - 0.7).clamp(min=0), (y.shape[-2] // 4, y.shape[-1] // 4)), 2.0)
            y = y + s.bloom * F.interpolate(glow, size=y.shape[-2:], mode="bilinear", align_corners=False)
        out = ycbcr_to_rgb(torch.cat([y.clamp(0, 1), cbcr.clamp(-0.5, 0.5)], 1))
        # back to full size along the film's own edges (guided upsampling keeps outlines crisp)
        full_y = luma(rgb)
        out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        out = guided_filter(full_y, out, 2, 1e-3)
        # ink on the dark side of the edges of the smoothed picture: outlines, not grain
        edges = F.interpolate(guide_s, size=(h, w), mode="bilinear", align_corners=False)
        ink = s.ink * ink_lines(0.5 * edges + 0.5 * full_y, sigma=s.line_sigma)
        colour = torch.tensor(s.ink_colour, device=rgb.device).view(1, 3, 1, 1)
        return (out * (1 - ink) + colour * ink).clamp(0, 1)

    def describe(self) -> str:
        return f"cartoonize(model={self.model_name})" if self.net is not None else f"cartoonize(style={self.style_name})"
