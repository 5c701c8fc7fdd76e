"""rlrepro.analysis.aggregate: per-run scores (visit weighting, mid-run change, |beta Q| peaks), where each run
comes from (runs.csv origin, cpu_model, code_changed) and the runs that do not exist (missing.csv)."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from rlrepro.analysis.aggregate import MISSING_COLUMNS, beta_q_peak, final_scores
from rlrepro.analysis.aggregate import main as aggregate_main
from rlrepro.core import fingerprint, paths, runstore
from rlrepro.core.kinds import KINDS

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


# ------------------------------------------------------------------------- origin of runs, missing runs

ANALYSIS = {"bootstrap_reps": 100, "bootstrap_seed": 0, "confidence": 0.95, "final_window": 2}


def write_run(run_dir: Path, seed: int, **meta_extra) -> Path:
    """A finished tabular run of two snapshots, as rlrepro.train writes it (without training)."""
    spec = {**RUN, "experiment": "mirl_tabular", "algo": "ql", "env": "corridor", "seed": seed, "kind": "tabular",
            "budget": {"total_steps": 200}, "agent_config": {"gamma": 0.99}, "below_paper_scale": True,
            "scale_notes": ["total_steps 200 < paper 100000"], "config_scale": "smoke"}
    meta = {"spec": spec, "status": "completed", "git_commit": "b" * 40, "versions": {"python": "3.11.7"},
            "host": {"node": "n", "platform": "Linux-6.1-x86_64", "machine": "x86_64"}, "wall_time_s": 1.0,
            **meta_extra}
    runstore.finish_run(run_dir, [{"step": 100, "eval_return": 0.5}, {"step": 200, "eval_return": 1.0}], meta)
    return run_dir


def test_aggregate_records_origin_code_changes_and_missing_runs(tmp_path):
    code = fingerprint.code_fingerprint(KINDS["tabular"].module)
    edited = {**code, "files": {**code["files"], "rlrepro/mirl/soft.py": "0" * 64}}
    archived = write_run(tmp_path / "r0", 0, code=edited, platform={"cpu_model": "AMD EPYC 9654"},
                         archive={"set": "paper", "added_at": "2026-12-01T00:00:00", "git_commit": "c" * 40})
    built = write_run(tmp_path / "r1", 1, code=code)
    old = write_run(tmp_path / "r2", 2)  # written before the fingerprint existed
    not_run = [{"experiment": "mirl_tabular", "paper": "mirl", "algo": "ql", "env": "corridor", "seed": s}
               for s in (4, 3)]
    out = tmp_path / "agg"
    assert aggregate_main(["--analysis", json.dumps(ANALYSIS), "--out-dir", str(out),
                           "--missing-json", json.dumps(not_run), str(archived), str(built / "meta.json"),
                           str(old)]) == 0
    runs = pd.read_csv(out / "runs.csv", keep_default_na=False).set_index("seed")
    assert runs.origin.tolist() == ["archive:paper", "this build", "this build"]
    assert runs.code_changed.tolist() == ["rlrepro/mirl/soft.py", "", "unknown"]
    assert runs.cpu_model.tolist() == ["AMD EPYC 9654", "Linux-6.1-x86_64", "Linux-6.1-x86_64"]
    assert runs.git_commit.tolist() == ["b" * 40] * 3
    missing = pd.read_csv(out / "missing.csv")
    assert list(missing.columns) == list(MISSING_COLUMNS) and missing.seed.tolist() == [3, 4]
    assert set(paths.AGGREGATE_FILES.values()) <= {p.name for p in out.iterdir()}

    assert aggregate_main(["--analysis", json.dumps(ANALYSIS), "--out-dir", str(tmp_path / "none"), str(built)]) == 0
    assert (tmp_path / "none" / "missing.csv").read_text().strip() == ",".join(MISSING_COLUMNS)


@pytest.mark.parametrize("missing, message", [
    ('{"experiment": "e"}', "expected a JSON list of objects with keys experiment, paper, algo, env, seed"),
    ('[{"experiment": "e", "algo": "a"}]', "entry 0: expected exactly the keys experiment, paper, algo, env, seed"),
    ('[{"experiment": "e", "paper": "p", "algo": "a", "env": "x", "seed": -1}]', "entry 0: seed must be an integer"),
    ("[not json", "--missing-json is not valid JSON"),
    ('[{"experiment": "mirl_tabular", "paper": "mirl", "algo": "ql", "env": "corridor", "seed": 0}]',
     "1 run\\(s\\) listed in --missing-json exist, e.g. mirl_tabular ql on corridor seed 0"),
])
def test_bad_missing_json_is_named(tmp_path, capsys, missing, message):
    run_dir = write_run(tmp_path / "r0", 0)
    assert aggregate_main(["--analysis", json.dumps(ANALYSIS), "--out-dir", str(tmp_path / "agg"),
                           "--missing-json", missing, str(run_dir)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "agg").exists()
