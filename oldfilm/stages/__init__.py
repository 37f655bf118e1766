"""Pipeline stages: one file each, all speaking the small protocol of :class:`Stage`."""
from __future__ import annotations

import torch


class Stage:
    """A step of the pipeline working on batches of frames.

    Frames are ``(B, 3, H, W)`` float RGB tensors in [0, 1] on the pipeline's device, in film order.
    ``process`` may hold frames back (a temporal stage that looks ahead) and return fewer than it
    was given; ``flush`` returns what it still holds. At a scene cut the pipeline calls ``flush``
    then ``reset``; at the end of the film, ``flush``.
    """

    name = "stage"

    def to(self, device: torch.device) -> "Stage":
        """Move the stage's modules and tensors to ``device``."""
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                value.to(device)
        return self

    def process(self, frames: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget temporal state (a new scene starts)."""

    def flush(self) -> torch.Tensor | None:
        """Return frames still held back, if any."""
        return None

    def describe(self) -> str:
        return self.name


class Identity(Stage):
    """Passes frames through unchanged: measures the pipeline's own cost (bench/)."""

    name = "identity"

    def process(self, frames: torch.Tensor) -> torch.Tensor:
        return frames
