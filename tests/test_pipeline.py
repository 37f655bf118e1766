import numpy as np
import pytest
import torch

from oldfilm import Pipeline
from oldfilm.errors import BadInput
from oldfilm.pipeline import resolve_device
from oldfilm.stages import Frames, Stage


class Delay(Stage):
    """Holds one frame back, records scene resets: a stand-in for a temporal stage."""

    name = "delay"

    def __init__(self):
        self.held, self.resets = None, 0

    def process(self, frames):
        both = frames if self.held is None else Frames.cat([self.held, frames])
        self.held = both[-1:]
        return both[:-1]

    def flush(self):
        out, self.held = self.held, None
        return out

    def reset(self):
        self.resets += 1


class AddOne(Stage):
    name = "add"

    def process(self, frames):
        return Frames(frames.rgb + 1 / 255, frames.source)


def batches(n, size):
    frames = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    return [frames[i:i + size] for i in range(0, n, size)]


def test_delaying_stage_keeps_order_and_count():
    delay = Delay()
    pipe = Pipeline([delay, AddOne()], device="cpu", progress=False, detect_scenes=False)
    out = np.concatenate(list(pipe.process_batches(batches(23, 5))))
    assert out[:, 0, 0, 0].tolist() == [i + 1 for i in range(23)]
    assert delay.resets == 1   # the end of the film


def test_scene_cuts_split_batches_and_reset_state():
    delay = Delay()
    seen = []

    class Spy(Stage):
        def process(self, frames):
            seen.append(frames.rgb[:, 0, 0, 0].mul(255).round().int().tolist())
            return frames

    pipe = Pipeline([delay, Spy()], device="cpu", progress=False, detect_scenes=False)
    out = np.concatenate(list(pipe.process_batches(batches(12, 5), cuts=[3, 10])))
    assert out[:, 0, 0, 0].tolist() == list(range(12))
    assert delay.resets == 3
    flat = [f for chunk in seen for f in chunk]
    assert flat == list(range(12))
    # no batch the spy saw crosses a cut
    for chunk in seen:
        assert not (min(chunk) < 3 <= max(chunk)) and not (min(chunk) < 10 <= max(chunk))


def test_a_shot_held_back_is_handed_on_in_batches():
    """A stage that lets a whole shot go at once (guided colour waiting for a keyframe) passes it
    to the next stage, and to the writer, in pieces of at most the pipeline's batch size."""

    class HoldAll(Stage):
        def __init__(self):
            self.held = []

        def process(self, frames):
            self.held.append(frames)

        def flush(self):
            out, self.held = (Frames.cat(self.held) if self.held else None), []
            return out

    sizes = []

    class Spy(Stage):
        def process(self, frames):
            sizes.append(len(frames))
            return frames

    pipe = Pipeline([HoldAll(), Spy()], device="cpu", batch_size=4, progress=False, detect_scenes=False)
    outs = list(pipe.process_batches(batches(23, 4), cuts=[13]))
    assert np.concatenate(outs)[:, 0, 0, 0].tolist() == list(range(23))
    assert sizes == [4, 4, 4, 1, 4, 4, 2] and [len(o) for o in outs] == sizes


def test_device_errors_are_clear():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(BadInput, match="not available"):
            resolve_device("cuda:0")
    with pytest.raises(BadInput, match="unknown device"):
        resolve_device("tpu7")


def test_importing_oldfilm_makes_openmp_wait_passively_unless_chosen():
    """Idle OpenMP threads must not spin on the cores x264 needs (the policy is read when torch loads)."""
    import os
    import subprocess
    import sys

    code = "import os, oldfilm, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = lambda e: subprocess.run([sys.executable, "-c", code], env=e, capture_output=True,  # noqa: E731
                                   text=True, check=True).stdout.strip()
    assert run(env) == "PASSIVE"
    assert run({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"


def test_decoded_frames_are_made_float_only_when_read(monkeypatch):
    """A stage that changes nothing costs no conversion: the writer gets the decoded bytes back.
    A stage that reads the picture gets what the eager conversion gave, through slices and joins."""
    import oldfilm.stages as stages
    from oldfilm.stages import Identity

    made = []
    real = stages.to_tensor
    monkeypatch.setattr(stages, "to_tensor", lambda b, d: made.append(len(b)) or real(b, d))
    ins = batches(23, 5)
    pipe = Pipeline([Delay(), Identity()], device="cpu", progress=False, detect_scenes=False)
    out = list(pipe.process_batches(ins))
    assert made == [] and np.array_equal(np.concatenate(out), np.concatenate(ins))
    # every byte value comes back as it went in, read or not (the old float round trip's result)
    u8 = np.arange(256, dtype=np.uint8).reshape(4, 8, 8, 1).repeat(3, -1)
    read = Frames.decoded(u8, torch.device("cpu"))
    assert np.array_equal(read.to_uint8(), u8) and made == []
    assert torch.equal(read.rgb, real(u8, torch.device("cpu"))) and made == [4]
    assert read.rgb is read.source and np.array_equal(read.to_uint8(), u8)
    # sliced, joined, given chroma before being read: as the eager frames
    lazy, eager = Frames.decoded(u8, torch.device("cpu"), 3), Frames(read.source, read.source, 3)
    cbcr = torch.rand(4, 2, 4, 4) - 0.5
    for a, b in [(Frames.cat([lazy[0:1], lazy[1:4]]), Frames.cat([eager[0:1], eager[1:4]])),
                 (lazy.with_chroma(cbcr)[1:3], eager.with_chroma(cbcr)[1:3]),
                 (Frames.cat([lazy.with_chroma(cbcr)[0:2], lazy.with_chroma(cbcr)[2:4]]), eager.with_chroma(cbcr))]:
        assert a.index == b.index and len(a) == len(b)
        assert np.array_equal(a.to_uint8(), b.to_uint8()) and torch.equal(a.rgb, b.rgb)
        assert torch.equal(a.source, b.source)
    assert made == [4, 4, 2, 4]   # unread parts are joined as bytes; each batch converted once, when read
