"""What every training loop shares, written once: divergence, the checkpointed state, the metrics
window, the checkpoint schedule and the rows (torch-free; the loops live beside their agents).

A loop (``train`` in :mod:`rlrepro.mirl.tabular`, :mod:`rlrepro.mirl.atari`,
:mod:`rlrepro.epmd.continuous`, :mod:`rlrepro.epmd.algorithmic`) reads::

    book = Bookkeeping(budget, resume, on_checkpoint, on_progress)
    with book:                                   # a Diverged or StopEarly raised inside carries book.rows
        for t in range(book.start, budget.total_steps):
            ...                                  # act, step the environment, update; fill a Window
            if <a row is due>:
                book.log({...}, steps)           # one metrics row; reports progress
            if book.checkpoint_due(done):
                book.checkpoint(done, agent=..., rng=..., window=window.state_dict())
    return book.rows
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Callable, Mapping

import numpy as np


class Diverged(Exception):
    """A quantity became non-finite; the run stops and is recorded as diverged, with the rows so far."""

    def __init__(self, step: int, quantity: str):
        super().__init__(f"non-finite {quantity} at step {step}")
        self.step = step
        self.quantity = quantity
        self.rows: list[dict] = []


class StopEarly(Exception):
    """Raised by an ``on_progress`` callback to end a run after the row just logged (a replay of a run's first
    steps, :mod:`rlrepro.archive.replay`); carries the rows so far in ``.rows``, like :class:`Diverged`. The rows
    before it are those of the whole run: the spec, and so every schedule, is unchanged."""

    def __init__(self, steps: int):
        super().__init__(f"stopped early after {steps} steps")
        self.steps = steps
        self.rows: list[dict] = []


def check_finite(step: int, **values: float) -> None:
    """Raise :class:`Diverged` naming the first of ``values`` that is not finite."""
    for quantity, value in values.items():
        if not math.isfinite(value):
            raise Diverged(step, quantity)


class ConfigFields:
    """Base of the agent-config dataclasses: their field names are the config's override keys."""

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass
class TrainState:
    """Everything that changes during training; what a checkpoint holds."""

    step: int = 0
    rows: list = field(default_factory=list)
    agent: dict = field(default_factory=dict)
    rng: dict = field(default_factory=dict)
    """The random generators' states (which ones is the loop's business)."""
    window: dict = field(default_factory=dict)
    """:meth:`Window.state_dict` of the metrics window."""
    env: dict = field(default_factory=dict)
    """Environment state beyond its generator (the gridworld's position, the algorithmic curriculum)."""
    buffer: dict | None = None
    """The replay buffer, where there is one and it is kept."""
    wall_time_s: float = 0.0

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(_from_per_kind_layout(state))


class Window:
    """What the next metrics row averages: running sums, added in order (tensors stay on their device
    until the row is written), and lists of samples, averaged with ``np.mean``."""

    def __init__(self, state: dict | None = None):
        state = _window_from_per_kind_layout(state or {})
        self.sums: dict = dict(state.get("sums", {}))
        self.counts: dict[str, int] = dict(state.get("counts", {}))
        self.samples: dict[str, list] = {k: list(v) for k, v in state.get("samples", {}).items()}

    def add(self, values: Mapping, count: int = 1) -> None:
        """Add each value to its running sum; ``count`` is how many items it stands for."""
        for key, value in values.items():
            if key not in self.sums and hasattr(value, "clone"):  # a CUDA-graph replay overwrites its outputs
                self.sums[key] = value.clone()
            else:  # a number starts from 0, as in sum()
                self.sums[key] = self.sums.get(key, 0) + value
            self.counts[key] = self.counts.get(key, 0) + count

    def append(self, key: str, value: float) -> None:
        self.samples.setdefault(key, []).append(value)

    def count(self, key: str) -> int:
        return len(self.samples[key]) if key in self.samples else self.counts.get(key, 0)

    def mean(self, key: str) -> float:
        """The mean of ``key``'s values (nan when it has none)."""
        if key in self.samples:
            return float(np.mean(self.samples[key])) if self.samples[key] else math.nan
        count = self.counts.get(key, 0)
        return float(self.sums[key]) / count if count else math.nan

    def sum_means(self) -> dict[str, float]:
        """The mean of every running sum, in the order they first appeared."""
        return {key: self.mean(key) for key in self.sums}

    def state_dict(self) -> dict:
        return {"sums": {k: v.cpu() if hasattr(v, "cpu") else v for k, v in self.sums.items()},
                "counts": dict(self.counts), "samples": {k: list(v) for k, v in self.samples.items()}}


