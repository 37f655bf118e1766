"""Colorize: predict chroma at a small render size, keep the film's own full-resolution luma."""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from .. import weights
from ..ops.color import cbcr_to_rgb_delta, downsample, gray_lightness, lab_to_rgb, luma, rgb_to_ycbcr
from . import Frames, Stage


class Colorize(Stage):
    """Gray (or colour) frames in, colour frames out; the output's Y' equals the input's Y'.

    The model predicts a*b* at the render size (like DeOldify's render_factor: larger is sharper
    chroma but slower) through its entry's transforms; the chroma is upsampled and joined to the
    full-resolution luma.
    """

    name = "colorize"

    def __init__(self, model: str | None = None, *, render_size: int | None = None,
                 models_dir: str | None = None, net: torch.nn.Module | None = None, only_gray: bool = False,
                 colour_strength: float = 1.0):
        self.colour_strength = colour_strength   # scales the model's a*b* (0: gray)
        self.only_gray = only_gray   # pass shots that already have colour through unchanged
        self._gray_shot: bool | None = None
        self.model_name = model or weights.default("colorize")
        self.transforms = weights.get(self.model_name, "colorize").transforms
        if render_size:
            self.transforms = replace(self.transforms, render_size=render_size)
        self.net = net if net is not None else weights.load(self.model_name, models_dir=models_dir)

    @torch.inference_mode()
    def reset(self) -> None:
        self._gray_shot = None

    def process(self, frames: Frames) -> Frames:
        if self.only_gray:
            if self._gray_shot is None:   # decided once per shot, on its first frames
                self._gray_shot = bool(rgb_to_ycbcr(frames.rgb[:1].float())[:, 1:].abs().mean() < 0.01)
            if not self._gray_shot:
                return frames
        return Frames(self.colorize(frames.rgb), frames.source)

    def colorize(self, rgb: torch.Tensor) -> torch.Tensor:
        h, w = rgb.shape[-2:]
        with torch.autocast(rgb.device.type, enabled=False):   # colour maths in fp32 always
            x = self.transforms.pre(rgb.float())
        out = self.net(x)                                        # the network under the pipeline's precision
        with torch.autocast(rgb.device.type, enabled=False):
            ab = self.transforms.post(out, rgb).float()
            L = gray_lightness(downsample(luma(rgb.float()), ab.shape[-2:]))
            # no chroma at the ends of the lightness range (the model's blobs in blown highlights)
            ab = ab * (self.colour_strength * ((100 - L) / 8).clamp(0, 1) * (L / 8).clamp(0, 1))
            cbcr = rgb_to_ycbcr(lab_to_rgb(torch.cat([L, ab], 1)))[:, 1:]
            cbcr = F.interpolate(cbcr, size=(h, w), mode="bilinear", align_corners=False)
            return (rgb.float() + cbcr_to_rgb_delta(cbcr - rgb_to_ycbcr(rgb.float())[:, 1:])).clamp(0, 1)

    @property
    def render_size(self) -> int:
        return self.transforms.render_size

    def describe(self) -> str:
        strength = f", colour_strength={self.colour_strength:g}" if self.colour_strength != 1 else ""
        return f"colorize(model={self.model_name}, render_size={self.render_size}{strength})"
