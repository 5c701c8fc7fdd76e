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

V_soft and pi are :func:`rlrepro.mirl.soft.soft_value_row` / :func:`rlrepro.mirl.soft.soft_policy_row` with
beta_i = c * (i + 1) (the public reproduction's schedule; the paper's c is an open parameter).

The steps and the evaluation episodes run compiled by numba (:func:`compiled_steps`,
:func:`evaluation_returns`; benchmarks/bench_tabular.py compares them with the numpy loop); the agent
classes hold the arrays and say where their math departs from QL's (:class:`AgentMath`), and the loop
around them (rows, snapshots, checkpoints) stays in Python. The compiled draws are numpy's, so QL's
metrics are those of the numpy loop bit for bit; the soft agents' can differ in the last bits of rho and
beta*Q, because numba's exp and log are the C library's and numpy's are its own SIMD ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numba
import numpy as np
from numba.extending import register_jitable

from rlrepro.core.loop import Bookkeeping, ConfigFields, Diverged, TrainState, Window
from rlrepro.envs.gridworld import GridWorld
from rlrepro.mirl import soft
from rlrepro.mirl.soft import (
    explored_action,
    prior_epsilon_greedy_batch,
    prior_update,
    soft_logits,
    soft_policy_row,
    soft_policy_unstable_row,
    soft_value_row,
    soft_value_unstable_row,
)

# TrainState is imported so that checkpoints pickled as rlrepro.mirl.tabular.TrainState still load.


_SOURCE_DIGEST = hashlib.sha256(Path(__file__).read_bytes() + Path(soft.__file__).read_bytes()).hexdigest()[:16]
"""Names the compiled-code cache after this file and rlrepro.mirl.soft (read once per process)."""


def njit(function):
    """numba.njit with an on-disk cache (compiled once per machine, not once per job). numba checks only the
    decorated function's own file for changes, and these kernels compile rlrepro.mirl.soft's equations into
    them: the cache folder is named after both files' contents, so an edit to either compiles afresh."""
    user_dir = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = str(Path(user_dir or Path(__file__).parent / "__pycache__") / f"numba-{_SOURCE_DIGEST}")
    try:
        return numba.njit(cache=True)(function)
    finally:
        numba.config.CACHE_DIR = user_dir

SOFT_FORMS = ("stable", "naive", "clipped")
STABLE = 0
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


class AgentMath(NamedTuple):
    """Where an agent's math departs from QL's, as the compiled loop reads it."""

    soft: bool
    """Backup with the soft value, eq. (2), and act greedily on pi, eq. (6) (else max and argmax Q)."""
    form: int
    """Index of ``soft_form`` in SOFT_FORMS."""
    bound: float
    """beta*Q is clipped to [-bound, bound] in the literal forms (inf: not clipped)."""
    learns_prior: bool
    """Update rho by eq. (7) after every Q update (MIRL)."""
    counts_actions: bool
    """Count the actions taken and explore from their marginal (SQL_m)."""
    marginal_is_prior: bool
    """SQL_m only: the marginal is also rho in eqs. (2) and (6)."""


class Hyper(NamedTuple):
    """The TabularConfig numbers the compiled loop reads."""

    gamma: float
    step_size_exponent: float
    epsilon: float
    beta_increment: float
    alpha_rho: float


