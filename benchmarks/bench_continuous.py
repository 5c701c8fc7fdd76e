"""Throughput of the continuous-control agents against Stable-Baselines3, side by side on one task.

    pip install -r benchmarks/requirements.txt      # Stable-Baselines3, a benchmark-only dependency
    python benchmarks/bench_continuous.py [--steps 3000] [--learning-starts 1000] [--repeats 1]
        [--algos SAC TD3 DDPG PMAC] [--env HalfCheetah-v5] [--threads 1] [--device cpu] [--seed 0]
        [--precision fp32 bf16] [--hidden 256 256] [--no-floor]

What is measured: environment steps per second of training, one gradient update per environment
step, in the phase after the uniformly random warm-up (our ``random_steps`` = SB3's
``learning_starts``). Each run trains for ``--steps`` environment steps in total; the clock is a
wrapper around the training environment, the same on both sides, that starts when the first
*policy* action is passed to ``env.step`` (step number ``--learning-starts``, counting from 0).
The clock stops when training is over: for SB3 when ``learn()`` returns, for ours when ``train``
begins its end-of-run evaluation (the evaluation environment's ``reset`` stops the clock and
aborts the run, so no evaluation episode is played or timed). The timed phase thus holds exactly
``steps - learning_starts`` environment steps and as many gradient updates on both sides
(action selection, environment step, replay insert, one sampled batch and update per step; our
metric bookkeeping and SB3's logger calls are included, as they are part of each library's loop).
Model construction, buffer allocation and the warm-up are not timed.

Precision: ours runs at each ``--precision`` (default both: fp32 and ``precision: bf16``, autocast with fp32
master weights), SB3 at fp32 (its default); the table puts ours-bf16, ours-fp32 and SB3-fp32 side by side
with their ratios. Then, unless ``--no-floor``, the floor table (``benchmarks/floor.py``): each agent's update
timed alone on a fixed batch and the time its matmuls alone take at this machine's measured throughput.

Settings, equal on both sides: ``--hidden`` (default 256x256) hidden layers for actor and critics (SB3:
``policy_kwargs=dict(net_arch=hidden)``), batch 256, ``train_freq=1, gradient_steps=1``,
replay capacity = ``--steps``, learning rates 3e-4, gamma 0.99, tau 0.005; TD3: policy delay 2,
target noise 0.2 clipped at 0.5; DDPG/TD3 exploration: Gaussian noise of std 0.1 (SB3:
``NormalActionNoise(0, 0.1)``); SAC: learned temperature (SB3 ``ent_coef="auto"``, ours
``autotune_entropy=True``). Both get the same environment stack (``rlrepro.epmd.continuous.make_env``),
the same ``torch.set_num_threads(--threads)`` and device. PMAC has no SB3 counterpart; its absolute
figure is printed. For each repeat, the algorithms run in turn, ours (each precision) then SB3, so drift in machine
speed hits both alike; the table shows the median (``--stat best``: the fastest) over ``--repeats``,
and every run's figure is printed as it finishes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import gymnasium as gym
import numpy as np
import torch

from floor import FLOOR_HEADER, continuous_update, floor_line
from rlrepro.epmd.continuous import (
    AGENTS,
    ActorCriticConfig,
    ContinuousBudget,
    make_env,
    train,
)

try:
    import stable_baselines3 as sb3
    from stable_baselines3.common.noise import NormalActionNoise
except ImportError:  # benchmark-only dependency
    sb3 = None

SHARED = ("SAC", "TD3", "DDPG")
ALGOS = (*SHARED, "PMAC")
BATCH = 256
LR = 3e-4


class StepClock(gym.Wrapper):
    """Notes the time at which step number ``start_at`` (0-based) is requested."""

    def __init__(self, env: gym.Env, start_at: int):
        super().__init__(env)
        self.start_at, self.calls, self.started = start_at, 0, None

    def step(self, action):
        if self.calls == self.start_at:
            self.started = time.perf_counter()
        self.calls += 1
        return self.env.step(action)


class TrainingOver(Exception):
    """Raised by :class:`StopAtEvaluation` to end our ``train`` before its evaluation."""


class StopAtEvaluation(gym.Wrapper):
    """Evaluation environment for ``train``: its first reset stops the clock and ends the run."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.stopped = None

    def reset(self, **kwargs):
        self.stopped = time.perf_counter()
        raise TrainingOver


