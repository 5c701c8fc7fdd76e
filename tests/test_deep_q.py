"""DQN, SQL and MIRL on Atari: the soft target, prior and beta updates by hand, the agents on real
ALE games, determinism, kill and resume, divergence, and bad game ids."""

import math
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from rlrepro.core import runstore
from rlrepro.core.config import ConfigError, load_config, validate_config
from rlrepro.core.loop import Diverged
from rlrepro.envs.atari import check_game, game_ids
from rlrepro.mirl import atari as deep_q
from rlrepro.mirl.soft import beta_update, prior_update
from rlrepro.train import run

SMALL = {"buffer_size": 400, "learning_starts": 100, "epsilon_decay_steps": 200, "target_update_interval": 50,
         "batch_size": 8}
ROW_COLUMNS = {"step", "train_return", "train_episodes", "loss", "q_mean", "updates", "epsilon", "eval_return",
               "eval_return_std"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def spec(agent="DQN", env="BreakoutNoFrameskip-v4", seed=0, cfg=None, **budget):
    return {"paper": "mirl", "experiment": "test", "kind": "atari", "algo": agent.lower(), "label": agent,
            "agent": agent, "agent_config": {**SMALL, **(cfg or {})}, "env": env, "seed": seed,
            "budget": {"total_steps": 300, "eval_interval": 150, "eval_episodes": 1, "eval_max_frames": 2000,
                       "checkpoint_interval": 100, **budget},
            "config_scale": "test", "below_paper_scale": True, "scale_notes": [], "device": "cpu"}


def same_rows(a: list[dict], b: list[dict]) -> bool:
    """Equal metrics tables (NaN equals NaN: a window without a finished game has no train return)."""
    return pd.DataFrame(a).equals(pd.DataFrame(b))


def agent_of(kind="DeepMIRL", n_actions=3, **cfg):
    torch.manual_seed(0)
    return deep_q.AGENTS[kind](n_actions, deep_q.DeepQConfig(**cfg), torch.device("cpu"))


# ------------------------------------------------------------------------------ the math, by hand

def test_soft_target_by_hand():
    agent = agent_of("DeepSoftQ", n_actions=2, beta_init=2.0, gamma=0.5)
    q_next = torch.tensor([[0.0, math.log(3.0) / 2.0], [1.0, 1.0]], dtype=torch.float64)
    # V = (1/beta) log sum_a rho(a) exp(beta Q): row 0 -> 0.5 log((1 + 3) / 2) = 0.5 log 2; row 1 -> 1
    value = agent.next_value(q_next)
    torch.testing.assert_close(value, torch.tensor([0.5 * math.log(2.0), 1.0], dtype=torch.float64))
    target = deep_q.td_target(torch.tensor([1.0, -1.0], dtype=torch.float64),
                              torch.tensor([0.0, 1.0], dtype=torch.float64), 0.5, value)
    torch.testing.assert_close(target, torch.tensor([1.0 + 0.25 * math.log(2.0), -1.0], dtype=torch.float64))


def test_soft_target_under_a_learned_prior_by_hand():
    agent = agent_of("DeepMIRL", n_actions=2, beta_init=1.0)
    agent.set_prior(np.array([0.25, 0.75]))
    value = agent.next_value(torch.tensor([[math.log(2.0), 0.0]]))
    torch.testing.assert_close(value, torch.tensor([math.log(0.25 * 2.0 + 0.75)]))


def test_dqn_target_is_the_max():
    agent = agent_of("DQN", n_actions=3)
    torch.testing.assert_close(agent.next_value(torch.tensor([[1.0, 3.0, 2.0]])), torch.tensor([3.0]))


@pytest.mark.parametrize("beta", [1.0, 1e3, 1e6])
def test_soft_target_stays_finite_for_large_beta(beta):
    agent = agent_of("DeepMIRL", n_actions=4, beta_init=beta)
    agent.set_prior(np.array([0.7, 0.1, 0.1, 0.1]))
    q_next = torch.tensor([[10.0, -10.0, 3.0, 9.9999], [-50.0, -50.0, -50.0, -49.0]])
    value = agent.next_value(q_next)
    assert torch.isfinite(value).all()
    if beta == 1e6:  # the soft value tends to the max as beta grows
        torch.testing.assert_close(value, torch.tensor([10.0, -49.0]), atol=1e-4, rtol=0)


def test_mirl_prior_update_eq7_by_hand():
    agent = agent_of("DeepMIRL", n_actions=2, beta_init=1.0, alpha_rho=0.1)
    q = np.array([math.log(3.0), 0.0])  # uniform prior: pi = (3/4, 1/4)
    agent.observe_policy(q, step=0)
    np.testing.assert_allclose(agent.rho, [0.9 * 0.5 + 0.1 * 0.75, 0.9 * 0.5 + 0.1 * 0.25])
    np.testing.assert_allclose(prior_update(np.array([0.5, 0.5]), np.array([0.75, 0.25]), 0.1), agent.rho)


def test_sql_and_dqn_keep_the_uniform_prior():
    for kind in ("DQN", "DeepSoftQ"):
        agent = agent_of(kind, n_actions=3)
        agent.observe_policy(np.array([5.0, 0.0, 0.0]), step=0)
        np.testing.assert_allclose(agent.rho, np.full(3, 1 / 3))


def test_beta_update_eq8_by_hand():
    assert beta_update(10.0, 0.5, 0.1) == pytest.approx(0.9 * 10.0 + 0.1 * 2.0)
    agent = agent_of("DeepSoftQ", beta_init=10.0, alpha_beta=0.1)
    agent.after_update(0.5, step=7)
    assert agent.beta == pytest.approx(9.2)
    fixed = agent_of("DeepSoftQ", beta_init=10.0, alpha_beta=0.1, adapt_beta=False)
    fixed.after_update(0.5, step=7)
    assert fixed.beta == 10.0


def test_zero_loss_makes_beta_infinite_and_the_run_diverged():
    agent = agent_of("DeepMIRL", beta_init=10.0, alpha_beta=0.1)
    with pytest.raises(Diverged) as err:
        agent.after_update(0.0, step=42)
    assert (err.value.step, err.value.quantity) == (42, "beta")


def test_behaviour_eq5_explores_from_the_prior():
    agent = agent_of("DeepMIRL", n_actions=3)
    agent.set_prior(np.array([0.0, 0.0, 1.0]))
    rng = np.random.default_rng(0)
    assert {agent.act(np.array([9.0, 0.0, 0.0]), 1.0, rng) for _ in range(50)} == {2}
    dqn = agent_of("DQN", n_actions=3)
    assert {dqn.act(np.array([9.0, 0.0, 0.0]), 1.0, rng) for _ in range(200)} == {0, 1, 2}
    assert dqn.act(np.array([0.0, 9.0, 0.0]), 0.0, rng) == 1


class CountingFrames:
    """A frame stack that counts how often it is asked for."""

    def __init__(self, seed: int):
        self.frames = np.random.default_rng(seed).integers(0, 255, (4, 84, 84), dtype=np.uint8)
        self.calls = 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.frames


@pytest.mark.parametrize("kind", ["DQN", "DeepSoftQ", "DeepMIRL"])
def test_q_is_computed_only_when_the_behaviour_needs_it(kind):
    """DQN and SQL compute Q(s, .) only for a greedy action; MIRL while training at every step (eq. 7).
    The actions and random draws are those of act() given Q."""
    agent, reference = agent_of(kind, n_actions=4), agent_of(kind, n_actions=4)
    rng, reference_rng = np.random.default_rng(0), np.random.default_rng(0)
    for step, epsilon in enumerate([1.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.0, 0.0]):
        frames = CountingFrames(step)
        action = agent.training_action(frames, epsilon, rng, step)
        q = reference.q_values(frames.frames)
        assert action == reference.act(q, epsilon, reference_rng)
        reference.observe_policy(q, step)
        np.testing.assert_array_equal(agent.rho, reference.rho)
        expected = 1 if kind == "DeepMIRL" else {1.0: 0, 0.0: 1}.get(epsilon)  # at 0.5: as the coin says
        assert frames.calls <= 1 and (expected is None or frames.calls == expected)
        evaluation = CountingFrames(step)
        agent.act_on(evaluation, 1.0, rng)
        reference.act(q, 1.0, reference_rng)
        assert evaluation.calls == 0  # evaluation never learns the prior
    assert rng.random() == reference_rng.random()


def test_greedy_action_weighs_prior_and_beta():
    agent = agent_of("DeepMIRL", n_actions=2, beta_init=1.0)
    agent.set_prior(np.array([0.9, 0.1]))
    q = np.array([0.0, 1.0])  # log 0.9 + 0 > log 0.1 + 1
    assert agent.act(q, 0.0, np.random.default_rng(0)) == 0
    agent.beta = 10.0
    assert agent.act(q, 0.0, np.random.default_rng(0)) == 1


def test_epsilon_schedule():
    cfg = deep_q.DeepQConfig(epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_steps=100)
    assert [deep_q.epsilon_at(t, cfg) for t in (0, 50, 100, 1000)] == pytest.approx([1.0, 0.55, 0.1, 0.1])


def test_update_regresses_on_the_target_network():
    agent = agent_of("DQN", n_actions=2, learning_rate=1e-3)
    rng = np.random.default_rng(0)
    batch = {"obs": rng.integers(0, 255, (4, 4, 84, 84), dtype=np.uint8), "action": np.array([0, 1, 0, 1]),
             "reward": np.ones(4, dtype=np.float32), "next_obs": rng.integers(0, 255, (4, 4, 84, 84), dtype=np.uint8),
             "terminated": np.array([0, 0, 1, 1], dtype=np.float32)}
    before = [p.clone() for p in agent.target.parameters()]
    losses = [agent.update(batch, step=i)["loss"] for i in range(30)]
    assert losses[-1] < losses[0]
    # only sync_target moves it
    assert all(torch.equal(a, b) for a, b in zip(before, agent.target.parameters(), strict=True))
    agent.sync_target()
    assert all(torch.equal(a, b) for a, b in zip(agent.q.parameters(), agent.target.parameters(), strict=True))


def test_adam_kernels_give_the_same_update():
    """Ours (foreach) equals torch's per-tensor default bit for bit; ``fused_adam`` equals it up to rounding."""
    rng = np.random.default_rng(0)
    batch = {"obs": rng.integers(0, 255, (8, 4, 84, 84), dtype=np.uint8), "action": rng.integers(0, 2, 8),
             "reward": rng.normal(size=8).astype(np.float32),
             "next_obs": rng.integers(0, 255, (8, 4, 84, 84), dtype=np.uint8), "terminated": np.zeros(8, np.float32)}
    weights = {}
    for kernel in ("default", "foreach", "fused"):
        agent = agent_of("DQN", n_actions=2, learning_rate=1e-3, fused_adam=kernel == "fused")
        if kernel == "default":
            agent.optimizer = torch.optim.Adam(agent.q.parameters(), lr=1e-3, foreach=False)
        assert agent.optimizer.defaults["fused"] is (True if kernel == "fused" else None)
        agent.update(batch, step=1)  # the same gradients: only the optimiser's arithmetic can differ
        weights[kernel] = [p.detach().clone() for p in agent.q.parameters()]
    start = [p.detach() for p in agent_of("DQN", n_actions=2).q.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(weights["default"], weights["foreach"], strict=True))
    for before, default, fused in zip(start, weights["default"], weights["fused"], strict=True):
        moved = (default - before).abs().max()  # Adam's first step: about lr = 1e-3 per weight
        assert moved > 1e-4 and (fused - default).abs().max() < 1e-5 * moved


def test_bf16_update_runs_the_network_in_bf16_and_keeps_weights_and_loss_in_fp32():
    rng = np.random.default_rng(0)
    batch = {"obs": rng.integers(0, 255, (8, 4, 84, 84), dtype=np.uint8), "action": rng.integers(0, 3, 8),
             "reward": np.ones(8, dtype=np.float32), "next_obs": rng.integers(0, 255, (8, 4, 84, 84), dtype=np.uint8),
             "terminated": np.zeros(8, dtype=np.float32)}
    out = {}
    for precision in ("fp32", "bf16"):
        agent = agent_of("DeepSoftQ", precision=precision)
        seen = []
        agent.q.net[0].register_forward_hook(lambda module, args, output: seen.append(output.dtype))
        agent.target.net[0].register_forward_hook(lambda module, args, output: seen.append(output.dtype))
        out[precision] = agent.update(batch, step=1)
        assert set(seen) == {torch.float32 if precision == "fp32" else torch.bfloat16} and len(seen) == 2
        assert all(p.dtype == torch.float32 for p in agent.q.parameters())
        assert all(t.dtype == torch.float32 for s in agent.optimizer.state.values() for t in s.values())
        assert math.isfinite(out[precision]["loss"]) and agent.beta != 10.0
    assert out["bf16"]["loss"] == pytest.approx(out["fp32"]["loss"], rel=0.02)
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, got 'fp16'"):
        deep_q.DeepQConfig(precision="fp16")


def test_bf16_run_trains_and_records_its_precision(tmp_path):
    meta = run(spec("DeepMIRL", cfg={"precision": "bf16"}), tmp_path / "r", progress=False)
    saved, rows = runstore.read_run(tmp_path / "r")
    assert meta["status"] == saved["status"] == "completed"
    assert saved["spec"]["agent_config"]["precision"] == "bf16"
    assert rows[-1]["updates"] == (300 - 100) // 4 and all(math.isfinite(r["loss"]) for r in rows)


# ---------------------------------------------------------------------------- real ALE games

@pytest.mark.parametrize("agent", ["DQN", "DeepSoftQ", "DeepMIRL"])
def test_each_agent_trains_a_few_hundred_steps(agent):
    fit, total, *_ = deep_q.make_trainer(spec(agent))
    rows = fit()
    assert [r["step"] for r in rows] == [150, 300]
    assert ROW_COLUMNS <= set(rows[-1])
    assert rows[-1]["updates"] == (300 - 100) // 4
    assert all(math.isfinite(r["loss"]) for r in rows) and rows[-1]["train_episodes"] >= 1
    if agent != "DQN":
        assert rows[-1]["beta"] != 10.0  # eq. (8) ran
    if agent == "DeepMIRL":
        assert 0 < rows[-1]["prior_entropy"] < math.log(4)  # Breakout's minimal action set: 4 actions


def test_evaluation_reports_unclipped_game_scores():
    fit, *_ = deep_q.make_trainer(spec("DQN", env="PongNoFrameskip-v4", total_steps=150, eval_interval=150,
                                 eval_max_frames=108_000))
    rows = fit()
    assert rows[-1]["eval_return"] <= -15  # an untrained agent loses a Pong game by more than one point


def test_runs_are_deterministic_on_cpu():
    first = deep_q.make_trainer(spec("DeepMIRL"))[0]()
    second = deep_q.make_trainer(spec("DeepMIRL"))[0]()
    assert same_rows(first, second)
    other_seed = deep_q.make_trainer(spec("DeepMIRL", seed=1))[0]()
    assert not same_rows(other_seed, first)


@pytest.mark.parametrize("agent", ["DQN", "DeepMIRL"])
def test_kill_and_resume_equals_an_uninterrupted_run(agent):
    uninterrupted = deep_q.make_trainer(spec(agent, total_steps=600, eval_interval=300))[0]()
    saved = []

    class Killed(Exception):
        pass

    def kill_after_first_checkpoint(state):
        saved.append(pickle.loads(pickle.dumps(state)))
        raise Killed

    fit = deep_q.make_trainer(spec(agent, total_steps=600, eval_interval=300))[0]
    with pytest.raises(Killed):
        fit(on_checkpoint=kill_after_first_checkpoint)
    assert 100 <= saved[0].step < 600 and saved[0].buffer is not None
    resumed = deep_q.make_trainer(spec(agent, total_steps=600, eval_interval=300))[0](resume=saved[0])
    assert same_rows(resumed, uninterrupted)


def test_resume_without_the_replay_buffer_refills_before_learning():
    cfg = {"save_replay_in_checkpoint": False}
    saved = []
    fit = deep_q.make_trainer(spec("DQN", cfg=cfg, total_steps=600, eval_interval=300))[0]
    fit(on_checkpoint=lambda state: saved.append(pickle.loads(pickle.dumps(state))))
    first = saved[0]
    assert first.buffer is None
    rows = deep_q.make_trainer(spec("DQN", cfg=cfg, total_steps=600, eval_interval=300))[0](resume=first)
    updates_after_resume = rows[-1]["updates"] - first.agent["updates"]
    assert updates_after_resume <= (600 - first.step - SMALL["learning_starts"]) // 4 + 1


def test_a_non_finite_loss_marks_the_run_diverged(tmp_path, monkeypatch):
    monkeypatch.setattr(deep_q, "q_regression_loss", lambda q, target, kind: ((q - target) ** 2).mean() * float("nan"))
    meta = run(spec("DQN"), tmp_path / "run", progress=False)
    assert meta["status"] == "diverged"
    # the first update: learning_starts + train_frequency
    assert meta["divergence"] == {"step": 104, "quantity": "loss"}
    assert runstore.read_run(tmp_path / "run")[0]["status"] == "diverged"


# --------------------------------------------------------------------------------- bad input

def test_unknown_game_says_how_to_list_the_valid_ids():
    assert "PongNoFrameskip-v4" in game_ids() and len(game_ids()) > 50
    with pytest.raises(ValueError, match=r"Pong-v5.*python -m rlrepro\.envs\.atari"):
        check_game("Pong-v5")
    config = load_config("config/config.yaml")
    config["experiments"]["mirl_atari"]["envs"] = ["PongNoFrameskip-v4", "Pacman"]
    with pytest.raises(ConfigError,
                       match=r"experiments\.mirl_atari\.envs\[1\]: 'Pacman'.*python -m rlrepro\.envs\.atari"):
        validate_config(config)


def test_the_id_list_command():
    out = subprocess.run([sys.executable, "-m", "rlrepro.envs.atari"], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == list(game_ids())


@pytest.mark.parametrize("override, message", [
    ({"loss": "l1"}, "loss must be 'mse' or 'huber'"),
    ({"beta_init": 0.0}, "beta_init must be positive"),
    ({"epsilon_end": 1.5}, r"epsilon_end must be in \[0, 1\]"),
    ({"buffer_size": 4, "batch_size": 32}, "buffer_size .* at least batch_size"),
])
def test_bad_agent_config(override, message):
    with pytest.raises(ValueError, match=message):
        deep_q.DeepQConfig(**override)