class QLearning:
    """Tabular Q-learning with epsilon-greedy behaviour (the paper's QL baseline)."""

    soft = learns_prior = counts_actions = False

    def __init__(self, n_states: int, n_actions: int, cfg: TabularConfig):
        self.cfg = cfg
        self.n_actions = n_actions
        self.q = np.zeros((n_states, n_actions))
        self.visits = np.zeros((n_states, n_actions), dtype=np.int64)
        self.updates = 0
        self.beta = 0.0  # soft agents only
        self.set_prior(np.full(n_actions, 1.0 / n_actions))  # QL: the uniform exploration
        self.action_counts = np.full(n_actions, float(cfg.marginal_pseudo_count))  # SQL_m only

    def set_prior(self, rho: np.ndarray) -> None:
        """rho of eqs. (2), (5) and (6), with its log cached for the stable form."""
        self.rho = rho
        with np.errstate(divide="ignore"):
            self.log_rho = np.log(rho)

    def rules(self) -> AgentMath:
        cfg = self.cfg
        return AgentMath(self.soft, SOFT_FORMS.index(cfg.soft_form),
                         float(cfg.clip_bound) if cfg.soft_form == "clipped" else np.inf, self.learns_prior,
                         self.counts_actions, self.counts_actions and cfg.marginal_prior_in_soft_value)

    def hyper(self) -> Hyper:
        cfg = self.cfg
        return Hyper(float(cfg.gamma), float(cfg.step_size_exponent), float(cfg.epsilon), float(cfg.beta_increment),
                     float(cfg.alpha_rho))

    def arrays(self) -> tuple:
        """What the compiled loop reads and changes in place."""
        return self.q, self.visits, self.rho, self.log_rho, self.action_counts

    def exploration_prior(self) -> np.ndarray:
        """The prior of eq. (5): rho (uniform for QL and SQL), the action marginal for SQL_m."""
        return action_marginal(self.action_counts) if self.counts_actions else self.rho

    def next_value(self, q_row: np.ndarray) -> float:
        return float(backup_value(q_row, self.rules(), self.rho, self.log_rho, self.beta))

    def policy(self, q_row: np.ndarray) -> np.ndarray:
        """pi(a|s) of eq. (6) in the configured form (soft agents)."""
        return policy_row(q_row, self.rules(), self.rho, self.log_rho, self.beta)

    def update(self, s: int, a: int, r: float, s_next: int, terminated: bool) -> None:
        """One transition's update (:func:`update_tables`)."""
        self.beta, failure = update_tables(s, a, float(r), s_next, bool(terminated), *self.arrays(), self.beta,
                                    self.rules(), self.hyper())
        if failure:
            raise Diverged(self.updates, FAILURES[failure])
        self.updates += 1

    def train_steps(self, env: GridWorld, rng: np.random.Generator, n_steps: int) -> tuple[int, int]:
        """``n_steps`` steps from ``env.state`` (:func:`compiled_steps`); (correct, scored) actions among them."""
        env.state, done, self.beta, correct, scored, failure = compiled_steps(
            n_steps, env.state, rng, env.np_random, env.next_state, env.reward, env.terminal, env.start_states,
            env.scored_action, *self.arrays(), self.beta, self.rules(), self.hyper())
        self.updates += done
        if failure:
            raise Diverged(self.updates, FAILURES[failure])
        return correct, scored

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

    soft = True

    def __init__(self, n_states: int, n_actions: int, cfg: TabularConfig):
        super().__init__(n_states, n_actions, cfg)
        self.beta = cfg.beta_increment

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

    counts_actions = True

    def __init__(self, n_states: int, n_actions: int, cfg: TabularConfig):
        super().__init__(n_states, n_actions, cfg)
        if cfg.marginal_prior_in_soft_value:
            self.set_prior(action_marginal(self.action_counts))

    def state_dict(self) -> dict:
        return {**super().state_dict(), "action_counts": self.action_counts.copy()}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        self.action_counts = d["action_counts"].copy()


class MIRL(SoftQLearning):
    """Mutual-information regularised soft Q-learning: the prior rho is learned and explored from."""

    learns_prior = True

    def diagnostics(self) -> dict[str, float]:
        return {**super().diagnostics(), **{f"rho_{i}": float(p) for i, p in enumerate(self.rho)}}


AGENTS: dict[str, type[QLearning]] = {
    "QLearning": QLearning,
    "SoftQLearning": SoftQLearning,
    "MarginalSoftQLearning": MarginalSoftQLearning,
    "MIRL": MIRL,
}
"""Agent classes a config's algorithm registry may name."""

