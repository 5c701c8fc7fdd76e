"""Speed of the MIRL tabular experiment: one paper-scale run per (agent, grid) on one core, the compiled
loop against the pure-numpy loop it replaced, side by side in one process.

    python benchmarks/bench_tabular.py [--repeats 3]

A paper-scale run is 1e5 environment steps with the full evaluation protocol (a snapshot every
1000 steps of 30 episodes of at most 100 steps). The reference is the previous loop (numpy per step),
loaded from git history (REFERENCE_COMMIT, so it needs this repository's git history) and run on
the same agents, grids and seed. Prints the best of ``--repeats`` wall times and their ratio, and the
one-off cost of loading the compiled loop from numba's cache (or compiling it, on a fresh checkout).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

from rlrepro.core.loop import Diverged
from rlrepro.envs.gridworld import GridWorld
from rlrepro.mirl import tabular
from rlrepro.mirl.tabular import AGENTS, Budget, TabularConfig

REFERENCE_COMMIT = "5b34d3977a42731bf96bbcbb06dc38f3f3004645"
"""The last commit with the pure-numpy tabular loop."""

CASES = [
    ("QLearning", {}),
    ("SoftQLearning", {}),
    ("MarginalSoftQLearning", {}),
    ("MIRL", {}),
    ("MIRL", {"soft_form": "clipped", "clip_bound": 700.0}),
]


def reference_tabular() -> types.ModuleType:
    """rlrepro.mirl.tabular (with its soft.py) as of REFERENCE_COMMIT, as a module of its own."""
    repo = Path(__file__).resolve().parents[1]

    def source(path: str) -> str:
        return subprocess.run(["git", "show", f"{REFERENCE_COMMIT}:{path}"], cwd=repo, check=True,
                              capture_output=True, text=True).stdout

    modules = {}
    for name, path in (("reference_soft", "src/rlrepro/mirl/soft.py"),
                       ("reference_tabular", "src/rlrepro/mirl/tabular.py")):
        module = types.ModuleType(name)
        sys.modules[name] = module  # dataclasses look their module up
        code = source(path).replace("from rlrepro.mirl.soft import", "from reference_soft import")
        exec(compile(code, f"{REFERENCE_COMMIT[:7]}:{path}", "exec"), module.__dict__)
        modules[name] = module
    return modules["reference_tabular"]


def time_run(module, agent_name: str, overrides: dict, layout: str, repeats: int) -> tuple[float, str]:
    best, status = float("inf"), "completed"
    for _ in range(repeats):
        env = GridWorld(layout)
        cfg = module.TabularConfig(gamma=0.999, alpha_rho=2e-4, **overrides)
        agent = module.AGENTS[agent_name](env.n_states, env.n_actions, cfg)
        start = time.perf_counter()
        try:
            module.train(agent, env, module.Budget(), seed=0)
        except Diverged as err:
            status = f"diverged at {err.step}"
        best = min(best, time.perf_counter() - start)
    return best, status


def first_call_seconds() -> float:
    """Loading the compiled functions (numba's cache) and one short run: what every job pays once."""
    env = GridWorld("corridor")
    agent = AGENTS["MIRL"](env.n_states, env.n_actions, TabularConfig())
    start = time.perf_counter()
    tabular.train(agent, env, Budget(total_steps=100, eval_interval=100), seed=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    print(f"first call (numba cache load, or compile on a fresh checkout): {first_call_seconds():.2f} s")
    reference = reference_tabular()
    print(f"{'agent':<24}{'form':<10}{'grid':<11}{'compiled s':>10}{'numpy s':>9}{'speed-up':>10}  status")
    ratios = []
    for agent_name, overrides in CASES:
        for layout in ("corridor", "left_once"):
            seconds, status = time_run(tabular, agent_name, overrides, layout, args.repeats)
            ref_seconds, ref_status = time_run(reference, agent_name, overrides, layout, args.repeats)
            ratios.append(ref_seconds / seconds)
            form = overrides.get("soft_form", "stable" if agent_name != "QLearning" else "-")
            print(f"{agent_name:<24}{form:<10}{layout:<11}{seconds:10.3f}{ref_seconds:9.2f}{ratios[-1]:9.1f}x  "
                  f"{status}" + (f" (numpy: {ref_status})" if ref_status != status else ""))
    print(f"geometric mean speed-up: {np.exp(np.mean(np.log(ratios))):.1f}x")


if __name__ == "__main__":
    main()
