"""Throughput of our Atari DQN against Stable-Baselines3's DQN, side by side on one game.

    pip install -r benchmarks/requirements.txt      # Stable-Baselines3, a benchmark-only dependency
    python benchmarks/bench_atari.py [--warmup 1000] [--steps 2000] [--repeats 1]
        [--env PongNoFrameskip-v4] [--agent DQN] [--sb3-q-every-step] [--threads 1] [--device cpu] [--seed 0]
        [--precision fp32 bf16] [--fused-adam] [--no-floor]

What is measured: agent steps per second (one agent step = 4 emulator frames) in two phases of one
training run of ``--warmup + --steps`` agent steps:

- acting: the first ``--warmup`` steps, before any gradient update (our ``learning_starts`` = SB3's
  ``learning_starts`` = ``--warmup``): action selection, environment step, replay insert. This is
  the per-step overhead of each loop. SB3 acts uniformly at random there, whatever its epsilon; ours
  acts at ``--acting-epsilon`` (default 1.0, the same behaviour; a real run of ours starts at
  ``epsilon_start`` = 1.0 and is above 0.95 throughout its 50k-step warm-up), then at ``--epsilon``.
- learning: the ``--steps`` steps after the warm-up, with one gradient update every 4 steps on a
  batch of 32 (``--steps / 4`` updates), the phase that dominates a real run.

The clock is a wrapper around the training environment, at the agent-step level on both sides
(ours: around the preprocessed single-frame env that ``rlrepro.mirl.atari.train`` steps; SB3: a
``VecEnvWrapper`` outside ``VecFrameStack``), that notes the time at which agent step 0 and agent
step ``--warmup`` (counting from 0) are requested. The acting phase runs between these two marks;
the learning phase from the second mark until training is over: for SB3 when ``learn()`` returns,
for ours when ``train`` begins its end-of-run evaluation. Our side runs the real loop,
``rlrepro.mirl.atari.train``, with a budget of ``eval_interval = total_steps``, so the only evaluation
it would play is the one at the very end; its evaluation environment's ``reset`` stops the clock
and aborts the run, so no evaluation episode is played or timed (nothing is subtracted). Our metric
bookkeeping and SB3's ``logger.record`` calls are included, as they are part of each loop; SB3
runs with ``verbose=0`` and no progress bar. Model construction, buffer allocation and the first
``reset`` are not timed.

Settings, equal on both sides: the Nature CNN (three convolutions, a 512-unit layer, a linear Q
head; SB3 ``"CnnPolicy"`` = ``NatureCNN`` features + ``Linear(512, n_actions)``; the script checks
that both Q-networks have the same parameter count and prints it), batch 32, ``train_freq=4``, one
gradient step per update, Adam at lr 1e-4, gamma 0.99, Huber loss (ours ``loss="huber"``; SB3's
DQN always uses ``smooth_l1_loss``), replay capacity = ``--warmup + --steps`` (no overwriting),
target network copied every ``--target-update`` steps (SB3 ``tau=1.0``), a constant exploration
rate ``--epsilon`` after the warm-up (ours ``epsilon_start = epsilon_end``; SB3 ``exploration_initial_eps =
exploration_final_eps``; 0.1 is Nature DQN's final rate, at which most of a real run is played),
uniformly random actions in the warm-up (see "acting" above),
``torch.set_num_threads(--threads)``, the device, and ``torch.use_deterministic_algorithms`` on CPU
(as ``rlrepro.train`` sets it for our real runs). Each repeat runs ours, then SB3, so drift in
machine speed hits both alike; the table shows the median over ``--repeats`` (``--stat best``:
the fastest), and every run's figures are printed as it finishes.

Precision: ours runs at each ``--precision`` (default both: fp32 and ``precision: bf16``, autocast of the
update's forward passes with fp32 master weights; acting stays fp32), SB3 at fp32, its default; the table puts
ours-bf16, ours-fp32 and SB3-fp32 side by side per phase with their ratios (``--device cuda`` runs both
precisions too). Then, unless ``--no-floor``, the floor table (``benchmarks/floor.py``): our update alone on a
fixed batch of 32 and the time its convolutions and matmuls alone take at this machine's measured throughput.
``--fused-adam`` runs ours with ``fused_adam: true`` (Adam's fused kernel: one kernel per optimiser step
instead of the per-tensor operations that torch's default runs on CPU, and SB3 too; the same update up to
rounding), at every precision; SB3 keeps its default.

Differences that remain, as each library does it:

- Acting. Both compute Q(s, .) only when the action is greedy: SB3 draws a uniformly random action
  without a forward pass during the warm-up and, when it explores (probability epsilon), afterwards;
  ours draws eq. (5)'s coin first and computes the frame stack and Q only when it says greedy (DQN
  and SQL; MIRL's prior update needs pi(.|s), so ``--agent DeepMIRL`` computes Q at every step).
  ``--acting-epsilon 0.1`` shows the acting phase of ours with a forward pass on 90% of the steps.
  ``--sb3-q-every-step`` gives SB3 the same work in its warm-up: its policy computes Q(s, .) at every step
  (``policy.predict``, greedy, no random draw), then SB3 acts uniformly at random as before; with
  ``--agent DeepMIRL`` both sides then run one forward pass per acting step.
- Preprocessing. Ours: gymnasium's ``AtariPreprocessing`` (up to 30 no-ops on reset, frame skip
  4 with the max of the last two frames, grayscale read from the emulator, 84x84), one frame per
  step, stacked by the replay buffer (``FrameReplay``, each frame stored once); reward clipping and
  life loss as terminal are done in the loop. SB3: ``make_atari_env`` = ``Monitor`` +
  ``AtariWrapper`` (no-op reset, ``MaxAndSkipEnv`` on RGB frames, ``EpisodicLifeEnv``,
  ``FireResetEnv`` for games with FIRE such as Pong, RGB->grayscale and 84x84 with OpenCV,
  ``ClipRewardEnv``), then ``VecFrameStack(n_stack=4)`` and SB3's automatic ``VecTransposeImage``
  (channel-last to channel-first copy at every step). Both cap a game at 108,000 frames.
- Replay. SB3 stores whole 4-frame stacks. By default it runs with ``optimize_memory_usage=True``
  (one stored stack per step, the next observation read from the next slot; requires
  ``handle_timeout_termination=False``), the SB3 variant closest to our store-once buffer and the
  only one that fits a 1M-step buffer in memory (28 GB instead of 56 GB);
  ``--sb3-optimize-memory no`` selects the default SB3 buffer, which stores every stack twice.
- Updates. SB3 always clips the gradient norm (``max_grad_norm=10``, the default, kept); ours
  does not clip. SB3 updates the target network with ``polyak_update(tau=1)``, ours with
  ``load_state_dict``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import gymnasium as gym
import torch

from rlrepro.envs.atari import check_game
from rlrepro.mirl.atari import (
    AGENTS,
    AtariBudget,
    DeepQConfig,
    make_env,
    make_eval_env,
    train,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_continuous import StopAtEvaluation, TrainingOver  # noqa: E402 (the same clock as the continuous benchmark)
from floor import FLOOR_HEADER, atari_update, floor_line  # noqa: E402

try:
    import stable_baselines3 as sb3
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecEnvWrapper, VecFrameStack
except ImportError:  # benchmark-only dependency
    sb3 = None
    VecEnvWrapper = object

BATCH = 32
TRAIN_FREQ = 4
LR = 1e-4
GAMMA = 0.99
MAX_GAME_FRAMES = 108_000
PHASES = ("acting", "learning")


class Marks:
    """Times at which agent steps number ``at`` (0-based) are requested."""

    def __init__(self, at: tuple[int, ...]):
        self.times: dict[int, float] = {}
        self.at, self.calls = frozenset(at), 0

    def tick(self) -> None:
        if self.calls in self.at:
            self.times[self.calls] = time.perf_counter()
        self.calls += 1


class StepClock(gym.Wrapper):
    """Our training environment, with :class:`Marks` on its ``step``."""

    def __init__(self, env: gym.Env, at: tuple[int, ...]):
        super().__init__(env)
        self.marks = Marks(at)

    def step(self, action):
        self.marks.tick()
        return self.env.step(action)


class VecStepClock(VecEnvWrapper):
    """SB3's training VecEnv (one environment), with :class:`Marks` on its ``step_async``."""

    def __init__(self, venv, at: tuple[int, ...]):
        super().__init__(venv)
        self.marks = Marks(at)

    def step_async(self, actions) -> None:
        self.marks.tick()
        self.venv.step_async(actions)

    def step_wait(self):
        return self.venv.step_wait()

    def reset(self):
        return self.venv.reset()


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def phase_rates(marks: Marks, stopped: float, args) -> dict[str, float]:
    """Steps/s of both phases from the clock marks and the end of training."""
    start, learn = marks.times[0], marks.times[args.warmup]
    return {"acting": args.warmup / (learn - start), "learning": args.steps / (stopped - learn)}


