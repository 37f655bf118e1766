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


RECIPES = {"colorize": colorize}
SUFFIX = {"colorize": "colorized"}


def build(command: str, options: dict) -> list[Stage]:
    return RECIPES[command](**options)
