"""Video in and out through ffmpeg pipes. Knows nothing of models or tensors."""
from .probe import VideoInfo, probe
from .reader import FrameReader
from .writer import FrameWriter

__all__ = ["VideoInfo", "probe", "FrameReader", "FrameWriter"]
