"""The stages alone, in process, without decoding or encoding: ms per frame of colorize + stabilize.

    python bench/stages.py [--size 640x480] [--seconds 6] [--kwargs '{"net_every": 16}']

Frames are decoded once into memory; after two warm-up batches the whole clip goes through
`Pipeline.process_batches` (batch 8), and wall and CPU time per frame are printed. Used to compare
two trees (run it with PYTHONPATH pointing at each, alternately, in one window) where the encoder's
share of the machine would otherwise blur the difference.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from oldfilm.video.ffmpeg import ffmpeg_exe   # before torch: oldfilm sets OpenMP's wait policy

from oldfilm import Pipeline, recipes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--kwargs", default="{}", help="JSON options for recipes.colorize")
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size={args.size}:rate=25:duration={args.seconds},hue=s=0,noise=alls=4:allf=t",
                        "-c:v", "libx264", "-crf", "18", str(clip)], check=True)
        raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(clip), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                             capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    pipe = Pipeline(recipes.colorize(**json.loads(args.kwargs)), device="cpu", batch_size=8, progress=False)
    batches = [frames[i:i + 8] for i in range(0, len(frames), 8)]
    list(pipe.process_batches(batches[:2]))
    cpu, wall = time.process_time(), time.perf_counter()
    n = sum(len(out) for out in pipe.process_batches(batches))
    print(f"{n} frames at {args.size}: wall {1000 * (time.perf_counter() - wall) / n:.1f} ms/frame, "
          f"cpu {1000 * (time.process_time() - cpu) / n:.1f} ms/frame")


if __name__ == "__main__":
    main()
