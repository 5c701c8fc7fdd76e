"""Losses and targets of the continuous-control agents (EPMD paper, its baselines), rlax style.

Small pure functions on tensors, each named after what it computes; the docstring names the
equation. Shapes: a batch dimension first; actions have a trailing action dimension.
References: SAC (Haarnoja et al. 2018, v1 with a value network and v2 with a learned temperature),
TD3 (Fujimoto et al. 2018), DDPG (Lillicrap et al. 2016), EPMD (Mei et al. 2019, PMAC, and the
reproduction in ../shared/seeds/002: its eqs. 7, 8 and 10 are cited as "seed eq.").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from rlrepro.mirl import soft
from rlrepro.mirl.losses import td_target  # noqa: F401  (the one-step target, written once)

LOG_2PI = math.log(2 * math.pi)


def squashed_gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor, pre_tanh: torch.Tensor) -> torch.Tensor:
    """log density of a = tanh(z), z ~ N(mean, exp(log_std)^2), summed over action dimensions.

    log p(a) = log N(z) - sum log(1 - tanh(z)^2)   (seed eq. 10, the change of variables), with
    log(1 - tanh(z)^2) = 2 (log 2 - z - softplus(-2z)), which stays finite where tanh(z) = +-1 in
    floating point. Takes the pre-tanh sample z, never the squashed action.
    """
    normal = -0.5 * (((pre_tanh - mean) / log_std.exp()) ** 2 + LOG_2PI) - log_std
    log_det = 2.0 * (math.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh))
    return (normal - log_det).sum(-1)


def soft_state_value(q: torch.Tensor, log_prob: torch.Tensor, entropy_coef: float | torch.Tensor) -> torch.Tensor:
    """Entropy-regularised value of an action sample: Q(s, a) - alpha log pi(a|s), a ~ pi.

    SAC's soft value (SAC v1 eq. 3, the target of its value network; v2's bootstrap value), and
    PMAC's with alpha = tau' (the entropy weight of EPMD's objective, seed eq. 3).
    """
    return q - entropy_coef * log_prob


def squared_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """0.5 mean (prediction - target)^2, the regression loss of every critic here."""
    return 0.5 * ((prediction - target.detach()) ** 2).mean()


def reparameterised_policy_loss(q: torch.Tensor, log_prob: torch.Tensor,
                                entropy_coef: float | torch.Tensor) -> torch.Tensor:
    """SAC's policy loss E[alpha log pi(a|s) - Q(s, a)], a = f(eps; s) reparameterised
    (SAC v2 eq. 7; it minimises the KL(pi || exp(Q/alpha)/Z) direction that PMAC reverses)."""
    return (entropy_coef * log_prob - q).mean()


def temperature_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """SAC v2's automatic temperature: E[-alpha (log pi(a|s) + target_entropy)] (SAC v2 eq. 18),
    differentiated through log alpha."""
    return -(log_alpha.exp() * (log_prob.detach() + target_entropy)).mean()


def deterministic_policy_loss(q: torch.Tensor) -> torch.Tensor:
    """DDPG's and TD3's actor loss -E[Q(s, mu(s))] (the deterministic policy gradient)."""
    return -q.mean()


def smoothed_target_action(action: torch.Tensor, noise: torch.Tensor, noise_clip: float) -> torch.Tensor:
    """TD3's target policy smoothing (TD3 eq. 14): mu'(s') + clip(noise, -c, c), kept in [-1, 1]."""
    return (action + noise.clamp(-noise_clip, noise_clip)).clamp(-1.0, 1.0)


def pmac_log_target_weight(q: torch.Tensor, log_prob_reference: torch.Tensor, value: torch.Tensor,
                           kl_coef: float, entropy_coef: float) -> torch.Tensor:
    """log pi*(a|s)/pi_bar(a|s) = (Q(s, a) - tau' log pi_bar(a|s) - V(s)) / (tau + tau'), the exponent of
    seed eq. 8 (unclamped, finite where the weight itself overflows). No gradient."""
    return ((q - entropy_coef * log_prob_reference - value) / (kl_coef + entropy_coef)).detach()


def pmac_target_weight(q: torch.Tensor, log_prob_reference: torch.Tensor, value: torch.Tensor,
                       kl_coef: float, entropy_coef: float, clamp_max: float | None) -> torch.Tensor:
    """PMAC's target weight pi*(a|s) = exp((Q(s, a) - tau' log pi_bar(a|s) - V(s)) / (tau + tau'))
    (seed eq. 8) for actions a ~ pi_bar, the frozen reference policy.

    It is the ratio of the closed-form target policy pi* proportional to
    pi_bar exp((Q - tau' log pi_bar) / (tau + tau')) to pi_bar, so that the reverse KL of seed
    eq. 7 can be estimated from pi_bar's samples. ``clamp_max`` (0.9 in the first author's code,
    absent from the paper) clamps it to [0, clamp_max]; None leaves it unclamped. No gradient.
    """
    weight = torch.exp(pmac_log_target_weight(q, log_prob_reference, value, kl_coef, entropy_coef))
    if clamp_max is not None:
        weight = weight.clamp(0.0, clamp_max)
    return weight.detach()


def reverse_kl_policy_loss(weight: torch.Tensor, log_prob: torch.Tensor) -> torch.Tensor:
    """PMAC's policy loss, the reverse KL D(pi* || pi_theta) up to a constant (seed eq. 7):
    -E_{a ~ pi_bar}[pi*(a|s) log pi_theta(a|s)] with ``weight`` = pi*(a|s) / pi_bar(a|s)."""
    return -(weight * log_prob).mean()


STD_PENALTY_FORMS = ("sigma_squared", "log_sigma_squared")
"""The forms of the penalty on the Gaussian scale in :func:`gaussian_parameter_penalty`."""


def gaussian_parameter_penalty(mean: torch.Tensor, log_std: torch.Tensor, mean_coef: float, std_coef: float,
                               std_form: str = "sigma_squared") -> torch.Tensor:
    """c_mu E[mu^2] plus a penalty on the Gaussian scale: the two regularisers of the first author's
    PMAC code that the paper omits (both 1e-3 there, per seed report 002, Replication Activities).

    The mean term sums over action dimensions. ``std_form`` picks the scale term, which the sources
    leave ambiguous: 'sigma_squared', c_sigma E[sum sigma^2], the seed report's wording ".001 * sigma^2",
    which shrinks sigma towards 0; 'log_sigma_squared', c_sigma 0.5 E[mean (log sigma)^2] over batch
    and action dimensions, SAC v1's code (its Gaussian policies' regulariser), which pulls sigma
    towards 1. No equation number: neither paper writes these terms.
    """
    if std_form == "sigma_squared":
        std_term = (log_std.exp() ** 2).sum(-1).mean()
    elif std_form == "log_sigma_squared":
        std_term = 0.5 * (log_std**2).mean()
    else:
        raise ValueError(f"unknown std_penalty_form {std_form!r}; allowed: {', '.join(STD_PENALTY_FORMS)}")
    return mean_coef * (mean**2).sum(-1).mean() + std_coef * std_term


def pmac_log_partition_value(q: torch.Tensor, log_prob_reference: torch.Tensor, kl_coef: float,
                             entropy_coef: float) -> torch.Tensor:
    """V(s) = (tau + tau') log E_{a ~ pi_bar}[exp((Q(s, a) - tau' log pi_bar(a|s)) / (tau + tau'))],
    estimated from the N actions a_k ~ pi_bar on the last axis (shape [..., N] -> [...]), no gradient.

    The log of the normaliser of seed eq. 4's target pi* proportional to
    pi_bar exp((Q - tau' log pi_bar) / (tau + tau')): with it, seed eq. 8's weight
    exp((Q - tau' log pi_bar - V) / (tau + tau')) = pi*/pi_bar has mean 1 under pi_bar. It is also
    the value of the mirror-descent step, max_pi E_pi[Q] - tau KL(pi || pi_bar) + tau' H(pi).
    The Monte Carlo estimate (tau + tau') log (1/N) sum_k exp(x_k) is a soft value (Paper A eq. 2)
    of the samples' soft values x_k (:func:`soft_state_value`) under a uniform prior 1/N and inverse
    temperature 1/(tau + tau'), so it is computed by :func:`rlrepro.mirl.soft.soft_value` (logsumexp).
    It underestimates V by a Jensen gap that shrinks as N grows; N = 1 gives SAC v1's soft value.
    """
    samples = q.shape[-1]
    log_uniform = torch.full_like(q, -math.log(samples))
    soft_q = soft_state_value(q, log_prob_reference, entropy_coef)
    return soft.soft_value(soft_q, log_uniform, 1.0 / (kl_coef + entropy_coef)).detach()


def polyak_update(target: list[torch.Tensor], online: list[torch.Tensor], rate: float) -> None:
    """target <- (1 - rate) target + rate online, in place (the soft target update of DDPG)."""
    with torch.no_grad():
        torch._foreach_lerp_(target, online, rate)


# --- REPMD and its baselines on the algorithmic tasks (trajectory level) -----------------------
# Shapes [n_inputs, K]: K trajectories rho_k ~ pi_theta sampled for each input; r_k their returns
# and log pi_theta(rho_k) their log-probabilities (summed over steps).

def repmd_target_weights(returns: torch.Tensor, log_probs: torch.Tensor, tau: float, tau_prime: float) -> torch.Tensor:
    """REPMD's weights w_k = softmax_k((r_k - tau' log pi_theta(rho_k)) / (tau + tau')), no gradient.

    The mirror-descent step of seed eq. 3 with pi_bar = pi_theta (the policy that sampled) has the
    target pi*(rho) ∝ pi_bar(rho) exp((r - tau' log pi_bar(rho)) / (tau + tau'))   (seed eq. 4)
                    = pi_bar(rho)^(tau/(tau+tau')) exp(r / (tau + tau')).
    Its reversed-KL projection argmin_theta KL(pi* || pi_theta) (seed eq. 6) needs E_{pi*}[log pi_theta];
    with samples of pi_bar the importance ratio is pi*/pi_bar ∝ exp((r - tau' log pi_bar) / (tau + tau'))
    (as tau/(tau+tau') - 1 = -tau'/(tau+tau')), whose unknown normaliser the K samples of the input
    estimate: self-normalised, the ratios are a softmax over K (computed stably). tau' = 0 gives
    softmax(r / tau).
    """
    return torch.softmax((returns - tau_prime * log_probs.detach()) / (tau + tau_prime), dim=-1).detach()


def reversed_kl_projection_loss(weights: torch.Tensor, log_probs: torch.Tensor) -> torch.Tensor:
    """-sum_k w_k log pi_theta(rho_k), averaged over inputs: KL(pi* || pi_theta) up to a constant,
    estimated with the self-normalised weights w_k of pi* (seed eq. 6; REPMD's projection step)."""
    return -(weights.detach() * log_probs).sum(-1).mean()


def reinforce_loss(returns: torch.Tensor, log_probs: torch.Tensor, baseline: torch.Tensor) -> torch.Tensor:
    """REINFORCE with a baseline: -mean[(r_k - b) log pi_theta(rho_k)] over all trajectories, whose
    gradient estimates -grad E_pi[r] (Williams 1992; the UREX paper's expected-reward gradient).
    ``baseline`` b broadcasts against ``returns`` (the agents here pass the per-input mean over the
    K samples, shape [n_inputs, 1]); returns and baseline carry no gradient."""
    return -((returns - baseline).detach() * log_probs).mean()


def ment_loss(returns: torch.Tensor, log_probs: torch.Tensor, tau: float) -> torch.Tensor:
    """MENT (Nachum et al. 2017, the UREX paper): REINFORCE on the entropy-regularised return.

    The objective is O_MENT(theta) = E_{rho ~ pi_theta}[r(rho)] + tau H(pi_theta), with H the entropy of
    the distribution over whole trajectories, = E_{rho ~ pi_theta}[r(rho) - tau log pi_theta(rho)]. Its
    gradient is E[grad log pi_theta(rho) (r(rho) - tau log pi_theta(rho) - tau)]; the constant -tau goes
    into the baseline, so with K samples of an input
        grad O_MENT ~ (1/K) sum_k grad log pi_theta(rho_k) (R_k - b),  R_k = r_k - tau log pi_theta(rho_k),
    b = mean_j R_j (equation numbers not checked here). The sequence-level term -tau log pi_theta(rho_k)
    joins each sample's return (no gradient through it); the loss is ``reinforce_loss`` of the R_k.
    """
    regularised = returns - tau * log_probs.detach()
    return reinforce_loss(regularised, log_probs, regularised.mean(-1, keepdim=True))


def entropy_regularised_pg_loss(returns: torch.Tensor, log_probs: torch.Tensor, entropy: torch.Tensor,
                                tau: float, baseline: torch.Tensor) -> torch.Tensor:
    """REINFORCE with a per-step entropy bonus: -mean[(r_k - b) log pi_theta(rho_k)] - tau mean[H_k],
    averaged over all trajectories (the ``MENTStepEntropy`` variant, not MENT as its paper defines it:
    see ``ment_loss``).

    H_k is the sum over trajectory k's steps of the entropy of the policy's action distribution
    (analytic, differentiable; its mean estimates the sequence entropy, but its gradient ignores how
    theta changes the histories visited, a weaker regulariser than MENT's). ``baseline`` as in
    ``reinforce_loss``.
    """
    return reinforce_loss(returns, log_probs, baseline) - tau * entropy.mean()


def urex_weights(returns: torch.Tensor, log_probs: torch.Tensor, tau: float) -> torch.Tensor:
    """UREX's weights softmax_k(r_k / tau - log pi_theta(rho_k)), no gradient: the self-normalised
    ratios pi*_tau / pi_theta, pi*_tau ∝ exp(r / tau), over the K samples of an input, in UREX's
    gradient estimate (Nachum et al. 2017; equation number not checked here). They are REPMD's
    weights with tau + tau' = tau' = tau_UREX (no KL term)."""
    return torch.softmax(returns / tau - log_probs.detach(), dim=-1).detach()


# ------------------------------------------------------------------ DQN, SQL and MIRL on Atari (Paper A)
