"""Preview against the full run, and the speed of the --quality presets (bench/README.md).

    python bench/preview.py [--minutes 10] [--sample-seconds 12] [--work DIR]

1. Makes a MINUTES-long 640x480 25 fps black-and-white film with sound: the bundled sample film
   looped (its own cuts, and one at every loop).
2. Times `oldfilm preview FILM` (8 frames, every default) on the whole film.
3. Times `oldfilm colorize` (every default: stabilizer and run report included) on the film's first
   SAMPLE seconds and extrapolates the full run from its frames/s (the whole film would take
   about 25 minutes here; the work per frame does not depend on where the frame is).
4. Times `oldfilm colorize --quality draft|standard|best --no-report` (`--presets`) on the same seconds and on
   its first 10 frames, REPEATS times each, interleaved; a preset's cost per frame is the median
   CPU time of the long run less that of the short one (start-up: imports, model load), over the
   frames between. `--presets-only` skips steps 2 and 3.

Every figure is one run of the `oldfilm` command in a fresh process (start-up included), all in
this one run of the script, so their ratios hold whatever the machine's state.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oldfilm.pipeline import cpu_bf16_supported, cpu_name  # noqa: E402
from oldfilm.video import probe  # noqa: E402
from oldfilm.video.ffmpeg import ffmpeg_exe  # noqa: E402


def ff(*args) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *map(str, args)], check=True)


CPU_TIMES: dict = {}


def oldfilm(*args) -> float:
    """Wall seconds of one `oldfilm` command; its CPU seconds (user + system, ffmpeg's included)
    go into CPU_TIMES[args]: on a machine shared with other work the CPU time is the steadier figure."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "oldfilm", *map(str, args)], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"oldfilm {' '.join(map(str, args))} failed")
    CPU_TIMES[args] = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started


def cpu_time(*args) -> float:
    return CPU_TIMES[args]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--sample-seconds", type=float, default=12)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--presets-only", action="store_true")
    ap.add_argument("--presets", default="draft,standard,best", help="comma-separated; standard is needed")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="oldfilm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    film, part, start = work / "film.mp4", work / "part.mp4", work / "start.mp4"
    minutes = a.sample_seconds / 60 if a.presets_only else a.minutes   # the presets need only the sample
    if not film.exists():
        ff("-stream_loop", "-1", "-i", ROOT / "samples" / "bunny-bw.mp4", "-t", minutes * 60,
           "-vf", "scale=640:480,setsar=1", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
           "-c:a", "aac", film)
    ff("-i", film, "-t", a.sample_seconds, "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "copy", part)
    ff("-i", film, "-frames:v", 10, "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "copy", start)
    info, pinfo, sinfo = probe(film), probe(part), probe(start)
    print(f"CPU: {cpu_name()}; native bf16: {cpu_bf16_supported()}; torch threads default; film {info.width}x{info.height} "
          f"{info.frames} frames ({info.duration / 60:.1f} min), sample {pinfo.frames} frames", flush=True)

    if not a.presets_only:
        pargs = ("preview", film, "-o", work / "sheet.png", "--overwrite", "-q")
        cargs = ("colorize", part, "-o", work / "out.mp4", "--overwrite", "-q")
        t_preview, t_part = oldfilm(*pargs), oldfilm(*cargs)
        c_preview, c_part = cpu_time(*pargs), cpu_time(*cargs)
        full, c_full = t_part / pinfo.frames * info.frames, c_part / pinfo.frames * info.frames
        print(f"\npreview, 8 frames of the whole film: {t_preview:.1f} s wall, {c_preview:.1f} s CPU")
        print(f"colorize of {pinfo.frames} frames: {t_part:.1f} s wall, {c_part:.1f} s CPU "
              f"-> full run extrapolated {full:.0f} s wall, {c_full:.0f} s CPU")
        print(f"preview / full run: {100 * t_preview / full:.1f}% of the wall time, "
              f"{100 * c_preview / c_full:.1f}% of the CPU time\n")

    spent = {}
    for rep in range(a.repeats):
        for q in a.presets.split(","):
            for clip in (part, start):
                qargs = ("colorize", clip, "-o", work / f"{q}-{clip.stem}.mp4", "--overwrite", "-q", "--no-report",
                         "--quality", q)
                oldfilm(*qargs)
                spent.setdefault((q, clip), []).append(cpu_time(*qargs))
            print(f"--quality {q:8} run {rep + 1}: {spent[q, part][-1]:6.1f} s CPU ({pinfo.frames} frames), "
                  f"{spent[q, start][-1]:5.1f} s CPU ({sinfo.frames} frames), "
                  f"{(work / f'{q}-part.mp4').stat().st_size / 1e6:5.2f} MB", flush=True)
    per = {q: 1000 * (statistics.median(spent[q, part]) - statistics.median(spent[q, start])) / (pinfo.frames - sinfo.frames)
           for q in a.presets.split(",")}
    for q, ms in per.items():
        print(f"--quality {q:8}: {ms:5.1f} CPU ms/frame, {ms / per['standard']:.2f}x standard "
              f"(start-up {statistics.median(spent[q, start]):.1f} s CPU)")
    if "draft" in per:
        print(f"standard / draft: {per['standard'] / per['draft']:.2f}x (CPU time per frame)")


if __name__ == "__main__":
    main()
