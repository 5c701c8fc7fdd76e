"""REPMD, MENT (and its per-step entropy variant) and UREX on the algorithmic tasks: the pure losses by hand,
the policy's bookkeeping, every agent on every task, determinism, checkpoint/resume, divergence, and REPMD learning
Copy."""

import copy
import math
import pickle

import pytest
import torch

from rlrepro.core.loop import Diverged
from rlrepro.envs.algorithmic import ENV_CLASSES, TASKS
from rlrepro.epmd import algorithmic as repmd
from rlrepro.epmd import losses

ROW_COLUMNS = {"step", "env_steps", "updates", "train_return", "train_solve_rate", "train_episodes", "loss",
               "entropy", "curriculum_length", "eval_return", "eval_solve_rate"}
SMALL = {"hidden_size": 16, "inputs_per_batch": 4, "samples_per_input": 3}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def run(algo="REPMD", task="Copy", seed=0, cfg=None, env_kwargs=None, **budget):
    env = ENV_CLASSES[task](**env_kwargs) if env_kwargs else repmd.make_env(task)
    torch.manual_seed(seed)
    agent = repmd.make_agent(algo, env, repmd.PolicyGradientConfig(**(cfg or {})))
    budget = repmd.AlgorithmicBudget(**{"total_steps": 3000, "eval_interval": 1000, "eval_episodes": 4, **budget})
    return agent, env, budget


# ------------------------------------------------------------------------------------------ losses

RETURNS = torch.tensor([[1.0, 0.0, -0.5], [2.0, 2.0, -1.0]])
LOG_PROBS = torch.tensor([[-2.0, -1.0, -3.0], [-4.0, -0.5, -1.0]])


def softmax(values):
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def test_repmd_target_weights_by_hand():
    tau, tau_prime = 0.5, 0.25
    # w_k ∝ exp((r_k - tau' log pi_k) / (tau + tau')): input 0 -> (1.5, 0.25, 0.25) / 0.75 = (2, 1/3, 1/3)
    by_hand = [softmax([2.0, 1 / 3, 1 / 3]),
               softmax([(2.0 + 1.0) / 0.75, (2.0 + 0.125) / 0.75, (-1.0 + 0.25) / 0.75])]
    log_probs = LOG_PROBS.clone().requires_grad_()
    weights = losses.repmd_target_weights(RETURNS, log_probs, tau, tau_prime)
    torch.testing.assert_close(weights, torch.tensor(by_hand))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    assert not weights.requires_grad
    # The same weights as pi_bar(rho)^(tau/(tau+tau')) exp(r/(tau+tau')) / pi_bar(rho), normalised.
    ratio = LOG_PROBS * tau / (tau + tau_prime) + RETURNS / (tau + tau_prime) - LOG_PROBS
    torch.testing.assert_close(weights, torch.softmax(ratio, -1))


def test_repmd_weights_without_entropy_are_a_softmax_of_returns():
    weights = losses.repmd_target_weights(RETURNS, LOG_PROBS, tau=0.5, tau_prime=0.0)
    torch.testing.assert_close(weights, torch.tensor([softmax([2.0, 0.0, -1.0]), softmax([4.0, 4.0, -2.0])]))


def test_repmd_weights_are_stable_for_large_returns():
    returns = torch.tensor([[1e4, 1e4 - 1.0, -1e4]])
    log_probs = torch.tensor([[-1e3, -1e3, -1e3]])
    weights = losses.repmd_target_weights(returns, log_probs, tau=0.01, tau_prime=0.01)
    assert torch.isfinite(weights).all()
    torch.testing.assert_close(weights, torch.tensor([softmax([0.0, -50.0, -1e6])]))  # shifted by hand


def test_reversed_kl_projection_loss_by_hand():
    weights = torch.tensor([[0.5, 0.25, 0.25], [0.0, 1.0, 0.0]])
    log_probs = LOG_PROBS.clone().requires_grad_()
    loss = losses.reversed_kl_projection_loss(weights, log_probs)
    # -(0.5*-2 + 0.25*-1 + 0.25*-3) = 2 and -(-0.5) = 0.5, averaged over the 2 inputs
    torch.testing.assert_close(loss, torch.tensor(1.25))
    loss.backward()
    torch.testing.assert_close(log_probs.grad, -weights / 2)


