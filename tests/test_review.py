"""What a person looks at: the disclosure in the container, the comparison film, the run report."""
import hashlib
import json
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from conftest import audio_md5, decode, ff
from oldfilm import __version__, weights
from oldfilm.cli import cli
from oldfilm.video import probe
from oldfilm.video.ffmpeg import ffmpeg_exe


def oldfilm(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def tags(path) -> dict:
    """The container's global metadata, read back with ffmpeg (as players and ffprobe see it)."""
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
                         capture_output=True, check=True, text=True).stdout
    pairs = [l.replace("\\=", "\0").split("=", 1) for l in out.splitlines()[1:] if "=" in l]
    return {k.lower(): v.replace("\0", "=").replace("\\;", ";") for k, v in pairs}


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_output_discloses_the_colouring_in_its_metadata_not_its_picture(clips, tiny_models, tmp_path, ext):
    out = tmp_path / f"film{ext}"
    r = oldfilm("colorize", clips["gray"], "-o", out, "--models-dir", tiny_models, "-q")
    assert r.exit_code == 0, r.output
    t = tags(out)
    for key in ("comment", "description"):
        assert t[key].startswith(f"Colourized by oldfilm {__version__} with model {weights.default('colorize')}"), t
    assert "stabilize(" in t["comment"]


def test_batch_discloses_and_reports_the_folder(clips, tiny_models, tmp_path):
    films = tmp_path / "films"
    films.mkdir()
    (films / "a.mp4").write_bytes(clips["gray"].read_bytes())
    r = oldfilm("batch", films, "--models-dir", tiny_models, "-q")
    assert r.exit_code == 0, r.output
    out = tmp_path / "films.colorized"
    assert tags(out / "a.colorized.mp4")["comment"].startswith("Colourized by oldfilm")
    folder = json.loads((out / "batch.report.json").read_text())
    assert [(f["status"], f["output"], f["report"]) for f in folder["films"]] == [
        ("done", "a.colorized.mp4", "a.colorized.report.html")]
    assert json.loads((out / "a.colorized.report.json").read_text())["frames"] == 60
    assert 'href="a.colorized.report.html"' in (out / "batch.report.html").read_text()


@pytest.mark.parametrize("mode, width", [("side", 320), ("wipe", 160)])
def test_compare_film(clips, tiny_models, tmp_path, mode, width):
    out = tmp_path / "film.mp4"
    r = oldfilm("colorize", clips["gray"], "-o", out, "--models-dir", tiny_models, "-q", "--compare", mode)
    assert r.exit_code == 0, r.output
    cmp = tmp_path / "film.compare.mp4"
    info = probe(cmp)
    assert (info.width, info.height) == (width, 120) and info.frames == probe(out).frames == 60
    assert info.fps == probe(out).fps and audio_md5(cmp) == audio_md5(clips["gray"])
    frames, before, after = decode(cmp).astype(int), decode(clips["gray"]).astype(int), decode(out).astype(int)
    left, right = (before, after) if mode == "side" else (before[..., :80, :], after[..., 80:, :])
    half = frames.shape[2] // 2
    assert abs(frames[:, :, :half - 2] - left[:, :, :half - 2]).mean() < 4       # the original on the left
    assert abs(frames[:, :, half + 2:] - right[:, :, 2:]).mean() < 4             # the result on the right


def test_batch_compare_is_made_from_the_joined_film(clips, tiny_models, tmp_path):
    films = tmp_path / "films"
    films.mkdir()
    shutil.copy(clips["gray"], films / "a.mp4")
    r = oldfilm("batch", films, "--models-dir", tiny_models, "-q", "--chunk-seconds", "1", "--compare")
    assert r.exit_code == 0, r.output
    out = tmp_path / "films.colorized"
    cmp = out / "a.colorized.compare.mp4"
    info = probe(cmp)
    assert (info.width, info.height) == (320, 120) and info.frames == probe(out / "a.colorized.mp4").frames == 60
    assert audio_md5(cmp) == audio_md5(clips["gray"])
    frames, after = decode(cmp).astype(int), decode(out / "a.colorized.mp4").astype(int)
    assert abs(frames[:, :, -78:] - after[:, :, -78:]).mean() < 4   # every chunk's frames, in order, on the right
    assert json.loads((out / "a.colorized.report.json").read_text())["compare"] == cmp.name
    cmp.unlink()   # a rerun skips the finished film but makes its missing compare
    assert oldfilm("batch", films, "--models-dir", tiny_models, "-q", "--compare", "wipe").exit_code == 0
    assert (probe(cmp).width, probe(cmp).frames) == (160, 60)


