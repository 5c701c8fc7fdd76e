import math

import numpy as np
import pytest
from numba import njit

from rlrepro.mirl.soft import (
    explored_action,
    prior_epsilon_greedy_batch,
    prior_update,
    soft_policy,
    soft_policy_unstable,
    soft_value,
    soft_value_unstable,
)
from rlrepro.mirl.tabular import (
    MIRL,
    SOFT_FORMS,
    Budget,
    MarginalSoftQLearning,
    QLearning,
    SoftQLearning,
    TabularConfig,
    correct_action_ceiling,
    greedy_action,
)


def test_soft_value_equals_naive_formula_where_finite():
    rng = np.random.default_rng(0)
    for _ in range(200):
        q = rng.normal(0, 5, size=(3, 4))
        prior = rng.dirichlet(np.ones(4))
        beta = float(rng.uniform(0.01, 20))
        naive = np.log((prior * np.exp(beta * q)).sum(-1)) / beta
        np.testing.assert_allclose(soft_value(q, np.log(prior), beta), naive, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(soft_policy(q, np.log(prior), beta),
                                   prior * np.exp(beta * q) / (prior * np.exp(beta * q)).sum(-1, keepdims=True),
                                   rtol=1e-10, atol=1e-14)


def test_soft_value_hand_computed():
    q = np.array([1.0, 2.0])
    prior = np.array([0.25, 0.75])
    # V = log(0.25 e^2 + 0.75 e^4) / 2 at beta = 2
    expected = math.log(0.25 * math.e ** 2 + 0.75 * math.e ** 4) / 2
    assert soft_value(q, np.log(prior), 2.0) == pytest.approx(expected, rel=1e-14)


def test_soft_value_finite_and_exact_at_beta_1e6():
    q = np.array([1.0, 0.5, -2.0, 1.0])
    prior = np.full(4, 0.25)
    beta = 1e6
    assert not np.isfinite(soft_value_unstable(q, prior, beta))  # the literal form overflows
    # Two actions share the max: V = max Q + log(0.25 + 0.25) / beta exactly (others vanish).
    assert soft_value(q, np.log(prior), beta) == pytest.approx(1.0 + math.log(0.5) / beta, rel=1e-15)
    assert soft_value(-q, np.log(prior), beta) == pytest.approx(2.0 + math.log(0.25) / beta, rel=1e-15)
    np.testing.assert_allclose(soft_policy(q, np.log(prior), beta), [0.5, 0.0, 0.0, 0.5])


def test_unstable_forms_overflow_and_clip():
    q = np.array([-10.0, -12.0])
    prior = np.array([0.5, 0.5])
    assert soft_value_unstable(q, prior, 100.0) == -np.inf  # exp underflows to 0 for both actions
    assert np.isnan(soft_policy_unstable(q, prior, 100.0)).all()
    # Clipped at 300, both exponents hit the bound: V = -300 / beta, pi uniform, information lost.
    assert soft_value_unstable(q, prior, 100.0, bound=300) == pytest.approx(-3.0)
    np.testing.assert_allclose(soft_policy_unstable(q, prior, 100.0, bound=300), [0.5, 0.5])


def test_soft_value_rejects_nonpositive_beta():
    with pytest.raises(ValueError, match="beta must be positive"):
        soft_value(np.zeros(2), np.log(np.full(2, 0.5)), 0.0)


def test_prior_update_eq7_hand_computed():
    np.testing.assert_allclose(prior_update(np.array([0.5, 0.5]), np.array([0.9, 0.1]), 0.1), [0.54, 0.46])


def test_mirl_step_matches_hand_computation():
    cfg = TabularConfig(gamma=0.9, alpha_rho=0.1, beta_increment=0.5)
    agent = MIRL(n_states=2, n_actions=2, cfg=cfg)
    agent.q[:] = [[1.0, 0.0], [2.0, 4.0]]
    agent.set_prior(np.array([0.25, 0.75]))
    beta = agent.beta  # 0.5 = c * (0 + 1)
    # Target with rho_0, beta_0 at s' = 1.
    v_next = math.log(0.25 * math.exp(beta * 2.0) + 0.75 * math.exp(beta * 4.0)) / beta
    target = -1.0 + 0.9 * v_next
    # pi_0(.|s=0) from Q before the update.
    w = np.array([0.25 * math.exp(beta * 1.0), 0.75 * math.exp(0.0)])
    pi0 = w / w.sum()
    agent.update(0, 1, -1.0, 1, False)
    # First visit: alpha_Q = 1^-0.8 = 1, so Q(0,1) becomes the target.
    assert agent.q[0, 1] == pytest.approx(target, rel=1e-12)
    np.testing.assert_allclose(agent.rho, 0.9 * np.array([0.25, 0.75]) + 0.1 * pi0, rtol=1e-12)
    assert agent.beta == pytest.approx(1.0)  # beta_1 = c * 2
    # Second visit: alpha_Q = 2^-0.8.
    q_before = agent.q[0, 1]
    agent.update(0, 1, -1.0, 1, True)
    assert agent.q[0, 1] == pytest.approx(q_before + 2 ** -0.8 * (-1.0 - q_before), rel=1e-12)


def test_q_learning_step_hand_computed():
    agent = QLearning(2, 2, TabularConfig(gamma=0.5))
    agent.q[:] = [[0.0, 0.0], [3.0, -1.0]]
    agent.update(0, 0, 1.0, 1, False)
    assert agent.q[0, 0] == pytest.approx(1.0 + 0.5 * 3.0)


def test_sql_m_marginal_as_prior_in_eqs_2_and_6_hand_computed():
    """The paper's SQL_m: rho = the action marginal (counts + pseudo-count) in V (eq. 2) and pi (eq. 6)."""
    cfg = TabularConfig(gamma=0.5, beta_increment=1.0, marginal_prior_in_soft_value=True, marginal_pseudo_count=1.0)
    agent = MarginalSoftQLearning(2, 2, cfg)
    np.testing.assert_allclose(agent.rho, [0.5, 0.5])
    agent.update(0, 1, 0.0, 1, True)  # counts (1, 2): marginal (1/3, 2/3), beta 2
    np.testing.assert_allclose(agent.rho, [1 / 3, 2 / 3])
    agent.q[1] = [1.0, 0.0]
    v = math.log(1 / 3 * math.exp(2.0) + 2 / 3) / 2.0
    assert agent.next_value(agent.q[1]) == pytest.approx(v, rel=1e-12)
    w = np.array([1 / 3 * math.exp(2.0), 2 / 3])
    np.testing.assert_allclose(agent.policy(agent.q[1]), w / w.sum(), rtol=1e-12)
    # The reproduction's reading keeps rho uniform in V and pi and explores from the marginal.
    explore = MarginalSoftQLearning(2, 2, TabularConfig(beta_increment=1.0))
    explore.update(0, 1, 0.0, 1, True)
    np.testing.assert_allclose(explore.rho, [0.5, 0.5])
    np.testing.assert_allclose(explore.exploration_prior(), [0.0, 1.0])


def test_marginal_as_prior_needs_a_pseudo_count():
    with pytest.raises(ValueError, match="marginal_pseudo_count > 0"):
        TabularConfig(marginal_prior_in_soft_value=True)
    with pytest.raises(ValueError, match="marginal_pseudo_count must be >= 0"):
        TabularConfig(marginal_pseudo_count=-1)


def test_correct_action_ceiling_hand_computed():
    """(1 - eps) + eps rho(a*): 0.925 for a uniform prior over four actions and eps 0.1."""
    assert correct_action_ceiling(np.full(4, 0.25), np.array([3]), 0.1) == pytest.approx(0.925)
    assert correct_action_ceiling(np.array([0.4, 0.3, 0.2, 0.1]), np.array([3]), 0.1) == pytest.approx(0.91)
    assert correct_action_ceiling(np.array([0.4, 0.3, 0.2, 0.1]), np.array([1, 3]), 0.5) == pytest.approx(0.6)


def test_max_abs_beta_q_diagnostic():
    agent = SoftQLearning(2, 2, TabularConfig(beta_increment=2.0))
    agent.q[:] = [[1.0, -3.0], [0.5, 0.0]]
    assert agent.diagnostics()["max_abs_beta_q"] == pytest.approx(6.0)


def test_budget_early_snapshots():
    budget = Budget(total_steps=3000, eval_interval=1000, early_eval_interval=200, early_eval_until=1000,
                    log_interval=100)
    assert [s for s in range(100, 3001, 100) if budget.evaluates_at(s)] == [200, 400, 600, 800, 1000, 2000, 3000]
    assert [s for s in range(100, 3001, 100) if Budget(total_steps=3000).evaluates_at(s)] == [1000, 2000, 3000]
    with pytest.raises(ValueError, match="early_eval_interval \\(150\\) must be a multiple of log_interval"):
        Budget(early_eval_interval=150)


@pytest.mark.parametrize("form", SOFT_FORMS)
def test_compiled_agent_uses_the_equations_of_soft_py(form):
    """The compiled loop's V(s') and pi(.|s) (agent.next_value / agent.policy) are soft.py's eqs. (2) and (6)."""
    cfg = TabularConfig(soft_form=form, clip_bound=3.0)
    agent = MIRL(3, 4, cfg)
    rng = np.random.default_rng(0)
    for _ in range(50):
        agent.q[:] = rng.normal(0, 4, size=(3, 4))
        agent.set_prior(rng.dirichlet(np.ones(4)))
        agent.beta = float(rng.uniform(0.01, 5))
        if form == "stable":
            value = soft_value(agent.q, agent.log_rho, agent.beta)
            policy = soft_policy(agent.q, agent.log_rho, agent.beta)
        else:
            bound = 3.0 if form == "clipped" else None
            value = soft_value_unstable(agent.q, agent.rho, agent.beta, bound)
            policy = soft_policy_unstable(agent.q, agent.rho, agent.beta, bound)
        for s in range(3):
            assert agent.next_value(agent.q[s]) == pytest.approx(value[s], rel=1e-12)
            np.testing.assert_allclose(agent.policy(agent.q[s]), policy[s], rtol=1e-12)


def test_compiled_draws_are_numpys():
    """Compiled, eq. (5) and the tie-breaking draw from the generator as numpy would, and advance it alike."""
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    explore = njit(lambda rng: explored_action(rng, 0.5, prior))
    batch = njit(lambda rng, greedy: prior_epsilon_greedy_batch(rng, 0.3, prior, greedy))
    compiled, reference = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(200):
        want = int(reference.choice(4, p=prior)) if reference.random() < 0.5 else -1
        assert explore(compiled) == want
    greedy = np.array([0, 1, 2, 3, 3, 2])
    want = np.where(reference.random(6) < 0.3, reference.choice(4, size=6, p=prior), greedy)
    assert (batch(compiled, greedy) == want).all()
    assert compiled.random() == reference.random()


def test_greedy_action_breaks_ties_uniformly_and_flags_non_finite_scores():
    rng = np.random.default_rng(0)
    picks = [greedy_action(np.array([1.0, 3.0, 3.0, 3.0]), rng) for _ in range(3000)]
    assert set(picks) == {1, 2, 3} and max(np.bincount(picks)[1:]) < 1100
    assert greedy_action(np.array([1.0, 2.0, 0.0]), rng) == 1
    assert greedy_action(np.array([np.nan, 1.0]), rng) == -1
    assert greedy_action(np.array([-np.inf, -np.inf]), rng) == -1
