"""Faults that used to end in a wrong or lost result (issue 16): a full disk reported as success,
late and variable video timing, inexact pixel shapes, long names, unclosed writers."""
import os
import stat
import sys
from fractions import Fraction

import numpy as np
import pytest

from conftest import audio_md5, decode, ff, gray_source, tone
from oldfilm import Pipeline
from oldfilm.errors import BadInput, DiskFull, FFmpegError
from oldfilm.stages import Identity
from oldfilm.video import FrameWriter, ffmpeg, probe
from oldfilm.video.ffmpeg import ffmpeg_exe, run
from oldfilm.video.writer import partial_path


def passthrough(src, out, **kw):
    return Pipeline([Identity()], device="cpu", batch_size=4, progress=False).run(src, out, **kw)


def frame_times(path) -> list[Fraction]:
    """Every video frame's presentation time, in seconds, in order."""
    out = run(["-i", str(path), "-map", "0:V:0", "-c", "copy", "-f", "framecrc", "-"]).stdout.decode()
    tb = Fraction(next(l for l in out.splitlines() if l.startswith("#tb")).split(":")[1].strip())
    return sorted(int(l.split(",")[2]) * tb for l in out.splitlines() if l and not l.startswith("#"))


@pytest.fixture(scope="module")
def odd_clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("odd")
    c = {}
    for name, delay in [("late", 0.5), ("late46", 0.046)]:   # the video starts after the sound
        c[name] = d / f"{name}.mkv"
        ff(*gray_source("160x120", "25", 1), *tone(1.6), "-filter_complex", f"[0]setpts=PTS+{delay}/TB[v]",
           "-map", "[v]", "-map", "1:a", "-c:v", "libx264", "-c:a", "aac", str(c[name]))
    c["sar"] = d / "sar.mkv"   # terms over 100
    ff(*gray_source("160x120", "25", 0.4), "-vf", "setsar=160/99:max=1000", "-c:v", "libx264", str(c["sar"]))
    return c


@pytest.fixture
def exit_0_on_full_disk(tmp_path, monkeypatch):
    """An ffmpeg that behaves as Debian's 5.1 does on a full disk: it writes only part of the
    file, says "No space left on device" and exits 0."""
    fake = tmp_path / "fake-ffmpeg"
    fake.write_text(f"""#!{sys.executable}
import subprocess, sys
code = subprocess.run([{ffmpeg_exe()!r}] + sys.argv[1:]).returncode
out = sys.argv[-1].removeprefix("file:")
if "oldfilm-partial" in out:
    data = open(out, "rb").read()
    open(out, "wb").write(data[: len(data) // 3])
    sys.stderr.write("[out#0/mp4 @ 0x5591] Error writing trailer: No space left on device\\n")
sys.exit(code)
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("OLDFILM_FFMPEG", str(fake))
    ffmpeg_exe.cache_clear()
    yield
    monkeypatch.delenv("OLDFILM_FFMPEG")
    ffmpeg_exe.cache_clear()


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_full_disk_with_exit_0_is_an_error_and_leaves_nothing(clips, tmp_path, exit_0_on_full_disk, ext):
    out = tmp_path / "out" / f"film{ext}"
    with pytest.raises(DiskFull, match=r"no space left on /\S*.*film" + ext + r".*free \d+ MB and run the same"):
        passthrough(clips["gray"], out)
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("name", ["late", "late46"])
@pytest.mark.parametrize("ext", [".mp4", ".mov", ".mkv"])
def test_late_video_start_keeps_frames_and_timestamps(odd_clips, tmp_path, name, ext):
    src, out = odd_clips[name], tmp_path / f"out{ext}"
    passthrough(src, out)
    a, b = probe(src), probe(out)
    assert b.frames == a.frames == 25
    assert b.start == pytest.approx(a.start, abs=0.002) and a.start > 0.03
    want, got = frame_times(src), frame_times(out)
    assert max(abs(x - y) for x, y in zip(want, got)) <= Fraction(1, 500)
    assert audio_md5(out) == audio_md5(src)


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".mov"])
def test_variable_rate_keeps_every_frame_and_its_time(clips, tmp_path, ext):
    out = tmp_path / f"out{ext}"
    result = passthrough(clips["vfr"], out)
    a, b = probe(clips["vfr"]), probe(out)
    assert result.frames_out == b.frames == a.frames == 50 and b.vfr
    want, got = frame_times(clips["vfr"]), frame_times(out)
    assert max(abs((x - want[0]) - (y - got[0])) for x, y in zip(want, got)) <= Fraction(1, 500)
    assert audio_md5(out) == audio_md5(clips["vfr"])


def test_sample_aspect_ratio_kept_exactly(odd_clips, tmp_path):
    assert probe(odd_clips["sar"]).sar == Fraction(160, 99)
    passthrough(odd_clips["sar"], tmp_path / "out.mp4")
    assert probe(tmp_path / "out.mp4").sar == Fraction(160, 99)


def test_long_name_has_a_partial_that_fits(clips, tmp_path):
    out = tmp_path / ("x" * 240 + ".colorized.mp4")        # 254 bytes: legal
    assert len(partial_path(out).name.encode()) <= 255
    passthrough(clips["noaudio"], out)
    assert probe(out).frames == 25 and [p.name for p in tmp_path.iterdir()] == [out.name]
    with pytest.raises(BadInput, match="over the 255"):
        FrameWriter(tmp_path / ("y" * 256 + ".mp4"), 64, 48, Fraction(25))


def test_writer_as_context_manager_finishes_on_clean_exit(tmp_path):
    target = tmp_path / "film.mkv"
    with FrameWriter(target, 64, 48, Fraction(25)) as w:
        w.write(np.zeros((5, 48, 64, 3), np.uint8))
    assert probe(target).frames == 5 and not partial_path(target).exists()


def test_finished_file_is_flushed_before_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append(("replace", str(b))), real_replace(a, b))[1])
    target = tmp_path / "film.mkv"
    with FrameWriter(target, 64, 48, Fraction(25)) as w:
        w.write(np.zeros((3, 48, 64, 3), np.uint8))
    assert calls == [("fsync", str(partial_path(target))), ("replace", str(target)), ("fsync", str(tmp_path))]


def test_failed_ffmpeg_says_why(tmp_path):
    src = tmp_path / "flac.mkv"
    ff(*gray_source("64x48", "25", 0.4), *tone(0.4), "-c:v", "libx264", "-c:a", "flac", str(src))
    with pytest.raises(FFmpegError) as e:
        passthrough(src, tmp_path / "out.mov")
    msg = str(e.value)
    assert "flac" in msg and "Conversion failed" not in msg and ".mkv" in msg
    assert list(p.name for p in tmp_path.iterdir()) == ["flac.mkv"]


def test_reason_line_is_the_first_specific_one():
    err = (b"[mp4 @ 0x55d1] Could not find tag for codec subrip in stream #1, codec not currently supported in "
           b"container\n[out#0/mp4 @ 0x55d2] Could not write header (incorrect codec parameters ?): Invalid "
           b"argument\nError opening output files: Invalid argument\nConversion failed!\n")
    assert ffmpeg.last_error(err).startswith("Could not find tag for codec subrip")
    assert ffmpeg.last_error(b"Conversion failed!\n") == "Conversion failed!"
