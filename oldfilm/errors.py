"""oldfilm's errors. The CLI turns each into one line and an exit code; nothing else does."""


class OldfilmError(Exception):
    """A known problem: the message says what is wrong and what to do."""

    exit_code = 1


class BadInput(OldfilmError):
    """The user's input or options cannot be used (missing file, not a video, bad option)."""

    exit_code = 2


class FFmpegError(OldfilmError):
    """ffmpeg failed while decoding, encoding or muxing."""


class WeightsError(OldfilmError):
    """A model's weights are missing, malformed or do not fit their architecture."""


class DiskFull(OldfilmError):
    """The disk filled up while writing; nothing unfinished was kept, a rerun resumes."""
