"""Across-task statistics (rlrepro.analysis.robust) on synthetic scores, plus the CLI on the smoke aggregate."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlrepro.analysis import robust

REPO = Path(__file__).resolve().parents[1]
REPS = 200
COMPARISONS = {"deep_mirl": ["dqn"], "pmac": ["sac"], "repmd": ["ment", "urex"]}
ANALYSIS = {"bootstrap_reps": REPS, "bootstrap_seed": 0, "confidence": 0.95,
            "final_window": {"tabular": 10, "continuous": 3, "algorithmic": 3, "atari": 2},
            "comparisons": COMPARISONS, "reference_algos": ["td3", "sac"]}


def per_run_rows(experiment, metric, values):
    """final_scores-like rows from {(algo, env, seed): value}."""
    return pd.DataFrame([{"experiment": experiment, "algo": a, "label": a.upper(), "env": e, "seed": s,
                          "metric": metric, "value": v} for (a, e, s), v in values.items()])


def runs_rows(experiment, kind, keys, paper="epmd", diverged=()):
    return pd.DataFrame([{"paper": paper, "experiment": experiment, "kind": kind, "algo": a, "label": a.upper(),
                          "env": e, "seed": s, "status": "diverged" if (a, e, s) in diverged else "completed",
                          "below_paper_scale": True} for a, e, s in keys])


def test_normalisation_per_kind():
    tab = pd.concat([per_run_rows("t", "final_correct_action_rate", {("mirl", "corridor", 0): 0.8}),
                     per_run_rows("t", "final_eval_return", {("mirl", "corridor", 0): -5.0})])
    out = robust.normalised_scores(tab, "t", "tabular")
    assert out.score.tolist() == [0.8] and out.raw.tolist() == [0.8] and "correct-action rate" in out.normalisation[0]

    alg = per_run_rows("a", "final_eval_solve_rate", {("repmd", "Copy", 0): 0.5, ("ment", "Copy", 0): 0.25})
    assert robust.normalised_scores(alg, "a", "algorithmic").score.tolist() == [0.5, 0.25]

    atari = per_run_rows("g", "final_hns", {("dqn", "PongNoFrameskip-v4", 0): 1.2})
    assert robust.normalised_scores(atari, "g", "atari").score.tolist() == [1.2]
    with pytest.raises(ValueError, match="final_hns"):
        robust.normalised_scores(per_run_rows("g", "final_eval_return", {("dqn", "Pong", 0): 3.0}), "g", "atari")
    with pytest.raises(ValueError, match="no normalisation"):
        robust.normalised_scores(alg, "a", "unknown")

    references = pd.read_csv(REPO / "report/data/reference_returns.csv")
    ref = robust.reference_returns(references, ["td3", "sac"])
    assert ref["Hopper-v5"] == pytest.approx((3564 + 3135 + 2310) / 3)  # TD3 paper, CleanRL TD3, CleanRL SAC; no DDPG
    assert ref["HalfCheetah-v5"] == pytest.approx((9637 + 9583 + 9635) / 3)
    assert ref["Ant-v5"] == 4372 and ref["Humanoid-v5"] == pytest.approx((5035 + 4996) / 2)
    mujoco = per_run_rows("m", "final_eval_return", {("pmac", "Hopper-v5", 0): 3003.0, ("pmac", "Ant-v5", 0): 2186.0,
                                                     ("pmac", "Pendulum-v1", 0): -150.0})
    out = robust.normalised_scores(mujoco, "m", "continuous", references, ["td3", "sac"]).set_index("env")
    assert out.loc["Hopper-v5", "score"] == pytest.approx(1.0)
    assert out.loc["Ant-v5", "score"] == pytest.approx(0.5)
    assert np.isnan(out.loc["Pendulum-v1", "score"])  # no reference: kept as NaN, dropped later with a warning
    with pytest.raises(ValueError, match="reference"):
        robust.normalised_scores(mujoco, "m", "continuous")


def scores_frame(values):
    return pd.DataFrame([{"algo": a, "env": e, "seed": s, "score": v} for (a, e, s), v in values.items()])


def test_score_matrices_layout_and_dropped_task():
    values = {(a, e, s): 10 * i + j + 0.1 * s
              for i, a in enumerate(["x", "y"]) for j, e in enumerate(["t0", "t1", "t2"]) for s in range(3)}
    del values[("y", "t1", 2)]  # one missing run of y on t1
    matrices, tasks, notes = robust.score_matrices(scores_frame(values), ["x", "y"])
    assert tasks == ["t0", "t2"]
    assert {a: m.shape for a, m in matrices.items()} == {"x": (3, 2), "y": (3, 2)}
    assert matrices["y"][2, 1] == pytest.approx(12.2)  # row = seed, column = task
    assert notes == ["dropped task t1: y has 2 of 3 runs scored"]

    values[("z", "t0", 0)] = np.nan
    matrices, tasks, notes = robust.score_matrices(scores_frame(values), ["x", "y", "z", "w"])
    assert (set(matrices) == {"x", "y"} and "z: no scored run, left out" in notes
            and "w: no scored run, left out" in notes)


def matrices_of(shift_y=0.0, seed=1, runs=5, tasks=4):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(runs, tasks))
    return {"x": x, "y": x + shift_y}


def test_intervals_repeatable_for_a_seed():
    m = {"x": np.random.default_rng(3).uniform(size=(6, 3)), "y": np.random.default_rng(4).uniform(size=(6, 3))}
    a = robust.iqm_over_tasks(m, REPS, seed=0, confidence=0.95)
    b = robust.iqm_over_tasks(m, REPS, seed=0, confidence=0.95)
    c = robust.iqm_over_tasks(m, REPS, seed=1, confidence=0.95)
    pd.testing.assert_frame_equal(a, b)
    assert set(a.columns) >= {"algo", "iqm", "iqm_low", "iqm_high", "mean", "mean_low", "mean_high", "optimality_gap"}
    assert (a.iqm_low <= a.iqm).all() and (a.iqm <= a.iqm_high).all()
    bounds = ["iqm_low", "iqm_high", "mean_low", "mean_high"]
    assert not np.allclose(a[bounds], c[bounds])
    assert a.set_index("algo").loc["x", "mean"] == pytest.approx(m["x"].mean())

    p1 = robust.probability_of_improvement(m, [("x", "y")], REPS, seed=0, confidence=0.95)
    p2 = robust.probability_of_improvement(m, [("x", "y")], REPS, seed=0, confidence=0.95)
    p3 = robust.probability_of_improvement(m, [("x", "y")], REPS, seed=1, confidence=0.95)
    pd.testing.assert_frame_equal(p1, p2)
    assert (p1.low[0], p1.high[0]) != (p3.low[0], p3.high[0]) and p1.p[0] == p3.p[0]


def test_probability_of_improvement_clear_and_identical():
    better = robust.probability_of_improvement(matrices_of(shift_y=-5.0), [("x", "y"), ("y", "x"), ("x", "absent")],
                                               REPS, 0, 0.95)
    assert list(zip(better.x, better.y, strict=True)) == [("x", "y"), ("y", "x")]  # a pair with no scores is skipped
    assert better.p[0] == 1.0 and better.low[0] > 0.9 and better.p[1] == 0.0
    same = robust.probability_of_improvement(matrices_of(shift_y=0.0), [("x", "y")], REPS, 0, 0.95)
    assert same.p[0] == 0.5 and same.low[0] < 0.5 < same.high[0]


def test_performance_profile_monotone():
    m = matrices_of(shift_y=0.3)
    taus = robust.default_taus(m, n=21)
    assert taus[0] == 0.0 and taus[-1] >= 1.0
    prof = robust.performance_profile(m, taus, REPS, seed=0)
    assert set(prof.algo) == {"x", "y"} and len(prof) == 2 * len(taus)
    for _, curve in prof.groupby("algo"):
        for col in ("fraction", "low", "high"):
            assert (np.diff(curve[col].to_numpy()) <= 1e-12).all(), col
        assert curve.fraction.iloc[0] == 1.0 and (curve.low <= curve.fraction + 1e-12).all()
    again = robust.performance_profile(m, taus, REPS, seed=0)
    pd.testing.assert_frame_equal(prof, again)


def test_single_task_experiment_has_no_rows_and_a_sentence():
    keys = [(a, "Copy", s) for a in ("repmd", "ment") for s in range(3)]
    runs = runs_rows("epmd_algorithmic", "algorithmic", keys)
    per_run = per_run_rows("epmd_algorithmic", "final_eval_solve_rate", {k: 0.5 for k in keys})
    rows, profiles, summary = robust.experiment_statistics(per_run, runs, "epmd_algorithmic", None, REPS, 0, 0.95,
                                                           COMPARISONS)
    assert rows.empty and profiles.empty and not summary["qualifies"]
    assert summary["reason"] == "one task: no across-task statistics"
    tex = robust.robust_tex(rows, [summary])
    assert r"\newcommand{\RobustStatisticsEpmd}" in tex and r"\newcommand{\RobustStatisticsMirl}" in tex
    assert "one task: no across-task statistics" in tex
    assert tex.count("no across-task statistics.") >= 2  # the experiment's sentence and each paper's


def test_two_tasks_qualify_and_dropping_can_disqualify():
    keys = [(a, e, s) for a in ("repmd", "ment", "urex") for e in ("Copy", "Reverse") for s in range(3)]
    scores = {k: (0.9 if k[0] == "repmd" else 0.1) + 0.01 * k[2] for k in keys}
    runs = runs_rows("epmd_algorithmic", "algorithmic", keys, diverged=[("urex", "Reverse", 1)])
    del scores[("urex", "Reverse", 1)]
    per_run = per_run_rows("epmd_algorithmic", "final_eval_solve_rate", scores)
    rows, profiles, summary = robust.experiment_statistics(per_run, runs, "epmd_algorithmic", None, REPS, 0, 0.95,
                                                           COMPARISONS)
    assert not summary["qualifies"] and "1 complete task(s) of 2" in summary["reason"]
    assert summary["warnings"] == ["dropped task Reverse: urex has 2 of 3 runs scored"]

    per_run = per_run_rows("epmd_algorithmic", "final_eval_solve_rate", {**scores, ("urex", "Reverse", 1): 0.1})
    runs = runs_rows("epmd_algorithmic", "algorithmic", keys)
    rows, profiles, summary = robust.experiment_statistics(per_run, runs, "epmd_algorithmic", None, REPS, 0, 0.95,
                                                           COMPARISONS)
    assert summary["qualifies"] and summary["tasks"] == ["Copy", "Reverse"]
    poi = rows[rows.statistic == "poi"].set_index("y")
    assert list(poi.index) == ["ment", "urex"] and (poi.estimate == 1.0).all()
    iqm = rows[rows.statistic == "iqm"].set_index("algo")
    assert (iqm.loc["repmd", "estimate"] == pytest.approx(0.91) and (rows.n_tasks == 2).all()
            and (rows.n_seeds == 3).all())
    assert set(profiles.algo) == {"repmd", "ment", "urex"}
    tex = robust.robust_tex(rows, [summary])
    assert "below paper scale" in tex and "REPMD & UREX & 1.00 [1.00, 1.00]" in tex
    assert f"{REPS} resamples, seed 0" in tex and "pooled over 2 tasks (Copy, Reverse) with 3 seeds" in tex


def test_cli_on_smoke_aggregate(tmp_path, smoke_workflow):
    aggregate = smoke_workflow / "results/aggregate"
    tex = tmp_path / "robust.tex"
    rc = robust.main(["--aggregate", str(aggregate), "--analysis", json.dumps(ANALYSIS),
                      "--human-scores", str(REPO / "report/data/atari_human_random.csv"),
                      "--references", str(REPO / "report/data/reference_returns.csv"),
                      "--output-dir", str(tmp_path), "--tex", str(tex)])
    assert rc == 0
    table = pd.read_csv(tmp_path / "robust.csv")
    profiles = pd.read_csv(tmp_path / "profiles.csv")
    assert list(table.columns) == robust.ROBUST_COLUMNS and list(profiles.columns) == robust.PROFILE_COLUMNS
    assert set(table.statistic) <= {"iqm", "mean", "optimality_gap", "poi"}
    assert (table.n_tasks >= robust.MIN_TASKS).all() and (table.reps == REPS).all()
    assert ((table.low <= table.estimate + 1e-12) & (table.estimate <= table.high + 1e-12)).all()
    text = tex.read_text()
    assert r"\newcommand{\RobustStatisticsMirl}" in text and r"\newcommand{\RobustStatisticsEpmd}" in text
    assert text.count("{") == text.count("}")


def test_cli_on_synthetic_atari_and_mujoco(tmp_path):
    """Two Atari games (human-normalised inside the CLI) and two MuJoCo tasks (reference returns)."""
    human = pd.DataFrame({"env": ["GameA", "GameB"], "random_score": [0.0, -10.0], "human_score": [100.0, 10.0]})
    references = pd.DataFrame({"source": "s", "env": ["Hopper-v5", "Ant-v5"], "algo": "td3", "return": [1000.0, 2000.0],
                               "steps": 1000000, "note": ""})
    runs, tidy = [], []
    for experiment, kind, envs, algos, base in (
            ("mirl_atari", "atari", ["GameA", "GameB"], ["deep_mirl", "dqn"], 50.0),
            ("epmd_mujoco", "continuous", ["Hopper-v5", "Ant-v5"], ["pmac", "sac"], 500.0)):
        for algo in algos:
            for env in envs:
                for seed in range(3):
                    paper = "mirl" if kind == "atari" else "epmd"
                    runs.append({"paper": paper, "experiment": experiment, "kind": kind,
                                 "algo": algo, "label": algo.upper(), "env": env, "seed": seed, "status": "completed",
                                 "below_paper_scale": False})
                    value = base * (2 if algo in ("deep_mirl", "pmac") else 1) + seed
                    tidy += [{"paper": paper, "experiment": experiment, "algo": algo, "label": algo.upper(), "env": env,
                              "seed": seed, "step": step, "metric": "eval_return", "value": value} for step in (1, 2)]
    for paper in ("mirl", "epmd"):
        (tmp_path / "agg" / paper).mkdir(parents=True)
        pd.DataFrame([r for r in runs if r["paper"] == paper]).to_csv(
            tmp_path / "agg" / paper / "runs.csv", index=False)
        pd.DataFrame([t for t in tidy if t["paper"] == paper]).to_csv(
            tmp_path / "agg" / paper / "tidy.csv.gz", index=False)
    human.to_csv(tmp_path / "human.csv", index=False)
    references.to_csv(tmp_path / "refs.csv", index=False)
    args = ["--aggregate", str(tmp_path / "agg"), "--analysis", json.dumps(ANALYSIS),
            "--references", str(tmp_path / "refs.csv"), "--output-dir", str(tmp_path),
            "--tex", str(tmp_path / "robust.tex")]
    assert robust.main(args) == 2  # Atari on two games needs --human-scores
    assert robust.main([*args, "--human-scores", str(tmp_path / "human.csv")]) == 0
    table = pd.read_csv(tmp_path / "robust.csv")
    mean = table[table.statistic == "mean"].set_index("algo").estimate
    # dqn: GameA 50..52 -> 0.50..0.52; GameB (50..52 + 10) / 20 -> 3.0..3.1
    assert mean["dqn"] == pytest.approx(np.mean([0.5, 0.51, 0.52, 3.0, 3.05, 3.1]))
    # sac: Hopper 500..502 / 1000, Ant 500..502 / 2000
    assert mean["sac"] == pytest.approx(np.mean([0.5, 0.501, 0.502, 0.25, 0.2505, 0.251]))
    poi = table[table.statistic == "poi"].set_index("y").estimate
    assert poi.to_dict() == {"dqn": 1.0, "sac": 1.0}
    text = (tmp_path / "robust.tex").read_text()
    assert "human-normalised" in text and "reference return" in text and "below paper scale" not in text
