"""Decode -> identity pipeline -> encode: frames, timing, streams and failures."""
from fractions import Fraction

import numpy as np
import pytest

from conftest import audio_md5, decode
from oldfilm import Pipeline
from oldfilm.errors import FFmpegError
from oldfilm.stages import Identity
from oldfilm.video import FrameReader, FrameWriter, probe
from oldfilm.video.ffmpeg import run
from oldfilm.video.writer import partial_path


def passthrough(src, out):
    return Pipeline([Identity()], device="cpu", batch_size=4, progress=False).run(src, out)


def test_reader_batches_cover_every_frame(clips):
    info = probe(clips["gray"])
    with FrameReader(info, batch_size=7) as reader:
        sizes = [len(b) for b in reader]
    assert sum(sizes) == 60 and max(sizes) == 7
    assert decode(clips["gray"]).shape == (60, 120, 160, 3)


def test_reader_reuses_only_batches_nothing_holds(clips):
    """Batches are recycled once dropped, never while a batch, a view or a tensor of it is alive."""
    import torch

    info, whole = probe(clips["gray"]), decode(clips["gray"])
    held, seen, n = [], set(), 0
    for i, batch in enumerate(FrameReader(info, batch_size=4, queue_size=1)):
        seen.add(batch.__array_interface__["data"][0])
        if i % 3 == 0:
            held.append(batch[1:])                         # a view
        elif i % 3 == 1:
            held.append(torch.from_numpy(batch))           # a tensor sharing its memory
        n += len(batch)
    assert n == 60
    kept = [np.asarray(h) for h in held]
    for i, k in zip(range(0, 15, 3), kept[0::2]):          # the views: frames 4i+1 .. 4i+3
        assert np.array_equal(k, whole[4 * i + 1:4 * i + 4])
    for i, k in zip(range(1, 15, 3), kept[1::2]):          # the tensors: frames 4i .. 4i+3
        assert np.array_equal(k, whole[4 * i:4 * i + 4])
    assert len(seen) < 15                                  # the dropped ones came back


def test_reader_stopped_early_does_not_hang(clips):
    info = probe(clips["gray"])
    reader = FrameReader(info, batch_size=2, queue_size=1)
    first = next(iter(reader))
    reader.close()
    assert first.shape == (2, 120, 160, 3)


@pytest.mark.parametrize("name", ["gray", "noaudio", "odd", "rotated", "anamorphic", "rich", "vfr"])
def test_passthrough_keeps_frames_timing_and_streams(clips, tmp_path, name):
    src = clips[name]
    out = tmp_path / f"out{src.suffix}"
    result = passthrough(src, out)
    a, b = probe(src), probe(out)
    assert abs(b.frames - a.frames) <= 1 and result.frames_out == b.frames
    assert b.duration == pytest.approx(a.duration, abs=1.01 / float(a.fps))
    assert (b.width, b.height, b.sar) == (a.width, a.height, a.sar)
    assert b.rotation == 0                      # the picture is upright, no rotation flag needed
    if not a.vfr:
        assert b.fps == a.fps
    assert audio_md5(out) == audio_md5(src)     # every audio packet bit-identical
    assert [s.codec for s in b.subtitles] == [s.codec for s in a.subtitles]
    assert not partial_path(out).exists()


def test_passthrough_is_visually_lossless(clips, tmp_path):
    out = tmp_path / "out.mp4"
    passthrough(clips["gray"], out)
    x, y = decode(clips["gray"]).astype(float), decode(out).astype(float)
    psnr = 10 * np.log10(255 ** 2 / np.mean((x - y) ** 2))
    assert psnr > 38


def test_chapters_and_metadata_copied(clips, tmp_path):
    out = tmp_path / "out.mkv"
    passthrough(clips["rich"], out)
    meta = run(["-i", str(out), "-f", "ffmetadata", "-"]).stdout.decode()
    assert "title=A test reel" in meta
    assert meta.count("[CHAPTER]") == 2 and "title=Opening" in meta


def test_failed_encode_leaves_nothing(tmp_path):
    target = tmp_path / "film.mp4"
    with pytest.raises(RuntimeError):
        with FrameWriter(target, 64, 48, Fraction(25)) as w:
            w.write(np.zeros((3, 48, 64, 3), np.uint8))
            raise RuntimeError("a stage died")
    assert list(tmp_path.iterdir()) == []


def test_encoder_error_is_raised_not_printed(tmp_path):
    target = tmp_path / "film.mp4"
    w = FrameWriter(target, 64, 48, Fraction(25), source=tmp_path / "missing-source.mp4")
    with pytest.raises(FFmpegError, match="encoding film.mp4 failed"):
        for _ in range(50):
            w.write(np.zeros((4, 48, 64, 3), np.uint8))
        w.close()
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_damaged_stream_decodes_what_is_there(clips, tmp_path):
    faststart = tmp_path / "fs.mp4"
    run(["-i", str(clips["gray"]), "-c", "copy", "-movflags", "+faststart", str(faststart)])
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(faststart.read_bytes()[: faststart.stat().st_size * 2 // 3])
    out = tmp_path / "out.mp4"
    result = passthrough(cut, out)
    assert 0 < result.frames_out < 60
    assert probe(out).frames == result.frames_out
