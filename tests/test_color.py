"""oldfilm.ops.color against scikit-image's conversions (D65, 2° observer; BT.601 full range)."""
import cv2
import numpy as np
import pytest
import torch
from skimage import color as sk

from oldfilm.ops.color import (cbcr_to_rgb_delta, gray_lightness, lab_to_rgb, luma, rgb_to_lab, rgb_to_ycbcr,
                               ycbcr_to_rgb)


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    """(H, W, 3) in [0, 1]: random colours plus the corners of the cube and a gray ramp."""
    rng = np.random.default_rng(0)
    x = rng.random((16, 16, 3))
    x[0, :8] = [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]]
    x[1] = np.linspace(0, 1, 16)[:, None]
    x[2, :4] = [[0.02, 0.02, 0.02], [0.04, 0.04, 0.04], [0.005, 0.01, 0.03], [0.9, 0.95, 1.0]]  # near the knees
    return x


def ours(f, x: np.ndarray) -> np.ndarray:
    """Apply a (..., 3, H, W) tensor function to an (H, W, 3) array."""
    return f(torch.from_numpy(x).permute(2, 0, 1)[None].double())[0].permute(1, 2, 0).numpy()


def test_rgb_to_lab_is_scikit_images(rgb):
    # oldfilm's white is OpenCV's (0.950456, 1, 1.088754), scikit-image's CIE's (0.95047, 1, 1.08883):
    # a few thousandths of a unit apart
    np.testing.assert_allclose(ours(rgb_to_lab, rgb), sk.rgb2lab(rgb, illuminant="D65", observer="2"), atol=0.01)


def test_lab_to_rgb_is_scikit_images_and_inverts(rgb):
    lab = sk.rgb2lab(rgb)
    np.testing.assert_allclose(ours(lab_to_rgb, lab), sk.lab2rgb(lab), atol=1e-3)   # the whites differ: < 0.3/255
    np.testing.assert_allclose(ours(lab_to_rgb, ours(rgb_to_lab, rgb)), rgb, atol=1e-6)


def test_out_of_gamut_lab_is_clipped_like_scikit_image():
    lab = np.array([[[50.0, 120.0, -120.0], [95.0, -80.0, 90.0], [5.0, 40.0, 40.0]]])
    with pytest.warns(UserWarning):   # scikit-image says it clipped
        want = sk.lab2rgb(lab)
    # scikit-image clips a negative Z before the matrix, oldfilm the linear RGB after it: < 1/255 apart
    np.testing.assert_allclose(ours(lab_to_rgb, lab), want, atol=4e-3)


def test_ycbcr_is_scikit_images_ypbpr(rgb):
    """Y'CbCr here is BT.601 full range (Y' in [0, 1], Cb/Cr in [-0.5, 0.5]): scikit-image's YPbPr."""
    np.testing.assert_allclose(ours(rgb_to_ycbcr, rgb), sk.rgb2ypbpr(rgb), atol=1e-6)
    np.testing.assert_allclose(ours(ycbcr_to_rgb, sk.rgb2ypbpr(rgb)), np.clip(sk.ypbpr2rgb(sk.rgb2ypbpr(rgb)), 0, 1),
                               atol=1e-6)
    # and BT.601 studio range (scikit-image's YCbCr, 16..235 / 16..240) is the same up to scale
    studio = sk.rgb2ycbcr(rgb)
    np.testing.assert_allclose((studio[..., 0] - 16) / 219, ours(rgb_to_ycbcr, rgb)[..., 0], atol=1e-3)
    np.testing.assert_allclose((studio[..., 1:] - 128) / 224, ours(rgb_to_ycbcr, rgb)[..., 1:], atol=1e-3)


def test_luma_is_bt601_y_and_gray_lightness_is_l_of_the_gray(rgb):
    y = ours(luma, rgb)
    np.testing.assert_allclose(y[..., 0], sk.rgb2ypbpr(rgb)[..., 0], atol=1e-6)
    np.testing.assert_allclose(ours(gray_lightness, y)[..., 0], sk.rgb2lab(np.repeat(y, 3, -1))[..., 0], atol=0.01)


