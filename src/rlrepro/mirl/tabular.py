"""MIRL's tabular experiment (Paper A, Figure 1): QL, SQL, SQL_m and MIRL.

One agent family, one training loop. The four algorithms differ only where their math does:

=========  =====================  ==========================  ==============================
agent      backup target          greedy action               exploratory action (prob. eps)
=========  =====================  ==========================  ==============================
QL         r + gamma max_a Q      argmax_a Q(s, a)            uniform
SQL        r + gamma V_soft       argmax_a pi(a|s)            uniform          (rho uniform)
SQL_m      r + gamma V_soft       argmax_a pi(a|s)            empirical action marginal
MIRL       r + gamma V_soft       argmax_a pi(a|s)            learned prior rho, eq. (7)
=========  =====================  ==========================  ==============================

SQL_m has two readings: the paper's, where the action marginal is also rho in V_soft and pi
(``marginal_prior_in_soft_value``), and the public reproduction's, where rho stays uniform there.

V_soft and pi are :func:`rlrepro.mirl.soft.soft_value` / :func:`rlrepro.mirl.soft.soft_policy` with
beta_i = c * (i + 1) (the public reproduction's schedule; the paper's c is an open parameter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from rlrepro.core.loop import Bookkeeping, ConfigFields, Diverged, TrainState, Window
from rlrepro.envs.gridworld import GridWorld
from rlrepro.mirl.soft import (
    prior_epsilon_greedy,
    prior_update,
    soft_logits,
    soft_policy,
    soft_policy_unstable,
    soft_value,
    soft_value_unstable,
)

# TrainState is imported so that checkpoints pickled as rlrepro.mirl.tabular.TrainState still load.

SOFT_FORMS = ("stable", "naive", "clipped")


@dataclass
class TabularConfig(ConfigFields):
    """Hyperparameters of the tabular agents (every field is a config override key)."""

    gamma: float = 0.99
    """Discount factor; the paper uses 0.99, the authors later advised 0.999."""
    step_size_exponent: float = 0.8
    """omega in alpha_Q = n(s, a)^(-omega), with n the visit count of (s, a)."""
    epsilon: float = 0.1
    """Exploration probability during training (0.1 per the authors' answer to the reproduction)."""
    beta_increment: float = 1e-3
    """c in beta_i = c * (i + 1); open in the paper, 1e-3 in the public reproduction."""
    alpha_rho: float = 2e-3
    """Prior learning rate of MIRL, eq. (7); the paper's 2e-3, the authors later advised lower."""
    soft_form: str = "stable"
    """How exp(beta Q) is evaluated: 'stable' (logsumexp), 'naive', or 'clipped' (see clip_bound)."""
    clip_bound: float = 700.0
    """With soft_form 'clipped', beta*Q is clipped to [-clip_bound, clip_bound]."""
    marginal_prior_in_soft_value: bool = False
    """SQL_m only: also use the action marginal as rho in V_soft and pi, eqs. (2) and (6) (the
    paper's definition of SQL_m; the public reproduction keeps rho uniform there and uses the
    marginal for exploration only). Both readings run, as separate algorithms."""
    marginal_pseudo_count: float = 0.0
    """SQL_m only: count every action starts with in the marginal's count table (open). Must be
    > 0 when the marginal is the prior: from empty counts the first action's marginal is one-hot,
    log rho = -inf for every other action, and the agent never tries another one."""

    def __post_init__(self):
        if self.soft_form not in SOFT_FORMS:
            raise ValueError(f"soft_form must be one of {SOFT_FORMS}, got {self.soft_form!r}")
        if self.marginal_pseudo_count < 0:
            raise ValueError(f"marginal_pseudo_count must be >= 0, got {self.marginal_pseudo_count}")
        if self.marginal_prior_in_soft_value and self.marginal_pseudo_count <= 0:
            raise ValueError("marginal_prior_in_soft_value: true needs marginal_pseudo_count > 0 (e.g. 1): with empty "
                             "counts the marginal after the first action is one-hot and no other action is ever tried")


class QLearning:
    """Tabular Q-learning with epsilon-greedy behaviour (the paper's QL baseline)."""

    def __init__(self, n_states: int, n_actions: int, cfg: TabularConfig):
        self.cfg = cfg
        self.n_actions = n_actions
        self.q = np.zeros((n_states, n_actions))
        self.visits = np.zeros((n_states, n_actions), dtype=np.int64)
        self.updates = 0
        self.uniform = np.full(n_actions, 1.0 / n_actions)

    # --- what the subclasses change -------------------------------------------------------------
    def preference(self, q_rows: np.ndarray) -> np.ndarray:
        """Scores whose argmax is the greedy action; rows of Q for QL."""
        return q_rows

    def next_value(self, q_row: np.ndarray) -> float:
        return float(q_row.max())

    def exploration_prior(self) -> np.ndarray:
        return self.uniform

    def after_update(self, s: int, a: int) -> None:
        """Hook for the updates that follow the Q update (beta, counts)."""

    # --- shared ---------------------------------------------------------------------------------
    def act(self, s: int, epsilon: float, rng: np.random.Generator) -> int:
        """Eq. (5), exploring from :meth:`exploration_prior`."""
        return prior_epsilon_greedy(rng, epsilon, self.exploration_prior(), lambda: greedy_action(
            self.preference(self.q[s]), rng, self.updates, "policy in action selection"))

    def update(self, s: int, a: int, r: float, s_next: int, terminated: bool) -> None:
        """Q(s,a) <- Q(s,a) + n(s,a)^-omega (target - Q(s,a)), Paper A eq. (3)."""
        target = r if terminated else r + self.cfg.gamma * self.next_value(self.q[s_next])
        if not math.isfinite(target):
            raise Diverged(self.updates, "soft value V(s')")
        self.visits[s, a] += 1
        self.q[s, a] += self.visits[s, a] ** (-self.cfg.step_size_exponent) * (target - self.q[s, a])
        self.after_update(s, a)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"q": self.q.copy(), "visits": self.visits.copy(), "updates": self.updates}

    def load_state_dict(self, d: dict) -> None:
        self.q = d["q"].copy()
        self.visits = d["visits"].copy()
        self.updates = d["updates"]

    def diagnostics(self) -> dict[str, float]:
        return {}


