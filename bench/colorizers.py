"""Colorizer quality: ΔE2000 and colourfulness against colour truths, the numbers of the model cards.

    python bench/colorizers.py --data /work/data/colorizer --clips bikes.mp4 carphone_pristine.mp4 \\
        --models vggcolor-v1 colornet-v1 [--grid]

Sets: the held-out validation split of ``--data`` (the same file-level split as
``oldfilm train colorizer --val-fraction 0.15``), reported as photos and cut-outs (tuxpaint/), and
each clip at 1 frame/s. Each model runs at its registry render size on the truth's L*, like
``oldfilm train colorizer``'s evaluation. ``--grid``: for models with an annealed-mean decoder
(vggcolor), also every temperature × gain of the decode table.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from oldfilm import weights
from oldfilm.train.colorizer import _collect, evaluate, in_val_split, load_items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--clips", type=Path, nargs="*", default=[])
    ap.add_argument("--models", nargs="+", default=[weights.default("colorize")])
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    split = [f for f in _collect((args.data,)) if in_val_split(f[1], 0.15)]
    sets = {"photos": load_items([f for f in split if not f[1].startswith("tuxpaint")], 384, 1.0)[0],
            "cut-outs": load_items([f for f in split if f[1].startswith("tuxpaint")], 384, 1.0)[0]}
    for clip in args.clips:
        sets[clip.stem] = load_items([(clip, clip.name)], 384, 1.0)[0]
    print("| model | decode | " + " | ".join(f"{k} ({len(v)})" for k, v in sets.items()) + " |")
    print("|---|---|" + "---|" * len(sets))
    gray = {}
    for name in args.models:
        net = weights.load(name)
        size = weights.get(name).defaults.get("render_size", 256)
        grid = [(None, None)]
        if args.grid and hasattr(net, "temperature"):
            grid += [(t, g) for t in (1.0, 0.8, 0.6, 0.45) for g in (1.0, 0.8, 0.6)]
        keep = (getattr(net, "temperature", None), getattr(net, "gain", None))
        for t, g in grid:
            if t is not None:
                net.temperature, net.gain = t, g
            cells = []
            for k, items in sets.items():
                m = evaluate(net, items, size)
                gray[k] = (m["de2000_gray"], m["colourfulness_true"])
                cells.append(f"{m['de2000']:.2f} / {m['colourfulness']:.1f}")
            label = "as shipped" if t is None else f"T {t:g}, gain {g:g}"
            print(f"| {name} | {label} | " + " | ".join(cells) + " |", flush=True)
        if keep[0] is not None:
            net.temperature, net.gain = keep
    print("| gray input (baseline) / truth colourfulness | | "
          + " | ".join(f"{d:.2f} / {c:.1f}" for d, c in gray.values()) + " |")


if __name__ == "__main__":
    main()
