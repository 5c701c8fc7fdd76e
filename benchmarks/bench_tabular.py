"""Speed of the MIRL tabular experiment: one paper-scale run per (agent, grid) on one core.

    python benchmarks/bench_tabular.py [--repeats 3]

A paper-scale run is 1e5 environment steps with the full evaluation protocol (a snapshot every
1000 steps of 30 episodes of at most 100 steps). The target is at most 3 s per run on one core.
There is no reference library for these tabular agents; the side-by-side comparison is between our
stable soft value and the literal (naive/clipped) forms the reproduction used, at equal work.
Prints a table of the best of ``--repeats`` wall times.
"""

from __future__ import annotations

import argparse
import os
import time

from rlrepro.core.loop import Diverged
from rlrepro.envs.gridworld import GridWorld
from rlrepro.mirl.tabular import AGENTS, Budget, TabularConfig, train

CASES = [
    ("QLearning", {}),
    ("SoftQLearning", {}),
    ("MarginalSoftQLearning", {}),
    ("MIRL", {}),
    ("MIRL", {"soft_form": "clipped", "clip_bound": 700.0}),
]


def time_run(agent_name: str, overrides: dict, layout: str, repeats: int) -> tuple[float, str]:
    best, status = float("inf"), "completed"
    for _ in range(repeats):
        env = GridWorld(layout)
        agent = AGENTS[agent_name](env.n_states, env.n_actions, TabularConfig(gamma=0.999, alpha_rho=2e-4, **overrides))
        start = time.perf_counter()
        try:
            train(agent, env, Budget(), seed=0)
        except Diverged as err:
            status = f"diverged at {err.step}"
        best = min(best, time.perf_counter() - start)
    return best, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    print(f"{'agent':<24}{'form':<10}{'grid':<11}{'seconds':>8}  {'steps/s':>9}  vs 3 s target  status")
    for agent_name, overrides in CASES:
        for layout in ("corridor", "left_once"):
            seconds, status = time_run(agent_name, overrides, layout, args.repeats)
            form = overrides.get("soft_form", "stable" if agent_name != "QLearning" else "-")
            print(f"{agent_name:<24}{form:<10}{layout:<11}{seconds:8.2f}  {Budget().total_steps / seconds:9.0f}  "
                  f"{seconds / 3.0:10.2f}x    {status}")


if __name__ == "__main__":
    main()