class SoftQLearning(QLearning):
    """Soft Q-learning under a fixed uniform prior (SQL): eq. (2) backup, eq. (6) policy."""

    def __init__(self, n_states: int, n_actions: int, cfg: TabularConfig):
        super().__init__(n_states, n_actions, cfg)
        self.beta = cfg.beta_increment
        self.set_prior(np.full(n_actions, 1.0 / n_actions))

    def set_prior(self, rho: np.ndarray) -> None:
        """rho of eqs. (2) and (6), with its log cached for the stable form."""
        self.rho = rho
        with np.errstate(divide="ignore"):
            self.log_rho = np.log(rho)

    def preference(self, q_rows: np.ndarray) -> np.ndarray:
        """The logits log rho + beta Q in the stable form (same argmax as pi, no exp);
        the literal, possibly clipped pi of eq. (6) in the stability study's forms."""
        if self.cfg.soft_form == "stable":
            return soft_logits(q_rows, self.log_rho, self.beta)
        return soft_policy_unstable(q_rows, self.rho, self.beta, self._bound())

    def policy(self, q_rows: np.ndarray) -> np.ndarray:
        """pi(a|s) of eq. (6) in the configured form."""
        if self.cfg.soft_form == "stable":
            return soft_policy(q_rows, self.log_rho, self.beta)
        return soft_policy_unstable(q_rows, self.rho, self.beta, self._bound())

    def next_value(self, q_row: np.ndarray) -> float:
        if self.cfg.soft_form == "stable":
            return float(soft_value(q_row, self.log_rho, self.beta))
        return float(soft_value_unstable(q_row, self.rho, self.beta, self._bound()))

    def _bound(self) -> float | None:
        return self.cfg.clip_bound if self.cfg.soft_form == "clipped" else None

    def after_update(self, s: int, a: int) -> None:
        self.beta += self.cfg.beta_increment

    def state_dict(self) -> dict:
        return {**super().state_dict(), "beta": self.beta, "rho": self.rho.copy()}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        self.beta = d["beta"]
        self.set_prior(d["rho"].copy())

    def diagnostics(self) -> dict[str, float]:
        """beta, and the largest |beta Q| over the Q table (what a clip of beta Q must exceed to bind)."""
        return {"beta": self.beta, "max_abs_beta_q": self.beta * float(np.abs(self.q).max())}


