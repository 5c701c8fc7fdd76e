"""DQN, soft Q-learning (SQL) and MIRL on Atari: Paper A's approximate setting, on one loop.

The three agents share the Nature CNN, the frame replay buffer (:mod:`rlrepro.mirl.replay`) and
:func:`train`. They differ only where their math does:

- the value of the next state in the target of eq. (4): max_a Q_target(s', a) for DQN, the soft
  value of eq. (2) under the prior rho and inverse temperature beta for SQL and MIRL, computed by
  the same stable code as the tabular agents (:func:`rlrepro.mirl.soft.soft_value`);
- the prior rho: uniform for DQN and SQL; learned by MIRL with eq. (7) from pi(.|s_t) at every
  state it acts in;
- beta: SQL and MIRL update it after every gradient step with eq. (8), a running mean of the
  inverse loss.

Behaviour (eq. 5, :func:`rlrepro.mirl.soft.prior_epsilon_greedy`): with probability epsilon an action
drawn from the agent's prior (uniform for DQN and SQL, rho for MIRL), otherwise
argmax_a pi(a|s) = argmax_a log rho(a) + beta Q(s, a). The coin is drawn first and Q(s, .) is computed
only for a greedy action (as Stable-Baselines3 does), except while MIRL trains: eq. (7) needs pi(.|s)
at every state it acts in.
Evaluation plays whole games with unclipped rewards and ``eval_epsilon``; training clips rewards
to their sign and treats the loss of a life as terminal (config keys, Nature-DQN conventions).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlrepro.core.devices import PRECISIONS, autocast, device_description, torch_device
from rlrepro.core.loop import Bookkeeping, ConfigFields, Diverged, TrainState, Window, check_finite
from rlrepro.core.runstore import cpu_copy
from rlrepro.envs.atari import make_atari_env
from rlrepro.mirl.losses import q_regression_loss, td_target
from rlrepro.mirl.replay import FrameReplay
from rlrepro.mirl.soft import beta_update, prior_epsilon_greedy, prior_update, soft_logits, soft_policy, soft_value

# TrainState is imported so that checkpoints pickled as rlrepro.mirl.atari.TrainState still load.

STACK = 4
"""Frames per observation (Nature DQN)."""

@dataclass
class DeepQConfig(ConfigFields):
    """Hyperparameters of the Atari agents (every field is a config override key).

    Paper A gives the target-network period and the two learning rates of eqs. (7) and (8); the
    rest is open there and follows Nature DQN (Mnih et al. 2015) unless a docstring says otherwise.
    """

    gamma: float = 0.99
    """Discount factor (Nature DQN)."""
    learning_rate: float = 1e-4
    """Adam learning rate (CleanRL's DQN on Atari; Nature used RMSProp at 2.5e-4)."""
    loss: str = "mse"
    """'mse' = the squared error of Paper A eq. (4); 'huber' = Nature DQN's clipped error."""
    batch_size: int = 32
    """Transitions per gradient update (Nature DQN)."""
    buffer_size: int = 1_000_000
    """Replay capacity in transitions; each 84x84 frame is stored once (~7 GB at 1M)."""
    learning_starts: int = 50_000
    """Agent steps of pure data collection before the first update (Nature DQN's replay start)."""
    train_frequency: int = 4
    """Agent steps per gradient update (Nature DQN)."""
    target_update_interval: int = 10_000
    """Agent steps between copies of the online network into the target network (Paper A: 1e4)."""
    epsilon_start: float = 1.0
    """Exploration rate at step 0 (Nature DQN)."""
    epsilon_end: float = 0.1
    """Exploration rate after the decay (Nature DQN)."""
    epsilon_decay_steps: int = 1_000_000
    """Agent steps of the linear decay from epsilon_start to epsilon_end (Nature DQN)."""
    noop_max: int = 30
    """Up to this many no-op actions after each reset (Nature DQN)."""
    clip_rewards: bool = True
    """Train on sign(reward) (Nature DQN); evaluation and the logged returns are unclipped."""
    terminal_on_life_loss: bool = True
    """Treat the loss of a life as terminal in the TD target (training only; the game goes on)."""
    beta_init: float = 10.0
    """Initial inverse temperature beta_0 of SQL and MIRL (open in Paper A; ours, untuned)."""
    adapt_beta: bool = True
    """Update beta with eq. (8) after every gradient step (SQL and MIRL); False keeps beta_init."""
    alpha_beta: float = 3.3e-6
    """Step size of eq. (8) (Paper A)."""
    alpha_rho: float = 2e-6
    """Step size of MIRL's prior update, eq. (7) (Paper A)."""
    save_replay_in_checkpoint: bool = True
    """Keep the replay buffer in checkpoints, so a resumed run equals an uninterrupted one
    (about 7 GB per checkpoint at buffer_size 1M); False restarts the buffer empty on resume."""
    precision: str = "fp32"
    """Precision of the update's forward passes: 'fp32', or 'bf16' (autocast: convolutions and matmuls in
    bfloat16, master weights, optimiser state and the loss in fp32); ours, not the paper's. On a CPU with
    AVX512-BF16 a batch-32 update took about 0.6x the fp32 time. Runs of different precisions are never pooled."""
    fused_adam: bool = False
    """Adam's fused kernel (torch's ``fused=True``): one kernel per optimiser step instead of about ten operations
    per parameter tensor (on the 2-core development CPU a step took 1.7 ms instead of 10-13 ms, a quarter of a bf16
    update). Ours, off by default: the weights differ from the default implementation's in the last bits, so
    runs with it are not bit-identical to runs without it."""

    def __post_init__(self):
        if self.loss not in ("mse", "huber"):
            raise ValueError(f"loss must be 'mse' or 'huber', got {self.loss!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for name in ("batch_size", "buffer_size", "train_frequency", "target_update_interval", "epsilon_decay_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.buffer_size < self.batch_size:
            raise ValueError(f"buffer_size ({self.buffer_size}) must be at least batch_size ({self.batch_size})")
        if not self.beta_init > 0:
            raise ValueError(f"beta_init must be positive, got {self.beta_init}")
        for name in ("epsilon_start", "epsilon_end"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass
class AtariBudget:
    """How long to train and how to evaluate (agent steps; one agent step = 4 frames)."""

    total_steps: int = 10_000_000
    """Agent steps per run (this project's paper-scale reference: 10M steps = 40M frames)."""
    eval_interval: int = 250_000
    """Agent steps between evaluation snapshots (one metrics row each)."""
    eval_episodes: int = 10
    """Whole games per snapshot."""
    eval_epsilon: float = 0.05
    """Exploration rate while evaluating (Nature DQN)."""
    eval_max_frames: int = 108_000
    """Frame cap of a game (30 minutes of play, the usual cap)."""
    checkpoint_interval: int = 500_000
    """A checkpoint is written at the first game over after every this many steps."""

    def __post_init__(self):
        if self.eval_interval > self.total_steps:
            raise ValueError(f"eval_interval ({self.eval_interval}) must not exceed total_steps ({self.total_steps})")
        if self.eval_episodes < 1 or self.eval_max_frames < 1:
            raise ValueError("eval_episodes and eval_max_frames must be >= 1")


# ------------------------------------------------------------------------------------------ network

class NatureCNN(nn.Module):
    """The Q-network of Mnih et al. (2015): three convolutions, a 512-unit layer, one output per action."""

    def __init__(self, n_actions: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(STACK, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(),
            nn.Linear(512, n_actions),
        )

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Q(s, .) for uint8 frame stacks of shape (batch, 4, 84, 84), in fp32 (also under bf16 autocast)."""
        return self.net(frames.float() / 255.0).float()


# ------------------------------------------------------------------------------------------- agents

class DQN:
    """Deep Q-learning: greedy max backup, uniform exploration."""

    def __init__(self, n_actions: int, cfg: DeepQConfig, device: torch.device):
        self.n_actions, self.cfg, self.device = n_actions, cfg, device
        self.q = NatureCNN(n_actions).to(device)
        self.target = copy.deepcopy(self.q).requires_grad_(False)
        # foreach: the same numbers as torch's per-tensor default on CPU, in fewer operations
        kernel = {"fused": True} if cfg.fused_adam else {"foreach": True}
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=cfg.learning_rate, **kernel)
        self.rho = np.full(n_actions, 1.0 / n_actions)
        self.log_rho = np.log(self.rho)
        self.beta = cfg.beta_init
        self.updates = 0

    def q_values(self, frames: np.ndarray) -> np.ndarray:
        """Q(s, .) of one uint8 frame stack, as float64 on the host (acting happens there)."""
        with torch.inference_mode():
            q = self.q(torch.from_numpy(frames).to(self.device)[None])[0]
        return q.cpu().numpy().astype(np.float64)

    def preference(self, q: np.ndarray) -> np.ndarray:
        """Scores whose argmax is the greedy action of eq. (5)."""
        return q

    def greedy_action(self, q: np.ndarray) -> int:
        return int(np.argmax(self.preference(q)))

    def act(self, q: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
        """Eq. (5) given Q(s, .): with probability epsilon a draw from the prior, else the greedy action."""
        return prior_epsilon_greedy(rng, epsilon, self.rho, lambda: self.greedy_action(q))

    def act_on(self, frames: Callable[[], np.ndarray], epsilon: float, rng: np.random.Generator) -> int:
        """Eq. (5) at the state whose frame stack ``frames()`` returns. The stack and Q(s, .) are computed
        only when the coin says greedy (the random draws are those of :meth:`act`)."""
        return prior_epsilon_greedy(rng, epsilon, self.rho, lambda: self.greedy_action(self.q_values(frames())))

    def training_action(self, frames: Callable[[], np.ndarray], epsilon: float, rng: np.random.Generator,
                        step: int) -> int:
        """The behaviour at training step ``step`` (MIRL also learns its prior here)."""
        return self.act_on(frames, epsilon, rng)

    def observe_policy(self, q: np.ndarray, step: int) -> None:
        """Learn from Q(s_t, .) of a state acted in during training (MIRL's prior, eq. 7)."""

    def next_value(self, q_next: torch.Tensor) -> torch.Tensor:
        """V(s') in the target of eq. (4)."""
        return q_next.max(dim=-1).values

    def update(self, batch: dict[str, np.ndarray], step: int) -> dict[str, float]:
        """One gradient step on eq. (4) with a batch of transitions."""
        b = {k: torch.as_tensor(v, device=self.device) for k, v in batch.items()}
        with torch.no_grad(), autocast(self.device, self.cfg.precision):
            next_value = self.next_value(self.target(b["next_obs"]))
            target = td_target(b["reward"], b["terminated"], self.cfg.gamma, next_value)
        with autocast(self.device, self.cfg.precision):  # the forward pass; backward and step run outside it
            q = self.q(b["obs"])
            loss = q_regression_loss(q.gather(1, b["action"].unsqueeze(1)).squeeze(1), target, self.cfg.loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        value = loss.item()
        check_finite(step, loss=value)
        self.after_update(value, step)
        return {"loss": value, "q_mean": float(q.detach().mean())}

    def after_update(self, loss: float, step: int) -> None:
        """What changes after each gradient step besides the network (beta, for the soft agents)."""

    def sync_target(self) -> None:
        self.target.load_state_dict(self.q.state_dict())

    def diagnostics(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict:
        return {"q": cpu_copy(self.q.state_dict()), "target": cpu_copy(self.target.state_dict()),
                "optimizer": cpu_copy(self.optimizer.state_dict()), "rho": self.rho.copy(), "beta": self.beta,
                "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.q.load_state_dict(state["q"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.set_prior(state["rho"].copy())
        self.beta, self.updates = state["beta"], state["updates"]

    def set_prior(self, rho: np.ndarray) -> None:
        with np.errstate(divide="ignore"):  # a zero prior mass is a log of -inf: that action is never greedy
            self.rho, self.log_rho = rho, np.log(rho)


class DeepSoftQ(DQN):
    """Soft Q-learning (SQL): the soft backup of eq. (2) under a uniform prior, beta from eq. (8)."""

    def preference(self, q):
        return soft_logits(q, self.log_rho, self.beta)

    def next_value(self, q_next):
        log_rho = torch.as_tensor(self.log_rho, dtype=q_next.dtype, device=q_next.device)
        return soft_value(q_next, log_rho, self.beta)

    def after_update(self, loss, step):
        if self.cfg.adapt_beta:
            self.beta = beta_update(self.beta, loss, self.cfg.alpha_beta)
            if not (math.isfinite(self.beta) and self.beta > 0):
                raise Diverged(step, "beta")

    def diagnostics(self):
        return {"beta": self.beta}


class DeepMIRL(DeepSoftQ):
    """MIRL: soft Q-learning whose prior rho is learned with eq. (7) and explored from."""

    def training_action(self, frames, epsilon, rng, step):
        q = self.q_values(frames())  # eq. (7) needs pi(.|s) at every state acted in, explored or not
        action = self.act(q, epsilon, rng)
        self.observe_policy(q, step)
        return action

    def observe_policy(self, q, step):
        pi = soft_policy(q, self.log_rho, self.beta)
        if not np.isfinite(pi).all():
            raise Diverged(step, "policy pi(.|s)")
        self.set_prior(prior_update(self.rho, pi, self.cfg.alpha_rho))

    def diagnostics(self):
        entropy = -float(np.sum(self.rho * self.log_rho))
        return {**super().diagnostics(), "prior_entropy": entropy, "prior_max": float(self.rho.max())}


AGENTS: dict[str, type[DQN]] = {"DQN": DQN, "DeepSoftQ": DeepSoftQ, "DeepMIRL": DeepMIRL}
"""Agent classes a config's algorithm registry may name."""


# ------------------------------------------------------------------------------------ training loop

def make_env(env_id: str, cfg: DeepQConfig, budget: AtariBudget) -> gym.Env:
    """The training environment: single preprocessed frames (the replay buffer stacks them)."""
    return make_atari_env(env_id, noop_max=cfg.noop_max, max_episode_frames=budget.eval_max_frames)


def make_eval_env(env_id: str, cfg: DeepQConfig, budget: AtariBudget) -> gym.Env:
    """The evaluation environment: the same game and preprocessing, with 4-frame stacks."""
    return gym.wrappers.FrameStackObservation(make_env(env_id, cfg, budget), STACK, padding_type="reset")


def epsilon_at(step: int, cfg: DeepQConfig) -> float:
    """Linear decay from epsilon_start to epsilon_end over epsilon_decay_steps, then constant."""
    fraction = min(step / cfg.epsilon_decay_steps, 1.0)
    return cfg.epsilon_start + fraction * (cfg.epsilon_end - cfg.epsilon_start)


def evaluate(agent: DQN, env: gym.Env, budget: AtariBudget, seed_key: list[int]) -> np.ndarray:
    """Unclipped returns of whole games with eq. (5)'s behaviour at eval_epsilon; game k and its
    exploration draws are seeded from (seed_key, k), so a snapshot is a function of the agent alone."""
    returns = np.zeros(budget.eval_episodes)
    for k in range(budget.eval_episodes):
        seeds = np.random.SeedSequence([*seed_key, k]).generate_state(2)
        rng = np.random.default_rng(seeds[1])
        frames, _ = env.reset(seed=int(seeds[0]))
        done = False
        while not done:
            action = agent.act_on(lambda: np.asarray(frames), budget.eval_epsilon, rng)
            frames, reward, terminated, truncated, _ = env.step(action)
            returns[k] += reward
            done = terminated or truncated
    return returns


def train(
    agent: DQN,
    env: gym.Env,
    eval_env: gym.Env,
    budget: AtariBudget,
    seed: int,
    resume: TrainState | None = None,
    on_checkpoint: Callable[[TrainState], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Train for ``budget.total_steps`` agent steps; one metrics row per ``eval_interval``.

    Raises :class:`Diverged` (with the rows so far) at the first non-finite loss, beta or policy.
    Checkpoints are taken at game overs.
    """
    cfg = agent.cfg
    book = Bookkeeping(budget, resume, on_checkpoint, on_progress)
    buffer = FrameReplay(min(cfg.buffer_size, budget.total_steps + 1), stack=STACK)
    rng = np.random.default_rng(seed)  # exploration and replay sampling
    frame, info, learning_starts = restore(agent, env, buffer, rng, seed, resume)
    window = Window(resume.window if resume else None)
    lives, game_return = info["lives"], 0.0
    with book:
        for t in range(book.start, budget.total_steps):
            action = agent.training_action(buffer.stacked, epsilon_at(t, cfg), rng, t)
            frame, reward, terminated, truncated, info = env.step(action)
            life_lost = cfg.terminal_on_life_loss and info["lives"] < lives
            lives = info["lives"]
            train_reward = float(np.sign(reward)) if cfg.clip_rewards else float(reward)
            buffer.add(action, train_reward, terminated or life_lost, frame)
            game_return += reward

            done = t + 1
            if done > learning_starts and done % cfg.train_frequency == 0:
                for key, value in agent.update(buffer.sample(cfg.batch_size, rng), done).items():
                    window.append(key, value)
            if done % cfg.target_update_interval == 0:
                agent.sync_target()
            if done % budget.eval_interval == 0 or done == budget.total_steps:
                returns = evaluate(agent, eval_env, budget, [seed, done])
                book.log({"step": done, "train_return": window.mean("train_return"),
                          "train_episodes": window.count("train_return"), "loss": window.mean("loss"),
                          "q_mean": window.mean("q_mean"), "updates": agent.updates, "epsilon": epsilon_at(t, cfg),
                          **agent.diagnostics(), "eval_return": float(returns.mean()),
                          "eval_return_std": float(returns.std())}, budget.eval_interval)
                window = Window()
            if terminated or truncated:
                window.append("train_return", game_return)
                game_return = 0.0
                if book.checkpoint_due(done):
                    book.checkpoint(done, agent=agent.state_dict(), window=window.state_dict(),
                                    buffer=buffer.state_dict() if cfg.save_replay_in_checkpoint else None,
                                    rng={"numpy": rng.bit_generator.state, "torch": torch.get_rng_state(),
                                         "env": env.unwrapped.np_random.bit_generator.state})
                frame, info = env.reset()
                buffer.start_episode(frame)
                lives = info["lives"]
    return book.rows


def restore(agent: DQN, env: gym.Env, buffer: FrameReplay, rng: np.random.Generator, seed: int,
            resume: TrainState | None) -> tuple[np.ndarray, dict, int]:
    """Seed a fresh run or restore a checkpoint's state; returns the first frame, its info and the step
    from which the agent learns (later by ``learning_starts`` when the checkpoint kept no replay buffer)."""
    torch.manual_seed(seed)
    if resume is None:
        frame, info = env.reset(seed=seed)
    else:
        agent.load_state_dict(resume.agent)
        if resume.buffer is not None:
            buffer.load_state_dict(resume.buffer)
        rng.bit_generator.state = resume.rng["numpy"]
        torch.set_rng_state(resume.rng["torch"])
        env.unwrapped.np_random.bit_generator.state = resume.rng["env"]
        frame, info = env.reset()
    buffer.start_episode(frame)
    refill = resume is not None and resume.buffer is None
    return frame, info, (resume.step if refill else 0) + agent.cfg.learning_starts


def make_trainer(spec: dict):
    """(train function, total steps, device description) for a DQN/SQL/MIRL Atari run."""
    device = torch_device(spec)
    cfg, budget = DeepQConfig(**spec["agent_config"]), AtariBudget(**spec["budget"])
    env, eval_env = make_env(spec["env"], cfg, budget), make_eval_env(spec["env"], cfg, budget)
    torch.manual_seed(spec["seed"])  # the initial networks depend on the seed alone
    agent = AGENTS[spec["agent"]](env.action_space.n, cfg, torch.device(device))

    def fit(**kwargs):
        return train(agent, env, eval_env, budget, spec["seed"], **kwargs)

    return fit, budget.total_steps, device_description(device)
