"""The colour network on key frames only, its chroma carried along the motion between them."""
import cv2
import numpy as np
import torch

from oldfilm import Pipeline
from oldfilm.ops.flow import DISFlow
from oldfilm.stages.colorize import Colorize


class LumaColour(torch.nn.Module):
    """A stand-in colorizer: a*b* a fixed smooth function of L*, so every frame agrees with the last."""

    def forward(self, L):
        return torch.cat([12 * torch.sin(L / 12), 12 * torch.cos(L / 17)], 1)


def pan(n=24, h=96, w=128, step=2, seed=0):
    """Gray frames of a smooth texture moving ``step`` px to the left per frame, (n, h, w, 3) uint8."""
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.integers(0, 255, (h, w + step * n, 1), dtype=np.uint8), (0, 0), 3)
    big = cv2.normalize(big, None, 0, 255, cv2.NORM_MINMAX)
    return np.stack([np.repeat(big[:, step * t:step * t + w, None], 3, -1) for t in range(n)])


def run(frames, batch=8, first=0, **kw):
    stage = Colorize(net=LumaColour(), render_size=128, **kw)
    pipe = Pipeline([stage], device="cpu", batch_size=batch, precision="fp32", progress=False, detect_scenes=False)
    out = np.concatenate(list(pipe.process_batches([frames[i:i + batch] for i in range(0, len(frames), batch)],
                                                   first=first)))
    return out, stage


def luma(x):
    return x.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def test_carried_colour_keeps_frames_and_luma_and_stays_close_to_every_frame_on_a_pan():
    frames = pan()
    every, _ = run(frames)
    carried, stage = run(frames, net_every=8)
    assert carried.shape == every.shape == frames.shape
    assert stage.network_frames < len(frames) / 4          # keys at 0, 8, 16 (and no trust failure)
    kept = np.abs(luma(carried) - luma(frames))
    # the film's own luma, but for rounding and a level or two where carried colour leaves the gamut
    assert kept.mean() < 0.3 and kept.max() < 2.5
    diff = np.abs(carried.astype(int) - every.astype(int))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) < 6   # borders entering the frame differ a little


def test_the_network_speaks_again_where_the_motion_cannot_be_trusted():
    a, b = pan(seed=0)[:5], pan(seed=1)[:11]    # new content at frame 5, no scene detection
    _, stage = run(np.concatenate([a, b]), net_every=8)
    assert stage.network_frames == 3             # frame 0, frame 5 (nothing carries), frame 8 (every 8th)


def test_key_frames_fall_on_film_frame_numbers_so_a_chunk_inside_a_shot_matches_the_unbroken_run():
    frames = pan(n=32)
    whole, _ = run(frames, net_every=8)
    part, _ = run(frames[13:], first=13, net_every=8)   # a chunk starting at frame 13 of the shot
    assert np.array_equal(part[16 - 13:], whole[16:])    # from the first key frame in the chunk on


def test_half_way_key_frames_are_skipped_while_the_carried_colour_is_trusted():
    frames = pan(n=33)
    _, steady = run(frames, net_every=16, skip_trust=0.9)
    assert steady.network_frames == 3            # 0, 16, 32: the pan carries at frames 8 and 24
    strict, every8 = run(frames, net_every=16, skip_trust=1.01), run(frames, net_every=8)
    assert strict[1].network_frames == 5         # a trust never reached: 0, 8, 16, 24, 32
    assert np.array_equal(strict[0], every8[0])  # exactly the run with a key frame every 8


def test_with_half_way_key_frames_a_chunk_inside_a_shot_matches_the_unbroken_run():
    a, b = pan(n=40, seed=0), pan(n=40, seed=1)
    frames = np.concatenate([a[:20], b[20:]])    # new content at 20: trust falls, key frames move
    whole, _ = run(frames, net_every=16, skip_trust=0.9)
    part, _ = run(frames[5:], first=5, net_every=16, skip_trust=0.9)
    assert np.array_equal(part[16 - 5:], whole[16:])   # from the first multiple of net_every on


def test_a_pair_of_frames_is_computed_once_in_either_order():
    frames = [f[..., 0] for f in pan(n=2)]
    flow = DISFlow("medium")
    ab = flow.both(frames[0], frames[1])
    ba = flow.both(frames[1], frames[0])
    assert ba[0] is ab[1] and ba[1] is ab[0]


def test_warp_on_the_cpu_matches_grid_sample():
    """OpenCV's remap (the CPU path outside autograd) samples where grid_sample does, edges
    included (a flow pointing off the frame takes the edge value)."""
    from oldfilm.ops.flow import warp

    torch.manual_seed(0)
    img, flow = torch.rand(2, 3, 40, 56), torch.randn(2, 2, 40, 56) * 4
    flow[:, 0, :, :5] = -30   # off the left edge
    fast = warp(img, flow)
    with torch.enable_grad():
        slow = warp(img.clone().requires_grad_(True), flow).detach()   # grid_sample
    assert fast.shape == slow.shape and (fast - slow).abs().max() < 1e-3


