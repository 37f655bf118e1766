"""The one training loop: a budget in steps, a learning-rate schedule, a seeded RNG per step, a
progress bar, checkpoints (periodic, at the end and on Ctrl-C) and resume with a config guard.

A trainer gives a ``step(step, generator) -> {name: float}`` function that draws its batch from
``generator`` only and updates its models; everything a resumed run needs is in ``parts``
(modules and optimizers, by name). Because step ``s`` always draws from
``Generator().manual_seed(seed * 1_000_003 + s)``, a run resumed from a checkpoint gives the same
weights, bit for bit, as one that was never interrupted (tests/test_train_loop.py).
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import click
import torch
from tqdm import tqdm


def checkpoints(ckdir: Path) -> list[Path]:
    """The checkpoints in ``ckdir``, oldest first."""
    return sorted(ckdir.glob("ckpt-*.pt"))


def save_checkpoint(ckdir: Path, state: dict, keep: int = 2) -> Path:
    """Write ``state`` (with a ``step``) atomically; keep only the newest ``keep``."""
    ckdir.mkdir(parents=True, exist_ok=True)
    path = ckdir / f"ckpt-{state['step']:07d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    for old in checkpoints(ckdir)[:-keep]:
        old.unlink()
    return path


def cosine_lr(lr: float, steps: int, warmup: int | None = None, floor: float = 0.05) -> Callable[[int], float]:
    """Linear warm-up (default: 200 steps or a tenth of the run), then a cosine decay to ``floor`` x lr."""
    warm = min(200, steps // 10) if warmup is None else warmup

    def at(step: int) -> float:
        w = min(1.0, (step + 1) / warm) if warm else 1.0
        return lr * w * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step / steps, 1.0))))
    return at


def step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


@dataclass
class Loop:
    name: str                              # the progress bar's label
    steps: int                             # the budget: the run ends after this many steps
    ckdir: Path                            # checkpoints (outside the repository)
    parts: dict                            # name -> module or optimizer (anything with state_dict)
    config: dict                           # saved in each checkpoint
    guard: tuple[str, ...] = ()            # config keys a checkpoint must share to be resumed
    seed: int = 0
    lr: dict[str, Callable[[int], float]] = field(default_factory=dict)   # optimizer name -> schedule
    every: int = 500                       # checkpoint every this many steps
    step: int = 0
    seconds: float = 0.0                   # training time, summed over resumes

    def resume(self) -> int:
        """Restore the newest checkpoint of ``ckdir`` (if any); refuse one made with another config."""
        ckpts = checkpoints(self.ckdir)
        if not ckpts:
            return 0
        state = torch.load(ckpts[-1], map_location="cpu", weights_only=True)
        differ = ", ".join(f"{k}={state['config'].get(k)} (now {self.config.get(k)})" for k in self.guard
                           if state["config"].get(k) != self.config.get(k))
        if differ:
            raise click.UsageError(f"checkpoint {ckpts[-1]} was made with {differ}; use another "
                                   f"--checkpoint-dir or delete it")
        for key, part in self.parts.items():
            part.load_state_dict(state[key])
        self.step, self.seconds = state["step"], state.get("train_seconds", 0.0)
        click.echo(f"resuming from {ckpts[-1]} (step {self.step})", err=True)
        return self.step

    def save(self) -> Path:
        state = {k: p.state_dict() for k, p in self.parts.items()}
        state.update(step=self.step, train_seconds=self.seconds, config=self.config)
        return save_checkpoint(self.ckdir, state)

    def run(self, step_fn: Callable[[int, torch.Generator], dict[str, float]],
            on_checkpoint: Callable[[int], str] | None = None, stop: int | None = None) -> int:
        """Run from the current step to ``stop`` (default: the budget); checkpoint on the way, at the
        end and on Ctrl-C (then re-raise). ``on_checkpoint(step)`` may return a line to print."""
        stop = min(stop or self.steps, self.steps)   # stop: end early at this step, on the same schedule
        running: dict[str, float] = {}
        bar = tqdm(total=self.steps, initial=self.step, desc=self.name, unit="step", dynamic_ncols=True,
                   file=sys.stderr)
        try:
            while self.step < stop:
                for key, schedule in self.lr.items():
                    for group in self.parts[key].param_groups:
                        group["lr"] = schedule(self.step)
                t0 = time.monotonic()
                logs = step_fn(self.step, step_generator(self.seed, self.step))
                self.step += 1
                self.seconds += time.monotonic() - t0
                running = {k: v if k not in running else 0.98 * running[k] + 0.02 * v for k, v in logs.items()}
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in running.items()})
                if self.step % self.every == 0 and self.step < stop:
                    path = self.save()
                    line = on_checkpoint(self.step) if on_checkpoint else ""
                    tqdm.write(f"step {self.step} ({self.seconds / 60:.1f} min) -> {path.name}"
                               + (f"; {line}" if line else ""), file=sys.stderr)
        except KeyboardInterrupt:
            bar.close()
            click.echo(f"interrupted: checkpoint {self.save()} (step {self.step}); run the same command "
                       f"to resume", err=True)
            raise
        bar.close()
        self.save()
        return self.step
