"""Batch throughput: films per hour with --workers 1 and 2, and the Ray path against local.

    python bench/bench_batch.py [--films 4] [--seconds 20]
    python bench/bench_batch.py --long-shot 60 [--chunk-seconds 20]

--long-shot: one film that is a single shot of that many seconds (a slow pan over a test
pattern), colorized by `oldfilm colorize` in one unbroken run and by `oldfilm batch` in chunks
that split the shot (each replays its stages' warm-up); prints both times and their ratio.

Makes N gray films of 640x480 at 25 fps with sound (each of a few shots), then times
`oldfilm batch` on them: in-process, with 2 local worker processes, and through a local Ray
instance (2 CPUs). Chunks are 5 s, so each film splits into several.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oldfilm.video.ffmpeg import ffmpeg_exe


def make_film(path: Path, seconds: float, seed: int) -> None:
    part = seconds / 3
    srcs = ["testsrc2", "mandelbrot", "testsrc"]
    args = [ffmpeg_exe(), "-v", "error", "-y"]
    for i in range(3):
        args += ["-t", f"{part}", "-f", "lavfi", "-i", f"{srcs[(i + seed) % 3]}=size=640x480:rate=25"]
    args += ["-f", "lavfi", "-i", f"sine=frequency={300 + 50 * seed}:duration={seconds}",
             "-filter_complex", "[0]format=yuv420p[a];[1]format=yuv420p[b];[2]format=yuv420p[c];"
                                "[a][b][c]concat=n=3,hue=s=0[v]",
             "-map", "[v]", "-map", "3:a", "-c:v", "libx264", "-c:a", "aac", str(path)]
    subprocess.run(args, check=True)


def timed(args: list[str], command: str = "batch") -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "oldfilm", command, *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def long_shot(tmp: Path, seconds: float, chunk: float) -> None:
    film = tmp / "films" / "take.mp4"
    film.parent.mkdir()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x960:rate=25",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-t", f"{seconds}",
                    "-vf", f"crop=640:480:'320+300*sin(t/{seconds})':'240*t/{seconds}',hue=s=0",
                    "-c:v", "libx264", "-c:a", "aac", str(film)], check=True)
    whole = timed([str(film), "-o", str(tmp / "whole.mp4"), "-q"], "colorize")
    chunked = timed([str(film.parent), "-o", str(tmp / "chunked"), "-q", "--chunk-seconds", f"{chunk}"])
    print(f"one {seconds:.0f} s shot at 640x480: `oldfilm colorize` {whole:.1f} s; `oldfilm batch --chunk-seconds "
          f"{chunk:g}` ({-(-seconds // chunk):.0f} chunks) {chunked:.1f} s: **{chunked / whole:.2f}x**")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--films", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--long-shot", type=float, default=None, metavar="SECONDS",
                    help="time one single-shot film unbroken against chunked instead")
    ap.add_argument("--chunk-seconds", type=float, default=20.0, help="chunks of --long-shot")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.long_shot:
            long_shot(tmp, args.long_shot, args.chunk_seconds)
            return
        films = tmp / "films"
        films.mkdir()
        for i in range(args.films):
            make_film(films / f"film{i}.mp4", args.seconds, i)
        minutes = args.films * args.seconds / 60
        print(f"{args.films} films x {args.seconds:.0f} s at 640x480 ({minutes:.1f} min of film), chunks of 5 s\n")
        print("| run | wall time (s) | films/hour | film minutes per hour |")
        print("|---|---|---|---|")
        runs = [("--workers 1", ["--workers", "1"]), ("--workers 2", ["--workers", "2"])]
        if not args.skip_ray:
            runs.append(("--ray local (2 CPUs)", ["--ray", "local"]))
        for name, extra in runs:
            out = tmp / name.replace(" ", "_")
            secs = timed([str(films), "-o", str(out), "-q", "--chunk-seconds", "5", *extra])
            print(f"| {name} | {secs:.1f} | {args.films * 3600 / secs:.1f} | {minutes * 3600 / secs:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
