"""Learning parity of ``precision: bf16`` against fp32: does bf16 learn as fp32 does, within fp32's seed spread?

    python benchmarks/parity_bf16.py [--part sac dqn] [--seeds 3] [--sac-steps 6000] [--dqn-steps 4000]
        [--dqn-env BreakoutNoFrameskip-v4] [--threads 1]

SAC on Pendulum-v1 (2x64 networks, 1000 random warm-up steps, one update per step; a random policy scores
about -1200 to -1500, a learned one above -400) and DQN on an Atari game (Nature CNN, batch 32, one update per
4 steps after 1000 steps of collection, epsilon decaying to 0.1 over the run), each with seeds 0..n-1 at fp32
and at bf16, through the real training loops. Per seed it prints the final evaluation return (SAC: mean of
the last two snapshots of 5 episodes; DQN: the last snapshot's games) and, for DQN, the mean loss and Q over
the last snapshot's updates (a run this short learns little on Atari: these say more than its return). bf16
is *within fp32's seed spread* when its mean over seeds lies between the lowest and the highest fp32 seed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rlrepro.epmd.continuous import AGENTS, ActorCriticConfig, ContinuousBudget, make_env, train
from rlrepro.mirl import atari

PRECISIONS = ("fp32", "bf16")


def sac_final_return(precision: str, seed: int, steps: int) -> dict[str, float]:
    env, eval_env = make_env("Pendulum-v1"), make_env("Pendulum-v1")
    torch.manual_seed(seed)
    cfg = ActorCriticConfig(hidden_sizes=[64, 64], random_steps=1000, precision=precision)
    agent = AGENTS["SAC"](3, 1, cfg, torch.device("cpu"))
    budget = ContinuousBudget(total_steps=steps, eval_interval=1000, eval_episodes=5, checkpoint_interval=10**9)
    rows = train(agent, env, eval_env, budget, seed=seed)
    return {"final return": float(np.mean([r["eval_return"] for r in rows[-2:]]))}


def dqn_final(precision: str, seed: int, steps: int, env_id: str) -> dict[str, float]:
    spec = {"agent": "DQN", "env": env_id, "seed": seed, "device": "cpu",
            "agent_config": {"buffer_size": steps, "learning_starts": 1000, "epsilon_decay_steps": steps,
                             "target_update_interval": 1000, "loss": "huber", "precision": precision},
            "budget": {"total_steps": steps, "eval_interval": steps, "eval_episodes": 3,
                       "eval_max_frames": 20_000, "checkpoint_interval": 10**12}}
    rows = atari.make_trainer(spec)[0]()
    last = rows[-1]
    return {"final return": last["eval_return"], "loss": last["loss"], "Q": last["q_mean"]}


def report(name: str, results: dict[str, list[dict[str, float]]]) -> list[str]:
    """Per-seed table and the spread verdict of every statistic."""
    keys = list(results["fp32"][0])
    print(f"\n{name}")
    print(f"{'seed':<6}" + "".join(f"{p + ' ' + k:>20}" for k in keys for p in PRECISIONS))
    for seed in range(len(results["fp32"])):
        print(f"{seed:<6}" + "".join(f"{results[p][seed][k]:20.4g}" for k in keys for p in PRECISIONS))
    verdicts = []
    for k in keys:
        fp32 = [r[k] for r in results["fp32"]]
        bf16 = float(np.mean([r[k] for r in results["bf16"]]))
        inside = min(fp32) <= bf16 <= max(fp32)
        verdicts.append(f"{name} {k}: bf16 mean {bf16:.4g}, fp32 seeds {min(fp32):.4g} .. {max(fp32):.4g} "
                        f"(mean {np.mean(fp32):.4g}): {'within' if inside else 'OUTSIDE'} fp32's seed spread")
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", nargs="+", choices=("sac", "dqn"), default=["sac", "dqn"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sac-steps", type=int, default=6000)
    parser.add_argument("--dqn-steps", type=int, default=4000)
    parser.add_argument("--dqn-env", default="BreakoutNoFrameskip-v4")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), seeds 0..{args.seeds - 1}", flush=True)
    verdicts = []
    if "sac" in args.part:
        results = {p: [] for p in PRECISIONS}
        for seed in range(args.seeds):
            for p in PRECISIONS:
                start = time.perf_counter()
                results[p].append(sac_final_return(p, seed, args.sac_steps))
                print(f"  SAC seed {seed} {p}: {results[p][-1]} ({time.perf_counter() - start:.0f} s)", flush=True)
        verdicts += report(f"SAC Pendulum-v1, 2x64, {args.sac_steps} steps", results)
    if "dqn" in args.part:
        results = {p: [] for p in PRECISIONS}
        for seed in range(args.seeds):
            for p in PRECISIONS:
                start = time.perf_counter()
                results[p].append(dqn_final(p, seed, args.dqn_steps, args.dqn_env))
                print(f"  DQN seed {seed} {p}: {results[p][-1]} ({time.perf_counter() - start:.0f} s)", flush=True)
        verdicts += report(f"DQN {args.dqn_env}, {args.dqn_steps} agent steps", results)
    print()
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
