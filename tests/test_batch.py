"""Batch runs: a folder of films, failures isolated, chunks resumable after kill -9, Ray."""
import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import audio_md5, decode, ff
from oldfilm.batch import Film, plan
from oldfilm.scenes import detect_scenes
from oldfilm.cli import cli
from oldfilm.video import FrameWriter, probe


def batch(*args):
    return CliRunner().invoke(cli, ["batch", *[str(a) for a in args]], catch_exceptions=False)


@pytest.fixture(scope="module")
def reel(tmp_path_factory):
    """A 6 s film of three shots (cuts at 2 s and 4 s) with sound: chunked at 1.5 s it splits
    only at the cuts."""
    path = tmp_path_factory.mktemp("reel") / "reel.mp4"
    size = "size=128x96:rate=25"
    ff("-t", "2", "-f", "lavfi", "-i", f"testsrc2={size}", "-t", "2", "-f", "lavfi", "-i", f"mandelbrot={size}",
       "-t", "2", "-f", "lavfi", "-i", f"testsrc={size}", "-f", "lavfi", "-i", "sine=frequency=500:duration=6",
       "-filter_complex", "[0]format=yuv420p[a];[1]format=yuv420p[b];[2]format=yuv420p[c];"
                          "[a][b][c]concat=n=3,hue=s=0[v]",
       "-map", "[v]", "-map", "3:a", "-c:v", "libx264", "-c:a", "aac", str(path))
    return path


def test_plan_cuts_at_scenes(reel, tmp_path):
    chunks = plan(Film(reel, tmp_path / "x.mp4"), chunk_seconds=1.5)
    assert [(c.start, c.count) for c in chunks] == [(0, 50), (50, 50), (100, 50)]
    long_shot = plan(Film(reel, tmp_path / "x.mp4"), chunk_seconds=0.5)   # shots longer than 2x: fixed splits
    assert sum(c.count for c in long_shot) == 150 and max(c.count for c in long_shot) <= 25


def test_folder_with_a_broken_film(clips, tiny_models, tmp_path):
    films = tmp_path / "films"
    (films / "sub").mkdir(parents=True)
    shutil.copy(clips["gray"], films / "first film.mp4")
    shutil.copy(clips["noaudio"], films / "sub" / "silent.mkv")
    shutil.copy(clips["rich"], films / "reel")            # no extension: found by content
    (films / "broken.mp4").write_text("not a film")
    (films / "notes.txt").write_text("not a film either, and not reported")
    r = batch(films, "-o", tmp_path / "out", "--recursive", "--models-dir", tiny_models, "-q")
    assert r.exit_code == 1
    assert "broken.mp4" in r.output and "not a video" in r.output and "notes.txt" not in r.output
    outs = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
                  if p.is_file() and ".report." not in p.name)
    assert outs == ["first film.colorized.mp4", "reel.colorized.mkv", "sub/silent.colorized.mkv"]
    assert (tmp_path / "out" / "batch.report.html").is_file()            # the folder's, and each film's
    assert (tmp_path / "out" / "sub" / "silent.colorized.report.json").is_file()
    assert audio_md5(tmp_path / "out" / "reel.colorized.mkv") == audio_md5(clips["rich"])
    assert probe(tmp_path / "out" / "first film.colorized.mp4").frames == 60
    r = batch(films, "-o", tmp_path / "out", "--recursive", "--models-dir", tiny_models, "-q")
    assert r.output.count("skipped") == 3                 # finished films are not redone


