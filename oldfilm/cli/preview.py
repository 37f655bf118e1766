"""oldfilm preview: a contact sheet of frames sampled across the film, before | after, in seconds."""
from __future__ import annotations

from pathlib import Path

import click

from . import options
from .common import with_recipe_options
from .. import commands
from ..errors import BadInput


def previewable() -> list:
    """The film commands a preview can run: those with recipe options (a film in, a film out)."""
    return [c for c in commands.film_commands() if hasattr(c.module, "OPTIONS")]


def _sweep(ctx: click.Context, command: str, sweep: str | None, chosen: dict) -> list[tuple[str, dict]]:
    """``[(label, recipe options)]``: one variant, or one per value of ``--sweep OPTION=V1,V2,...``."""
    if not sweep:
        return [(command, chosen)]
    name, _, values = sweep.partition("=")
    flag = "--" + name.strip().lstrip("-")
    param = next((p for p in ctx.command.params if flag in p.opts or flag in p.secondary_opts), None)
    if param is None or not values or param.name not in chosen:
        known = sorted(o for p in ctx.command.params if p.name in chosen for o in p.opts)
        raise BadInput(f"--sweep {sweep}: give OPTION=V1,V2,... with an option of {command}: {', '.join(known)}")
    variants = []
    for raw in values.split(","):
        try:
            value = param.type.convert(raw.strip(), param, ctx)
        except click.BadParameter as e:
            raise BadInput(f"--sweep {sweep}: {raw!r} is not a value of {flag}: {e.message}") from None
        variants.append((f"{flag.lstrip('-')}={raw.strip()}", {**chosen, param.name: value}))
    return variants


@click.command("preview")
@click.argument("film", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--command", "command_name", type=click.Choice([c.name for c in previewable()]), default="colorize",
              show_default=True, help="The command to preview; its options below apply, as they would to the "
                                      "command itself. Example: oldfilm preview movie.mp4 --command cartoonize --style hayao")
@click.option("--frames", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Frames to sample, spread across the film's shots. Example: oldfilm preview movie.mp4 --frames 4")
@click.option("--sweep", default=None, metavar="OPTION=V1,V2,...",
              help="Put variants side by side: one column per value of one of the command's options. "
                   "Example: oldfilm preview movie.mp4 --sweep render-size=128,192,320")
@click.option("--warmup", type=click.FloatRange(0, 60), default=2.0, show_default=True,
              help="Seconds before each sampled frame (at most back to its shot's start) run through the "
                   "pipeline first, so temporal stages see what a full run gives them there. "
                   "Example: oldfilm preview movie.mp4 --warmup 4")
@click.option("--width", type=click.IntRange(64, 1920), default=320, show_default=True,
              help="Width of each panel in pixels. Example: oldfilm preview movie.mp4 --width 480")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The sheet (PNG). Default: NAME.<suffix>.preview.png beside INPUT (movie.colorized.preview.png). "
                   "Example: oldfilm preview movie.mp4 -o sheet.png")
@options.overwrite
@lambda f: with_recipe_options(f, previewable())
@options.compute
def command(film, command_name, frames, sweep, warmup, width, output, overwrite, **opts):
    """A contact sheet (PNG) of frames sampled across the film, before | after, in seconds.

    Takes the options of the command it previews (--command). Each sampled frame is processed
    after a short warm-up run of the frames before it, so the stabilizer and every other temporal
    stage are as they would be in the full run: what you see is what the run will give. With
    --sweep, each value of one option gets a column.

    \b
    Examples:
      oldfilm preview movie.mp4                          # movie.colorized.preview.png
      oldfilm preview movie.mp4 --sweep render-size=128,192,320 -o sizes.png
      oldfilm preview movie.mp4 --command cartoonize --sweep style=shinkai,hayao
      oldfilm preview movie.mp4 --frames 12 --model colornet-v1 --strength 0.7
    """
    from ..pipeline import Pipeline
    from ..preview import sheet, write_png
    from ..video import probe

    entry = commands.get(command_name)
    out = output or film.with_name(f"{film.stem}.{entry.suffix}.preview.png")
    if out.suffix.lower() != ".png":
        raise BadInput(f"-o {out}: the sheet is a PNG: give a name ending in .png")
    if out.exists() and not overwrite:
        raise BadInput(f"{out} exists: pass --overwrite to replace it, or choose another -o")
    probe(film)
    chosen = commands.recipe_options(command_name, opts)
    variants = _sweep(click.get_current_context(), command_name, sweep, chosen)
    pipes = [(label, Pipeline(commands.recipe(command_name, **rec), device=opts["device"],
                              batch_size=opts["batch_size"], precision=opts["precision"], progress=False))
             for label, rec in variants]
    from tqdm import tqdm

    bar = tqdm(total=frames * len(pipes), unit="panel", disable=opts["quiet"], desc="preview", dynamic_ncols=True)
    title = f"{film.name}: oldfilm {command_name}  " + " -> ".join(s.describe() for s in pipes[0][1].stages)
    img, picks = sheet(film, pipes, frames=frames, warmup=warmup, width=width, title=title,
                       progress=lambda done, total: (setattr(bar, "total", total), bar.update(done - bar.n)))
    bar.close()
    write_png(img, out)
    if not opts["quiet"]:
        click.echo(f"wrote {out} ({img.shape[1]}x{img.shape[0]}: frames {', '.join(map(str, picks))})", err=True)
