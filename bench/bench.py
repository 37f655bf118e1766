"""Throughput and peak memory of oldfilm against ffmpeg alone. Run by hand:

    python bench/bench.py                 # 640x480 and 1920x1080, writes a markdown table
    python bench/bench.py --sizes 640x480 --seconds 6 --skip-memory
    python bench/bench.py --sizes 1920x1080 --kinds ffmpeg,identity --rounds 3 --skip-memory   # median of 3

Each measurement runs in a fresh process so peak memory (max RSS) is its own:
(a) ffmpeg decode -> libx264 encode alone, (b) oldfilm with the identity stage (decode, tensors,
encode, audio copy), (c) oldfilm colorize with the default model, per frame (--no-stabilize),
(d) oldfilm colorize as shipped (colorize + stabilize, the network on some frames: --net-every),
(d') every+stabilize: the network on every frame then the stabilizer (kind "every+stabilize"),
(d'') colorize+keyframes: ``colorize --keyframes`` with the colour test pattern's first frame as the
shot's keyframe (issue 11: at least as fast as plain colorize), (e) the built-in cartoon stylizer alone
(shinkai style), (f) ``restore``: `oldfilm restore` with the defaults. Plus the memory check: (b) and (d) on a
clip 10x longer must peak within 10% of the short clip.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oldfilm.video.ffmpeg import ffmpeg_exe   # before torch: oldfilm sets OpenMP's wait policy

import torch


def make_clip(path: Path, size: str, seconds: float) -> None:
    """A gray test pattern with grain and sound; beside it, in ``<stem>.keys/``, its first frame in
    colour as a keyframe (``colorize --keyframes``)."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate=25:duration={seconds},hue=s=0,noise=alls=4:allf=t",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:v", "libx264", "-crf", "18", "-c:a", "aac", "-shortest", str(path)], check=True)
    keys = keys_dir(path)
    keys.mkdir(exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
                    "-frames:v", "1", str(keys / "key_f000000.png")], check=True)


def keys_dir(clip: Path) -> Path:
    return clip.with_name(clip.stem + ".keys")


def child(kind: str, src: str, dst: str, batch: int, precision: str, model: str | None) -> None:
    """One measurement, in its own process: prints JSON with frames, seconds, peak RSS."""
    from oldfilm import Pipeline
    from oldfilm.stages import Identity
    from oldfilm.video import probe

    info = probe(src)
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    if kind == "ffmpeg":
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", src, "-map", "0:v:0", "-map", "0:a?",
                        "-c:v", "libx264", "-crf", "18", "-preset", "medium", "-c:a", "copy", dst], check=True)
        frames = info.frames
    else:
        from oldfilm import recipes
        if kind == "identity":
            stages = [Identity()]
        elif kind == "stylizer":
            from oldfilm.stages.cartoonize import Cartoonize
            stages = [Cartoonize("shinkai")]
        elif kind == "restore":   # `oldfilm restore` with the defaults
            from oldfilm import commands
            stages = commands.recipe("restore")
        else:
            # colorize: the network on every frame, no stabilizer; colorize+stabilize: as shipped;
            # every+stabilize: the network on every frame, then the stabilizer (the shipped chain until 0.2);
            # colorize+keyframes: the shot's colour from its keyframe, then the stabilizer
            extra = ({} if kind == "colorize+stabilize" else {"keyframes": str(keys_dir(Path(src)))}
                     if kind == "colorize+keyframes" else {"net_every": 1})
            stages = recipes.colorize(model=model, stabilize=kind != "colorize", **extra)
        pipe = Pipeline(stages, device="cpu", batch_size=batch, precision=precision, progress=False)
        frames = pipe.run(src, dst, overwrite=True, info=info).frames_out
    seconds = time.perf_counter() - started
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    # this process and its ffmpegs from the start on, without the imports (~3 s of torch's)
    cpu = me.ru_utime + me.ru_stime - before.ru_utime - before.ru_stime + kids.ru_utime + kids.ru_stime
    print(json.dumps({"frames": frames, "seconds": seconds, "fps": frames / seconds, "cpu_s": cpu,
                      "rss_mb": me.ru_maxrss / 1024, "ffmpeg_rss_mb": kids.ru_maxrss / 1024}))