class MarginalSoftQLearning(SoftQLearning):
    """SQL_m: soft Q-learning that explores from the empirical action marginal (a count table)."""

    def __init__(self, n_states: int, n_actions: int, cfg: TabularConfig):
        super().__init__(n_states, n_actions, cfg)
        self.action_counts = np.full(n_actions, float(cfg.marginal_pseudo_count))
        if cfg.marginal_prior_in_soft_value:
            self.set_prior(self.marginal())

    def marginal(self) -> np.ndarray:
        total = self.action_counts.sum()
        return self.action_counts / total if total > 0 else np.full(self.n_actions, 1.0 / self.n_actions)

    def exploration_prior(self) -> np.ndarray:
        return self.marginal()

    def after_update(self, s: int, a: int) -> None:
        self.action_counts[a] += 1
        if self.cfg.marginal_prior_in_soft_value:
            self.set_prior(self.marginal())
        super().after_update(s, a)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "action_counts": self.action_counts.copy()}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        self.action_counts = d["action_counts"].copy()


class MIRL(SoftQLearning):
    """Mutual-information regularised soft Q-learning: the prior rho is learned and explored from."""

    def exploration_prior(self) -> np.ndarray:
        return self.rho

    def update(self, s: int, a: int, r: float, s_next: int, terminated: bool) -> None:
        """The soft Q update under rho_i, beta_i, then rho's update with pi_i(.|s_i) taken before it."""
        pi_s = self.policy(self.q[s])
        if not math.isfinite(pi_s.sum()):
            raise Diverged(self.updates, "policy pi(.|s)")
        super().update(s, a, r, s_next, terminated)
        self.set_prior(prior_update(self.rho, pi_s, self.cfg.alpha_rho))

    def diagnostics(self) -> dict[str, float]:
        return {**super().diagnostics(), **{f"rho_{i}": float(p) for i, p in enumerate(self.rho)}}


def greedy_action(scores: np.ndarray, rng: np.random.Generator, step: int, quantity: str) -> int:
    """argmax with uniform random tie-breaking; non-finite scores mean divergence."""
    a = int(scores.argmax())
    best = scores[a]
    if not math.isfinite(best):
        raise Diverged(step, quantity)
    is_best = scores == best
    if np.count_nonzero(is_best) == 1:
        return a
    ties = np.flatnonzero(is_best)
    return int(ties[rng.integers(len(ties))])


AGENTS: dict[str, type[QLearning]] = {
    "QLearning": QLearning,
    "SoftQLearning": SoftQLearning,
    "MarginalSoftQLearning": MarginalSoftQLearning,
    "MIRL": MIRL,
}
"""Agent classes a config's algorithm registry may name."""


@dataclass
class Budget:
    """How long to train and how to evaluate (Paper A's protocol by default)."""

    total_steps: int = 100_000
    """Environment interactions per run (about 1e5 in the paper)."""
    eval_interval: int = 1000
    """Training steps between evaluation snapshots (a multiple of log_interval)."""
    early_eval_interval: int = 100
    """Training steps between snapshots up to early_eval_until (a multiple of log_interval): dense
    enough to see the reproduction's dip near 2k steps (its code evaluated every 100 steps)."""
    early_eval_until: int = 0
    """Last training step of the dense early snapshots; 0 = none (every eval_interval throughout)."""
    log_interval: int = 100
    """Training steps between rows of the metrics table; the window of the correct-action rate."""
    eval_episodes: int = 30
    """Episodes per snapshot (paper: 30)."""
    eval_max_steps: int = 100
    """Step cap of an evaluation episode (paper: 100)."""
    eval_epsilon: float = 0.05
    """Exploration probability at evaluation (paper: 0.05), exploring from the agent's prior."""
    checkpoint_interval: int = 10_000
    """Training steps between checkpoints."""

    def __post_init__(self):
        for key in ("eval_interval", "early_eval_interval"):
            if getattr(self, key) % self.log_interval:
                raise ValueError(f"{key} ({getattr(self, key)}) must be a multiple of log_interval "
                                 f"({self.log_interval})")
        if self.early_eval_until < 0:
            raise ValueError(f"early_eval_until must be >= 0 (0 = no early snapshots), got {self.early_eval_until}")

    def evaluates_at(self, step: int) -> bool:
        """Whether a snapshot is taken after ``step`` training steps."""
        early = step <= self.early_eval_until and step % self.early_eval_interval == 0
        return step % self.eval_interval == 0 or early


def correct_action_ceiling(prior: np.ndarray, correct: np.ndarray, epsilon: float) -> float:
    """The correct-action rate of an agent whose greedy action is right: (1 - eps) + eps rho(a*),
    averaged over the scored cells' correct actions a* (0.925 for eps 0.1 and a uniform prior over
    four actions); exploring from a prior that is low on a* lowers it."""
    return float((1.0 - epsilon) + epsilon * prior[correct].mean()) if len(correct) else float("nan")


