"""oldfilm stabilize: remove flicker from anyone's per-frame output, guided by the original."""
from __future__ import annotations

from pathlib import Path

import click

from . import options
from .common import run_films
from ..errors import BadInput


def recipe(*, mode: str = "auto", strength: float = 0.9, method: str = "flow", flow: str = "auto",
           models_dir: str | None = None):
    from ..stages.stabilize import Stabilize
    return [Stabilize(mode=mode, strength=strength, method=method, flow=flow, models_dir=models_dir)]


@click.command("stabilize")
@click.argument("processed", metavar="PROCESSED")
@click.option("--source", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The original film PROCESSED was made from (its motion guides the stabilizer).")
@click.option("--mode", type=click.Choice(["auto", "chroma", "rgb"]), default="auto", show_default=True,
              help="chroma: smooth colour only, keep the luma (colorized films); rgb: all channels "
                   "(cartoons, grading); auto: chroma when PROCESSED keeps the source's luma.")
@click.option("--method", type=click.Choice(["flow", "lai"]), default="flow", show_default=True,
              help="flow: oldfilm's training-free flow-guided stabilizer; lai: the learned network of "
                   "Lai et al. 2018 (needs its weights: oldfilm models import lai-eccv18 FILE).")
@click.option("--flow", default="auto", show_default=True, metavar="auto|dis|raft-small|raft-large",
              help="Optical flow of the flow method: dis (OpenCV, fast on a CPU) or torchvision's RAFT "
                   "(oldfilm models pull raft-small); auto: RAFT on a GPU when installed, else dis.")
@options.strength
@options.processing
def command(processed, source, mode, method, flow, strength, **opts):
    """Remove flicker from any per-frame-processed film, guided by its original.

    Works on the output of any tool that treats frames one by one (a DeOldify colorization, a
    graded or style-transferred copy): optical flow on the original's frames tells where each
    pixel moves, and colours are held along that motion, reset at scene cuts. The sound comes from
    PROCESSED, or from the original when PROCESSED has none.

    \b
    Examples:
      oldfilm stabilize deoldified.mp4 --source original.mp4
      oldfilm stabilize graded.mkv --source original.mkv -o steady.mkv --mode rgb
    """
    if Path(processed).resolve() == Path(source).resolve():
        raise BadInput("PROCESSED and --source are the same file: give the original film as --source")
    chosen = dict(mode=mode, strength=strength, method=method, flow=flow, models_dir=opts["models_dir"])
    run_films((processed,), lambda: recipe(**chosen), "stabilized", opts, source=source, command="stabilize",
              settings={**chosen, "source": source})
