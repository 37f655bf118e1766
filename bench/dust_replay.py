"""The restore stage's dust test replayed offline: capture once, then rerun `dust_mask` alone.

    python bench/dust_replay.py capture --data DIR --out CAP [--clips bikes,fast] [--frames 80] [--agings 3]
    python bench/dust_replay.py replay CAP [--clips ...] [--agings 3] [--module FILE] [--time FILE]

`capture` ages the clips exactly as `bench/restore.py` does with its default `--clips` (same seeds,
same order; ``--agings K`` as its ``--agings K``: aging k of clip NAME is kept as ``NAME~k``),
restores each aged clip and its clean truth through the shipped `Pipeline`, and keeps
the inputs of every `dust_mask` call (the frame's luma, its compensated and raw neighbours and the
frames two away that ``further`` hands on demand: ~5 MB a 640x480 frame, so ~400-700 MB a clip of
80 frames) with the clip's truth, damage and restored output.

`replay` reruns `dust_mask` on them (from `oldfilm.ops.restore`, or from ``--module``, a copy of that
file being tried) and reports per clip, in ~10 s rather than a bench run's minutes:

- recall: the share of the bench's counted specks (those `bench/restore.py` scores) whose mask
  covers half or more of the speck; `agree`: how often that matches the bench's own "removed" on
  the captured run's output;
- false area: masked pixels a frame away from any speck; on the fast-motion clips, the share of
  the moving objects' inner pixels masked;
- on the clean clips: masked pixels a frame and the mean squared change the fills make;
- with ``--time FILE``: `dust_mask`'s process CPU a call, this code and FILE's alternated call by
  call (3 rounds of 40 calls): the A/B that holds under load.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

import restore as bench   # bench/restore.py, beside this file

ORDER = ("bikes", "bigbuckbunny", "fast", "crossing", "pan")   # bench/restore.py's default --clips


def capture(data: Path, out: Path, clips: list[str], frames: int, agings: int = 1) -> None:
    from oldfilm.ops import restore as ops
    from oldfilm.stages import restore as stage
    calls: list = []
    state = {"frame": -1}
    emit, mask = stage.Restore._emit, ops.dust_mask

    def counting_emit(self, *args):   # frames are emitted in order (one worker thread)
        state["frame"] += 1
        return emit(self, *args)

    def recording_mask(cur, prev, nxt, raw, *, steps=(-1, 1), reach=32, further=None, **kw):
        # the frames two away, asked of the stage here for both sides (it hands them on demand)
        far = [None if further is None else further(s) for s in (-1, 1)]
        frames = [cur, prev, nxt, raw[0], raw[1]] + [np.zeros_like(cur) if f is None else f for f in far]
        calls.append((np.stack(frames).astype(np.float32),
                      {"frame": state["frame"], "steps": list(steps), "reach": reach,
                       "further": [f is not None for f in far]}))
        return mask(cur, prev, nxt, raw, steps=steps, reach=reach, further=further, **kw)

    def run(src: Path, dst: Path, name: str) -> np.ndarray:
        calls.clear()
        state["frame"] = -1
        bench.restore(src, dst)
        np.save(out / f"{name}.cap.npy", np.stack([c for c, _ in calls]))
        (out / f"{name}.meta.json").write_text(json.dumps([m for _, m in calls]))
        print(f"{name}: {len(calls)} calls captured", flush=True)
        return bench.decode_gray(dst)

    out.mkdir(parents=True, exist_ok=True)
    stage.Restore._emit, ops.dust_mask = counting_emit, recording_mask
    try:
        rng = np.random.default_rng(1)
        for seed, name in enumerate(ORDER):   # every clip made, so that the seeds and rng are the bench's
            objects = None
            if name == "fast":
                truth, objects = bench.fast_clip(rng, frames)
            elif name == "crossing":
                truth, objects = bench.crossing_clip(np.random.default_rng(7), frames)
            elif name == "pan":
                truth = bench.pan_clip(rng, frames)
            elif name in clips:
                truth = bench.read_gray(data / f"{name}.mp4", 640, frames)
            if name not in clips:
                continue
            bench.write_gray(out / f"{name}.truth.mp4", truth)
            run(out / f"{name}.truth.mp4", out / f"{name}.clean.mp4", f"{name}-clean")
            extra = {} if objects is None else {"objects": objects}
            for k in range(agings):   # bench/restore.py's seeds: aging k of clip i is seed i + 100 k
                kept = name if k == 0 else f"{name}~{k}"
                aged, weave, dust = bench.age(truth, seed + 100 * k)
                bench.write_gray(out / f"{kept}.aged.mp4", aged)
                restored = run(out / f"{kept}.aged.mp4", out / f"{kept}.restored.mp4", kept)
                np.savez(out / f"{kept}.npz", truth=bench.decode_gray(out / f"{name}.truth.mp4"), weave=weave,
                         dust=dust, aged=bench.decode_gray(out / f"{kept}.aged.mp4"), restored=restored, **extra)
    finally:
        stage.Restore._emit, ops.dust_mask = emit, mask


def load(path: str | None):
    if path is None:
        from oldfilm.ops import restore
        return restore
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _calls(cap: Path, name: str):
    meta = json.loads((cap / f"{name}.meta.json").read_text())
    return zip(np.load(cap / f"{name}.cap.npy", mmap_mode="r"), meta)


def _mask(module, c, m):
    has = m.get("further", [False, False])
    further = None if not any(has) else (lambda step: c[5 + (step > 0)] if has[step > 0] else None)
    return module.dust_mask(c[0], c[1], c[2], [c[3], c[4]], steps=tuple(m["steps"]), reach=m["reach"],
                            further=further)


def specks(d) -> list[tuple[int, np.ndarray, bool]]:
    """The specks bench/restore.py counts: (frame, mask in the aged frame, removed in the captured run)."""
    aged, truth, weave, dust, restored = d["aged"], d["truth"], d["weave"], d["dust"], d["restored"]
    truth_aged = bench.shift(truth, weave)

    def contrast(frame, true, m):
        ys, xs = np.nonzero(m)
        box = slice(max(0, ys.min() - 6), ys.max() + 7), slice(max(0, xs.min() - 6), xs.max() + 7)
        return float(bench.metrics.spot_contrast(bench.t_(frame[box][None]), bench.t_(true[box][None]),
                                                 bench.torch.from_numpy(m[box])))

    out = []
    for i in range(len(aged)):
        n, labels = cv2.connectedComponents(dust[i].astype(np.uint8))
        for k in range(1, n):
            m = labels == k
            if m.sum() < 3 or (before := contrast(aged[i], truth_aged[i], m)) <= 0.05:
                continue
            dx, dy = np.round(weave[i]).astype(int)
            out.append((i, m, contrast(restored[i], truth[i], np.roll(m, (-dy, -dx), (0, 1))) < 0.3 * before))
    return out


def replay(cap: Path, name: str, module, clean: bool = True) -> dict:
    d = dict(np.load(cap / f"{name}.npz"))
    n, h, w = d["aged"].shape
    masks = np.zeros((n, h, w), np.float32)
    for c, m in _calls(cap, name):
        got = _mask(module, np.asarray(c), m)
        if got is not None:
            masks[m["frame"]] = np.maximum(*got)
    found = specks(d)
    hit = np.array([masks[i][m].mean() >= 0.5 for i, m, _ in found])
    near = np.stack([cv2.dilate(x.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0 for x in d["dust"]])
    row = {"clip": name, "specks": len(found), "recall": float(hit.mean()),
           "agree": float((hit == np.array([r for _, _, r in found])).mean()),
           "false_px_a_frame": float(((masks > 0.5) & ~near).sum() / n)}
    if "objects" in d:
        inside = bench.shift(d["objects"].astype(np.float32), d["weave"]) > 0.5
        inner = np.stack([cv2.erode(o.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0 for o in inside]) & ~near
        row["objects_masked"] = float((masks > 0.5)[inner].mean())
    if not clean:
        return row
    px, change = 0, []
    for c, m in _calls(cap, f"{name}-clean"):
        c = np.asarray(c)
        got, filled = _mask(module, c, m), c[0]
        if got is not None:
            px += int((np.maximum(*got) > 0.05).sum())
            filled = filled + got[0] * (0.5 * (c[1] + c[2]) - filled)
            filled = filled + got[1] * (0.5 * (c[3] + c[4]) - filled)
        change.append(float(np.mean((filled - c[0]) ** 2)))
    row.update(clean_masked_px_a_frame=px / max(len(change), 1), clean_fill_mse=float(np.mean(change)))
    return row


def timed(cap: Path, name: str, module, other) -> dict:
    calls = [(np.asarray(c), m) for c, m in list(_calls(cap, name))[:40]]
    spent = {"this": 0.0, "other": 0.0}
    for r in range(3):
        for c, m in calls:
            for key, mod in (("this", module), ("other", other))[::1 if r % 2 == 0 else -1]:
                started = time.process_time()
                _mask(mod, c, m)
                spent[key] += time.process_time() - started
    ms = {k: 1000 * v / (3 * len(calls)) for k, v in spent.items()}
    return {"ms_a_call": round(ms["this"], 2), "other_ms_a_call": round(ms["other"], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("capture")
    c.add_argument("--data", type=Path, required=True, help="folder with bikes.mp4 and bigbuckbunny.mp4")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--clips", default="bikes,bigbuckbunny,fast,crossing")
    c.add_argument("--frames", type=int, default=80)
    c.add_argument("--agings", type=int, default=1, help="age each clip this many ways, as bench/restore.py does")
    r = sub.add_parser("replay")
    r.add_argument("cap", type=Path)
    r.add_argument("--clips", default="bikes,bigbuckbunny,fast,crossing")
    r.add_argument("--agings", type=int, default=1,
                   help="also the captured agings 1..K-1 (NAME~k; the clean clip once)")
    r.add_argument("--module", default=None, help="a copy of oldfilm/ops/restore.py to replay instead")
    r.add_argument("--time", default=None, metavar="FILE", help="also time dust_mask against FILE's")
    args = ap.parse_args()
    if args.agings < 1:
        ap.error(f"--agings must be 1 or more, not {args.agings}")
    clips = args.clips.split(",")
    if args.command == "capture":
        capture(args.data, args.out, clips, args.frames, args.agings)
        return
    module = load(args.module)
    for name, aging in ((name, k) for name in clips for k in range(args.agings)):
        row = replay(args.cap, name if aging == 0 else f"{name}~{aging}", module, clean=aging == 0)
        if args.time and aging == 0:   # the same calls' cost whatever the aging
            row.update(timed(args.cap, name, module, load(args.time)))
        print(json.dumps({k: float(f"{v:.5g}") if isinstance(v, float) else v for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