def explores_while_acting(agent_class: type, acting_epsilon: float) -> type:
    """``agent_class`` acting at ``acting_epsilon`` before its first update (the acting phase), as SB3 acts
    uniformly at random then; the loop and the rest of the behaviour are unchanged."""

    class Agent(agent_class):
        def training_action(self, frames, epsilon, rng, step):
            warming_up = step < self.cfg.learning_starts
            return super().training_action(frames, acting_epsilon if warming_up else epsilon, rng, step)

    return Agent


def time_ours(args, precision: str) -> tuple[dict[str, float], int]:
    total = args.warmup + args.steps
    cfg = DeepQConfig(
        precision=precision, gamma=GAMMA, learning_rate=LR, loss="huber", batch_size=BATCH, buffer_size=total,
        learning_starts=args.warmup, train_frequency=TRAIN_FREQ, target_update_interval=args.target_update,
        epsilon_start=args.epsilon, epsilon_end=args.epsilon, noop_max=30, clip_rewards=True,
        terminal_on_life_loss=True, save_replay_in_checkpoint=False, fused_adam=args.fused_adam)
    budget = AtariBudget(total_steps=total, eval_interval=total, eval_episodes=1,
                         eval_max_frames=MAX_GAME_FRAMES, checkpoint_interval=10**12)
    env = StepClock(make_env(args.env, cfg, budget), (0, args.warmup))
    eval_env = StopAtEvaluation(make_eval_env(args.env, cfg, budget))
    torch.manual_seed(args.seed)
    agent_class = explores_while_acting(AGENTS[args.agent], args.acting_epsilon)
    agent = agent_class(env.action_space.n, cfg, torch.device(args.device))
    try:
        train(agent, env, eval_env, budget, seed=args.seed)
    except TrainingOver:
        pass
    marks = env.marks
    if len(marks.times) != 2 or eval_env.stopped is None or marks.calls != total \
            or agent.updates != args.steps // TRAIN_FREQ:
        raise RuntimeError(f"ours/{args.agent}: the run did not go as the timing protocol assumes "
                           f"({marks.calls} agent steps, {agent.updates} updates, marks {sorted(marks.times)}, "
                           f"stopped: {eval_env.stopped is not None})")
    return phase_rates(marks, eval_env.stopped, args), n_params(agent.q)


