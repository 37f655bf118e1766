"""The run report written beside every output: ``NAME.report.json`` and a self-contained
``NAME.report.html`` (every image embedded as a data: URI; nothing is fetched from anywhere).

It says what went in (the input's streams), what was done (the chain and its settings, the models
and the sha256 of their files, time and frames/s) and what came out: colourfulness and flicker
(the warping error of ``oldfilm eval``) over the film and per shot, with before/after thumbnails.
The scores are measured on the films scaled to :data:`SIZE` pixels (long side), which keeps the
report's pass cheap next to the run; compare them with other reports, not with full-size ``eval``.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np

from . import __version__, charts, files
from .video import probe

SIZE = 256          # long side, in pixels, at which the report's scores are measured
THUMB = 160         # width of the thumbnails
_HASHES: dict = {}


def report_paths(output: Path) -> tuple[Path, Path]:
    """``movie.colorized.mp4`` -> ``movie.colorized.report.json``, ``movie.colorized.report.html``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.report.json"), output.with_name(f"{output.stem}.report.html")


def sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def model_files(names: list[str], models_dir: str | None = None) -> list[dict]:
    from . import weights

    rows = []
    for name in names:
        path = weights.find(name, models_dir)
        rows.append({"name": name, "file": str(path) if path else None,
                     "sha256": sha256(path) if path else None, "license": weights.get(name).license})
    return rows


def _jpeg(rgb: np.ndarray) -> str:
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (THUMB, max(2, round(THUMB * h / w))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode()


class _Shots:
    """Sees the scored frames stream by: a before/after thumbnail per shot (half a second into
    it, or its last frame) and the input's colourfulness per frame."""

    def __init__(self, offset: int):
        self.offset, self.thumbs, self.before = offset, [], []
        self._start, self._last, self._taken = 0, None, True

    def _take(self, pair) -> None:
        self.thumbs.append((_jpeg(pair[1]), _jpeg(pair[0])))
        self._taken = True

    def __call__(self, index: int, video: np.ndarray, source: np.ndarray, cuts: list[int]) -> None:
        import torch

        from .metrics import colourfulness

        self.before += colourfulness(torch.from_numpy(source).permute(0, 3, 1, 2).float() / 255).tolist()
        for i in range(len(video)):
            f = index + i
            if f == 0 or f in cuts:
                self.finish()
                self._start, self._taken = f, False
            self._last = (video[i], source[i])
            if not self._taken and f - self._start >= self.offset:
                self._take(self._last)

    def finish(self) -> None:
        if not self._taken and self._last is not None:
            self._take(self._last)


def _mean(values) -> float | None:
    return round(float(np.mean(values)), 6) if len(values) else None


def timecode(frame: int, fps) -> str:
    s = frame / float(fps)
    return f"{int(s // 3600):02d}:{int(s % 3600 // 60):02d}:{s % 60:06.3f}"


def film_report(input: Path, output: Path, *, command: str, stages: list, settings: dict, seconds: float,
                frames: int, run: dict, models_dir: str | None = None, compare: Path | None = None,
                progress: bool = False) -> tuple[dict, list, bytes | None]:
    """The report of one run (a JSON-able dict), the shots' thumbnails and the chart (PNG, or None
    without matplotlib). Reads the input and the output once, at :data:`SIZE` pixels."""
    from .evaluate import evaluate
    from .pipeline import disclosure, stage_models

    src, out = probe(input), probe(output)
    shots = _Shots(offset=max(1, round(float(src.fps) / 2)))
    scores = evaluate(output, source=input, size=SIZE, on_frames=shots, progress=progress)
    shots.finish()
    per = scores["per_frame"]
    colour, before, flicker, pairs = per["colourfulness"], shots.before, per.get("warping_error", []), per.get("pairs", [])
    bounds = [0] + scores["cuts"] + [scores["frames"]]
    rows = []
    for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
        inside = [e for e, p in zip(flicker, pairs) if a < p < b]
        rows.append({"shot": k + 1, "start": a, "end": b - 1, "time": timecode(a, src.fps),
                     "colourfulness_before": _mean(before[a:b]), "colourfulness": _mean(colour[a:b]),
                     "flicker": _mean(inside)})
    report = {
        "oldfilm": __version__, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command, "input": src.describe(), "output": out.describe(),
        "chain": [s.describe() for s in stages], "settings": settings, "run": run,
        "models": model_files(stage_models(stages), models_dir), "metadata": disclosure(stages)["comment"],
        "seconds": round(seconds, 3), "frames": frames, "fps": round(frames / seconds, 3) if seconds else None,
        "compare": compare.name if compare else None,
        "scores": {"measured_at": f"{SIZE} px long side", "colourfulness_before": _mean(before),
                   "colourfulness": _mean(colour), "flicker": _mean(flicker)},
        "shots": rows,
        "per_frame": {"colourfulness_before": [round(v, 4) for v in before],
                      "colourfulness": [round(v, 4) for v in colour],
                      "flicker": [round(v, 7) for v in flicker], "flicker_frames": pairs},
    }
    chart = None
    if charts.available():
        xs = list(range(len(colour)))
        chart = charts.line_chart(
            [("colourfulness", [("after", xs, colour), ("before", xs[:len(before)], before)]),
             ("flicker (warping error)", [("after", pairs, flicker)])],
            cuts=scores["cuts"], title=f"{out.path.name}: colourfulness and flicker over the film")
    return report, shots.thumbs, chart


def write_film_report(input: Path, output: Path, **kwargs) -> tuple[Path, Path]:
    """Write ``NAME.report.json`` and ``NAME.report.html`` beside ``output``; returns their paths."""
    from .report_html import film_html

    report, thumbs, chart = film_report(Path(input), Path(output), **kwargs)
    json_path, html_path = report_paths(output)
    _write_pair(json_path, json.dumps(report, indent=1), html_path, film_html(report, thumbs, chart))
    return json_path, html_path


def _write_pair(json_path: Path, json_text: str, html_path: Path, html: str) -> None:
    """A report's two files, each whole (``files.write_text``), and both or neither: a full disk
    leaves no report that looks finished."""
    files.write_text(json_path, json_text)
    try:
        files.write_text(html_path, html)
    except BaseException:
        json_path.unlink(missing_ok=True)
        raise


def write_batch_report(out_dir: Path, films: list, *, command: str, settings: dict) -> tuple[Path, Path]:
    """``batch.report.json`` and ``batch.report.html`` in ``out_dir``: every film's result, with a
    link to its own report."""
    from .report_html import batch_html

    rows = []
    for f in films:
        report = report_paths(f.output)[1]
        rows.append({"input": str(f.input), "output": os.path.relpath(f.output, out_dir), "status": f.status,
                     "frames": f.frames, "seconds": round(f.seconds, 3) if f.status == "done" else None,
                     "error": f.error, "report": os.path.relpath(report, out_dir) if report.exists() else None})
    report = {"oldfilm": __version__, "command": command, "settings": settings, "films": rows,
              "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / "batch.report.json", out_dir / "batch.report.html"
    _write_pair(paths[0], json.dumps(report, indent=1), paths[1], batch_html(report))
    return paths
