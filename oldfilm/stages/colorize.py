"""Colorize: predict chroma at a small render size, keep the film's own full-resolution luma.

With ``net_every`` > 1 the network runs on some frames of a shot only (key frames) and their
chroma is carried along the source film's optical flow to the frames between: forward from the
last key frame and backward from the next one (frames are held back until it comes), blended by
confidence and distance in time. The key frame's gray is carried along with its chroma, and
where it no longer matches the frame's own gray (occlusions, new content, wrong or drifting flow)
the carried chroma is not trusted; when the frame's mean trust drops below ``min_trust`` the
network speaks again on that frame. Key frames fall at least every ``net_every`` frames, on
frame numbers that are multiples of it, so a chunk of a batch run that starts inside a shot
places them as an unbroken run does. With ``skip_trust``, the frames half-way between (multiples
of ``net_every // 2``) are key frames too unless the carried chroma's mean trust there is still at
least ``skip_trust``: the network speaks twice as often where the motion is hard to follow.
"""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from .. import weights
from ..errors import BadInput
from ..ops.color import downsample, gray_lightness, lab_to_rgb, luma, rgb_to_ycbcr, with_chroma
from ..ops.flow import DISFlow, flow_tensor, gaussian, gray_tensor, warp
from ..ops.propagate import Chroma, merge
from . import Frames, Stage


