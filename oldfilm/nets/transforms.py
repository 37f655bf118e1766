"""What a model sees and what it gives back: the input/output transforms a registry entry carries.

A stage runs a model as ``post(net(pre(rgb)), rgb)`` and never asks which family it is:

- ``pre(rgb) -> x``: the frames (sRGB in [0, 1], (B, 3, H, W), fp32) as the network takes them:
  colour order, value range, size (``render_size``: the long side the network sees; sides rounded
  to ``size_multiple``);
- ``post(out, rgb)``: the network's output back in the stage's terms, given the frames it came from.
  A **colorizer**'s ``post`` gives CIE a*b* (B, 2, h, w) at its render size (the stage joins that
  chroma to the film's own full-resolution luma); a **cartoonizer**'s gives RGB in [0, 1] at the
  frames' size.

Stages run ``pre`` and ``post`` in fp32 (autocast off) and only the network under the pipeline's
precision. A model with other conventions gets its own small subclass next to its builder (see
``nets/deoldify.py``, ``nets/cartoongan.py``); one that ``replace(t, render_size=...)`` fits is
configured with the stage's ``--render-size``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..ops.color import downsample, gray_lightness, luma


@dataclass(frozen=True)
class Transforms:
    """The identity: the network takes the frames as they are and returns the stage's result."""

    def pre(self, rgb: torch.Tensor) -> torch.Tensor:
        return rgb

    def post(self, out: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        return out


@dataclass(frozen=True)
class Lightness(Transforms):
    """oldfilm's colorizer contract (colornet, vggcolor, Zhang et al.): CIE L* in [0, 100]
    (B, 1, h, w) of the frames' BT.601 luma at the render size in; a*b* (B, 2, h, w) out."""

    render_size: int = 256   # long side the network sees (aspect kept), like DeOldify's render_factor
    size_multiple: int = 16

    def dims(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) the network sees: long side ``render_size``, aspect kept, multiples of ``size_multiple``."""
        m, scale = self.size_multiple, self.render_size / max(height, width)
        return max(m, round(height * scale / m) * m), max(m, round(width * scale / m) * m)

    def gray(self, rgb: torch.Tensor) -> torch.Tensor:
        """The frames' luma Y' (B, 1, h, w) at the render size."""
        return downsample(luma(rgb), self.dims(*rgb.shape[-2:]))

    def pre(self, rgb: torch.Tensor) -> torch.Tensor:
        return gray_lightness(self.gray(rgb))


def resize_like(out: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    """A picture (B, 3, h, w) back to the frames' size, in [0, 1]."""
    return F.interpolate(out.float(), size=rgb.shape[-2:], mode="bilinear", align_corners=False).clamp(0, 1)
