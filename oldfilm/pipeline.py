"""The one code path that runs stages over a film: CLI, Python API, batch and distributed runs."""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .errors import BadInput
from .stages import Frames, Stage
from .video import FrameReader, FrameWriter, VideoInfo, probe


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an unavailable device is a BadInput."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BadInput(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and (not torch.cuda.is_available()
                                  or (device.index or 0) >= torch.cuda.device_count()):
        raise BadInput(f"device {name} is not available on this machine: use --device auto or cpu")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BadInput("device mps is not available on this machine: use --device auto or cpu")
    return device


@dataclass
class RunResult:
    input: Path
    output: Path
    frames_in: int
    frames_out: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames_out / self.seconds if self.seconds else 0.0


class Pipeline:
    """Named stages applied in order to batches of frames on one device.

    >>> pipe = Pipeline([Colorize()], device="auto")          # doctest: +SKIP
    >>> pipe.run("movie.mp4", "movie.colorized.mp4")           # doctest: +SKIP
    """

    def __init__(self, stages: list[Stage], *, device: str | torch.device = "auto",
                 batch_size: int = 8, precision: str = "auto", progress: bool = True):
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.stages = [s.to(self.device) for s in stages]
        self.batch_size, self.progress = batch_size, progress
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        self.precision = precision
        self._dtype = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]

    def describe(self) -> str:
        return (" -> ".join(s.describe() for s in self.stages)
                + f" on {self.device} ({self.precision}, batch {self.batch_size})")

    def _autocast(self):
        if self._dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._dtype)

    def _to_frames(self, batch: np.ndarray) -> Frames:
        t = torch.from_numpy(batch)
        if self.device.type == "cuda":
            t = t.pin_memory().to(self.device, non_blocking=True)
        t = t.to(self.device).permute(0, 3, 1, 2).float().div_(255)
        return Frames(t, t)

    @staticmethod
    def _to_numpy(frames: Frames) -> np.ndarray:
        return frames.rgb.float().clamp(0, 1).mul(255).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def _chain(self, frames: Frames | None, end: bool = False) -> list[Frames]:
        """Push frames through every stage; with ``end`` flush and reset each stage."""
        outs = [frames] if frames is not None and len(frames) else []
        for stage in self.stages:
            nxt = []
            for f in outs:
                y = stage.process(f)
                if y is not None and len(y):
                    nxt.append(y)
            if end:
                tail = stage.flush()
                stage.reset()
                if tail is not None and len(tail):
                    nxt.append(tail)
            outs = nxt
        return outs

    @torch.inference_mode()
    def process_batches(self, batches: Iterable[np.ndarray], cuts: Iterable[int] = ()) -> Iterator[np.ndarray]:
        """Stream uint8 ``(B, H, W, 3)`` batches through the stages; ``cuts`` are the frame
        indices where a new scene starts (temporal stages reset there)."""
        cuts = {c for c in cuts if c > 0}
        index = 0
        with self._autocast():
            for batch in batches:
                inside = {c - index for c in cuts if index <= c < index + len(batch)}
                bounds = sorted(inside | {0, len(batch)})
                for lo, hi in zip(bounds, bounds[1:]):
                    if index + lo in cuts:   # a new scene: finish the last one first
                        for out in self._chain(None, end=True):
                            yield self._to_numpy(out)
                    if hi > lo:
                        for out in self._chain(self._to_frames(batch[lo:hi])):
                            yield self._to_numpy(out)
                index += len(batch)
            for out in self._chain(None, end=True):
                yield self._to_numpy(out)

    def run(self, input: str | Path, output: str | Path, *, crf: int = 18, preset: str = "medium",
            overwrite: bool = False, cuts: Iterable[int] = (), info: VideoInfo | None = None) -> RunResult:
        """Process the film ``input`` into ``output``, audio and subtitles copied unchanged."""
        input, output = Path(input), Path(output)
        info = info or probe(input)
        if output.resolve() == input.resolve():
            raise BadInput(f"the output {output} is the input: oldfilm never writes over its input; choose another -o")
        if output.exists() and not overwrite:
            raise BadInput(f"{output} exists: pass --overwrite to replace it, or choose another -o")
        started = time.perf_counter()
        bar = tqdm(total=info.frames, unit="frame", disable=not self.progress, dynamic_ncols=True,
                   desc=input.name[:30], smoothing=0.1)
        writer = FrameWriter(output, info.width, info.height, info.fps, source=input,
                             source_start=info.start, crf=crf, preset=preset, sar=info.sar)
        with writer, FrameReader(info, self.batch_size) as reader:
            for frames in self.process_batches(reader, cuts):
                writer.write(frames)
                bar.update(len(frames))
            bar.close()
            writer.close()
        return RunResult(input, output, info.frames, writer.frames_written, time.perf_counter() - started)
