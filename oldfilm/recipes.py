"""What each command runs: its stages, built from plain options (so a recipe can travel to
another process or machine and be rebuilt there, as batch and Ray runs do)."""
from __future__ import annotations

from .stages import Stage


def colorize(*, model: str | None = None, render_size: int | None = None, models_dir: str | None = None,
             stabilize: bool = True, strength: float = 0.9) -> list[Stage]:
    from .stages.colorize import Colorize
    from .stages.stabilize import Stabilize

    chain: list[Stage] = [Colorize(model, render_size=render_size, models_dir=models_dir)]
    return chain + ([Stabilize(mode="chroma", strength=strength)] if stabilize else [])


def cartoonize(*, style: str = "shinkai", colorize: str = "auto", colorizer: str | None = None,
               render_size: int | None = None, models_dir: str | None = None, strength: float = 0.9,
               model: str | None = None) -> list[Stage]:
    """colorize -> stabilize -> cartoonize -> stabilize. ``colorize``: "auto" colorizes only the
    shots that are black and white, "yes" every shot, "no" none (a colour film)."""
    from .stages.cartoonize import Cartoonize
    from .stages.colorize import Colorize
    from .stages.stabilize import Stabilize

    chain: list[Stage] = []
    if colorize != "no":
        chain += [Colorize(colorizer, render_size=render_size, models_dir=models_dir, only_gray=colorize == "auto"),
                  Stabilize(mode="chroma", strength=strength)]
    return chain + [Cartoonize(style, model=model, models_dir=models_dir), Stabilize(mode="rgb", strength=strength)]


RECIPES = {"colorize": colorize, "cartoonize": cartoonize}
SUFFIX = {"colorize": "colorized", "cartoonize": "cartoon"}


def build(command: str, options: dict) -> list[Stage]:
    return RECIPES[command](**options)
