"""What the training commands share: checkpoints, resume and the frozen VGG16 trunk."""
from __future__ import annotations

from pathlib import Path

import click
import torch

from oldfilm.errors import WeightsError
from oldfilm.nets.vgg16 import VGG16, vgg16
from oldfilm.train.loop import checkpoints, save_checkpoint  # noqa: F401  (the trainers not yet on the loop)


def resume(ckdir: Path, parts: dict, config: dict, same: tuple[str, ...] = ()) -> tuple[int, float]:
    """Restore ``parts`` (snapshot key -> module or optimizer) from the newest checkpoint in
    ``ckdir`` and return its (step, train_seconds); (0, 0.0) when there is none. A checkpoint
    whose config differs from ``config`` in a key of ``same`` is refused."""
    ckpts = checkpoints(ckdir)
    if not ckpts:
        return 0, 0.0
    state = torch.load(ckpts[-1], map_location="cpu", weights_only=True)
    differ = ", ".join(f"{k}={state['config'].get(k)}" for k in same if state["config"].get(k) != config.get(k))
    if differ:
        raise click.UsageError(f"checkpoint {ckpts[-1]} was made with {differ}; use another --checkpoint-dir "
                               f"or delete it")
    for key, part in parts.items():
        part.load_state_dict(state[key])
    click.echo(f"resuming from {ckpts[-1]} (step {state['step']})", err=True)
    return state["step"], state["train_seconds"]


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
