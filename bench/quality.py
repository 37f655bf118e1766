"""Colour and flicker quality on colour clips turned gray: the numbers of bench/README.md.

    python bench/quality.py CLIP.mp4 [CLIP2.mp4 ...] [--pan IMAGE] [--frames 120] [--model NAME]

For each colour clip (the truth): its gray version is colorized by oldfilm per frame
(--no-stabilize) and as shipped (stabilized), and all three are scored with `oldfilm eval`'s
metrics (warping error with flow from the gray film, pairs across cuts skipped; colourfulness;
CIEDE2000 and PSNR against the truth; and the gray input itself as the baseline). --pan makes a
synthetic camera pan over a still photo as one more clip. Every clip is encoded alike (libx264 CRF
10, 4:2:0) so compression noise weighs the same on all.
"""
from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from oldfilm import Pipeline, recipes
from oldfilm.evaluate import evaluate
from oldfilm.video.ffmpeg import ffmpeg_exe


def ff(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="*", type=Path)
    ap.add_argument("--pan", type=Path, help="a still colour photo to pan over")
    ap.add_argument("--frames", type=int, default=120, help="frames taken from each clip")
    ap.add_argument("--strength", type=float, default=0.9)
    ap.add_argument("--model", default=None, help="colorizer [default: the registry's default]")
    ap.add_argument("--net-every", type=int, default=None,
                    help="the shipped version's --net-every [default: the command's default]")
    ap.add_argument("--precision", default="auto", help="auto, fp32 or bf16 (as oldfilm's --precision)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = []
        for clip in args.clips:
            truth = tmp / f"{clip.stem}-truth.mkv"
            ff("-i", str(clip), "-map", "0:V:0", "-frames:v", str(args.frames), "-c:v", "libx264", "-crf", "10",
               "-pix_fmt", "yuv420p", str(truth))
            clips.append((clip.stem, truth))
        if args.pan:
            truth = tmp / "pan-truth.mkv"
            ff("-loop", "1", "-i", str(args.pan), "-vf",
               "scale=960:-2,crop=640:360:x='t*60':y='(ih-360)/2+10*sin(t)',format=yuv420p",
               "-r", "25", "-t", str(args.frames / 25), "-c:v", "libx264", "-crf", "10", str(truth))
            clips.append((f"pan over {args.pan.name}", truth))
        print("| clip | version | warping error | vs per-frame | vs truth | colourfulness | ΔE2000 | PSNR |")
        print("|---|---|---|---|---|---|---|---|")
        for name, truth in clips:
            gray = tmp / f"{truth.stem}-gray.mkv"
            ff("-i", str(truth), "-vf", "hue=s=0", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p", str(gray))
            per, stab = tmp / f"{truth.stem}-per.mkv", tmp / f"{truth.stem}-stab.mkv"
            # every clip is encoded alike (CRF 10, 4:2:0), so compression noise weighs the same on all
            run = dict(progress=False, precision=args.precision)
            Pipeline(recipes.colorize(model=args.model, stabilize=False, net_every=1), **run).run(gray, per, crf=10)
            shipped = {} if args.net_every is None else {"net_every": args.net_every}
            Pipeline(recipes.colorize(model=args.model, strength=args.strength, **shipped), **run).run(gray, stab, crf=10)
            scores = {v: evaluate(p, source=gray, truth=truth)
                      for v, p in [("truth", truth), ("gray input", gray), ("per-frame", per), ("stabilized", stab)]}
            ref, tru = scores["per-frame"]["warping_error"], scores["truth"]["warping_error"]
            for v, s in scores.items():
                print(f"| {name} | {v} | {s['warping_error']:.6f} | {s['warping_error'] / ref:.2f} | "
                      f"{s['warping_error'] / tru:.2f} | {s['colourfulness']:.1f} | {s['delta_e2000']:.2f} | "
                      f"{s['psnr']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
