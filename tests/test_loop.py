"""The loop plumbing every training loop shares (rlrepro.core.loop) and eq. (5)'s behaviour policy."""

import math
import pickle
import sys

import numpy as np
import pytest

from rlrepro.core.loop import Bookkeeping, Diverged, TrainState, Window, check_finite
from rlrepro.envs.gridworld import GridWorld
from rlrepro.mirl import tabular
from rlrepro.mirl.soft import prior_epsilon_greedy


class Budget:
    total_steps, checkpoint_interval = 100, 30


def test_checkpoints_come_at_the_first_opportunity_after_each_multiple_and_never_at_the_end():
    saved = []
    book = Bookkeeping(Budget, None, saved.append, None)
    for step in (10, 29, 31, 35, 60, 61, 89, 100):
        if book.checkpoint_due(step):
            book.checkpoint(step, agent={"at": step})
    assert [s.step for s in saved] == [31, 60]  # the one due at 90 would come at 100, the end
    resumed = Bookkeeping(Budget, saved[0], saved.append, None)
    assert resumed.start == 31 and not resumed.checkpoint_due(59) and resumed.checkpoint_due(60)
    assert not Bookkeeping(Budget, None, None, None).checkpoint_due(60)  # nobody to hand it to


def test_diverged_raised_inside_carries_the_rows_so_far_and_progress_is_reported():
    progress = []
    book = Bookkeeping(Budget, None, None, progress.append)
    with pytest.raises(Diverged) as err, book:
        book.log({"step": 30}, 30)
        check_finite(40, loss=1.0, grad_norm=math.inf)
    assert err.value.rows == [{"step": 30}] and err.value.quantity == "grad_norm" and err.value.step == 40
    assert progress == [30]


def test_window_sums_in_order_from_zero_and_averages_samples_with_numpy():
    window = Window()
    window.add({"loss": -0.0})
    window.add({"loss": -0.0, "entropy": 2.0})
    window.add({"solved": 3}, count=4)
    for value in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        window.append("q", value)
    assert math.copysign(1.0, window.mean("loss")) == 1.0  # 0 + -0.0, as a sum() gives
    assert window.mean("solved") == 3 / 4 and window.count("solved") == 4 and window.count("q") == 10
    assert window.mean("q") == float(np.mean([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]))
    assert math.isnan(window.mean("absent")) and window.count("absent") == 0
    assert list(window.sum_means()) == ["loss", "entropy", "solved"]
    again = Window(pickle.loads(pickle.dumps(window.state_dict())))
    assert again.sum_means() == window.sum_means() and again.mean("q") == window.mean("q")


def test_windows_of_checkpoints_from_before_core_loop_read_the_same():
    continuous = Window({"returns": [1.0, 3.0], "sums": {"critic_loss": 4.0}, "counts": {"critic_loss": 2}})
    assert continuous.mean("train_return") == 2.0 and continuous.sum_means() == {"critic_loss": 2.0}
    atari = Window({"returns": [], "loss": [1.0, 2.0], "q_mean": [0.5]})
    assert math.isnan(atari.mean("train_return")) and atari.mean("loss") == 1.5 and atari.mean("q_mean") == 0.5
    algorithmic = Window({"returns": 6.0, "solved": 2, "episodes": 4, "batches": 2, "loss": 1.0, "entropy": 3.0})
    assert (algorithmic.mean("train_return"), algorithmic.mean("train_solve_rate"), algorithmic.count("train_return"),
            algorithmic.mean("loss"), algorithmic.mean("entropy")) == (1.5, 0.5, 4, 0.5, 1.5)
    assert math.isnan(Window({"returns": 0.0, "solved": 0, "episodes": 0, "batches": 0, "loss": 0.0,
                              "entropy": 0.0}).mean("loss"))


def legacy_pickle(fields: dict, module: str) -> bytes:
    """A checkpoint as the per-module TrainState dataclasses pickled it: their fields, under ``module``'s name."""
    old = type("TrainState", (), {"__module__": module, "__qualname__": "TrainState"})
    state = old()
    state.__dict__.update(fields)
    sys.modules[module].TrainState, saved = old, sys.modules[module].TrainState
    try:
        return pickle.dumps(state)
    finally:
        sys.modules[module].TrainState = saved


def tabular_run(**kwargs):
    env = GridWorld("corridor")
    agent = tabular.MIRL(env.n_states, env.n_actions, tabular.TabularConfig())
    budget = tabular.Budget(total_steps=3000, eval_interval=1000, early_eval_interval=100, early_eval_until=0,
                            log_interval=100, eval_episodes=3, checkpoint_interval=1050)
    return tabular.train(agent, env, budget, seed=4, **kwargs)


def test_a_tabular_checkpoint_from_before_core_loop_resumes_to_the_uninterrupted_rows():
    saved = []
    full = tabular_run(on_checkpoint=lambda state: saved.append(pickle.loads(pickle.dumps(state))))
    new = saved[0]
    assert new.step == 1050 and new.window["counts"]["correct_action_rate"] > 0  # mid-window: 50 steps into it
    fields = {"agent": new.agent, "env": new.env, "rng": new.rng, "step": new.step, "rows": new.rows,
              "window_scored": new.window["counts"]["correct_action_rate"],
              "window_correct": new.window["sums"]["correct_action_rate"],
              "total_scored": new.rows[-1]["scored_visits"], "wall_time_s": 1.0}
    old = pickle.loads(legacy_pickle(fields, "rlrepro.mirl.tabular"))
    assert isinstance(old, TrainState) and old.window == new.window
    assert tabular_run(resume=old) == full


def test_prior_epsilon_greedy_draws_as_eq5_was_written_inline():
    prior = np.array([0.1, 0.2, 0.7])
    ours, reference = np.random.default_rng(1), np.random.default_rng(1)
    for _ in range(300):
        tie_break = lambda: int(ours.integers(3))  # noqa: E731  (a greedy step that draws, after the coin)
        got = prior_epsilon_greedy(ours, 0.3, prior, tie_break)
        want = int(reference.choice(3, p=prior)) if reference.random() < 0.3 else int(reference.integers(3))
        assert got == want
    greedy = np.array([0, 1, 2, 2])
    batch = prior_epsilon_greedy(np.random.default_rng(2), 0.5, prior, greedy)
    rng = np.random.default_rng(2)
    assert (batch == np.where(rng.random(4) < 0.5, rng.choice(3, size=4, p=prior), greedy)).all()
    assert prior_epsilon_greedy(np.random.default_rng(0), 0.0, prior, 2) == 2
