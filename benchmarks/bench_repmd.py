"""Seconds per run of the default config's algorithmic experiment (REPMD, MENT, UREX on the six tasks).

    python benchmarks/bench_repmd.py [--steps 100000] [--seed 0]

No maintained reference implementation of these agents or tasks exists, so there is nothing to run
side by side; this measures what the default pipeline's budget rests on (one torch thread, as the
train rule runs it).
"""

import argparse
import time

import torch

from rlrepro.envs.algorithmic import TASKS
from rlrepro.epmd.algorithmic import make_trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    total = 0.0
    print(f"{'task':<18} {'agent':<6} {'seconds':>8} {'steps/s':>8} {'return':>7} {'solved':>6} {'length':>6}")
    for task in TASKS:
        for agent in ("REPMD", "MENT", "UREX"):
            budget = {"total_steps": args.steps, "eval_interval": args.steps // 20, "eval_episodes": 20,
                      "checkpoint_interval": args.steps}
            fit, *_ = make_trainer({"env": task, "seed": args.seed, "agent": agent, "agent_config": {},
                                           "budget": budget})
            start = time.perf_counter()
            last = fit()[-1]
            seconds = time.perf_counter() - start
            total += seconds
            print(f"{task:<18} {agent:<6} {seconds:8.1f} {last['env_steps'] / seconds:8.0f} {last['eval_return']:7.2f} "
                  f"{last['eval_solve_rate']:6.2f} {last['curriculum_length']:6d}", flush=True)
    print(f"total {total:.0f} s for {3 * len(TASKS)} runs")


if __name__ == "__main__":
    main()
