"""Pipeline stages: one file each, all speaking the small protocol of :class:`Stage`."""
from __future__ import annotations

import numpy as np
import torch

from ..ops.color import downsample, rgb_to_ycbcr, to_uint8, with_chroma, with_chroma_u8
from ..ops.flow import small_grays


class Frames:
    """A batch in film order: the picture so far and the decoded film frames it came from.

    Both are ``(B, 3, H, W)`` float RGB in [0, 1] on the pipeline's device. ``source`` travels
    unchanged through the stages, so a stage late in the chain (stabilize after cartoonize) still
    sees the original film, e.g. to compute motion on it. ``index``: the film's frame number of
    the first frame (also in a chunk of a batch run).

    ``chroma``: a new Cb/Cr ``(B, 2, h, w)`` at any (small) size, not yet applied: the picture is
    then the luma of the ``rgb`` given with this chroma upsampled to it. Stages that work on
    chroma (colorize, then stabilize) hand it on at their own small size, and the full-resolution
    picture is composed once, when a stage or the writer first reads :attr:`rgb`.

    :meth:`grays`: the source's small gray frames for optical flow, made once per batch and shared
    by the stages that ask for the same size (colorize carrying colour, then the stabilizer).
    """

    __slots__ = ("_rgb", "source", "index", "chroma", "_grays")

    def __init__(self, rgb: torch.Tensor, source: torch.Tensor, index: int = 0, chroma: torch.Tensor | None = None,
                 grays: dict | None = None):
        self._rgb, self.source, self.index, self.chroma = rgb, source, index, chroma
        self._grays = grays if grays is not None else {}   # size -> list of (h, w) uint8, one per frame

    @property
    def rgb(self) -> torch.Tensor:
        if self.chroma is not None:
            self._rgb, self.chroma = with_chroma(self._rgb, self.chroma), None
        return self._rgb

    def __len__(self) -> int:
        return len(self._rgb)

    def __getitem__(self, index: slice) -> "Frames":
        chroma = None if self.chroma is None else self.chroma[index]
        source = self.source[index]
        return Frames(source if self._rgb is self.source else self._rgb[index], source,
                      self.index + index.indices(len(self))[0], chroma, {k: v[index] for k, v in self._grays.items()})

    def with_rgb(self, rgb: torch.Tensor) -> "Frames":
        """The same frames with a new picture (what a stage returns)."""
        return Frames(rgb, self.source, self.index, grays=self._grays)

    def with_chroma(self, cbcr: torch.Tensor) -> "Frames":
        """The same frames with the picture's luma kept and its chroma replaced by ``cbcr``."""
        return Frames(self._rgb, self.source, self.index, cbcr, self._grays)

    def grays(self, size: int) -> list[np.ndarray]:
        """The source frames as gray uint8 at long side ``size`` (:func:`~oldfilm.ops.flow.small_grays`)."""
        if size not in self._grays:
            self._grays[size] = small_grays(self.source, size)
        return self._grays[size]

    def to_uint8(self) -> np.ndarray:
        """The picture as (B, H, W, 3) uint8 on the CPU, rounded: what the writer takes."""
        if self.chroma is not None:
            return with_chroma_u8(self._rgb, self.chroma)
        return to_uint8(self._rgb)

    def chroma_at(self, size: tuple[int, int]) -> torch.Tensor:
        """The picture's Cb/Cr at ``size`` (from the pending chroma when there is one)."""
        if self.chroma is None:
            return rgb_to_ycbcr(downsample(self._rgb.float(), size))[:, 1:]
        return downsample(self.chroma, size)

    @staticmethod
    def cat(parts: list["Frames"]) -> "Frames":
        source = torch.cat([p.source for p in parts])
        grays = {k: [g for p in parts for g in p._grays[k]] for k in set.intersection(*(set(p._grays) for p in parts))}
        sizes = {None if p.chroma is None else tuple(p.chroma.shape[-2:]) for p in parts}
        if len(sizes) == 1 and None not in sizes:   # all pending at one size: still pending
            # a picture that is still the source itself (the first stage's) is joined once, not twice
            rgb = source if all(p._rgb is p.source for p in parts) else torch.cat([p._rgb for p in parts])
            return Frames(rgb, source, parts[0].index, torch.cat([p.chroma for p in parts]), grays)
        return Frames(torch.cat([p.rgb for p in parts]), source, parts[0].index, grays=grays)


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
