"""bench/restore.py's registration of a restored frame on the truth (its dust count relies on it)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("bench_restore", Path(__file__).parents[1] / "bench" / "restore.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.mark.parametrize("shift", [(1.37, -0.62), (-2.3, 0.85), (0.0, 0.0)])
def test_a_frame_shifted_by_a_known_subpixel_amount_is_registered_back(shift):
    truth = bench.texture(240, 320, np.random.default_rng(4))[None]
    aged, _, dust = bench.age(truth, seed=3)   # one frame: no weave; flicker, grain, scratches, dust
    assert dust[0].sum() > 20
    dx, dy = shift   # the picture's content moved by (dx, dy)
    moved = cv2.warpAffine(aged[0].astype(np.float32), np.float32([[1, 0, -dx], [0, 1, -dy]]), (320, 240),
                           flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT101)[None]
    offsets = bench.frame_offsets(moved, truth)
    assert np.abs(offsets[0] - shift).max() < 0.2
    back = bench.register(moved, offsets)[0]
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(back - aged[0])[inner].mean() < 0.2 * np.abs(moved[0] - aged[0])[inner].mean() + 0.002


def test_a_black_truth_frame_is_not_moved():
    frame = np.random.default_rng(0).random((1, 60, 80), dtype=np.float32) * 0.05
    assert bench.frame_offsets(frame, np.zeros_like(frame)).tolist() == [[0.0, 0.0]]


def test_a_nearly_black_frame_that_nothing_registers_is_not_moved():
    # the last frames of a fade: grain on black, nothing to register (ECC raises "Iterations do
    # not converge", or ends wherever the phase correlation of grain put it: 160 px off on the
    # bench's pan); a frame with a picture beside it is registered as before
    rng = np.random.default_rng(0)
    truth, frame = (0.01 + rng.normal(0, 0.002, (2, 120, 160))).astype(np.float32)
    picture = bench.texture(120, 160, np.random.default_rng(4))
    moved = cv2.warpAffine(picture, np.float32([[1, 0, -0.6], [0, 1, 0.4]]), (160, 120),
                           flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT101)
    offsets = bench.frame_offsets(np.stack([frame, moved]), np.stack([truth, picture]))
    assert offsets[0].tolist() == [0.0, 0.0]
    assert np.abs(offsets[1] - (0.6, -0.4)).max() < 0.1


def test_the_agings_of_a_clip_are_summed_up_as_mean_and_range():
    rows = [{"dust_removed": 0.84}, {"dust_removed": 0.88}, {"dust_removed": 0.86}]
    assert bench.spread(rows, "dust_removed", "{:.1%}") == "86.0% (84.0% - 88.0%)"
    assert bench.spread(rows, "objects_wrecked", "{:.2%}") == "-"   # a clip without moving objects
