"""Colour from reference photos (exemplar colorization), without training.

A colour photo of the set or a costume is not a frame of the film, so its colours cannot be carried
along the motion; they are taken where the frame and the photo *correspond*. Both are seen gray
(the photo's own luma) by the VGG16 trunk that oldfilm's colorizer already holds; each position of
the frame at 1/8 of its render size is matched to the most similar positions of every reference
(cosine similarity of relu3_3 and relu4_3 features) and takes their a*b*. Each reference is seen
as it is, mirrored, and smaller (a photo of the set is seldom taken from the frame's side or
distance), each view by itself. A match is trusted only
where it is both similar and mutual (the reference position's own best match in the frame lies
near where it started: a cycle) and where the matched cells' lightness is the frame cell's own;
elsewhere the automatic colorizer speaks. Unrelated photos give few such matches, and when the
trusted part of a frame is small the photos are believed less still (a scattered few are as likely
a different colour: a sunset sky for a blue one), each photo by itself (several unrelated photos
together explain more of a frame than any one of them), so an object the photo does not show keeps the
model's colour instead of a copied wrong one (the exemplar methods' most reported failure). Only
the strongest matches colour the frame, as a hint image's dots do: pulling the model's colour
toward them where it nearly agrees, spread edge-aware on their own where it does not; a frame with
almost none keeps the model's colour exactly.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import BadInput
from .color import gray_lightness, luma, rgb_to_lab
from .propagate import pull_to_hints

LAYERS = ("relu3_3", "relu4_3")


def read_reference(path: str | Path) -> np.ndarray:
    """A reference photo as RGB uint8 (H, W, 3); one-line errors for what cannot serve."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise BadInput(f"{path}: not an image that can be read (give a colour photo: PNG, JPEG, ...)")
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if float(np.abs(rgb.astype(np.int16) - rgb.mean(-1, keepdims=True)).mean()) < 1.0:
        raise BadInput(f"{path} has no colour: a reference must be a colour photo")
    return rgb


