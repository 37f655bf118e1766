"""Faults that used to end in a wrong or lost result (issue 16): a full disk reported as success,
late and variable video timing, inexact pixel shapes, long names, unclosed writers."""
import contextlib
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


@contextlib.contextmanager
def fake_ffmpeg(tmp_path, monkeypatch):
    """An ffmpeg that behaves as Debian's 5.1 does on a full disk: it writes only part of the
    file, says "No space left on device" and exits 0 (when $FAKE_WHEN is in its arguments)."""
    fake = tmp_path / "fake-ffmpeg"
    fake.write_text(f"""#!{sys.executable}
import os, subprocess, sys
code = subprocess.run([{ffmpeg_exe()!r}] + sys.argv[1:]).returncode
out = sys.argv[-1].removeprefix("file:")
if "oldfilm-partial" in out and os.environ.get("FAKE_WHEN", "") in " ".join(sys.argv):
    data = open(out, "rb").read()
    open(out, "wb").write(data[: len(data) // 3])
    sys.stderr.write("[out#0/mp4 @ 0x5591] Error writing trailer: No space left on device\\n")
sys.exit(code)
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    real = ffmpeg_exe()
    monkeypatch.setenv("OLDFILM_FFMPEG", str(fake))
    ffmpeg_exe.cache_clear()
    try:
        yield
    finally:
        monkeypatch.setenv("OLDFILM_FFMPEG", real)
        ffmpeg_exe.cache_clear()


@pytest.fixture
def exit_0_on_full_disk(tmp_path, monkeypatch):
    with fake_ffmpeg(tmp_path, monkeypatch):
        yield


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


def test_avi_refuses_what_it_cannot_hold(odd_clips, clips, tmp_path):
    for src in (odd_clips["late"], clips["vfr"]):
        with pytest.raises(BadInput, match="AVI has no timestamps"):
            passthrough(src, tmp_path / "out.avi")
    assert list(tmp_path.iterdir()) == []


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


# --- batch: a resume that can be trusted -------------------------------------------------------

def batch(*args):
    from click.testing import CliRunner
    from oldfilm.cli import cli
    return CliRunner().invoke(cli, ["batch", *[str(a) for a in args]], catch_exceptions=False)


@pytest.fixture
def films(clips, tmp_path):
    d = tmp_path / "films"
    d.mkdir()
    import shutil
    shutil.copy(clips["noaudio"], d / "a.mkv")
    return d


def test_batch_chunk_and_join_are_checked_and_a_rerun_resumes(films, tiny_models, tmp_path, monkeypatch):
    """A chunk or a join that ffmpeg 'succeeded' in writing only in part is never kept."""
    out = tmp_path / "out"
    for when in ["chunk_", "concat"]:
        monkeypatch.setenv("FAKE_WHEN", when)
        with fake_ffmpeg(tmp_path, monkeypatch):
            r = batch(films, "-o", out, "--models-dir", tiny_models, "-q")
        assert r.exit_code == 1 and "no space left on" in r.output and "run the same command again" in r.output
        assert r.output.count("\n") == 1 and "Traceback" not in r.output
        assert not (out / "a.colorized.mkv").exists()
        work = out / ".a.colorized.mkv.oldfilm-work"
        assert sorted(p.name for p in work.iterdir()) == (["manifest.json"] if when == "chunk_" else
                                                          ["chunk_00000.mp4", "chunks.txt", "manifest.json"])
    r = batch(films, "-o", out, "--models-dir", tiny_models, "-q")
    assert r.exit_code == 0, r.output
    assert probe(out / "a.colorized.mkv").frames == 25 and not work.exists()


@pytest.mark.parametrize("name", ["manifest.json", "chunks.txt"])
def test_batch_full_disk_on_its_own_files_is_one_line_and_resumes(films, tiny_models, tmp_path, monkeypatch, name):
    import builtins
    import errno
    from oldfilm import files

    def full(path, *a, **k):
        if name in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return builtins.open(path, *a, **k)

    out = tmp_path / "out"
    monkeypatch.setattr(files, "open", full, raising=False)
    r = batch(films, "-o", out, "--models-dir", tiny_models, "-q")
    assert r.exit_code == 1 and r.output.count("\n") == 1, r.output
    assert r.output.startswith("oldfilm: error: no space left on /") and "free 1 MB and run the same command" in r.output
    monkeypatch.undo()
    r = batch(films, "-o", out, "--models-dir", tiny_models, "-q")
    assert r.exit_code == 0 and probe(out / "a.colorized.mkv").frames == 25


@pytest.mark.parametrize("manifest", ["{not json", "[]"])
def test_batch_corrupt_or_old_manifest_is_planned_again(films, tiny_models, tmp_path, manifest):
    out = tmp_path / "out"
    work = out / ".a.colorized.mkv.oldfilm-work"
    work.mkdir(parents=True)
    (work / "manifest.json").write_text(manifest)
    (work / "chunk_00000.mp4").write_bytes(b"stale")
    r = batch(films, "-o", out, "--models-dir", tiny_models, "-q")
    assert r.exit_code == 0, r.output
    assert probe(out / "a.colorized.mkv").frames == 25 and not work.exists()


def test_fingerprint_follows_version_models_and_pixel_options(films, tiny_models, tmp_path, monkeypatch):
    import shutil
    from oldfilm import batch as runner
    film = runner.Film(films / "a.mkv", tmp_path / "a.mkv")
    recipe = {"models_dir": str(tiny_models)}
    settings = {"device": "cpu", "precision": "fp32", "crf": 18, "preset": "medium"}
    models = runner.models_used("colorize", recipe)
    from oldfilm import weights
    name = weights.default("colorize")
    assert list(models) == [name] and len(models[name]) == 64
    key = runner.fingerprint(film, "colorize", recipe, models, settings)
    assert key == runner.fingerprint(film, "colorize", recipe, runner.models_used("colorize", recipe), settings)
    changed = [runner.fingerprint(film, "colorize", recipe, models, {**settings, "precision": "bf16"}),
               runner.fingerprint(film, "colorize", {**recipe, "strength": 0.5}, models, settings),
               runner.fingerprint(film, "colorize", recipe, models, {**settings, "crf": 20})]
    other = tmp_path / "models"   # the same model name, another file (a new release)
    shutil.copytree(tiny_models, other)
    from safetensors.torch import load_file, save_file
    path = other / weights.get(name).file
    state = load_file(path)
    state[next(iter(state))] += 1
    save_file(state, path)
    changed.append(runner.fingerprint(film, "colorize", recipe, runner.models_used("colorize", {"models_dir": str(other)}),
                                      settings))
    keys = tmp_path / "keys"   # a keyframe repainted, a reference photo replaced: same names, new pixels
    keys.mkdir()
    (keys / "shot0000_f000000.png").write_bytes(b"first")
    photo = tmp_path / "set.jpg"
    photo.write_bytes(b"first")
    guided = {**recipe, "keyframes": str(keys), "references": (str(photo),)}
    before = runner.fingerprint(film, "colorize", guided, models, settings)
    assert before == runner.fingerprint(film, "colorize", guided, models, settings)
    (keys / "shot0000_f000000.png").write_bytes(b"second, repainted")
    changed.append(runner.fingerprint(film, "colorize", guided, models, settings))
    photo.write_bytes(b"another photo")
    changed.append(runner.fingerprint(film, "colorize", guided, models, settings))
    monkeypatch.setattr(runner, "__version__", "9.9.9")
    changed.append(runner.fingerprint(film, "colorize", recipe, models, settings))
    assert key not in changed and before not in changed and len(set(changed)) == len(changed)


def test_batch_refuses_its_own_folder_and_same_output_names(films, clips, tiny_models, tmp_path):
    import shutil
    r = batch(films, "-o", films, "--models-dir", tiny_models)
    assert r.exit_code == 2 and "is the folder of the films" in r.output
    shutil.copy(clips["noaudio"], films / "a")          # no extension: a.colorized.mkv too
    r = batch(films, "-o", tmp_path / "out", "--models-dir", tiny_models, "-q")
    assert r.exit_code == 1 and "its output a.colorized.mkv is also that of a: rename one" in r.output
    assert probe(tmp_path / "out" / "a.colorized.mkv").frames == 25


def test_batch_probes_each_film_once(films, tiny_models, tmp_path, monkeypatch):
    from oldfilm import batch as runner, pipeline
    from oldfilm.video import probe as real_probe
    seen = []

    def counting(path, *a, **k):
        seen.append(os.path.basename(path))
        return real_probe(path, *a, **k)

    monkeypatch.setattr(runner, "probe", counting)
    monkeypatch.setattr(pipeline, "probe", counting)
    r = batch(films, "-o", tmp_path / "out", "--models-dir", tiny_models, "-q")
    assert r.exit_code == 0, r.output
    assert seen.count("a.mkv") == 1


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo this would have run code",))


def test_pickle_calling_a_blocked_module_is_refused_by_name(tmp_path, capfd):
    """torch 2.14 words a blocked module ("unsupported GLOBAL posix.system whose module posix is
    blocked") unlike an unlisted global; both are refused by name, without torch's advice."""
    import torch
    from oldfilm.errors import WeightsError
    from oldfilm.nets.public import read_public_state

    path = tmp_path / "evil.pth"
    torch.save({"model": RunsCode()}, path)
    with pytest.raises(WeightsError, match=r"refused, loading it would call (posix|os)\.system") as err:
        read_public_state(path, "test")
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)
    assert "this would have run code" not in capfd.readouterr().out


# --- the command line: names checked before any work, mismatches refused, signals -------------

def cli_run(*args):
    from click.testing import CliRunner
    from oldfilm.cli import cli
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_two_inputs_of_one_name_are_refused_before_any_work(clips, tiny_models, tmp_path):
    import shutil
    for d in ("one", "two"):
        (tmp_path / d).mkdir()
        shutil.copy(clips["noaudio"], tmp_path / d / "reel.mkv")
    (tmp_path / "out").mkdir()
    for extra in ([], ["--overwrite"]):
        r = cli_run("colorize", tmp_path / "one" / "reel.mkv", tmp_path / "two" / "reel.mkv", "-o", tmp_path / "out",
                    "--models-dir", tiny_models, "-q", *extra)
        assert r.exit_code == 2 and "would both be written to" in r.output and "one/reel.mkv" in r.output
        assert list((tmp_path / "out").iterdir()) == []


def test_output_that_is_the_input_says_so(clips, tiny_models, tmp_path):
    import shutil
    film = tmp_path / "reel.mkv"
    shutil.copy(clips["noaudio"], film)
    r = cli_run("colorize", film, "-o", film, "--models-dir", tiny_models)
    assert r.exit_code == 2 and "is an input" in r.output and "--overwrite" not in r.output


def test_stabilize_refuses_a_shorter_source_naming_both(clips, tmp_path):
    short = tmp_path / "short.mkv"
    ff("-i", str(clips["noaudio"]), "-frames:v", "15", "-c:v", "libx264", str(short))
    r = cli_run("stabilize", clips["noaudio"], "--source", short, "-o", tmp_path / "out.mkv")
    assert r.exit_code == 2 and "short.mkv has 15 frames but noaudio.mkv 25" in r.output
    assert not (tmp_path / "out.mkv").exists()


@pytest.mark.parametrize("option", ["--source", "--truth"])
def test_eval_refuses_a_film_of_other_rate_or_length(clips, tmp_path, option):
    other = tmp_path / "other.mkv"   # same size and length in frames, 30 fps instead of 25
    ff("-i", str(clips["noaudio"]), "-r", "30", "-frames:v", "25", "-c:v", "libx264", str(other))
    r = cli_run("eval", clips["noaudio"], option, other, "-q")
    assert r.exit_code == 2 and "other.mkv runs at 30.000 fps but noaudio.mkv at 25.000" in r.output


def test_eval_writes_into_a_folder_that_does_not_exist(clips, tmp_path):
    r = cli_run("eval", clips["noaudio"], "--json", tmp_path / "new" / "s.json", "--plot", tmp_path / "new2" / "s.png",
                "-q")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "new" / "s.json").stat().st_size > 0
    assert (tmp_path / "new2" / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_frames_under_12_px_are_stabilized_and_scored(tmp_path):
    tiny = tmp_path / "tiny.mkv"
    ff("-f", "lavfi", "-i", "testsrc2=size=8x6:rate=25:duration=0.4", "-c:v", "libx264", "-pix_fmt", "yuv444p",
       str(tiny))
    (tmp_path / "orig.mkv").write_bytes(tiny.read_bytes())
    r = cli_run("stabilize", tiny, "--source", tmp_path / "orig.mkv", "-o", tmp_path / "out.mkv", "-q")
    assert r.exit_code == 0, r.output
    assert probe(tmp_path / "out.mkv").frames == 10
    r = cli_run("eval", tiny, "-q")
    assert r.exit_code == 0 and '"frames": 10' in r.output


def test_device_torch_knows_but_oldfilm_cannot_use(clips, tmp_path):
    r = cli_run("colorize", clips["noaudio"], "-o", tmp_path / "out.mkv", "--device", "meta")
    assert r.exit_code == 2 and "cannot run on device 'meta'" in r.output


def test_sigterm_is_cleaned_up_like_ctrl_c(tiny_models, tmp_path):
    import signal
    import subprocess
    import time
    film = tmp_path / "long.mkv"
    ff(*gray_source("160x120", "25", 20), "-c:v", "libx264", "-preset", "ultrafast", str(film))
    out = tmp_path / "out.mkv"
    proc = subprocess.Popen([sys.executable, "-m", "oldfilm", "colorize", str(film), "-o", str(out), "-q",
                             "--models-dir", str(tiny_models), "--batch-size", "1"],
                            env=dict(os.environ, OMP_NUM_THREADS="1"), stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not partial_path(out).exists():
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143 and "terminated; no partial output was left" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mkv"]


def test_evaluate_closes_its_readers_when_scoring_fails(clips, monkeypatch):
    from oldfilm import evaluate as ev
    from oldfilm.video import FrameReader
    closed = []
    real_close = FrameReader.close
    monkeypatch.setattr(FrameReader, "close", lambda self: (closed.append(self.info.path.name), real_close(self)))
    monkeypatch.setattr(ev, "colourfulness", lambda x: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        ev.evaluate(clips["noaudio"], source=clips["noaudio"])
    assert closed.count("noaudio.mkv") >= 2   # both readers, though the scoring died


def fills_the_disk_at(monkeypatch, match):
    """Make ``oldfilm.files``' writes of a path containing ``match`` fill the disk half-way, as a
    real full disk does: part of the data lands, then ENOSPC."""
    import builtins
    import errno
    from oldfilm import files

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[:len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    def fake_open(path, *a, **k):
        f = builtins.open(path, *a, **k)
        return Full(f) if match(str(path)) else f

    monkeypatch.setattr(files, "open", fake_open, raising=False)


def test_keyframes_on_a_full_disk_leave_no_half_picture_and_rerun(clips, tmp_path, monkeypatch):
    import cv2
    out, seen = tmp_path / "keys", []

    def second_png(path):
        seen.append(path)
        return path.endswith(".png.oldfilm-partial") and len(seen) == 2
    fills_the_disk_at(monkeypatch, second_png)
    r = cli_run("keyframes", clips["gray"], "-o", out, "--per-shot", 3, "-q")
    assert r.exit_code == 1 and r.output.count("\n") == 1, r.output
    assert r.output.startswith("oldfilm: error: no space left on /") and "writing shot0000_f" in r.output
    left = sorted(p.name for p in out.iterdir())
    assert len(left) == 1 and left[0].endswith(".png")   # the one written before, whole; nothing else
    assert cv2.imread(str(out / left[0])) is not None
    monkeypatch.undo()
    r = cli_run("keyframes", clips["gray"], "-o", out, "--per-shot", 3, "-q")
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 4 and names[0] == "keyframes.json"
    assert all(cv2.imread(str(out / n)).shape == (120, 160, 3) for n in names[1:])


def test_a_report_the_disk_cannot_hold_is_a_warning_and_leaves_no_half_report(clips, tmp_path, monkeypatch):
    out = tmp_path / "film.mp4"
    fills_the_disk_at(monkeypatch, lambda path: "report.html" in path)
    r = cli_run("restore", clips["noaudio"], "-o", out)
    assert r.exit_code == 0, r.output
    assert "oldfilm: warning: no report for film.mp4: no space left on /" in r.output
    assert [p.name for p in tmp_path.iterdir()] == ["film.mp4"]   # no json without its html, no partials
    assert probe(out).frames == 25
