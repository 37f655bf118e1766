"""Small synthetic films made with ffmpeg's lavfi sources, and a tiny random colorizer."""
from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from oldfilm import weights
from oldfilm.video.ffmpeg import ffmpeg_exe


def ff(*args: str) -> None:
    """Make a test clip with the bundled ffmpeg (whatever ffmpeg oldfilm itself is run with:
    OLDFILM_FFMPEG=/usr/bin/ffmpeg runs the tests against a system ffmpeg)."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True)


def gray_source(size: str, rate: str, seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds},hue=s=0"]


def tone(seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Every clip the tests use, made once per session."""
    d = tmp_path_factory.mktemp("clips")
    c = {}
    c["gray"] = d / "gray.mp4"      # 30000/1001 fps, 2 s, AAC audio
    ff(*gray_source("160x120", "30000/1001", 2), *tone(2), "-c:v", "libx264", "-pix_fmt", "yuv420p",
       "-c:a", "aac", "-b:a", "96k", str(c["gray"]))
    c["noaudio"] = d / "noaudio.mkv"
    ff(*gray_source("160x120", "25", 1), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(c["noaudio"]))
    c["odd"] = d / "odd.mp4"        # 161x121
    ff(*gray_source("160x120", "25", 1), "-vf", "scale=161:121,setsar=1", "-c:v", "libx264", "-pix_fmt", "yuv444p",
       str(c["odd"]))
    c["vfr"] = d / "vfr.mp4"        # 30 fps for 1 s, then 10 fps for 2 s
    ff("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=3,hue=s=0", *tone(3),
       "-vf", "select='lt(n\\,30)+not(mod(n\\,3))'", "-fps_mode", "vfr", "-c:v", "libx264",
       "-c:a", "aac", "-shortest", str(c["vfr"]))
    c["rotated"] = d / "rotated.mp4"   # stored 160x120, displayed 120x160
    ff("-display_rotation", "90", "-i", str(c["noaudio"]), "-c", "copy", str(c["rotated"]))
    c["anamorphic"] = d / "anamorphic.mkv"   # non-square pixels, 10-bit
    ff(*gray_source("160x120", "25", 1), "-vf", "setsar=4/3", "-c:v", "libx264", "-pix_fmt", "yuv420p10le",
       str(c["anamorphic"]))
    srt = d / "subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,900\nHello, old film\n", encoding="utf-8")
    chapters = d / "chapters.txt"
    chapters.write_text(";FFMETADATA1\ntitle=A test reel\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\n"
                        "title=Opening\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=End\n")
    c["rich"] = d / "rich.mkv"      # two audio streams, subtitles, chapters, title
    ff(*gray_source("160x120", "24", 2), *tone(2), "-f", "lavfi", "-i", "anoisesrc=d=2:c=pink:r=22050",
       "-i", str(srt), "-i", str(chapters), "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s",
       "-map_metadata", "4", "-map_chapters", "4", "-c:v", "libx264", "-c:a:0", "flac", "-c:a:1", "libopus",
       "-c:s", "srt", str(c["rich"]))
    c["audio_only"] = d / "audio_only.mp4"
    ff(*tone(1), "-c:a", "aac", str(c["audio_only"]))
    c["text"] = d / "notes.mp4"
    c["text"].write_text("these are not moving pictures\n")
    c["empty"] = d / "empty.mp4"
    c["empty"].write_bytes(b"")
    c["truncated"] = d / "truncated.mp4"   # moov atom at the end, cut off
    c["truncated"].write_bytes(c["gray"].read_bytes()[: c["gray"].stat().st_size // 2])
    return c


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """A models folder holding the default colorizer with fixed random weights (deterministic)."""
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    entry = weights.get(weights.default("colorize"))
    net = entry.builder(**entry.config)
    state = net.state_dict()
    if "centres" in state:   # colour classes: make the random net sure of one colour (orange), or a
        # colorizer that colours only where it is confident (vggcolor-v2) leaves its output gray
        k = int((state["centres"] - torch.tensor([30.0, 40.0])).norm(dim=1).argmin())
        state["head.bias"][k] += 20
    save_file({k: v.contiguous() for k, v in state.items()}, str(d / entry.file))
    return d


def decode(path: Path, pix_fmt: str = "rgb24") -> np.ndarray:
    """All frames of ``path`` as a uint8 array (N, H, W, C)."""
    from oldfilm.video import probe
    info = probe(path)
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:V:0", "-f", "rawvideo",
                          "-pix_fmt", pix_fmt, "pipe:1"], capture_output=True, check=True).stdout
    ch = {"rgb24": 3, "gray": 1}[pix_fmt]
    return np.frombuffer(out, np.uint8).reshape(-1, info.height, info.width, ch).copy()


def audio_md5(path: Path) -> list[str]:
    """MD5 of each audio stream's packets, copied without decoding."""
    from oldfilm.video import probe
    sums = []
    for i, _ in enumerate(probe(path).audio):
        out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", f"0:a:{i}", "-c", "copy",
                              "-f", "md5", "-"], capture_output=True, check=True).stdout
        sums.append(out.decode().strip())
    return sums