def time_ours(algo: str, args, precision: str) -> float:
    env = StepClock(make_env(args.env), args.learning_starts)
    eval_env = StopAtEvaluation(make_env(args.env))
    cfg = ActorCriticConfig(
        precision=precision, hidden_sizes=list(args.hidden), actor_lr=LR, critic_lr=LR, batch_size=BATCH,
        buffer_size=args.steps, random_steps=args.learning_starts, updates_per_step=1, gamma=0.99,
        target_smoothing=0.005, autotune_entropy=True, exploration_noise=0.1, target_policy_noise=0.2,
        target_noise_clip=0.5, policy_delay=2)
    agent = AGENTS[algo](env.observation_space.shape[0], env.action_space.shape[0], cfg, torch.device(args.device))
    budget = ContinuousBudget(total_steps=args.steps, eval_interval=args.steps, eval_episodes=1,
                              checkpoint_interval=10**9)
    try:
        train(agent, env, eval_env, budget, seed=args.seed)
    except TrainingOver:
        pass
    if env.started is None or eval_env.stopped is None or env.calls != args.steps:
        raise RuntimeError(f"ours/{algo}: the run did not go as the timing protocol assumes "
                           f"({env.calls} env steps, clock started: {env.started is not None}, "
                           f"stopped: {eval_env.stopped is not None})")
    return (args.steps - args.learning_starts) / (eval_env.stopped - env.started)


