"""Provenance, open parameters and hyperparameter tables: generated LaTeX for the report.

``python -m rlrepro.reporting.provenance`` writes one file of macros, all read from the aggregate tables
(``results/aggregate/<paper>/runs.csv``), the benchmark records (``results/benchmarks``), the resolved
Snakemake config and ``config/open_parameters.yaml``:

* ``\\ProvenanceAppendix``: package versions, hardware, run counts, compute time, config hash,
  every diverged run, where each experiment's runs come from (archive or this build, commit, CPU, scale),
  the runs the config asks for that do not exist (``<paper>/missing.csv``), archived runs whose code
  changed since and what the archive's prefix replay check (``archive_check.csv``) found, and where the
  time goes: the compute of every job per experiment and stage, from Snakemake's benchmark records
  (:mod:`rlrepro.reporting.compute`);
* ``\\IfExperimentRun{<experiment>}{<if run>}{<if not>}`` (the experiments of the config),
  ``\\IfPaperRun{<paper>}{<if run>}{<if not>}`` (a paper with at least one of them) and
  ``\\ExperimentNotRun{<experiment>}``, the sentence report.tex shows for an experiment the config does not run;
* ``\\ReportVersion``, ``\\ReportCommit``, ``\\ReportConfigHash``, ``\\ReportScale`` and
  ``\\RunsBelowScale`` for the title page;
* ``\\OpenParameters<Paper>`` (e.g. ``\\OpenParametersMirl``): what the paper leaves open, what
  the seed report says and the value used, read from the runs;
* ``\\Hyperparameters<Experiment>`` (e.g. ``\\HyperparametersMirlTabular``): the resolved agent
  config of the runs, common keys first, then the keys that differ between algorithms.

The tables are longtables with wrapping ``p`` columns: the document needs the packages
``booktabs``, ``longtable`` and ``array``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import json
import re
import sys
import warnings
from functools import cache
from importlib import metadata
from itertools import pairwise
from pathlib import Path

import pandas as pd
import yaml

from rlrepro.analysis.aggregate import MISSING_COLUMNS
from rlrepro.analysis.claims import seed_ranges
from rlrepro.core.config import REPO_ROOT, schema_errors
from rlrepro.core.kinds import KINDS
from rlrepro.core.paths import ARCHIVE_CHECK
from rlrepro.core.runstore import git_commit, write_atomic
from rlrepro.reporting.compute import compute_table, duration, latex_rows, read_benchmarks
from rlrepro.reporting.latex import breakable_tex, camel, define, macro, sci_tex, thousands

OPEN_PARAMETERS_SCHEMA = REPO_ROOT / "config" / "open_parameters.schema.yaml"
"""JSON Schema of config/open_parameters.yaml (its fields documented there)."""

NOT_RUN = "not run"
ALLOW_BREAK = r"\allowbreak{}"
REPLAY_TEX = r"\texttt{python} \texttt{-m} \texttt{rlrepro.\allowbreak{}archive.\allowbreak{}replay}"
"""The command of the archive check, in LaTeX (words that stretch and break)."""


# ----------------------------------------------------------------------------- config and runs

def config_hash(config: dict) -> str:
    """First 12 hex digits of the SHA-256 of the config as JSON with sorted keys."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------- text helpers

def tag_tex(text: str) -> str:
    """:func:`breakable_tex`, with the [open] tag in bold."""
    return breakable_tex(text).replace("[open]", r"\textbf{[open]}")


def value_tex(cell: str) -> str:
    """A runs.csv value as LaTeX: 1000000 -> 1{,}000{,}000, 2e-06 -> 2·10^-6, 256x256 -> 256×256."""
    if re.fullmatch(r"-?\d{5,}", cell):
        return thousands(cell)
    if re.fullmatch(r"\d+(x\d+)+", cell):
        return r"\ensuremath{\times}".join(cell.split("x"))
    return sci_tex(breakable_tex(cell))


def distinct_values(column: pd.Series) -> list[str]:
    """Distinct non-missing values of a column as text, numbers in numeric order; integers stay
    integers (pandas makes a column with gaps float)."""
    def text(v):
        return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)

    def order(cell):
        try:
            return (0, float(cell), cell)
        except ValueError:
            return (1, 0.0, cell)

    return sorted({text(v) for v in column.dropna()}, key=order)


def short_commit(commit: str) -> str:
    """Every 40-digit hash in ``commit`` cut to 12 digits (suffixes such as '-dirty' kept)."""
    return re.sub(r"\b([0-9a-f]{12})[0-9a-f]{28}\b", r"\1", commit)