def test_trust_from_the_flow_workers_is_the_trust_of_the_pair():
    """The stabilizer's trust, computed on the flow's worker threads after a pair's flows, is
    flow_trust of the previous frame brought onto the current one (not the other way round)."""
    from oldfilm.ops.flow import flow_tensor, flow_trust, gray_tensor

    frames = [f[..., 0] for f in pan(n=3)]
    flow = DISFlow("medium", trust_sigma=0.08)
    flow.prefetch(zip(frames[1:], frames[:-1]))
    got = flow.trust(frames[2], frames[1], 0.08)
    bw, fw = DISFlow("medium")(frames[2], frames[1]), DISFlow("medium")(frames[1], frames[2])
    want = flow_trust(flow_tensor(bw, "cpu"), flow_tensor(fw, "cpu"), gray_tensor(frames[2], "cpu"),
                      gray_tensor(frames[1], "cpu"), 0.08)
    # the workers' numpy maths is flow_trust's to float32 rounding (exp's last bit), masks exactly
    assert got.shape == want.shape and (got - want).abs().max() < 1e-6
    assert torch.equal(got == 0, want == 0) and 0 < float((want == 0).float().mean()) < 1
    swapped = flow_trust(flow_tensor(fw, "cpu"), flow_tensor(bw, "cpu"), gray_tensor(frames[1], "cpu"),
                         gray_tensor(frames[2], "cpu"), 0.08)
    assert (got - swapped).abs().max() > 0.1   # the direction matters, so the test can tell
    # another sigma than the workers' is computed when asked
    assert not torch.equal(flow.trust(frames[2], frames[1], 0.02), got)


def test_pair_trust_is_flow_trust_at_occlusions_and_motion_boundaries():
    """pair_trust (numpy, on the flow's workers) gives flow_trust's values where its tests fire: a
    square moving over a still texture (occlusion, motion boundaries) and content leaving the frame."""
    from oldfilm.ops.flow import flow_tensor, flow_trust, gray_tensor, pair_trust

    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.integers(0, 255, (96, 128), dtype=np.uint8), (0, 0), 2)
    a, b = base.copy(), np.roll(base, 3, axis=1)   # the picture moves 3 px right ...
    a[30:60, 40:70], b[30:60, 52:82] = 255 - base[30:60, 40:70], 255 - base[30:60, 40:70]   # ... a square 12
    ab, ba = DISFlow("medium")(a, b), DISFlow("medium")(b, a)
    got = pair_trust(ab, ba, a, b, 0.08)
    want = flow_trust(flow_tensor(ab, "cpu"), flow_tensor(ba, "cpu"), gray_tensor(a, "cpu"), gray_tensor(b, "cpu"), 0.08)
    assert got.shape == want.shape == (1, 1, 96, 128) and got.dtype == torch.float32
    assert (got - want).abs().max() < 1e-6 and torch.equal(got == 0, want == 0)
    zero = float((want == 0).float().mean())
    assert 0.02 < zero < 0.6   # the tests fired somewhere, not everywhere


def test_prefetched_flows_are_computed_once_and_are_the_flows():
    frames = [f[..., 0] for f in pan(n=4)]
    flow = DISFlow("medium")
    calls = []
    original = flow._calc
    flow._calc = lambda *a: calls.append(1) or original(*a)
    flow.prefetch(zip(frames[1:], frames[:-1]))
    got = [flow.both(frames[i], frames[i - 1]) for i in range(1, 4)]
    assert len(calls) == 6   # 3 pairs, both directions, nothing twice
    direct = DISFlow("medium")
    assert np.allclose(got[1][0], direct(frames[2], frames[1])) and np.allclose(got[1][1], direct(frames[1], frames[2]))


def test_colorize_then_stabilize_makes_the_float_picture_of_key_frames_only(monkeypatch):
    """Between key frames the chain only hands chroma on: the float picture is made for the network's
    frames alone, the small grays and the writer's composition come from the decoded bytes."""
    import oldfilm.stages as stages
    from oldfilm.stages.stabilize import Stabilize

    made = []
    real = stages.to_tensor
    monkeypatch.setattr(stages, "to_tensor", lambda b, d: made.append(len(b)) or real(b, d))
    frames = pan(n=24)
    stage = Colorize(net=LumaColour(), render_size=128, net_every=8)
    pipe = Pipeline([stage, Stabilize(mode="chroma")], device="cpu", batch_size=8, precision="fp32",
                    progress=False, detect_scenes=False)
    out = np.concatenate(list(pipe.process_batches([frames[i:i + 8] for i in range(0, 24, 8)])))
    assert out.shape == frames.shape and made == [1] * stage.network_frames
    kept = np.abs(luma(out) - luma(frames))   # the film's own luma
    assert kept.mean() < 0.3 and kept.max() < 2.5