def sb3_q_every_step(algorithm: type) -> type:
    """SB3's DQN that also computes Q(s, .) (its policy's greedy action) at every warm-up step before acting
    at random as usual: the work per step of an agent whose behaviour needs Q everywhere, such as MIRL (eq. 7)."""

    class QEveryStep(algorithm):
        def _sample_action(self, learning_starts, action_noise=None, n_envs=1):
            if self.num_timesteps < learning_starts:
                self.policy.predict(self._last_obs, deterministic=True)  # no random draw: the actions are unchanged
            return super()._sample_action(learning_starts, action_noise, n_envs)

    return QEveryStep


def time_sb3(args) -> tuple[dict[str, float], int]:
    total = args.warmup + args.steps
    venv = make_atari_env(args.env, n_envs=1, seed=args.seed, env_kwargs={"max_episode_steps": MAX_GAME_FRAMES})
    venv = VecStepClock(VecFrameStack(venv, n_stack=4), (0, args.warmup))
    optimize = args.sb3_optimize_memory == "yes"
    algorithm = sb3_q_every_step(sb3.DQN) if args.sb3_q_every_step else sb3.DQN
    model = algorithm(
        "CnnPolicy", venv, learning_rate=LR, buffer_size=total, learning_starts=args.warmup, batch_size=BATCH,
        tau=1.0, gamma=GAMMA, train_freq=TRAIN_FREQ, gradient_steps=1, target_update_interval=args.target_update,
        exploration_initial_eps=args.epsilon, exploration_final_eps=args.epsilon,
        optimize_memory_usage=optimize, replay_buffer_kwargs={"handle_timeout_termination": not optimize},
        device=args.device, seed=args.seed, verbose=0)
    model.learn(total_timesteps=total)
    stopped = time.perf_counter()
    marks = venv.marks
    if len(marks.times) != 2 or marks.calls != total or model._n_updates != args.steps // TRAIN_FREQ:
        raise RuntimeError(f"SB3/DQN: {marks.calls} agent steps, {model._n_updates} updates, "
                           f"marks {sorted(marks.times)}")
    return phase_rates(marks, stopped, args), n_params(model.q_net)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=int, default=1000,
                        help="agent steps before the first update (both sides' learning_starts); the acting phase")
    parser.add_argument("--steps", type=int, default=2000,
                        help="agent steps timed after the warm-up (one update per 4); the learning phase")
    parser.add_argument("--repeats", type=int, default=1, help="runs per library")
    parser.add_argument("--stat", choices=("median", "best"), default="median",
                        help="how the repeats are summarised (best = highest steps/s)")
    parser.add_argument("--env", default="PongNoFrameskip-v4", help="a <Game>NoFrameskip-v4 id")
    parser.add_argument("--agent", default="DQN", choices=sorted(AGENTS),
                        help="our agent (SB3's side is always its DQN)")
    parser.add_argument("--epsilon", type=float, default=0.1,
                        help="constant exploration rate on both sides after the warm-up")
    parser.add_argument("--acting-epsilon", type=float, default=1.0,
                        help="our exploration rate in the warm-up (SB3 acts uniformly at random there: 1.0)")
    parser.add_argument("--target-update", type=int, default=1000, help="agent steps between target-network copies")
    parser.add_argument("--sb3-optimize-memory", choices=("yes", "no"), default="yes",
                        help="SB3's optimize_memory_usage (yes: one stored stack per step)")
    parser.add_argument("--sb3-q-every-step", action="store_true",
                        help="SB3 computes Q(s, .) at every warm-up step (the acting work of --agent DeepMIRL)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads on both sides")
    parser.add_argument("--device", default="cpu", help="torch device for both sides, e.g. cpu, cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"],
                        help="our precisions (SB3 runs at fp32)")
    parser.add_argument("--fused-adam", action="store_true",
                        help="ours with fused_adam: true (Adam's fused kernel) at every precision; SB3: its default")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor table")
    args = parser.parse_args()
    if args.warmup < BATCH or args.steps < TRAIN_FREQ:
        parser.error(f"need --warmup >= {BATCH} (one batch) and --steps >= {TRAIN_FREQ}")
    if args.repeats < 1 or args.threads < 1 or args.target_update < 1:
        parser.error("--repeats, --threads and --target-update must be >= 1")
    if not (0.0 <= args.epsilon <= 1.0 and 0.0 <= args.acting_epsilon <= 1.0):
        parser.error("--epsilon and --acting-epsilon must be in [0, 1]")
    try:
        check_game(args.env)  # also registers the ALE games with gymnasium, for SB3's gym.make
    except ValueError as err:
        parser.error(str(err))
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda requested but CUDA is not available")
    if sb3 is None:
        sys.exit("bench_atari.py: Stable-Baselines3 is not installed; install it with\n"
                 "    pip install -r benchmarks/requirements.txt")
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(torch.device(args.device).type == "cpu")
    precisions = list(dict.fromkeys(args.precision))

    device = torch.cuda.get_device_name() if torch.device(args.device).type == "cuda" else "cpu"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {cpus} CPUs usable ({os.cpu_count()} present, {platform.machine()}), "
          f"device {args.device} ({device}), torch {torch.__version__}, torch threads {args.threads}, "
          f"SB3 {sb3.__version__}")
    print(f"env {args.env}, ours {args.agent} vs SB3 DQN, {args.warmup} acting steps then {args.steps} learning "
          f"steps ({args.steps // TRAIN_FREQ} updates of batch {BATCH}), epsilon {args.epsilon} (ours while acting: "
          f"{args.acting_epsilon}; SB3: uniformly random), target update "
          f"every {args.target_update}, SB3 optimize_memory_usage={args.sb3_optimize_memory == 'yes'}, "
          f"repeats {args.repeats} ({args.stat}), ours at {', '.join(precisions)}"
          f"{' with fused Adam' if args.fused_adam else ''}, SB3 at fp32"
          f"{' computing Q at every warm-up step' if args.sb3_q_every_step else ''}", flush=True)
    ours: dict[tuple[str, str], list[float]] = {(p, q): [] for p in PHASES for q in precisions}
    theirs: dict[str, list[float]] = {p: [] for p in PHASES}
    for r in range(args.repeats):
        mine = {}
        for q in precisions:
            mine[q], params_ours = time_ours(args, q)
        ref, params_sb3 = time_sb3(args)
        if r == 0:
            print(f"  Q-network parameters: ours {params_ours:,}, SB3 {params_sb3:,}")
            if params_ours != params_sb3:
                sys.exit("bench_atari.py: the two Q-networks differ in size; the comparison is void")
        for p in PHASES:
            theirs[p].append(ref[p])
            for q in precisions:
                ours[p, q].append(mine[q][p])
        print(f"  repeat {r + 1}  " + "   ".join(
            f"{p}: " + ", ".join(f"ours-{q} {mine[q][p]:.1f}" for q in precisions) + f", SB3-fp32 {ref[p]:.1f}"
            for p in PHASES) + " steps/s", flush=True)

    stat = statistics.median if args.stat == "median" else max
    columns = [f"ours-{q}" for q in reversed(precisions)] + ["SB3-fp32"]
    ratios = [f"{q}/SB3" for q in reversed(precisions)] + (["bf16/fp32"] if len(precisions) == 2 else [])
    print(f"\nsteps/s ({args.stat} over repeats) and ratios")
    print(f"{'phase':<10}" + "".join(f"{c:>12}" for c in columns + ratios))
    summary = []
    for p in PHASES:
        mine = {q: stat(ours[p, q]) for q in precisions}
        ref = stat(theirs[p])
        cells = [mine[q] for q in reversed(precisions)] + [ref] + [mine[q] / ref for q in reversed(precisions)]
        if len(precisions) == 2:
            cells.append(mine["bf16"] / mine["fp32"])
        print(f"{p:<10}" + "".join(f"{c:12.1f}" if i < len(columns) else f"{c:12.2f}" for i, c in enumerate(cells)))
        summary.append(f"{p}: " + ", ".join(f"ours-{q} {mine[q]:.1f}" for q in reversed(precisions))
                       + f", SB3-fp32 {ref:.1f} steps/s; "
                       + ", ".join(f"ours-{q}/SB3 = {mine[q] / ref:.2f}" for q in reversed(precisions)))
    print()
    print("\n".join(summary))

    if not args.no_floor:
        device = torch.device(args.device)
        print(f"\nfloor: our update alone on a fixed batch (median ms) against its convolutions and matmuls alone at "
              f"this machine's measured throughput (benchmarks/floor.py)\n{FLOOR_HEADER}")
        for q in precisions:
            _, update = atari_update(args.agent, q, device, batch_size=BATCH, fused_adam=args.fused_adam)
            print(floor_line(f"{args.agent} Nature CNN batch {BATCH}", q, update, device, repeats=10, replays=10),
                  flush=True)


if __name__ == "__main__":
    main()