def commit_tex(commit: str) -> str:
    """:func:`short_commit` as LaTeX that may wrap before '-dirty' (typewriter fonts do not break at hyphens)."""
    return breakable_tex(short_commit(commit)).replace("-", ALLOW_BREAK + "-")


def commits_tex(commits: str) -> str:
    """Comma-separated commits, each in typewriter type, the separators not: their spaces stretch, so that a
    list of long hashes still fits the line."""
    return ", ".join(rf"\texttt{{{commit_tex(c)}}}" for c in commits.split(", "))


def _column(runs: pd.DataFrame, name: str) -> pd.Series:
    """A runs.csv column, or an empty one where the table predates it."""
    return runs[name] if name in runs.columns else pd.Series([None] * len(runs), index=runs.index, dtype=object)


def _longtable(spec: str, header: list[str], rows: list[list[str]], caption: str = "", label: str = "") -> str:
    """A footnotesize booktabs longtable; its header repeats on every page."""
    head = " & ".join(header) + r" \tabularnewline"
    top = ((f"\\caption{{{caption}}}" + (f"\\label{{{label}}}" if label else "") + r"\tabularnewline" + "\n")
           if caption else "")
    lines = [r"\begingroup\footnotesize", f"\\begin{{longtable}}{{@{{}}{spec}@{{}}}}", top + r"\toprule", head,
             r"\midrule", r"\endfirsthead", r"\toprule", head, r"\midrule", r"\endhead", r"\bottomrule", r"\endfoot"]
    lines += [" & ".join(row) + r" \tabularnewline\addlinespace[1pt]" for row in rows]
    lines += [r"\end{longtable}", r"\endgroup", ""]
    return "\n".join(lines)