def test_entropy_regularised_pg_loss_by_hand():
    log_probs = LOG_PROBS.clone().requires_grad_()
    entropy = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.5, 0.5]], requires_grad=True)
    baseline = RETURNS.mean(-1, keepdim=True)  # 1/6 and 1
    loss = losses.entropy_regularised_pg_loss(RETURNS, log_probs, entropy, tau=0.1, baseline=baseline)
    advantage = [[5 / 6, -1 / 6, -4 / 6], [1.0, 1.0, -2.0]]
    by_hand = -sum(a * lp for a_row, lp_row in zip(advantage, LOG_PROBS.tolist()) for a, lp in zip(a_row, lp_row)) / 6
    by_hand -= 0.1 * 7.0 / 6
    torch.testing.assert_close(loss, torch.tensor(by_hand))
    loss.backward()
    torch.testing.assert_close(log_probs.grad, -torch.tensor(advantage) / 6)
    torch.testing.assert_close(entropy.grad, torch.full((2, 3), -0.1 / 6))


def test_ment_loss_puts_the_sequence_entropy_term_in_the_return_by_hand():
    """R_k = r_k - tau log pi(rho_k), tau = 0.5: input 0 -> (2, 0.5, 1), mean 7/6; input 1 -> (4, 2.25, -0.5),
    mean 23/12; the loss is -mean_k (R_k - mean R) log pi_k, with no gradient through R."""
    log_probs = LOG_PROBS.clone().requires_grad_()
    loss = losses.ment_loss(RETURNS, log_probs, tau=0.5)
    advantage = torch.tensor([[5 / 6, -4 / 6, -1 / 6], [25 / 12, 4 / 12, -29 / 12]])
    # input 0: -(5/6)(-2) - (-4/6)(-1) - (-1/6)(-3) = 1/2; input 1: 100/12 + 2/12 - 29/12 = 73/12
    torch.testing.assert_close(loss, torch.tensor((0.5 + 73 / 12) / 6))
    loss.backward()
    torch.testing.assert_close(log_probs.grad, -advantage / 6)
    # tau = 0 is REINFORCE with the per-input mean baseline.
    torch.testing.assert_close(losses.ment_loss(RETURNS, LOG_PROBS, tau=0.0),
                               losses.reinforce_loss(RETURNS, LOG_PROBS, RETURNS.mean(-1, keepdim=True)))


def test_ment_agents_use_their_own_losses():
    """MENT's loss is ment_loss (the entropies do not enter); MENTStepEntropy's is the per-step bonus."""
    cfg = repmd.PolicyGradientConfig(entropy_coef=0.5, **SMALL)
    entropy = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.5, 0.5]])
    env = repmd.make_env("Copy")
    ment = repmd.make_agent("MENT", env, cfg)
    step = repmd.make_agent("MENTStepEntropy", env, cfg)
    torch.testing.assert_close(ment.loss(RETURNS, LOG_PROBS, entropy), losses.ment_loss(RETURNS, LOG_PROBS, 0.5))
    torch.testing.assert_close(ment.loss(RETURNS, LOG_PROBS, entropy), ment.loss(RETURNS, LOG_PROBS, entropy * 0))
    baseline = RETURNS.mean(-1, keepdim=True)
    torch.testing.assert_close(step.loss(RETURNS, LOG_PROBS, entropy),
                               losses.entropy_regularised_pg_loss(RETURNS, LOG_PROBS, entropy, 0.5, baseline))


def test_urex_weights_by_hand():
    weights = losses.urex_weights(RETURNS, LOG_PROBS.clone().requires_grad_(), tau=0.5)
    # softmax(r / tau - log pi): input 0 -> (2 + 2, 0 + 1, -1 + 3)
    torch.testing.assert_close(weights, torch.tensor([softmax([4.0, 1.0, 2.0]), softmax([8.0, 4.5, -1.0])]))
    assert not weights.requires_grad


# ------------------------------------------------------------------------------------ bookkeeping

def test_make_env_and_make_agent_reject_unknown_names():
    with pytest.raises(ValueError, match="Copy, DuplicatedInput"):
        repmd.make_env("copy")
    with pytest.raises(ValueError, match="REPMD, MENT"):
        repmd.make_agent("PPO", repmd.make_env("Copy"), repmd.PolicyGradientConfig())
    assert set(repmd.AGENTS) >= {"REPMD", "MENT"}
    with pytest.raises(ValueError, match="samples_per_input"):
        repmd.PolicyGradientConfig(samples_per_input=1)


def fresh_inputs(task, n, seed=0):
    env = repmd.make_env(task)
    envs, observations = [], []
    for i in range(n):
        observations.append(env.reset(seed=seed + i)[0])
        envs.append(copy.deepcopy(env))
    return envs, observations


