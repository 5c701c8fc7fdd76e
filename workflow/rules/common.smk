import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # the package, also without installing it

from snakemake.exceptions import WorkflowError

from rlrepro.archive.store import METRICS_XZ, Archive, ArchiveError, run_identity
from rlrepro.core import fingerprint, paths, runstore
from rlrepro.core.cluster import ClusterError, check_site
from rlrepro.core.config import find_experiment, iter_runs, resolve_run, validate_config
from rlrepro.core.kinds import KINDS
from rlrepro.core.layers import drop_removed_env_entries

drop_removed_env_entries(config)  # null entries of a layered file remove the base's
validate_config(config)  # stops here, before any job, naming every bad key

RUNS = list(iter_runs(config))
try:
    ARCHIVE = Archive(config["archive"]["path"]) if config["archive"]["use"] else None
except ArchiveError as err:
    raise WorkflowError(f"config archive.path: {err}") from None


wildcard_constraints:
    paper="mirl|epmd",
    algo="[a-z][a-z0-9_.-]*",
    env="[A-Za-z0-9_.-]+",
    seed="[0-9]+",
    experiment="[a-z][a-z0-9_]*",


def configured_spec(run):
    return resolve_run(config, run["paper"], run["algo"], run["env"], int(run["seed"]))


def usable_archived(run):
    """The manifest entry of the archived run that is this configured run, if the config lets the pipeline
    take it (archive.use; a stale one only with archive.stale 'use'); else None."""
    if ARCHIVE is None:
        return None
    spec = configured_spec(run)
    entry = ARCHIVE.match(spec)
    if entry and config["archive"]["stale"] == "retrain":
        if entry["code_sha256"] != fingerprint.code_fingerprint(KINDS[spec["kind"]].module)["sha256"]:
            return None
    return entry


def trained_here(run):
    """Whether results/runs holds this configured run, finished (a run of another spec does not count)."""
    meta_path = Path(paths.run_dir(**run)) / runstore.META
    try:
        return run_identity(json.loads(meta_path.read_text())["spec"]) == run_identity(configured_spec(run))
    except (OSError, ValueError, KeyError):
        return False


if config["train_missing"]:
    USED_RUNS, MISSING_RUNS = RUNS, []
else:  # report what exists: train nothing
    _EXISTS = [bool(usable_archived(run) or trained_here(run)) for run in RUNS]
    USED_RUNS = [run for run, exists in zip(RUNS, _EXISTS) if exists]
    MISSING_RUNS = [run for run, exists in zip(RUNS, _EXISTS) if not exists]
if not USED_RUNS:
    raise WorkflowError("train_missing is false and no configured run exists (archived or in results/runs): "
                        "nothing to report")
PAPERS = sorted({run["paper"] for run in USED_RUNS})
"""The papers with at least one run to report (a paper without any is left out, its claims inconclusive)."""
_USED = {(run["paper"], run["algo"], run["env"]) for run in USED_RUNS}
EXPERIMENTS = [name for name, exp in config["experiments"].items()
               if any((exp["paper"], algo, env) in _USED for algo in exp["algorithms"] for env in exp["envs"])]
"""The experiments with at least one run to report (in report-only mode an experiment may have none)."""


def missing_runs_json(paper):
    """The configured runs of a paper that are neither archived nor trained here (report-only mode)."""
    missing = [{"experiment": find_experiment(config, run["paper"], run["algo"], run["env"])[0], **run}
               for run in MISSING_RUNS if run["paper"] == paper]
    return json.dumps(missing, sort_keys=True)


def run_files(paper, name):
    """One file of every run of a paper the report reads (every configured run, unless report-only)."""
    return [f"{paths.run_dir(**run)}/{name}" for run in USED_RUNS if run["paper"] == paper]


def archive_check_input(wildcards):
    """The replay check's result, when this build reads archived runs and the config asks for the check."""
    checked = ARCHIVE is not None and ARCHIVE.runs and config["archive"]["check_per_kind"] > 0
    return [paths.ARCHIVE_CHECK] if checked else []


