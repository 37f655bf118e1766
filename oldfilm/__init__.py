"""oldfilm: bring old black-and-white films back to life (colorize, stabilize, cartoonize)."""
__version__ = "0.1.0"

from .pipeline import Pipeline  # noqa: E402

__all__ = ["Pipeline", "__version__"]
