"""oldfilm batch: every film of a folder through a film command, in chunks, resumable."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import options
from .common import with_recipe_options
from .. import commands
from ..errors import BadInput, OldfilmError


def _recipe_options(f):
    return with_recipe_options(f, commands.film_commands(batch=True))


@click.command("batch")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder; the input tree is mirrored there. Default: FOLDER.colorized beside FOLDER "
                   "(FOLDER.<suffix> of the command).")
@click.option("-r", "--recursive", is_flag=True, help="Also take films in sub-folders.")
@click.option("--command", "command_name", type=click.Choice([c.name for c in commands.film_commands(batch=True)]),
              default="colorize", show_default=True, help="What to do to each film (its options below apply).")
@click.option("--force", is_flag=True, help="Redo films whose output already exists.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Chunks processed at once on this machine, each in its own process.")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Run the chunks as tasks on a Ray cluster (ADDRESS, 'auto', or 'local' for one here). "
                   "Needs pip install 'oldfilm[ray]'.")
@click.option("--chunk-seconds", type=click.FloatRange(0.1), default=300, show_default=True,
              help="Long films are cut into chunks of about this length, at scene cuts; finished "
                   "chunks survive a crash.")
@_recipe_options
@options.compare
@options.report
@options.compute
def command(folder, out_dir, recursive, command_name, force, workers, ray_address, chunk_seconds, compare,
            **opts):
    """Process every film in a folder; resumable after a crash or a reboot.

    Films are found by content, not by extension. Each long film is cut at scene boundaries into
    chunks that are processed (in parallel with --workers or --ray) and kept in a work folder beside
    its output until the film is joined and its sound muxed in. Run the same command again after
    an interruption: finished films are skipped and finished chunks are not redone. A film that
    fails is reported and the others go on; the exit code is 1 if any failed.

    \b
    Examples:
      oldfilm batch films/                      # -> films.colorized/
      oldfilm batch films/ -o restored/ --recursive --workers 2
      oldfilm batch films/ --ray auto --device cuda
      oldfilm batch films/ --command cartoonize --style hayao
      oldfilm batch films/ --compare wipe       # and NAME.colorized.compare.mp4 beside each
    """
    from tqdm import tqdm

    from .. import batch as runner
    from ..pipeline import disclosure
    from ..video.compare import compare_path, write_compare

    entry = commands.get(command_name)
    recipe = commands.recipe_options(command_name, opts)
    stages = entry.module.recipe(**recipe)   # built once here: a wrong option or a missing model fails before any work
    folder = folder.resolve()
    out_dir = (out_dir or folder.with_name(f"{folder.name}.{entry.suffix}")).resolve()
    films = runner.find_films(folder, out_dir, entry.suffix, recursive)
    if not films:
        raise BadInput(f"no films found in {folder}" + ("" if recursive else " (add --recursive for sub-folders)"))
    executor = runner.RayExecutor(ray_address) if ray_address else runner.LocalExecutor(workers)
    todo = [f for f in films if f.status != "failed" and (force or not f.output.exists())]
    # the bar counts frames as they are written, inside chunks too; its rate is the whole run's mean
    # (smoothing 0), so the ETA covers every film; chunks finished by an earlier run count as done from the start
    bar = tqdm(total=sum(f.frames for f in todo), unit="frame", disable=opts["quiet"], desc="all films",
               dynamic_ncols=True, smoothing=0)
    done = []
    settings = {"command": command_name, **recipe}
    run = {k: opts[k] for k in ("device", "precision", "batch_size", "crf", "preset")}

    def resumed(film, chunk):
        bar.initial = getattr(bar, "initial", 0) + chunk.count   # a disabled bar (-q) has none
        bar.update(chunk.count)

    def compared(film):
        """The film's compare video, made from the joined output (sound kept); a failure fails the film."""
        try:
            write_compare(film.input, film.output, compare_path(film.output), compare, crf=opts["crf"],
                          preset=opts["preset"], tags=disclosure(stages))
        except OldfilmError as e:
            film.status, film.error = "failed", f"{compare_path(film.output).name}: {e}"

    def finished(film):
        done.append(film)
        bar.set_postfix_str(f"films {len(done)}/{len(todo)} done")
        if compare and film.status == "done":
            compared(film)
        if opts["report"] and film.status == "done":
            from ..report import write_film_report
            try:
                write_film_report(film.input, film.output, command=command_name, stages=stages, settings=recipe,
                                  seconds=film.seconds, frames=film.frames, run=run, models_dir=opts["models_dir"],
                                  compare=compare_path(film.output) if compare else None)
            except (OSError, OldfilmError) as e:
                bar.write(f"oldfilm: warning: no report for {film.output.name}: {e}", file=sys.stderr)

    bar.set_postfix_str(f"films 0/{len(todo)} done")
    runner.run_batch(
        films, command_name, recipe, device=opts["device"], batch_size=opts["batch_size"],
        precision=opts["precision"], crf=opts["crf"], preset=opts["preset"], force=force,
        chunk_seconds=chunk_seconds, executor=executor, on_frames=lambda film, n: bar.update(n),
        on_resumed=resumed, on_film=finished, tags=disclosure(stages))
    for film in films:   # done by an earlier run (perhaps one stopped before its compare was written)
        if compare and film.status == "skipped" and not compare_path(film.output).exists():
            compared(film)
    bar.close()
    if opts["report"]:
        from ..report import write_batch_report
        write_batch_report(out_dir, films, command=command_name, settings=settings)
    width = max(len(str(f.input.relative_to(folder))) for f in films)
    click.echo(f"\n{'film':{width}}  {'result':8} {'frames':>7} {'after s':>8}  output / reason")
    for f in films:
        where = f.error if f.status == "failed" else str(f.output)
        secs = f"{f.seconds:8.1f}" if f.status == "done" else " " * 8
        click.echo(f"{str(f.input.relative_to(folder)):{width}}  {f.status:8} {f.frames:7} {secs}  {where}")
    failed = sum(f.status == "failed" for f in films)
    if failed:
        click.echo(f"oldfilm: {failed} of {len(films)} films failed", err=True)
        raise SystemExit(1)
