import cv2
import numpy as np
import pytest

from conftest import ff
from oldfilm.scenes import detect_scenes


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Four gray shots of 20 frames at 25 fps, the 2nd fading in, the 4th a fast pan: cuts at 20, 40, 60."""
    path = tmp_path_factory.mktemp("scenes") / "shots.mp4"
    size = "size=160x120:rate=25"
    ff("-t", "0.8", "-f", "lavfi", "-i", f"testsrc2={size}",
       "-t", "0.8", "-f", "lavfi", "-i", f"mandelbrot={size}",
       "-t", "0.8", "-f", "lavfi", "-i", f"smptebars={size}",
       "-t", "0.8", "-f", "lavfi", "-i", f"life={size}:mold=10:ratio=0.5:mold_color=gray:life_color=white",
       "-filter_complex", "[0]format=yuv420p[a];[1]fade=in:0:10,format=yuv420p[b];[2]format=yuv420p[c];"
                          "[3]format=yuv420p,scroll=h=0.05[d];[a][b][c][d]concat=n=4,hue=s=0",
       "-c:v", "libx264", str(path))
    return path


def test_cuts_found_where_shots_change(shots):
    assert detect_scenes(shots) == [20, 40, 60]


def test_no_cuts_in_one_moving_shot(clips):
    assert detect_scenes(clips["gray"]) == []


def test_exposure_flicker_is_not_a_cut_and_a_cut_still_is():
    # an old print's exposure jumps (two frames much darker than their neighbours) over a slow pan,
    # then a different picture: one cut, at the new picture
    from oldfilm.scenes import SceneDetector
    rng = np.random.default_rng(0)
    a, b = (cv2.resize(rng.random((12, 16)).astype(np.float32), (320, 240), interpolation=cv2.INTER_CUBIC)
            for _ in range(2))
    gains = np.ones(30)
    gains[[7, 13]] = 0.5
    frames = [np.roll(a if i < 20 else b, 2 * i, 1) * g for i, g in enumerate(gains)]
    u8 = np.repeat(np.clip(np.stack(frames) * 200 + 20, 0, 255).astype(np.uint8)[..., None], 3, -1)
    assert SceneDetector()(u8, 0) == [20]


def test_a_cut_out_of_fast_motion_is_found_and_the_motion_is_no_cut():
    # a pan of 8 px a frame (of 320): the recent frame-to-frame change is half the cut's, so the
    # ratio test alone missed the cut (as bikes.mp4's at frame 76, out of a taxi crossing close
    # to the camera); the picture's structure changes at the cut only
    from oldfilm.scenes import SceneDetector
    rng = np.random.default_rng(0)
    a, b = (cv2.resize(rng.random((12, 16)).astype(np.float32), (320, 240), interpolation=cv2.INTER_CUBIC)
            for _ in range(2))
    for speed in (6, 8):
        frames = [np.roll(a if i < 20 else b, speed * i, 1) for i in range(30)]
        u8 = np.repeat(np.clip(np.stack(frames) * 200 + 20, 0, 255).astype(np.uint8)[..., None], 3, -1)
        assert SceneDetector()(u8, 0) == [20]


def test_a_large_frames_thumbnail_is_its_area_average():
    # a 1080p frame is halved before the 64-pixel thumbnail (for speed): the thumbnail must stay
    # the plain area average of the whole frame, within rounding
    from oldfilm.scenes import SceneDetector
    rng = np.random.default_rng(1)
    frame = cv2.resize(rng.integers(0, 256, (27, 48, 3), dtype=np.uint8), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    frame = np.clip(frame.astype(np.int16) + rng.integers(-20, 21, frame.shape), 0, 255).astype(np.uint8)
    direct = SceneDetector._thumb(cv2.resize(frame, (64, 36), interpolation=cv2.INTER_AREA))
    thumb = SceneDetector._thumb(frame)
    assert thumb.shape == (36, 64)
    assert np.abs(thumb - direct).max() <= 1.5 / 255
    assert np.abs(thumb - direct).mean() < 0.3 / 255
