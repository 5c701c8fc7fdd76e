"""The soft value and soft policy of MIRL (Paper A), written once for every soft agent.

Notation follows the paper: a prior rho over actions, an inverse temperature beta and action
values Q(s, .). All functions act on the last axis, so they take one state's row ``q[s]`` or a
whole table ``q`` alike.

The stable forms (:func:`soft_value`, :func:`soft_policy`) are the authors' fix for the overflow
reported by the reproduction: work with the logits ``log rho + beta * Q`` and subtract their
maximum before exponentiating (logsumexp / softmax). :func:`soft_value_unstable` and
:func:`soft_policy_unstable` keep the exponent as the paper writes it, optionally clipped, and
exist only for the stability study.

Each equation is one function of plain arrays (``*_row``: one state's row), which numba compiles into
the tabular training loop and the numpy wrappers apply row by row. The stable forms,
:func:`prior_update` and :func:`beta_update` also take torch tensors (the Atari agents, on any
device), so the approximate setting uses the very equations the tabular one does.

Equation numbers follow the reproduction report (../shared/seeds/000), as papers.md does; the
revised paper numbers them differently (the public reproduction's code cites eq. 11 for the prior
update and eq. 12 for the tabular Q update).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from numba.extending import register_jitable

# register_jitable leaves a function a plain Python function and lets numba compile it into a caller
# (the tabular loop, rlrepro.mirl.tabular): the equations are written once, for both.


@register_jitable
def soft_logits(q: np.ndarray, log_prior: np.ndarray, beta: float) -> np.ndarray:
    """``log rho(a) + beta * Q(s, a)``: the log of eq. (6)'s numerator."""
    return log_prior + beta * q


@register_jitable
def soft_value_row(q_row: np.ndarray, log_prior: np.ndarray, beta: float) -> float:
    """Soft value V(s) = (1/beta) log sum_a rho(a) exp(beta Q(s, a)), Paper A eq. (2), of one state's row.

    Computed as a logsumexp of the logits, exact and finite for any finite Q and beta > 0
    (including beta = 1e6, where the naive form over- or underflows).
    """
    z = soft_logits(q_row, log_prior, beta)
    m = z.max()
    return (m + np.log(np.exp(z - m).sum())) / beta


@register_jitable
def soft_policy_row(q_row: np.ndarray, log_prior: np.ndarray, beta: float) -> np.ndarray:
    """Soft policy pi(a|s) = rho(a) exp(beta Q(s, a)) / Z, Paper A eq. (6), of one state's row, as a stable
    softmax."""
    z = soft_logits(q_row, log_prior, beta)
    e = np.exp(z - z.max())
    return e / e.sum()


def _over_rows(row_function, q: np.ndarray, *args):
    """``row_function`` applied to every row of ``q`` (its last axis)."""
    if q.ndim == 1:
        return row_function(q, *args)
    out = np.stack([row_function(row, *args) for row in q.reshape(-1, q.shape[-1])])
    return out.reshape(q.shape[:-1] + out.shape[1:])


def soft_value(q, log_prior, beta: float):
    """Eq. (2) on the last axis: :func:`soft_value_row` for numpy arrays, logsumexp for torch tensors."""
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    if not isinstance(q, np.ndarray):  # a torch tensor
        return soft_logits(q, log_prior, beta).logsumexp(dim=-1) / beta
    return _over_rows(soft_value_row, q, log_prior, beta)


def soft_policy(q, log_prior, beta: float):
    """Eq. (6) on the last axis: :func:`soft_policy_row` for numpy arrays, softmax for torch tensors."""
    if not isinstance(q, np.ndarray):  # a torch tensor
        return soft_logits(q, log_prior, beta).softmax(dim=-1)
    return _over_rows(soft_policy_row, q, log_prior, beta)


@register_jitable
def prior_update(rho, pi_s, alpha_rho: float):
    """rho_{i+1} = (1 - alpha_rho) rho_i + alpha_rho pi_i(.|s_i), Paper A eq. (7)."""
    return (1.0 - alpha_rho) * rho + alpha_rho * pi_s


