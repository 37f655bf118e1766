"""Preview against the full run, and the speed of the --quality presets (bench/README.md).

    python bench/preview.py [--minutes 10] [--sample-seconds 12] [--work DIR]

1. Makes a MINUTES-long 640x480 25 fps black-and-white film with sound: the bundled sample film
   looped (its own cuts, and one at every loop).
2. Times `oldfilm preview FILM` (8 frames, every default) on the whole film.
3. Times `oldfilm colorize` (every default: stabilizer and run report included) on the film's first
   SAMPLE seconds and extrapolates the full run from its frames/s (the whole film would take
   about 25 minutes here; the work per frame does not depend on where the frame is).
4. Times `oldfilm colorize --quality draft|standard|best --no-report` on the same seconds.

Every figure is one run of the `oldfilm` command in a fresh process (start-up included), all in
this one run of the script, so their ratios hold whatever the machine's state.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oldfilm.pipeline import cpu_bf16_supported  # noqa: E402
from oldfilm.video import probe  # noqa: E402
from oldfilm.video.ffmpeg import ffmpeg_exe  # noqa: E402


def ff(*args) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *map(str, args)], check=True)


def oldfilm(*args) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "oldfilm", *map(str, args)], check=True, env=env)
    return time.perf_counter() - started


def cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--sample-seconds", type=float, default=12)
    ap.add_argument("--work", type=Path, default=None)
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="oldfilm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    film, part = work / "film.mp4", work / "part.mp4"
    if not film.exists():
        ff("-stream_loop", "-1", "-i", ROOT / "samples" / "bunny-bw.mp4", "-t", a.minutes * 60,
           "-vf", "scale=640:480,setsar=1", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
           "-c:a", "aac", film)
    ff("-i", film, "-t", a.sample_seconds, "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "copy", part)
    info, pinfo = probe(film), probe(part)
    print(f"CPU: {cpu()}; native bf16: {cpu_bf16_supported()}; torch threads default; film {info.width}x{info.height} "
          f"{info.frames} frames ({info.duration / 60:.1f} min), sample {pinfo.frames} frames", flush=True)

    t_preview = oldfilm("preview", film, "-o", work / "sheet.png", "--overwrite", "-q")
    t_part = oldfilm("colorize", part, "-o", work / "out.mp4", "--overwrite", "-q")
    full = t_part / pinfo.frames * info.frames
    print(f"\npreview, 8 frames of the whole film: {t_preview:.1f} s")
    print(f"colorize of {pinfo.frames} frames: {t_part:.1f} s ({pinfo.frames / t_part:.2f} frames/s with start-up) "
          f"-> full run extrapolated {full:.0f} s")
    print(f"preview / full run: {100 * t_preview / full:.1f}%\n")

    times = {}
    for q in ("draft", "standard", "best"):
        times[q] = oldfilm("colorize", part, "-o", work / f"{q}.mp4", "--overwrite", "-q", "--no-report", "--quality", q)
        print(f"--quality {q:8}: {times[q]:6.1f} s, {pinfo.frames / times[q]:5.2f} frames/s, "
              f"{(work / f'{q}.mp4').stat().st_size / 1e6:5.2f} MB", flush=True)
    print(f"standard / draft: {times['standard'] / times['draft']:.2f}x")


if __name__ == "__main__":
    main()