def test_kill_9_then_resume_matches_uninterrupted(reel, tiny_models, tmp_path):
    films = tmp_path / "films"
    films.mkdir()
    shutil.copy(reel, films / "reel.mp4")
    base = ["-m", "oldfilm", "batch", str(films), "--models-dir", str(tiny_models), "-q", "--chunk-seconds", "1.5",
            "--batch-size", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ref = tmp_path / "ref"
    subprocess.run([sys.executable, *base, "-o", str(ref)], check=True, env=env, capture_output=True)

    out = tmp_path / "out"
    work = out / ".reel.colorized.mp4.oldfilm-work"
    proc = subprocess.Popen([sys.executable, *base, "-o", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (work / "chunk_00000.mp4").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (work / "chunk_00000.mp4").exists() and not (out / "reel.colorized.mp4").exists()
    # mark the finished chunk: if the resumed run redid it, the mark would be gone
    finished = decode(work / "chunk_00000.mp4")
    with FrameWriter(work / "chunk_00000.mp4", 128, 96, Fraction(25)) as w:
        w.write(np.zeros_like(finished))
        w.close()

    subprocess.run([sys.executable, *base, "-o", str(out)], check=True, env=env, capture_output=True)
    assert not work.exists()
    a, b = out / "reel.colorized.mp4", ref / "reel.colorized.mp4"
    got, want = decode(a), decode(b)
    assert got[:50].max() <= 16                          # the marked chunk was kept, not redone
    assert np.array_equal(finished, want[:50])           # and what it had held was the same
    assert np.array_equal(got[50:], want[50:])
    assert audio_md5(a) == audio_md5(b) == audio_md5(reel)
    assert probe(a).frames == 150 and probe(a).fps == probe(reel).fps


def test_joins_are_as_steady_as_the_rest(tmp_path):
    """A flickering colour shot cartoonized in chunks split inside the shot: thanks to the warm-up
    before each chunk, the frames at a join are those of an unbroken run (no jump in colour)."""
    from test_stabilize import jitter

    clean = tmp_path / "clean.mp4"
    ff("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25:duration=4,lutrgb=r=val*0.6+50:g=val*0.6+50:b=val*0.6+50",
       "-c:v", "libx264", "-crf", "12", str(clean))
    films = tmp_path / "films"
    films.mkdir()
    with FrameWriter(films / "shaky.mp4", 128, 96, Fraction(25), crf=12) as w:
        w.write(jitter(decode(clean), seed=3))
        w.close()
    for name, seconds in [("chunked", "0.8"), ("whole", "100")]:
        r = batch(films, "-o", tmp_path / name, "-q", "--chunk-seconds", seconds, "--command", "cartoonize",
                  "--colorize", "no")
        assert r.exit_code == 0, r.output
    chunked = decode(tmp_path / "chunked" / "shaky.cartoon.mp4").astype(float)
    whole = decode(tmp_path / "whole" / "shaky.cartoon.mp4").astype(float)
    assert chunked.shape == whole.shape == (100, 96, 128, 3)
    cuts = detect_scenes(films / "shaky.mp4")
    joins = [c.start for c in plan(Film(films / "shaky.mp4", tmp_path / "x.mp4"), 0.8) if c.start not in [0] + cuts]
    assert len(joins) >= 2
    diff = np.abs(chunked - whole).mean(axis=(1, 2, 3))   # encoding alone differs a little everywhere
    typical = np.median([d for i, d in enumerate(diff) if i not in joins])
    for j in joins:   # the first frame of each chunk split inside a shot, against the unbroken run
        assert diff[j] < 2 * typical + 0.5, f"frame {j} differs from the unbroken run: {diff[j]:.2f} vs {typical:.2f}"


def test_ray_runs_the_same_tasks(reel, tiny_models, tmp_path):
    pytest.importorskip("ray")
    films = tmp_path / "films"
    films.mkdir()
    shutil.copy(reel, films / "reel.mp4")
    local = batch(films, "-o", tmp_path / "local", "--models-dir", tiny_models, "-q", "--chunk-seconds", "1.5")
    assert local.exit_code == 0
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        r = batch(films, "-o", tmp_path / "ray", "--models-dir", tiny_models, "-q", "--chunk-seconds", "1.5",
                  "--ray", "auto")
    finally:
        ray.shutdown()
    assert r.exit_code == 0, r.output
    a = decode(tmp_path / "ray" / "reel.colorized.mp4").astype(float)
    b = decode(tmp_path / "local" / "reel.colorized.mp4").astype(float)
    assert a.shape == b.shape == (150, 96, 128, 3)
    assert np.abs(a - b).mean() < 0.5       # Ray's workers run one thread: float sums differ by rounding
    assert audio_md5(tmp_path / "ray" / "reel.colorized.mp4") == audio_md5(reel)


def test_ray_missing_says_how_to_install(monkeypatch, tiny_models, clips, tmp_path):
    import builtins
    real = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray":
            raise ImportError("no ray")
        return real(name, *a, **k)

    films = tmp_path / "films"
    films.mkdir()
    shutil.copy(clips["noaudio"], films / "a.mkv")
    monkeypatch.setattr(builtins, "__import__", no_ray)
    r = batch(films, "--models-dir", tiny_models, "--ray", "auto")
    assert r.exit_code == 2 and "pip install 'oldfilm[ray]'" in r.output


def test_a_chunk_inside_a_long_shot_replays_only_the_declared_warm_up(tiny_models, tmp_path, monkeypatch):
    """Colorize + stabilize in chunks that split one 6 s shot: each chunk replays only what the
    stages declare (the stabilizer's 66 frames at strength 0.9, not the shot from its start), and
    the frames are those of an unbroken run to within rounding (lossless encode: the stabilizer's
    forgotten history is under 1/1024; the colorizer's key frames fall on the same frames). Luma is
    compared within 2 levels; RGB within 4, as one level of Y, U and V each can move RGB by 3."""
    from oldfilm.pipeline import Pipeline

    films = tmp_path / "films"
    films.mkdir()
    ff("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25:duration=6,hue=s=0", "-c:v", "libx264", "-crf", "12",
       str(films / "long.mp4"))
    assert detect_scenes(films / "long.mp4") == []
    calls, original = [], Pipeline.run

    def spy(self, *a, **kw):
        calls.append((kw["start"], kw["count"], kw["discard"], kw["lookahead"]))
        return original(self, *a, **kw)

    monkeypatch.setattr(Pipeline, "run", spy)
    for name, seconds in [("chunked", "0.8"), ("whole", "100")]:
        r = batch(films, "-o", tmp_path / name, "-q", "--chunk-seconds", seconds, "--crf", "0",
                  "--models-dir", tiny_models)
        assert r.exit_code == 0, r.output
    chunks = plan(Film(films / "long.mp4", tmp_path / "x.mp4"), 0.8)
    assert len(chunks) >= 4 and chunks[-1].warmup > 66
    starts = {c.start: c for c in chunks}
    for start, count, discard, ahead in calls[:len(chunks)]:
        chunk = starts[start + discard]
        assert discard == min(chunk.warmup, 66) and ahead == min(15, 150 - chunk.start - chunk.count)
    chunked = decode(tmp_path / "chunked" / "long.colorized.mp4").astype(int)
    whole = decode(tmp_path / "whole" / "long.colorized.mp4").astype(int)
    assert chunked.shape == whole.shape == (150, 96, 128, 3)
    assert np.abs(chunked - whole).max() <= 4 and (np.abs(chunked - whole) > 2).mean() < 1e-5
    luma = [decode(tmp_path / n / "long.colorized.mp4", "gray").astype(int) for n in ("chunked", "whole")]
    assert np.abs(luma[0] - luma[1]).max() <= 2


@pytest.mark.parametrize("workers", [1, 2, "ray"])
def test_progress_is_told_of_frames_inside_each_chunk(reel, tiny_models, tmp_path, workers):
    """The bar hears of frames as each chunk writes them, in this process, from a pool of
    workers or from Ray's, and in all exactly the film's frames (warm-up and look-ahead frames
    not counted)."""
    from oldfilm.batch import LocalExecutor, RayExecutor, find_films, run_batch

    films = tmp_path / "films"
    films.mkdir()
    shutil.copy(reel, films / "reel.mp4")
    [film] = find_films(films, tmp_path / "out", "colorized", recursive=False)
    heard = []
    if workers == "ray":
        ray = pytest.importorskip("ray")
        executor = RayExecutor("local", num_cpus=2)
    else:
        executor = LocalExecutor(workers)
    try:
        run_batch([film], "colorize", {"models_dir": str(tiny_models)}, device="cpu", batch_size=4, precision="fp32",
                  crf=18, preset="veryfast", force=False, chunk_seconds=1.5, executor=executor,
                  on_frames=lambda f, n: heard.append(n))
    finally:
        if workers == "ray":
            ray.shutdown()
    assert film.status == "done" and len(film.chunks) == 3 and probe(film.output).frames == 150
    assert sum(heard) == 150 and len(heard) > len(film.chunks)   # more reports than chunks: from inside them