def beta_update(beta: float, loss: float, alpha_beta: float) -> float:
    """beta_{i+1} = (1 - alpha_beta) beta_i + alpha_beta / L(theta_i, rho_{i+1}), Paper A eq. (8).

    beta tracks a running mean of the inverse Bellman loss: as the fit improves the policy gets
    greedier. A zero loss gives inf, which the caller reports as divergence.
    """
    with np.errstate(divide="ignore"):
        inverse = np.float64(1.0) / np.float64(loss)
    return float((1.0 - alpha_beta) * beta + alpha_beta * inverse)


@register_jitable
def draw_from_prior(prior: np.ndarray, uniforms):
    """Actions drawn from rho by inverting its CDF at ``uniforms`` (numpy's ``Generator.choice(p=prior)``
    given the same uniforms)."""
    cdf = np.cumsum(prior)
    cdf /= cdf[-1]
    return np.searchsorted(cdf, uniforms, side="right")


@register_jitable
def explored_action(rng: np.random.Generator, epsilon: float, prior: np.ndarray) -> int:
    """Eq. (5)'s coin for one action: an action drawn from the prior rho with probability epsilon,
    else -1 (take the greedy action)."""
    if rng.random() < epsilon:
        return draw_from_prior(prior, rng.random())
    return -1


@register_jitable
def prior_epsilon_greedy_batch(rng: np.random.Generator, epsilon: float, prior: np.ndarray,
                               greedy: np.ndarray) -> np.ndarray:
    """Eq. (5) for a batch of greedy actions: a coin and a prior draw for every entry, all coins first."""
    n = len(greedy)
    coins = rng.random(n)
    return np.where(coins < epsilon, draw_from_prior(prior, rng.random(n)), greedy)


def prior_epsilon_greedy(rng: np.random.Generator, epsilon: float, prior: np.ndarray,
                         greedy: int | np.ndarray | Callable[[], int]):
    """The behaviour policy of Paper A eq. (5): with probability epsilon an action drawn from the prior
    rho, otherwise the greedy action.

    One action: ``greedy`` is the greedy action, or a callable returning it that is called only when
    the coin says not to explore (so its own draws, e.g. tie-breaking, come after the coin's, and only
    then). A batch: ``greedy`` is an array of greedy actions (:func:`prior_epsilon_greedy_batch`).
    """
    if isinstance(greedy, np.ndarray):
        return prior_epsilon_greedy_batch(rng, epsilon, prior, greedy)
    explored = explored_action(rng, epsilon, prior)
    if explored >= 0:
        return int(explored)
    return greedy() if callable(greedy) else int(greedy)


@register_jitable
def _unstable_weights(q: np.ndarray, prior: np.ndarray, beta: float, bound: float) -> np.ndarray:
    # np.minimum/np.maximum rather than np.clip: a third of its overhead; bound inf clips nothing.
    return prior * np.exp(np.minimum(np.maximum(beta * q, -bound), bound))


@register_jitable
def soft_value_unstable_row(q_row: np.ndarray, prior: np.ndarray, beta: float, bound: float) -> float:
    """Eq. (2) evaluated literally for one state: ``log(sum rho exp(beta Q)) / beta``, with beta*Q
    clipped to [-bound, bound] first (as the reproduction report did; ``bound`` inf: not clipped).
    May return inf/nan: callers treat that as divergence."""
    return np.log(_unstable_weights(q_row, prior, beta, bound).sum()) / beta


@register_jitable
def soft_policy_unstable_row(q_row: np.ndarray, prior: np.ndarray, beta: float, bound: float) -> np.ndarray:
    """Eq. (6) evaluated literally for one state (beta*Q clipped to [-bound, bound]); may contain nan."""
    w = _unstable_weights(q_row, prior, beta, bound)
    return w / w.sum()


def soft_value_unstable(q: np.ndarray, prior: np.ndarray, beta: float, bound: float | None = None) -> np.ndarray:
    """:func:`soft_value_unstable_row` on the last axis; ``bound`` None: not clipped. No warnings."""
    with np.errstate(all="ignore"):
        return _over_rows(soft_value_unstable_row, q, prior, beta, np.inf if bound is None else bound)


def soft_policy_unstable(q: np.ndarray, prior: np.ndarray, beta: float, bound: float | None = None) -> np.ndarray:
    """:func:`soft_policy_unstable_row` on the last axis; ``bound`` None: not clipped. No warnings."""
    with np.errstate(all="ignore"):
        return _over_rows(soft_policy_unstable_row, q, prior, beta, np.inf if bound is None else bound)
