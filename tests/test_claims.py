"""Claims as code (rlrepro.analysis.claims): verdict rules on synthetic data, validation, the real claims file,
the CLI."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rlrepro.analysis import claims as C
from rlrepro.analysis.aggregate import FINAL_METRICS, LATE_CHANGE_METRICS
from rlrepro.core.config import load_config

REPO = Path(__file__).resolve().parents[1]
ANALYSIS = {"bootstrap_reps": 500, "bootstrap_seed": 0, "confidence": 0.95, "final_window": 3}


def make_data(scores: dict, *, metric="final_eval_return", experiment="exp", below=False, total_steps=1000,
              diverged: dict | None = None):
    """(per-run scores, runs) from {(algo, env): [score per seed]}; ``diverged`` {(algo, env): [step or None
    per seed]} adds diverged runs (no score) after the completed ones."""
    runs, per_run = [], []
    for (algo, env), values in scores.items():
        for seed, value in enumerate(values):
            runs.append({"experiment": experiment, "algo": algo, "env": env, "seed": seed, "status": "completed",
                             "diverged_at_step": np.nan, "total_steps": total_steps, "below_paper_scale": below,
                             "scale_notes": "total_steps 1000 < paper 100000" if below else ""})
            per_run.append({"experiment": experiment, "algo": algo, "label": algo, "env": env, "seed": seed,
                            "metric": metric, "value": value})
    for (algo, env), steps in (diverged or {}).items():
        start = len(scores.get((algo, env), []))
        for i, step in enumerate(steps):
            runs.append({"experiment": experiment, "algo": algo, "env": env, "seed": start + i, "status": "diverged",
                             "diverged_at_step": np.nan if step is None else step, "total_steps": total_steps,
                             "below_paper_scale": below, "scale_notes": ""})
    per_run = pd.DataFrame(per_run, columns=["experiment", "algo", "label", "env", "seed", "metric", "value"])
    return per_run, pd.DataFrame(runs)


def claim(test="better", **extra):
    """A valid claim entry of the given test, parsed (so every test also goes through validation)."""
    data = {"experiment": "exp", "envs": ["e1"], "metric": "final_eval_return"}
    entry = {"id": f"c-{test}", "paper": "mirl", "source": "paper, Fig. 1", "statement": "s", "test": test,
             "data": data}
    if test in ("better", "not_worse"):
        data.update(algo="a", than=["b"])
    else:
        data.update(algos=["a"])
    if test in ("above", "below"):
        entry["threshold"] = 0.0
    if test in ("diverges", "no_divergence"):
        entry["before_step"] = 1000
        del data["metric"]
    if test == "not_worse":
        entry["relative_margin"] = 0.1
    for key, value in extra.items():
        (data if key in ("envs", "algo", "than", "algos", "metric", "pool_envs", "step_window") else entry)[key] = value
    return C.parse_claim(entry, 0)


def verdict(c, per_run, runs, seed=0):
    return C.evaluate(c, per_run, runs, reps=500, seed=seed, confidence=0.95)


HIGH = [1.0, 1.1, 0.9, 1.05, 0.95]
LOW = [0.0, 0.1, -0.1, 0.05, -0.05]
NOISY = [1.5, -0.5, 0.8, 0.2, 1.0]


@pytest.mark.parametrize("a, b, expected", [
    (HIGH, LOW, "reproduced"), (LOW, HIGH, "not reproduced"), (NOISY, [0.9, 0.2, 0.5, 1.2, 0.1], "inconclusive")])
def test_better(a, b, expected):
    row = verdict(claim("better"), *make_data({("a", "e1"): a, ("b", "e1"): b}))
    assert row["verdict"] == expected, row
    assert row["statistic"].startswith("a - b = ") and "on e1" in row["statistic"]
    assert row["low"] <= row["estimate"] <= row["high"]


def test_better_margin_is_a_minimum_effect():
    # a - b = 1 clearly, but the claim asks for more than 2: the interval is entirely below the margin
    row = verdict(claim("better", margin=2.0), *make_data({("a", "e1"): HIGH, ("b", "e1"): LOW}))
    assert row["verdict"] == "not reproduced"


@pytest.mark.parametrize("a, expected", [
    ([9.8, 9.9, 9.7, 9.85, 9.75], "reproduced"),       # 2% below b: within the 10% tolerance
    ([5.0, 5.1, 4.9, 5.05, 4.95], "not reproduced"),   # 50% below b
    ([6.0, 14.0, 9.0, 12.0, 7.0], "inconclusive")])    # too noisy to tell
def test_not_worse_relative_margin(a, expected):
    b = [10.0, 10.1, 9.9, 10.05, 9.95]
    row = verdict(claim("not_worse"), *make_data({("a", "e1"): a, ("b", "e1"): b}))
    assert row["verdict"] == expected, row
    assert "tolerance -1" in row["statistic"]


def test_not_worse_absolute_margin():
    c = claim("not_worse", margin=0.5, relative_margin=None)
    row = verdict(c, *make_data({("a", "e1"): [x - 0.2 for x in HIGH], ("b", "e1"): HIGH}))
    assert row["verdict"] == "reproduced"


@pytest.mark.parametrize("test, values, expected", [
    ("above", HIGH, "reproduced"), ("above", [-1.0, -1.1, -0.9], "not reproduced"),
    ("above", NOISY, "inconclusive"),
    ("below", [-1.0, -1.1, -0.9], "reproduced"), ("below", HIGH, "not reproduced"), ("below", NOISY, "inconclusive")])
def test_above_and_below_a_threshold(test, values, expected):
    row = verdict(claim(test, threshold=0.0), *make_data({("a", "e1"): values}))
    assert row["verdict"] == expected, row
    assert "threshold 0" in row["statistic"]


@pytest.mark.parametrize("test, steps, expected", [
    ("diverges", [500, 600, 700], "reproduced"),
    ("diverges", [], "not reproduced"),
    ("diverges", [500], "inconclusive"),               # 1 of 3 runs: not systematic
    ("diverges", [1500, 1600, 1700], "not reproduced"),  # after before_step: does not count
    ("no_divergence", [], "reproduced"),
    ("no_divergence", [500], "not reproduced"),        # one divergence refutes it
    ("no_divergence", [None], "not reproduced")])      # diverged at an unknown step counts
def test_divergence_counts(test, steps, expected):
    completed = [0.0] * (3 - len(steps))
    per_run, runs = make_data({("a", "e1"): completed}, diverged={("a", "e1"): steps} if steps else None)
    c = claim(test, before_step=1000, min_steps=1000)
    row = verdict(c, per_run, runs)
    assert row["verdict"] == expected, row
    k = sum(s is None or s < 1000 for s in steps)
    assert f"{k}/3 runs diverged before step 1000" in row["statistic"]
    assert row["estimate"] == pytest.approx(k / 3) and 0 <= row["low"] <= row["estimate"] <= row["high"] <= 1


def test_divergence_needs_long_enough_runs():
    per_run, runs = make_data({}, diverged={("a", "e1"): [100, 200, 300]}, total_steps=500)
    row = verdict(claim("diverges", before_step=1000), per_run, runs)  # min_steps defaults to before_step
    assert row["verdict"] == "inconclusive" and "runs too short: total_steps 500 < min_steps 1000" in row["reason"]
    assert row["evidence"] == "reproduced"


@pytest.mark.parametrize("outcomes, require, expected", [
    (["supports", "supports"], "all", "reproduced"),
    (["supports", "unclear"], "all", "inconclusive"),
    (["supports", "contradicts"], "all", "not reproduced"),
    (["unclear", "supports"], "any", "reproduced"),
    (["contradicts", "unclear"], "any", "inconclusive"),
    (["contradicts", "contradicts"], "any", "not reproduced"),
    (["supports", "supports", "contradicts"], "majority", "reproduced"),
    (["supports", "unclear", "unclear", "contradicts"], "majority", "inconclusive"),
    (["supports", "unclear", "contradicts", "contradicts"], "majority", "not reproduced"),
    ([], "all", "inconclusive")])
def test_combine(outcomes, require, expected):
    assert C.combine(outcomes, require) == expected


def test_require_over_envs_and_baselines():
    scores = {("a", "e1"): HIGH, ("b", "e1"): LOW, ("c", "e1"): LOW,
              ("a", "e2"): LOW, ("b", "e2"): HIGH, ("c", "e2"): LOW}
    data = make_data(scores)
    base = {"envs": ["e1", "e2"], "than": ["b", "c"]}
    assert verdict(claim("better", **base), *data)["verdict"] == "not reproduced"   # a < b on e2
    row = verdict(claim("better", require="any", **base), *data)
    assert row["verdict"] == "reproduced" and row["n_comparisons"] == 4 and row["n_support"] == 2
    assert "a - b" in row["statistic"] and "on e1" in row["statistic"]               # the best one for 'any'
    assert verdict(claim("better", require="majority", **base), *data)["verdict"] == "inconclusive"  # 2 of 4


def test_pooled_envs_give_one_comparison_per_baseline():
    scores = {("a", "g1"): HIGH, ("b", "g1"): LOW,
              ("a", "g2"): [x + 5 for x in HIGH], ("b", "g2"): [x + 5 for x in LOW]}
    row = verdict(claim("better", envs="all", pool_envs=True, metric="final_hns"),
                  *make_data(scores, metric="final_hns"))
    assert row["verdict"] == "reproduced" and row["n_comparisons"] == 1
    assert row["estimate"] == pytest.approx(1.0) and "over 2 env(s) (g1, g2)" in row["statistic"]


def test_too_few_seeds_reports_the_statistic_without_any_verdict():
    row = verdict(claim("better"), *make_data({("a", "e1"): HIGH[:2], ("b", "e1"): LOW[:2]}))
    assert row["verdict"] == "inconclusive" and row["evidence"] == "none"
    assert row["reason"].startswith("too few seeds: 2 < 3") and "comparisons alone" not in row["reason"]
    assert "comparisons alone" not in row["short_reason"]
    assert np.isfinite(row["estimate"]) and row["statistic"].startswith("a - b = ")
    # Below paper scale with enough seeds, the table still says what the comparisons alone show.
    row = verdict(claim("better"), *make_data({("a", "e1"): HIGH, ("b", "e1"): LOW}, below=True))
    assert "the comparisons alone say: reproduced" in row["reason"]


def test_a_conditional_claim_stands_only_when_its_condition_is_reproduced():
    fails = claim("below", id="fails", algos=["x"], threshold=0.5, given=["learns"])
    per_run, runs = make_data({("x", "e1"): LOW, ("a", "e1"): LOW})
    assert verdict(fails, per_run, runs)["verdict"] == "inconclusive"  # condition not evaluated
    row = C.evaluate(fails, per_run, runs, 500, 0, 0.95, {"learns": "reproduced"})
    assert row["verdict"] == "reproduced" and row["given"] == "learns"
    for other in ("not reproduced", "inconclusive"):
        row = C.evaluate(fails, per_run, runs, 500, 0, 0.95, {"learns": other})
        assert row["verdict"] == "inconclusive" and row["evidence"] == "none"
        assert f"condition not met: learns is {other}" in row["reason"] and "comparisons alone" not in row["reason"]


def test_evaluate_all_resolves_conditions_in_any_file_order(tmp_path):
    """'fails without X' listed before 'learns': the condition is evaluated first all the same, and a
    full method that does not learn leaves the ablation claim inconclusive (it cannot pass vacuously)."""
    runs = pd.DataFrame([{"experiment": "exp", "algo": algo, "env": "e1", "seed": seed, "status": "completed",
                          "diverged_at_step": np.nan, "total_steps": 100, "below_paper_scale": False, "scale_notes": "",
                          "kind": "continuous"} for algo in ("full", "ablated") for seed in range(5)])
    directory = tmp_path / "mirl"
    directory.mkdir()
    runs.to_csv(directory / "runs.csv", index=False)
    fails = claim("below", id="fails", algos=["ablated"], threshold=0.5, given=["learns"])
    learns = claim("above", id="learns", algos=["full"], threshold=0.5)
    for full_scores, expected in ((HIGH, "reproduced"), (LOW, "inconclusive")):
        tidy = pd.DataFrame([{"paper": "mirl", "experiment": "exp", "algo": algo, "label": algo, "agent": "A",
                              "env": "e1", "seed": seed, "step": 100, "metric": "eval_return", "value": value}
                             for algo, values in (("full", full_scores), ("ablated", LOW))
                             for seed, value in enumerate(values)])
        tidy.to_csv(directory / "tidy.csv.gz", index=False)
        table = C.evaluate_all([fails, learns], {"mirl": directory}, ANALYSIS)
        assert list(table.id) == ["fails", "learns"]
        assert table.set_index("id").verdict["fails"] == expected


def test_step_window_restricts_the_scores(tmp_path):
    """A dip early in the run: visible inside the window, averaged away over the whole run."""
    steps = range(100, 2001, 100)
    runs = pd.DataFrame([{"experiment": "exp", "algo": algo, "env": "e1", "seed": seed, "status": "completed",
                          "diverged_at_step": np.nan, "total_steps": 2000, "below_paper_scale": False,
                          "scale_notes": "", "kind": "tabular"} for algo in ("a", "b") for seed in range(5)])
    tidy = pd.DataFrame([{"paper": "mirl", "experiment": "exp", "algo": algo, "label": algo, "agent": "A", "env": "e1",
                          "seed": seed, "step": step, "metric": "eval_return",
                          "value": (-5.0 if algo == "b" and 200 <= step <= 400 else 1.0) + 0.01 * seed}
                         for algo in ("a", "b") for seed in range(5) for step in steps])
    directory = tmp_path / "mirl"
    directory.mkdir()
    runs.to_csv(directory / "runs.csv", index=False)
    tidy.to_csv(directory / "tidy.csv.gz", index=False)
    early = claim("better", id="early", metric="mean_eval_return", step_window=[0, 500], margin=1.0)
    whole = claim("better", id="whole", metric="mean_eval_return", margin=1.0)
    too_long = claim("better", id="long", metric="mean_eval_return", step_window=[0, 5000])
    table = C.evaluate_all([early, whole, too_long], {"mirl": directory}, ANALYSIS).set_index("id")
    assert table.verdict["early"] == "reproduced" and table.estimate["early"] == pytest.approx(18 / 5)
    assert table.verdict["whole"] == "not reproduced" and table.estimate["whole"] == pytest.approx(18 / 20)
    assert table.verdict["long"] == "inconclusive" \
        and "runs too short: total_steps 2000 < the end of step_window 5000" in table.reason["long"]


def test_diverged_runs_do_not_count_as_seeds():
    per_run, runs = make_data({("a", "e1"): HIGH[:2], ("b", "e1"): LOW}, diverged={("a", "e1"): [10, 20, 30]})
    row = verdict(claim("better"), per_run, runs)
    assert row["verdict"] == "inconclusive" and "2 < 3 completed runs of 'a' on 'e1' (3 diverged)" in row["reason"]


def test_below_paper_scale_is_inconclusive_but_reports_the_statistic():
    row = verdict(claim("better"), *make_data({("a", "e1"): HIGH, ("b", "e1"): LOW}, below=True))
    assert row["verdict"] == "inconclusive" and row["evidence"] == "reproduced"
    assert "below paper scale: total_steps 1000 < paper 100000" in row["reason"]
    assert row["low"] > 0.5


def with_precision(runs: pd.DataFrame, precision: dict) -> pd.DataFrame:
    """runs.csv with a cfg_precision column, {(algo, env): precision}; other runs have none (as before the key)."""
    runs = runs.copy()
    runs["cfg_precision"] = [precision.get((algo, env)) for algo, env in zip(runs.algo, runs.env, strict=True)]
    return runs


def test_runs_of_different_precisions_are_never_pooled():
    per_run, runs = make_data({("a", "e1"): HIGH, ("b", "e1"): LOW, ("a", "e2"): HIGH, ("b", "e2"): LOW})
    mixed = with_precision(runs, {("a", "e1"): "bf16", ("b", "e1"): "fp32"})
    row = verdict(claim("better"), per_run, mixed)
    assert row["verdict"] == "inconclusive" and row["evidence"] == "none" and row["statistic"] == "--"
    assert row["reason"].startswith("mixed precision:")
    assert "bf16 and fp32 runs on e1 (a: bf16; b: fp32)" in row["reason"]
    assert row["short_reason"] == "mixed precision"
    # runs without a recorded precision are fp32: pooled with fp32 runs, never with bf16 ones
    assert verdict(claim("better"), per_run, with_precision(runs, {("a", "e1"): "fp32"}))["verdict"] == "reproduced"
    row = verdict(claim("better"), per_run, with_precision(runs, {("a", "e1"): "bf16"}))
    assert "bf16 and fp32 runs on e1" in row["reason"]
    # one precision per comparison is fine, even when the envs differ; pooling the envs mixes them
    per_env = with_precision(runs, {("a", "e2"): "bf16", ("b", "e2"): "bf16"})
    assert verdict(claim("better", envs=["e1", "e2"]), per_run, per_env)["verdict"] == "reproduced"
    row = verdict(claim("better", envs=["e1", "e2"], pool_envs=True), per_run, per_env)
    assert row["verdict"] == "inconclusive" and "bf16 and fp32 runs over 2 env(s) (e1, e2)" in row["reason"]
    # a precision within one algorithm's seeds is mixed too, for every test
    seeds = runs.copy()
    seeds["cfg_precision"] = ["bf16" if seed == 0 else "fp32" for seed in seeds.seed]
    for test in C.TESTS:
        assert verdict(claim(test), per_run, seeds)["reason"].startswith("mixed precision:"), test


def test_missing_data_is_inconclusive_and_named():
    per_run, runs = make_data({("a", "e1"): HIGH, ("b", "e1"): LOW})
    row = verdict(claim("better", envs=["e1", "e2"]), per_run, runs)
    assert row["verdict"] == "inconclusive" and row["reason"].startswith("missing data:")
    assert "'a'" in row["reason"] and "'e2'" in row["reason"] and "'exp'" in row["reason"]
    assert row["n_comparisons"] == 1  # the comparison on e1 is still reported
    row = verdict(claim("better", than=["zz"]), per_run, runs)
    assert row["reason"].startswith("missing data: no runs of algo 'zz' on env 'e1'") and row["statistic"] == "--"
    row = verdict(claim("better", metric="final_nope"), per_run, runs)
    assert row["reason"].startswith("missing data: no 'final_nope' scores of algo 'a' on env 'e1'")
    for test in C.TESTS:
        row = verdict(claim(test), None, None)
        assert row["verdict"] == "inconclusive" and row["reason"].startswith("missing data:"), test


def not_run(algo: str, env: str, seeds) -> pd.DataFrame:
    """missing.csv rows: runs of experiment 'exp' the config asks for that do not exist."""
    return pd.DataFrame([{"experiment": "exp", "paper": "mirl", "algo": algo, "env": env, "seed": s} for s in seeds])


def test_runs_that_were_not_run_make_a_claim_inconclusive():
    per_run, runs = make_data({("a", "e1"): HIGH, ("b", "e1"): LOW})
    assert verdict(claim("better"), per_run, runs)["verdict"] == "reproduced"
    for test in C.TESTS:
        row = C.evaluate(claim(test), per_run, runs, 500, 0, 0.95, not_run_runs=not_run("a", "e1", [5, 6, 8]))
        assert row["verdict"] == "inconclusive", test
        assert row["reason"].startswith("missing data: 3 of 8 runs of algo 'a' on env 'e1' were not run "
                                        "(seeds 5-6, 8)"), test
    # an env none of whose runs exist is named once, as not run; runs of other experiments do not count
    absent = pd.concat([not_run("b", "e2", range(5)), not_run("a", "e1", [9]).assign(experiment="other")])
    row = C.evaluate(claim("better", envs=["e1", "e2"]), per_run, runs, 500, 0, 0.95, not_run_runs=absent)
    assert row["reason"].startswith("missing data: 5 of 5 runs of algo 'b' on env 'e2' were not run (seeds 0-4); "
                                    "no runs of algo 'a' on env 'e2'")
    assert "'b' on env 'e2' in" not in row["reason"]
    # envs: all includes the envs whose runs were not run at all
    row = C.evaluate(claim("better", envs="all"), per_run, runs, 500, 0, 0.95, not_run_runs=absent)
    assert row["verdict"] == "inconclusive" and row["envs"] == "e1 e2"


def test_evaluate_all_reads_missing_csv_when_present(tmp_path):
    per_run, runs = make_data({("a", "e1"): HIGH, ("b", "e1"): LOW})
    tidy = per_run.assign(paper="mirl", agent="A", step=100, metric="eval_return")
    directory = tmp_path / "mirl"
    directory.mkdir()
    runs.assign(kind="tabular").to_csv(directory / "runs.csv", index=False)
    tidy.to_csv(directory / "tidy.csv.gz", index=False)
    above = claim("above", id="learns", algos=["a"], threshold=0.5)
    assert C.evaluate_all([above], {"mirl": directory}, ANALYSIS).verdict[0] == "reproduced"  # no missing.csv
    not_run("a", "e1", [5]).to_csv(directory / "missing.csv", index=False)
    row = C.evaluate_all([above], {"mirl": directory}, ANALYSIS).iloc[0]
    assert row.verdict == "inconclusive" and row.reason.startswith("missing data: 1 of 6 runs of algo 'a'")
    not_run("a", "e1", []).reindex(columns=["experiment", "paper", "algo", "env", "seed"]).to_csv(
        directory / "missing.csv", index=False)  # header only: none missing
    assert C.evaluate_all([above], {"mirl": directory}, ANALYSIS).verdict[0] == "reproduced"


def test_intervals_repeat_for_a_seed_and_change_with_it():
    data = make_data({("a", "e1"): NOISY, ("b", "e1"): [0.9, 0.2, 0.5, 1.2, 0.1]})
    first, again, other = (verdict(claim("better"), *data, seed=s) for s in (7, 7, 8))
    assert (first["low"], first["high"]) == (again["low"], again["high"])
    assert (first["low"], first["high"]) != (other["low"], other["high"])
    assert first["bootstrap_seed"] == 7 and first["bootstrap_reps"] == 500


def test_a_claim_with_its_own_confidence_is_held_to_that_level():
    # At 95% the difference's interval excludes 0; at 97.5% (e.g. a claim looked at twice) it does not.
    data = make_data({("a", "e1"): [0.9, 0.4, 1.0, 0.8, 1.1], ("b", "e1"): [0.6, 0.9, 0.3, 0.6, 0.4]})
    usual, strict = verdict(claim("better"), *data), verdict(claim("better", confidence=0.975), *data)
    assert usual["verdict"] == "reproduced" and strict["verdict"] == "inconclusive"
    assert strict["low"] < usual["low"] < usual["high"] < strict["high"]
    assert strict["confidence"] == 0.975 and strict["statistic"].endswith("(97.5% intervals)")
    assert usual["confidence"] == 0.95 and "intervals)" not in usual["statistic"]
    table = pd.DataFrame([usual, {**usual, "id": "other"}, {**strict, "id": "strict"}])
    assert "statistic [95% interval]" in C.claims_markdown(table)
    assert "95\\% intervals unless a statistic says otherwise" in C.claims_tex(table)


def test_bootstrap_is_stratified():
    rng = np.random.default_rng(0)
    # one stratum of constant values: every resample has the same mean
    reps = C.bootstrap_means([np.full(4, 2.0), np.array([0.0, 1.0])], rng, 200)
    assert reps.min() >= 1.0 and reps.max() <= 1.5


GOOD = {"id": "x", "paper": "mirl", "source": "paper", "statement": "s", "test": "better",
        "data": {"experiment": "exp", "metric": "final_eval_return", "envs": ["e"], "algo": "a", "than": ["b"]}}


@pytest.mark.parametrize("change, field, allowed", [
    ({"test": "bigger"}, "'test'", "is not one of ['better', 'not_worse'"),
    ({"paper": "dqn"}, "'paper'", "is not one of ['mirl', 'epmd']"),
    ({"statement": None}, "", "'statement' is a required property"),
    ({"data": {**GOOD["data"], "envs": "e"}}, "'data.envs'", "A list of environments, or 'all'"),
    ({"data": {**GOOD["data"], "than": "b"}}, "'data.than'", "is not of type 'array'"),
    ({"min_seeds": "three"}, "'min_seeds'", "is not of type 'integer'"),
    ({"margin": -1}, "'margin'", "less than the minimum of 0"),
    ({"confidence": 1}, "'confidence'", "greater than or equal to the maximum of 1"),
    ({"colour": "red"}, "", "('colour' was unexpected); allowed keys: before_step, confidence, data, given"),
    ({"data": {**GOOD["data"], "algoz": "a"}}, "'data'", "('algoz' was unexpected); allowed keys: algo, algos, envs"),
    ({"source": "my blog"}, "'source'", "seed report 000"),
    ({"test": "not_worse"}, "'margin'", "relative_margin"),
    ({"test": "above"}, "'data.algos'", "missing"),
    ({"require": "most"}, "'require'", "majority"),
    ({"threshold": 1}, "'threshold'", "above and below"),
    ({"data": {**GOOD["data"], "step_window": [500, 100]}}, "'data.step_window'", "0 <= first < last"),
    ({"data": {**GOOD["data"], "step_window": 1000}}, "'data.step_window'", "is not of type 'array'"),
    ({"given": "x"}, "'given'", "is not of type 'array'"),
    ({"given": ["broken-one"]}, "'given'", "itself"),
    ({"given": ["nope"]}, "'given'", "unknown claim id 'nope'; defined: x, broken-one")])
def test_broken_claims_file_names_entry_and_field(tmp_path, change, field, allowed):
    bad = {**GOOD, "id": "broken-one", **change}
    bad = {k: v for k, v in bad.items() if v is not None}
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump([GOOD, bad]))
    with pytest.raises(C.ClaimsError) as err:
        C.load_claims(path)
    message = str(err.value)
    named = "claim #1 ('broken-one')" + (f": field {field}" if field else "")
    assert named in message and allowed in message, message


def test_circular_conditions_are_rejected(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump([{**GOOD, "given": ["y"]}, {**GOOD, "id": "y", "given": ["x"]}]))
    with pytest.raises(C.ClaimsError, match=r"circular condition x -> y -> x"):
        C.load_claims(path)


def test_broken_claims_file_duplicates_and_shape(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump([GOOD, GOOD]))
    with pytest.raises(C.ClaimsError, match=r"claim #1 \('x'\): field 'id': duplicate id, already used by claim #0"):
        C.load_claims(path)
    path.write_text(yaml.safe_dump({"claims": [GOOD]}))
    with pytest.raises(C.ClaimsError, match=r"top level \(a list of claims\): .* is not of type 'array'"):
        C.load_claims(path)
    path.write_text(yaml.safe_dump([GOOD, "just text"]))
    with pytest.raises(C.ClaimsError, match="claim #1: 'just text' is not of type 'object'"):
        C.load_claims(path)
    with pytest.raises(C.ClaimsError, match="does not exist"):
        C.load_claims(tmp_path / "none.yaml")


def test_project_claims_match_the_config():
    claims = C.load_claims(REPO / "config/claims.yaml")
    config = load_config(REPO / "config/config.yaml")
    paper_scale = load_config(REPO / "config/config.yaml", REPO / "config/paper.yaml")
    assert len(claims) >= 12 and {c.paper for c in claims} == {"mirl", "epmd"}
    metrics = ({f"{p}_{m}" for p in ("final", "mean") for m in FINAL_METRICS} | {"final_hns"}
               | {f"late_change_{m}" for m in LATE_CHANGE_METRICS})
    for c in claims:
        # an experiment that shows no result at the default scale (epmd_mujoco) is defined at paper scale only
        exp = config["experiments"].get(c.experiment) or paper_scale["experiments"].get(c.experiment)
        assert exp is not None, f"{c.id}: unknown experiment {c.experiment}"
        assert exp["paper"] == c.paper, c.id
        # an algorithm too costly for the default config (pmac_paper) may run at paper scale only
        algos = set(exp["algorithms"]) | set(paper_scale["experiments"][c.experiment]["algorithms"])
        assert set(c.all_algos) <= algos, f"{c.id}: {set(c.all_algos) - algos}"
        assert c.envs == C.ALL_ENVS or set(c.envs) <= set(exp["envs"]), f"{c.id}: {c.envs}"
        assert c.metric is None or c.metric in metrics, f"{c.id}: {c.metric}"


def test_pmac_failure_claims_are_given_full_pmac_learning_under_the_same_reading_of_v():
    """Item 9 of issue 13: a 'fails without X' claim on Pendulum counts only where full PMAC learns in
    the same data, with the same V (pmac_value) and the same threshold; each reading has its claims."""
    claims = {c.id: c for c in C.load_claims(REPO / "config/claims.yaml")}
    registry = load_config(REPO / "config/config.yaml")["algorithms"]

    def reading(algo):
        return registry[algo].get("overrides", {}).get("pmac_value", "soft_mean")

    fails = [c for c in claims.values() if c.experiment == "epmd_pendulum" and c.test == "below"]
    assert {reading(c.all_algos[0]) for c in fails} == {"soft_mean", "log_partition"} and len(fails) == 9
    for c in fails:
        assert len(c.given) == 1, c.id
        full = claims[c.given[0]]
        assert full.test == "above" and full.threshold == c.threshold and full.experiment == c.experiment, c.id
        assert reading(full.all_algos[0]) == reading(c.all_algos[0]), c.id
    assert claims["epmd-pendulum-paper-text-fails"].all_algos == ("pmac_paper",)
    assert registry["pmac_paper"]["overrides"]["updates_per_step"] == 100


def test_evaluate_all_without_an_aggregate_dir(tmp_path):
    claims = [claim("better"), C.parse_claim({**GOOD, "id": "e", "paper": "epmd"}, 1)]
    table = C.evaluate_all(claims, {"mirl": tmp_path / "nothing"}, ANALYSIS)
    assert list(table.id) == ["c-better", "e"] and set(table.verdict) == {"inconclusive"}
    assert all(r.startswith("missing data: no aggregate results for paper") for r in table.reason)


def test_claims_tex_escapes_and_summarises():
    per_run, runs = make_data({("a", "e1"): HIGH, ("b_x", "e1"): LOW})
    row = verdict(claim("better", than=["b_x"]), per_run, runs)
    text = C.claims_tex(pd.DataFrame([row]))
    assert "\\newcommand{\\ClaimsTable}" in text and "\\begin{longtable}" in text
    assert "\\newcommand{\\ClaimsSummary}{1 reproduced, 0 not reproduced, 0 inconclusive}" in text
    assert "b\\_x" in text and "b_x" not in text.replace("b\\_x", "")
    assert C.tex("a^b {c} ~ \\d 50% #1 $x & y") == \
        "a\\textasciicircum{}b \\{c\\} \\textasciitilde{} \\textbackslash{}d 50\\% \\#1 \\$x \\& y"


def test_claims_markdown_shows_statistic_or_why_not():
    per_run, runs = make_data({("a", "e1"): HIGH, ("b_x", "e1"): LOW})
    decided = verdict(claim("better", than=["b_x"]), per_run, runs)
    missing = verdict(claim("better", than=["nobody"]), per_run, runs)
    lines = C.claims_markdown(pd.DataFrame([decided, {**missing, "id": "c-missing"}])).splitlines()
    assert lines[0] == "1 reproduced, 0 not reproduced, 1 inconclusive:"
    assert lines[2] == "| claim | verdict | statistic [95% interval], or why not decided |"
    assert lines[4] == f"| `c-better` | **reproduced** | {decided['statistic']} |"
    assert lines[5].startswith("| `c-missing` | inconclusive | missing data")


def test_cli_on_the_smoke_results(tmp_path, smoke_workflow):
    import json

    smoke = smoke_workflow / "results" / "aggregate"

    out, tex, md = tmp_path / "claims.csv", tmp_path / "claims.tex", tmp_path / "claims.md"
    rc = C.main(["--claims", str(REPO / "config/claims.yaml"), "--aggregate", str(smoke),
                 "--analysis", json.dumps({**ANALYSIS, "final_window": {"tabular": 10, "continuous": 3,
                                                                       "algorithmic": 3, "atari": 2}}),
                 "--human-scores", str(REPO / "report/data/atari_human_random.csv"),
                 "--output", str(out), "--tex", str(tex), "--markdown", str(md)])
    assert rc == 0
    table = pd.read_csv(out)
    assert len(table) == len(C.load_claims(REPO / "config/claims.yaml")) and table.id.is_unique
    assert set(table.verdict) <= set(C.VERDICTS)
    runs = pd.concat([pd.read_csv(smoke / p / "runs.csv") for p in ("mirl", "epmd")])
    assert runs.below_paper_scale.all() and set(table.verdict) == {"inconclusive"}
    assert "\\ClaimsTable" in tex.read_text() and "\\ClaimsSummary" in tex.read_text()
    assert md.read_text().count("| inconclusive |") == len(table)


def test_cli_rejects_a_broken_file(tmp_path, capsys):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump([{**GOOD, "test": "bigger"}]))
    rc = C.main(["--claims", str(path), "--aggregate", str(tmp_path), "--analysis", "{}",
                 "--output", str(tmp_path / "o.csv")])
    assert rc == 2 and "claim #0 ('x'): field 'test'" in capsys.readouterr().err
