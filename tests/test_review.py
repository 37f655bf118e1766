"""What a person looks at: the disclosure in the container, the comparison film."""
import subprocess

import pytest
from click.testing import CliRunner

from conftest import audio_md5, decode
from oldfilm import __version__
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
        assert t[key].startswith(f"Colourized by oldfilm {__version__} with model vggcolor-v1"), t
    assert "stabilize(" in t["comment"]


def test_batch_output_discloses_too(clips, tiny_models, tmp_path):
    films = tmp_path / "films"
    films.mkdir()
    (films / "a.mp4").write_bytes(clips["gray"].read_bytes())
    r = oldfilm("batch", films, "--models-dir", tiny_models, "-q")
    assert r.exit_code == 0, r.output
    assert tags(tmp_path / "films.colorized" / "a.colorized.mp4")["comment"].startswith("Colourized by oldfilm")


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


def test_compare_is_optional_and_refuses_to_overwrite(clips, tiny_models, tmp_path):
    out = tmp_path / "film.mp4"
    assert oldfilm("colorize", clips["gray"], "-o", out, "--models-dir", tiny_models, "-q").exit_code == 0
    assert not (tmp_path / "film.compare.mp4").exists()
    (tmp_path / "film.compare.mp4").write_bytes(b"mine")
    r = oldfilm("colorize", clips["gray"], "-o", tmp_path / "other.mp4", "--models-dir", tiny_models, "-q")
    assert r.exit_code == 0
    r = oldfilm("colorize", clips["gray"], "-o", out, "--models-dir", tiny_models, "-q", "--compare", "--overwrite")
    assert r.exit_code == 0 and probe(tmp_path / "film.compare.mp4").frames == 60