FAILURES = ("", "policy in action selection", "soft value V(s')", "policy pi(.|s)", "policy at evaluation")
"""What went non-finite, by the failure code the compiled functions return (0: nothing)."""


# --- the compiled agent: the four algorithms differ only where their math does -------------------------------

@register_jitable
def action_marginal(counts: np.ndarray) -> np.ndarray:
    """SQL_m's empirical action marginal (uniform before any count)."""
    total = counts.sum()
    return counts / total if total > 0 else np.full(len(counts), 1.0 / len(counts))


@njit
def greedy_scores(q_row, rules, rho, log_rho, beta):
    """Scores whose argmax is the greedy action: Q for QL; for the soft agents the logits log rho + beta Q
    in the stable form (same argmax as pi, no exp), the literal, possibly clipped pi of eq. (6) otherwise."""
    if not rules.soft:
        return q_row.copy()
    if rules.form == STABLE:
        return soft_logits(q_row, log_rho, beta)
    return soft_policy_unstable_row(q_row, rho, beta, rules.bound)


@njit
def backup_value(q_row, rules, rho, log_rho, beta):
    """The value of s' in the backup target: max_a Q for QL, the soft value of eq. (2) otherwise."""
    if not rules.soft:
        return q_row.max()
    if rules.form == STABLE:
        return soft_value_row(q_row, log_rho, beta)
    return soft_value_unstable_row(q_row, rho, beta, rules.bound)


@njit
def policy_row(q_row, rules, rho, log_rho, beta):
    """pi(a|s) of eq. (6) in the configured form."""
    if rules.form == STABLE:
        return soft_policy_row(q_row, log_rho, beta)
    return soft_policy_unstable_row(q_row, rho, beta, rules.bound)


@njit
def greedy_action(scores, rng):
    """argmax with uniform random tie-breaking; -1 when the best score is not finite (divergence)."""
    a = scores.argmax()
    best = scores[a]
    if not np.isfinite(best):
        return -1
    is_best = scores == best
    if is_best.sum() == 1:
        return a
    ties = np.flatnonzero(is_best)
    return ties[rng.integers(0, len(ties))]


@njit
def update_tables(s, a, r, s_next, terminated, q, visits, rho, log_rho, action_counts, beta, rules, hyper):
    """Q(s,a) <- Q(s,a) + n(s,a)^-omega (target - Q(s,a)), Paper A eq. (3), then beta_{i+1} = c (i + 2),
    SQL_m's counts and MIRL's prior update, eq. (7), with pi_i(.|s_i) taken before the Q update.
    Changes the arrays in place; returns (beta, failure code)."""
    pi_s = rho  # replaced below by MIRL's pi_i(.|s_i)
    if rules.learns_prior:
        pi_s = policy_row(q[s], rules, rho, log_rho, beta)
        if not np.isfinite(pi_s.sum()):
            return beta, 3
    target = r if terminated else r + hyper.gamma * backup_value(q[s_next], rules, rho, log_rho, beta)
    if not np.isfinite(target):
        return beta, 2
    visits[s, a] += 1
    q[s, a] += visits[s, a] ** (-hyper.step_size_exponent) * (target - q[s, a])
    if rules.counts_actions:
        action_counts[a] += 1
        if rules.marginal_is_prior:
            rho[:] = action_marginal(action_counts)
            log_rho[:] = np.log(rho)
    if rules.soft:
        beta += hyper.beta_increment
    if rules.learns_prior:
        rho[:] = prior_update(rho, pi_s, hyper.alpha_rho)
        log_rho[:] = np.log(rho)
    return beta, 0


