"""The results layout: every path the pipeline writes, written once for the rules, the package and the notebooks.

Paths are relative to the repository root (the Snakemake working directory). Patterns hold Snakemake
wildcards (``{paper}``, ``{experiment}`` ...); the functions fill them in, and a function given a wildcard
such as ``"{experiment}"`` returns the pattern a rule needs. Torch-free.
"""

from __future__ import annotations

from rlrepro.core.kinds import KINDS

RUN_NAME = "{paper}/{algo}/{env}/seed{seed}"
"""Names a training run, under the runs folder and the training logs."""
RUN_DIR = f"results/runs/{RUN_NAME}"
"""One training run (see :mod:`rlrepro.core.runstore` for what it holds)."""

AGGREGATE_DIR = "results/aggregate"
"""Across-paper aggregates (robust statistics, claims) and one folder per paper."""
AGGREGATE_FILES = {"tidy": "tidy.csv.gz", "runs": "runs.csv", "final": "final.csv", "stats": "stats.json",
                   "missing": "missing.csv"}
"""What ``python -m rlrepro.analysis.aggregate`` writes for each paper, by short name."""
ROBUST = f"{AGGREGATE_DIR}/robust.csv"
PROFILES = f"{AGGREGATE_DIR}/profiles.csv"
CLAIMS = f"{AGGREGATE_DIR}/claims.csv"
CLAIMS_MARKDOWN = f"{AGGREGATE_DIR}/claims.md"
"""The verdicts as a Markdown table (the README's paper-scale verdicts are this file of the archive build)."""
ARCHIVE_CHECK = f"{AGGREGATE_DIR}/archive_check.csv"
"""The replay check of a sample of archived runs (``python -m rlrepro.archive.replay``)."""

FIGURE_DIR = "results/figures"
NOTEBOOK_DIR = "results/notebooks"
LOG_DIR = "results/logs"
BENCHMARK_DIR = "results/benchmarks"
"""Snakemake's ``benchmark:`` record of every job: wall time, CPU time, peak memory (one TSV per job)."""

GENERATED_DIR = "report/generated"
"""LaTeX the pipeline writes for report/report.tex (one file per experiment, plus the ones below)."""
REPORT_PDF = "report/report.pdf"


def run_dir(paper: str, algo: str, env: str, seed: int | str) -> str:
    return RUN_DIR.format(paper=paper, algo=algo, env=env, seed=seed)


def run_log(paper: str, algo: str, env: str, seed: int | str) -> str:
    return log("train", RUN_NAME.format(paper=paper, algo=algo, env=env, seed=seed))


def aggregate_dir(paper: str) -> str:
    return f"{AGGREGATE_DIR}/{paper}"


def aggregate_file(paper: str, name: str) -> str:
    """One of a paper's aggregate files, by its short name in :data:`AGGREGATE_FILES`."""
    return f"{aggregate_dir(paper)}/{AGGREGATE_FILES[name]}"


def figure(experiment: str, name: str) -> str:
    """A figure of an experiment; ``name`` is one of its kind's :attr:`~rlrepro.core.kinds.Kind.figures`."""
    return f"{FIGURE_DIR}/{experiment}_{name}.pdf"


def experiment_figures(experiment: str, kind: str) -> list[str]:
    """Every figure the notebook of ``kind`` draws for ``experiment``."""
    return [figure(experiment, name) for name in KINDS[kind].figures]


def robust_figure(paper: str) -> str:
    return f"{FIGURE_DIR}/robust_{paper}.pdf"


def executed_notebook(name: str) -> str:
    """The executed copy of a notebook run for ``name`` (an experiment, or ``robust_<paper>``)."""
    return f"{NOTEBOOK_DIR}/{name}.ipynb"


def log(stage: str, name: str) -> str:
    """The log of one job of a stage (``train``, ``aggregate``, ``figures``, ``report``)."""
    return f"{LOG_DIR}/{stage}/{name}.log"


def benchmark(stage: str, name: str) -> str:
    """The benchmark record of one job: ``stage`` is the rule (``train``, ``aggregate``, ``figures`` for every
    figure rule ...), ``name`` its job (a run name, a paper, an experiment)."""
    return f"{BENCHMARK_DIR}/{stage}/{name}.tsv"


def generated_tex(name: str) -> str:
    """Generated LaTeX: an experiment's macros and tables, or ``provenance``, ``claims``, ``robust``."""
    return f"{GENERATED_DIR}/{name}.tex"
