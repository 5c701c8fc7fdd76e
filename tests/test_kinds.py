"""Adding an experiment kind is one registry entry: a toy kind (tests/toy_kind: a two-armed bandit with
its own agents, config, budget, trainer, notebook and table generator) is registered by appending one
``register(Kind(...))`` to a copy of rlrepro/core/kinds.py, and the unchanged workflow validates its
config, trains its runs, aggregates them, draws its figure and writes its tables."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from conftest import activated_env, copy_workflow

TOY = Path(__file__).parent / "toy_kind"

ENTRY = '''
register(Kind(
    name="coin", module="coin", config_class="CoinConfig", budget_class="CoinBudget", envs="coin:ENVS",
    paper_scale={"total_steps": 400, "seeds": 2}, notebook="notebooks/coin.py", figures=("curves",),
    tables="coin:coin_tables", normalisation=("final_eval_return", "learned value of the best arm"),
    uses_torch=False,
))
'''


def toy_config(repo_config: dict) -> dict:
    """The repository's config with one experiment, of the toy kind."""
    config = {key: repo_config[key] for key in ("scale", "device", "archive", "train_missing", "cluster", "analysis")}
    config["analysis"] = {**config["analysis"], "final_window": 2, "comparisons": {}}
    config["resources"] = {**repo_config["resources"],
                           "train_coin": {"threads": 1, "mem_mb": 500, "runtime": 5, "gpu": 0}}
    config["algorithms"] = {"greedy": {"agent": "SampleAverage", "label": "sample average",
                                       "overrides": {"epsilon": 0.2}}}
    config["experiments"] = {"coin_toss": {"paper": "mirl", "kind": "coin", "envs": ["fair", "biased"], "seeds": 2,
                                           "algorithms": ["greedy"], "budget": {"total_steps": 400}}}
    return config


def test_a_toy_kind_runs_through_the_workflow_from_one_registry_entry(tmp_path):
    work = copy_workflow(tmp_path / "repo")
    with (work / "src/rlrepro/core/kinds.py").open("a") as kinds:
        kinds.write(ENTRY)
    shutil.copy(TOY / "coin.py", work / "src/coin.py")
    shutil.copy(TOY / "coin_notebook.py", work / "notebooks/coin.py")
    config = toy_config(yaml.safe_load((work / "config/config.yaml").read_text()))
    (work / "config/config.yaml").write_text(yaml.safe_dump(config))
    env = activated_env()
    env["PYTHONPATH"] = str(work / "src")
    targets = ["results/figures/coin_toss_curves.pdf", "report/generated/coin_toss.tex",
               "results/aggregate/robust.csv"]
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *targets], cwd=work, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    runs = pd.read_csv(work / "results/aggregate/mirl/runs.csv")
    assert sorted(zip(runs.env, runs.seed)) == [("biased", 0), ("biased", 1), ("fair", 0), ("fair", 1)]
    assert set(runs.status) == {"completed"} and not runs.below_paper_scale.any()
    final = pd.read_csv(work / "results/aggregate/mirl/final.csv")
    biased = final[(final.env == "biased") & (final.metric == "final_eval_return")]["mean"].item()
    assert 0.6 < biased < 1.0  # the better arm pays 0.8
    assert "\\newcommand{\\CoinTossGreedyBiased}" in (work / "report/generated/coin_toss.tex").read_text()
    assert (work / "results/figures/coin_toss_curves.pdf").stat().st_size > 1000
    robust = pd.read_csv(work / "results/aggregate/robust.csv")
    assert "coin_toss" in set(robust.experiment)
