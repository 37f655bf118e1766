"""Score a film: temporal stability (warping error), colourfulness and, against a colour truth,
CIEDE2000 and PSNR. Streams the films, so any length works; the metrics are :mod:`oldfilm.metrics`."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import files
from .errors import BadInput
from .metrics import colourfulness, delta_e2000, psnr, warping_error
from .ops.color import rgb_to_lab
from .ops.flow import DISFlow, flow_tensor, non_occlusion, to_gray_u8
from .scenes import SceneDetector
from .video import FrameReader, probe
from .video.probe import same_film


def _tensor(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255)


def fit(width: int, height: int, size: int | None) -> tuple[int, int] | None:
    """Even (width, height) with the long side ``size`` (None: no scaling)."""
    if size is None or max(width, height) <= size:
        return None
    scale = size / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def evaluate(video: str | Path, source: str | Path | None = None, truth: str | Path | None = None,
             *, batch_size: int = 16, progress: bool = False, size: int | None = None, on_frames=None) -> dict:
    """Per-frame and mean scores of ``video``. Flow for the warping error comes from ``source``'s
    gray frames (default: ``video``'s own); pairs across a scene cut are not counted
    (``per_frame["pairs"]`` holds the second frame of each pair scored). ``size``: score frames
    scaled to this long side (faster; the scores are those of the smaller picture).
    ``on_frames(index, video_batch, source_batch, cuts)`` sees every uint8 batch as it is scored."""
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
        if name != "video":
            same_film(info, base, f"give as --{name} the film of the same frames")
    dims = fit(base.width, base.height, size)
    with contextlib.ExitStack() as stack:   # every reader closed, whatever happens
        readers = {k: iter(stack.enter_context(FrameReader(v, batch_size, size=dims))) for k, v in infos.items()}
        return _score(video, source, truth, base, readers, progress, on_frames)


def _score(video, source, truth, base, readers, progress, on_frames) -> dict:
    detector, dis = SceneDetector(), DISFlow("medium")
    per = {"warping_error": [], "colourfulness": [], "delta_e2000": [], "psnr": [], "pairs": []}
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
        if on_frames is not None:
            on_frames(index, batches["video"][:n], guide, sorted(found))
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
                per["pairs"].append(index + i)
            prev, prev_gray = frame, gray
        index += n
        bar.update(n)
    bar.close()
    report = {"video": str(video), "source": str(source) if source else None,
              "truth": str(truth) if truth else None, "frames": index, "cuts": cuts}
    for key, values in per.items():
        if key != "pairs":
            report[key] = float(np.mean(values)) if values else None
    report["per_frame"] = {k: v for k, v in per.items() if v}
    return report


def plot(report: dict, path: str | Path) -> None:
    """A PNG with one chart per score over the frames (warping error per frame pair), scene cuts marked."""
    from .charts import line_chart

    per = report["per_frame"]
    panels = [(name, [(name, per["pairs"] if name == "warping_error" else list(range(len(values))), values)])
              for name, values in per.items() if values and name != "pairs"]
    Path(path).write_bytes(line_chart(panels, cuts=report["cuts"], title=Path(report["video"]).name))


def check_writable(*paths: str | Path | None) -> None:
    """Make the folders of the report files, before any work; BadInput when one cannot be."""
    for path in paths:
        if path:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise BadInput(f"cannot write {path}: {e.strerror}; choose another path") from None


def save(report: dict, json_path: str | Path | None, plot_path: str | Path | None) -> None:
    check_writable(json_path, plot_path)
    if json_path:
        files.write_text(Path(json_path), json.dumps(report, indent=2))
    if plot_path:
        plot(report, plot_path)