def test_cbcr_delta_moves_chroma_and_keeps_luma(rgb):
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].double() * 0.5 + 0.25
    d = torch.full((1, 2, *x.shape[-2:]), 0.05, dtype=x.dtype)
    moved = rgb_to_ycbcr(x + cbcr_to_rgb_delta(d))
    torch.testing.assert_close(moved[:, :1], rgb_to_ycbcr(x)[:, :1])
    torch.testing.assert_close(moved[:, 1:], rgb_to_ycbcr(x)[:, 1:] + d)


def test_a_new_chroma_keeps_the_luma_and_is_composed_once_in_the_writers_layout():
    from oldfilm.ops.color import to_uint8, with_chroma, with_chroma_u8
    from oldfilm.stages import Frames

    g = torch.Generator().manual_seed(0)
    base = torch.rand(3, 3, 30, 40, generator=g)
    cbcr = (torch.rand(3, 2, 12, 16, generator=g) - 0.5) * 0.3
    up = torch.nn.functional.interpolate(cbcr, size=(30, 40), mode="bilinear", align_corners=False)
    # the same as moving the picture's own chroma to the new one, the change made at full size
    direct = (base + cbcr_to_rgb_delta(up - rgb_to_ycbcr(base)[:, 1:])).clamp(0, 1)
    out = with_chroma(base, cbcr)
    assert (out - direct).abs().max() < 1e-5
    inside = (direct > 0.01) & (direct < 0.99)   # unclamped pixels keep the base's luma exactly
    assert ((luma(out) - luma(base)).abs() * inside.all(1, keepdim=True)).max() < 1e-5
    # straight to uint8 (B, H, W, 3): OpenCV's upsampling is torch's to within rounding
    u8 = with_chroma_u8(base, cbcr)
    assert u8.shape == (3, 30, 40, 3) and u8.dtype == np.uint8
    ref = to_uint8(direct)
    assert np.abs(u8.astype(int) - ref).max() <= 1 and (u8 != ref).mean() < 0.01
    # pending in Frames: sliced and joined as chroma, composed on first read of the picture
    frames = Frames(base, base, 5).with_chroma(cbcr)
    joined = Frames.cat([frames[0:1], frames[1:3]])
    assert joined.chroma is not None and joined.index == 5
    assert np.array_equal(joined.to_uint8(), u8)
    assert (joined.rgb - out).abs().max() < 1e-6 and joined.chroma is None
    assert (frames.chroma_at((6, 8)) - torch.nn.functional.interpolate(
        cbcr, size=(6, 8), mode="bilinear", antialias=True, align_corners=False)).abs().max() < 1e-6


def test_a_gray_picture_is_rounded_once_into_the_writers_layout():
    from oldfilm.ops.color import to_uint8

    gray = torch.rand(2, 1, 30, 40, generator=torch.Generator().manual_seed(0)) * 1.2 - 0.1
    expanded = gray.expand(-1, 3, -1, -1)   # what a black-and-white stage hands on
    out = to_uint8(expanded)
    assert out.flags.c_contiguous and out.shape == (2, 30, 40, 3)
    assert np.array_equal(out, to_uint8(expanded.contiguous()))
    assert np.array_equal(out[..., 1], np.floor(gray[:, 0].clamp(0, 1).numpy() * 255 + 0.5))


def test_frames_share_their_small_grays_and_join_a_source_picture_once():
    from oldfilm.ops.flow import small_grays
    from oldfilm.stages import Frames

    base = torch.rand(4, 3, 48, 64)
    frames = Frames(base, base, 0)
    grays = frames.grays(32)
    assert all(np.array_equal(a, b) for a, b in zip(grays, small_grays(base, 32)))
    # made once: the stages after see the same arrays, through new pictures, slices and joins
    later = frames.with_chroma(torch.zeros(4, 2, 12, 16))
    assert later.grays(32) is grays
    joined = Frames.cat([later[0:1], later[1:4]])
    assert all(a is b for a, b in zip(joined.grays(32), grays))
    # the first stage's picture is the source itself: joined once, still the same tensor
    assert joined._rgb is joined.source and torch.equal(joined.source, base)
    # another picture is joined on its own
    other = Frames.cat([Frames(base[:2] * 0.5, base[:2], 0, torch.zeros(2, 2, 12, 16)),
                        Frames(base[2:] * 0.5, base[2:], 2, torch.zeros(2, 2, 12, 16))])
    assert other._rgb is not other.source and torch.equal(other._rgb, base * 0.5)


