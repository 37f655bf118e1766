"""Encode RGB frames to a film and carry the source's audio, subtitles, chapters and metadata.

Frames go to ffmpeg's stdin from a background thread (bounded queue). ffmpeg writes a hidden
partial file beside the target; only a complete encode is renamed to the target: the partial is
read back (its frame count and duration must be what was written, whatever ffmpeg's exit code
says: some builds exit 0 on a full disk) and flushed to the disk first, so an interrupted or
failed run never leaves something that looks finished.
"""
from __future__ import annotations

import queue
import re
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from .. import files
from ..errors import BadInput, FFmpegError, OldfilmError
from . import ffmpeg

# containers that hold H.264 video; any other output extension is refused
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi",
              ".ts": "mpegts", ".m2ts": "mpegts", ".flv": "flv"}
_MP4ISH = {"mp4", "mov"}
_END = object()


def metadata_args(tags: dict[str, str] | None) -> list[str]:
    """ffmpeg output options that set container metadata tags (plain strings)."""
    return [a for k, v in (tags or {}).items() for a in ("-metadata", f"{k}={v}")]


def partial_path(target: Path) -> Path:
    return files.hidden(target, f"partial{target.suffix}")


def ffmpeg_to(target: Path, args: list[str], what: str, *, frames: int | None = None,
              duration: float = 0.0, fps: Fraction = Fraction(25)) -> Path:
    """Run ffmpeg with ``args`` (inputs, maps, codecs) into ``target``'s container: written to a
    hidden partial file, read back (``frames`` and ``duration``, when given) and renamed
    (durably); removed with a one-line :class:`FFmpegError` (``what`` failed: why) or
    DiskFull when it is not complete, whatever ffmpeg's exit code."""
    fmt = CONTAINERS[target.suffix.lower()]
    partial = partial_path(target)
    if fmt in _MP4ISH:
        args = args + ["-movflags", "+faststart"]
    done = ffmpeg.run(args + ["-f", fmt, ffmpeg.path_arg(partial)])
    try:
        if done.returncode != 0:
            if ffmpeg.disk_full(done.stderr):
                raise files.disk_full(target, 2 * partial.stat().st_size if partial.exists() else 0)
            raise FFmpegError(f"{what} failed: {ffmpeg.last_error(done.stderr)}")
        if frames is not None:
            verify(partial, frames, duration, fps, f"{what} failed", done.stderr, target)
        files.commit(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target


def check_name(target: Path) -> None:
    """A name the file system can hold, or BadInput."""
    size = len(target.name.encode())
    if size > files.NAME_MAX:
        raise BadInput(f"{target.name[:40]}...: the output name is {size} bytes, over the {files.NAME_MAX} a file "
                       "system allows; choose a shorter name with -o")


def verify(path: Path, frames: int, duration: float, fps: Fraction, what: str, stderr: bytes = b"",
           target: Path | None = None) -> None:
    """Read ``path`` back: it must hold ``frames`` video frames lasting ``duration`` seconds
    (within a frame), else FFmpegError (DiskFull, naming ``target``, when ffmpeg said the disk
    is full)."""
    from .probe import probe

    try:
        got = probe(path)
        ok = got.frames == frames and abs(got.duration - duration) <= 1.01 / float(fps)
        found = f"{got.frames} of {frames} frames, {got.duration:.2f} of {duration:.2f} s"
    except OldfilmError:
        ok, found = False, "an unreadable file"
    if ok:
        return
    if ffmpeg.disk_full(stderr):
        raise files.disk_full(target or path, 2 * path.stat().st_size if path.exists() else 0)
    reason = f": {ffmpeg.last_error(stderr)}" if stderr.strip() else ""
    raise FFmpegError(f"{what}: ffmpeg wrote {found}{reason}; nothing was kept")


class FrameWriter:
    """Write ``(B, H, W, 3)`` uint8 RGB batches to ``target``.

    ``source``: a film whose audio and subtitle streams, chapters and metadata are copied in
    unchanged (no re-encoding); ``source_start`` shifts the video to start that many seconds
    after the source's start. ``time_base``: the clock of the output's timestamps (the source's);
    ``timestamps`` (in its ticks): each frame's presentation time, for a variable-rate film (else
    frames are ``1/fps`` apart). Call ``close()`` to finish
    (checks and renames into place) or ``abort()`` to discard; as a context manager a clean exit
    closes and an exception aborts. ``tags``: container metadata to
    set (``{"comment": ...}``), over any copied from the source.
    """

    def __init__(self, target: str | Path, width: int, height: int, fps: Fraction, *,
                 source: str | Path | None = None, source_start: float = 0.0, crf: int = 18,
                 preset: str = "medium", sar: Fraction = Fraction(1), queue_size: int = 3,
                 timestamps: Sequence[int] | None = None, time_base: Fraction | None = None,
                 tags: dict[str, str] | None = None):
        self.target = Path(target)
        fmt = CONTAINERS.get(self.target.suffix.lower())
        if fmt is None:
            raise BadInput(f"{self.target.name}: oldfilm cannot write '{self.target.suffix}' files; "
                           f"use one of {', '.join(sorted(CONTAINERS))}")
        check_name(self.target)
        if fmt == "avi" and (timestamps or source_start >= 0.5 / float(fps)):
            why = "a variable frame rate" if timestamps else f"a video that starts {source_start:.3f} s after the sound"
            raise BadInput(f"{self.target.name}: AVI has no timestamps and cannot hold {why}; choose .mkv or .mp4")
        self.partial = partial_path(self.target)
        self.width, self.height, self.fps, self.frames_written = width, height, Fraction(fps), 0
        self._timestamps = list(timestamps) if timestamps else None
        self._time_base = time_base
        # Even sizes: frames are converted here to Y'CbCr 4:2:0 (BT.601, limited range, OpenCV's
        # SIMD code: cheaper than ffmpeg's scaler and half the bytes through the pipe). Odd sizes
        # cannot be 4:2:0: ffmpeg converts them to 4:4:4 and every pixel is kept.
        self._yuv = not (width % 2 or height % 2)
        self._pix_fmt = "yuv420p" if self._yuv else "rgb24"
        if self._timestamps:   # frames travel in NUT packets that carry their timestamps
            args = ["-f", "nut"]
        else:
            args = ["-f", "rawvideo", "-pix_fmt", self._pix_fmt, "-s", f"{width}x{height}", "-framerate", str(fps)]
        args += ["-i", "pipe:0"]
        if source is not None:
            args += ["-i", ffmpeg.path_arg(source), "-map", "0:v:0", "-map", "1:a?", "-map", "1:s?",
                     "-map_metadata", "1", "-map_chapters", "1", "-c:a", "copy",
                     "-c:s", "mov_text" if fmt in _MP4ISH else "copy"]
        else:
            args += ["-map", "0:v:0"]
        args += metadata_args(tags)
        # Y'CbCr with the BT.601 matrix, as oldfilm's stages compute luma: a kept luma stays kept;
        # the sample aspect ratio exactly (setsar reduces to terms under `max`, 100 by default)
        convert = "" if self._yuv else "scale=out_color_matrix=bt601:out_range=tv,format=yuv444p,"
        tb = time_base or Fraction(1, 90000)
        if source_start:   # on the source's clock (-itsoffset would round it to 1/fps in ffmpeg 5)
            convert += f"settb={tb.numerator}/{tb.denominator},setpts=PTS+{round(source_start / tb)},"
        sar = Fraction(sar)
        args += ["-vf", f"{convert}setparams=colorspace=smpte170m:color_primaries=bt709:color_trc=bt709:range=tv,"
                        f"setsar={sar.numerator}/{sar.denominator}:max={max(100, sar.numerator, sar.denominator)}",
                 # every frame once, at its own time: no frame repeated to fill a late start or a
                 # variable rate
                 "-fps_mode", "passthrough", "-c:v", "libx264", "-crf", str(crf), "-preset", preset]
        if time_base is not None or source_start:   # the source's clock: no time rounded to 1/fps
            args += ["-enc_time_base:v", f"{tb.numerator}:{tb.denominator}"]
        if fmt in _MP4ISH:
            args += ["-movflags", "+faststart"]
        args += ["-f", fmt, ffmpeg.path_arg(self.partial)]
        try:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            probe_file = tempfile.TemporaryFile(dir=self.partial.parent)
            probe_file.close()
        except OSError as e:
            if e.errno in files.FULL:
                raise files.disk_full(self.target) from None
            raise BadInput(f"cannot write to {self.target.parent}: {e.strerror}; choose another output with -o") from e
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(ffmpeg.base_args() + args, stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=self._stderr)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="oldfilm-encode", daemon=True)
        self._thread.start()

    def _packets(self):
        """A function sending one frame's bytes: raw, or a NUT packet with its timestamp."""
        if not self._timestamps:
            return lambda data, index: self._proc.stdin.write(data)
        import av   # PyAV: NUT packets carry each frame's timestamp into ffmpeg

        nut = av.open(self._proc.stdin, "w", format="nut")
        stream = nut.add_stream("rawvideo", rate=max(1, round(self.fps)))
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, self._pix_fmt
        stream.time_base = self._time_base
        ts, first = self._timestamps, self._timestamps[0]
        step = (ts[-1] - ts[-2]) if len(ts) > 1 else round(1 / (self.fps * self._time_base))
        self._nut = nut

        def send(data, index):
            packet = av.Packet(bytes(data))
            packet.stream, packet.time_base = stream, self._time_base
            # more frames than timestamps (cannot happen with a whole film): carry on at the last step
            packet.pts = packet.dts = (ts[index] if index < len(ts) else ts[-1] + (index - len(ts) + 1) * step) - first
            nut.mux(packet)
        return send

    def _run(self) -> None:
        index = 0
        try:
            send = self._packets()
            while True:
                item = self._queue.get()
                if item is _END:
                    break
                for frame in item:
                    send(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).data if self._yuv
                         else memoryview(np.ascontiguousarray(frame)).cast("B"), index)
                    index += 1
            if self._timestamps:
                self._nut.close()
        except BrokenPipeError:
            self._error = self._ffmpeg_failed()
        except BaseException as e:   # PyAV wraps a broken pipe in its own error
            self._error = self._ffmpeg_failed() if self._proc.poll() not in (None, 0) else e
        finally:
            while self._error is not None:   # drain so the producer never blocks on a dead writer
                try:
                    if self._queue.get(timeout=0.1) is _END:
                        break
                except queue.Empty:
                    if self._closed:
                        break

    def _ffmpeg_failed(self) -> OldfilmError:
        self._proc.wait()
        self._stderr.seek(0)
        err = self._stderr.read()
        if ffmpeg.disk_full(err):
            return files.disk_full(self.target, 2 * self.partial.stat().st_size if self.partial.exists() else 0)
        hint = ""
        if self.target.suffix.lower() != ".mkv" and re.search(rb"codec not currently supported in container|"
                                                              rb"Could not find tag for codec|only supported in|not supported by", err):
            hint = f"; a source stream cannot go into {self.target.suffix}: try -o with a .mkv name"
        return FFmpegError(f"encoding {self.target.name} failed: {ffmpeg.last_error(err)}{hint}")

    def write(self, frames: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        if frames.shape[1:] != (self.height, self.width, 3):
            raise ValueError(f"frame shape {frames.shape[1:]} != {(self.height, self.width, 3)}")
        self._queue.put(frames)
        self.frames_written += len(frames)

    def duration(self) -> float:
        """Seconds of the frames written so far (a variable-rate film's last frame is taken to
        last as long as the step before it)."""
        ts, n = self._timestamps, min(self.frames_written, len(self._timestamps or ()))
        if n < 2:
            return float(self.frames_written / self.fps)
        return float((2 * ts[n - 1] - ts[n - 2] - ts[0]) * self._time_base)

    def close(self) -> Path:
        """Finish the encode, check what was written, and move the film into place; returns the
        target path."""
        if self._closed:
            return self.target
        self._queue.put(_END)
        self._thread.join()
        self._closed = True
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        code = self._proc.wait()
        try:
            err = self._error or (self._ffmpeg_failed() if code != 0 else None)
            if err is not None:
                raise err
            self._stderr.seek(0)
            verify(self.partial, self.frames_written, self.duration(), self.fps,
                   f"encoding {self.target.name} failed", self._stderr.read(), self.target)
            files.commit(self.partial, self.target)
        except BaseException:
            self.partial.unlink(missing_ok=True)
            raise
        finally:
            self._stderr.close()
        return self.target

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file."""
        self._closed = True
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        try:
            self._queue.put_nowait(_END)
        except queue.Full:
            pass
        self._thread.join(timeout=5)
        self._stderr.close()
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.close()
