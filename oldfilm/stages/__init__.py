"""Pipeline stages: one file each, all speaking the small protocol of :class:`Stage`."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Frames:
    """A batch in film order: the picture so far and the decoded film frames it came from.

    Both are ``(B, 3, H, W)`` float RGB in [0, 1] on the pipeline's device. ``source`` travels
    unchanged through the stages, so a stage late in the chain (stabilize after cartoonize) still
    sees the original film, e.g. to compute motion on it. ``index``: the film's frame number of
    the first frame (also in a chunk of a batch run).
    """

    rgb: torch.Tensor
    source: torch.Tensor
    index: int = 0   # the film's frame number of the first frame (stages that hold frames keep it)

    def __len__(self) -> int:
        return len(self.rgb)

    def __getitem__(self, index: slice) -> "Frames":
        return Frames(self.rgb[index], self.source[index], self.index + index.indices(len(self))[0])

    def with_rgb(self, rgb: torch.Tensor) -> "Frames":
        """The same frames with a new picture (what a stage returns)."""
        return Frames(rgb, self.source, self.index)

    @staticmethod
    def cat(parts: list["Frames"]) -> "Frames":
        return Frames(torch.cat([p.rgb for p in parts]), torch.cat([p.source for p in parts]), parts[0].index)


class Stage:
    """A step of the pipeline working on batches of :class:`Frames`.

    ``process`` may hold frames back (a temporal stage that looks ahead) and return fewer than it
    was given, or None; ``flush`` returns what it still holds. At a scene cut the pipeline calls
    ``flush`` then ``reset``; at the end of the film, ``flush``.
    """

    name = "stage"
    # frames a chunk of a batch run that starts (ends) inside a shot must process before (after) its
    # own so that its output is that of an unbroken run; None before: the shot from its start
    warmup: int | None = 0
    lookahead: int = 0

    def to(self, device: torch.device) -> "Stage":
        """Move the stage's modules and tensors to ``device``."""
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                value.to(device)
        return self

    def prepare(self, info) -> None:
        """Told about the film (a :class:`~oldfilm.video.VideoInfo`) before its first frame: check
        inputs that depend on it and raise BadInput before anything is written."""

    def process(self, frames: Frames) -> Frames | None:
        raise NotImplementedError

    def decode_filters(self, info) -> list[tuple[str, dict]]:
        """ffmpeg filters (name, options) this stage wants applied as the film is decoded, before
        any stage sees a frame (deinterlacing); ``info`` is the film's VideoInfo."""
        return []

    def reset(self) -> None:
        """Forget temporal state (a new scene starts)."""

    def flush(self) -> Frames | None:
        """Return frames still held back, if any."""
        return None

    def describe(self) -> str:
        return self.name

    def models(self) -> list[str]:
        """Names of the registry models this stage runs (for reports and the output's metadata)."""
        name = getattr(self, "model_name", None)
        return [name] if name else []


class Identity(Stage):
    """Passes frames through unchanged: measures the pipeline's own cost (bench/)."""

    name = "identity"

    def process(self, frames: Frames) -> Frames:
        return frames