def test_colour_maps_keep_fp32_under_the_pipelines_bf16_autocast():
    """The pipeline runs its batches under a bf16 autocast on CPUs with bf16 (AVX512-BF16, AMX); the
    colour maps outside the stages (the writer's layout, the scene detector, restore's gray) must
    still be exact fp32: a bf16 matmul rounds a gray by up to 2 levels, and numpy cannot take it."""
    from oldfilm.ops.color import with_chroma_u8
    from oldfilm.scenes import SceneDetector

    rgb = torch.rand(2, 3, 24, 32, generator=torch.Generator().manual_seed(0))
    frames = (rgb * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    cbcr = rgb_to_ycbcr(rgb)[:, 1:, ::2, ::2].contiguous()
    maps = lambda: (luma(rgb), rgb_to_ycbcr(rgb), cbcr_to_rgb_delta(cbcr), with_chroma_u8(rgb, cbcr))
    plain = maps()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = maps()
        cuts = SceneDetector()(frames, 0)
    for a, b in zip(plain[:3], auto[:3]):
        assert b.dtype == torch.float32 and torch.equal(a, b)
    assert np.array_equal(plain[3], auto[3])
    assert cuts == []


def test_decoded_frames_give_luma_grays_and_the_composed_picture_from_their_bytes(monkeypatch):
    """On the CPU the source's luma, its small grays and a pending chroma's composition come from the
    decoded bytes, without the float picture: what the float frames give, to float rounding."""
    import oldfilm.stages as stages
    from oldfilm.ops.color import luma_u8, with_chroma_u8
    from oldfilm.ops.flow import small_grays
    from oldfilm.stages import Frames, to_tensor

    rng = np.random.default_rng(0)
    u8 = cv2.GaussianBlur(rng.integers(0, 256, (3 * 60, 80, 3), dtype=np.uint8), (0, 0), 2).reshape(3, 60, 80, 3)
    rgb = to_tensor(u8, torch.device("cpu"))
    assert np.abs(luma_u8(u8) - luma(rgb)[:, 0].numpy() * 255).max() < 1e-4
    made = []
    monkeypatch.setattr(stages, "to_tensor", lambda b, d: made.append(len(b)) or to_tensor(b, d))
    lazy = Frames.decoded(u8, torch.device("cpu"), 2)
    grays, ref = np.stack(lazy.grays(32)), np.stack(small_grays(rgb, 32))
    assert np.abs(grays.astype(int) - ref).max() <= 1 and (grays != ref).mean() < 0.01
    cbcr = (torch.rand(3, 2, 12, 16, generator=torch.Generator().manual_seed(0)) - 0.5) * 0.3
    joined = Frames.cat([lazy[0:1].with_chroma(cbcr[:1]), lazy[1:3].with_chroma(cbcr[1:])])
    assert joined.grays(32)[2] is lazy.grays(32)[2] and joined.size == (60, 80)
    out, eager = joined.to_uint8(), with_chroma_u8(rgb, cbcr)
    assert made == [] and np.abs(out.astype(int) - eager).max() <= 1 and (out != eager).mean() < 0.001
    # a frame read as float (a key frame, for the network) joins the others as bytes
    key = lazy[1:2]
    assert torch.equal(key.rgb, rgb[1:2]) and made == [1]
    again = Frames.cat([lazy[0:1].with_chroma(cbcr[:1]), key.with_chroma(cbcr[1:2])])
    assert np.array_equal(again.to_uint8(), out[:2]) and made == [1]