def _columns(*fractions: float) -> str:
    """Ragged-right p columns taking the given fractions of the line (summing to at most 1)."""
    return "".join(f">{{\\raggedright\\arraybackslash}}p{{\\dimexpr {f}\\linewidth-2\\tabcolsep\\relax}}"
                   for f in fractions)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The runs of several papers in one table (an empty one with ``columns`` when there are none)."""
    if not frames:
        return pd.DataFrame(columns=columns)
    with warnings.catch_warnings():  # all-missing columns (no run diverged) may change dtype later; harmless here
        warnings.simplefilter("ignore", FutureWarning)
        return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------ provenance

def _counts(runs: pd.DataFrame) -> dict:
    status = _column(runs, "status")
    return {"runs": len(runs), "completed": int((status == "completed").sum()),
            "diverged": int((status == "diverged").sum()),
            "other": int((~status.isin(["completed", "diverged"])).sum()),
            "below": int(_column(runs, "below_paper_scale").astype(str).eq("True").sum()),
            "seconds": float(pd.to_numeric(_column(runs, "wall_time_s"), errors="coerce").sum())}


def _itemize(items: list[str]) -> str:
    return "\\begin{itemize}\n" + "".join(f"  \\item {item}\n" for item in items) + "\\end{itemize}\n"


def _counted(runs: pd.DataFrame, column: str) -> list[str]:
    """Each distinct value of a column with the number of runs that have it."""
    values = _column(runs, column).fillna("not recorded (runs.csv predates this column)").astype(str)
    return [f"{breakable_tex(v)} ({n} run{'s' if n != 1 else ''})"
            for v, n in values.value_counts(sort=False).sort_index().items()]


def _hosts(runs: pd.DataFrame) -> pd.Series:
    """'<host_cpu> (host <host_name>)' per run; missing where runs.csv has no host_cpu."""
    cpu = _column(runs, "host_cpu")
    return (cpu.astype(str) + " (host " + _column(runs, "host_name").astype(str) + ")").where(cpu.notna())


def failed_runs_table(runs: pd.DataFrame) -> str:
    """Every run that did not complete (experiment, algorithm, env, seed, step, quantity), or a
    sentence saying there was none."""
    bad = runs[_column(runs, "status") != "completed"]
    if bad.empty:
        return "No run diverged or failed.\n"
    rows = []
    for _, run in bad.sort_values(["experiment", "algo", "env", "seed"]).iterrows():
        step = run.get("diverged_at_step")
        quantity = run.get("diverged_quantity")
        rows.append([breakable_tex(run.experiment), breakable_tex(run.algo), breakable_tex(run.env), str(run.seed),
                     "--" if pd.isna(step) else thousands(step),
                     ("--" if pd.isna(quantity) else breakable_tex(quantity))
                     + ("" if run.status == "diverged" else f" ({breakable_tex(run.status)})")])
    return _longtable(_columns(0.19, 0.19, 0.2, 0.07, 0.12, 0.23),
                      ["experiment", "algorithm", "environment", "seed", "step", "non-finite quantity"], rows,
                      "Runs that diverged (or failed), with the step and the quantity that first became non-finite.",
                      "tab:diverged-runs")


# --------------------------------------------------------------------------------------- origins

def _scale(runs: pd.DataFrame) -> pd.Series:
    """'paper scale' or 'below paper scale', with the config scale in parentheses where recorded."""
    below = _column(runs, "below_paper_scale").astype(str).eq("True")
    text = below.map({True: "below paper scale", False: "paper scale"})
    config = _column(runs, "config_scale")
    return text.where(config.isna(), text + " (" + config.astype(str) + ")")


def origin_table(experiment: str, runs: pd.DataFrame) -> str:
    """Where an experiment's runs come from: one row per (origin, commit, CPU model, scale) with the number of
    runs and their algorithms."""
    cpu = _column(runs, "cpu_model").fillna(_column(runs, "host_cpu")).fillna("not recorded")
    groups = pd.DataFrame({
        "origin": _column(runs, "origin").fillna("not recorded").astype(str),
        "commit": _column(runs, "git_commit").fillna("unknown").astype(str).map(short_commit),
        "cpu": cpu.astype(str), "scale": _scale(runs), "algo": runs.algo.astype(str)})
    rows = []
    for (origin, commit, model, scale), group in groups.groupby(["origin", "commit", "cpu", "scale"], sort=True):
        rows.append([breakable_tex(origin), rf"\texttt{{{commit_tex(commit)}}}", breakable_tex(model),
                     breakable_tex(scale), str(len(group)), breakable_tex(", ".join(dict.fromkeys(group.algo)))])
    exp = rf"\texttt{{{breakable_tex(experiment)}}}"
    return _longtable(_columns(0.15, 0.14, 0.24, 0.15, 0.06, 0.26),
                      ["origin", "commit", "CPU", "scale", "runs", "algorithms"], rows,
                      f"Where the runs of {exp} come from: the archive (its set) or this build, the commit and the "
                      "CPU that trained them, and their scale.", f"tab:origin-{experiment}")


def missing_text(experiment: str, missing: pd.DataFrame | None) -> str:
    """The runs of an experiment that the config asks for and that do not exist, one item per algorithm and env
    ('pmac on Pendulum-v1: seeds 0-4'), or a sentence saying none are missing (or that it is not recorded)."""
    exp = rf"\texttt{{{breakable_tex(experiment)}}}"
    if missing is None:
        return f"Missing runs of {exp}: not recorded (its aggregate predates \\texttt{{missing.csv}}).\n"
    mine = missing[missing.experiment.astype(str) == experiment]
    if mine.empty:
        return f"None of the runs of {exp} that the configuration asks for is missing.\n"
    items = [f"{breakable_tex(algo)} on {breakable_tex(env)}: seed{'s' if len(group) > 1 else ''} "
             f"{seed_ranges(group.seed)}"
             for (algo, env), group in mine.groupby([mine.algo.astype(str), mine.env.astype(str)], sort=True)]
    return (f"{len(mine)} run{'s' if len(mine) != 1 else ''} of {exp} that the configuration asks for "
            "did not run (the claims that need them are inconclusive: missing data):\n" + _itemize(items))


def _run_names(runs: pd.DataFrame) -> set[str]:
    """'paper/algo/env/seed<k>' of each run (the archive check's run names end with it)."""
    return set(runs.paper.astype(str) + "/" + runs.algo.astype(str) + "/" + runs.env.astype(str) + "/seed"
               + runs.seed.astype(str))


def _outcomes(outcomes: pd.Series) -> str:
    """'1 differs, 3 identical': how many runs had each outcome."""
    return ", ".join(f"{n} {breakable_tex(outcome)}" for outcome, n in outcomes.value_counts().sort_index().items())


def code_changed_text(experiment: str, runs: pd.DataFrame, archive_check: pd.DataFrame | None) -> str:
    """A flag on an experiment's archived runs whose code changed since they were archived (how many, which
    files) or is unknown, and what the archive's prefix replay check found for them; empty when there are none."""
    archived = runs[_column(runs, "origin").astype(str).str.startswith("archive:")]
    changed_cell = _column(archived, "code_changed").fillna("").astype(str)
    suspects = archived[changed_cell != ""]
    if suspects.empty:
        return ""
    exp = rf"\texttt{{{breakable_tex(experiment)}}}"
    changed, unknown = suspects[changed_cell != "unknown"], int((changed_cell == "unknown").sum())
    out = []
    if len(changed):
        files = sorted({f for cell in changed.code_changed.astype(str) for f in cell.split()})
        out.append(rf"\textbf{{Code changed since archiving:}} {len(changed)} of the {len(archived)} archived runs of "
                   f"{exp} were trained by code that has changed since (files: "
                   + ", ".join(rf"\texttt{{{breakable_tex(f)}}}" for f in files) + "). ")
    if unknown:
        out.append(f"{unknown} archived run{'s' if unknown != 1 else ''} of {exp} predate{'s' if unknown == 1 else ''} "
                   "the code fingerprint: whether their code changed is not known. ")
    out.append("The hashes say only that the code differs; the archive's prefix replay check says whether the numbers "
               "changed: ")
    if archive_check is None:
        out.append(f"it was not run ({REPLAY_TEX}).")
    else:
        checked = archive_check.run.astype(str).map(lambda run: "/".join(run.rstrip("/").split("/")[-4:]))
        hits = archive_check[checked.isin(_run_names(suspects))]
        out.append(f"it re-ran none of these {len(suspects)} runs." if hits.empty else
                   f"it re-ran {len(hits)} of these {len(suspects)} runs: {_outcomes(hits.outcome.astype(str))}.")
    return "".join(out) + "\n"


def archive_check_text(archive_check: pd.DataFrame | None) -> str:
    """One sentence on the archive's prefix replay check: not run, or its outcomes."""
    if archive_check is None:
        return (f"The archive's prefix replay check ({REPLAY_TEX}: it re-runs a prefix of "
                r"archived runs and compares their rows) was not run for this report." + "\n")
    if archive_check.empty:
        return "The archive's prefix replay check re-ran no run.\n"
    return (f"The archive's prefix replay check ({REPLAY_TEX}) re-ran a prefix of "
            f"{len(archive_check)} archived run{'s' if len(archive_check) != 1 else ''}: "
            f"{_outcomes(archive_check.outcome.astype(str))}.\n")


def origins_tex(runs: pd.DataFrame, missing: pd.DataFrame | None, archive_check: pd.DataFrame | None = None) -> str:
    """'Where the runs come from': per experiment, the origin table, the missing runs and the flag on archived
    runs whose code changed; then the archive check where any run is archived. ``missing``: the papers'
    missing.csv together (None when no aggregate recorded it)."""
    experiments = list(dict.fromkeys([*_column(runs, "experiment").dropna().astype(str),
                                      *([] if missing is None else missing.experiment.astype(str))]))
    if not experiments:
        return ""
    body = [r"\paragraph{Where the runs come from.} Each run is either restored from the archive of completed runs "
            r"(origin \texttt{archive:<set>}) or trained by this build." + "\n"]
    for experiment in experiments:
        mine = runs[_column(runs, "experiment").astype(str) == experiment]
        if len(mine):
            body.append(origin_table(experiment, mine))
        body.append(missing_text(experiment, missing))
        body.append(code_changed_text(experiment, mine, archive_check))
    if _column(runs, "origin").astype(str).str.startswith("archive:").any():
        body.append(archive_check_text(archive_check))
    return "\n".join(part for part in body if part)


def provenance_tex(runs_by_paper: dict[str, pd.DataFrame | None], config_hash: str, package_version: str,
                   commit: str, compute: str = "", missing_by_paper: dict[str, pd.DataFrame | None] | None = None,
                   archive_check: pd.DataFrame | None = None) -> str:
    """The provenance appendix (``\\ProvenanceAppendix``) and the title-page macros.

    ``runs_by_paper``: paper -> its runs.csv (None or empty where the paper has no runs); ``compute``: the
    paragraph of :func:`compute_tex`, last; ``missing_by_paper``: paper -> its missing.csv (None where the
    aggregate has none); ``archive_check``: the archive's replay check (None: not run).
    """
    present = {p: r for p, r in runs_by_paper.items() if r is not None and len(r)}
    runs = _concat(list(present.values()), ["status"])
    total = _counts(runs)
    scales = ", ".join(distinct_values(_column(runs, "config_scale"))) or "no runs"
    out = [macro("ReportVersion", breakable_tex(package_version)),
           macro("ReportCommit", commits_tex(commit)),
           macro("ReportConfigHash", breakable_tex(config_hash)), macro("ReportScale", breakable_tex(scales)),
           macro("RunsBelowScale", f"{total['below']} of {total['runs']}")]

    body = [r"\paragraph{Code and configuration.}\leavevmode" + "\n" + _itemize([
        r"package \texttt{rlrepro} " + breakable_tex(package_version) + ", commit " + commits_tex(commit),
        r"configuration hash \texttt{" + breakable_tex(config_hash) + "} (SHA-256 of the resolved Snakemake "
        "configuration as JSON with sorted keys, first 12 hex digits)",
        f"configuration scale: {breakable_tex(scales)}; {total['below']} of {total['runs']} runs are below "
        "paper scale"])]
    if present:
        commits = distinct_values(_column(runs, "git_commit"))
        if len(commits) > 1:
            body.append("The runs come from several commits:\n"
                        + _itemize([rf"\texttt{{{commit_tex(c)}}}" for c in commits]))
        body.append(r"\paragraph{Software.} Package versions recorded by the runs:" + "\n"
                    + _itemize(_counted(runs, "versions")))
        body.append(r"\paragraph{Hardware.} Processors (host):" + "\n"
                    + _itemize(_counted(runs.assign(_host=_hosts(runs)), "_host"))
                    + "Devices:\n" + _itemize(_counted(runs, "device")))
    rows = []
    for paper, paper_runs in runs_by_paper.items():
        if paper not in present:
            rows.append([breakable_tex(paper), "no runs", "--", "--", "--", "--", "--"])
            continue
        c = _counts(paper_runs)
        rows.append([breakable_tex(paper), breakable_tex(", ".join(dict.fromkeys(paper_runs.experiment.astype(str)))),
                     str(c["runs"]), str(c["completed"]), str(c["diverged"] + c["other"]), str(c["below"]),
                     duration(c["seconds"])])
    rows.append([r"\textit{all}", "", str(total["runs"]), str(total["completed"]),
                 str(total["diverged"] + total["other"]), str(total["below"]), duration(total["seconds"])])
    body.append(r"\paragraph{Runs and compute.} Compute time is the wall time of the finished training runs, summed "
                "over runs as the runs measure it (resumed runs include the time before the interruption); "
                "\\emph{Where the time goes} below has every job of the pipeline, the stages after training too.\n"
                + _longtable(_columns(0.09, 0.37, 0.08, 0.11, 0.11, 0.1, 0.14),
                             ["paper", "experiments", "runs", "completed", "diverged or failed", "below scale",
                              "compute time"], rows))
    recorded = [m for m in (missing_by_paper or {}).values() if m is not None]
    missing = _concat(recorded, list(MISSING_COLUMNS)) if recorded else None
    body.append(origins_tex(runs, missing, archive_check))
    body.append(r"\paragraph{Diverged and failed runs.}" + "\n" + failed_runs_table(runs))
    body.append(compute)
    out.append(define("ProvenanceAppendix", "".join(body)))
    return "".join(out)


# ------------------------------------------------------------------------------------------ compute

def compute_tex(benchmark_dir: Path | None, runs: pd.DataFrame) -> str:
    """'Where the time goes': compute per experiment and per stage (:mod:`rlrepro.reporting.compute`), from the
    Snakemake benchmark records under ``benchmark_dir``; a sentence when there are none."""
    head = r"\paragraph{Where the time goes.} "
    benchmarks = read_benchmarks(benchmark_dir) if benchmark_dir and Path(benchmark_dir).is_dir() else None
    if benchmarks is None or benchmarks.empty:
        return head + (r"No benchmark records were found (Snakemake writes one per job under "
                       r"\texttt{results/benchmarks/})." + "\n")
    caption = (r"Compute of the pipeline's jobs (Snakemake's \texttt{benchmark:} records, "
               r"\texttt{results/benchmarks/}): training per experiment, then each stage. Wall and CPU time are "
               r"summed over the jobs, peak memory is the largest resident set of one job. Snakemake samples CPU time "
               r"and memory (every 0.5\,s for a job's first 15\,s, then every 30\,s), so for long jobs they are lower "
               r"bounds; `--' where a job ended before the first sample. Each row holds the last run of its jobs. The "
               r"table is written by the provenance job, after every other stage except the compilation of this PDF: "
               r"the rows of that compilation (LaTeX) and of the provenance job itself, where present, are from the "
               r"previous build.")
    return head + ("Wall times are summed over jobs: compute, not the pipeline's elapsed time (jobs run in "
                   "parallel).\n"
                   + _longtable(_columns(0.4, 0.1, 0.16, 0.16, 0.18), ["", "jobs", "wall time", "CPU time",
                                                                       "peak memory"],
                                latex_rows(compute_table(benchmarks, runs)), caption, "tab:compute"))


def experiment_macros(config: dict) -> str:
    """``\\IfExperimentRun{<experiment>}{<run>}{<not run>}`` (true for the experiments of the config) and
    ``\\ExperimentNotRun{<experiment>}``, the sentence a section shows for an experiment the config does not run."""
    scale = breakable_tex(config.get("scale", "unknown"))
    lines = [r"\newcommand{\IfExperimentRun}[3]{\ifcsname rlreproRun:#1\endcsname#2\else#3\fi}" + "\n",
             r"\newcommand{\IfPaperRun}[3]{\ifcsname rlreproPaperRun:#1\endcsname#2\else#3\fi}" + "\n",
             r"\newcommand{\ExperimentNotRun}[1]{Not in this build (config scale \texttt{" + scale + r"}): the "
             r"configuration has no experiment \texttt{\detokenize{#1}}, or, building from existing runs only, none "
             r"of its runs exists (the provenance appendix lists them); \texttt{config/paper.yaml} runs it at paper "
             r"scale.}" + "\n"]
    experiments = config.get("experiments", {})
    lines += [rf"\expandafter\def\csname rlreproRun:{name}\endcsname{{}}" + "\n" for name in experiments]
    lines += [rf"\expandafter\def\csname rlreproPaperRun:{paper}\endcsname{{}}" + "\n"
              for paper in sorted({exp["paper"] for exp in experiments.values() if "paper" in exp})]
    return "".join(lines)


# ------------------------------------------------------------------------------- open parameters

def load_open_parameters(path: Path) -> dict[str, list[dict]]:
    """``config/open_parameters.yaml``: paper -> list of entries, validated against its schema."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    problems = open_parameter_problems(data)
    if problems:
        raise ValueError(f"{path}: invalid open parameters:\n  " + "\n  ".join(problems))
    return data


def open_parameter_problems(data) -> list[str]:
    """Every way a mapping paper -> entries breaks ``config/open_parameters.schema.yaml``, each line
    naming the paper, the entry (index and parameter) and the field."""
    problems = []
    for path, problem in schema_errors(data, OPEN_PARAMETERS_SCHEMA):
        if len(path) < 2:
            problems.append(f"{'.'.join(map(str, path)) or '<top level>'}: {problem}")
            continue
        paper, index, field = path[0], path[1], ".".join(map(str, path[2:]))
        entry = data[paper][index]
        name = entry.get("parameter") if isinstance(entry, dict) else None
        where = f"open parameters of {paper!r}, entry {index} (parameter {name!r})"
        problems.append(f"{where}: field {field!r}: {problem}" if field else f"{where}: {problem}")
    return problems


def validate_open_parameters(paper: str, entries) -> None:
    """Raise ValueError listing every problem of one paper's entries (see :func:`open_parameter_problems`)."""
    problems = open_parameter_problems({paper: entries})
    if problems:
        raise ValueError("invalid open parameters:\n  " + "\n  ".join(problems))


def _names(value) -> list[str]:
    """A string or a list of strings as a list; [] when it is neither."""
    if isinstance(value, str) and value.strip():
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return value
    return []


def runs_value(runs: pd.DataFrame, experiment: str, keys: list[str], agent: str | None = None) -> str | None:
    """The distinct values of runs.csv columns among an experiment's runs (of one agent, if given),
    as LaTeX; None when the experiment, the agent or the columns have no runs."""
    sel = runs[runs.experiment == experiment] if "experiment" in runs.columns else runs.iloc[0:0]
    if agent is not None:
        sel = sel[_column(sel, "agent") == agent]
    parts = []
    for key in keys:
        values = distinct_values(_column(sel, key))
        if not values:
            return None
        cell = ", ".join(value_tex(v) for v in values)
        parts.append(cell if len(keys) == 1 else f"{breakable_tex(key.removeprefix('cfg_'))} = {cell}")
    return "; ".join(parts)


def config_value(config: dict | None, path: str) -> str | None:
    """A value of the config at a dotted path (experiments.epmd_mujoco.seeds) as LaTeX; None if absent."""
    node = config
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, list):
        return ", ".join(value_tex(str(v)) for v in node)
    if isinstance(node, dict):
        return "; ".join(f"{breakable_tex(k)} {value_tex(str(v))}" for k, v in node.items())
    return value_tex(str(node))


