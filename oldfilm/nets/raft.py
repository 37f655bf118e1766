"""RAFT optical flow (Teed & Deng 2020) with torchvision's architecture and weight files.

Weights: torchvision's ``raft_small_C_T_V2-01064c6d.pth`` and ``raft_large_C_T_V2-1bb1363a.pth``
(BSD-3-Clause, trained on FlyingChairs + FlyingThings3D), plain state dicts of
``torchvision.models.optical_flow.raft_small()`` / ``raft_large()``; :func:`convert_raft` reads one
safely (``weights_only=True``) and checks every key and shape.

Pre/post-processing as torchvision's ``OpticalFlow`` transforms: frames in [0, 1] become
``2x - 1`` (mean 0.5, std 0.5), three channels; sizes are padded (edge values, right and bottom)
to multiples of 8 and at least 128, which RAFT needs (its correlation pyramid); the last of the
``iters`` refinements is the flow, cropped back.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..weights import ModelEntry
from .public import load_public_state


class RAFTFlow(nn.Module):
    """``forward(a, b)``: frames (B, 1 or 3, H, W) in [0, 1] -> flow (B, 2, H, W) in pixels from
    ``a`` to ``b`` (channel 0 = x): ``a(p) ~ b(p + flow(p))``, the convention of :mod:`oldfilm.ops.flow`."""

    def __init__(self, *, size: str = "small", iters: int = 12):
        super().__init__()
        if size not in ("small", "large"):
            raise ValueError(f"RAFT size must be small or large, not {size!r}")
        from torchvision.models import optical_flow   # imported when built: torchvision takes ~2 s to load

        self.raft = getattr(optical_flow, f"raft_{size}")(weights=None, progress=False)
        self.iters = iters

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h, w = a.shape[-2:]
        pad = (0, max(128, w + (-w) % 8) - w, 0, max(128, h + (-h) % 8) - h)
        a, b = (F.pad(x.expand(-1, 3, -1, -1), pad, mode="replicate") * 2 - 1 for x in (a, b))
        return self.raft(a.contiguous(), b.contiguous(), num_flow_updates=self.iters)[-1][..., :h, :w]


def raft(*, size: str = "small", iters: int = 12) -> RAFTFlow:
    return RAFTFlow(size=size, iters=iters)


def convert_raft(path: str | Path, size: str) -> dict[str, torch.Tensor]:
    """torchvision's RAFT ``.pth`` (a plain state dict) -> the state dict of :class:`RAFTFlow`."""
    ref = {k.removeprefix("raft."): v for k, v in RAFTFlow(size=size).state_dict().items()}
    state = load_public_state(path, ref, f"torchvision RAFT-{size}")
    return {f"raft.{k}": v for k, v in state.items()}


# torchvision's files (`oldfilm models pull raft-small`); the flow's pre/post-processing is in forward
MODELS = [ModelEntry(
    name=f"raft-{size}", task="flow", builder=raft, file=f"raft-{size}.safetensors", license="BSD-3-Clause",
    source=f"torchvision Raft_{size.title()}_Weights.C_T_V2 ({file}, Teed & Deng 2020, trained on "
    f"FlyingChairs + FlyingThings3D; install with `oldfilm models pull raft-{size}`)",
    config={"size": size}, convert=partial(convert_raft, size=size),
    url=f"https://download.pytorch.org/models/{file}", sha256=file.rsplit("-", 1)[1].removesuffix(".pth"),
    metrics=f"Sintel train EPE clean {clean} / final {final} (torchvision's figures)",
) for size, file, clean, final in (("small", "raft_small_C_T_V2-01064c6d.pth", "1.99", "3.28"),
                                   ("large", "raft_large_C_T_V2-1bb1363a.pth", "1.38", "2.72"))]
