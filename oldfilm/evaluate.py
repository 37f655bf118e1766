"""Score a film: temporal stability (warping error), colourfulness and, against a colour truth,
CIEDE2000 and PSNR. Streams the films, so any length works; the metrics are :mod:`oldfilm.metrics`."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from .errors import BadInput
from .metrics import colourfulness, delta_e2000, psnr, warping_error
from .ops.color import rgb_to_lab
from .ops.flow import DISFlow, flow_tensor, non_occlusion, to_gray_u8
from .scenes import SceneDetector
from .video import FrameReader, probe


def _tensor(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255)


def evaluate(video: str | Path, source: str | Path | None = None, truth: str | Path | None = None,
             *, batch_size: int = 16, progress: bool = False) -> dict:
    """Per-frame and mean scores of ``video``. Flow for the warping error comes from ``source``'s
    gray frames (default: ``video``'s own); pairs across a scene cut are not counted."""
    infos = {"video": probe(video)}
    if source is not None:
        infos["source"] = probe(source)
    if truth is not None:
        infos["truth"] = probe(truth)
    base = infos["video"]
    for name, info in infos.items():
        if (info.width, info.height) != (base.width, base.height):
            raise BadInput(f"{info.path.name} is {info.width}x{info.height} but {base.path.name} is "
                           f"{base.width}x{base.height}: compare films of the same size")
    readers = {k: iter(FrameReader(v, batch_size)) for k, v in infos.items()}
    detector, dis = SceneDetector(), DISFlow("medium")
    per = {"warping_error": [], "colourfulness": [], "delta_e2000": [], "psnr": []}
    cuts, index, prev, prev_gray = [], 0, None, None
    bar = tqdm(total=base.frames, unit="frame", disable=not progress, desc="eval")
    while True:
        batches = {k: next(r, None) for k, r in readers.items()}
        if any(b is None for b in batches.values()):
            break
        n = min(len(b) for b in batches.values())
        vid = _tensor(batches["video"][:n])
        guide = batches.get("source", batches["video"])[:n]
        found = set(detector(guide, index))
        cuts += sorted(found)
        per["colourfulness"] += colourfulness(vid).tolist()
        if "truth" in batches:
            tru = _tensor(batches["truth"][:n])
            per["delta_e2000"] += delta_e2000(rgb_to_lab(vid), rgb_to_lab(tru)).flatten(1).mean(1).tolist()
            per["psnr"] += psnr(vid, tru).clamp(max=100).tolist()
        for i in range(n):
            gray = to_gray_u8(_tensor(guide[i:i + 1])[0])
            frame = vid[i:i + 1]
            if prev is not None and index + i not in found:
                fw = flow_tensor(dis(prev_gray, gray), "cpu")
                bw = flow_tensor(dis(gray, prev_gray), "cpu")
                per["warping_error"].append(warping_error(prev, frame, fw, non_occlusion(fw, bw)).item())
            prev, prev_gray = frame, gray
        index += n
        bar.update(n)
    bar.close()
    for r in readers.values():
        r.close()
    report = {"video": str(video), "source": str(source) if source else None,
              "truth": str(truth) if truth else None, "frames": index, "cuts": cuts}
    for key, values in per.items():
        report[key] = float(np.mean(values)) if values else None
    report["per_frame"] = {k: v for k, v in per.items() if v}
    return report


def plot(report: dict, path: str | Path, width: int = 900, panel: int = 160) -> None:
    """A PNG with one line chart per metric over the frames (warping error per frame pair)."""
    series = [(k, v) for k, v in report["per_frame"].items() if v]
    img = np.full((panel * len(series) + 30, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, Path(report["video"]).name[:80], (10, 20), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    for row, (name, values) in enumerate(series):
        top, left, right = 30 + row * panel, 70, width - 15
        bottom = top + panel - 30
        lo, hi = min(values), max(values)
        hi = hi if hi > lo else lo + 1e-9
        cv2.rectangle(img, (left, top), (right, bottom), (180, 180, 180), 1)
        xs = np.linspace(left, right, num=len(values)) if len(values) > 1 else np.array([left])
        ys = bottom - (np.asarray(values) - lo) / (hi - lo) * (bottom - top)
        pts = np.stack([xs, ys], 1).round().astype(np.int32)
        cv2.polylines(img, [pts], False, (180, 90, 20), 1, cv2.LINE_AA)
        for cut in report["cuts"]:
            x = int(left + cut / max(report["frames"] - 1, 1) * (right - left))
            cv2.line(img, (x, top), (x, bottom), (60, 60, 220), 1)
        mean = float(np.mean(values))
        cv2.putText(img, f"{name}  mean {mean:.6g}", (left + 5, top + 14), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, f"{hi:.3g}", (5, top + 10), font, 0.35, (80, 80, 80), 1, cv2.LINE_AA)
        cv2.putText(img, f"{lo:.3g}", (5, bottom), font, 0.35, (80, 80, 80), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), img)


def save(report: dict, json_path: str | Path | None, plot_path: str | Path | None) -> None:
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2))
    if plot_path:
        plot(report, plot_path)
