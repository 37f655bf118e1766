from fractions import Fraction

import pytest

from oldfilm.errors import BadInput
from oldfilm.video import probe
from oldfilm.video.probe import _rate


def test_exact_ntsc_rate_and_counts(clips):
    info = probe(clips["gray"])
    assert info.fps == Fraction(30000, 1001)
    assert info.frames == 60
    assert info.duration == pytest.approx(60 * 1001 / 30000, abs=1e-3)
    assert (info.width, info.height) == (160, 120)
    assert [s.codec for s in info.audio] == ["aac"]
    assert not info.vfr


def test_rotation_sar_ten_bit_odd(clips):
    rot = probe(clips["rotated"])
    assert (rot.width, rot.height, rot.rotation % 180) == (120, 160, 90)
    ana = probe(clips["anamorphic"])
    assert ana.sar == Fraction(4, 3) and ana.pix_fmt == "yuv420p10le"
    odd = probe(clips["odd"])
    assert (odd.width, odd.height) == (161, 121)


def test_variable_rate_detected_with_mean_rate(clips):
    info = probe(clips["vfr"])
    assert info.vfr
    assert info.frames == 50
    assert float(info.fps) * info.duration == pytest.approx(50, abs=0.5)


def test_streams_listed(clips):
    info = probe(clips["rich"])
    assert [s.codec for s in info.audio] == ["flac", "opus"]
    assert [s.codec for s in info.subtitles] == ["subrip"]


@pytest.mark.parametrize("tb, want", [
    (Fraction(1, 1000), Fraction(30000, 1001)),   # mkv's millisecond time base: steps of 33 and 34
    (Fraction(1, 1000), Fraction(30)),
    (Fraction(1, 24000), Fraction(24000, 1001)),
    (Fraction(1, 12800), Fraction(25)),
])
def test_rate_from_timestamps(tb, want):
    pts = [round(n / want / tb) for n in range(300)]
    rate, vfr = _rate(pts, [pts[1]] * len(pts), tb)
    assert rate == want and not vfr


@pytest.mark.parametrize("name, words", [
    ("text", "not a video"), ("empty", "empty"), ("truncated", "not a video"), ("audio_only", "no video stream"),
])
def test_bad_files_are_refused_with_a_reason(clips, name, words):
    with pytest.raises(BadInput, match=words):
        probe(clips[name])


def test_missing_and_folder(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(BadInput, match="folder"):
        probe(tmp_path)