@pytest.mark.parametrize("task", ["Copy", "ReversedAddition"])
def test_play_records_what_each_env_saw(task):
    """Replaying each recorded trajectory on its input gives its observations, length and return."""
    torch.manual_seed(0)
    env = repmd.make_env(task)
    agent = repmd.make_agent("REPMD", env, repmd.PolicyGradientConfig(hidden_size=16))
    envs, observations = fresh_inputs(task, 3)
    originals = [copy.deepcopy(e) for e in envs]
    attempts = 4
    episodes = repmd.play(agent.policy, envs, observations, attempts, greedy=False)
    assert episodes.actions.shape[1] == 3 * attempts
    assert len({str(episodes.actions[:, k].tolist()) for k in range(attempts)}) > 1  # sampled, not copied
    for trajectory in range(3 * attempts):
        replay = copy.deepcopy(originals[trajectory // attempts])
        obs, total, length = observations[trajectory // attempts], 0.0, int(episodes.lengths[trajectory])
        for t in range(length):
            assert episodes.observations[t, trajectory] == obs
            obs, reward, terminated, truncated, info = replay.step(episodes.actions[t, trajectory].tolist())
            total += reward
        assert terminated or truncated
        assert total == episodes.returns[trajectory]
        assert bool(episodes.solved[trajectory]) == info["solved"]


def test_log_prob_and_entropy_match_a_step_by_step_computation():
    """The packed forward pass gives, per trajectory, sum_t log p(move) + log p(write) + write log p(symbol)."""
    torch.manual_seed(1)
    env = repmd.make_env("Copy")
    policy = repmd.make_agent("REPMD", env, repmd.PolicyGradientConfig(hidden_size=16)).policy
    envs, observations = fresh_inputs("Copy", 2)
    episodes = repmd.play(policy, envs, observations, 3, greedy=False)
    log_probs, entropy = policy.log_prob_and_entropy(episodes)
    for b in range(6):
        hidden, previous, total_lp, total_h = None, torch.zeros(1, 3, dtype=torch.long), 0.0, 0.0
        for t in range(int(episodes.lengths[b])):
            x = policy.inputs(episodes.observations[t, b, None], previous, torch.tensor([t > 0]))
            logits, hidden = policy(x[None], hidden)
            move, write, symbol = (torch.log_softmax(p[0, 0], -1) for p in logits.split(policy.action_sizes, -1))
            a = episodes.actions[t, b]
            total_lp += move[a[0]] + write[a[1]] + (symbol[a[2]] if a[1] == 1 else 0.0)
            h = [-(p.exp() * p).sum() for p in (move, write, symbol)]
            total_h += h[0] + h[1] + write[1].exp() * h[2]
            previous = a[None]
        torch.testing.assert_close(log_probs[b], total_lp, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(entropy[b], total_h, rtol=1e-5, atol=1e-5)


def test_each_input_counts_once_in_the_curriculum():
    agent, env, budget = run(cfg={**SMALL, "inputs_per_batch": 5}, total_steps=1, eval_interval=1)
    repmd.train(agent, env, budget, seed=0)
    shortfalls = env.curriculum_state()["shortfalls"]
    assert len(shortfalls) == 5 < env.curriculum_window  # one batch: 5 inputs x 3 samples, 5 entries
    assert all(s <= 0 for s in shortfalls)


def test_episode_counting_enters_every_sample():
    agent, env, budget = run(cfg={**SMALL, "inputs_per_batch": 5, "curriculum_counting": "episode"}, total_steps=1,
                             eval_interval=1, env_kwargs={"curriculum_window": 1000})
    repmd.train(agent, env, budget, seed=0)
    shortfalls = env.curriculum_state()["shortfalls"]
    assert len(shortfalls) == 15 and all(s == 0 or s <= -1.5 for s in shortfalls)


def test_record_curriculum_by_hand():
    returns = torch.tensor([[2.0, 2.0, -0.5], [3.0, 3.0, 3.0]])  # targets of length 2 and 3
    env = ENV_CLASSES["Copy"](curriculum_window=100)
    repmd.record_curriculum(env, returns, [2, 3], "input_mean")
    assert env.curriculum_state()["shortfalls"] == pytest.approx([-2.5 / 3, 0.0])
    env = ENV_CLASSES["Copy"](curriculum_window=100)
    repmd.record_curriculum(env, torch.tensor([[-0.5, 2.0, 2.0], [3.0, 1.5, 3.0]]), [2, 3], "first_sample")
    assert env.curriculum_state()["shortfalls"] == [-2.5, 0.0]
    env = ENV_CLASSES["Copy"](curriculum_window=100)
    repmd.record_curriculum(env, returns, [2, 3], "episode")
    assert env.curriculum_state()["shortfalls"] == [0.0, 0.0, -2.5, 0.0, 0.0, 0.0]
    # Entries stop at a promotion: the rest of the batch was drawn at the old length.
    env = ENV_CLASSES["Copy"](curriculum_window=2)
    repmd.record_curriculum(env, returns, [2, 3], "episode")
    assert env.min_length == 3 and env.curriculum_state()["shortfalls"] == []
    with pytest.raises(ValueError,
                       match="curriculum_counting must be one of first_sample, episode, input_mean, got 'inputs'"):
        repmd.PolicyGradientConfig(curriculum_counting="inputs")


def test_promotion_over_the_mean_of_k_samples_reads_as_documented():
    """A failed sample falls short by at least 1.5 (test_algorithmic_envs): with K = 10, threshold -1 lets 6
    failures of -1.5 per input through and not 7; threshold -0.1 (Reverse, RepeatCopy) lets none through."""
    samples = 10
    for task, allowed in (("Copy", 6), ("ReversedAddition", 6), ("Reverse", 0), ("RepeatCopy", 0)):
        for failures in (allowed, allowed + 1):
            env = repmd.make_env(task)
            start = env.min_length
            for _ in range(env.curriculum_window):
                env.record_shortfall(failures * -1.5 / samples)
            assert env.min_length == start + (failures == allowed), (task, failures)


# ------------------------------------------------------------------------------------- end to end

@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("algo", sorted(repmd.AGENTS))
def test_every_agent_runs_on_every_task(algo, task):
    agent, env, budget = run(algo, task, cfg=SMALL, total_steps=600, eval_interval=250)
    rows = repmd.train(agent, env, budget, seed=0)
    assert [r["step"] for r in rows] == [250, 500, 600]
    assert all(set(r) == ROW_COLUMNS for r in rows)
    assert rows[-1]["env_steps"] >= 600 and rows[-1]["updates"] == agent.updates > 0
    assert all(math.isfinite(r["loss"]) and r["train_episodes"] > 0 for r in rows)


def test_same_seed_same_rows_and_another_seed_differs():
    first = repmd.train(*run(cfg=SMALL), seed=0)
    again = repmd.train(*run(cfg=SMALL), seed=0)
    other = repmd.train(*run(cfg=SMALL, seed=1), seed=1)
    assert first == again
    assert first != other


@pytest.mark.parametrize("algo", ["REPMD", "MENT"])
def test_resume_from_a_checkpoint_gives_the_uninterrupted_rows(algo):
    # A window longer than the run keeps every curriculum entry, so the curriculum's state is checked too.
    budget = {"total_steps": 4000, "eval_interval": 1000, "checkpoint_interval": 1500,
              "env_kwargs": {"curriculum_window": 10_000}}
    agent, full_env, full_budget = run(algo, cfg=SMALL, **budget)
    full = repmd.train(agent, full_env, full_budget, seed=3)

    saved = []
    repmd.train(*run(algo, cfg=SMALL, **budget), seed=3,
                on_checkpoint=lambda state: saved.append(pickle.dumps(state)))
    assert len(saved) >= 2
    state = pickle.loads(saved[0])
    assert 1500 <= state.step < 4000 and len(state.rows) == 1
    agent, env, budget = run(algo, cfg=SMALL, seed=99, **budget)  # other initial weights: all comes from the state
    resumed = repmd.train(agent, env, budget, seed=3, resume=state)
    assert resumed == full
    assert env.curriculum_state() == full_env.curriculum_state()


def test_non_finite_loss_raises_diverged_with_the_rows_so_far():
    agent, env, budget = run(cfg=SMALL, total_steps=3000, eval_interval=100)
    rows = repmd.train(agent, env, repmd.AlgorithmicBudget(total_steps=200, eval_interval=100, eval_episodes=2), seed=0)
    assert len(rows) == 2
    with torch.no_grad():
        agent.policy.head.bias.fill_(float("nan"))
    with pytest.raises(Diverged) as err:
        repmd.train(agent, env, budget, seed=0)
    assert err.value.quantity == "loss" and err.value.rows == []
    agent, env, budget = run(cfg={**SMALL, "learning_rate": float("inf")}, total_steps=3000, eval_interval=10)
    with pytest.raises(Diverged) as err:
        repmd.train(agent, env, budget, seed=0)
    assert err.value.quantity in ("loss", "grad_norm") and len(err.value.rows) >= 1


def test_repmd_learns_copy():
    """From about nothing right to solving Copy and climbing the curriculum within 50k steps (~4 s;
    seeds 0-3 all pass the bar at 45k)."""
    agent, env, budget = run(total_steps=50_000, eval_interval=10_000, eval_episodes=20)
    rows = repmd.train(agent, env, budget, seed=0)
    first, last = rows[0], rows[-1]
    assert first["train_return"] < 0.5 and first["curriculum_length"] == 2
    assert last["train_return"] > first["train_return"] + 2
    assert last["curriculum_length"] >= 4 and last["eval_solve_rate"] >= 0.8
