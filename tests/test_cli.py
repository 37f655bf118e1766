"""The command line, in-process: outputs, streams, luma, errors and exit codes."""
import hashlib
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import audio_md5, decode
from oldfilm import __version__
from oldfilm.cli import cli
from oldfilm.stages.colorize import Colorize
from oldfilm.video import probe


def oldfilm(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def psnr(a, b):
    return 10 * np.log10(255 ** 2 / max(np.mean((a.astype(float) - b.astype(float)) ** 2), 1e-10))


def test_colorize_end_to_end(clips, tiny_models, tmp_path):
    src = tmp_path / "film.mp4"
    shutil.copy(clips["gray"], src)
    before = md5(src)
    r = oldfilm("colorize", src, "--models-dir", tiny_models, "-q")
    assert r.exit_code == 0, r.output
    out = tmp_path / "film.colorized.mp4"
    assert md5(src) == before                              # the input is never written
    a, b = probe(src), probe(out)
    assert b.frames == a.frames == 60 and b.fps == a.fps
    assert audio_md5(out) == audio_md5(src)
    assert psnr(decode(src, "gray"), decode(out, "gray")) >= 40   # luma kept
    yuv = decode(out).astype(int)
    chroma = np.abs(yuv - yuv.mean(axis=-1, keepdims=True)).mean()
    assert chroma > 2                                      # colour was added
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "film.colorized.mp4", "film.colorized.report.html", "film.colorized.report.json", "film.mp4"]


def test_colour_strength_scales_the_colour(clips, tiny_models, tmp_path):
    out = tmp_path / "gray.mp4"
    r = oldfilm("colorize", clips["noaudio"], "-o", out, "--models-dir", tiny_models, "-q", "--no-stabilize",
                "--colour-strength", "0")
    assert r.exit_code == 0, r.output
    assert psnr(decode(clips["noaudio"], "gray"), decode(out, "gray")) >= 40   # luma kept
    rgb = decode(out).astype(float)
    assert np.abs(rgb - rgb.mean(axis=-1, keepdims=True)).mean() < 0.5       # 0: the film stays gray
    r = oldfilm("colorize", clips["noaudio"], "-o", tmp_path / "x.mp4", "--colour-strength", "-1")
    assert r.exit_code == 2 and "--colour-strength" in r.output

    import torch
    from oldfilm.nets.vggcolor import vggcolor
    torch.manual_seed(0)
    net = vggcolor(width=8, gain=1.0).eval()
    frame = torch.linspace(0, 1, 64 * 96).view(1, 1, 64, 96).expand(1, 3, -1, -1)
    chroma = {}
    for k in (0.5, 1.0):
        with torch.no_grad():
            rgb = Colorize(net=net, render_size=64, colour_strength=k).colorize(frame)
        chroma[k] = (rgb - rgb.mean(1, keepdim=True)).abs().mean().item()
    assert 0.45 < chroma[0.5] / chroma[1.0] < 0.55 and chroma[1.0] > 1e-3     # half strength, half the chroma


def test_the_shipped_default_colorizer_on_the_sample_film(tmp_path):
    """The real default model, end to end, on the first second of the bundled sample film."""
    from pathlib import Path
    from conftest import ff

    sample = Path(__file__).resolve().parent.parent / "samples" / "bunny-bw.mp4"
    src = tmp_path / "bunny.mkv"
    ff("-i", str(sample), "-t", "1", "-map", "0", "-c:v", "libx264", "-crf", "12", "-c:a", "copy", str(src))
    r = oldfilm("colorize", src, "-q")
    assert r.exit_code == 0, r.output
    out = tmp_path / "bunny.colorized.mkv"
    assert probe(out).frames == probe(src).frames >= 24
    assert audio_md5(out) == audio_md5(src)
    assert psnr(decode(src, "gray"), decode(out, "gray")) >= 38   # the film's own luma
    rgb = decode(out).astype(float)
    rg, yb = rgb[..., 0] - rgb[..., 1], (rgb[..., 0] + rgb[..., 1]) / 2 - rgb[..., 2]
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    assert colourfulness > 10        # clearly coloured (the gray input scores ~0)


def test_existing_output_needs_overwrite(clips, tiny_models, tmp_path):
    out = tmp_path / "o.mkv"
    out.write_bytes(b"precious")
    r = oldfilm("colorize", clips["noaudio"], "-o", out, "--models-dir", tiny_models, "-q")
    assert r.exit_code == 2 and "--overwrite" in r.output
    assert out.read_bytes() == b"precious"
    r = oldfilm("colorize", clips["noaudio"], "-o", out, "--models-dir", tiny_models, "-q", "--overwrite")
    assert r.exit_code == 0 and probe(out).frames == 25 and probe(out).audio == []


