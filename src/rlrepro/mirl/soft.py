"""The soft value and soft policy of MIRL (Paper A), written once for every soft agent.

Notation follows the paper: a prior rho over actions, an inverse temperature beta and action
values Q(s, .). All functions act on the last axis, so they take one state's row ``q[s]`` or a
whole table ``q`` alike.

The stable forms (:func:`soft_value`, :func:`soft_policy`) are the authors' fix for the overflow
reported by the reproduction: work with the logits ``log rho + beta * Q`` and subtract their
maximum before exponentiating (logsumexp / softmax). :func:`soft_value_unstable` and
:func:`soft_policy_unstable` keep the exponent as the paper writes it, optionally clipped, and
exist only for the stability study.

The stable forms, :func:`prior_update` and :func:`beta_update` take numpy arrays (the tabular
agents) and torch tensors (the Atari agents, on any device) alike, so the approximate setting uses
the very code the tabular one does.

Equation numbers follow the reproduction report (../shared/seeds/000), as papers.md does; the
revised paper numbers them differently (the public reproduction's code cites eq. 11 for the prior
update and eq. 12 for the tabular Q update).
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def soft_logits(q: np.ndarray, log_prior: np.ndarray, beta: float) -> np.ndarray:
    """``log rho(a) + beta * Q(s, a)``: the log of eq. (6)'s numerator."""
    return log_prior + beta * q


def soft_value(q, log_prior, beta: float):
    """Soft value V(s) = (1/beta) log sum_a rho(a) exp(beta Q(s, a)), Paper A eq. (2).

    Computed as a logsumexp of the logits, exact and finite for any finite Q and beta > 0
    (including beta = 1e6, where the naive form over- or underflows).
    """
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    z = soft_logits(q, log_prior, beta)
    if not isinstance(z, np.ndarray):  # a torch tensor
        return z.logsumexp(dim=-1) / beta
    m = z.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True))
    return lse[..., 0] / beta


def soft_policy(q, log_prior, beta: float):
    """Soft policy pi(a|s) = rho(a) exp(beta Q(s, a)) / Z, Paper A eq. (6), as a stable softmax."""
    z = soft_logits(q, log_prior, beta)
    if not isinstance(z, np.ndarray):  # a torch tensor
        return z.softmax(dim=-1)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


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


def prior_epsilon_greedy(rng: np.random.Generator, epsilon: float, prior: np.ndarray,
                         greedy: int | np.ndarray | Callable[[], int]):
    """The behaviour policy of Paper A eq. (5): with probability epsilon an action drawn from the prior
    rho, otherwise the greedy action.

    One action: ``greedy`` is the greedy action, or a callable returning it that is called only when
    the coin says not to explore (so its own draws, e.g. tie-breaking, come after the coin's, and only
    then). A batch: ``greedy`` is an array of greedy actions; a coin and a prior draw are made for every
    entry, all coins first.
    """
    if isinstance(greedy, np.ndarray):
        n = len(greedy)
        return np.where(rng.random(n) < epsilon, rng.choice(len(prior), size=n, p=prior), greedy)
    if rng.random() < epsilon:
        return int(rng.choice(len(prior), p=prior))
    return greedy() if callable(greedy) else int(greedy)


def _unstable_weights(q: np.ndarray, prior: np.ndarray, beta: float, bound: float | None) -> np.ndarray:
    exponent = beta * q
    if bound is not None:
        exponent = np.minimum(np.maximum(exponent, -bound), bound)  # np.clip, at a third of its overhead
    return prior * np.exp(exponent)


def soft_value_unstable(q: np.ndarray, prior: np.ndarray, beta: float, bound: float | None = None) -> np.ndarray:
    """Eq. (2) evaluated literally: ``log(sum rho exp(beta Q)) / beta``.

    With ``bound`` the product beta*Q is clipped to [-bound, bound] first, as the reproduction
    report did. May return inf/nan (no warning): callers treat that as divergence.
    """
    with np.errstate(all="ignore"):
        return np.log(_unstable_weights(q, prior, beta, bound).sum(axis=-1)) / beta


def soft_policy_unstable(q: np.ndarray, prior: np.ndarray, beta: float, bound: float | None = None) -> np.ndarray:
    """Eq. (6) evaluated literally (optionally with beta*Q clipped); may contain nan."""
    with np.errstate(all="ignore"):
        w = _unstable_weights(q, prior, beta, bound)
        return w / w.sum(axis=-1, keepdims=True)