def time_sb3(algo: str, args) -> float:
    env = StepClock(make_env(args.env), args.learning_starts)
    act_dim = env.action_space.shape[0]
    common = {"policy_kwargs": {"net_arch": list(args.hidden)}, "learning_rate": LR, "buffer_size": args.steps,
              "learning_starts": args.learning_starts, "batch_size": BATCH, "tau": 0.005, "gamma": 0.99,
              "train_freq": 1, "gradient_steps": 1, "device": args.device, "seed": args.seed, "verbose": 0}
    noise = NormalActionNoise(mean=np.zeros(act_dim), sigma=0.1 * np.ones(act_dim))
    if algo == "SAC":
        model = sb3.SAC("MlpPolicy", env, ent_coef="auto", target_update_interval=1, **common)
    elif algo == "TD3":
        model = sb3.TD3("MlpPolicy", env, action_noise=noise, policy_delay=2, target_policy_noise=0.2,
                        target_noise_clip=0.5, **common)
    elif algo == "DDPG":
        model = sb3.DDPG("MlpPolicy", env, action_noise=noise, **common)
    else:
        raise ValueError(algo)
    model.learn(total_timesteps=args.steps)
    stopped = time.perf_counter()
    if env.started is None or env.calls != args.steps:
        raise RuntimeError(f"SB3/{algo}: {env.calls} env steps, clock started: {env.started is not None}")
    return (args.steps - args.learning_starts) / (stopped - env.started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="environment steps per run, warm-up included")
    parser.add_argument("--learning-starts", type=int, default=1000,
                        help="random warm-up steps (ours: random_steps, SB3: learning_starts); not timed")
    parser.add_argument("--repeats", type=int, default=1, help="runs per (algorithm, library)")
    parser.add_argument("--stat", choices=("median", "best"), default="median",
                        help="how the repeats are summarised (best = highest steps/s)")
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads on both sides")
    parser.add_argument("--device", default="cpu", help="torch device for both sides, e.g. cpu, cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"],
                        help="our precisions (SB3 runs at fp32)")
    parser.add_argument("--hidden", nargs="+", type=int, default=[256, 256], help="hidden widths, both sides")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor table")
    args = parser.parse_args()
    if not 0 <= args.learning_starts < args.steps:
        parser.error("need 0 <= --learning-starts < --steps")
    if args.repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be >= 1")
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda requested but CUDA is not available")
    if sb3 is None and any(a in SHARED for a in args.algos):
        sys.exit("bench_continuous.py: Stable-Baselines3 is not installed; install it with\n"
                 "    pip install -r benchmarks/requirements.txt")
    torch.set_num_threads(args.threads)
    precisions = list(dict.fromkeys(args.precision))

    print(f"env {args.env}, {args.steps} steps per run ({args.steps - args.learning_starts} timed after "
          f"{args.learning_starts} warm-up steps), networks {'x'.join(map(str, args.hidden))}, device {args.device}, "
          f"torch threads {args.threads}, torch {torch.__version__}, SB3 {sb3.__version__ if sb3 else '-'}, "
          f"repeats {args.repeats} ({args.stat}), ours at {', '.join(precisions)}, SB3 at fp32", flush=True)
    ours: dict[tuple[str, str], list[float]] = {(a, p): [] for a in args.algos for p in precisions}
    theirs: dict[str, list[float]] = {a: [] for a in args.algos if a in SHARED}
    for r in range(args.repeats):
        for algo in args.algos:
            line = f"  repeat {r + 1}  {algo:<5}"
            for p in precisions:
                ours[algo, p].append(time_ours(algo, args, p))
                line += f" ours-{p} {ours[algo, p][-1]:7.1f}"
            if algo in theirs:
                theirs[algo].append(time_sb3(algo, args))
                line += f"   SB3-fp32 {theirs[algo][-1]:7.1f}"
            print(line + " steps/s", flush=True)

    stat = statistics.median if args.stat == "median" else max
    columns = [f"ours-{p}" for p in reversed(precisions)] + ["SB3-fp32"]
    ratios = [f"{p}/SB3" for p in reversed(precisions)] + (["bf16/fp32"] if len(precisions) == 2 else [])
    print(f"\nsteps/s ({args.stat} over repeats) and ratios")
    print(f"{'algorithm':<10}" + "".join(f"{c:>12}" for c in columns + ratios))
    summary = []
    for algo in args.algos:
        mine = {p: stat(ours[algo, p]) for p in precisions}
        ref = stat(theirs[algo]) if algo in theirs else float("nan")
        cells = [mine[p] for p in reversed(precisions)] + [ref] + [mine[p] / ref for p in reversed(precisions)]
        if len(precisions) == 2:
            cells.append(mine["bf16"] / mine["fp32"])
        print(f"{algo:<10}" + "".join(f"{c:12.1f}" if i < len(columns) else f"{c:12.2f}" for i, c in enumerate(cells)))
        parts = [f"ours-{p} {mine[p]:.1f} steps/s" for p in reversed(precisions)]
        if algo in theirs:
            parts.append(f"SB3-fp32 {ref:.1f} steps/s")
            parts += [f"ours-{p}/SB3 = {mine[p] / ref:.2f}" for p in reversed(precisions)]
        else:
            parts.append("no SB3 counterpart")
        summary.append(f"{algo}: " + ", ".join(parts))
    print()
    print("\n".join(summary))

    if not args.no_floor:
        device = torch.device(args.device)
        probe = make_env(args.env)
        dims = probe.observation_space.shape[0], probe.action_space.shape[0]
        print(f"\nfloor: each update alone on a fixed batch (median ms) against its matmuls alone at this machine's "
              f"measured throughput (benchmarks/floor.py)\n{FLOOR_HEADER}")
        for algo in args.algos:
            for p in precisions:
                _, update = continuous_update(algo, args.hidden, p, device, *dims, batch_size=BATCH)
                name = f"{algo} {'x'.join(map(str, args.hidden))} batch {BATCH}"
                print(floor_line(name, p, update, device), flush=True)


if __name__ == "__main__":
    main()