def open_parameter_value(value: dict, runs: pd.DataFrame, config: dict | None = None) -> str:
    """The 'value used' cell of an open parameter: fixed text, or read from the runs (every
    experiment named, each prefixed with its name when there are several) or the config;
    'not run' where there is nothing to read."""
    if "fixed" in value:
        text = breakable_tex(value["fixed"])
    elif "config" in value:
        text = config_value(config, value["config"]) or NOT_RUN
    else:
        experiments, keys = _names(value["experiment"]), _names(value["key"])
        cells = [(e, runs_value(runs, e, keys, value.get("agent")) or NOT_RUN) for e in experiments]
        if len({c for _, c in cells}) == 1:  # one experiment, or all agree
            text = cells[0][1]
        else:
            text = "; ".join(f"{breakable_tex(e)}: {c}" for e, c in cells)
    return text + (f" ({breakable_tex(value['note'])})" if value.get("note") else "")


def open_parameters_tex(paper: str, entries: list[dict], runs: pd.DataFrame | None, config: dict | None = None) -> str:
    """``\\OpenParameters<Paper>``: a longtable parameter | paper / seed report says | value used | source."""
    validate_open_parameters(paper, entries)
    runs = runs if runs is not None else pd.DataFrame(columns=["experiment"])
    rows = [[breakable_tex(e["parameter"]), tag_tex(e["paper_says"]), open_parameter_value(e["value"], runs, config),
             breakable_tex(e["source"])]
            for e in entries]
    caption = (f"Open parameters of {breakable_tex(paper.upper())}: what the paper or its seed reproduction report "
               r"says (source tags as in \texttt{papers.md}; \textbf{[open]}: not stated), the value these runs "
               r"used (read from the runs; `not run' where no run used it) and where that value comes from.")
    table = _longtable(_columns(0.17, 0.38, 0.29, 0.16),
                       ["parameter", "paper / seed report says", "value used", "source"],
                       rows, caption, f"tab:open-parameters-{paper}")
    return define(f"OpenParameters{camel(paper)}", table)