def measure(kind: str, src: Path, out_dir: Path, batch: int, precision: str, model: str | None) -> dict:
    out = out_dir / f"{kind}-{src.stem}.mp4"
    res = subprocess.run([sys.executable, __file__, "--child", kind, str(src), str(out),
                          "--batch-size", str(batch), "--precision", precision]
                         + (["--model", model] if model else []),
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="640x480,1920x1080")
    ap.add_argument("--seconds", type=float, default=24.0,
                    help="length of the clip at 640x480 (1080p uses a third): long enough that the fixed costs "
                         "(model loading, the encoder's last ~40 frames of look-ahead after the pipeline has "
                         "finished) weigh as little as on a film")
    ap.add_argument("--memory-seconds", type=float, default=8.0,
                    help="the memory check's short clip (its long clip is 10x this)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--precision", default="auto", help="as oldfilm's --precision (auto: bf16 on CPUs with native bf16)")
    ap.add_argument("--model", default=None, help="colorizer [default: the registry's default]")
    ap.add_argument("--kinds", default="ffmpeg,identity,colorize,colorize+stabilize,stylizer",
                    help="which runs, comma-separated")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every kind this many times in turn and give each its median ratio to the same "
                         "round's first run, with the rounds' spread: on a shared or throttled machine ffmpeg "
                         "alone moves by 10-20%% between runs minutes apart")
    ap.add_argument("--skip-memory", action="store_true", help="skip the 10x-longer memory check")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "SRC", "DST"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.child:
        child(*args.child, args.batch_size, args.precision, args.model)
        return
    from oldfilm.pipeline import cpu_bf16_supported, cpu_name
    print(f"# {cpu_name()} ({'bf16' if cpu_bf16_supported() else 'no bf16'}), "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, batch {args.batch_size}, {args.precision}, model {args.model or 'default'}\n")
    # "CPU vs ffmpeg": ffmpeg alone's CPU seconds (user + system, all processes) over the run's, per
    # frame: steadier than frames/s on a shared machine, where another job's load moves the wall clock
    print("| size | run | frames | frames/s | vs ffmpeg | CPU s | CPU vs ffmpeg | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size in args.sizes.split(","):
            seconds = args.seconds if size == "640x480" else max(2.0, args.seconds / 3)
            clip = tmp / f"clip-{size}.mp4"
            make_clip(clip, size, seconds)
            kinds, runs = args.kinds.split(","), {}
            for _ in range(args.rounds):   # every kind once per round, so a slow spell of the machine hits all
                base = None
                for kind in kinds:
                    r = measure(kind, clip, tmp, args.batch_size, args.precision, args.model)
                    base = base or r   # the round's first run (ffmpeg, by default) is the reference
                    cpu_ratio = (base["cpu_s"] / base["frames"]) / (r["cpu_s"] / r["frames"])
                    runs.setdefault(kind, []).append((r, r["fps"] / base["fps"], cpu_ratio))
            for kind in kinds:
                rs = runs[kind]
                r, ratio, _ = sorted(rs, key=lambda x: x[1])[len(rs) // 2]   # the median round's
                cpu_ratio = sorted(x[2] for x in rs)[len(rs) // 2]

                def spread(i):
                    return f" ({min(x[i] for x in rs):.0%}–{max(x[i] for x in rs):.0%})" if len(rs) > 1 else ""
                print(f"| {size} | {kind} | {r['frames']} | {r['fps']:.1f} | {ratio:.0%}{spread(1)} | "
                      f"{r['cpu_s']:.1f} | {cpu_ratio:.0%}{spread(2)} | {max(x[0]['rss_mb'] for x in rs):.0f} |",
                      flush=True)
        if not args.skip_memory:
            print("\n| memory check (640x480) | short clip RSS (MB) | 10x longer RSS (MB) | ratio |")
            print("|---|---|---|---|")
            short, long = tmp / "short.mp4", tmp / "long.mp4"
            make_clip(short, "640x480", args.memory_seconds)
            make_clip(long, "640x480", args.memory_seconds * 10)
            for kind in ["identity", "colorize+stabilize"]:
                a = measure(kind, short, tmp, args.batch_size, args.precision, args.model)
                b = measure(kind, long, tmp, args.batch_size, args.precision, args.model)
                print(f"| {kind} ({a['frames']} vs {b['frames']} frames) | {a['rss_mb']:.0f} | {b['rss_mb']:.0f} | "
                      f"{b['rss_mb'] / a['rss_mb']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
