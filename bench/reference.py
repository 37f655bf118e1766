"""`colorize --reference` on photos the colorizer never trained on: ΔE2000 against the truth.

    python bench/reference.py --data /work/data/colorizer [--half 1] [--count 20]

For each held-out photo (the colorizer's validation split, bench/colorizer_data.py's tree): the
frame is its left three quarters seen gray; the related reference is its right 70%, mirrored (the
same scene, not the frame: they overlap in the middle); the unrelated reference is another held-out
photo. Scored: gray, the model alone, model + related reference, model + unrelated reference.
``--half 0`` is the half the defaults were chosen on, ``--half 1`` the half they are reported on.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from oldfilm.errors import BadInput
from oldfilm.metrics import delta_e2000
from oldfilm.ops.color import luma, rgb_to_lab
from oldfilm.ops.exemplar import read_reference
from oldfilm.stages.colorize import Colorize
from oldfilm.train.colorizer import in_val_split

PHOTOS = ["lomiri", "mate", "plasma", "gcompris", "misc/hugin", "pypi", "skimage"]


def held_out(root: Path) -> list[Path]:
    return [p for d in PHOTOS for p in sorted((root / d).rglob("*"))
            if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp") and in_val_split(str(p.relative_to(root)), 0.15)]


def load(path: Path, long: int = 480) -> np.ndarray:
    im = read_reference(path)
    h, w = im.shape[:2]
    s = long / max(h, w)
    return cv2.resize(im, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--half", type=int, default=1, choices=[0, 1])
    ap.add_argument("--count", type=int, default=20)
    args = ap.parse_args()
    photos = []
    for p in held_out(args.data)[args.half::2]:
        try:
            photos.append(load(p))
        except BadInput:   # a gray picture: nothing to score
            pass
    photos = photos[:args.count]
    torch.set_grad_enabled(False)
    auto = Colorize()
    t = lambda im: torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    res = {"gray": [], "model alone": [], "+ related reference": [], "+ unrelated reference": []}
    for k, im in enumerate(photos):
        h, w = im.shape[:2]
        frame = t(im[int(.1 * h):int(.9 * h), :int(.75 * w)])
        related = np.ascontiguousarray(im[int(.05 * h):int(.85 * h), int(.3 * w):][:, ::-1])
        unrelated = photos[(k + 5) % len(photos)]
        truth, gray = rgb_to_lab(frame), luma(frame).expand(-1, 3, -1, -1)
        de = lambda x: float(delta_e2000(rgb_to_lab(x), truth).mean())  # noqa: E731
        res["gray"].append(de(gray))
        res["model alone"].append(de(auto.colorize(gray)))
        res["+ related reference"].append(de(Colorize(net=auto.net, reference=[related]).colorize(gray)))
        res["+ unrelated reference"].append(de(Colorize(net=auto.net, reference=[unrelated]).colorize(gray)))
    g = np.mean(res["gray"])
    print(f"{len(photos)} held-out photos (half {args.half}), model {auto.model_name}\n")
    print("| version | ΔE2000 | vs gray |\n|---|---|---|")
    for name, v in res.items():
        print(f"| {name} | {np.mean(v):.2f} | {np.mean(v) / g:.2f}× |")


if __name__ == "__main__":
    main()