def archived_run_files(wildcards):
    """Input of the restore_archived rule: the archived run's files, or a path nothing makes (so the run is
    trained instead) when the archive holds no usable run of this spec."""
    run = dict(wildcards.items())
    name = paths.RUN_NAME.format(**run)
    folder = Path(config["archive"]["path"]) / "runs" / name
    if usable_archived(run) is None:
        return {"unusable": str(folder / "not-archived-for-this-config")}
    return {"metrics": str(folder / METRICS_XZ), "meta": str(folder / runstore.META)}


def paper_of(wildcards):
    return config["experiments"][wildcards.experiment]["paper"]


def paper_aggregate(name):
    """Input function: the aggregate file ``name`` (tidy, runs, final, stats) of the experiment's paper."""
    return lambda wildcards: paths.aggregate_file(paper_of(wildcards), name)


def all_papers_aggregate(name):
    """The aggregate file ``name`` of every paper of the config."""
    return [paths.aggregate_file(paper, name) for paper in PAPERS]


def run_spec(wildcards):
    spec = resolve_run(config, wildcards.paper, wildcards.algo, wildcards.env, int(wildcards.seed))
    return json.dumps(spec, sort_keys=True)


def resource(family, key):
    return config["resources"][family][key]


TRAIN_ENV = "../../envs/train-cuda.yaml" if config["device"] == "cuda" else "../../envs/train.yaml"


def cluster_setting(key):
    """A SLURM site setting: the config's `cluster` key, else $RLREPRO_SLURM_<KEY>, else '' (site default)."""
    return str(config["cluster"][key] or os.environ.get(f"RLREPRO_SLURM_{key.upper()}", ""))


def site_resources(family, gpus=0):
    """Resources of a job of one family: what it needs, and where a cluster executor sends it."""
    return {
        "mem_mb": resource(family, "mem_mb"),
        "runtime": resource(family, "runtime"),
        "gpu": gpus,
        "gpu_model": cluster_setting("gpu_model") if gpus else "",
        "slurm_partition": cluster_setting("gpu_partition" if gpus else "partition") or cluster_setting("partition"),
        "slurm_account": cluster_setting("account"),
    }


def check_slurm_site():
    """Before submitting anything to SLURM: the partitions and GPUs the config asks for exist."""
    plugin = workflow.executor_plugin
    if plugin is None or plugin.name != "slurm":
        return  # local, dry-run, or the job step inside an allocation
    needs_gpus = config["device"] == "cuda" and any(
        KINDS[exp["kind"]].neural and config["resources"][f"train_{exp['kind']}"]["gpu"] > 0
        for exp in config["experiments"].values())
    try:
        check_site(cluster_setting("partition"), cluster_setting("gpu_partition"), cluster_setting("gpu_model"),
                   needs_gpus)
    except ClusterError as err:
        raise WorkflowError(f"Cannot submit to SLURM: {err}") from None


def train_family(wildcards):
    _, exp = find_experiment(config, wildcards.paper, wildcards.algo, wildcards.env)
    return f"train_{exp['kind']}", exp["kind"]


def train_resources():
    """Per-job resources of `rule train`; GPUs only for neural agents when config device is cuda."""

    def lookup(key):
        def value(wildcards):
            family, kind = train_family(wildcards)
            gpus = resource(family, "gpu") if config["device"] == "cuda" and KINDS[kind].neural else 0
            return site_resources(family, gpus)[key]

        return value

    return {key: lookup(key) for key in site_resources("train_tabular")}


def train_threads(wildcards):
    return resource(train_family(wildcards)[0], "threads")


def train_group(wildcards):
    """Cluster job group: tabular runs are batched (the profiles' group-components); the others are not."""
    family, _ = train_family(wildcards)
    return family if family == "train_tabular" else None


def experiments_of(kind):
    return [name for name, exp in config["experiments"].items() if exp["kind"] == kind]


def experiment_pattern(kind):
    """A wildcard constraint matching exactly the experiments of one kind."""
    return "|".join(map(re.escape, experiments_of(kind))) or "(?!)"


FIGURE_CAPTION = "../report/figure.rst"  # relative to workflow/rules/
FIGURE_CATEGORY = "Figures"
ROBUST_CAPTION = "../report/robust.rst"


def notebook_of(wildcards, input):
    """The notebook that draws a figure rule's outputs (named in the HTML report's captions)."""
    return input.notebook


def figure_files(experiment):
    return paths.experiment_figures(experiment, config["experiments"][experiment]["kind"])


onstart:
    check_slurm_site()