class Reference:
    """``trunk``: a VGG16 (``trunk(rgb, layers)``, as inside vggcolor); ``photos``: RGB uint8
    arrays; ``size``: the long side at which each photo is seen; ``trusted``: the cosine
    similarity of a mutual match at which its colour is fully believed (``doubt`` below it: not
    at all); ``scales``, ``mirror``: the views of each photo matched (:meth:`_build`); ``cycle``: how far, in feature cells, a round trip may land and still be mutual;
    ``lightness``: the difference of L* between a frame cell and the reference cells it takes its
    colour from at which trust falls to 1/e (a colour is a colour *at a lightness*: matched in
    gray features, a dark red patch can answer a bright one, and its a*b* is then no colour the
    frame's cell can have); ``shown``, ``unshown``: the mean trust over the frame at which the
    photos are taken to show it (fully believed) or not at all (the model alone); ``strong``,
    ``few``, ``enough``, ``agree``, ``disagree``, ``reach``: how the trusted matches colour the
    frame (:meth:`blend`)."""

    def __init__(self, trunk: torch.nn.Module, photos: list[np.ndarray], *, size: int = 256,
                 trusted: float = 0.65, doubt: float = 0.45, cycle: float = 3.0, temperature: float = 0.02,
                 lightness: float = 25.0, shown: float = 0.35, unshown: float = 0.2, strong: float = 0.7,
                 few: float = 0.01, enough: float = 0.05, agree: float = 0.5, disagree: float = 0.8,
                 reach: float = 5e-4, mirror: bool = True, scales: tuple[float, ...] = (1.0, 0.7)):
        self.trunk, self.size = trunk, size
        self.mirror, self.scales = mirror, tuple(scales)
        self.trusted, self.doubt, self.cycle, self.temperature = trusted, doubt, cycle, temperature
        self.lightness, self.shown, self.unshown = lightness, shown, unshown
        self.strong, self.few, self.enough = strong, few, enough
        self.agree, self.disagree, self.reach = agree, disagree, reach
        self._photos = photos
        self._bank: list[tuple[torch.Tensor, torch.Tensor]] | None = None   # per view: features, L*a*b*

    def _features(self, L: torch.Tensor) -> torch.Tensor:
        """(B, C, h/8, w/8) unit-length features of lightness ``L`` (B, 1, h, w)."""
        from ..nets.vggcolor import VGGColor

        f3, f4 = self.trunk(VGGColor.gray_rgb(L.float()), LAYERS)
        f3 = F.avg_pool2d(f3, 2, ceil_mode=True)[..., :f4.shape[-2], :f4.shape[-1]]
        f = torch.cat([F.normalize(f3.float(), dim=1), F.normalize(f4.float(), dim=1)], 1)
        return F.normalize(f, dim=1)

    def _dims(self, h: int, w: int, scale: float = 1.0) -> tuple[int, int]:
        s = self.size * scale / max(h, w)
        return max(16, round(h * s / 16) * 16), max(16, round(w * s / 16) * 16)

    def _build(self, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each view's features (M, C) and cell L*a*b* (M, 3): every photo at each of ``scales``
        (of ``size``), and mirrored too with ``mirror``. A photo of the set is seldom taken from the
        frame's side or distance; each view is matched, and gated, as a photo by itself (views
        joined into one bank per photo let unrelated photos through: bench/README.md)."""
        bank = []
        for photo in self._photos:
            rgb0 = torch.from_numpy(np.ascontiguousarray(photo)).to(device).permute(2, 0, 1)[None].float() / 255
            for scale in self.scales:
                rgb = F.interpolate(rgb0, size=self._dims(*rgb0.shape[-2:], scale), mode="bilinear",
                                    antialias=True, align_corners=False)
                for view in (rgb, rgb.flip(-1)) if self.mirror else (rgb,):
                    L = gray_lightness(luma(view))
                    f = self._features(L)
                    lab = F.adaptive_avg_pool2d(torch.cat([L, rgb_to_lab(view)[:, 1:]], 1), f.shape[-2:])
                    bank.append((f.flatten(2)[0].T, lab.flatten(2)[0].T))
        return bank

    def _one(self, x: torch.Tensor, cell_L: torch.Tensor, photo: tuple[torch.Tensor, torch.Tensor],
             fh: int, fw: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame's features ``x`` (N, C) and cell L* (N,) against one view of a photo: a*b*
        (2, fh, fw) and trust (1, fh, fw), gated by how much of the frame the view shows."""
        feats, lab = photo
        sim = x @ feats.T                                              # (N, M)
        best, j = sim.max(1)
        back = sim.argmax(0)[j]                                        # the frame position each match returns to
        n = torch.arange(len(x), device=x.device)
        miss = torch.hypot((back % fw - n % fw).float(), (back // fw - n // fw).float())
        mutual = (miss <= self.cycle).float()
        lab = torch.softmax((sim - best[:, None]) / self.temperature, 1) @ lab   # (N, 3)
        conf = (((best - self.doubt) / (self.trusted - self.doubt)).clamp(0, 1) * mutual).reshape(1, 1, fh, fw)
        # a lone mutual match among doubtful neighbours is more likely luck than correspondence
        conf = F.avg_pool2d(conf, 3, stride=1, padding=1, count_include_pad=False) * conf ** 0.5
        conf = conf[0] * torch.exp(-((lab[:, 0] - cell_L) / self.lightness) ** 2).reshape(1, fh, fw)
        # a photo that shows the frame explains much of it; an unrelated one only scattered cells, and
        # those are as likely a different colour (a sunset sky for a blue one): below ``shown`` of the
        # frame's cells trusted on average, the photo is believed less, nowhere below ``unshown``.
        # Each photo by itself: several unrelated photos together explain more of a frame than any
        # one of them (bench/README.md: bikes' six street photos, 0.34-0.42 of a cartoon meadow)
        conf = conf * ((conf.mean() - self.unshown) / (self.shown - self.unshown)).clamp(0, 1)
        return lab[:, 1:].T.reshape(2, fh, fw), conf

    @torch.no_grad()
    def match(self, L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The references' a*b* (B, 2, h, w) at ``L``'s size (B, 1, h, w) and its trust (B, 1, h, w):
        at each cell, the view that is trusted most there."""
        if self._bank is None or self._bank[0][0].device != L.device:
            self._bank = self._build(L.device)
        # the frame at the colorizer's render size (seeing it at the photos' size measured worse:
        # related references 0.77x gray against 0.73x, bench/README.md)
        f = self._features(L)
        B, C, fh, fw = f.shape
        cell_L = F.adaptive_avg_pool2d(L.float(), (fh, fw)).flatten(1)  # (B, N)
        out_ab, out_conf = [], []
        for x, Lx in zip(f.flatten(2).transpose(1, 2), cell_L):       # (N, C) per frame
            ab, conf = map(torch.stack, zip(*(self._one(x, Lx, view, fh, fw) for view in self._bank)))
            k = conf.argmax(0, keepdim=True)                           # (1, 1, fh, fw): the view per cell
            out_ab.append(ab.gather(0, k.expand(1, 2, fh, fw))[0])
            out_conf.append(conf.gather(0, k)[0])
        up = lambda t: F.interpolate(t, size=L.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        return up(torch.stack(out_ab)), up(torch.stack(out_conf))

    def blend(self, L: torch.Tensor, ab_auto: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``ab_auto`` (the automatic colorizer's a*b* at ``L``'s size; ``y``: the frame's luma there)
        with the references' colours where they are trusted. Only strong matches count (trust from
        ``strong`` up); the weak majority measured worse than the model (bench/README.md). Their
        colours go over the frame as hints do (:func:`~oldfilm.ops.propagate.pull_to_hints`): the
        model pulled toward them where it already nearly agrees with them (its pull fading over
        ``reach``), the photos' colours spread edge-aware where it does not. A frame with fewer
        than ``few`` of its cells strongly matched keeps the model's colour; from ``enough``, fully
        the photos'."""
        ab, conf = self.match(L)
        out = []
        for b in range(len(L)):
            hint = ((conf[b:b + 1] - self.strong) / (1 - self.strong)).clamp(0, 1)
            share = float(((hint.mean() - self.few) / (self.enough - self.few)).clamp(0, 1))
            a = ab_auto[b:b + 1]
            if share > 0:
                a = a + share * (pull_to_hints(y[b:b + 1], ab[b:b + 1], hint, a, agree=self.agree,
                                               disagree=self.disagree, reach=self.reach) - a)
            out.append(a)
        return torch.cat(out)
