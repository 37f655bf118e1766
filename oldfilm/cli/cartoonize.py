"""oldfilm cartoonize: colorize -> stabilize -> cartoon -> stabilize, in an artist's style."""
from __future__ import annotations

import click

from . import options
from .common import film_command
from .restore import RESTORING, restoring


def _list_styles(ctx, param, value):
    if not value or ctx.resilient_parsing:
        return
    from ..stages.cartoonize import STYLES
    for name, style in STYLES.items():
        click.echo(f"{name:8} {style.description}")
    ctx.exit()


def _styles() -> list[str]:
    from ..stages.cartoonize import STYLES
    return sorted(STYLES)


OPTIONS = [
    click.option("--style", type=click.Choice(_styles()), default="shinkai", show_default=True,
                 help="The artist's look (see --list-styles)."),
    click.option("--colorize", "colorize", type=click.Choice(["auto", "yes", "no"]), default="auto",
                 show_default=True,
                 help="Colorize first: auto does it for black-and-white shots only; no for a colour film."),
    click.option("--cartoon-model", default=None, metavar="NAME",
                 help="A public cartoon generator instead of the built-in stylizer (CartoonGAN, AnimeGANv2; "
                      "see `oldfilm models`)."),
    click.option("--colorizer", default=None, metavar="NAME",
                 help="Colorization model for black-and-white shots (see `oldfilm models`)."),
    options.render_size, options.strength, options.flow_quality, options.flow_size, *RESTORING,
]
LIST_STYLES = click.option("--list-styles", is_flag=True, expose_value=False, is_eager=True,
                           callback=_list_styles, help="Say what each style looks like, and exit.")


@restoring
def recipe(*, style: str = "shinkai", colorize: str = "auto", colorizer: str | None = None,
           render_size: int | None = None, models_dir: str | None = None, strength: float = 0.9,
           cartoon_model: str | None = None, flow_quality: str = "medium",
           flow_size: int = options.DEFAULTS["flow_size"]):
    """``colorize``: "auto" colorizes only the shots that are black and white, "yes" every
    shot, "no" none (a colour film)."""
    from ..stages.cartoonize import Cartoonize
    from ..stages.colorize import Colorize
    from ..stages.stabilize import Stabilize

    chain = []
    if colorize != "no":
        chain += [Colorize(colorizer, render_size=render_size, models_dir=models_dir, only_gray=colorize == "auto"),
                  Stabilize(mode="chroma", strength=strength, preset=flow_quality, work_size=flow_size)]
    return chain + [Cartoonize(style, model=cartoon_model, models_dir=models_dir),
                    Stabilize(mode="rgb", strength=strength, preset=flow_quality, work_size=flow_size)]


@film_command("cartoonize", OPTIONS, recipe, extra=(LIST_STYLES,))
def command(*, colorizer=None, cartoon_model=None, **_):
    """Turn films into animated cartoons in an artist's style, steady from frame to frame.

    On a black-and-white film the chain is colorize -> stabilize -> cartoonize -> stabilize; on a
    colour film it starts at cartoonize (--colorize no forces that). The built-in stylizer needs no
    downloads: edge-preserving smoothing, flat shading and a palette fixed per shot, ink lines and
    the style's look. Sound, subtitles and chapters are copied unchanged.

    \b
    Examples:
      oldfilm cartoonize movie.mp4 --style shinkai
      oldfilm cartoonize colour.mkv --style paprika --colorize no
      oldfilm cartoonize movie.mp4 --cartoon-model cartoongan-hayao
      oldfilm cartoonize --list-styles
      oldfilm cartoonize movie.mp4 --restore --no-deshake
    """
    from .. import weights

    for name, task in ((colorizer, "colorize"), (cartoon_model, "cartoonize")):
        if name:
            weights.get(name, task)