def test_compare_is_optional_and_refuses_to_overwrite(clips, tiny_models, tmp_path):
    out = tmp_path / "film.mp4"
    assert oldfilm("colorize", clips["gray"], "-o", out, "--models-dir", tiny_models, "-q").exit_code == 0
    assert not (tmp_path / "film.compare.mp4").exists()
    (tmp_path / "film.compare.mp4").write_bytes(b"mine")
    r = oldfilm("colorize", clips["gray"], "-o", tmp_path / "other.mp4", "--models-dir", tiny_models, "-q")
    assert r.exit_code == 0
    r = oldfilm("colorize", clips["gray"], "-o", out, "--models-dir", tiny_models, "-q", "--compare", "--overwrite")
    assert r.exit_code == 0 and probe(tmp_path / "film.compare.mp4").frames == 60


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory):
    """1 s of testsrc2 then 1 s of a fractal, gray, at 24 fps: a cut at frame 24; with sound."""
    path = tmp_path_factory.mktemp("shots") / "two.mp4"
    ff("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=24:duration=1", "-f", "lavfi",
       "-i", "mandelbrot=size=160x120:rate=24", "-f", "lavfi", "-i", "sine=duration=2",
       "-filter_complex", "[1:v]trim=duration=1[m];[0:v][m]concat=n=2:v=1,hue=s=0[v]", "-map", "[v]",
       "-map", "2:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
    return path


def browse(page, tmp_path) -> tuple[str, list[str]]:
    """Open ``page`` in headless Chromium: the rendered document and the URLs the page requested
    (the browser's own background requests, initiated by no page, are left out)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("no chromium to render the report in (Debian: apt-get install chromium; .ci/run installs it)")
    profile, log = tmp_path / "profile", tmp_path / "net.json"
    profile.mkdir(exist_ok=True)
    done = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run",
                           f"--user-data-dir={profile}", f"--log-net-log={log}", "--virtual-time-budget=5000",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    events = json.loads(log.read_text())
    start = events["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = [e["params"]["url"] for e in events["events"] if e["type"] == start and "url" in e.get("params", {})
            and e["params"].get("initiator") != "not an origin"]
    return done.stdout, urls


def test_report_beside_the_output_renders_offline(two_shots, tiny_models, tmp_path):
    out = tmp_path / "film.mp4"
    r = oldfilm("colorize", two_shots, "-o", out, "--models-dir", tiny_models, "-q", "--compare")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "film.report.json").read_text())
    assert rep["command"] == "colorize" and rep["frames"] == 48 and rep["fps"] > 0 and rep["seconds"] > 0
    assert rep["input"]["frames"] == 48 and any("Audio" in s or "audio" in s for s in rep["input"]["streams"])
    name = weights.default("colorize")
    assert rep["chain"][0].startswith(f"colorize(model={name}") and rep["settings"]["stabilize"] is True
    file = tiny_models / f"{name}.safetensors"
    assert rep["models"] == [{"name": name, "file": str(file.resolve()),
                              "sha256": hashlib.sha256(file.read_bytes()).hexdigest(),
                              "license": rep["models"][0]["license"]}]
    assert rep["metadata"] == tags(out)["comment"] and rep["compare"] == "film.compare.mp4"
    assert [(s["start"], s["end"]) for s in rep["shots"]] == [(0, 23), (24, 47)]
    assert rep["shots"][1]["time"] == "00:00:01.000"
    assert all(s["colourfulness_before"] < 1 < s["colourfulness"] and s["flicker"] >= 0 for s in rep["shots"])
    assert len(rep["per_frame"]["colourfulness"]) == 48 and len(rep["per_frame"]["flicker"]) == 46

    page = tmp_path / "film.report.html"
    assert "http:" not in page.read_text() and "https:" not in page.read_text()
    # a copy that counts the images that loaded (the report itself runs no script)
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(page.read_text().replace("default-src 'none'", "default-src 'none'; script-src 'unsafe-inline'")
                          .replace("</body>", "<script>addEventListener('load', () => { const i = [...document.images]; "
                                   "document.title = `images ${i.length} loaded ${i.filter(x => x.complete && "
                                   "x.naturalWidth > 0).length}`; });</script></body>"))
    dom, urls = browse(probe_page, tmp_path)
    assert "<title>images 5 loaded 5</title>" in dom        # 2 shots x before/after + the chart
    assert "Shots" in dom and name in dom
    assert all(u.startswith(("file:", "data:")) for u in urls), urls
    control = tmp_path / "control.html"                      # the check sees a page that fetches
    control.write_text('<img src="http://198.51.100.7/x.png">')
    assert any(u.startswith("http://198.51.100.7") for u in browse(control, tmp_path)[1])


def test_report_without_matplotlib_says_how_to_get_charts():
    from oldfilm.report_html import film_html

    info = {"path": "a.mp4", "size": "2x2", "fps": "24", "fps_float": 24, "frames": 1, "duration": 0.04,
            "codec": "h264", "pix_fmt": "yuv420p", "streams": []}
    report = {"command": "colorize", "input": info, "output": info, "metadata": "m", "oldfilm": "0", "created": "t",
              "frames": 1, "seconds": 1.0, "fps": 1.0, "run": {}, "chain": [], "settings": {}, "models": [],
              "scores": {"colourfulness_before": 0, "colourfulness": 1, "flicker": None, "measured_at": "x"},
              "shots": []}
    page = film_html(report, [], None)
    assert "needs matplotlib" in page and "pip install &#x27;oldfilm[report]&#x27;" in page


def test_preview_sheet_is_what_the_full_run_gives(two_shots, tiny_models, tmp_path):
    import cv2

    from oldfilm.preview import GAP, HEADER, LABEL

    out, sheet = tmp_path / "full.mp4", tmp_path / "sheet.png"
    assert oldfilm("colorize", two_shots, "-o", out, "--models-dir", tiny_models, "-q", "--no-report").exit_code == 0
    r = oldfilm("preview", two_shots, "--frames", "4", "--sweep", "colour-strength=0,1", "--width", "160",
                "--models-dir", tiny_models, "-o", sheet)
    assert r.exit_code == 0, r.output
    assert "frames 5, 17, 29, 41" in r.output                 # one per quarter, inside its shot
    img = cv2.imread(str(sheet))[..., ::-1].astype(int)
    assert img.shape == (HEADER + 4 * (LABEL + 120 + GAP), 3 * 160 + 4 * GAP, 3)
    src, full = decode(two_shots).astype(int), decode(out).astype(int)

    def panel(row, col):
        y, x = HEADER + row * (LABEL + 120 + GAP) + LABEL, GAP + col * (160 + GAP)
        return img[y:y + 120, x:x + 160]

    for row, t in enumerate([5, 17, 29, 41]):
        assert abs(panel(row, 0) - src[t]).mean() < 1.5                   # before
        gray = panel(row, 1)
        assert abs(gray - gray.mean(-1, keepdims=True)).mean() < 1        # colour-strength=0: no colour
        # colour-strength=1 is the command's default: the frame the full run wrote (after its warm-up)
        assert abs(panel(row, 2) - full[t]).mean() < 2.5
        assert abs(full[t] - full[t].mean(-1, keepdims=True)).mean() > 1


def test_preview_refuses_an_unknown_sweep(two_shots, tmp_path):
    r = oldfilm("preview", two_shots, "--sweep", "nope=1,2", "-o", tmp_path / "s.png")
    assert r.exit_code == 2 and "--render-size" in r.output
    r = oldfilm("preview", two_shots, "--sweep", "render-size=12", "-o", tmp_path / "s.png")
    assert r.exit_code == 2 and "not a value" in r.output
