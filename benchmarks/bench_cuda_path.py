"""The CUDA path of the actor-critic agents: does it run, does it learn, how fast is it?

    python benchmarks/bench_cuda_path.py --device cuda [--steps 3000] [--learn-steps 8000] [--precision fp32 bf16]

For each agent (SAC, TD3, DDPG, PMAC), each update path (eager; CUDA graph, the config key
``cuda_graph``) and each precision (the config key ``precision``: fp32, bf16 autocast) it trains
on HalfCheetah-v5 with the paper-scale networks (2x256, batch 256, one update per step) and prints
environment steps per second over the steps after the random warm-up (evaluation excluded). Then it
trains SAC and PMAC on Pendulum-v1 on the same device, eager and graphed, at each precision, and
prints the final evaluation return, to show that each path learns (a random policy scores about
-1200 to -1500 there). Runs on CPU too (``--device cpu``; the graph path is CUDA only).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rlrepro.epmd.continuous import AGENTS, ActorCriticConfig, ContinuousBudget, evaluate, make_env, train


def steps_per_second(algo: str, device: str, graph: bool, steps: int, warmup: int, env_id: str,
                     precision: str) -> float:
    """Env steps per second after warm-up: time to the end of training minus time at warm-up's end."""
    env, eval_env = make_env(env_id), make_env(env_id)
    cfg = ActorCriticConfig(random_steps=warmup, cuda_graph=graph, precision=precision)
    agent = AGENTS[algo](env.observation_space.shape[0], env.action_space.shape[0], cfg, torch.device(device))
    marks = {}

    def progress(n):  # called once per evaluation row; the first row is at the end of warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        marks.setdefault("warm", time.perf_counter())

    budget = ContinuousBudget(total_steps=steps, eval_interval=warmup, eval_episodes=1, checkpoint_interval=10**9)
    rows = train(agent, env, eval_env, budget, seed=0, on_progress=progress)
    if device == "cuda":
        torch.cuda.synchronize()
    end = time.perf_counter()
    # subtract the evaluation episodes that ran after warm-up (one per row after the first)
    eval_time = 0.0
    if len(rows) > 1:
        t0 = time.perf_counter()
        evaluate(agent, eval_env, 1, [0, 0])
        eval_time = (time.perf_counter() - t0) * (len(rows) - 1)
    return (steps - warmup) / (end - marks["warm"] - eval_time)


def learns(algo: str, device: str, graph: bool, steps: int, precision: str) -> float:
    env, eval_env = make_env("Pendulum-v1"), make_env("Pendulum-v1")
    cfg = ActorCriticConfig(hidden_sizes=[64, 64], random_steps=1000, cuda_graph=graph, precision=precision)
    agent = AGENTS[algo](3, 1, cfg, torch.device(device))
    rows = train(agent, env, eval_env, ContinuousBudget(total_steps=steps, eval_interval=1000, eval_episodes=5,
                                                        checkpoint_interval=10**9), seed=0)
    return float(np.mean([r["eval_return"] for r in rows[-2:]]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--learn-steps", type=int, default=8000)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"])
    args = parser.parse_args()
    precisions = list(dict.fromkeys(args.precision))
    torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"device {args.device} ({name}), torch {torch.__version__}, {args.threads} CPU thread(s)")
    graphs = (False, True) if args.device == "cuda" else (False,)
    print(f"\n{'agent':6} {'update path':12} {'precision':>9} {'steps/s':>9}   "
          f"({args.env}, 2x256, batch 256, {args.steps - args.warmup} timed steps)")
    speeds = {}
    for algo in AGENTS:
        for graph in graphs:
            for precision in precisions:
                speeds[algo, graph, precision] = steps_per_second(algo, args.device, graph, args.steps, args.warmup,
                                                                  args.env, precision)
                print(f"{algo:6} {'cuda graph' if graph else 'eager':12} {precision:>9} "
                      f"{speeds[algo, graph, precision]:9.1f}", flush=True)
    for precision in precisions:
        if len(graphs) == 2:
            print(f"\ncuda graph / eager at {precision}: "
                  + ", ".join(f"{a} {speeds[a, True, precision] / speeds[a, False, precision]:.2f}x" for a in AGENTS))
    if len(precisions) == 2:
        for graph in graphs:
            print(f"bf16 / fp32, {'cuda graph' if graph else 'eager'}: "
                  + ", ".join(f"{a} {speeds[a, graph, 'bf16'] / speeds[a, graph, 'fp32']:.2f}x" for a in AGENTS))
    print(f"\nPendulum-v1 after {args.learn_steps} steps (mean of the last two evaluations, 5 episodes each):")
    for algo in ("SAC", "PMAC"):
        for graph in graphs:
            for precision in precisions:
                print(f"{algo:6} {'cuda graph' if graph else 'eager':12} {precision:>9} "
                      f"{learns(algo, args.device, graph, args.learn_steps, precision):9.1f}", flush=True)


if __name__ == "__main__":
    main()
