"""oldfilm eval: flicker, colourfulness and distance to a colour truth."""
from __future__ import annotations

import json

import click

from . import options


@click.command("eval")
@click.argument("video")
@click.option("--source", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="The original film VIDEO was made from: its motion is used for the warping error "
                   "(default: VIDEO's own).")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="A colour truth of the same frames: adds CIEDE2000 and PSNR against it.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the scores, with every frame's, to this JSON file (else printed).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write a per-frame chart of every score to this PNG (matplotlib: pip install 'oldfilm[report]').")
@options.quiet
def command(video, source, truth, json_path, plot_path, quiet):
    """Score a film: flicker (warping error), colourfulness, and distance to a colour truth.

    Warping error (Lai et al. 2018): each frame is warped onto the previous one by optical flow
    computed on the source's gray frames, and the squared difference is averaged over pixels that
    are visible in both (forward-backward consistent, not on a motion boundary), RGB in [0, 1];
    pairs across a scene cut are skipped. Lower is steadier. Colourfulness: Hasler & Süsstrunk
    (0 for gray, about 33 is "moderately colourful"). CIEDE2000 and PSNR need --truth.

    \b
    Examples:
      oldfilm eval movie.colorized.mp4 --source movie.mp4
      oldfilm eval gray.colorized.mp4 --source gray.mp4 --truth colour.mp4 --json s.json --plot s.png
    """
    from .. import charts
    from ..errors import BadInput
    from ..evaluate import check_writable, evaluate, save

    if plot_path and not charts.available():
        raise BadInput(f"--plot draws with matplotlib, which is not installed: {charts.HOW}")

    check_writable(json_path, plot_path)   # a missing folder is made now, not after the scoring
    report = evaluate(video, source, truth, progress=not quiet)
    save(report, json_path, plot_path)
    summary = {k: report[k] for k in ("frames", "cuts", "warping_error", "colourfulness", "delta_e2000", "psnr")}
    click.echo(json.dumps(summary if json_path else report, indent=2))
