"""oldfilm keyframes: export one frame per shot for the user to colour."""
from __future__ import annotations

from pathlib import Path

import click

from . import options


@click.command("keyframes")
@click.argument("film", metavar="INPUT")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the frames and keyframes.json. Default: INPUT's name + .keyframes beside it.")
@click.option("--per-shot", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Frames per shot, at the starts of equal parts (more for long shots). Example: --per-shot 3")
@click.option("--colorize", "with_colour", is_flag=True,
              help="Write the automatic colorizer's result instead of the gray frame: a start to paint over.")
@click.option("--overwrite", is_flag=True, help="Replace keyframes already in the folder.")
@options.model
@options.models_dir
@options.quiet
def command(film, out_dir, per_shot, with_colour, overwrite, model, models_dir, quiet):
    """Export one frame per shot (PNG) to colour in any editor, for `oldfilm colorize --keyframes`.

    Each image is named after its shot and frame (shot0007_f004211.png: the stem ends in f + the
    0-based frame number); keyframes.json lists every shot's first and last frame and timecodes.
    Paint a whole frame (keep it opaque), or paint hints on a layer and save with alpha: only the
    painted pixels' colour is then used. Delete the images of shots you leave to the model.

    \b
    Examples:
      oldfilm keyframes movie.mp4 -o keys/
      oldfilm keyframes movie.mp4 -o keys/ --per-shot 3 --colorize
      oldfilm colorize movie.mp4 --keyframes keys/
    """
    from .. import keyframes as kf

    film = Path(film)
    out_dir = out_dir or film.with_name(f"{film.stem}.keyframes")
    paint = None
    if with_colour:
        import torch

        from ..pipeline import resolve_device
        from ..stages.colorize import Colorize

        stage = Colorize(model, models_dir=models_dir).to(resolve_device("auto"))

        def paint(batch):
            with torch.inference_mode():
                rgb = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255)
                return stage.colorize(rgb).mul(255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    shots = kf.export(film, out_dir, per_shot=per_shot, overwrite=overwrite, colorize=paint, progress=not quiet)
    if not quiet:
        click.echo(f"wrote {sum(len(s['keyframes']) for s in shots)} keyframes of {len(shots)} shots to {out_dir}",
                   err=True)
