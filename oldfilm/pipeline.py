"""The one code path that runs stages over a film: CLI, Python API, batch and distributed runs."""
from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .errors import BadInput
from .scenes import SceneDetector
from .stages import Frames, Stage, to_tensor
from .video import FrameReader, FrameWriter, VideoInfo, probe
from .video.probe import same_film


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
    if device.type not in ("cpu", "cuda", "mps"):   # meta, xla, ...: torch knows them, oldfilm cannot run there
        raise BadInput(f"oldfilm cannot run on device {name!r}: use auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda" and (not torch.cuda.is_available()
                                  or (device.index or 0) >= torch.cuda.device_count()):
        raise BadInput(f"device {name} is not available on this machine: use --device auto or cpu")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BadInput("device mps is not available on this machine: use --device auto or cpu")
    return device


def cpu_bf16_supported() -> bool:
    """True when this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX), where bf16 autocast
    is faster than fp32; elsewhere bf16 is emulated and slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_name() -> str:
    """This machine's CPU model (Linux's /proc/cpuinfo), for benchmark records: ratios are compared
    only on one CPU model."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def auto_precision(device: torch.device) -> str:
    """fp16 on a GPU, bf16 on a CPU that computes it natively, else fp32."""
    if device.type == "cuda":
        return "fp16"
    return "bf16" if device.type == "cpu" and cpu_bf16_supported() else "fp32"


def stage_models(stages: list[Stage]) -> list[str]:
    """The registry models the stages run, each once."""
    return list(dict.fromkeys(m for s in stages for m in s.models()))


