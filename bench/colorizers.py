"""Colorizer quality: ΔE2000 and colourfulness against colour truths, the numbers of the model cards.

    python bench/colorizers.py --data /work/data/colorizer --clips /work/data/val/bikes.mp4 \\
        --models vggcolor-v2 vggcolor-v1 [--grid] [--dark 0:0 15:35 ...] [--speed]

Sets: the held-out validation split of ``--data`` (the same file-level split as
``oldfilm train colorizer --val-fraction 0.15``), reported as photos, paintings (wesnoth/) and
cut-outs (tuxpaint/), and each clip at 1 frame/s. Every picture goes through the Colorize stage as
``oldfilm colorize`` runs it (the gray film in, render size, highlight mask, the film's luma kept;
``oldfilm.train.colorizer.evaluate``). ``--grid``: for vggcolor models, also a grid of
temperature x gain x calibration (the expected-error confidence rule; 0 = off); ``--half report``:
only the report half of the held-out split (the other, ``calibration``, is for fitting and choosing
a confidence head: ``oldfilm train confidence --split calibration``); ``--dark LO:HI ...``:
also each of these shadow ramps (no colour below L* LO, full above HI; 0:0 = off), crossed with the
grid. ``--speed``: the
Colorize stage's time per 640x480 frame for each model, alternated in one run, as a ratio to the
first model.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from oldfilm import weights
from oldfilm.pipeline import cpu_bf16_supported, cpu_name
from oldfilm.train.colorizer import _collect, evaluate, held_out_half, in_val_split, load_items

SETS = {"photos": lambda rel: not rel.startswith(("tuxpaint", "wesnoth")),
        "paintings": lambda rel: rel.startswith("wesnoth"), "cut-outs": lambda rel: rel.startswith("tuxpaint")}
GRID = [(t, g, c) for t in (0.6, 1.0) for g in (1.0, 0.8, 0.6) for c in (0.0, 1.0, 2.0, 3.0)]


class CachedLogits(torch.nn.Module):
    """A vggcolor net whose colour-class logits are computed once per input (for decode grids)."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net, self.store = net, {}

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        key = (tuple(L.shape), round(L.double().sum().item(), 3))
        if key not in self.store:
            self.store[key] = self.net.logits(L)
        return self.net.chroma(self.store[key], L)


def speed(names: list[str], reps: int = 6) -> None:
    from oldfilm.stages.colorize import Colorize

    stages = {n: Colorize(n) for n in names}
    frames = torch.rand(8, 3, 480, 640)
    times = {n: [] for n in names}
    with torch.inference_mode():
        for s in stages.values():
            s.colorize(frames[:1])   # warm-up (and any one-time table)
        for _ in range(reps):
            for n, s in stages.items():
                t0 = time.perf_counter()
                s.colorize(frames)
                times[n].append((time.perf_counter() - t0) / len(frames))
    base = sorted(times[names[0]])[reps // 2]
    print(f"Colorize at 640x480, batch 8, {torch.get_num_threads()} threads, {cpu_name()}, "
          f"bf16 {cpu_bf16_supported()}:")
    for n, ts in times.items():
        med = sorted(ts)[reps // 2]
        print(f"  {n}: {1000 * med:.0f} ms/frame (median of {reps}), {med / base:.2f}x {names[0]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="the training tree (its validation split is measured)")
    ap.add_argument("--clips", type=Path, nargs="*", default=[])
    ap.add_argument("--models", nargs="+", default=[weights.default("colorize")])
    ap.add_argument("--half", choices=["calibration", "report"],
                    help="only this half of the held-out split (models fitted on the calibration half: report)")
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--dark", nargs="*", default=[], metavar="LO:HI")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.speed:
        speed(args.models)
        return
    if args.data is None:
        ap.error("--data is needed (or --speed)")
    split = [f for f in _collect((args.data,)) if in_val_split(f[1], 0.15)
             and (args.half is None or held_out_half(f[1]) == args.half)]
    sets = {k: load_items([f for f in split if keep(f[1])], 384, 1.0)[0] for k, keep in SETS.items()}
    for clip in args.clips:
        sets[clip.stem] = load_items([(clip, clip.name)], 384, 1.0)[0]
    print("| model | decode | " + " | ".join(f"{k} ({len(v)})" for k, v in sets.items()) + " |")
    print("|---|---|" + "---|" * len(sets))
    gray = {}
    for name in args.models:
        net = weights.load(name)
        size = weights.get(name).transforms.render_size
        keep = {k: getattr(net, k) for k in ("temperature", "gain", "calibration", "dark") if hasattr(net, k)}
        darks = [tuple(map(float, d.split(":"))) for d in args.dark] if "dark" in keep else []
        shipped = tuple(keep.get(k) for k in ("temperature", "gain", "calibration"))
        points = GRID if args.grid and "calibration" in keep else [shipped] if darks else []
        grid = [None] + [(*p, d) for p in points for d in (darks or [keep.get("dark")])]
        model = CachedLogits(net) if len(grid) > 1 else net
        for point in grid:
            if point is not None:
                net.temperature, net.gain, net.calibration, net.dark = point
            cells = []
            for k, items in sets.items():
                m = evaluate(model, items, size)
                gray[k] = (m["de2000_gray"], m["colourfulness_true"])
                cells.append(f"{m['de2000']:.2f} ({m['de2000'] / m['de2000_gray']:.2f}x) / {m['colourfulness']:.1f}")
            label = "as shipped" if point is None else "T {:g}, gain {:g}, calibration {:g}, dark {:g}:{:g}".format(
                *point[:3], *point[3])
            print(f"| {name} | {label} | " + " | ".join(cells) + " |", flush=True)
        for k, v in keep.items():
            setattr(net, k, v)
    print("| gray input (baseline) / truth colourfulness | | "
          + " | ".join(f"{d:.2f} / {c:.1f}" for d, c in gray.values()) + " |")


if __name__ == "__main__":
    main()
