"""oldfilm.ops.color against scikit-image's conversions (D65, 2° observer; BT.601 full range)."""
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
