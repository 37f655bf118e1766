"""The HTML of the run reports: one self-contained page (inline style, images as data: URIs and a
Content-Security-Policy that lets the page load nothing else)."""
from __future__ import annotations

import base64
from html import escape

from . import charts

_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; padding: 0 1em; color: #222; }}
h1 {{ font-size: 1.4em; }} h2 {{ font-size: 1.1em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 3px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: middle; }}
th {{ background: #f6f6f6; }} td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
code {{ font-size: 0.9em; word-break: break-all; }} img {{ display: block; }} .note {{ color: #666; }}
</style></head><body>
"""


def _table(rows: list[tuple], head: tuple | None = None) -> str:
    out = ["<table>"]
    if head:
        out.append("<tr>" + "".join(f"<th>{escape(str(h))}</th>" for h in head) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return "\n".join(out + ["</table>"])


def _num(v, digits: int = 2) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{escape(alt)}">'


def film_html(report: dict, thumbs: list[tuple[str, str]], chart: bytes | None) -> str:
    e = lambda v: escape(str(v))   # noqa: E731
    src, out, sc = report["input"], report["output"], report["scores"]
    parts = [_HEAD.format(title=e(f"oldfilm report: {out['path']}")),
             f"<h1>oldfilm {e(report['command'])}: {e(out['path'])}</h1>",
             f"<p>{e(report['metadata'])}</p>",
             f"<p class=note>oldfilm {e(report['oldfilm'])}, {e(report['created'])}. "
             f"{report['frames']} frames in {report['seconds']:.1f} s ({_num(report['fps'], 1)} frames/s) on "
             f"{e(report['run'].get('device'))} ({e(report['run'].get('precision'))}, batch {e(report['run'].get('batch_size'))}).</p>"]
    if report.get("compare"):
        parts.append(f'<p>Side-by-side film: <a href="{e(report["compare"])}">{e(report["compare"])}</a></p>')
    parts.append("<h2>Input</h2>" + _table(
        [("file", e(src["path"])), ("picture", e(f"{src['size']}, {src['fps']} fps ({src['fps_float']}), "
                                                 f"{src['frames']} frames, {src['duration']} s, {src['codec']} {src['pix_fmt']}"))]
        + [("stream", e(s)) for s in src["streams"]]))
    parts.append("<h2>Output</h2>" + _table(
        [("file", e(out["path"])), ("picture", e(f"{out['size']}, {out['fps']} fps, {out['frames']} frames, {out['duration']} s"))]
        + [("stream", e(s)) for s in out["streams"]]))
    parts.append("<h2>Chain and settings</h2>" + _table([(f"{i + 1}", f"<code>{e(s)}</code>") for i, s in enumerate(report["chain"])])
                 + _table([(e(k), f"<code>{e(v)}</code>") for k, v in report["settings"].items()], ("setting", "value")))
    if report["models"]:
        parts.append("<h2>Models</h2>" + _table(
            [(e(m["name"]), f"<code>{e(m['file'])}</code>", f"<code>{e(m['sha256'])}</code>", e(m["license"]))
             for m in report["models"]], ("model", "file", "sha256", "licence")))
    parts.append(f"<h2>Scores</h2><p>Colourfulness (Hasler &amp; Süsstrunk; 0 is gray) {_num(sc['colourfulness_before'], 1)}"
                 f" before, {_num(sc['colourfulness'], 1)} after; flicker (warping error, lower is steadier) "
                 f"{_num(sc['flicker'], 6)}. Measured at {e(sc['measured_at'])}.</p>")
    if chart is not None:
        parts.append(_img("data:image/png;base64," + base64.b64encode(chart).decode(), "colourfulness and flicker over the film"))
    else:
        parts.append(f"<p class=note>The chart needs matplotlib: <code>{e(charts.HOW)}</code></p>")
    rows = []
    for shot, (before, after) in zip(report["shots"], thumbs + [("", "")] * len(report["shots"])):
        rows.append((shot["shot"], f"{shot['start']}–{shot['end']}", e(shot["time"]),
                     _img(before, f"shot {shot['shot']} before") if before else "",
                     _img(after, f"shot {shot['shot']} after") if after else "",
                     _num(shot["colourfulness_before"], 1), _num(shot["colourfulness"], 1), _num(shot["flicker"], 6)))
    parts.append("<h2>Shots</h2>" + _table(rows, ("shot", "frames", "starts at", "before", "after",
                                                  "colourfulness before", "colourfulness after", "flicker")))
    return "\n".join(parts + ["</body></html>\n"])


def batch_html(report: dict) -> str:
    e = lambda v: escape(str(v))   # noqa: E731
    rows = []
    for f in report["films"]:
        link = f'<a href="{e(f["report"])}">report</a>' if f["report"] else ""
        out = f'<a href="{e(f["output"])}">{e(f["output"])}</a>' if f["status"] in ("done", "skipped") else e(f["error"] or "")
        rows.append((e(f["input"]), e(f["status"]), f["frames"], _num(f["seconds"], 1), out, link))
    done = sum(f["status"] == "done" for f in report["films"])
    return "\n".join([
        _HEAD.format(title=e(f"oldfilm batch {report['command']}")),
        f"<h1>oldfilm batch {e(report['command'])}</h1>",
        f"<p class=note>oldfilm {e(report['oldfilm'])}, {e(report['created'])}: {done} of {len(report['films'])} films done.</p>",
        _table(rows, ("film", "result", "frames", "seconds", "output / reason", "its report")),
        "<h2>Settings</h2>" + _table([(e(k), f"<code>{e(v)}</code>") for k, v in report["settings"].items()]),
        "</body></html>\n"])
