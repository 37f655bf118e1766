"""Batch runs: every film in a folder, long films in chunks cut at scene boundaries, resumable.

A film is planned as chunks (runs of whole shots, about ``chunk_seconds`` long), each processed
by the ordinary :class:`~oldfilm.pipeline.Pipeline` into its own picture-only file in a work folder
beside the output; a chunk file exists only once complete (written under a partial name and
renamed). When all chunks exist they are joined without re-encoding and the source's sound,
subtitles, chapters and metadata are muxed in once. After a crash, the same command re-plans
nothing (the plan is kept in ``manifest.json``) and processes only the missing chunks.

Nothing is trusted that was not checked: every chunk and every joined film is read back (frame
count, duration) before its rename, and flushed to the disk (fsync) before and after it. The
manifest has a schema version and a fingerprint of everything that decides the pixels (oldfilm's
version, each model file's hash, the options, the precision, the input's identity): a corrupt,
old or foreign manifest means the film is planned again, never that stale chunks are joined.

The same task function runs in-process, in a pool of local processes, or as Ray tasks.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__, commands, files, weights
from .errors import BadInput, DiskFull, FFmpegError, OldfilmError
from .scenes import detect_scenes
from .video import VideoInfo, ffmpeg, probe
from .video.writer import CONTAINERS, ffmpeg_to, metadata_args

MANIFEST_VERSION = 2   # 1: no version field (oldfilm 0.1.0 before it); a manifest of another version is re-planned

VIDEO_EXTENSIONS = set(CONTAINERS) | {".mpg", ".mpeg", ".wmv", ".webm", ".ogv", ".3gp", ".mxf", ".vob", ".dv"}




@dataclass(frozen=True)
class Chunk:
    index: int
    start: int
    count: int
    warmup: int = 0   # frames before `start` (back to the shot's start) processed only to build state


@dataclass
class Film:
    input: Path
    output: Path
    error: str | None = None
    frames: int = 0
    chunks: list[Chunk] = field(default_factory=list)
    status: str = "todo"      # todo, skipped, done, failed
    seconds: float = 0.0
    info: VideoInfo | None = None   # probed once per run

    @property
    def work(self) -> Path:
        return files.hidden(self.output, "work")

    def chunk_path(self, chunk: Chunk) -> Path:
        return self.work / f"chunk_{chunk.index:05d}.mp4"


def find_films(folder: Path, out_dir: Path, suffix: str, recursive: bool) -> list[Film]:
    """Every film under ``folder``, recognised by content (ffmpeg can read a moving picture), with
    its output path mirroring the input tree under ``out_dir``. A file with a video extension that
    cannot be read is kept, as a failure to report; other unreadable files are not films."""
    if out_dir == folder:
        raise BadInput(f"-o {out_dir} is the folder of the films: choose another output folder")
    films, taken = [], {}
    paths = sorted(folder.rglob("*") if recursive else folder.iterdir())
    for path in paths:
        if not path.is_file() or any(p.startswith(".") for p in path.relative_to(folder).parts):
            continue
        if out_dir in path.parents:
            continue
        rel = path.relative_to(folder)
        ext = path.suffix if path.suffix.lower() in CONTAINERS else ".mkv"
        output = out_dir / rel.parent / f"{path.stem}.{suffix}{ext}"
        try:
            info = probe(path)
        except OldfilmError as e:
            if path.suffix.lower() in VIDEO_EXTENSIONS:
                films.append(Film(path, output, error=str(e), status="failed"))
            continue
        if info.frames < 2:   # a still picture, not a film
            continue
        if output in taken:   # "reel" and "reel.mkv" both give reel.colorized.mkv
            films.append(Film(path, output, status="failed", error=f"its output {output.name} is also that of "
                              f"{taken[output].relative_to(folder)}: rename one of them"))
            continue
        taken[output] = path
        films.append(Film(path, output, frames=info.frames, info=info))
    return films


def plan(film: Film, chunk_seconds: float) -> list[Chunk]:
    """Chunks of whole shots, each at least ``chunk_seconds`` long where the cuts allow. A shot
    longer than twice that is split at fixed points; a chunk after such a split records how far
    its shot reaches back (``warmup``), and :func:`run_task` replays as much of that as its stages
    declare they need (output discarded: the stabilizer's history, the colorizer's key frames; the
    whole shot for the cartoon palette fixed per shot), so their state is that of an unbroken run. Variable-rate films
    are one chunk: their frames cannot be sought exactly."""
    info = film.info = film.info or probe(film.input)
    size = max(1, round(chunk_seconds * float(info.fps)))
    if info.vfr or info.frames <= size:
        return [Chunk(0, 0, info.frames)]
    cuts = detect_scenes(film.input)
    bounds, last = [0], 0
    for cut in cuts + [info.frames]:
        while cut - last > 2 * size:
            last += size
            bounds.append(last)
        if cut - last >= size or cut == info.frames:
            if cut != bounds[-1]:
                bounds.append(cut)
            last = cut
    if bounds[-1] != info.frames:
        bounds.append(info.frames)
    chunks = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        shot_start = max([0] + [c for c in cuts if c <= a])
        chunks.append(Chunk(i, a, b - a, a - shot_start))
    return chunks


@dataclass(frozen=True)
class Task:
    """One chunk of one film: everything a worker (local or remote) needs to process it."""

    input: str
    output: str
    start: int
    count: int
    warmup: int
    command: str
    recipe: dict
    device: str
    batch_size: int
    precision: str
    crf: int
    preset: str
    info: VideoInfo | None = None


_PIPELINES: dict = {}


def run_task(task: Task, progress=None) -> int:
    """Process one chunk into its file; returns the frames written. Reuses this process's
    pipeline between tasks of the same recipe (models load once per worker). ``progress``:
    told ``update(n)`` as frames are written."""
    from .pipeline import Pipeline

    key = json.dumps([task.command, task.recipe, task.device, task.batch_size, task.precision], sort_keys=True)
    if key not in _PIPELINES:
        _PIPELINES.clear()
        _PIPELINES[key] = Pipeline(commands.recipe(task.command, **task.recipe), device=task.device,
                                   batch_size=task.batch_size, precision=task.precision, progress=False)
    pipe = _PIPELINES[key]
    for stage in pipe.stages:
        stage.reset()
    # replay only the warm-up the stages declare (task.warmup reaches back to the shot's start),
    # and run past the chunk's end as far as they look ahead
    warmup = task.warmup if pipe.warmup is None else min(task.warmup, pipe.warmup)
    info = task.info or probe(task.input)
    ahead = max(0, min(pipe.lookahead, info.frames - task.start - task.count))
    result = pipe.run(task.input, task.output, crf=task.crf, preset=task.preset, overwrite=True, info=info,
                      start=task.start - warmup, count=task.count + warmup + ahead,
                      discard=warmup, lookahead=ahead, sound=False, bar=progress)
    if result.frames_out != task.count:   # a decoder that stopped early: the chunk is not kept
        Path(task.output).unlink(missing_ok=True)
        raise FFmpegError(f"{Path(task.input).name}: frames {task.start}-{task.start + task.count - 1} gave "
                          f"{result.frames_out} of {task.count} frames (a damaged file?)")
    return result.frames_out


class _Progress:
    """Frames written by task ``index``: ``report((index, n))`` (a queue's put: Ray's, or a call in
    this process), or put on the worker's queue (in a pool: see :func:`_worker_init`)."""

    def __init__(self, index: int, report=None):
        self.index, self.report = index, report

    def update(self, n: int) -> None:
        if self.report is not None:
            self.report((self.index, n))
        elif _QUEUE is not None:
            _QUEUE.put((self.index, n))


