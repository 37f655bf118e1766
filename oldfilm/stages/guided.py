"""Guided colorization: the user's keyframes (whole coloured frames or hint images) carried
through each shot along the film's motion (:mod:`oldfilm.ops.propagate`); shots without a
keyframe get the automatic colorizer.

Work happens at a small working size (chroma is smooth) on the film's gray frames; the chroma is
upsampled bilinearly under the film's own full-size luma, which is always kept (a keyframe's own
frame gets the keyframe's chroma at full size). A keyframe's
colour travels forward from it, and backward to the frames before it: for that the stage holds
frames back until the keyframe arrives (``process`` returns fewer frames than it got), at most
``hold_mb`` of them, so memory stays bounded; frames farther ahead of their keyframe than that
get the forward colour alone. Nothing crosses a scene cut: the pipeline flushes and resets.
Each batch is carried on the stage's worker thread while the caller goes on with the batch before
(``process`` hands back the previous call's frames; ``flush`` the rest).
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from .. import keyframes as kf
from ..errors import BadInput
from ..ops.color import downsample, lab_to_rgb, luma, rgb_to_lab, rgb_to_ycbcr
from ..ops.flow import DISFlow
from ..ops.propagate import Chroma, Track, merge, pull_to_hints
from . import Frames, Stage, to_tensor
from .colorize import Colorize
from .stabilize import work_dims


@contextmanager
def one_thread():
    """torch on one thread for the carry's small working-size ops, restored after: on two threads
    OpenMP spun for about half their CPU and took the core from the flow's workers (--keyframes'
    process CPU 10.5-12.7 -> 9.0 s on the speed clip, output the same to the byte; bench/README.md)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class GuidedColorize(Stage):
    """``keyframes``: a folder of keyframe images (see :mod:`oldfilm.keyframes`); ``model`` etc.:
    the automatic colorizer for shots without one."""

    name = "colorize"
    blend_floor = 0.2   # a direction's confidence counts for at least this in the blend (ops.propagate.merge)
    warmup = None   # a shot's keyframes are carried from wherever they are in it: replay the shot

    def __init__(self, keyframes: str | Path, *, model: str | None = None, render_size: int | None = None,
                 models_dir: str | None = None, colour_strength: float = 1.0, work_size: int = 256,
                 hold_mb: int = 1024, preset: str = "medium", reference=None, flow=None,
                 direct_preset: str = "lean"):
        self.folder = Path(keyframes)
        self.paths = kf.find(self.folder)
        self.auto = Colorize(model, render_size=render_size, models_dir=models_dir, colour_strength=colour_strength,
                             reference=reference)
        self.model_name = self.auto.model_name
        self.work_size, self.hold_mb = work_size, hold_mb
        # ``flow``: shared with the stabilizer after this stage (as colorize does), so each pair of
        # frames is computed once, on its worker threads
        self.flow = flow if flow is not None else DISFlow(preset)
        # each frame's straight match to its keyframe (used only where the frame-to-frame chain lost
        # track): its own flow, DIS at the "lean" settings (0.39x medium's cost, the same scores),
        # its trust on its workers
        self.direct_flow = DISFlow(direct_preset, trust_sigma=Track.SIGMA)
        self._keys: dict[int, kf.Keyframe] = {}
        self._info = None
        self.reset()

    def to(self, device: torch.device) -> "GuidedColorize":
        self.auto.to(device)
        return self

    def prepare(self, info) -> None:
        """Every keyframe read and checked against the film (size, frame numbers, colour)."""
        self._info = info
        self._keys = {n: kf.load(p, n, info.width, info.height, info.frames) for n, p in sorted(self.paths.items())}
        # the held frames' flows stay for the stabilizer after this stage (else it computes them again)
        self.flow.remember(self._hold_limit(info.height, info.width) + 128)

    def reset(self) -> None:
        if getattr(self, "_pending", None) is not None:   # a run broken off mid-shot: let the worker finish
            self._pending.exception()
        self._pending: Future | None = None   # the batch being carried on the worker thread
        self._track: Track | None = None   # forward from the last keyframe of this shot
        self._last_key: int | None = None
        self._held: list[dict] = []        # frames waiting for a keyframe ahead

    # ------------------------------------------------------------------ keyframes at working size
    def _key_chroma(self, key: kf.Keyframe, frame: torch.Tensor, dims) -> tuple[Chroma, torch.Tensor]:
        """The keyframe's chroma (and at full size, for its own frame) on the film's luma of
        ``frame`` (1, 3, H, W): its a*b* joined to the film's L*, so painted colours fit the film's
        lightness. A hint image's colours are spread over the frame (:meth:`_hint_chroma`)."""
        y = luma(frame.float())
        rgb = torch.from_numpy(key.rgb).to(y.device).permute(2, 0, 1)[None].float() / 255
        L = rgb_to_lab(y.expand(-1, 3, -1, -1))[:, :1]
        ab = rgb_to_lab(rgb)[:, 1:]
        full = rgb_to_ycbcr(lab_to_rgb(torch.cat([L, ab], 1)))[:, 1:]
        small_y = downsample(y, dims)
        if key.mask is None:
            small = downsample(full, dims)
            return Chroma(small, torch.ones_like(small[:, :1])), full
        mask = torch.from_numpy(key.mask).to(y.device)[None, None].float()
        m_small = downsample(mask, dims)
        c_small = downsample(full * mask, dims) / m_small.clamp(min=1e-6)
        cbcr = self._hint_chroma(small_y, c_small, (m_small > 0.2).float() * m_small, frame, dims)
        return Chroma(cbcr, torch.ones_like(cbcr[:, :1])), None

    def _hint_chroma(self, small_y, hints, weight, frame, dims) -> torch.Tensor:
        """A hint image's chroma over the whole frame: the hints' own colours spread edge-aware,
        and, as far as the automatic colorizer already explains the hints, its colour pulled toward
        them (the hints' difference from it spread and added). How far: 1 - the model's miss at
        the hints relative to the hints' own chroma (0 where it is no nearer them than gray is),
        so a model that is wrong on this film leaves the hints alone (bench/README.md)."""
        return pull_to_hints(small_y, hints, weight, downsample(self.auto.chroma(frame.float()), dims))

    def _next_key(self, n: int) -> int | None:
        ahead = [k for k in self._keys if k > n]
        return min(ahead) if ahead else None

    def _hold_limit(self, h: int, w: int) -> int:
        """Frames held at most: each as two uint8 pictures and its luma (float32) and, kept by the
        flow, its pair's two flows and trust at the working size (float32)."""
        dh, dw = work_dims(h, w, self.work_size)
        return max(1, self.hold_mb * 2 ** 20 // (2 * 3 * h * w + 4 * h * w + 5 * 4 * dh * dw))

    # ------------------------------------------------------------------ the stream
    def process(self, frames: Frames) -> Frames | None:
        """The batch is carried on one worker thread while the caller runs the stages after this
        one and composes the pictures; what comes back is the previous call's frames (each batch's
        work depends only on the batches before it: the output is the same)."""
        if self._info is None:
            raise BadInput("GuidedColorize needs the film: run it through Pipeline.run, or call prepare(info) first")
        if getattr(self, "_pool", None) is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="guided")
        done = self._collect()
        self._pending = self._pool.submit(self._work, frames)
        return done

    def _work(self, frames: Frames) -> Frames | None:
        # inference and autocast modes are the thread's own: entered here as the pipeline does
        with torch.inference_mode(), torch.autocast(self.auto_device().type, enabled=False):
            return self._process(frames)

    def _collect(self) -> Frames | None:
        """The frames of the batch on the worker, when it is done."""
        pending, self._pending = self._pending, None
        return pending.result() if pending is not None else None

    def _process(self, frames: Frames) -> Frames | None:
        # the picture as uint8 (a decoded batch's own bytes, before anything makes it float): what a
        # held frame keeps, and what its output is composed on; its source only where it differs
        pictures = frames.to_uint8()
        h, w = pictures.shape[1:3]
        dims = work_dims(h, w, self.work_size)
        grays = frames.grays(self.work_size)   # the stabilizer's gray frames: its flows are these
        sources = None if frames.is_source() else self._u8(frames.source)   # (reads no float picture)
        # the luma the gray frames were made from: kept for the writer's composition (made again
        # from the held pictures it cost ~4% of --keyframes' time)
        lumas = frames.decoded_luma() if sources is None else None
        self._prefetch(frames.index, grays)
        ready: list[dict] = []
        for i in range(len(frames)):
            n = frames.index + i
            item = {"n": n, "rgb": pictures[i:i + 1], "source": None if sources is None else sources[i:i + 1],
                    "luma": None if lumas is None else lumas[i:i + 1], "gray": grays[i], "fwd": None, "dist": 0,
                    "full": None}
            if n in self._keys:
                chroma, item["full"] = self._key_chroma(self._keys[n], frames.source[i:i + 1], dims)
                with one_thread():
                    self._backward(item["gray"], chroma, n)
                self._track = Track(self.flow, direct_flow=self.direct_flow)
                self._track.start(item["gray"], chroma)
                self._last_key, item["fwd"] = n, chroma
                ready += self._held + [item]
                self._held = []
                continue
            if self._track is not None:
                with one_thread():
                    item["fwd"], item["dist"] = self._track.step(item["gray"]), n - self._last_key
            ahead = self._next_key(n)
            if self._held or (ahead is not None and ahead - n <= self._hold_limit(h, w)):
                item["fwd"] = item["fwd"].half() if item["fwd"] is not None else None
                self._held.append(item)
                while len(self._held) > self._hold_limit(h, w):   # the keyframe is too far: let the oldest go
                    ready.append(self._held.pop(0))
            else:
                ready.append(item)
        return self._emit(ready)

    def _prefetch(self, first: int, grays: list[np.ndarray]) -> None:
        """The flows the forward track will ask for (each frame to the one before, and to its
        keyframe), started on the flow's worker threads while this thread carries and fills."""
        if self._track is None or any(first + i in self._keys for i in range(len(grays))):
            return
        self.direct_flow.remember(len(grays))   # a batch's pairs all kept until asked for
        self._track.prefetch(grays)

    @staticmethod
    def _u8(t: torch.Tensor) -> np.ndarray:
        """(B, 3, H, W) in [0, 1] as (B, H, W, 3) uint8 on the CPU, rounded (a decoded frame's own bytes)."""
        return t.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def _backward(self, gray: np.ndarray, chroma: Chroma, key: int) -> None:
        """Carry the keyframe's chroma back through the held frames and merge it with their
        forward estimate (if an earlier keyframe of the shot reached them)."""
        track = Track(self.flow, direct_flow=self.direct_flow)
        track.start(gray, chroma)
        order = self._held[::-1]
        ahead = 8   # flows started this many frames ahead of the step, on the workers
        self.direct_flow.remember(ahead + 1)
        track.prefetch([it["gray"] for it in order[:ahead]])
        for j, item in enumerate(order):
            if j + ahead < len(order):
                track.prefetch([order[j + ahead]["gray"]], after=order[j + ahead - 1]["gray"])
            back = track.step(item["gray"])
            dist = key - item["n"]
            fwd = item["fwd"]
            item["fwd"] = back if fwd is None else merge(fwd.float(), back, item["dist"], dist, floor=self.blend_floor)
        for item in self._held:
            item["fwd"] = item["fwd"].half() if item["fwd"] is not None else None

    def _emit(self, items: list[dict]) -> Frames | None:
        """The frames with their chroma pending (:class:`Frames`): the stabilizer after this
        stage corrects it at its own small size and the writer composes the full-size picture once.
        At the working size, unless a keyframe's own frame (its chroma at full size) or a frame of
        the automatic colorizer is among them: then all at full size."""
        if not items:
            return None
        device = self.auto_device()
        grays = {self.work_size: [it["gray"] for it in items]}
        picture = np.concatenate([it["rgb"] for it in items])
        if all(it["source"] is None for it in items):   # made float only when read (Frames.decoded)
            lumas = None if any(it["luma"] is None for it in items) else np.concatenate([it["luma"] for it in items])
            out = Frames.decoded(picture, device, items[0]["n"], grays=grays, luma=lumas)
        else:
            source = np.concatenate([it["rgb"] if it["source"] is None else it["source"] for it in items])
            out = Frames(to_tensor(picture, device), to_tensor(source, device), items[0]["n"], grays=grays)
        # the working size's chroma upsampled bilinearly (by the writer): following the luma with a
        # guided filter measured worse (its windows blur: the truth's own chroma through it 0.26x
        # gray on bikes against 0.15x bilinear, bench/README.md)
        need_auto = [j for j, it in enumerate(items) if it["fwd"] is None]
        auto = dict(zip(need_auto, self.auto.chroma(out.rgb[need_auto]))) if need_auto else {}
        cbcr = [auto[j][None] if j in auto else it["full"] if it["full"] is not None else
                it["fwd"].float().cbcr.to(device) for j, it in enumerate(items)]
        size = cbcr[0].shape[-2:] if len({c.shape[-2:] for c in cbcr}) == 1 else picture.shape[1:3]
        return out.with_chroma(torch.cat([downsample(c, size) for c in cbcr]))

    def auto_device(self) -> torch.device:
        return next(self.auto.net.parameters()).device

    def flush(self) -> Frames | None:
        done = self._collect()
        held, self._held = self._held, []
        with torch.autocast(self.auto_device().type, enabled=False):
            rest = self._emit(held)
        parts = [f for f in (done, rest) if f is not None and len(f)]
        return Frames.cat(parts) if len(parts) > 1 else parts[0] if parts else None

    def describe(self) -> str:
        ref = f", reference={len(self.auto.reference_names)} photo(s)" if self.auto.reference is not None else ""
        return (f"colorize(keyframes={self.folder.name}: {len(self.paths)}, work_size={self.work_size}, "
                f"elsewhere model={self.model_name}{ref})")