class Bookkeeping:
    """The rows, progress and checkpoints of one training loop.

    A checkpoint is due at the first opportunity the loop offers at or after each multiple of
    ``budget.checkpoint_interval`` (never at the end: the finished run needs none). As a context
    manager it attaches the rows so far to a :class:`Diverged` or :class:`StopEarly` raised inside.
    """

    def __init__(self, budget, resume: TrainState | None, on_checkpoint: Callable[[TrainState], None] | None,
                 on_progress: Callable[[int], None] | None):
        self.total_steps, self.interval = budget.total_steps, budget.checkpoint_interval
        self.start = resume.step if resume else 0
        self.rows: list[dict] = resume.rows if resume else []
        self.on_checkpoint, self.on_progress = on_checkpoint, on_progress
        self.next_checkpoint = self.following_multiple(self.start)

    def following_multiple(self, step: int) -> int:
        return (step // self.interval + 1) * self.interval

    def __enter__(self) -> Bookkeeping:
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, (Diverged, StopEarly)):
            error.rows = self.rows
        return False

    def log(self, row: dict, steps: int) -> None:
        """Append a metrics row; ``steps`` training steps passed since the previous one."""
        self.rows.append(row)
        if self.on_progress:
            self.on_progress(steps)

    def checkpoint_due(self, step: int) -> bool:
        return self.on_checkpoint is not None and self.next_checkpoint <= step < self.total_steps

    def checkpoint(self, step: int, **parts) -> None:
        """Hand a :class:`TrainState` of ``parts`` (its fields) at ``step`` to ``on_checkpoint``."""
        self.on_checkpoint(TrainState(step=step, rows=self.rows, **parts))
        self.next_checkpoint = self.following_multiple(step)


# Checkpoints written before this module existed (one TrainState and one window layout per kind) still resume.

def _from_per_kind_layout(state: dict) -> dict:
    state = dict(state)
    if "curriculum" in state:  # rlrepro.epmd.algorithmic
        state["env"] = state.pop("curriculum")
    if "window_scored" in state:  # rlrepro.mirl.tabular
        scored, correct = state.pop("window_scored"), state.pop("window_correct")
        state.pop("total_scored")  # the last row's scored_visits
        key = "correct_action_rate"
        state["window"] = {"sums": {key: correct} if scored else {}, "counts": {key: scored} if scored else {},
                           "samples": {}}
    for name, default in (("window", {}), ("env", {}), ("buffer", None)):
        state.setdefault(name, default)
    return state


def _window_from_per_kind_layout(window: dict) -> dict:
    if not window or "samples" in window:
        return window
    if "sums" in window:  # rlrepro.epmd.continuous
        return {"sums": window["sums"], "counts": window["counts"], "samples": {"train_return": window["returns"]}}
    if "q_mean" in window:  # rlrepro.mirl.atari
        return {"samples": {"train_return": window["returns"], "loss": window["loss"], "q_mean": window["q_mean"]}}
    # rlrepro.epmd.algorithmic: sums over batches
    sums = {"train_return": window["returns"], "train_solve_rate": window["solved"], "loss": window["loss"],
            "entropy": window["entropy"]}
    counts = {"train_return": window["episodes"], "train_solve_rate": window["episodes"], "loss": window["batches"],
              "entropy": window["batches"]}
    return {"sums": {k: v for k, v in sums.items() if counts[k]}, "counts": {k: c for k, c in counts.items() if c}}
