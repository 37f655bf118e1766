"""Guided colorization against colour truth: the figures of bench/README.md's "Guided colorization".

    python bench/guided.py --photos DIR --clips bikes.mp4 bigbuckbunny.mp4 [--modes MODE...] [--only NAME...] [--out DIR]

Clips with colour truth: synthetic camera moves over colour photos from DIR (a pan; a pan where
objects cut from other photos enter and cross; a 24 s shot where six enter), and real colour
video (every clip given with --clips, shrunk to 640 px wide, its first --seconds: 10 s). Each is
turned gray and colorized from the truth:
- ``first``: the truth's first frame of each shot as an opaque keyframe;
- ``ends``: its first and last frames;
- ``dots``: 20 dots of 5 px of the truth's colour on each shot's first frame (a hint image);
- ``reference``: a colour photo of the scene that is not a frame of the clip (the truth 3 s into
  each shot, mirrored and cropped; one per shot, all given as ``--reference``), and ``unrelated``:
  the previous clip's photos (the last clip's for the first);
beside the gray film, the automatic colorizer, the naive baseline (the keyframe's chroma
carried along DIS flow, frame to frame, and nothing else) and the floor (``--modes floor``: the
truth's own chroma through the stage's 256 px working size and back, then the output encode).
Scores: mean CIEDE2000 to the truth over the shot, as a ratio to the gray film's, and warping error as a ratio to the truth's.
Timing (``--speed``): plain ``colorize`` against ``colorize --keyframes`` on the first clip at 640x480, one run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from oldfilm.ops.color import cbcr_to_rgb_delta, rgb_to_ycbcr
from oldfilm.ops.flow import DISFlow, flow_tensor, warp
from oldfilm.video import FrameWriter
from oldfilm.video.ffmpeg import ffmpeg_exe

FPS = 25
SIZE = (640, 360)


def ff(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def read_photo(path: Path, long_side: int) -> np.ndarray:
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    s = long_side / max(img.shape[:2])
    return cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)


def camera_move(background: np.ndarray, objects: list[np.ndarray], seconds: float, seed: int) -> np.ndarray:
    """Frames (T, H, W, 3) of a slow pan and zoom over ``background`` while each of ``objects``
    (RGBA cut-outs) enters from a side at its own time and crosses the frame."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    n = round(seconds * FPS)
    bh, bw = background.shape[:2]
    frames = np.empty((n, h, w, 3), np.uint8)
    enters = np.sort(rng.uniform(0.05, 0.7, len(objects))) * n
    paths = []
    for k, obj in enumerate(objects):
        oh, ow = obj.shape[:2]
        y0, y1 = rng.uniform(0.1, 0.9, 2) * h - oh / 2
        left = k % 2 == 0
        x0, x1 = (-ow, w) if left else (w, -ow)
        paths.append((enters[k], rng.uniform(4, 8) * FPS, x0, x1, y0, y1))
    for t in range(n):
        u = t / max(1, n - 1)
        zoom = 1.0 + 0.15 * np.sin(np.pi * u)
        cx = bw / 2 + (u - 0.5) * (bw - w * 1.3) * 0.9
        cy = bh / 2 + 0.1 * bh * np.sin(2 * np.pi * u)
        angle = 2.0 * np.sin(np.pi * u * 1.5)
        m = cv2.getRotationMatrix2D((cx, cy), angle, zoom)
        m[:, 2] += (w / 2 - cx, h / 2 - cy)
        frame = cv2.warpAffine(background, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        for obj, (start, dur, x0, x1, y0, y1) in zip(objects, paths):
            p = (t - start) / dur
            if not 0 <= p <= 1:
                continue
            mo = np.float32([[1, 0, x0 + p * (x1 - x0)], [0, 1, y0 + p * (y1 - y0)]])
            layer = cv2.warpAffine(obj, mo, (w, h), flags=cv2.INTER_LINEAR)
            a = layer[..., 3:].astype(np.float32) / 255
            frame = (frame * (1 - a) + layer[..., :3] * a).round().astype(np.uint8)
        frames[t] = frame
    return frames


def cut_out(photo: np.ndarray, size: int, seed: int) -> np.ndarray:
    """An elliptical RGBA piece of ``photo`` about ``size`` px, soft-edged."""
    rng = np.random.default_rng(seed)
    ph, pw = photo.shape[:2]
    oh, ow = int(size * rng.uniform(0.7, 1.0)), int(size * rng.uniform(0.7, 1.3))
    y, x = rng.integers(0, ph - oh), rng.integers(0, pw - ow)
    piece = photo[y:y + oh, x:x + ow]
    mask = np.zeros((oh, ow), np.uint8)
    cv2.ellipse(mask, (ow // 2, oh // 2), (ow // 2 - 2, oh // 2 - 2), 0, 0, 360, 255, -1)
    mask = cv2.GaussianBlur(mask, (5, 5), 1.2)
    return np.dstack([piece, mask])


def encode(frames: np.ndarray, path: Path) -> Path:
    """Colour truth as a file, encoded like every version (libx264 CRF 10, 4:2:0)."""
    with FrameWriter(path, frames.shape[2], frames.shape[1], Fraction(FPS), crf=10) as w:
        w.write(frames)
        w.close()
    return path


def decode_all(path: Path) -> np.ndarray:
    from oldfilm.video import FrameReader, probe
    with FrameReader(probe(path), 32) as r:
        return np.concatenate(list(r))


def write_keyframes(folder: Path, truth: np.ndarray, picks: list[int], dots: int = 0, seed: int = 0) -> Path:
    """The truth's frames ``picks`` as keyframe images (``dots`` > 0: a hint image of that many
    5 px dots of the truth's colour, on a transparent layer)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for n in picks:
        bgr = cv2.cvtColor(truth[n], cv2.COLOR_RGB2BGR)
        if dots:
            h, w = bgr.shape[:2]
            alpha = np.zeros((h, w), np.uint8)
            for y, x in zip(rng.integers(3, h - 3, dots), rng.integers(3, w - 3, dots)):
                cv2.circle(alpha, (int(x), int(y)), 2, 255, -1)
            bgr = np.dstack([bgr * (alpha[..., None] > 0), alpha])
        cv2.imwrite(str(folder / f"key_f{n:06d}.png"), bgr)
    return folder


def reference_photos(folder: Path, truth: np.ndarray, shots: list[tuple[int, int]]) -> list[Path]:
    """For each shot, a colour photo of its scene that is not a frame of the clip: the truth 3 s
    into the shot (its last frame if the shot is shorter), mirrored and cropped to its central
    80% x 85%, rescaled to the frame's size."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for a, b in shots:
        n = min(a + 3 * FPS, b - 1)
        h, w = truth.shape[1:3]
        crop = truth[n, int(.05 * h):int(.9 * h), int(.12 * w):int(.92 * w)][:, ::-1]
        crop = cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=cv2.INTER_CUBIC)
        paths.append(folder / f"ref_{n:06d}.png")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return paths


def naive(gray: np.ndarray, truth: np.ndarray, shots: list[tuple[int, int]]) -> np.ndarray:
    """The baseline: each shot's first truth frame's chroma carried along DIS flow (gray film,
    full size), frame to frame, and nothing else."""
    dis = DISFlow("medium")
    out = np.empty_like(truth)
    for a, b in shots:
        cbcr = rgb_to_ycbcr(torch.from_numpy(truth[a]).permute(2, 0, 1)[None].float() / 255)[:, 1:]
        prev = cv2.cvtColor(gray[a], cv2.COLOR_RGB2GRAY)
        for t in range(a, b):
            now = cv2.cvtColor(gray[t], cv2.COLOR_RGB2GRAY)
            if t > a:
                cbcr = warp(cbcr, flow_tensor(dis(now, prev), "cpu"))
            g = torch.from_numpy(gray[t]).permute(2, 0, 1)[None].float() / 255
            rgb = (g + cbcr_to_rgb_delta(cbcr - rgb_to_ycbcr(g)[:, 1:])).clamp(0, 1)
            out[t] = rgb[0].permute(1, 2, 0).mul(255).round().byte().numpy()
            prev = now
    return out


def floor(gray: np.ndarray, truth: np.ndarray, size: int = 256) -> np.ndarray:
    """The error floor of guided work: the truth's own chroma shrunk to the stage's working size
    (long side ``size``) and upsampled again under the gray film's luma, as the stage composes
    its carried colour (its output encode then adds its own share)."""
    from oldfilm.ops.color import downsample, with_chroma
    from oldfilm.ops.flow import work_dims
    dims = work_dims(*truth.shape[1:3], size)
    out = np.empty_like(truth)
    for i in range(0, len(truth), 16):
        rgb = lambda x: torch.from_numpy(x[i:i + 16]).permute(0, 3, 1, 2).float() / 255  # noqa: E731
        cbcr = downsample(rgb_to_ycbcr(rgb(truth))[:, 1:], dims)
        out[i:i + 16] = with_chroma(rgb(gray), cbcr).mul(255).round().byte().permute(0, 2, 3, 1).numpy()
    return out


def make_clips(args, tmp: Path) -> list[tuple[str, Path]]:
    photos = args.photos
    clips = []
    if photos:
        pieces = [cut_out(read_photo(photos / p, 600), 90, i) for i, p in enumerate(args.objects)]
        for name, bg, objs, secs in [("pan", args.backgrounds[0], [], 8), ("objects enter", args.backgrounds[1], pieces[:3], 8),
                                     ("24 s, six enter", args.backgrounds[2], pieces[:6], 24)]:
            if args.only and name not in args.only:
                clips.append((name, None))   # (its place kept: the clips' seeds are their places)
                continue
            frames = camera_move(read_photo(photos / bg, 1400), objs, secs, len(clips))
            clips.append((name, encode(frames, tmp / f"clip{len(clips)}.mkv")))
    for clip in args.clips:
        if args.only and clip.stem not in args.only:
            continue
        path = tmp / f"{clip.stem}.mkv"
        ff("-i", str(clip), "-map", "0:V:0", "-t", str(args.seconds), "-vf", "scale=640:-2,format=yuv420p",
           "-c:v", "libx264", "-crf", "10", str(path))
        clips.append((clip.stem, path))
    return [(name, path) for name, path in clips if path is not None]


def contact_sheet(out_dir: Path, stem: str, target: Path, later=(1, 3, 6)) -> None:
    """gray / keyframe / the output 1 s, 3 s, 6 s later (within the first shot) / the truth at those
    times, from the files a run kept under --out."""
    gray, truth = decode_all(out_dir / f"{stem}-gray.mkv"), decode_all(out_dir / f"{stem}.mkv")
    out = decode_all(out_dir / f"{stem}-first.mkv")
    from oldfilm.scenes import detect_scenes
    cuts = detect_scenes(out_dir / f"{stem}-gray.mkv") + [len(gray)]
    times = [min(round(s * FPS), cuts[0] - 1) for s in later]
    w = 320
    small = lambda f: cv2.resize(f, (w, round(f.shape[0] * w / f.shape[1])), interpolation=cv2.INTER_AREA)  # noqa: E731
    top = [small(gray[0]), small(truth[0])] + [small(out[t]) for t in times]
    bottom = [small(np.full_like(truth[0], 255))] * 2 + [small(truth[t]) for t in times]
    sheet = np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)
    labels = ["gray", "keyframe"] + [f"+{t / FPS:.1f} s" for t in times]
    for i, text in enumerate(labels):
        cv2.putText(sheet, text, (i * w + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    cv2.putText(sheet, "truth below", (w + 6, sheet.shape[0] // 2 + 40), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
    cv2.imwrite(str(target), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def shots_of(path: Path, frames: int) -> list[tuple[int, int]]:
    """(first, end) of each shot, as oldfilm's scene detector finds them."""
    from oldfilm.scenes import detect_scenes
    bounds = [0] + detect_scenes(path) + [frames]
    return list(zip(bounds, bounds[1:]))


def speed(clip: Path, seconds: float, tmp: Path) -> None:
    """Plain ``colorize`` against ``colorize --keyframes`` (the truth's first frame of each shot)
    on ``clip`` at 640x480, each twice, alternating, in one run: the ratio of their times."""
    from oldfilm import Pipeline
    from oldfilm.commands import recipe
    tmp.mkdir(parents=True, exist_ok=True)
    truth_path, gray_path = tmp / "speed.mkv", tmp / "speed-gray.mkv"
    ff("-i", str(clip), "-map", "0:V:0", "-t", str(seconds), "-vf", "scale=640:480,setsar=1,format=yuv420p",
       "-c:v", "libx264", "-crf", "10", str(truth_path))
    ff("-i", str(truth_path), "-vf", "hue=s=0", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p", str(gray_path))
    truth = decode_all(truth_path)
    keys = write_keyframes(tmp / "speed-keys", truth, [a for a, b in shots_of(gray_path, len(truth))])
    times: dict[str, list[float]] = {"colorize": [], "colorize --keyframes": []}
    cpu: dict[str, list[float]] = {"colorize": [], "colorize --keyframes": []}   # this process's, all threads
    for _ in range(2):
        for name, opts in [("colorize", {}), ("colorize --keyframes", {"keyframes": str(keys)})]:
            started, cpu_started = time.perf_counter(), time.process_time()
            Pipeline(recipe("colorize", **opts), progress=False).run(gray_path, tmp / "speed-out.mkv", crf=10,
                                                                     overwrite=True)
            times[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
    plain, guided = (min(t) for t in times.values())
    plain_cpu, guided_cpu = (min(t) for t in cpu.values())
    print(f"640x480, {len(truth)} frames: colorize {plain:.1f} s, colorize --keyframes {guided:.1f} s (best of 2): "
          f"--keyframes takes {guided / plain:.2f}x plain colorize's time; CPU time in process (without "
          f"ffmpeg's) {plain_cpu:.1f} s and {guided_cpu:.1f} s: {guided_cpu / plain_cpu:.2f}x")


def main() -> None:
    from oldfilm import Pipeline
    from oldfilm.commands import recipe
    from oldfilm.evaluate import evaluate
    from oldfilm.pipeline import cpu_bf16_supported, cpu_name

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, help="folder of colour photos (lomiri-wallpapers-16.04's backgrounds)")
    ap.add_argument("--backgrounds", nargs=3, default=["Bridge_by_Sander_Klootwijk.jpg",
                    "picosdeeuropa_by_Aitzol_Berasategi.jpg", "sunset_by_Aitzol_Berasategi.jpg"])
    ap.add_argument("--objects", nargs=6, default=["Dragonfly_by_Bolly.jpg", "Wine_by_Jakkub_Mede.jpg",
                    "friends_by_Aitzol_Berasategi.jpg", "greentock_by_Peter_Nerlich.jpg",
                    "umang_by_Abhishek_Mudgal.jpg", "life_by_Aitzol_Berasategi.jpg"])
    ap.add_argument("--clips", nargs="*", type=Path, default=[])
    ap.add_argument("--seconds", type=float, default=10, help="the clips' first SECONDS (to fit a run in time)")
    ap.add_argument("--modes", nargs="*", default=["auto", "naive", "first", "ends", "dots", "reference", "unrelated"])
    ap.add_argument("--only", nargs="*", metavar="NAME", help="only these clips: pan, 'objects enter', "
                    "'24 s, six enter' or a --clips file's stem (e.g. --only pan bikes)")
    ap.add_argument("--out", type=Path, help="keep the clips and outputs here (contact sheets)")
    ap.add_argument("--speed", action="store_true", help="only time plain colorize against colorize --keyframes "
                    "on the first --clips clip at 640x480")
    ap.add_argument("--sheet", nargs=2, metavar=("STEM", "JPG"),
                    help="only write a contact sheet of clip STEM from a finished --out run")
    args = ap.parse_args()
    if args.sheet:
        return contact_sheet(args.out, args.sheet[0], Path(args.sheet[1]))
    print(f"CPU: {cpu_name()}, bf16: {cpu_bf16_supported()}, torch threads {torch.get_num_threads()}")
    if args.speed:
        with tempfile.TemporaryDirectory() as tmpdir:
            return speed(args.clips[0], args.seconds, args.out or Path(tmpdir))
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = args.out or Path(tmpdir)
        tmp.mkdir(parents=True, exist_ok=True)
        rows = []
        print("| clip | shots | version | ΔE2000 | vs gray | warping error vs truth's | s |")
        print("|---|---|---|---|---|---|---|")
        refs, prev = {}, None   # each clip's reference photos, the clip before
        clips = make_clips(args, tmp)
        if "unrelated" in args.modes:   # the last clip's photos serve the first
            prev = clips[-1][1].stem
            truth = decode_all(clips[-1][1])
            refs[prev] = reference_photos(tmp / f"{prev}-refs", truth, shots_of(clips[-1][1], len(truth)))
        for name, truth_path in clips:
            stem = truth_path.stem
            gray_path = tmp / f"{stem}-gray.mkv"
            ff("-i", str(truth_path), "-vf", "hue=s=0", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p",
               str(gray_path))
            truth, gray = decode_all(truth_path), decode_all(gray_path)
            shots = shots_of(gray_path, len(gray))
            versions = {"truth": truth_path, "gray": gray_path}
            refs[stem] = reference_photos(tmp / f"{stem}-refs", truth, shots)
            seconds = {}
            for mode in args.modes:
                out = tmp / f"{stem}-{mode}.mkv"
                started = time.perf_counter()
                if mode in ("naive", "floor"):
                    frames = naive(gray, truth, shots) if mode == "naive" else floor(gray, truth)
                    seconds[mode] = time.perf_counter() - started
                    encode(frames, out)
                else:
                    opts = {}
                    if mode in ("reference", "unrelated"):   # unrelated: the previous clip's photos
                        opts["references"] = tuple(map(str, refs[stem] if mode == "reference" else refs[prev]))
                    elif mode != "auto":
                        picks = [a for a, b in shots] + ([b - 1 for a, b in shots] if mode == "ends" else [])
                        opts["keyframes"] = str(write_keyframes(tmp / f"{stem}-{mode}-keys", truth, picks,
                                                                dots=20 if mode == "dots" else 0))
                    Pipeline(recipe("colorize", **opts), progress=False).run(gray_path, out, crf=10, overwrite=True)
                    seconds[mode] = time.perf_counter() - started
                versions[mode] = out
            scores = {v: evaluate(p, source=gray_path, truth=truth_path) for v, p in versions.items()}
            g, tw = scores["gray"]["delta_e2000"], scores["truth"]["warping_error"]
            for v, s in scores.items():
                print(f"| {name} | {len(shots)} | {v} | {s['delta_e2000']:.2f} | {s['delta_e2000'] / g:.3f} | "
                      f"{s['warping_error'] / tw:.2f} | {seconds.get(v, 0):.1f} |", flush=True)
                rows.append({"clip": name, "version": v, **{k: s[k] for k in ("delta_e2000", "warping_error")}})
            prev = stem
        if args.out:
            (args.out / "guided.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
