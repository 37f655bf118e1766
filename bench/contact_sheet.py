"""A contact sheet of gray input / colorized output / colour truth, for a model card or an issue.

    python bench/contact_sheet.py OUT.jpg --model vggcolor-v1 IMAGE_OR_CLIP... [--frames-per-clip 3]

Each image (or a few evenly spaced frames of each clip) is turned gray, colorized by
``Colorize(model)`` exactly as ``oldfilm colorize`` does (render size, luma kept), and shown next
to its truth; the row label gives the frame's CIEDE2000 to the truth and the gray input's.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from oldfilm.metrics import delta_e2000
from oldfilm.ops.color import luma, rgb_to_lab
from oldfilm.stages.colorize import Colorize

ROW_HEIGHT = 200


def pictures(path: Path, per_clip: int) -> list[tuple[str, torch.Tensor]]:
    if path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
        with Image.open(path) as im:
            im.draft("RGB", (800, 800))
            return [(path.name, torch.from_numpy(np.asarray(im.convert("RGB")).copy()))]
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(gen)
    w, h = meta["size"]
    frames = [np.frombuffer(b, np.uint8).reshape(h, w, 3).copy() for b in gen]
    picks = np.linspace(0, len(frames) - 1, per_clip + 2)[1:-1].round().astype(int)
    return [(f"{path.name} #{i}", torch.from_numpy(frames[i])) for i in picks]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("inputs", nargs="+", type=Path)
    ap.add_argument("--model", default=None, help="colorizer [default: the registry's default]")
    ap.add_argument("--frames-per-clip", type=int, default=3)
    args = ap.parse_args()
    stage = Colorize(args.model)
    rows, scores = [], []
    for path in args.inputs:
        for label, hwc in pictures(path, args.frames_per_clip):
            truth = hwc.permute(2, 0, 1)[None].float() / 255
            gray = luma(truth).expand(-1, 3, -1, -1)
            with torch.inference_mode():
                out = stage.colorize(gray)
            de = delta_e2000(rgb_to_lab(out), rgb_to_lab(truth)).mean().item()
            de_gray = delta_e2000(rgb_to_lab(gray), rgb_to_lab(truth)).mean().item()
            scores.append((de, de_gray))
            tiles = [Image.fromarray((x[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy())
                     for x in (gray, out, truth)]
            w = round(tiles[0].width * ROW_HEIGHT / tiles[0].height)
            row = Image.new("RGB", (3 * w + 4, ROW_HEIGHT + 18), "white")
            for i, t in enumerate(tiles):
                row.paste(t.resize((w, ROW_HEIGHT), Image.LANCZOS), (i * (w + 2), 18))
            ImageDraw.Draw(row).text((4, 3), f"{label}: ΔE2000 {de:.1f} (gray {de_gray:.1f})", fill="black")
            rows.append(row)
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, sum(r.height for r in rows) + 20), "white")
    ImageDraw.Draw(sheet).text((4, 4), f"gray input | {stage.describe()} | truth", fill="black")
    y = 20
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    sheet.save(args.out, quality=88)
    m = np.mean(scores, axis=0)
    print(f"{args.out}: {len(rows)} pictures, mean ΔE2000 {m[0]:.2f} (gray input {m[1]:.2f})")


if __name__ == "__main__":
    main()
