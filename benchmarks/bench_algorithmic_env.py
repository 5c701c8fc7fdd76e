"""Microseconds per ``step`` of the algorithmic tasks: this package's step against the step it replaced.

    python benchmarks/bench_algorithmic_env.py [--steps 20000] [--repeats 5] [--seed 0]

There is no maintained reference implementation of these tasks (they left gym in 0.20), so the
reference is the previous version of our own step, kept below verbatim (``ReferenceStep``: gym's
``action_space.contains`` on every action, numpy scalars read from the tape and the target). Both
steps run on twin environments, seeded alike and fed the same actions: lists of three Python ints,
as the sampling loop (``rlrepro.epmd.algorithmic.play``) passes them, drawn uniformly from the action
space. The twins take each action in turn (reference first), so drift in machine speed hits both
alike; only ``step`` calls are timed (each on its own, with ``time.perf_counter``), not the resets
between episodes. The script checks that both steps return the same values at every step. The table
shows the median over repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from rlrepro.envs.algorithmic import ENV_CLASSES, MOVE_DELTAS, MOVE_NAMES, TASKS, AlgorithmicEnv

CORRECT_REWARD, WRONG_REWARD, TIMEOUT_REWARD = 1.0, -0.5, -1.0


class ReferenceStep:
    """The step of ``rlrepro.envs.algorithmic.AlgorithmicEnv`` before it was made faster (a mixin)."""

    def step(self, action):
        move, write, symbol = self._validate_action(action)
        if self.episode_over:
            raise RuntimeError("the episode has ended (or never started); call reset() before step()")
        self.time += 1
        reward, terminated = 0.0, False
        if write:
            self.output.append(symbol)
            if symbol == self.target[self.n_written]:
                reward = CORRECT_REWARD
                self.n_written += 1
                terminated = self.n_written == len(self.target)
            else:
                reward, terminated = WRONG_REWARD, True
        self._move(move)
        truncated = self.time > self.time_limit
        if truncated:  # the time-out overrides whatever this step wrote
            reward, terminated = TIMEOUT_REWARD, False
        self.episode_return += reward
        if terminated or truncated:
            self.episode_over = True
            self.record_shortfall(self.episode_return - len(self.target))
        return self._read(self.head_row, self.head_col), reward, terminated, truncated, self._info()

    def _validate_action(self, action) -> tuple[int, int, int]:
        try:
            valid = self.action_space.contains(action)
        except (TypeError, OverflowError):  # e.g. a 0-d array, or an int too large for int64
            valid = False
        if not valid:
            moves = ", ".join(f"{i}={name}" for i, name in enumerate(MOVE_NAMES[: self.n_moves]))
            raise ValueError(
                f"invalid action {action!r}: expected (move, write, symbol) in {self.action_space} "
                f"(moves {moves}; write 0 or 1; symbol 0..{self.base - 1})"
            )
        return tuple(int(part) for part in action)

    def _move(self, move: int) -> None:
        d_row, d_col = MOVE_DELTAS[move]
        self.head_row += d_row
        self.head_col += d_col

    def _read(self, row: int, col: int) -> int:
        if 0 <= row < self.n_rows and 0 <= col < self.n_cols:
            return int(self.input_grid[row, col])
        return self.base

    def _info(self) -> dict:
        return {
            "min_length": self.min_length,
            "input_length": self.n_cols,
            "target_length": len(self.target),
            "n_written": self.n_written,
            "solved": self.n_written == len(self.target) and self.time <= self.time_limit,
            "max_return": float(len(self.target)),
            "time": self.time,
            "time_limit": self.time_limit,
        }


def reference_env(task: str) -> AlgorithmicEnv:
    cls = ENV_CLASSES[task]
    return type(f"Reference{cls.__name__}", (ReferenceStep, cls), {})()


def time_steps(envs: tuple[AlgorithmicEnv, AlgorithmicEnv], actions: list[list[int]], seed: int) -> list[float]:
    """Seconds each env spends in ``step`` over ``actions``. The twins step in turn on each action (so a
    change of machine speed hits both alike) and are reset together after each episode, untimed."""
    spent = [0.0, 0.0]
    clock = time.perf_counter
    for env in envs:
        env.reset(seed=seed)
    for action in actions:
        returned = []
        for i, env in enumerate(envs):
            start = clock()
            out = env.step(action)
            spent[i] += clock() - start
            returned.append(out)
        if returned[0] != returned[1]:
            raise SystemExit(f"{type(envs[1]).__name__}: the two steps returned different values on {action}")
        if out[2] or out[3]:
            for env in envs:
                env.reset()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="steps timed per task and repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    reference_us: dict[str, list[float]] = {task: [] for task in TASKS}
    ours_us: dict[str, list[float]] = {task: [] for task in TASKS}
    for _ in range(args.repeats):
        for task in TASKS:
            ours_env, old_env = ENV_CLASSES[task](), reference_env(task)
            sizes = [space.n for space in ours_env.action_space]
            actions = np.stack([rng.integers(n, size=args.steps) for n in sizes], -1).tolist()
            old_s, new_s = time_steps((old_env, ours_env), actions, args.seed)
            reference_us[task].append(old_s / args.steps * 1e6)
            ours_us[task].append(new_s / args.steps * 1e6)
    print(f"{args.steps} steps per task and repeat, {args.repeats} repeats (median), same actions and returns")
    print(f"{'task':<18}{'reference us/step':>18}{'ours us/step':>14}{'speed-up':>10}")
    for task in TASKS:
        old, new = statistics.median(reference_us[task]), statistics.median(ours_us[task])
        print(f"{task:<18}{old:18.2f}{new:14.2f}{old / new:9.2f}x")
    old = statistics.median(sum(reference_us[t][r] for t in TASKS) for r in range(args.repeats))
    new = statistics.median(sum(ours_us[t][r] for t in TASKS) for r in range(args.repeats))
    print(f"{'all tasks (sum)':<18}{old:18.2f}{new:14.2f}{old / new:9.2f}x")


if __name__ == "__main__":
    main()
