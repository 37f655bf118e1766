"""What the training commands share: checkpoints (resume) and the frozen VGG16 trunk."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from oldfilm.errors import WeightsError
from oldfilm.nets.vgg16 import VGG16, vgg16


def checkpoints(ckdir: Path) -> list[Path]:
    """The checkpoints in ``ckdir``, oldest first."""
    return sorted(ckdir.glob("ckpt-*.pt"))


def save_checkpoint(ckdir: Path, state: dict, keep: int = 2) -> Path:
    """Write ``state`` (with a ``step``) atomically; keep only the newest ``keep``."""
    ckdir.mkdir(parents=True, exist_ok=True)
    path = ckdir / f"ckpt-{state['step']:07d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    for old in checkpoints(ckdir)[:-keep]:
        old.unlink()
    return path


def load_vgg(path: Path) -> VGG16:
    """The frozen VGG16 trunk made by ``oldfilm train convert-hed``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as e:
        raise WeightsError(f"{path} is not a readable safetensors file ({e}); make it with "
                           f"`oldfilm train convert-hed`") from None
    model = vgg16()
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path} is not a VGG16 trunk made by `oldfilm train convert-hed`") from e
    return model.eval().requires_grad_(False)
