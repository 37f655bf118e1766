"""Encode RGB frames to a film and carry the source's audio, subtitles, chapters and metadata.

Frames go to ffmpeg's stdin from a background thread (bounded queue). ffmpeg writes a hidden
partial file beside the target; only a complete, successful encode is renamed to the target, so
an interrupted run never leaves something that looks finished.
"""
from __future__ import annotations

import os
import queue
import subprocess
import tempfile
import threading
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import BadInput, FFmpegError
from . import ffmpeg

# containers that hold H.264 video; any other output extension is refused
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi",
              ".ts": "mpegts", ".m2ts": "mpegts", ".flv": "flv"}
_MP4ISH = {"mp4", "mov"}
_END = object()


def partial_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.oldfilm-partial{target.suffix}")


class FrameWriter:
    """Write ``(B, H, W, 3)`` uint8 RGB batches to ``target``.

    ``source``: a film whose audio and subtitle streams, chapters and metadata are copied in
    unchanged (no re-encoding); ``source_start`` shifts the video to the source's first timestamp.
    Call ``close()`` to finish (renames into place) or ``abort()`` to discard; as a context
    manager an exception aborts.
    """

    def __init__(self, target: str | Path, width: int, height: int, fps: Fraction, *,
                 source: str | Path | None = None, source_start: float = 0.0, crf: int = 18,
                 preset: str = "medium", sar: Fraction = Fraction(1), queue_size: int = 3):
        self.target = Path(target)
        fmt = CONTAINERS.get(self.target.suffix.lower())
        if fmt is None:
            raise BadInput(f"{self.target.name}: oldfilm cannot write '{self.target.suffix}' files; "
                           f"use one of {', '.join(sorted(CONTAINERS))}")
        self.partial = partial_path(self.target)
        self.width, self.height, self.frames_written = width, height, 0
        # Even sizes: frames are converted here to Y'CbCr 4:2:0 (BT.601, limited range, OpenCV's
        # SIMD code: cheaper than ffmpeg's scaler and half the bytes through the pipe). Odd sizes
        # cannot be 4:2:0: ffmpeg converts them to 4:4:4 and every pixel is kept.
        self._yuv = not (width % 2 or height % 2)
        args = ["-f", "rawvideo", "-pix_fmt", "yuv420p" if self._yuv else "rgb24", "-s", f"{width}x{height}",
                "-framerate", str(fps)]
        if source_start:
            args += ["-itsoffset", f"{source_start:.6f}"]
        args += ["-i", "pipe:0"]
        if source is not None:
            args += ["-i", ffmpeg.path_arg(source), "-map", "0:v:0", "-map", "1:a?", "-map", "1:s?",
                     "-map_metadata", "1", "-map_chapters", "1", "-c:a", "copy",
                     "-c:s", "mov_text" if fmt in _MP4ISH else "copy"]
        else:
            args += ["-map", "0:v:0"]
        # Y'CbCr with the BT.601 matrix, as oldfilm's stages compute luma: a kept luma stays kept
        convert = "" if self._yuv else "scale=out_color_matrix=bt601:out_range=tv,format=yuv444p,"
        args += ["-vf", f"{convert}setparams=colorspace=smpte170m:color_primaries=bt709:color_trc=bt709:range=tv,"
                        f"setsar={sar.numerator}/{sar.denominator}",
                 "-c:v", "libx264", "-crf", str(crf), "-preset", preset]
        if fmt in _MP4ISH:
            args += ["-movflags", "+faststart"]
        args += ["-f", fmt, ffmpeg.path_arg(self.partial)]
        try:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            probe_file = tempfile.TemporaryFile(dir=self.partial.parent)
            probe_file.close()
        except OSError as e:
            raise BadInput(f"cannot write to {self.target.parent}: {e.strerror}; choose another output with -o") from e
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(ffmpeg.base_args() + args, stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=self._stderr)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="oldfilm-encode", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    break
                if self._yuv:
                    for frame in item:
                        self._proc.stdin.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).data)
                else:
                    self._proc.stdin.write(memoryview(np.ascontiguousarray(item)).cast("B"))
        except BrokenPipeError:
            self._error = self._ffmpeg_failed()
        except BaseException as e:
            self._error = e
        finally:
            while self._error is not None:   # drain so the producer never blocks on a dead writer
                try:
                    if self._queue.get(timeout=0.1) is _END:
                        break
                except queue.Empty:
                    if self._closed:
                        break

    def _ffmpeg_failed(self) -> FFmpegError:
        self._proc.wait()
        self._stderr.seek(0)
        msg = ffmpeg.last_error(self._stderr.read())
        hint = ""
        if self.target.suffix.lower() not in (".mkv",):
            hint = f"; if a stream cannot go into {self.target.suffix}, try -o with a .mkv name"
        return FFmpegError(f"encoding {self.target.name} failed: {msg}{hint}")

    def write(self, frames: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        if frames.shape[1:] != (self.height, self.width, 3):
            raise ValueError(f"frame shape {frames.shape[1:]} != {(self.height, self.width, 3)}")
        self._queue.put(frames)
        self.frames_written += len(frames)

    def close(self) -> Path:
        """Finish the encode and move the film into place; returns the target path."""
        self._queue.put(_END)
        self._thread.join()
        self._closed = True
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        code = self._proc.wait()
        err = self._error or (self._ffmpeg_failed() if code != 0 else None)
        self._stderr.close()
        if err is not None:
            self.partial.unlink(missing_ok=True)
            raise err
        os.replace(self.partial, self.target)
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
