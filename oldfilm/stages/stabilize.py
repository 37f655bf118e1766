"""Stabilize: remove frame-to-frame colour flicker, guided by motion in the source film.

Training-free and causal. For each frame, optical flow on the source's gray frames brings
the previous stabilized frame onto the current one; where the flow is trusted (forward-backward
consistent, not a motion boundary, and the gray source agrees after warping) the current frame is
blended towards it, elsewhere (occlusions, new content) the current frame is kept as it is. The
blend runs at a small working size on a low-pass version of the picture and is added back as a
correction, so full-resolution detail is untouched and only slow colour changes are smoothed.

Flow: OpenCV's DIS on the CPU (``flow="dis"``), or a registered flow network (``raft-small``,
``raft-large``: torchvision's RAFT). ``flow="auto"`` uses RAFT when its weights are installed and
the stage runs on a GPU (RAFT on a CPU is ~10x slower than DIS), else DIS.

``mode="chroma"``: only Cb/Cr are blended and the luma is kept (colorization).
``mode="rgb"``: all three channels (cartoons, graded copies).
``mode="auto"``: chroma where the picture's luma is the source's (a colorized film), else rgb;
decided afresh at each shot.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..ops.color import cbcr_to_rgb_delta, downsample, luma, rgb_to_ycbcr, ycbcr_to_rgb
from ..ops.flow import DISFlow, ModelFlow, flow_tensor, warp, work_dims
from .. import weights
from ..errors import BadInput
from . import Frames, Stage


def fit_affine(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per channel, the affine map ``a * x + b`` that gives ``x`` the weighted mean and spread of
    ``y``; (1, C, h, w). The gain is the ratio of spreads, not the least-squares slope, which
    noise in ``x`` biases towards 0 and so would wash colours out a little at every frame."""
    w = weight / weight.sum().clamp(min=1e-6)
    mx, my = (w * x).sum((2, 3), keepdim=True), (w * y).sum((2, 3), keepdim=True)
    vx = (w * (x - mx) ** 2).sum((2, 3), keepdim=True)
    vy = (w * (y - my) ** 2).sum((2, 3), keepdim=True)
    a = (vy / vx.clamp(min=1e-8)).sqrt().clamp(0.5, 2.0)
    if weight.sum() < 16:   # too little to trust: change nothing
        return x
    return a * (x - mx) + my


