"""Paper A eq. (4): the Q regression of MIRL's deep agents and its one-step target, rlax style.

The target ``r + gamma (1 - terminated) V(s')`` is the same for every agent of both papers that
bootstraps (DQN, SQL, MIRL here; SAC, TD3, DDPG and PMAC's critics in :mod:`rlrepro.epmd.losses`):
only V differs, so it is written once, here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def td_target(reward: torch.Tensor, terminated: torch.Tensor, gamma: float, next_value: torch.Tensor) -> torch.Tensor:
    """One-step bootstrap target r + gamma (1 - terminated) V(s'); time-outs are not terminal."""
    return reward + gamma * (1.0 - terminated) * next_value


def q_regression_loss(q_taken: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """L(theta, rho) = E[(Q_theta(s, a) - (r + gamma V_target(s')))^2], Paper A eq. (4).

    ``kind='huber'`` is Nature DQN's clipped error (quadratic within 1, linear outside) instead of
    the paper's square. ``target`` carries no gradient (the caller builds it from the target network).
    """
    if kind == "mse":
        return F.mse_loss(q_taken, target)
    if kind == "huber":
        return F.smooth_l1_loss(q_taken, target)
    raise ValueError(f"unknown Q loss {kind!r}; allowed: mse, huber")