def disclosure(stages: list[Stage]) -> dict[str, str]:
    """Container tags that say what made a film (players and ffprobe show them); oldfilm never
    marks the picture itself."""
    from . import __version__

    done = {"colorize": "colourized", "cartoonize": "cartoonized", "stabilize": "stabilized"}
    verbs = list(dict.fromkeys(done.get(s.name, f"processed ({s.name})") for s in stages
                               if s.name != "stabilize")) or ["stabilized"]
    models = stage_models(stages)
    text = (f"{', '.join(verbs).capitalize()} by oldfilm {__version__}"
            + (f" with model {', '.join(models)}" if models else "")
            + f"; chain: {' -> '.join(s.describe() for s in stages)}")
    return {"comment": text, "description": text}


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
                 batch_size: int = 8, precision: str = "auto", progress: bool = True,
                 detect_scenes: bool = True):
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.stages = [s.to(self.device) for s in stages]
        self.batch_size, self.progress, self.detect_scenes = batch_size, progress, detect_scenes
        self.cuts: list[int] = []   # the scene cuts of the last film processed
        if precision == "auto":
            precision = auto_precision(self.device)
        self.precision = precision
        self._dtype = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]

    @property
    def warmup(self) -> int | None:
        """Frames before a part of a shot that its stages need to see (None: the shot from its start)."""
        needs = [s.warmup for s in self.stages]
        return None if None in needs else max(needs, default=0)

    @property
    def lookahead(self) -> int:
        return max((s.lookahead for s in self.stages), default=0)

    def describe(self) -> str:
        return (" -> ".join(s.describe() for s in self.stages)
                + f" on {self.device} ({self.precision}, batch {self.batch_size})")

    def models(self) -> list[str]:
        return stage_models(self.stages)

    def disclosure(self) -> dict[str, str]:
        return disclosure(self.stages)

    def _autocast(self):
        if self._dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._dtype)

    def _to_frames(self, batch: np.ndarray, source: np.ndarray | None, index: int = 0) -> Frames:
        if source is None:   # made float on the device when a stage first reads it
            return Frames.decoded(batch, self.device, index)
        rgb, src = to_tensor(batch, self.device), to_tensor(source, self.device)
        if src.shape[-2:] != rgb.shape[-2:]:
            src = torch.nn.functional.interpolate(src, size=rgb.shape[-2:], mode="bilinear", align_corners=False)
        return Frames(rgb, src, index)

    def _chain(self, frames: Frames | None, end: bool = False) -> list[Frames]:
        """Push frames through every stage; with ``end`` flush and reset each stage. What a stage
        hands on goes to the next in batches of at most ``batch_size`` (a stage that held a shot
        back lets it go at once: in one piece its full-size arrays cost the next stages fresh
        memory pages; bench/README.md, issue 11)."""
        outs = [frames] if frames is not None and len(frames) else []
        for stage in self.stages:
            nxt = []
            for f in outs:
                nxt += self._pieces(stage.process(f))
            if end:
                nxt += self._pieces(stage.flush())
                stage.reset()
            outs = nxt
        return outs

    def _pieces(self, frames: Frames | None) -> list[Frames]:
        if frames is None or not len(frames):
            return []
        if len(frames) <= self.batch_size:
            return [frames]
        return [frames[i:i + self.batch_size] for i in range(0, len(frames), self.batch_size)]

    def process_batches(self, batches: Iterable[np.ndarray], cuts: Iterable[int] = (),
                        sources: Iterable[np.ndarray] | None = None, first: int = 0) -> Iterator[np.ndarray]:
        """Stream uint8 ``(B, H, W, 3)`` batches through the stages; ``cuts`` are the frame
        indices where a new scene starts (temporal stages reset there), added to those the
        scene detector finds when ``detect_scenes`` is on. ``sources``: batches of the original
        film, of the same lengths, when ``batches`` is an already processed copy of it (scenes
        are then found on the sources). ``first``: the film's frame number of the first frame
        (a part of a film), which stages see as :attr:`Frames.index`."""
        sources = iter(sources) if sources is not None else None
        cuts = {c for c in cuts if c > 0}
        detector = SceneDetector() if self.detect_scenes else None
        self.cuts = []
        index = 0
        # the modes are entered once, in the body: as a decorator, inference_mode re-enters at
        # every resumption of the generator, which made the network steps ~60% slower (torch 2.14)
        with torch.inference_mode(), self._autocast():
            for batch in batches:
                source = None
                if sources is not None:
                    source = next(sources, None)
                    if source is None:
                        break
                    n = min(len(batch), len(source))
                    batch, source = batch[:n], source[:n]
                if detector is not None:
                    cuts.update(detector(batch if source is None else source, index))
                inside = {c - index for c in cuts if index <= c < index + len(batch)}
                self.cuts += sorted(index + i for i in inside if index + i > 0)
                bounds = sorted(inside | {0, len(batch)})
                for lo, hi in zip(bounds, bounds[1:]):
                    if index + lo in cuts:   # a new scene: finish the last one first
                        for out in self._chain(None, end=True):
                            yield out.to_uint8()
                    if hi > lo:
                        part = self._to_frames(batch[lo:hi], None if source is None else source[lo:hi],
                                               first + index + lo)
                        for out in self._chain(part):
                            yield out.to_uint8()
                index += len(batch)
            for out in self._chain(None, end=True):
                yield out.to_uint8()

    def run(self, input: str | Path, output: str | Path, *, crf: int = 18, preset: str = "medium",
            overwrite: bool = False, cuts: Iterable[int] = (), info: VideoInfo | None = None,
            source: str | Path | None = None, start: int = 0, count: int | None = None,
            discard: int = 0, lookahead: int = 0, sound: bool = True, tags: dict[str, str] | None = None,
            bar=None, source_info: VideoInfo | None = None) -> RunResult:
        """Process the film ``input`` into ``output``, audio and subtitles copied unchanged.

        ``source``: when ``input`` is a processed copy of a film (a colorized film to stabilize),
        the original film, read alongside to guide the stages; the sound comes from ``input`` if
        it has any, else from ``source``. ``start``/``count``: process only that part of the film
        (a chunk of a batch run); the first ``discard`` of those frames only warm up temporal
        state and are not written, nor are the last ``lookahead`` (processed so that stages holding
        frames back see what follows); ``sound=False`` writes the picture alone; ``tags``: container
        metadata of the output (default: :meth:`disclosure`); ``bar``: a progress bar (anything
        with ``update(n)``) to advance by the frames written, instead of the film's own. ``info``,
        ``source_info``: the films' probes, when the caller has them (each film is probed once).
        """
        input, output = Path(input), Path(output)
        info = info or probe(input)
        src_info = (source_info or probe(source)) if source is not None else None
        for path in (input, source):
            if path is not None and output.resolve() == Path(path).resolve():
                raise BadInput(f"the output {output} is an input: oldfilm never writes over its input; choose another -o")
        if output.exists() and not overwrite:
            raise BadInput(f"{output} exists: pass --overwrite to replace it, or choose another -o")
        if src_info is not None:
            same_film(src_info, info, f"give the film that {input.name} was made from as the source")
        sound_from = input if info.audio or src_info is None else Path(source)
        timing = info if sound_from == input else src_info   # the video starts where the sound's film has it
        sound_start = timing.start
        started = time.perf_counter()
        total = min(count, info.frames - start) if count is not None else info.frames - start
        own_bar = bar is None
        bar = bar if bar is not None else tqdm(total=total - discard - lookahead, unit="frame", dynamic_ncols=True,
                                               disable=not self.progress, desc=input.name[:30], smoothing=0.1)
        for stage in self.stages:   # inputs that depend on the film fail before anything is written
            stage.prepare(info)
        writer = FrameWriter(output, info.width, info.height, info.fps, source=sound_from if sound else None,
                             source_start=sound_start if sound else 0.0, crf=crf, preset=preset, sar=info.sar,
                             timestamps=info.pts[start + discard:start + total - lookahead] if info.vfr else None, time_base=info.time_base,
                             tags=self.disclosure() if tags is None else tags)
        with contextlib.ExitStack() as stack:
            stack.enter_context(writer)
            filters = [f for stage in self.stages for f in stage.decode_filters(info)]
            reader = stack.enter_context(FrameReader(info, self.batch_size, start=start, count=count,
                                                     filters=filters))
            guide = (stack.enter_context(FrameReader(src_info, self.batch_size, start=start, count=count))
                     if src_info else None)
            to_skip, to_write = discard, total - discard - lookahead
            for frames in self.process_batches(reader, cuts, sources=guide, first=start):
                skip = min(to_skip, len(frames))
                to_skip -= skip
                frames = frames[skip:skip + max(0, to_write)]
                to_write -= len(frames)
                if len(frames):
                    writer.write(frames)
                    bar.update(len(frames))
            if own_bar:
                bar.close()
            writer.close()
        return RunResult(input, output, total - discard - lookahead, writer.frames_written,
                         time.perf_counter() - started)