# ------------------------------------------------------------------------------- hyperparameters

@cache
def field_docs(kind: str) -> dict[str, str]:
    """Field -> docstring (whitespace collapsed) of a kind's agent-config dataclass, read from its
    source; {} for an unknown kind or unreadable source."""
    if kind not in KINDS:
        return {}
    module, name = KINDS[kind].module, KINDS[kind].config_class
    spec = importlib.util.find_spec(module)  # the module's file, without importing it (and torch)
    if spec is None or spec.origin is None:
        return {}
    tree = ast.parse(Path(spec.origin).read_text())
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
    docs, body = {}, cls.body if cls else []
    for node, following in pairwise(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def split_keys(runs: pd.DataFrame) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The resolved agent config of runs (cfg_* columns, keys without the prefix) split into
    (key -> value shared by every run, key -> {algo: value} for keys whose value differs).
    Columns with no value in these runs (config keys of another kind) are left out; an algorithm
    whose runs disagree on a key shows its distinct values joined."""
    common, differing = {}, {}
    for column in (c for c in runs.columns if c.startswith("cfg_")):
        values = distinct_values(runs[column])
        if not values:
            continue
        key = column.removeprefix("cfg_")
        if len(values) == 1:
            common[key] = values[0]
        else:
            differing[key] = {algo: ", ".join(distinct_values(group[column])) or "--"
                              for algo, group in runs.groupby("algo", sort=False)}
    return common, differing


def _key_tex(key: str) -> str:
    """A config key in typewriter type, breakable after every underscore."""
    return r"\texttt{" + breakable_tex(key).replace(r"\_\allowbreak{}", r"\_").replace(r"\_", r"\_\allowbreak{}") + "}"


def hyperparameter_tex(experiment: str, runs: pd.DataFrame, max_columns: int = 5) -> str:
    """``\\Hyperparameters<Experiment>``: the experiment's resolved agent config, read from its runs:
    a table of the keys shared by every algorithm (with the config field's docstring), then a table
    algorithm x keys whose value differs (``max_columns`` keys per table)."""
    runs = runs[runs.experiment == experiment] if "experiment" in runs.columns else runs.iloc[0:0]
    name = f"Hyperparameters{camel(experiment)}"
    if runs.empty:
        return define(name, f"No runs of experiment \\texttt{{{breakable_tex(experiment)}}}.\n")
    common, differing = split_keys(runs)
    kinds = distinct_values(_column(runs, "kind"))
    docs = field_docs(kinds[0]) if len(kinds) == 1 else {}
    exp = _key_tex(experiment)
    rows = [[_key_tex(k), value_tex(v), breakable_tex(docs.get(k, ""))] for k, v in sorted(common.items())]
    body = [_longtable(_columns(0.25, 0.17, 0.58), ["key", "value", "meaning"], rows,
                       f"Agent configuration shared by every algorithm of {exp}, as resolved in its runs.",
                       f"tab:hyperparameters-{experiment}")]
    if differing:
        keys = sorted(differing)
        algos = list(dict.fromkeys(runs.algo))
        for start in range(0, len(keys), max_columns):
            chunk = keys[start:start + max_columns]
            width = round(0.74 / len(chunk), 3)
            rows = [[_key_tex(a), *[value_tex(differing[k][a]) if "," not in differing[k][a]
                                    else breakable_tex(differing[k][a]) for k in chunk]] for a in algos]
            more = "" if start == 0 else " (continued)"
            body.append(_longtable(_columns(0.26, *[width] * len(chunk)), ["algorithm", *map(_key_tex, chunk)], rows,
                                   f"Agent configuration that differs between the algorithms of {exp}{more}.",
                                   f"tab:hyperparameters-{experiment}-differing"
                                   + (f"-{start // max_columns}" if start else "")))
    else:
        body.append(f"Every algorithm of {exp} uses the same agent configuration.\n")
    return define(name, "".join(body))


# ------------------------------------------------------------------------------------------- CLI

def read_runs(aggregate_dir: Path, papers: list[str]) -> dict[str, pd.DataFrame | None]:
    """paper -> its runs.csv, or None where the paper has no aggregate; also every paper with an
    aggregate directory that ``papers`` does not name."""
    aggregate_dir = Path(aggregate_dir)
    found = sorted(p.parent.name for p in aggregate_dir.glob("*/runs.csv"))
    return {paper: (pd.read_csv(aggregate_dir / paper / "runs.csv") if (aggregate_dir / paper / "runs.csv").exists()
                    else None)
            for paper in dict.fromkeys([*papers, *found])}


def read_missing(aggregate_dir: Path, papers) -> dict[str, pd.DataFrame | None]:
    """paper -> its missing.csv (the runs the config asks for that do not exist), None where there is none."""
    files = {paper: Path(aggregate_dir) / paper / "missing.csv" for paper in papers}
    return {paper: pd.read_csv(path, dtype={"experiment": str, "algo": str, "env": str}) if path.exists() else None
            for paper, path in files.items()}


def read_archive_check(path: Path | None) -> pd.DataFrame | None:
    """The archive's replay check (columns run, kind, outcome, ...), or None where it was not run."""
    if path is None or not Path(path).exists():
        return None
    check = pd.read_csv(path)
    lacking = [c for c in ("run", "outcome") if c not in check.columns]
    if lacking:
        raise ValueError(f"{path}: archive check lacks the column(s) {', '.join(lacking)}; it needs run, kind, outcome")
    return check


def generate(aggregate_dir: Path, config: dict, open_parameters: dict[str, list[dict]], package_version: str,
             commit: str | None = None, benchmark_dir: Path | None = None, archive_check: Path | None = None) -> str:
    """The whole generated file: provenance (with the compute of the jobs recorded under ``benchmark_dir``, the
    missing runs and the archive's replay check at ``archive_check``), title macros, which experiments the config
    runs, open parameters and hyperparameters."""
    experiments = config.get("experiments", {})
    runs_by_paper = read_runs(aggregate_dir, [e["paper"] for e in experiments.values()])
    runs = _concat([r for r in runs_by_paper.values() if r is not None and len(r)], ["experiment", "git_commit"])
    if commit is None:
        commit = ", ".join(distinct_values(runs.git_commit)) or git_commit(Path(__file__).parent)
    out = ["% Generated by `python -m rlrepro.reporting.provenance`; do not edit.\n",
           provenance_tex(runs_by_paper, config_hash(config), package_version, commit,
                          compute_tex(benchmark_dir, runs), read_missing(aggregate_dir, runs_by_paper),
                          read_archive_check(archive_check)),
           experiment_macros(config)]
    for paper, entries in open_parameters.items():
        out.append(open_parameters_tex(paper, entries, runs, config))
    for experiment in dict.fromkeys([*experiments, *runs.experiment.astype(str)]):
        out.append(hyperparameter_tex(experiment, runs))
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlrepro.reporting.provenance",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--aggregate", type=Path, required=True, help="directory of <paper>/runs.csv")
    parser.add_argument("--config-json", required=True, help="JSON of the whole (resolved) Snakemake config")
    parser.add_argument("--open-parameters", type=Path, required=True, help="config/open_parameters.yaml")
    parser.add_argument("--benchmarks", type=Path, help="folder of Snakemake benchmark records (results/benchmarks)")
    parser.add_argument("--archive-check", type=Path,
                        help=f"the archive's prefix replay check ({ARCHIVE_CHECK}); absent: reported as not run")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config_json)
        open_parameters = load_open_parameters(args.open_parameters)
        try:
            version = metadata.version("rlrepro")
        except metadata.PackageNotFoundError:
            version = "unknown"
        text = generate(args.aggregate, config, open_parameters, version, benchmark_dir=args.benchmarks,
                        archive_check=args.archive_check)
    except (ValueError, OSError, yaml.YAMLError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_atomic(args.output, text.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