def evaluate(agent: QLearning, env: GridWorld, budget: Budget, rng: np.random.Generator) -> np.ndarray:
    """Returns of ``eval_episodes`` episodes run side by side with the current policy.

    The agent is used as it is (its learned prior and beta included), acting greedily with
    random tie-breaking and exploring with probability ``eval_epsilon`` from its prior.
    """
    n, n_actions = budget.eval_episodes, env.n_actions
    scores = agent.preference(agent.q)
    best = scores.max(axis=1, keepdims=True)
    if not np.all(np.isfinite(best[env.start_states])):
        raise Diverged(agent.updates, "policy at evaluation")
    greedy_mask = scores == best
    prior = agent.exploration_prior()

    s = rng.choice(env.start_states, size=n)
    returns = np.zeros(n)
    active = np.ones(n, dtype=bool)
    for _ in range(budget.eval_max_steps):
        tie_break = greedy_mask[s] * (1.0 + rng.random((n, n_actions)))
        a = prior_epsilon_greedy(rng, budget.eval_epsilon, prior, tie_break.argmax(1))
        returns += active * env.reward[s, a]
        s = env.next_state[s, a]
        active &= ~env.terminal[s]
        if not active.any():
            break
    return returns


def train(
    agent: QLearning,
    env: GridWorld,
    budget: Budget,
    seed: int,
    resume: TrainState | None = None,
    on_checkpoint: Callable[[TrainState], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Train for ``budget.total_steps`` interactions; returns one metrics row per ``log_interval``
    steps, with the evaluation columns filled every ``eval_interval`` steps.

    Raises :class:`Diverged` (carrying the rows so far in ``.rows``) when a value goes non-finite.
    Evaluation draws from its own generator per snapshot, so it never perturbs training.
    """
    book = Bookkeeping(budget, resume, on_checkpoint, on_progress)
    rng = np.random.default_rng(seed)
    if resume is None:
        s, _ = env.reset(seed=seed)
    else:
        agent.load_state_dict(resume.agent)
        env.set_state(resume.env)
        rng.bit_generator.state = resume.rng
        s = env.state
    window = Window(resume.window if resume else None)
    eps, scored_action = agent.cfg.epsilon, env.scored_action
    with book:
        for step in range(book.start, budget.total_steps):
            a = agent.act(s, eps, rng)
            if scored_action[s] >= 0:
                window.add({"correct_action_rate": int(a == scored_action[s])})
            s_next, r, terminated, _, _ = env.step(a)
            agent.update(s, a, r, s_next, terminated)
            s = env.reset()[0] if terminated else s_next

            done = step + 1
            if done % budget.log_interval == 0:
                book.log(metrics_row(agent, env, budget, window, book.rows, done, seed), budget.log_interval)
                window = Window()
            if book.checkpoint_due(done):
                book.checkpoint(done, agent=agent.state_dict(), env=env.get_state(), rng=rng.bit_generator.state,
                                window=window.state_dict())
    return book.rows


def metrics_row(agent: QLearning, env: GridWorld, budget: Budget, window: Window, rows: list[dict], step: int,
                seed: int) -> dict:
    """The row after ``step`` steps: the window's correct-action rate, the agent's diagnostics and, when
    a snapshot is due, the evaluation returns."""
    scored = window.count("correct_action_rate")
    scored_action = env.scored_action
    row = {
        "step": step,
        "correct_action_rate": window.mean("correct_action_rate"),
        "scored_in_window": scored,
        "scored_visits": (rows[-1]["scored_visits"] if rows else 0) + scored,
        "correct_action_ceiling": correct_action_ceiling(agent.exploration_prior(),
                                                         scored_action[scored_action >= 0], agent.cfg.epsilon),
        **agent.diagnostics(),
    }
    if budget.evaluates_at(step):
        returns = evaluate(agent, env, budget, np.random.default_rng([seed, step]))
        row.update(eval_return=float(returns.mean()), eval_return_std=float(returns.std()))
    return row


def make_trainer(spec: dict):
    """(train function, total steps, device description) for a gridworld run."""
    env = GridWorld(spec["env"])
    agent = AGENTS[spec["agent"]](env.n_states, env.n_actions, TabularConfig(**spec["agent_config"]))
    budget = Budget(**spec["budget"])

    def fit(**kwargs):
        return train(agent, env, budget, spec["seed"], **kwargs)

    return fit, budget.total_steps, "cpu"