@njit
def compiled_steps(n_steps, s, rng, env_rng, next_state, reward, terminal, start_states, scored_action,
                q, visits, rho, log_rho, action_counts, beta, rules, hyper):
    """``n_steps`` interactions with the gridworld's tables: act by eq. (5), step, :func:`update_tables`, reset
    the episode (from ``env_rng``, as :meth:`GridWorld.reset`) at the goal.

    Returns (state, steps done, beta, correct actions, scored actions, failure code)."""
    correct = scored = 0
    for done in range(n_steps):
        prior = action_marginal(action_counts) if rules.counts_actions else rho
        a = explored_action(rng, hyper.epsilon, prior)
        if a < 0:
            a = greedy_action(greedy_scores(q[s], rules, rho, log_rho, beta), rng)
            if a < 0:
                return s, done, beta, correct, scored, 1
        if scored_action[s] >= 0:
            scored += 1
            correct += a == scored_action[s]
        s_next = next_state[s, a]
        terminated = terminal[s_next]
        beta, failure = update_tables(s, a, reward[s, a], s_next, terminated, q, visits, rho, log_rho, action_counts,
                                      beta, rules, hyper)
        if failure:
            return s, done, beta, correct, scored, failure
        s = start_states[env_rng.integers(0, len(start_states))] if terminated else s_next
    return s, n_steps, beta, correct, scored, 0


@njit
def evaluation_returns(n_episodes, max_steps, epsilon, rng, next_state, reward, terminal, start_states, prior,
                       q, rho, log_rho, beta, rules):
    """Returns of ``n_episodes`` episodes run side by side (see :func:`evaluate`); failure code 4 when the
    policy is not finite at a start state."""
    n_states, n_actions = q.shape
    greedy_mask = np.zeros((n_states, n_actions), dtype=np.bool_)
    for state in range(n_states):
        scores = greedy_scores(q[state], rules, rho, log_rho, beta)
        greedy_mask[state] = scores == scores.max()
    for state in start_states:
        if not np.isfinite(greedy_scores(q[state], rules, rho, log_rho, beta).max()):
            return np.zeros(0), 4
    s = np.empty(n_episodes, dtype=np.int64)
    for i in range(n_episodes):
        s[i] = start_states[rng.integers(0, len(start_states))]
    returns = np.zeros(n_episodes)
    active = np.ones(n_episodes, dtype=np.bool_)
    for _ in range(max_steps):
        tie_break = rng.random(n_episodes * n_actions).reshape(n_episodes, n_actions)
        greedy = np.empty(n_episodes, dtype=np.int64)
        for i in range(n_episodes):
            greedy[i] = np.where(greedy_mask[s[i]], 1.0 + tie_break[i], 0.0).argmax()
        a = prior_epsilon_greedy_batch(rng, epsilon, prior, greedy)
        for i in range(n_episodes):
            returns[i] += active[i] * reward[s[i], a[i]]
            s[i] = next_state[s[i], a[i]]
            active[i] &= not terminal[s[i]]
        if not active.any():
            break
    return returns, 0


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
    returns, failure = evaluation_returns(budget.eval_episodes, budget.eval_max_steps, budget.eval_epsilon, rng,
                                          env.next_state, env.reward, env.terminal, env.start_states,
                                          agent.exploration_prior(), agent.q, agent.rho, agent.log_rho, agent.beta,
                                          agent.rules())
    if failure:
        raise Diverged(agent.updates, FAILURES[failure])
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
        env.reset(seed=seed)
    else:
        agent.load_state_dict(resume.agent)
        env.set_state(resume.env)
        rng.bit_generator.state = resume.rng
    window = Window(resume.window if resume else None)
    done = book.start
    with book:
        while done < budget.total_steps:
            # compiled steps up to the next row or checkpoint, whichever comes first
            stop = min((done // budget.log_interval + 1) * budget.log_interval, budget.total_steps)
            if done < book.next_checkpoint < stop:
                stop = book.next_checkpoint
            correct, scored = agent.train_steps(env, rng, stop - done)
            if scored:
                window.add({"correct_action_rate": correct}, count=scored)
            done = stop
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
