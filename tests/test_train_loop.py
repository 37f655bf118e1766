"""The one training loop: a run resumed after an interruption ends bit-identical to one that never stopped."""
from __future__ import annotations

import pytest
import torch

from oldfilm.train.loop import Loop, checkpoints, cosine_lr


def _trainer(ckdir, steps=5, width=4):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, width, 3, padding=1), torch.nn.BatchNorm2d(width),
                              torch.nn.ReLU(), torch.nn.Conv2d(width, 1, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    loop = Loop("test", steps, ckdir, {"net": net, "opt": opt}, {"width": width}, ("width",), seed=3,
                lr={"opt": cosine_lr(1e-2, steps, warmup=2)}, every=2)

    def step_fn(step, g):
        x = torch.randn(4, 1, 8, 8, generator=g)   # the batch comes from the step's own generator
        loss = (net(x) - x.flip(-1)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}
    return net, loop, step_fn


def test_three_plus_two_resumed_steps_equal_five(tmp_path):
    net5, loop5, fn5 = _trainer(tmp_path / "straight")
    assert loop5.run(fn5) == 5

    net, loop, fn = _trainer(tmp_path / "resumed")

    def interrupted(step, g):   # Ctrl-C as step 3 begins
        if step == 3:
            raise KeyboardInterrupt
        return fn(step, g)
    with pytest.raises(KeyboardInterrupt):
        loop.run(interrupted)
    assert checkpoints(tmp_path / "resumed")[-1].name == "ckpt-0000003.pt"   # saved on the interrupt

    net2, loop2, fn2 = _trainer(tmp_path / "resumed")   # a new process: fresh model, same command
    assert loop2.resume() == 3 and loop2.run(fn2) == 5
    for (k, a), b in zip(net5.state_dict().items(), net2.state_dict().values()):
        assert torch.equal(a, b), k                  # weights and BatchNorm statistics, bit for bit


def test_a_checkpoint_of_another_config_is_refused(tmp_path):
    import click

    _, loop, fn = _trainer(tmp_path, steps=2)
    loop.run(fn)
    _, other, _ = _trainer(tmp_path, steps=2, width=6)
    with pytest.raises(click.UsageError, match="width=4 \\(now 6\\)"):
        other.resume()


def test_cosine_schedule_warms_up_and_decays():
    lr = cosine_lr(1.0, 100, warmup=10)
    assert lr(0) == pytest.approx(0.1) and lr(9) == pytest.approx(1.0, abs=0.03)
    assert lr(50) == pytest.approx(0.525) and lr(100) == pytest.approx(0.05)
