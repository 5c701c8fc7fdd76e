"""The networks of the actor-critic agents (:mod:`rlrepro.epmd.continuous`): MLPs, critics evaluated as
one batched ensemble, squashed-Gaussian and deterministic actors, frozen copies for targets, and the
precision of the forward passes.

Every network returns fp32: under bf16 autocast its matmuls run in bf16, its output is cast back, so
the losses and everything downstream of a network stay in fp32 (a no-op at fp32)."""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager

import torch
from torch import nn

from rlrepro.epmd import losses


def mlp(n_in: int, n_out: int, hidden: list[int]) -> nn.Sequential:
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, n_out))


class EnsembleLinear(nn.Module):
    """``n`` independent linear layers applied in one batched matmul (twin critics in one call)."""

    def __init__(self, n: int, n_in: int, n_out: int):
        super().__init__()
        bound = 1 / math.sqrt(n_in)  # nn.Linear's default initialisation
        self.weight = nn.Parameter(torch.empty(n, n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n, 1, n_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, members: int | None = None) -> torch.Tensor:
        if members is None:
            return torch.baddbmm(self.bias, x, self.weight)
        return torch.baddbmm(self.bias[:members], x, self.weight[:members])


class Critics(nn.Module):
    """``n`` Q-networks Q_i(s, a); forward returns shape (n, batch)."""

    def __init__(self, n: int, obs_dim: int, act_dim: int, hidden: list[int]):
        super().__init__()
        self.n = n
        widths = [obs_dim + act_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [EnsembleLinear(n, a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, EnsembleLinear(n, widths[-1], 1))

    def forward(self, obs: torch.Tensor, action: torch.Tensor, members: int | None = None) -> torch.Tensor:
        """Q_i(s, a) for all i, or for the first ``members`` only (TD3's actor needs Q_1)."""
        x = torch.cat([obs, action], -1).expand(members or self.n, -1, -1)
        for layer in self.net:
            x = layer(x, members) if isinstance(layer, EnsembleLinear) else layer(x)
        return x.squeeze(-1).float()


@contextmanager
def frozen(module: nn.Module):
    """Gradients flow through ``module`` to its inputs but are not computed for its weights
    (the actor's loss needs dQ/da, not dQ/dw: a third less backward work)."""
    module.requires_grad_(False)
    try:
        yield module
    finally:
        module.requires_grad_(True)


class GaussianActor(nn.Module):
    """State -> (mean, log std) of the pre-tanh Gaussian of a squashed-Gaussian policy."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int], log_std_bounds: tuple[float, float]):
        super().__init__()
        self.net = mlp(obs_dim, 2 * act_dim, hidden)
        self.log_std_bounds = log_std_bounds

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(obs).float().chunk(2, -1)
        return mean, log_std.clamp(*self.log_std_bounds)


def sample_squashed(mean: torch.Tensor, log_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reparameterised a = tanh(z), z = mean + std * eps; returns (a, z, log pi(a|s))."""
    z = mean + log_std.exp() * torch.randn_like(mean)
    return torch.tanh(z), z, losses.squashed_gaussian_log_prob(mean, log_std, z)


class DeterministicActor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int]):
        super().__init__()
        self.net = mlp(obs_dim, act_dim, hidden)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs).float())


def frozen_copy(module: nn.Module) -> nn.Module:
    clone = copy.deepcopy(module)
    clone.requires_grad_(False)
    return clone
