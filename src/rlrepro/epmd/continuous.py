"""EPMD's continuous-control experiment: PMAC against SAC, TD3 and DDPG, on one skeleton.

Shared by all four: the replay buffer, the networks (:mod:`rlrepro.epmd.networks`), the environment loop
with uniformly random warm-up actions, evaluation of the deterministic policy, checkpoints, metrics (the
loop's bookkeeping is :mod:`rlrepro.core.loop`'s). They differ only in ``update`` (their losses, all in
:mod:`rlrepro.epmd.losses`) and in how they pick actions:

=====  =======================  ==============================  ==========================================
agent  actor                    critic target                   actor update
=====  =======================  ==============================  ==========================================
DDPG   deterministic + noise    Q'(s', mu'(s'))                 -Q(s, mu(s))
TD3    deterministic + noise    min of twin Q' at smoothed a'   -Q1(s, mu(s)), every policy_delay updates
SAC    squashed Gaussian        min Q' - alpha log pi (a'~pi)   alpha log pi - min Q (reparameterised)
PMAC   squashed Gaussian        V'(s') (value network)          reverse KL to pi*, a ~ pi_bar (seed eq. 7, 8)
=====  =======================  ==============================  ==========================================

Actions live in [-1, 1]^d inside the agents; :func:`make_env` rescales them to the task's bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlrepro.core.devices import PRECISIONS, autocast, device_description, torch_device
from rlrepro.core.loop import Bookkeeping, ConfigFields, TrainState, Window, check_finite
from rlrepro.core.runstore import cpu_copy
from rlrepro.epmd import losses
from rlrepro.epmd.cuda_graph import GraphedUpdate
from rlrepro.epmd.networks import (
    Critics,
    DeterministicActor,
    GaussianActor,
    frozen,
    frozen_copy,
    mlp,
    sample_squashed,
)

# TrainState is imported so that checkpoints pickled as rlrepro.epmd.continuous.TrainState still load.

ENVS = ("Pendulum-v1", "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5")
"""The tasks: Pendulum (the seed report's sanity task) and the paper's five MuJoCo tasks (v5, the
maintained successors of the paper's v2)."""


PMAC_VALUES = ("soft_mean", "log_partition")
"""The readings of PMAC's V(s): see ActorCriticConfig.pmac_value."""


@dataclass
class ActorCriticConfig(ConfigFields):
    """Hyperparameters of the actor-critic agents (every field is a config override key).

    The EPMD paper gives none of the shared ones; the defaults are SAC v1's (papers.md [code]).
    """

    gamma: float = 0.99
    """Discount factor."""
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])
    """Hidden layer widths of every network (actor, critics, value)."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critics (and of PMAC's value network, SAC's temperature)."""
    batch_size: int = 256
    """Transitions per gradient update."""
    buffer_size: int = 1_000_000
    """Replay capacity (transitions)."""
    random_steps: int = 5000
    """Warm-up steps with uniformly random actions before the first update."""
    updates_per_step: int = 1
    """Gradient updates per environment step; 1 per the first author (the paper's text says 100)."""
    target_smoothing: float = 0.005
    """Polyak rate of the target networks."""
    # SAC
    entropy_coef: float = 0.2
    """SAC's temperature alpha (its initial value when autotuned)."""
    autotune_entropy: bool = True
    """SAC v2's learned temperature, towards entropy -action_dim."""
    # DDPG, TD3
    exploration_noise: float = 0.1
    """Std of the Gaussian noise on DDPG's and TD3's actions during training (in [-1, 1] units)."""
    target_policy_noise: float = 0.2
    """TD3's target policy smoothing noise std."""
    target_noise_clip: float = 0.5
    """TD3's bound on the smoothing noise."""
    policy_delay: int = 2
    """TD3 updates the actor and targets once per this many critic updates."""
    # PMAC
    kl_coef: float = 1.0
    """tau, the weight of KL(pi || pi_bar) in EPMD's objective (open in the paper)."""
    pmac_entropy_coef: float = 0.2
    """tau', the weight of the entropy bonus in EPMD's objective (open in the paper)."""
    clamp_target_weight: bool = True
    """Clamp PMAC's target weight to [0, target_weight_max] (first author's code, not the paper)."""
    target_weight_max: float = 0.9
    """Upper end of that clamp."""
    mean_penalty: float = 1e-3
    """Coefficient of E[mu^2] in PMAC's policy loss (first author's code; 0 = off)."""
    std_penalty: float = 1e-3
    """Coefficient of PMAC's penalty on the Gaussian scale (first author's code; 0 = off); its form is
    std_penalty_form."""
    std_penalty_form: str = "sigma_squared"
    """Form of that penalty: 'sigma_squared', E[sum sigma^2], which shrinks sigma (the seed report's wording of the
    first author's code); 'log_sigma_squared', 0.5 E[mean (log sigma)^2], which pulls sigma towards 1 (SAC v1's
    code)."""
    pmac_value: str = "soft_mean"
    """PMAC's V(s) (open in the paper): 'soft_mean', a value network regressed to min Q - tau' log pi_bar at
    a ~ pi_bar (SAC v1's value, which does not normalise the weight), in the weight and (Polyak copy) the critics'
    target; 'log_partition', (tau + tau') log E_{pi_bar} exp((min Q - tau' log pi_bar)/(tau + tau')), the
    log-normaliser of pi*, estimated from pmac_value_samples actions per state: that estimate in the weight, and
    the value network regressed to it for the critics' target."""
    pmac_value_samples: int = 8
    """Actions drawn from pi_bar per state for the 'log_partition' estimate (ignored by 'soft_mean', which uses the
    policy loss's one action as SAC v1 does); the first is the policy loss's. The logsumexp of N samples
    underestimates the log-partition by a Jensen gap that shrinks like 1/N, at N critic forward passes on the batch.
    8: a 10k-step Pendulum run (2x64 networks, 1 CPU thread) took 46 s against 38-41 s for 'soft_mean', where 16
    took 81 s."""
    # Gaussian policies
    log_std_min: float = -20.0
    """Lower clamp of the Gaussian policies' log std (SAC v1)."""
    log_std_max: float = 2.0
    """Upper clamp of the Gaussian policies' log std (SAC v1)."""
    # Speed
    cuda_graph: bool = False
    """On CUDA, capture each update in a CUDA graph and replay it (fewer kernel launches); ignored on CPU."""
    precision: str = "fp32"
    """Precision of the updates' forward passes: 'fp32', or 'bf16' (autocast: matmuls in bfloat16, master
    weights, optimiser state and losses in fp32). Acting stays fp32. bf16 pays off where the matmuls dominate
    (2x256 networks on a CPU with AVX512-BF16); 2x64 networks gain little. Claims never pool precisions."""

    def __post_init__(self):
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be a non-empty list of positive widths, got {self.hidden_sizes}")
        if self.updates_per_step < 1 or self.policy_delay < 1 or self.batch_size < 1:
            raise ValueError("updates_per_step, policy_delay and batch_size must be >= 1")
        if self.buffer_size < self.batch_size:
            raise ValueError(f"buffer_size ({self.buffer_size}) must be at least batch_size ({self.batch_size})")
        if self.pmac_value not in PMAC_VALUES:
            raise ValueError(f"pmac_value must be one of {', '.join(PMAC_VALUES)}, got {self.pmac_value!r}")
        if self.std_penalty_form not in losses.STD_PENALTY_FORMS:
            raise ValueError(f"std_penalty_form must be one of {', '.join(losses.STD_PENALTY_FORMS)}, "
                             f"got {self.std_penalty_form!r}")
        if self.pmac_value_samples < 1:
            raise ValueError(f"pmac_value_samples must be >= 1, got {self.pmac_value_samples}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


@dataclass
class ContinuousBudget:
    """How long to train and how to evaluate."""

    total_steps: int = 1_000_000
    """Environment steps per run (paper: 1M, Humanoid 6M)."""
    eval_interval: int = 5000
    """Steps between evaluation snapshots (one metrics row each)."""
    eval_episodes: int = 10
    """Episodes of the deterministic policy per snapshot."""
    checkpoint_interval: int = 50_000
    """A checkpoint is written at the first episode end after every this many steps."""

    def __post_init__(self):
        if self.eval_interval > self.total_steps:
            raise ValueError(f"eval_interval ({self.eval_interval}) must not exceed total_steps ({self.total_steps})")


# ------------------------------------------------------------------------------------------ agents

class Agent:
    """What the training loop needs of an agent; subclasses define networks, ``act`` and ``update``."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: ActorCriticConfig, device: torch.device):
        self.cfg, self.act_dim, self.device = cfg, act_dim, torch.device(device)
        self.updates = 0

    def graphed(self) -> bool:
        return self.cfg.cuda_graph and self.device.type == "cuda"

    def adam(self, params, lr: float) -> torch.optim.Adam:
        return torch.optim.Adam(params, lr=lr, foreach=True, capturable=self.graphed())

    def forward_precision(self):
        """Context of the updates' forward passes (``cfg.precision``); backward and optimiser steps run outside
        it, so that autocast's cached bf16 weights never outlive a step."""
        return autocast(self.device, self.cfg.precision, cache=not self.graphed())

    def update_phase(self) -> int:
        """Which branch of ``update`` the next call takes (a CUDA graph is captured per branch)."""
        return 0

    @torch.no_grad()
    def act(self, obs: torch.Tensor, explore: bool) -> torch.Tensor:
        raise NotImplementedError

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # Checkpointing: every attribute that is a module, optimiser or tensor.
    def state_dict(self) -> dict:
        out = {"updates": self.updates}
        for name, value in vars(self).items():
            if isinstance(value, (nn.Module, torch.optim.Optimizer)):
                out[name] = cpu_copy(value.state_dict())
            elif isinstance(value, torch.Tensor):
                out[name] = value.detach().cpu().clone()
        return out

    def load_state_dict(self, state: dict) -> None:
        self.updates = state["updates"]
        for name, value in vars(self).items():
            if isinstance(value, (nn.Module, torch.optim.Optimizer)):
                value.load_state_dict(state[name])
            elif isinstance(value, torch.Tensor):
                with torch.no_grad():
                    value.copy_(state[name])


class DDPG(Agent):
    """Deep deterministic policy gradient (Lillicrap et al. 2016), Gaussian exploration noise."""

    n_critics = 1

    def __init__(self, obs_dim, act_dim, cfg, device):
        super().__init__(obs_dim, act_dim, cfg, device)
        self.actor = DeterministicActor(obs_dim, act_dim, cfg.hidden_sizes).to(self.device)
        self.critics = Critics(self.n_critics, obs_dim, act_dim, cfg.hidden_sizes).to(self.device)
        self.actor_target, self.critics_target = frozen_copy(self.actor), frozen_copy(self.critics)
        self.actor_opt = self.adam(self.actor.parameters(), cfg.actor_lr)
        self.critic_opt = self.adam(self.critics.parameters(), cfg.critic_lr)

    @torch.no_grad()
    def act(self, obs, explore):
        action = self.actor(obs)
        if explore:
            action = (action + self.cfg.exploration_noise * torch.randn_like(action)).clamp(-1, 1)
        return action

    def target_action(self, next_obs):
        return self.actor_target(next_obs)

    def update(self, batch):
        cfg = self.cfg
        with torch.no_grad(), self.forward_precision():
            next_q = self.critics_target(batch["next_obs"], self.target_action(batch["next_obs"])).min(0).values
            target = losses.td_target(batch["reward"], batch["terminated"], cfg.gamma, next_q)
        with self.forward_precision():
            q = self.critics(batch["obs"], batch["action"])
            critic_loss = losses.squared_error(q, target.expand(self.n_critics, -1))
        step(self.critic_opt, critic_loss)
        out = {"critic_loss": critic_loss.detach()}
        self.updates += 1
        if self.updates % self.policy_period() == 0:
            with frozen(self.critics) as critics, self.forward_precision():
                q_of_actor = critics(batch["obs"], self.actor(batch["obs"]), members=1)[0]
                actor_loss = losses.deterministic_policy_loss(q_of_actor)
            step(self.actor_opt, actor_loss)
            polyak_update(self.actor_target, self.actor, cfg.target_smoothing)
            polyak_update(self.critics_target, self.critics, cfg.target_smoothing)
            out["actor_loss"] = actor_loss.detach()
        return out

    def policy_period(self) -> int:
        return 1

    def update_phase(self) -> int:
        return int((self.updates + 1) % self.policy_period() == 0)


class TD3(DDPG):
    """Twin delayed DDPG (Fujimoto et al. 2018): twin critics, target smoothing, delayed actor."""

    n_critics = 2

    def target_action(self, next_obs):
        action = self.actor_target(next_obs)
        noise = self.cfg.target_policy_noise * torch.randn_like(action)
        return losses.smoothed_target_action(action, noise, self.cfg.target_noise_clip)

    def policy_period(self) -> int:
        return self.cfg.policy_delay


class SAC(Agent):
    """Soft actor-critic (Haarnoja et al. 2018, v2): twin critics, learned temperature."""

    def __init__(self, obs_dim, act_dim, cfg, device):
        super().__init__(obs_dim, act_dim, cfg, device)
        self.actor = GaussianActor(obs_dim, act_dim, cfg.hidden_sizes, (cfg.log_std_min, cfg.log_std_max))
        self.actor.to(self.device)
        self.critics = Critics(2, obs_dim, act_dim, cfg.hidden_sizes).to(self.device)
        self.critics_target = frozen_copy(self.critics)
        self.log_alpha = torch.tensor(math.log(cfg.entropy_coef), device=self.device,
                                      requires_grad=cfg.autotune_entropy)
        self.actor_opt = self.adam(self.actor.parameters(), cfg.actor_lr)
        self.critic_opt = self.adam(self.critics.parameters(), cfg.critic_lr)
        self.alpha_opt = self.adam([self.log_alpha], cfg.critic_lr) if cfg.autotune_entropy else None
        self.target_entropy = -float(act_dim)

    @torch.no_grad()
    def act(self, obs, explore):
        mean, log_std = self.actor(obs)
        return sample_squashed(mean, log_std)[0] if explore else torch.tanh(mean)

    def update(self, batch):
        cfg = self.cfg
        alpha = self.log_alpha.detach().exp()
        with torch.no_grad(), self.forward_precision():
            next_action, _, next_log_prob = sample_squashed(*self.actor(batch["next_obs"]))
            next_q = self.critics_target(batch["next_obs"], next_action).min(0).values
            target = losses.td_target(batch["reward"], batch["terminated"], cfg.gamma,
                                      losses.soft_state_value(next_q, next_log_prob, alpha))
        with self.forward_precision():
            critic_loss = losses.squared_error(self.critics(batch["obs"], batch["action"]), target.expand(2, -1))
        step(self.critic_opt, critic_loss)

        with frozen(self.critics) as critics, self.forward_precision():
            action, _, log_prob = sample_squashed(*self.actor(batch["obs"]))
            min_q = critics(batch["obs"], action).min(0).values
            actor_loss = losses.reparameterised_policy_loss(min_q, log_prob, alpha)
        step(self.actor_opt, actor_loss)
        out = {"critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(), "alpha": alpha}
        if self.alpha_opt is not None:
            step(self.alpha_opt, losses.temperature_loss(self.log_alpha, log_prob, self.target_entropy))
        polyak_update(self.critics_target, self.critics, cfg.target_smoothing)
        self.updates += 1
        return out


class PMAC(Agent):
    """Policy mirror actor-critic (EPMD, Mei et al. 2019), on SAC v1's critic structure.

    Per update: the reference policy pi_bar is the policy as it is before this update (a frozen
    copy: its outputs enter only detached); actions for the policy loss are sampled from pi_bar;
    their weights pi*/pi_bar follow seed eq. 8 with V(s) from a value network; the policy minimises
    the reverse KL of seed eq. 7 plus, if enabled, the author's mean/std penalties. Twin Q-networks
    regress to r + gamma V'(s'). What V regresses to is open (``cfg.pmac_value``): 'soft_mean',
    min Q(s, a) - tau' log pi_bar(a|s) at the policy loss's action a ~ pi_bar (SAC v1's value network;
    its mean over a is not the weight's normaliser), or 'log_partition', the log-normaliser of pi*
    estimated from ``cfg.pmac_value_samples`` actions a ~ pi_bar per state
    (:func:`losses.pmac_log_partition_value`). Under 'soft_mean' the weight uses the value network's
    V(s); under 'log_partition' it uses the batch's estimate itself, which normalises it state by state
    (the network regressed to that estimate did not: its regression error, divided by tau + tau', enters
    the exponent; in a 10k-step Pendulum run the log of the batch's mean unclamped weight averaged 0.56
    and ended near 1.2, as under 'soft_mean', 0.63 and 1.36). Either way the critics' target uses the
    value network's Polyak copy V'(s'), and the policy loss one action per state.
    """

    def __init__(self, obs_dim, act_dim, cfg, device):
        super().__init__(obs_dim, act_dim, cfg, device)
        self.actor = GaussianActor(obs_dim, act_dim, cfg.hidden_sizes, (cfg.log_std_min, cfg.log_std_max))
        self.actor.to(self.device)
        self.critics = Critics(2, obs_dim, act_dim, cfg.hidden_sizes).to(self.device)
        self.value = mlp(obs_dim, 1, cfg.hidden_sizes).to(self.device)
        self.value_target = frozen_copy(self.value)
        self.actor_opt = self.adam(self.actor.parameters(), cfg.actor_lr)
        self.critic_opt = self.adam([*self.critics.parameters(), *self.value.parameters()], cfg.critic_lr)
        self.clamp_max = cfg.target_weight_max if cfg.clamp_target_weight else None

    @torch.no_grad()
    def act(self, obs, explore):
        mean, log_std = self.actor(obs)
        return sample_squashed(mean, log_std)[0] if explore else torch.tanh(mean)

    def update(self, batch):
        cfg = self.cfg
        obs = batch["obs"]
        with self.forward_precision():  # the networks' forward passes, up to the critics' and value's losses
            mean, log_std = self.actor(obs)
            ref_mean, ref_log_std = mean.detach(), log_std.detach()  # pi_bar: the pre-update policy, frozen
            log_partition = cfg.pmac_value == "log_partition"
            if log_partition:  # N actions per state, [N, batch, act_dim]; the first one also serves the policy loss
                samples = cfg.pmac_value_samples
                _, z_all, ref_log_prob_all = sample_squashed(ref_mean.expand(samples, -1, -1),
                                                             ref_log_std.expand(samples, -1, -1))
                z, ref_log_prob = z_all[0], ref_log_prob_all[0]
            else:
                _, z, ref_log_prob = sample_squashed(ref_mean, ref_log_std)
            action = torch.tanh(z)

            with torch.no_grad():
                next_value = self.value_target(batch["next_obs"]).squeeze(-1).float()
                target = losses.td_target(batch["reward"], batch["terminated"], cfg.gamma, next_value)
                if log_partition:
                    q_all = self.critics(obs.repeat(samples, 1), torch.tanh(z_all).flatten(0, 1)).min(0).values
                    q_all = q_all.view(samples, -1)
                    q_ref = q_all[0]
                    value_target = losses.pmac_log_partition_value(q_all.T, ref_log_prob_all.T, cfg.kl_coef,
                                                                   cfg.pmac_entropy_coef)
                else:
                    q_ref = self.critics(obs, action).min(0).values
                    value_target = losses.soft_state_value(q_ref, ref_log_prob, cfg.pmac_entropy_coef)
            value = self.value(obs).squeeze(-1).float()
            critic_loss = losses.squared_error(self.critics(obs, batch["action"]), target.expand(2, -1))
            value_loss = losses.squared_error(value, value_target)
        step(self.critic_opt, critic_loss + value_loss)

        # the weight's V: the value network's (soft_mean), or this batch's log-partition estimate (log_partition)
        normaliser = value_target if log_partition else value.detach()
        weight = losses.pmac_target_weight(q_ref, ref_log_prob, normaliser, cfg.kl_coef, cfg.pmac_entropy_coef,
                                           self.clamp_max)
        log_weight = losses.pmac_log_target_weight(q_ref, ref_log_prob, normaliser, cfg.kl_coef, cfg.pmac_entropy_coef)
        log_prob = losses.squashed_gaussian_log_prob(mean, log_std, z)
        actor_loss = losses.reverse_kl_policy_loss(weight, log_prob) + losses.gaussian_parameter_penalty(
            mean, log_std, cfg.mean_penalty, cfg.std_penalty, cfg.std_penalty_form)
        step(self.actor_opt, actor_loss)
        polyak_update(self.value_target, self.value, cfg.target_smoothing)
        self.updates += 1
        return {"critic_loss": critic_loss.detach(), "value_loss": value_loss.detach(),
                "actor_loss": actor_loss.detach(),
                "target_weight": weight.mean(), "weight_at_clamp": (weight >= cfg.target_weight_max).float().mean(),
                # log of the batch mean of the unclamped weight: 0 when V normalises it, > 0 when V is too low
                "log_mean_raw_weight": log_weight.logsumexp(0) - math.log(log_weight.numel())}


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def polyak_update(target: nn.Module, online: nn.Module, rate: float) -> None:
    losses.polyak_update(list(target.parameters()), list(online.parameters()), rate)


AGENTS: dict[str, type[Agent]] = {"DDPG": DDPG, "TD3": TD3, "SAC": SAC, "PMAC": PMAC}


# ----------------------------------------------------------------------------------- replay buffer

class ReplayBuffer:
    """A ring of transitions kept as tensors on the training device."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, device: torch.device):
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.data = {
            "obs": torch.zeros(capacity, obs_dim, device=device),
            "action": torch.zeros(capacity, act_dim, device=device),
            "reward": torch.zeros(capacity, device=device),
            "next_obs": torch.zeros(capacity, obs_dim, device=device),
            "terminated": torch.zeros(capacity, device=device),
        }

    def add(self, obs, action, reward: float, next_obs, terminated: bool) -> None:
        i = self.pos
        self.data["obs"][i] = torch.as_tensor(obs)
        self.data["action"][i] = action
        self.data["reward"][i] = float(reward)
        self.data["next_obs"][i] = torch.as_tensor(next_obs)
        self.data["terminated"][i] = float(terminated)
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        idx = torch.randint(self.size, (batch_size,), device=self.data["obs"].device)
        return {k: v[idx] for k, v in self.data.items()}

    def state_dict(self) -> dict:
        return {"size": self.size, "pos": self.pos,
                "data": {k: v[: self.size].cpu().clone() for k, v in self.data.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.size, self.pos = state["size"], state["pos"]
        for k, v in state["data"].items():
            self.data[k][: self.size] = v


# ----------------------------------------------------------------------------------- environments

def make_env(env_id: str) -> gym.Env:
    """The Gymnasium task with actions rescaled from [-1, 1]; rejects what the agents cannot run."""
    if env_id not in ENVS:
        raise ValueError(f"unknown environment {env_id!r}; allowed: {', '.join(ENVS)}")
    env = gym.make(env_id)
    check_action_space(env.action_space, env_id)
    one = np.ones(env.action_space.shape, dtype=np.float32)
    return gym.wrappers.RescaleAction(env, -one, one)


def check_action_space(space: gym.Space, env_id: str) -> None:
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"{env_id}: the actor-critic agents need a 1-D continuous (Box) action space, got {space}")
    if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        raise ValueError(f"{env_id}: the action space must be bounded (tanh squashing), "
                         f"got low={space.low} high={space.high}")


# ---------------------------------------------------------------------------------- training loop

def evaluate(agent: Agent, env: gym.Env, episodes: int, seed_key: list[int]) -> np.ndarray:
    """Undiscounted returns of the deterministic policy; episode k starts from reset seed
    derived from (seed_key, k), so a snapshot is a pure function of the policy."""
    returns = np.zeros(episodes)
    for k in range(episodes):
        obs, _ = env.reset(seed=int(np.random.SeedSequence([*seed_key, k]).generate_state(1)[0]))
        done = False
        while not done:
            action = agent.act(torch.as_tensor(obs, dtype=torch.float32, device=agent.device), explore=False)
            obs, reward, terminated, truncated, _ = env.step(action.cpu().numpy())
            returns[k] += reward
            done = terminated or truncated
    return returns


def train(
    agent: Agent,
    env: gym.Env,
    eval_env: gym.Env,
    budget: ContinuousBudget,
    seed: int,
    resume: TrainState | None = None,
    on_checkpoint: Callable[[TrainState], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Train for ``budget.total_steps`` environment steps; one metrics row per ``eval_interval``.

    Raises :class:`~rlrepro.core.loop.Diverged` (with the rows so far) when a loss goes non-finite; it is detected
    when the row is written, so the step it names is that of the row. Checkpoints are taken at episode ends.
    """
    cfg, device = agent.cfg, agent.device
    book = Bookkeeping(budget, resume, on_checkpoint, on_progress)
    obs_dim = env.observation_space.shape[0]
    buffer = ReplayBuffer(min(cfg.buffer_size, budget.total_steps), obs_dim, agent.act_dim, device)
    rng = np.random.default_rng(seed)  # warm-up actions
    obs = restore(agent, env, buffer, rng, seed, resume)
    window = Window(resume.window if resume else None)
    update = GraphedUpdate(agent) if cfg.cuda_graph and device.type == "cuda" else agent.update
    episode_return = 0.0
    with book:
        for t in range(book.start, budget.total_steps):
            if t < cfg.random_steps:
                action = torch.as_tensor(rng.uniform(-1.0, 1.0, agent.act_dim), dtype=torch.float32)
            else:
                action = agent.act(torch.as_tensor(obs, dtype=torch.float32, device=device), explore=True).cpu()
            next_obs, reward, terminated, truncated, _ = env.step(action.numpy())
            buffer.add(obs, action, reward, next_obs, terminated)
            episode_return += reward
            obs = next_obs
            if t + 1 >= cfg.random_steps:
                for _ in range(cfg.updates_per_step):
                    window.add(update(buffer.sample(cfg.batch_size)))

            done = t + 1
            if done % budget.eval_interval == 0 or done == budget.total_steps:
                loss_means = window.sum_means()
                check_finite(done, **loss_means)
                row = {"step": done, "train_return": window.mean("train_return"),
                       "train_episodes": window.count("train_return"), **loss_means, "updates": agent.updates}
                returns = evaluate(agent, eval_env, budget.eval_episodes, [seed, done])
                book.log({**row, "eval_return": float(returns.mean()), "eval_return_std": float(returns.std())},
                         budget.eval_interval)
                window = Window()
            if terminated or truncated:
                window.append("train_return", episode_return)
                episode_return = 0.0
                if book.checkpoint_due(done):
                    book.checkpoint(done, agent=agent.state_dict(), buffer=buffer.state_dict(),
                                    window=window.state_dict(), rng=rng_state(rng, env, device))
                obs, _ = env.reset()
    return book.rows


def rng_state(rng: np.random.Generator, env: gym.Env, device: torch.device) -> dict:
    """The states of every generator a run draws from (numpy's, torch's, CUDA's, the environment's)."""
    return {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "env": env.unwrapped.np_random.bit_generator.state}


def restore(agent: Agent, env: gym.Env, buffer: ReplayBuffer, rng: np.random.Generator, seed: int,
            resume: TrainState | None) -> np.ndarray:
    """Seed a fresh run or restore a checkpoint's state (generators as :func:`rng_state` took them); returns
    the first observation."""
    torch.manual_seed(seed)
    obs, _ = env.reset(seed=seed)
    if resume is None:
        return obs
    agent.load_state_dict(resume.agent)
    buffer.load_state_dict(resume.buffer)
    rng.bit_generator.state = resume.rng["numpy"]
    torch.set_rng_state(resume.rng["torch"])
    if agent.device.type == "cuda" and resume.rng.get("cuda") is not None:
        torch.cuda.set_rng_state(resume.rng["cuda"], agent.device)
    env.unwrapped.np_random.bit_generator.state = resume.rng["env"]
    return env.reset()[0]


def make_trainer(spec: dict):
    """(train function, total steps, device description) for an actor-critic run."""
    device = torch_device(spec)
    env, eval_env = make_env(spec["env"]), make_env(spec["env"])
    torch.manual_seed(spec["seed"])  # the initial networks depend on the seed alone
    agent = AGENTS[spec["agent"]](env.observation_space.shape[0], env.action_space.shape[0],
                                  ActorCriticConfig(**spec["agent_config"]), torch.device(device))
    budget = ContinuousBudget(**spec["budget"])

    def fit(**kwargs):
        return train(agent, env, eval_env, budget, spec["seed"], **kwargs)

    return fit, budget.total_steps, device_description(device)