_QUEUE = None   # a pool worker's progress queue to the parent


def _worker_init(threads: int, queue=None) -> None:
    global _QUEUE
    import torch
    torch.set_num_threads(threads)
    _QUEUE = queue


def join(film: Film, tags: dict[str, str] | None = None) -> None:
    """Concatenate the chunk files (no re-encoding) and mux the source's streams, atomically;
    ``tags``: container metadata to set (what made the film)."""
    listing = film.work / "chunks.txt"
    files.write_text(listing, "".join(f"file '{film.chunk_path(c).name}'\n" for c in film.chunks))
    fmt = CONTAINERS[film.output.suffix.lower()]
    info = film.info = film.info or probe(film.input)
    args = ["-f", "concat", "-safe", "0", "-i", ffmpeg.path_arg(listing)]
    if info.start:
        args = ["-itsoffset", f"{info.start:.6f}"] + args
    args += ["-i", ffmpeg.path_arg(film.input), "-map", "0:v:0", "-map", "1:a?", "-map", "1:s?",
             "-map_metadata", "1", "-map_chapters", "1", "-c", "copy",
             "-c:s", "mov_text" if fmt in ("mp4", "mov") else "copy"] + metadata_args(tags)
    ffmpeg_to(film.output, args, f"joining {film.output.name}", frames=sum(c.count for c in film.chunks),
              duration=info.duration, fps=info.fps)
    shutil.rmtree(film.work, ignore_errors=True)


