"""oldfilm.metrics against references: skimage's CIEDE2000, Sharma et al. (2005) test data."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from oldfilm.metrics import colourfulness, delta_e2000, psnr

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Table 1: L1 a1 b1, L2 a2 b2, ΔE00.
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def _as_image(lab: np.ndarray) -> torch.Tensor:
    """(N, 3) Lab rows -> (3, N, 1) tensor."""
    return torch.from_numpy(np.ascontiguousarray(lab.T[:, :, None])).double()


def test_delta_e2000_sharma_table():
    t = np.array(SHARMA)
    d = delta_e2000(_as_image(t[:, 0:3]), _as_image(t[:, 3:6]))[:, 0].numpy()
    np.testing.assert_allclose(d, t[:, 6], atol=1e-4)
    # The formula is symmetric.
    d2 = delta_e2000(_as_image(t[:, 3:6]), _as_image(t[:, 0:3]))[:, 0].numpy()
    np.testing.assert_allclose(d2, d, atol=1e-9)


def test_delta_e2000_matches_skimage_on_random_colours():
    skcolor = pytest.importorskip("skimage.color")
    rng = np.random.default_rng(0)
    lab1 = np.column_stack([rng.uniform(0, 100, 5000), rng.uniform(-110, 110, (5000, 2))])
    lab2 = np.where(rng.random((5000, 1)) < 0.5, lab1 + rng.normal(0, 5, lab1.shape),
                    np.column_stack([rng.uniform(0, 100, 5000), rng.uniform(-110, 110, (5000, 2))]))
    lab2[:50, 1:] = 0  # achromatic colours
    ours = delta_e2000(_as_image(lab1), _as_image(lab2))[:, 0].numpy()
    ref = skcolor.deltaE_ciede2000(lab1, lab2)
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_delta_e2000_shape_and_identity():
    lab = torch.rand(2, 3, 8, 9) * torch.tensor([100.0, 60, 60]).view(3, 1, 1) - torch.tensor([0.0, 30, 30]).view(3, 1, 1)
    d = delta_e2000(lab, lab)
    assert d.shape == (2, 8, 9)
    assert torch.allclose(d, torch.zeros_like(d), atol=1e-3)


def test_colourfulness_gray_is_zero_and_grows_with_saturation():
    gray = torch.rand(1, 1, 32, 32).expand(1, 3, 32, 32)
    assert colourfulness(gray).abs().item() < 1e-3
    base = torch.rand(3, 32, 32)
    mean = base.mean(0, keepdim=True)
    values = [colourfulness(mean + s * (base - mean)).item() for s in (0.0, 0.25, 0.5, 1.0)]
    assert values[0] < 1e-3
    assert all(a < b for a, b in zip(values, values[1:]))
    assert colourfulness(torch.rand(4, 3, 8, 8)).shape == (4,)


def test_colourfulness_matches_paper_formula():
    rgb = torch.zeros(3, 2, 1)
    rgb[:, 0, 0] = torch.tensor([1.0, 0.0, 0.0])  # pure red
    rgb[:, 1, 0] = torch.tensor([0.0, 0.0, 1.0])  # pure blue
    # rg = [255, 0], yb = [127.5, -255]
    std = math.hypot(127.5, 191.25)
    mean = math.hypot(127.5, -63.75)
    assert colourfulness(rgb).item() == pytest.approx(std + 0.3 * mean, rel=1e-5)


def test_psnr_of_known_noise():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 64, 64, generator=g)
    noise = torch.where(torch.rand(a.shape, generator=g) < 0.5, -0.01, 0.01)  # mse exactly 1e-4
    assert psnr(a, a + noise).item() == pytest.approx(40.0, abs=1e-3)
    assert psnr(a * 255, a * 255 + noise * 255, peak=255.0).item() == pytest.approx(40.0, abs=1e-3)
    assert psnr(torch.stack([a, a]), torch.stack([a + noise, a + 2 * noise])).shape == (2,)
