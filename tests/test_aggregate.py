"""Per-run scores of rlrepro.analysis.aggregate.final_scores: visit weighting, mid-run change, |beta Q| peaks."""

import pandas as pd
import pytest

from rlrepro.analysis.aggregate import beta_q_peak, final_scores

RUN = {"paper": "mirl", "experiment": "exp", "algo": "a", "label": "A", "agent": "MIRL", "env": "left_once", "seed": 0}


def tidy_of(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{**RUN, "step": step, "metric": metric, "value": value} for step, metric, value in rows])


RUNS = pd.DataFrame([{**RUN, "status": "completed", "kind": "tabular"}])


def score(per_run: pd.DataFrame, metric: str) -> float:
    return float(per_run.set_index("metric").value[metric])


def test_correct_action_rate_is_weighted_by_visits():
    """Windows with 1 visit (all correct) and 3 visits (none correct): 1/4 correct, not the mean of rates 1/2."""
    tidy = tidy_of([(100, "correct_action_rate", 1.0), (100, "scored_in_window", 1),
                    (200, "correct_action_rate", 0.0), (200, "scored_in_window", 3),
                    (300, "correct_action_rate", 0.5), (300, "scored_in_window", 2)])
    per_run = final_scores(tidy, RUNS, final_window=2)
    assert score(per_run, "mean_correct_action_rate") == pytest.approx((1 + 0 + 1) / 6)
    assert score(per_run, "final_correct_action_rate") == pytest.approx((0 + 1) / 5)
    unweighted = final_scores(tidy[tidy.metric != "scored_in_window"], RUNS, final_window=2)
    assert score(unweighted, "mean_correct_action_rate") == pytest.approx(0.5)


def test_late_change_is_final_minus_mid_run():
    """Snapshots at 100..1000 with value step/100, final window 2: final 9.5; mid-run (<= 550) 4.5."""
    tidy = tidy_of([(step, "eval_return", step / 100) for step in range(100, 1001, 100)])
    per_run = final_scores(tidy, RUNS, final_window=2)
    assert score(per_run, "final_eval_return") == pytest.approx(9.5)
    assert score(per_run, "late_change_eval_return") == pytest.approx(9.5 - 4.5)
    degrading = tidy.assign(value=-tidy.value)
    assert score(final_scores(degrading, RUNS, final_window=2), "late_change_eval_return") == pytest.approx(-5.0)


def test_diverged_runs_get_no_late_change():
    tidy = tidy_of([(step, "eval_return", 1.0) for step in range(100, 1001, 100)])
    per_run = final_scores(tidy, RUNS.assign(status="diverged"), final_window=2)
    assert per_run.empty


def test_beta_q_peak_and_when_a_clip_binds():
    frame = pd.DataFrame({"step": [100, 200, 300], "max_abs_beta_q": [10.0, 750.0, 720.0]})
    assert beta_q_peak(frame, {"soft_form": "clipped", "clip_bound": 700}) == {"max_abs_beta_q": 750.0,
                                                                               "clip_binds_from_step": 200}
    assert beta_q_peak(frame, {"soft_form": "clipped", "clip_bound": 800})["clip_binds_from_step"] is None
    assert beta_q_peak(frame, {"soft_form": "stable"}) == {"max_abs_beta_q": 750.0, "clip_binds_from_step": None}
    assert beta_q_peak(pd.DataFrame({"step": [100]}), {}) == {"max_abs_beta_q": None, "clip_binds_from_step": None}


def test_mean_over_the_run_weighs_snapshots_by_the_steps_they_stand_for():
    """Dense early snapshots (every 100 steps up to 500, then every 500): the mean is the area under
    the curve over the steps, not the plain mean of the 6 snapshots (which would give 0.5)."""
    tidy = tidy_of([(step, "eval_return", 0.0) for step in range(100, 501, 100)] + [(1000, "eval_return", 3.0)])
    per_run = final_scores(tidy, RUNS, final_window=2)
    assert score(per_run, "mean_eval_return") == pytest.approx(3.0 * 500 / 1000)
    assert score(per_run, "final_eval_return") == pytest.approx(1.5)  # the last 2 snapshots, unweighted
    uniform = tidy_of([(step, "eval_return", step / 100) for step in range(100, 1001, 100)])
    assert score(final_scores(uniform, RUNS, final_window=2), "mean_eval_return") == pytest.approx(5.5)