def _files(value):
    """An option's value with each file it names (a keyframe folder, a reference photo) as its
    identity: editing a keyframe or a photo changes the fingerprint like any other option."""
    if isinstance(value, (list, tuple)):
        return [_files(v) for v in value]
    if isinstance(value, str) and value and os.path.exists(value):
        path = Path(value)
        items = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        return [value, [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in items]]
    return value


def fingerprint(film: Film, command: str, recipe: dict, models: dict, settings: dict) -> str:
    """What decides a chunk's pixels: oldfilm's version, the command and its options (with the
    identity of the files they name), each model file's SHA-256, the encoding and compute
    settings, and the input file's identity."""
    st = film.input.stat()
    recipe = {k: v if k == "models_dir" else _files(v) for k, v in recipe.items()}
    what = {"oldfilm": __version__, "input": [str(film.input.resolve()), st.st_size, st.st_mtime_ns],
            "command": command, "recipe": recipe, "models": models, **settings}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def models_used(command: str, recipe: dict) -> dict[str, str]:
    """``{model name: SHA-256 of its file}`` for every model ``command``'s recipe loads."""
    with weights.recording() as used:
        commands.recipe(command, **recipe)
    return {name: weights.file_sha256(path) for name, path in sorted(used.items())}


def _read_manifest(path: Path) -> dict | None:
    """The manifest's content, or None when it is missing, corrupt or of another schema."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != MANIFEST_VERSION:
            return None
        data["chunks"] = [Chunk(**c) for c in data["chunks"]]
        return data
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def prepare(film: Film, key: str, chunk_seconds: float, command: str = "") -> None:
    """Load the film's plan from its work folder, or make one. A plan made with other options,
    models or oldfilm, for a changed input, or unreadable, is thrown away with its chunks."""
    manifest = film.work / "manifest.json"
    data = _read_manifest(manifest) if manifest.is_file() else None
    if data is not None and data.get("key") == key:
        film.chunks = data["chunks"]
        return
    if film.work.exists():
        shutil.rmtree(film.work)
    try:
        film.work.mkdir(parents=True)
    except OSError as e:
        if e.errno in files.FULL:
            raise files.disk_full(film.work) from None
        raise
    film.chunks = plan(film, chunk_seconds)
    files.write_text(manifest, json.dumps({"version": MANIFEST_VERSION, "key": key, "oldfilm": __version__,
                                           "input": str(film.input), "command": command,
                                           "chunks": [asdict(c) for c in film.chunks]}, indent=1))


class LocalExecutor:
    """Runs tasks in this process (workers=1) or in a pool of local processes."""

    def __init__(self, workers: int = 1):
        self.workers = workers

    def run(self, tasks: list[Task], progress=None) -> Iterator[tuple[int, int | BaseException]]:
        """Yield ``(task index, frames written or the exception)`` as tasks finish;
        ``progress(task index, n)`` is told of frames written meanwhile."""
        if self.workers <= 1:
            for i, task in enumerate(tasks):
                try:
                    yield i, run_task(task, _Progress(i, lambda item: progress(*item)) if progress else None)
                except Exception as e:   # reported with its film; the other films go on
                    yield i, e
            return
        import multiprocessing as mp
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        ctx = mp.get_context("spawn")
        queue = ctx.Queue() if progress else None
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(threads, queue)) as pool:
            futures = {pool.submit(run_task, t, _Progress(i) if progress else None): i for i, t in enumerate(tasks)}
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    while queue is not None and not queue.empty():
                        progress(*queue.get())
                    for fut in done:
                        yield futures[fut], (fut.exception() or fut.result())
            finally:
                for fut in futures:
                    fut.cancel()


class RayExecutor:
    """Runs each chunk as a Ray task: on the cluster at ``address``, or ``local`` for one here.
    A task asks for a GPU when the cluster has them."""

    def __init__(self, address: str, num_cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise BadInput("--ray needs Ray, which is not installed: pip install 'oldfilm[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            if address == "local":
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        self._remote = ray.remote(num_gpus=gpus, num_cpus=1, max_retries=1)(run_task)

    def run(self, tasks: list[Task], progress=None) -> Iterator[tuple[int, int | BaseException]]:
        """As :meth:`LocalExecutor.run`; the workers' frame counts come back through a Ray queue
        (an actor), read every half second."""
        from ray.util.queue import Queue

        queue = Queue() if progress else None
        report = queue.put_nowait if queue is not None else None
        refs = {self._remote.remote(t, _Progress(i, report) if report else None): i for i, t in enumerate(tasks)}
        waiting = list(refs)
        try:
            while waiting:
                ready, waiting = self.ray.wait(waiting, num_returns=1, timeout=0.5)
                while queue is not None and not queue.empty():
                    progress(*queue.get_nowait())
                for ref in ready:
                    try:
                        yield refs[ref], self.ray.get(ref)
                    except Exception as e:   # a RayTaskError wraps the worker's exception
                        cause = getattr(e, "cause", None)
                        yield refs[ref], cause if isinstance(cause, BaseException) else e
        finally:
            if queue is not None:
                queue.shutdown()


def run_batch(films: list[Film], command: str, recipe: dict, *, device: str, batch_size: int,
              precision: str, crf: int, preset: str, force: bool, chunk_seconds: float,
              executor, on_frames=None, on_film=None, tags: dict[str, str] | None = None,
              on_resumed=None) -> list[Film]:
    """Process every film through ``executor``; a failing film is recorded and the others go on.
    ``on_frames(film, n)``: n more frames of ``film`` are done (as they are written, and the rest
    of a chunk when it ends, however it ended); ``on_film(film)``: a film is finished;
    ``on_resumed(film, chunk)``: a chunk was found done by an earlier run; ``tags``: the outputs'
    container metadata."""
    todo = []
    settings = {"device": device, "precision": precision, "crf": crf, "preset": preset}
    models = None
    for film in films:
        if film.status == "failed":
            continue
        if film.output.exists() and not force:
            film.status = "skipped"
            shutil.rmtree(film.work, ignore_errors=True)   # a run killed between join and clean-up
            continue
        try:
            if force:
                shutil.rmtree(film.work, ignore_errors=True)
            if models is None:
                models = models_used(command, recipe)
            prepare(film, fingerprint(film, command, recipe, models, settings), chunk_seconds, command)
            todo.append(film)
        except DiskFull:   # no film can go on; a rerun resumes where this one stopped
            raise
        except OldfilmError as e:
            film.status, film.error = "failed", str(e)
    tasks, owners, left = [], [], {}
    for film in todo:
        film.seconds = time.perf_counter()
        left[id(film)] = 0
        for chunk in film.chunks:
            path = film.chunk_path(chunk)
            if path.exists() and _complete(path, chunk):
                if on_resumed:
                    on_resumed(film, chunk)
                elif on_frames:
                    on_frames(film, chunk.count)
                continue
            tasks.append(Task(str(film.input), str(path), chunk.start, chunk.count, chunk.warmup, command, recipe,
                              device, batch_size, precision, crf, preset, film.info))
            owners.append((film, chunk))
            left[id(film)] += 1
    for film in todo:
        if left[id(film)] == 0:
            _finish(film, on_film, tags)
    told = [0] * len(tasks)   # frames reported so far of each task; None once it has ended

    def written(i: int, n: int) -> None:
        if told[i] is not None:   # a report can arrive from a worker after its task's end
            told[i] += n
            if on_frames:
                on_frames(owners[i][0], n)

    for i, outcome in executor.run(tasks, progress=written):
        film, chunk = owners[i]
        if isinstance(outcome, DiskFull):
            raise outcome
        if isinstance(outcome, BaseException) and film.status != "failed":
            film.status = "failed"
            film.error = str(outcome) if isinstance(outcome, OldfilmError) else f"{type(outcome).__name__}: {outcome}"
        rest, told[i] = chunk.count - told[i], None
        if on_frames and rest:
            on_frames(film, rest)
        left[id(film)] -= 1
        if left[id(film)] == 0 and film.status != "failed":
            _finish(film, on_film, tags)
    return films


def _complete(path: Path, chunk: Chunk) -> bool:
    """A chunk file left by an earlier run holds all its frames (else it is deleted, to redo)."""
    try:
        if probe(path).frames == chunk.count:
            return True
    except OldfilmError:
        pass
    path.unlink(missing_ok=True)
    return False


def _finish(film: Film, on_film, tags) -> None:
    try:
        join(film, tags)
        film.status = "done"
    except DiskFull:
        raise
    except OldfilmError as e:
        film.status, film.error = "failed", str(e)
    film.seconds = time.perf_counter() - film.seconds
    if on_film:
        on_film(film)
