import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # the package, also without installing it

from rlrepro.config import find_experiment, iter_runs, resolve_run, validate_config

validate_config(config)  # stops here, before any job, naming every bad key

RUNS = list(iter_runs(config))
PAPERS = sorted({run["paper"] for run in RUNS})
RUN_DIR = "results/runs/{paper}/{algo}/{env}/seed{seed}"


wildcard_constraints:
    paper="mirl|epmd",
    algo="[a-z][a-z0-9_.-]*",
    env="[A-Za-z0-9_.-]+",
    seed="[0-9]+",
    experiment="[a-z][a-z0-9_]*",


def run_files(paper, name):
    """One file of every run of a paper."""
    return [f"{RUN_DIR.format(**run)}/{name}" for run in RUNS if run["paper"] == paper]


def run_spec(wildcards):
    spec = resolve_run(config, wildcards.paper, wildcards.algo, wildcards.env, int(wildcards.seed))
    return json.dumps(spec, sort_keys=True)


def resource(family, key):
    return config["resources"][family][key]


def train_resource(key):
    """A train job's resource, from the family of its experiment's kind (train_tabular, ...)."""

    def lookup(wildcards):
        _, exp = find_experiment(config, wildcards.paper, wildcards.algo, wildcards.env)
        return resource(f"train_{exp['kind']}", key)

    return lookup


def experiments_of(kind):
    return [name for name, exp in config["experiments"].items() if exp["kind"] == kind]


def experiment_pattern(kind):
    """A wildcard constraint matching exactly the experiments of one kind."""
    return "|".join(map(re.escape, experiments_of(kind))) or "(?!)"


FIGURES = {
    "tabular": ["figure1", "alpha_rho_sweep", "stability"],
    "continuous": ["curves"],
}


def figure_files(experiment):
    kind = config["experiments"][experiment]["kind"]
    return [f"results/figures/{experiment}_{name}.pdf" for name in FIGURES[kind]]
