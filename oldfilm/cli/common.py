"""What the film commands share: where outputs go, and running a recipe over films."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import options
from .. import commands
from ..errors import BadInput, OldfilmError
from ..video.writer import CONTAINERS, check_name


def output_for(input: Path, output: str | None, suffix: str, many: bool) -> Path:
    """Where INPUT's result goes: ``-o`` file or folder, else ``NAME.<suffix>.EXT`` beside it."""
    ext = input.suffix if input.suffix.lower() in CONTAINERS else ".mkv"
    name = f"{input.stem}.{suffix}{ext}"
    if output is None:
        return input.with_name(name)
    out = Path(output)
    if out.is_dir():
        return out / name
    if many:
        raise BadInput(f"-o {output} must be an existing folder when several films are given")
    if out.suffix.lower() not in CONTAINERS:
        raise BadInput(f"-o {output}: oldfilm writes {', '.join(sorted(CONTAINERS))} files: "
                       "give a name with one of these extensions, or an existing folder")
    return out


def run_films(inputs: tuple[str, ...], stages_factory, suffix: str, opts: dict, source: str | None = None,
              command: str = "", settings: dict | None = None) -> None:
    """Process each film with one pipeline of the given stages (the shared path of commands);
    ``command`` and its ``settings`` (recipe options) go into each film's report."""
    from tqdm import tqdm

    from ..pipeline import Pipeline
    from ..video import probe
    from ..video.compare import compare_path, write_compare
    from ..video.probe import same_film

    films = [Path(i) for i in inputs]
    src_info = probe(source) if source is not None else None
    plans, taken = [], {}
    for film in films:   # every name checked before any work
        info = probe(film)
        out = output_for(film, opts["output"], suffix, many=len(films) > 1)
        check_name(out)
        for given in (film, source):
            if given is not None and out.resolve() == Path(given).resolve():
                raise BadInput(f"the output {out} is an input: oldfilm never writes over its input; choose another -o")
        if out.resolve() in taken:
            raise BadInput(f"{taken[out.resolve()]} and {film} would both be written to {out}: "
                           "rename one, or run them into separate -o folders")
        taken[out.resolve()] = film
        for path in [out] + ([compare_path(out)] if opts.get("compare") else []):
            if path.exists() and not opts["overwrite"]:
                raise BadInput(f"{path} exists: pass --overwrite to replace it, or choose another -o")
        if src_info is not None:
            same_film(src_info, info, f"give the film that {film.name} was made from as --source")
        plans.append((film, info, out))
    pipe = Pipeline(stages_factory(), device=opts["device"], batch_size=opts["batch_size"],
                    precision=opts["precision"], progress=not opts["quiet"])
    if not opts["quiet"]:
        click.echo(f"oldfilm: {pipe.describe()}", err=True)
    # one bar over every film: its ETA is the whole job's
    bar = tqdm(total=sum(info.frames for _, info, _ in plans), unit="frame", disable=opts["quiet"],
               dynamic_ncols=True, smoothing=0.1)
    for n, (film, info, out) in enumerate(plans):
        bar.set_description(f"{n + 1}/{len(plans)} {film.name[:24]}" if len(plans) > 1 else film.name[:30])
        for stage in pipe.stages:
            stage.reset()
        result = pipe.run(film, out, crf=opts["crf"], preset=opts["preset"], overwrite=opts["overwrite"],
                          info=info, source=source, bar=bar, source_info=src_info)
        if opts["compare"]:
            write_compare(film, out, compare_path(out), opts["compare"], crf=opts["crf"], preset=opts["preset"],
                          tags=pipe.disclosure())
        if opts.get("report"):
            from ..report import write_film_report
            run = {"device": str(pipe.device), "precision": pipe.precision, "batch_size": pipe.batch_size,
                   "crf": opts["crf"], "preset": opts["preset"]}
            try:
                write_film_report(film, out, command=command, stages=pipe.stages, settings=settings or {},
                                  seconds=result.seconds, frames=result.frames_out, run=run,
                                  models_dir=opts.get("models_dir"),
                                  compare=compare_path(out) if opts["compare"] else None)
            except (OSError, OldfilmError) as e:   # the film is done and good: say so, do not fail it
                bar.write(f"oldfilm: warning: no report for {out.name}: {getattr(e, 'strerror', None) or e}",
                          file=sys.stderr)
        if abs(result.frames_out - info.frames) > 1:
            bar.write(f"oldfilm: warning: {film.name}: its index lists {info.frames} frames but "
                      f"{result.frames_out} could be decoded (a damaged file?)", file=sys.stderr)
        if not opts["quiet"]:
            bar.write(f"wrote {out} ({result.frames_out} frames, {len(pipe.cuts) + 1} shots, "
                      f"{result.seconds:.1f} s, {result.fps:.1f} frames/s)", file=sys.stderr)
    bar.close()


def with_recipe_options(f, cmds):
    """Decorate ``f`` with the recipe options of every command in ``cmds``, each once (a command
    takes those it knows): what ``batch`` and ``preview`` offer."""
    seen: list = []
    for c in cmds:
        seen += [o for o in c.module.OPTIONS if all(o is not s for s in seen)]
    return options.apply(f, seen)


def film_command(name: str, recipe_options: list, recipe, extra: tuple = ()):
    """The click command of film command ``name``: INPUT... arguments, its ``recipe_options``
    (and ``extra`` options of the command alone), the processing options; it runs ``recipe``
    over each film. The decorated function holds the help text and checks the recipe options
    before any work (a wrong model name fails at once)."""
    suffix = commands.get(name).suffix

    def decorate(check):
        def run(inputs, **opts):
            chosen = commands.recipe_options(name, opts)
            check(**chosen)
            run_films(inputs, lambda: recipe(**chosen), suffix, opts, command=name, settings=chosen)

        run.__doc__ = check.__doc__
        run = options.processing(options.apply(run, list(recipe_options) + list(extra)))
        return click.command(name)(click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")(run))

    return decorate