class Stabilize(Stage):
    name = "stabilize"

    def __init__(self, *, mode: str = "auto", strength: float = 0.9, work_size: int = 256,
                 sigma: float = 0.08, preset: str = "medium", eps: float = 0.05, method: str = "flow",
                 model: str = "lai-eccv18", models_dir: str | None = None, keep_saturation: bool = True,
                 flow: str = "auto"):
        if mode not in ("chroma", "rgb", "auto"):
            raise ValueError(f"mode must be chroma, rgb or auto, not {mode!r}")
        if method not in ("flow", "lai"):
            raise BadInput(f"unknown stabilizer method {method!r}: flow or lai")
        self.method, self.keep_saturation = method, keep_saturation
        self.net = weights.load(model, models_dir=models_dir) if method == "lai" else None
        self.model_name = model
        self.mode, self.strength, self.work_size, self.sigma, self.eps = mode, strength, work_size, sigma, eps
        self.flow_name, self.models_dir = flow, models_dir
        if flow in ("auto", "dis"):
            self.flow = DISFlow(preset, trust_sigma=sigma)   # the trust on its worker threads
        else:
            flows = ["auto", "dis"] + [n for n, e in weights.REGISTRY.items() if e.task == "flow"]
            if flow not in flows:
                raise BadInput(f"unknown flow {flow!r}: use {', '.join(flows)}")
            self.flow = ModelFlow(weights.load(flow, models_dir=models_dir))
        self.reset()

    def to(self, device: torch.device) -> "Stabilize":
        if self.flow_name == "auto" and device.type == "cuda" and self.net is None:
            installed = [n for n in ("raft-large", "raft-small") if weights.find(n, self.models_dir)]
            if installed:
                self.flow_name = installed[0]
                self.flow = ModelFlow(weights.load(installed[0], models_dir=self.models_dir))
        return super().to(device)

    @property
    def warmup(self) -> int | None:
        """The history's weight falls by ``strength`` a frame: after this many frames a different
        start changes the output by under 1/1024 (a quarter of an 8-bit level). None (the whole
        shot) for the learned stabilizer, a mode chosen per shot, or strength 1 (no forgetting)."""
        if self.net is not None or self.mode == "auto" or self.strength >= 1:
            return None
        return 0 if self.strength <= 0 else math.ceil(math.log(1 / 1024) / math.log(self.strength))

    def reset(self) -> None:
        self._prev_gray = None     # uint8 (h, w) source luma at working size
        self._prev_out = None      # (1, C, h, w) stabilized low-pass picture at working size
        self._mode = None if self.mode == "auto" else self.mode
        self._lai = None           # (O_{t-1}, I_{t-1}, ConvLSTM state) for method "lai"
        self._sat = None           # running mean colour strength of the input (chroma mode)

    def process(self, frames: Frames) -> Frames:
        with torch.autocast(frames.device.type, enabled=False):   # fp32 colour maths and flow
            return self._process(frames)

    def _process(self, frames: Frames) -> Frames:
        if self._mode is None:
            # the shot's first frame; a colorized film keeps its luma to within encoding noise (~1 level),
            # and a picture whose chroma is still pending (a colorizer's) keeps it exactly
            same_luma = frames.chroma is not None or bool(
                (luma(frames.rgb[:1].float()) - luma(frames.source[:1].float())).abs().mean() < 0.006)
            self._mode = "chroma" if same_luma else "rgb"
        if self.net is not None:
            return frames.with_rgb(self._learned(frames.rgb.float(), frames.source.float()))
        h, w = frames.size
        dims = work_dims(h, w, self.work_size)
        grays = frames.grays(self.work_size)
        # the batch's flows on worker threads, while this thread works
        self.flow.prefetch(zip(grays, [self._prev_gray] + grays[:-1]) if self._prev_gray is not None
                           else zip(grays[1:], grays[:-1]))
        pending = self._mode == "chroma" and frames.chroma is not None
        small = frames.chroma_at(dims) if self._mode == "chroma" else downsample(frames.rgb.float(), dims)
        stable, device = torch.empty_like(small), small.device
        for i in range(len(frames)):
            gray = grays[i]
            cur = small[i:i + 1]
            if self._prev_gray is None:
                out = cur
            else:
                bw = flow_tensor(self.flow.both(gray, self._prev_gray)[0], device)   # t -> t-1
                weight = self.flow.trust(gray, self._prev_gray, self.sigma).to(device)
                prev = warp(self._prev_out, bw)
                # the current frame moves a fraction `strength` of the way to the history: everywhere by
                # a global per-channel affine change (exposure, balance), and where the motion is
                # trusted also by the local remainder (colour of each object)
                fitted = fit_affine(cur, prev, weight)
                out = cur + self.strength * (fitted - cur + weight * (prev - fitted))
            if self._mode == "chroma" and self.keep_saturation:
                # averaging differing colours desaturates: hold the frame's colour strength at a
                # slowly moving average of the input's (steady, so it brings no flicker back)
                sat = cur.abs().mean()
                self._sat = sat if self._sat is None else self._sat + (1 - self.strength) * (sat - self._sat)
                out = out * (self._sat / out.abs().mean().clamp(min=1e-6)).clamp(1.0, 1.3)
            stable[i:i + 1] = out
            self._prev_gray, self._prev_out = gray, out
        if pending:   # the colorizer's chroma, corrected at its own size; composed once, later
            size = frames.chroma.shape[-2:]
            return frames.with_chroma(stable if size == dims else frames.chroma + downsample(stable - small, size))
        rgb = frames.rgb.float()
        if self._mode == "chroma":   # chroma is smooth: an additive correction
            correction = F.interpolate(stable - small, size=(h, w), mode="bilinear", align_corners=False)
            result = (rgb + cbcr_to_rgb_delta(correction)).clamp(0, 1)
        else:                       # exposure and white-balance flicker scale detail too: a gain
            gain = (stable + self.eps) / (small + self.eps)
            result = (rgb * F.interpolate(gain, size=(h, w), mode="bilinear", align_corners=False)).clamp(0, 1)
        return frames.with_rgb(result)

    @torch.inference_mode()
    def _learned(self, rgb: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Lai et al. 2018, frame by frame: O_t = P_t + F(P_t, O_{t-1}, I_t, I_{t-1}), O_1 = P_1.
        Sizes are padded to multiples of 4 (reflection), as their network needs."""
        h, w = rgb.shape[-2:]
        pad = (0, (-w) % 4, 0, (-h) % 4)
        outs = []
        for i in range(len(rgb)):
            p = F.pad(rgb[i:i + 1], pad, mode="reflect")
            src = F.pad(source[i:i + 1], pad, mode="reflect")
            if self._lai is None:
                o, state = p, None
            else:
                o_prev, i_prev, state = self._lai
                o, state = self.net.step(p, o_prev, src, i_prev, state)
                o = o.clamp(0, 1)
            self._lai = (o, src, state)
            outs.append(o[..., :h, :w])
        out = torch.cat(outs)
        if self._mode == "chroma":   # keep the film's own luma
            out = ycbcr_to_rgb(torch.cat([rgb_to_ycbcr(rgb)[:, :1], rgb_to_ycbcr(out)[:, 1:]], 1))
        return out

    def models(self) -> list[str]:
        return [self.model_name] if self.net is not None else (
            [] if self.flow_name in ("auto", "dis") else [self.flow_name])

    def describe(self) -> str:
        if self.net is not None:
            return f"stabilize(method=lai, model={self.model_name}, mode={self.mode})"
        flow = "dis" if self.flow_name == "auto" else self.flow_name
        return f"stabilize(mode={self.mode}, strength={self.strength}, work_size={self.work_size}, flow={flow})"
