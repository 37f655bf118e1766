"""Decode a film to batches of RGB frames on a background thread with a bounded queue."""
from __future__ import annotations

import queue
import subprocess
import sys
import tempfile
import threading
from fractions import Fraction
from collections.abc import Iterator, Sequence

import ffmpeg as ffmpeg_python
import numpy as np

from ..errors import FFmpegError
from . import ffmpeg
from .probe import VideoInfo

_END = object()


def decode_args(info: VideoInfo, *, start: int = 0, count: int | None = None,
                filters: Sequence[tuple[str, dict]] = ()) -> list[str]:
    """ffmpeg's arguments (after the common ones) that decode ``info``'s main video stream to raw
    RGB on stdout, through ``filters`` (a graph built by ffmpeg-python, never by hand)."""
    inputs = {}
    if start:   # accurate seek: frames before half a frame ahead of `start` are decoded and dropped
        inputs["ss"] = f"{info.start + float((start - Fraction(1, 2)) / info.fps):.6f}"
    stream = ffmpeg_python.input(ffmpeg.path_arg(info.path), **inputs)["V:0"]
    for name, kwargs in filters:
        stream = stream.filter(name, **kwargs)
    out = {"an": None, "sn": None, "dn": None, "fps_mode": "passthrough", "f": "rawvideo", "pix_fmt": "rgb24"}
    if count is not None:
        out["frames:v"] = count
    return stream.output("pipe:1", **out).get_args()


class FrameReader:
    """Iterate ``(B, H, W, 3)`` uint8 RGB batches of ``info``'s main video stream.

    Memory stays bounded: at most ``queue_size`` batches wait between decoder and consumer.
    ``start`` and ``count`` read a part of the film (frame-accurate); ``filters``: ffmpeg filters
    applied as frames are decoded (``("bwdif", {"mode": "send_frame"})``). Every frame is read once,
    variable-frame-rate films too (their timestamps are in ``info.pts``). Use as a context
    manager or call ``close``. ``size=(width, height)`` scales the frames in the decoder
    (cheap thumbnails for scores and scene cuts).
    """

    def __init__(self, info: VideoInfo, batch_size: int = 8, queue_size: int = 3,
                 start: int = 0, count: int | None = None, size: tuple[int, int] | None = None,
                 filters: Sequence[tuple[str, dict]] = ()):
        self.info, self.batch_size = info, batch_size
        self.width, self.height = size or (info.width, info.height)
        if size is not None:
            filters = [*filters, ("scale", {"w": size[0], "h": size[1], "flags": "area"})]
        args = decode_args(info, start=start, count=count, filters=filters)
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(ffmpeg.base_args() + args, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.frames_read = 0
        self._thread = threading.Thread(target=self._run, name="oldfilm-decode", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _buffer(self, pool: list[np.ndarray]) -> np.ndarray:
        """An array for the next batch: one of ``pool`` that nothing refers to any more (its frames
        have been written), else a new one. Large batches (a 1080p batch of 8 is 50 MB) are
        otherwise mapped fresh from the system each time (glibc maps blocks over 32 MB), and
        faulting their pages in cost ~30% of this thread's CPU (bench/README.md, issue 15)."""
        for buf in pool:
            # the pool's list, this loop's name and getrefcount's argument: no batch, view or
            # tensor made from it is alive (each of those holds a reference to it)
            if sys.getrefcount(buf) == 3:
                return buf
        buf = np.empty((self.batch_size, self.height, self.width, 3), np.uint8)
        if len(pool) < self._queue.maxsize + 4:
            pool.append(buf)
        return buf

    def _run(self) -> None:
        h, w = self.height, self.width
        frame_bytes = h * w * 3
        pool: list[np.ndarray] = []
        try:
            out = self._proc.stdout
            while not self._stop.is_set():
                batch = self._buffer(pool)
                flat = memoryview(batch.reshape(-1))
                n = 0
                while n < self.batch_size:
                    got, view = 0, flat[n * frame_bytes:(n + 1) * frame_bytes]
                    while got < frame_bytes:
                        k = out.readinto(view[got:])
                        if not k:
                            break
                        got += k
                    if got < frame_bytes:
                        break
                    n += 1
                if n:
                    self.frames_read += n
                    if not self._put(batch[:n]):
                        return
                if n < self.batch_size:
                    break
            code = self._proc.wait()
            if code != 0 and not self._stop.is_set():
                self._stderr.seek(0)
                msg = ffmpeg.last_error(self._stderr.read())
                raise FFmpegError(f"decoding {self.info.path.name} failed after {self.frames_read} frames: {msg}")
        except BaseException as e:  # handed to the consumer, re-raised there
            self._error = e
        finally:
            self._put(_END)

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    break
                yield item
        finally:
            self.close()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._stop.set()
        if self._proc.poll() is None:
            self._proc.kill()
        self._thread.join()
        self._proc.wait()
        self._proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
