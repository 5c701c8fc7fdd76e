"""Where the time goes: the compute of every pipeline job, per experiment and per stage.

Every rule has a Snakemake ``benchmark:`` record (``results/benchmarks/<stage>/<job>.tsv``, see
:func:`rlrepro.core.paths.benchmark`): wall seconds (``s``), CPU seconds (``cpu_time``) and peak resident
memory (``max_rss``, MB). This module sums them: the training jobs per experiment (a run's experiment is
read from the aggregate's ``runs.csv``), every other stage per rule family. The provenance appendix shows
the table as LaTeX; the CLI prints it as Markdown for the README::

    python -m rlrepro.reporting.compute results/benchmarks --markdown

Snakemake samples CPU time and memory (every 0.5 s for a job's first 15 s, then every 30 s), so for long
jobs they are lower bounds: the CPU seconds after the last sample and a short peak between samples are
missed. A job that ends before the first sample has no CPU time or memory (shown as '--').
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from rlrepro.core import paths
from rlrepro.reporting.latex import breakable_tex

STAGES = {"aggregate": "aggregate (per paper)", "robust_statistics": "statistics across tasks",
          "figures": "figures (notebooks)", "report_tables": "report tables (per experiment)",
          "claims": "claims", "provenance": "provenance", "report_pdf": "LaTeX (latexmk)"}
"""Stage folders under results/benchmarks other than ``train``, in pipeline order, with their labels."""

HEADER = ["what", "jobs", "wall", "CPU", "peak memory"]
COLUMNS = {"s": "wall_s", "cpu_time": "cpu_s", "max_rss": "max_rss_mb"}


def read_benchmarks(benchmark_dir: Path) -> pd.DataFrame:
    """One row per benchmark file: stage, job (the path below the stage folder, without .tsv), wall_s, cpu_s,
    max_rss_mb (missing where Snakemake recorded NA) and ended (the file's modification time, written as the job
    ends). A file with several rows (``repeat``) counts their mean."""
    benchmark_dir = Path(benchmark_dir)
    rows = []
    for path in sorted(benchmark_dir.glob("*/**/*.tsv")):
        table = pd.read_csv(path, sep="\t", na_values=["NA", "-"])
        if table.empty:
            continue
        values = {new: pd.to_numeric(table[old], errors="coerce").mean() if old in table else float("nan")
                  for old, new in COLUMNS.items()}
        relative = path.relative_to(benchmark_dir)
        rows.append({"stage": relative.parts[0], "job": str(Path(*relative.parts[1:]).with_suffix("")), **values,
                     "ended": path.stat().st_mtime})
    return pd.DataFrame(rows, columns=["stage", "job", *COLUMNS.values(), "ended"])


def experiment_of_runs(runs: pd.DataFrame | None) -> dict[str, str]:
    """Run name (``paper/algo/env/seed<k>``, the train job's benchmark name) -> experiment, from runs.csv rows."""
    if runs is None or runs.empty or not {"paper", "algo", "env", "seed", "experiment"} <= set(runs.columns):
        return {}
    return {paths.RUN_NAME.format(paper=r.paper, algo=r.algo, env=r.env, seed=r.seed): str(r.experiment)
            for r in runs.itertuples()}


def compute_table(benchmarks: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows (what, kind, jobs, wall_s, cpu_s, max_rss_mb): training per experiment (kind 'train'; runs that
    runs.csv does not know are grouped by paper), each stage present (kind 'stage'), then the total."""
    experiments = experiment_of_runs(runs)
    train = benchmarks[benchmarks.stage == "train"]
    train = train.assign(what=[experiments.get(job, f"{job.split('/')[0]} (runs not aggregated)")
                               for job in train.job])
    stages = benchmarks[benchmarks.stage.isin(STAGES)].assign(what=lambda b: b.stage.map(STAGES))
    order = {label: i for i, label in enumerate(STAGES.values())}

    def summed(jobs: pd.DataFrame, kind: str) -> pd.DataFrame:
        grouped = jobs.groupby("what", sort=False).agg(jobs=("job", "size"), wall_s=("wall_s", "sum"),
                                                        cpu_s=("cpu_s", lambda c: c.sum(min_count=1)),
                                                        max_rss_mb=("max_rss_mb", "max"))
        return grouped.reset_index().assign(kind=kind)

    parts = [summed(train, "train").sort_values("what"),
             summed(stages, "stage").sort_values("what", key=lambda w: w.map(order))]
    known = benchmarks[benchmarks.stage.isin(["train", *STAGES])]
    if not known.empty:
        parts.append(pd.DataFrame([{"what": "all jobs", "kind": "total", "jobs": len(known),
                                    "wall_s": known.wall_s.sum(), "cpu_s": known.cpu_s.sum(min_count=1),
                                    "max_rss_mb": known.max_rss_mb.max()}]))
    columns = ["what", "kind", "jobs", "wall_s", "cpu_s", "max_rss_mb"]
    return pd.concat([p for p in parts if not p.empty] or [pd.DataFrame(columns=columns)],
                     ignore_index=True)[columns]


def elapsed_s(benchmarks: pd.DataFrame) -> float:
    """Seconds from the first job's start to the last job's end (start = end - wall time); the pipeline's
    elapsed time only when every record comes from one build."""
    if benchmarks.empty:
        return float("nan")
    return float(benchmarks.ended.max() - (benchmarks.ended - benchmarks.wall_s).min())


def duration(seconds: float) -> str:
    """'--' when missing, '42 s' below a minute, '12.5 min' below an hour, else '3 h 05 min'."""
    if pd.isna(seconds):
        return "--"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def memory_text(megabytes: float) -> str:
    return "--" if pd.isna(megabytes) else (f"{megabytes / 1024:.2f} GB" if megabytes >= 1024
                                            else f"{megabytes:.0f} MB")


def _cells(row) -> list[str]:
    return [str(int(row.jobs)), duration(row.wall_s), duration(row.cpu_s), memory_text(row.max_rss_mb)]


def markdown(table: pd.DataFrame) -> str:
    """The table as Markdown: one line per experiment ('train: <experiment>') and stage, then the total."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in table.itertuples():
        what = {"train": f"train: {row.what}", "total": f"**{row.what}**"}.get(row.kind, row.what)
        lines.append("| " + " | ".join([what, *_cells(row)]) + " |")
    return "\n".join(lines) + "\n"


def latex_rows(table: pd.DataFrame) -> list[list[str]]:
    """The table's rows as LaTeX cells, experiments under a 'training' heading, the total in italics."""
    rows = [[r"\textit{training}", "", "", "", ""]] if (table.kind == "train").any() else []
    for row in table.itertuples():
        what = breakable_tex(row.what)
        what = {"train": r"\quad " + what, "total": rf"\textit{{{what}}}"}.get(row.kind, what)
        rows.append([what, *_cells(row)])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlrepro.reporting.compute", description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmarks", type=Path, nargs="?", default=Path(paths.BENCHMARK_DIR),
                        help=f"folder of Snakemake benchmark records (default {paths.BENCHMARK_DIR})")
    parser.add_argument("--aggregate", type=Path, default=Path(paths.AGGREGATE_DIR),
                        help="folder of <paper>/runs.csv, naming each run's experiment")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table and the elapsed time (the only "
                        "format, and the default; the report's LaTeX table comes from rlrepro.reporting.provenance)")
    args = parser.parse_args(argv)
    if not args.benchmarks.is_dir():
        print(f"error: {args.benchmarks} is not a folder (run the pipeline first)", file=sys.stderr)
        return 2
    frames = [pd.read_csv(p) for p in sorted(args.aggregate.glob("*/runs.csv"))]
    benchmarks = read_benchmarks(args.benchmarks)
    table = compute_table(benchmarks, pd.concat(frames, ignore_index=True) if frames else None)
    sys.stdout.write(markdown(table) + f"\nFirst job start to last job end: {duration(elapsed_s(benchmarks))} "
                     "(from the records' modification times: the pipeline's elapsed time when every record comes "
                     "from one build).\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
