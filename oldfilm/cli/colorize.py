"""oldfilm colorize: predict colour, keep the film's own luma, remove colour flicker."""
from __future__ import annotations

import click

from . import options
from .common import film_command
from .restore import RESTORING, restoring

keyframes = click.option(
    "--keyframes", type=click.Path(file_okay=False, resolve_path=True, path_type=str), default=None,
    metavar="DIR",
    help="Your colours: every image in DIR whose name ends in f<N> (shot0007_f004211.png) is the colour "
         "of frame N (0-based), carried through its shot along the motion; an image with alpha is a hint "
         "image (only painted pixels count). Only chroma is used. Shots without one get the model. "
         "`oldfilm keyframes` exports frames to paint. Example: --keyframes keys/")

reference = click.option(
    "--reference", "references", multiple=True,
    type=click.Path(exists=True, dir_okay=False, resolve_path=True, path_type=str), metavar="PHOTO",
    help="A colour photo of the film's world (a still of the set, a costume photo; not a frame of the "
         "film): its colours are used where a frame corresponds to it, the model's elsewhere. Repeat for "
         "several. Example: --reference set.jpg --reference dress.jpg")

OPTIONS = [keyframes, reference, options.model, options.render_size, options.colour_strength, options.net_every,
           options.stabilize, options.strength, options.flow_quality, options.flow_size,
           *RESTORING]


@restoring
def recipe(*, keyframes: str | None = None, references: tuple[str, ...] = (), model: str | None = None,
           render_size: int | None = None, models_dir: str | None = None, colour_strength: float = 1.0,
           net_every: int = options.DEFAULTS["net_every"], stabilize: bool = True, strength: float = 0.9,
           flow_quality: str = "medium", flow_size: int = options.DEFAULTS["flow_size"]):
    from ..stages.colorize import Colorize
    from ..stages.stabilize import Stabilize

    stab = Stabilize(mode="chroma", strength=strength, preset=flow_quality, work_size=flow_size) if stabilize else None
    common = dict(model=model, render_size=render_size, models_dir=models_dir, colour_strength=colour_strength,
                  reference=list(references) or None)
    if keyframes:
        from ..stages.guided import GuidedColorize
        chain = [GuidedColorize(keyframes, **common, work_size=flow_size, flow=stab.flow if stab else None)]
    else:   # the colorizer carries colour along the stabilizer's flow: each pair of frames is computed once
        # half-way key frames only where the carried colour's trust has fallen below 0.9 (bench/README, issue 15)
        chain = [Colorize(**common, net_every=net_every, skip_trust=0.9, flow=stab.flow if stab else None,
                          carry_size=flow_size)]
    return chain + ([stab] if stab else [])


@film_command("colorize", OPTIONS, recipe)
def command(*, keyframes=None, model=None, **_):
    """Colorize black-and-white films; sound, subtitles and chapters are copied unchanged.

    The model predicts colour at a small size and the film's own full-resolution luma is kept,
    so detail and grain are untouched; the stabilizer then removes colour flicker along the
    film's motion. Output goes to a hidden partial file that is renamed only when complete.

    \b
    Examples:
      oldfilm colorize movie.mp4
      oldfilm colorize movie.mkv -o restored.mp4 --crf 16
      oldfilm colorize reel1.mp4 reel2.mp4 -o out/ --device cuda --batch-size 32
      oldfilm colorize movie.mp4 --no-stabilize     # per-frame colour, to compare
      oldfilm colorize movie.mp4 --net-every 1      # the network on every frame (slower)
      oldfilm colorize movie.mp4 --colour-strength 0.6   # paler, more cautious colour
      oldfilm colorize movie.mp4 --keyframes keys/      # your coloured frames or hints
      oldfilm colorize movie.mp4 --reference set.jpg    # colours from a photo of the set
      oldfilm colorize movie.mp4 --restore          # repair the print first
      oldfilm colorize -- -leading-dash.mp4
    """
    from .. import weights

    weights.get(model or weights.default("colorize"), "colorize")
    if keyframes:
        from .. import keyframes as kf
        kf.find(keyframes)   # an empty or missing folder fails before any work
