"""oldfilm restore: repair the print itself (flicker, dust, scratches, grain, weave, interlacing).

Also what ``--restore`` adds in front of colorize and cartoonize: :func:`restoring`."""
from __future__ import annotations

import functools
import inspect

from . import options
from .common import film_command

OPTIONS = options.REPAIRS


def recipe(*, deflicker: bool = True, dust: bool = True, scratches: bool = True,
           denoise: float = options.DEFAULTS["denoise"], deshake: bool = True, deinterlace: str = "auto",
           models_dir: str | None = None):
    from ..stages.restore import Restore

    return [Restore(deflicker=deflicker, dust=dust, scratches=scratches, denoise=denoise, deshake=deshake,
                    deinterlace=deinterlace)]


_REPAIRS = {name: p.default for name, p in inspect.signature(recipe).parameters.items() if name != "models_dir"}


def restoring(other):
    """``other`` recipe with a ``restore`` option (and the repairs' options): when it is set, the
    restore stage runs first. The options ``--restore`` brings: :data:`RESTORING`."""
    @functools.wraps(other)
    def wrapped(*, restore: bool = False, **opts):
        repairs = {k: opts.pop(k, v) for k, v in _REPAIRS.items()}
        return (recipe(**repairs) if restore else []) + other(**opts)

    params = list(inspect.signature(other).parameters.values())
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
               for k, v in {"restore": False, **_REPAIRS}.items()]
    wrapped.__signature__ = inspect.Signature(params)
    return wrapped


RESTORING = [options.restore, *options.REPAIRS]


@film_command("restore", OPTIONS, recipe)
def command(**_):
    """Repair the print before it is coloured: exposure flicker, dust and dirt, vertical
    scratches, grain, gate weave and shake, interlacing. Sound, subtitles and chapters are
    copied unchanged; the output has every frame of the input.

    Shot by shot (reset at every cut) and along the film's own motion: each frame is compared
    with its motion-compensated neighbours, so a speck of one frame goes and a moving object
    stays; exposure and position are put on smooth curves through the shot, so pumping and
    jitter go while fades and pans stay. The defaults repair a typical old print and leave a
    clean film almost as it was.

    \b
    Examples:
      oldfilm restore movie.mp4                  # writes movie.restored.mp4
      oldfilm restore movie.mp4 --denoise 0.8    # a grainy print
      oldfilm restore movie.mp4 --no-deshake --deinterlace yes
      oldfilm colorize movie.mp4 --restore       # restore, then colorize
    """