@pytest.mark.parametrize("name", ["with space.mp4", "ünïcødé 映画.mp4", "-dash.mp4", "colon:name.mp4"])
def test_awkward_names(clips, tiny_models, tmp_path, monkeypatch, name):
    src = tmp_path / name
    shutil.copy(clips["gray"], src)
    monkeypatch.chdir(tmp_path)
    r = oldfilm("colorize", "--models-dir", tiny_models, "-q", "--", name)
    assert r.exit_code == 0, r.output
    out = src.with_name(src.stem + ".colorized.mp4")
    assert probe(out).frames == 60 and audio_md5(out) == audio_md5(src)


@pytest.mark.parametrize("name", ["odd", "vfr", "rotated", "anamorphic", "rich"])
def test_colorize_awkward_films(clips, tiny_models, tmp_path, name):
    src = clips[name]
    out = tmp_path / f"out{src.suffix}"
    r = oldfilm("colorize", src, "-o", out, "--models-dir", tiny_models, "-q", "--batch-size", "3")
    assert r.exit_code == 0, r.output
    a, b = probe(src), probe(out)
    assert abs(a.frames - b.frames) <= 1 and (a.width, a.height) == (b.width, b.height)
    assert audio_md5(out) == audio_md5(src)


@pytest.mark.parametrize("name, words", [
    ("text", "not a video"), ("empty", "empty"), ("truncated", "not a video"),
    ("audio_only", "no video stream"),
])
def test_bad_input_one_line_exit_2(clips, tiny_models, tmp_path, name, words):
    r = oldfilm("colorize", clips[name], "-o", tmp_path / "x.mp4", "--models-dir", tiny_models)
    assert r.exit_code == 2
    assert words in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_missing_file_and_folder(tmp_path):
    r = oldfilm("colorize", tmp_path / "nope.mp4")
    assert r.exit_code == 2 and "no such file" in r.output
    r = oldfilm("colorize", tmp_path)
    assert r.exit_code == 2 and "folder" in r.output


def test_unwritable_output_folder(clips, tiny_models, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    r = oldfilm("colorize", clips["noaudio"], "-o", blocker / "out.mkv", "--models-dir", tiny_models)
    assert r.exit_code == 2 and "cannot write" in r.output


def test_bad_options(clips, tmp_path):
    assert oldfilm("colorize", clips["gray"], "--model", "nope").exit_code == 2
    r = oldfilm("colorize", clips["gray"], "-o", tmp_path / "x.webm")
    assert r.exit_code == 2 and ".mkv" in r.output
    r = oldfilm("colorize", clips["gray"], clips["noaudio"], "-o", tmp_path / "x.mp4")
    assert r.exit_code == 2 and "folder" in r.output
    assert oldfilm("colorize", clips["gray"], "--crf", "99").exit_code == 2


def test_ctrl_c_exits_130_and_leaves_nothing(clips, tiny_models, tmp_path, monkeypatch):
    calls = []

    def interrupted(self, frames):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return frames

    monkeypatch.setattr(Colorize, "process", interrupted)
    r = oldfilm("colorize", clips["gray"], "-o", tmp_path / "x.mp4", "--models-dir", tiny_models, "-q")
    assert r.exit_code == 130 and "interrupted" in r.output
    assert list(tmp_path.iterdir()) == []


def test_several_films_into_a_folder(clips, tiny_models, tmp_path):
    r = oldfilm("colorize", clips["gray"], clips["noaudio"], "-o", tmp_path, "--models-dir", tiny_models, "-q")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir() if ".report." not in p.name) == [
        "gray.colorized.mp4", "noaudio.colorized.mkv"]


def test_info_models_version_help(clips):
    r = oldfilm("info", clips["gray"], "--json")
    assert r.exit_code == 0 and '"fps": "30000/1001"' in r.output and '"frames": 60' in r.output
    r = oldfilm("models")
    assert r.exit_code == 0 and "colornet-v1" in r.output
    assert __version__ in oldfilm("--version").output
    for cmd in ["colorize", "info", "models", "stabilize", "eval", "cartoonize", "batch"]:
        r = oldfilm(cmd, "--help")
        assert r.exit_code == 0 and "Example" in r.output
