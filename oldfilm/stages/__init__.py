"""Pipeline stages: one file each, all speaking the small protocol of :class:`Stage`."""
from __future__ import annotations

import numpy as np
import torch

from ..ops.color import compose_u8, downsample, luma_u8, rgb_to_ycbcr, to_uint8, with_chroma, with_chroma_u8
from ..ops.flow import shrink_gray, small_grays


def to_tensor(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """A decoded ``(B, H, W, 3)`` uint8 batch as ``(B, 3, H, W)`` float RGB in [0, 1] on ``device``."""
    t = torch.from_numpy(batch)
    if device.type == "cuda":
        t = t.pin_memory().to(device, non_blocking=True)
    return t.to(device).permute(0, 3, 1, 2).float().mul_(1 / 255)


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

    :meth:`decoded`: frames of a decoded uint8 batch, made float on the device only when a stage
    first reads :attr:`source` or :attr:`rgb`. While the picture is still the decoded one,
    :meth:`to_uint8` hands the decoded bytes back (a stage that changes nothing costs no
    conversion either way), and on the CPU the source's luma, the small grays and a pending
    chroma's composition are taken from the bytes (:func:`~oldfilm.ops.color.luma_u8`): a chain
    that only hands chroma on (colorize, then stabilize) never makes the float picture.

    :meth:`grays`: the source's small gray frames for optical flow, made once per batch and shared
    by the stages that ask for the same size (colorize carrying colour, then the stabilizer).
    """

    __slots__ = ("_rgb", "_source", "index", "chroma", "_grays", "_u8", "_device", "_luma")

    def __init__(self, rgb: torch.Tensor, source: torch.Tensor, index: int = 0, chroma: torch.Tensor | None = None,
                 grays: dict | None = None):
        self._rgb, self._source, self.index, self.chroma = rgb, source, index, chroma
        self._grays = grays if grays is not None else {}   # size -> list of (h, w) uint8, one per frame
        # the decoded batch the source is made from (kept while the Frames are), and its luma
        self._u8, self._device, self._luma = None, None, None

    @classmethod
    def decoded(cls, batch: np.ndarray, device: torch.device, index: int = 0, chroma: torch.Tensor | None = None,
                grays: dict | None = None, luma: np.ndarray | None = None) -> "Frames":
        """The frames of a decoded ``(B, H, W, 3)`` uint8 batch whose picture is still the source;
        ``luma``: its :meth:`decoded_luma` when already made."""
        frames = cls(None, None, index, chroma, grays)
        frames._u8, frames._device, frames._luma = batch, device, luma
        return frames

    @property
    def source(self) -> torch.Tensor:
        if self._source is None:   # made once, when first read
            self._source = to_tensor(self._u8, self._device)
        return self._source

    @property
    def rgb(self) -> torch.Tensor:
        if self.chroma is not None:
            self._rgb, self.chroma = with_chroma(self._picture(), self.chroma), None
        return self._picture()

    @property
    def device(self) -> torch.device:
        return self._device if self._source is None else self._source.device

    @property
    def size(self) -> tuple[int, int]:
        """The frames' height and width."""
        return tuple(self._u8.shape[1:3] if self._source is None else self._source.shape[-2:])

    def _picture(self) -> torch.Tensor:
        return self.source if self._rgb is None else self._rgb

    def is_source(self) -> bool:
        """The picture is the source itself (a pending chroma aside)."""
        return self._rgb is None or self._rgb is self._source

    def _bytes(self) -> bool:
        """The source's luma comes from the decoded bytes (on the CPU)."""
        return self._u8 is not None and self._device.type == "cpu"

    def __len__(self) -> int:
        return len(self._u8 if self._source is None else self._source)

    def _part(self, index: slice | None, rgb, chroma) -> "Frames":
        """These frames (``index``: a slice of them, or None for all) with picture ``rgb`` and ``chroma``."""
        cut = (lambda x: x) if index is None else (lambda x: None if x is None else x[index])
        first = self.index + (0 if index is None else index.indices(len(self))[0])
        grays = self._grays if index is None else {k: v[index] for k, v in self._grays.items()}
        out = Frames(rgb, cut(self._source), first, chroma, grays)
        out._u8, out._device, out._luma = cut(self._u8), self._device, cut(self._luma)
        return out

    def __getitem__(self, index: slice) -> "Frames":
        rgb = None if self.is_source() else self._rgb[index]
        return self._part(index, rgb, None if self.chroma is None else self.chroma[index])

    def with_rgb(self, rgb: torch.Tensor) -> "Frames":
        """The same frames with a new picture (what a stage returns)."""
        return self._part(None, rgb, None)

    def with_chroma(self, cbcr: torch.Tensor) -> "Frames":
        """The same frames with the picture's luma kept and its chroma replaced by ``cbcr``."""
        return self._part(None, None if self.is_source() else self._rgb, cbcr)

    def _y255(self) -> np.ndarray:
        """The source's Y' (B, H, W) float32 on a 0-255 scale, from the decoded bytes."""
        if self._luma is None:
            self._luma = luma_u8(self._u8)
        return self._luma

    def decoded_luma(self) -> np.ndarray | None:
        """The source's Y' (B, H, W) float32 on a 0-255 scale from the decoded bytes (made once),
        or None where there are none on the CPU."""
        return self._y255() if self._bytes() else None

    def grays(self, size: int) -> list[np.ndarray]:
        """The source frames as gray uint8 at long side ``size`` (:func:`~oldfilm.ops.flow.small_grays`)."""
        if size not in self._grays:
            self._grays[size] = (shrink_gray(torch.from_numpy(self._y255())[:, None], size) if self._bytes()
                                 else small_grays(self.source, size))
        return self._grays[size]

    def to_uint8(self) -> np.ndarray:
        """The picture as (B, H, W, 3) uint8 on the CPU, rounded: what the writer takes."""
        if self._u8 is not None and self.is_source():
            if self.chroma is None:
                return self._u8   # still the decoded frames: exactly their bytes
            if self._bytes():
                return compose_u8(self._y255(), self.chroma)
        if self.chroma is not None:
            return with_chroma_u8(self._picture(), self.chroma)
        return to_uint8(self._picture())

    def chroma_at(self, size: tuple[int, int]) -> torch.Tensor:
        """The picture's Cb/Cr at ``size`` (from the pending chroma when there is one)."""
        if self.chroma is None:
            return rgb_to_ycbcr(downsample(self._picture().float(), size))[:, 1:]
        return downsample(self.chroma, size)

    @staticmethod
    def cat(parts: list["Frames"]) -> "Frames":
        grays = {k: [g for p in parts for g in p._grays[k]] for k in set.intersection(*(set(p._grays) for p in parts))}
        sizes = {None if p.chroma is None else tuple(p.chroma.shape[-2:]) for p in parts}
        chroma = torch.cat([p.chroma for p in parts]) if len(sizes) == 1 and None not in sizes else None
        if all(p._u8 is not None and p.is_source() for p in parts) and (chroma is not None or sizes == {None}):
            # the source's bytes joined (a float source is made again only if a stage reads it)
            out = Frames.decoded(np.concatenate([p._u8 for p in parts]), parts[0]._device, parts[0].index, chroma, grays)
            if all(p._luma is not None for p in parts):
                out._luma = np.concatenate([p._luma for p in parts])
            return out
        source = torch.cat([p.source for p in parts])
        if chroma is not None:   # all pending at one size: still pending
            # a picture that is still the source itself (the first stage's) is joined once, not twice
            rgb = source if all(p.is_source() for p in parts) else torch.cat([p._picture() for p in parts])
            return Frames(rgb, source, parts[0].index, chroma, grays)
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