class Colorize(Stage):
    """Gray (or colour) frames in, colour frames out; the output's Y' equals the input's Y'.

    The model predicts a*b* at the render size (like DeOldify's render_factor: larger is sharper
    chroma but slower) through its entry's transforms; the chroma is upsampled and joined to the
    full-resolution luma. ``flow``: the optical flow for carrying chroma (an object with
    DISFlow's ``both``); share the stabilizer's so each pair of frames is computed once;
    ``carry_size``: the long side at which chroma is carried (the stabilizer's working size).
    """

    name = "colorize"

    def __init__(self, model: str | None = None, *, render_size: int | None = None,
                 models_dir: str | None = None, net: torch.nn.Module | None = None, only_gray: bool = False,
                 colour_strength: float = 1.0, net_every: int = 1, min_trust: float = 0.8, flow=None,
                 sigma: float = 0.08, carry_size: int = 256, reference=None, skip_trust: float | None = None):
        if net_every < 1:
            raise ValueError(f"net_every must be at least 1, not {net_every}")
        self.colour_strength = colour_strength   # scales the model's a*b* (0: gray)
        self.only_gray = only_gray   # pass shots that already have colour through unchanged
        self._gray_shot: bool | None = None
        self.model_name = model or weights.default("colorize")
        self.transforms = weights.get(self.model_name, "colorize").transforms
        if render_size:
            self.transforms = replace(self.transforms, render_size=render_size)
        self.net = net if net is not None else weights.load(self.model_name, models_dir=models_dir)
        self.reference = self._reference(reference, models_dir) if reference else None
        self.net_every, self.min_trust, self.sigma, self.carry_size = net_every, min_trust, sigma, carry_size
        self.skip_trust = skip_trust
        self.flow = flow if flow is not None or net_every == 1 else DISFlow("medium")
        self.network_frames = 0   # frames the network ran on (key frames), for measurement
        self.reset()

    @property
    def warmup(self) -> int | None:
        """From the first key frame on (a film frame number that is a multiple of ``net_every``)
        the output is exactly an unbroken run's."""
        return None if self.only_gray else (self.net_every if self.net_every > 1 else 0)

    @property
    def lookahead(self) -> int:
        return self.net_every - 1   # frames before the next key frame are held until it comes

    def _reference(self, photos, models_dir):
        """Colour photos (paths or RGB arrays) matched to each key frame (:mod:`oldfilm.ops.exemplar`),
        seen by the VGG16 trunk of this colorizer, or of the default one when this has none."""
        from ..ops.exemplar import Reference, read_reference

        trunk = getattr(self.net, "trunk", None)
        if trunk is None:
            trunk = getattr(weights.load(weights.default("colorize"), models_dir=models_dir), "trunk", None)
        if trunk is None:
            raise BadInput("--reference needs a colorizer with a VGG16 trunk (vggcolor-v1 or -v2)")
        self.reference_names = [str(p) if not hasattr(p, "shape") else "array" for p in photos]
        return Reference(trunk, [p if hasattr(p, "shape") else read_reference(p) for p in photos])

    def to(self, device: torch.device) -> "Colorize":
        super().to(device)
        if self.reference is not None:
            self.reference.trunk.to(device)
        return self

    def reset(self) -> None:
        self._gray_shot = None
        self._last = None    # (gray u8, carried Cb/Cr and key-frame gray) of the shot's last frame seen
        self._held = []      # frames since the last key frame: dicts, see _carry

    def process(self, frames: Frames) -> Frames | None:
        if self.only_gray:
            if self._gray_shot is None:   # decided once per shot, on its first frames
                self._gray_shot = bool(rgb_to_ycbcr(frames.rgb[:1].float())[:, 1:].abs().mean() < 0.01)
            if not self._gray_shot:
                return frames
        if self.net_every == 1:
            return frames.with_chroma(self.chroma(frames.rgb))
        grays = frames.grays(self.carry_size)
        if self._last is not None:   # the batch's flows on worker threads, while the network runs
            self.flow.prefetch(zip(grays, [self._last[0]] + grays[:-1]))
        else:
            self.flow.prefetch(zip(grays[1:], grays[:-1]))
        done = [f for i in range(len(frames)) for f in self._carry(frames[i:i + 1], grays[i])]
        return Frames.cat(done) if done else None

    def flush(self) -> Frames | None:
        """Frames after the shot's last key frame: the forward-carried chroma alone."""
        held, self._held = self._held, []
        return Frames.cat([h["frame"].with_chroma(h["cbcr"]) for h in held]) if held else None

    # one frame of the carried path: a key frame resolves the frames held since the last one
    def _carry(self, frame: Frames, g8) -> list[Frames]:
        dims = g8.shape
        gray = gray_tensor(g8, frame.device)
        flows = None
        if self._last is not None:
            g8_prev, carried = self._last
            flows = [flow_tensor(f, frame.device) for f in self.flow.both(g8, g8_prev)]  # t -> t-1, t-1 -> t
            carried = warp(carried, flows[0])
            conf = self._agreement(carried, gray)
        half = self.skip_trust is not None and frame.index % max(1, self.net_every // 2) == 0
        key = (self._last is None or frame.index % self.net_every == 0
               or float(conf.mean()) < (self.skip_trust if half else self.min_trust))
        if not key:
            self._held.append(dict(frame=frame, cbcr=carried[:, :2], conf=conf, flows=flows, gray=gray))
            self._last = (g8, carried)
            return []
        cbcr = self.chroma(frame.rgb)
        self.network_frames += 1
        cbcr = F.interpolate(cbcr, size=dims, mode="bilinear", align_corners=False) if cbcr.shape[-2:] != dims else cbcr
        out = self._resolve(torch.cat([cbcr, gray], 1), flows)
        self._last = (g8, torch.cat([cbcr, gray], 1))
        return out + [frame.with_chroma(cbcr)]

    def _agreement(self, carried: torch.Tensor, gray: torch.Tensor) -> torch.Tensor:
        """Confidence of carried chroma: the key frame's gray, carried the same way, matches this
        frame's gray (wrong flow, occlusions and drift all show as a mismatch)."""
        return gaussian(carried[:, 2:] - gray, self.sigma)

    def _resolve(self, key: torch.Tensor, flows: list | None) -> list[Frames]:
        """The held frames, each blending its forward chroma with the key frame's carried back
        (``key``: the key frame's Cb/Cr and gray; ``flows``: between it and the frame before)."""
        held, self._held = self._held, []
        carried, out, n = key, [], len(held) + 1
        for back, h in enumerate(reversed(held), 1):   # h is `back` frames before the key frame
            carried = warp(carried, flows[1])             # frame t onto frame t-1: the flow t-1 -> t
            conf = self._agreement(carried, h["gray"])
            both = merge(Chroma(h["cbcr"], h["conf"]), Chroma(carried[:, :2], conf), n - back, back)
            out.append(h["frame"].with_chroma(both.cbcr))
            flows = h["flows"]
        return out[::-1]

    def chroma(self, rgb: torch.Tensor) -> torch.Tensor:
        """The network's Cb/Cr (B, 2, h, w) at its render size, fp32."""
        with torch.autocast(rgb.device.type, enabled=False):   # colour maths in fp32 always
            x = self.transforms.pre(rgb.float())
        out = self.net(x)                                        # the network under the pipeline's precision
        with torch.autocast(rgb.device.type, enabled=False):
            ab = self.transforms.post(out, rgb).float()
            y = downsample(luma(rgb.float()), ab.shape[-2:])
            L = gray_lightness(y)
            if self.reference is not None:   # the photos' colours where they correspond, the model's elsewhere
                ab = self.reference.blend(L, ab, y)
            # no chroma at the ends of the lightness range (the model's blobs in blown highlights)
            ab = ab * (self.colour_strength * ((100 - L) / 8).clamp(0, 1) * (L / 8).clamp(0, 1))
            return rgb_to_ycbcr(lab_to_rgb(torch.cat([L, ab], 1)))[:, 1:]

    def colorize(self, rgb: torch.Tensor) -> torch.Tensor:
        """Frames in, colour frames out (the network on each)."""
        return with_chroma(rgb, self.chroma(rgb))

    @property
    def render_size(self) -> int:
        return self.transforms.render_size

    def describe(self) -> str:
        strength = f", colour_strength={self.colour_strength:g}" if self.colour_strength != 1 else ""
        carry = f", net_every={self.net_every}" if self.net_every > 1 else ""
        ref = f", reference={len(self.reference_names)} photo(s)" if self.reference is not None else ""
        return f"colorize(model={self.model_name}, render_size={self.render_size}{strength}{carry}{ref})"
