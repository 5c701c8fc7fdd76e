"""Across-task statistics with rliable (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice").

For every experiment that has results on at least two tasks, each run's final score is mapped to a
common scale (``normalised_scores``) so that tasks can be pooled, laid out as rliable's
``(runs x tasks)`` matrix per algorithm (``score_matrices``), and summarised with

* the interquartile mean (IQM), the mean and the optimality gap over all runs of all tasks, with
  stratified-bootstrap intervals (runs resampled within each task; ``iqm_over_tasks``);
* the probability that the paper's method beats each baseline on a task drawn at random
  (``probability_of_improvement``: Mann-Whitney U per task, averaged over tasks);
* performance profiles, the fraction of runs whose score exceeds tau (``performance_profile``).

The common scale, per experiment kind (``rlrepro.core.kinds.KINDS[kind].normalisation``):

* tabular (MIRL's gridworlds): the final correct-action rate. It is already a fraction with the same
  meaning on both grids (the share of decisions at the decisive place that are right) and is the
  quantity MIRL's tabular figures show. The alternative, evaluation return / optimal return (corridor
  +1.00, 8x8 +3.83), is not a common scale: a policy that never reaches the goal scores -100 per
  episode, i.e. -100 on the corridor but -26 on the 8x8 grid, so a single failed corridor run would
  dominate any pooled mean; and with 30 evaluation episodes from random starts the corridor's
  optimum (+1.00) is small against the noise (default scale: final returns of one algorithm range from
  0.07 to 1.36 times the optimum). Caveat: the rate is measured on the training behaviour, exploratory
  steps included (epsilon 0.1). QL and SQL explore uniformly, which caps their rate near 0.925; MIRL
  explores from its learned prior and SQL_m from the action marginal, which can reach 1 once the prior
  has settled on the right action (default scale, corridor: MIRL 1.000, SQL_m 0.994, QL/SQL 0.923).
  That is part of MIRL's claim, but it means a difference on this scale mixes the greedy policy's
  quality with the exploration distribution.
* atari: the human-normalised score (score - random) / (human - random), ``final_hns``.
* algorithmic (EPMD's six tasks): the greedy policy's final solve rate, already a fraction.
* continuous (MuJoCo): final evaluation return / a reference return for the task, the mean of the
  published returns of the config's ``analysis.reference_algos`` (TD3 and SAC) at about 1M steps in
  ``report/data/reference_returns.csv`` (the TD3 paper's and CleanRL's). 1 means "as good as a
  well-tuned TD3/SAC after 1M steps". DDPG's CleanRL returns are left out: they are far below the others
  on Hopper and Walker2d (1577, 1240), and including them would make a task's scale depend on how badly
  one baseline did there. Ant has only the TD3 paper's return, Humanoid only CleanRL's. A task without a
  reference gets no score and is dropped with a warning.

Which algorithm is compared with which is the config's ``analysis.comparisons`` (a method -> its
baselines); an experiment's statistics cover the algorithms of its comparison pairs.

An experiment with fewer than two tasks left after dropping incomplete ones (``MIN_TASKS``) gets no
rows: "one task: no across-task statistics" is reported, not an error.

Every bootstrap is :mod:`rlrepro.analysis.statistics`' seeded one: repeatable for a given seed, and
each algorithm (and each pair) bootstrapped in its own call, so its interval does not depend on which
other algorithms an experiment has.

CLI: ``python -m rlrepro.analysis.robust --aggregate results/aggregate --analysis '<json>' --human-scores ...
--references ... --output-dir results/aggregate --tex report/generated/robust.tex`` writes
``robust.csv`` (one row per statistic), ``profiles.csv`` and the LaTeX macros ``\\RobustStatistics<Paper>``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from rlrepro.analysis.aggregate import final_scores, human_normalised
from rlrepro.analysis.statistics import (
    interquartile_mean,
    interval_estimate,
    performance_profile_band,
    scalar_intervals,
)
from rlrepro.core.kinds import KINDS
from rlrepro.core.runstore import write_atomic
from rlrepro.reporting.latex import camel, fmt, tex_escape

MIN_TASKS = 2
"""Fewer tasks than this: no across-task statistics."""

PAPERS = ("mirl", "epmd")
"""Papers whose macro ``\\RobustStatistics<Paper>`` is always defined."""

ID_COLUMNS = ["experiment", "algo", "label", "env", "seed"]
ROBUST_COLUMNS = ["paper", "experiment", "statistic", "algo", "x", "y", "estimate", "low", "high", "n_tasks", "n_seeds",
                  "tasks", "normalisation", "below_paper_scale", "confidence", "reps", "seed"]
PROFILE_COLUMNS = ["paper", "experiment", "algo", "tau", "fraction", "low", "high", "normalisation",
                   "below_paper_scale", "reps", "seed"]
"""Columns of robust.csv (statistic: iqm, mean, optimality_gap or poi; algo for the first three, x and y
for poi, P(x > y)) and of profiles.csv."""


def reference_returns(references: pd.DataFrame, algos: list[str]) -> pd.Series:
    """Reference return per task (env -> return): the mean of the published returns of ``algos``
    (``analysis.reference_algos``)."""
    sel = references[references.algo.isin(algos)]
    return sel.groupby("env")["return"].mean()


def normalised_scores(per_run: pd.DataFrame, experiment: str, kind: str, references: pd.DataFrame | None = None,
                      reference_algos: list[str] = ()) -> pd.DataFrame:
    """One normalised score per completed run of ``experiment`` (see ``Kind.normalisation``).

    ``per_run`` is ``aggregate.final_scores``' table (plus ``final_hns`` rows from
    ``aggregate.human_normalised`` for Atari); ``references`` (continuous kind only) is
    reference_returns.csv, of which the rows of ``reference_algos`` count. Returns experiment, algo, label,
    env, seed, raw (the metric's value), reference (what it was divided by; NaN for rates and HNS), score
    and normalisation. A continuous task without a reference return keeps its rows with a NaN score, which
    ``score_matrices`` drops with a warning.
    """
    if kind not in KINDS:
        raise ValueError(f"no normalisation for experiment kind {kind!r} (known: {sorted(KINDS)})")
    metric, description = KINDS[kind].normalisation
    mine = per_run[per_run.experiment == experiment]
    rows = mine[mine.metric == metric]
    if kind == "atari" and rows.empty and not mine.empty:
        raise ValueError(f"{experiment}: no final_hns rows; add them with aggregate.human_normalised (--human-scores)")
    out = rows[ID_COLUMNS].copy()
    out["raw"] = rows["value"].to_numpy()
    if kind == "continuous":
        if references is None:
            raise ValueError(f"{experiment}: continuous tasks need reference returns (--references)")
        if not reference_algos:
            raise ValueError(f"{experiment}: continuous tasks need analysis.reference_algos (whose published returns "
                             "make a task's reference return)")
        out["reference"] = out.env.map(reference_returns(references, reference_algos))
        out["score"] = out.raw / out.reference
    else:
        out["reference"] = np.nan
        out["score"] = out.raw
    out["normalisation"] = description
    return out.reset_index(drop=True)


def score_matrices(scores: pd.DataFrame, algos: list[str]) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """rliable's layout: per algorithm a ``(n_runs x n_tasks)`` matrix of ``score``, the same tasks
    (columns, in order of first appearance) for every algorithm.

    An algorithm's runs are its seeds that appear in ``scores``; a task on which some algorithm lacks a
    score for one of them (a diverged run, a missing run, no reference return) is dropped for all
    algorithms, so that every matrix covers the same tasks. An algorithm with no scored run at all is
    left out. Returns (matrices, tasks kept, warnings): one sentence per thing dropped, never silent.
    """
    notes: list[str] = []
    tables = {}
    for algo in algos:
        sel = scores[scores.algo == algo]
        if sel.score.notna().sum() == 0:
            notes.append(f"{algo}: no scored run, left out")
            continue
        tables[algo] = sel.pivot(index="seed", columns="env", values="score")
    tasks = list(dict.fromkeys(scores.loc[scores.algo.isin(list(tables)), "env"]))
    kept = []
    for task in tasks:
        short = []
        for algo, table in tables.items():
            n = int(table[task].notna().sum()) if task in table.columns else 0
            if n < len(table):
                short.append(f"{algo} has {n} of {len(table)} runs scored")
        if short:
            notes.append(f"dropped task {task}: " + "; ".join(short))
        else:
            kept.append(task)
    matrices = {algo: table[kept].to_numpy(dtype=float) for algo, table in tables.items()}
    return matrices, kept, notes


def iqm_over_tasks(matrices: dict[str, np.ndarray], reps: int, seed: int, confidence: float) -> pd.DataFrame:
    """Per algorithm: IQM, mean and optimality gap (below 1) of the normalised score over all runs of all
    tasks, each with its stratified-bootstrap interval (``<stat>_low``, ``<stat>_high``)."""
    from rliable import metrics as rlm

    stats = {"iqm": interquartile_mean, "mean": rlm.aggregate_mean, "optimality_gap": rlm.aggregate_optimality_gap}
    return pd.DataFrame([{"algo": algo, "n_runs": matrix.shape[0], "n_tasks": matrix.shape[1],
                          **scalar_intervals(matrix, stats, reps, seed, confidence)}
                         for algo, matrix in matrices.items()])


def probability_of_improvement(matrices: dict[str, np.ndarray], pairs: list[tuple[str, str]], reps: int, seed: int,
                               confidence: float) -> pd.DataFrame:
    """P(X > Y): the probability that a run of X beats a run of Y on a task drawn at random (ties count
    half), with a stratified bootstrap that resamples X's and Y's runs independently within each task.
    Pairs with an algorithm missing from ``matrices`` are skipped. Returns x, y, p, low, high."""
    from rliable import metrics as rlm

    out = []
    for x, y in pairs:
        if x not in matrices or y not in matrices:
            continue
        def improvement(a, b):
            return np.array([rlm.probability_of_improvement(a, b)])

        point, ci = interval_estimate((matrices[x], matrices[y]), improvement, reps, seed, confidence)
        out.append({"x": x, "y": y, "p": float(point[0]), "low": float(ci[0, 0]), "high": float(ci[1, 0]),
                    "n_runs_x": matrices[x].shape[0], "n_runs_y": matrices[y].shape[0],
                    "n_tasks": matrices[x].shape[1]})
    return pd.DataFrame(out, columns=["x", "y", "p", "low", "high", "n_runs_x", "n_runs_y", "n_tasks"])


def performance_profile(matrices: dict[str, np.ndarray], taus: np.ndarray, reps: int, seed: int,
                        confidence: float = 0.95) -> pd.DataFrame:
    """Score distributions: per algorithm and threshold tau, the fraction of all runs (of all tasks)
    whose score exceeds tau, with a stratified-bootstrap band. Returns algo, tau, fraction, low, high."""
    parts = []
    for algo, matrix in matrices.items():
        profile, band = performance_profile_band(matrix, taus, reps, seed, confidence)
        parts.append(pd.DataFrame({"algo": algo, "tau": taus, "fraction": profile, "low": band[0], "high": band[1]}))
    return (pd.concat(parts, ignore_index=True) if parts
            else pd.DataFrame(columns=["algo", "tau", "fraction", "low", "high"]))


def default_taus(matrices: dict[str, np.ndarray], n: int = 101) -> np.ndarray:
    """Thresholds from min(0, lowest score) to max(1, highest score)."""
    values = np.concatenate([m.ravel() for m in matrices.values()]) if matrices else np.zeros(1)
    return np.linspace(min(0.0, float(values.min())), max(1.0, float(values.max())), n)


def comparison_pairs(algos: list[str], comparisons: dict[str, list[str]]) -> list[tuple[str, str]]:
    """The (method, baseline) pairs of ``comparisons`` (``analysis.comparisons``: a method -> its
    baselines) whose two algorithms are both in ``algos``."""
    return [(m, b) for m, bases in comparisons.items() if m in algos for b in bases if b in algos]


def experiment_statistics(per_run: pd.DataFrame, runs: pd.DataFrame, experiment: str,
                          references: pd.DataFrame | None, reps: int, seed: int, confidence: float,
                          comparisons: dict[str, list[str]] | None = None,
                          reference_algos: list[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Every statistic of one experiment: (robust.csv rows, profiles.csv rows, summary for the report).

    The algorithms are those of the experiment's pairs in ``comparisons`` (``analysis.comparisons``;
    all of its algorithms if it has none).
    The summary says whether the experiment qualifies and, if not, why."""
    mine = runs[runs.experiment == experiment]
    kind = str(mine.kind.iloc[0])
    all_algos = list(dict.fromkeys(mine.algo))
    pairs = comparison_pairs(all_algos, comparisons or {})
    algos = list(dict.fromkeys(a for pair in pairs for a in pair)) or all_algos
    labels = mine.drop_duplicates("algo").set_index("algo").label.to_dict()
    selected = mine[mine.algo.isin(algos)]
    summary = {"paper": str(mine.paper.iloc[0]), "experiment": experiment, "kind": kind, "qualifies": False,
               "normalisation": KINDS[kind].normalisation[1] if kind in KINDS else "", "tasks": [],
               "all_tasks": list(dict.fromkeys(mine.env)),
               "warnings": [], "n_seeds": {}, "algos": algos, "labels": labels, "pairs": pairs,
               "unscored_runs": int((selected.status != "completed").sum()),
               "below_paper_scale": bool(selected.below_paper_scale.any()), "reps": reps, "seed": seed,
               "confidence": confidence}
    empty = pd.DataFrame(columns=ROBUST_COLUMNS), pd.DataFrame(columns=PROFILE_COLUMNS)
    if len(summary["all_tasks"]) < MIN_TASKS:
        summary["reason"] = "one task: no across-task statistics"
        return *empty, summary
    scores = normalised_scores(per_run, experiment, kind, references, reference_algos)
    matrices, tasks, notes = score_matrices(scores[scores.algo.isin(algos)], algos)
    summary.update(tasks=tasks, warnings=notes, n_seeds={a: int(m.shape[0]) for a, m in matrices.items()})
    if len(tasks) < MIN_TASKS:
        summary["reason"] = (f"{len(tasks)} complete task(s) of {len(summary['all_tasks'])} after dropping incomplete "
                             "ones: no across-task statistics")
        return *empty, summary
    summary["qualifies"] = True
    common = {"paper": summary["paper"], "experiment": experiment, "n_tasks": len(tasks), "tasks": ";".join(tasks),
              "normalisation": summary["normalisation"], "below_paper_scale": summary["below_paper_scale"],
              "confidence": confidence, "reps": reps, "seed": seed}
    rows = []
    for _, r in iqm_over_tasks(matrices, reps, seed, confidence).iterrows():
        for stat in ("iqm", "mean", "optimality_gap"):
            rows.append({**common, "statistic": stat, "algo": r.algo, "x": "", "y": "", "estimate": r[stat],
                         "low": r[f"{stat}_low"], "high": r[f"{stat}_high"], "n_seeds": int(r.n_runs)})
    for _, r in probability_of_improvement(matrices, pairs, reps, seed, confidence).iterrows():
        rows.append({**common, "statistic": "poi", "algo": "", "x": r.x, "y": r.y, "estimate": r.p, "low": r.low,
                     "high": r.high, "n_seeds": int(min(r.n_runs_x, r.n_runs_y))})
    profiles = performance_profile(matrices, default_taus(matrices), reps, seed, confidence)
    profiles = profiles.assign(paper=summary["paper"], experiment=experiment, normalisation=summary["normalisation"],
                               below_paper_scale=summary["below_paper_scale"], reps=reps, seed=seed)
    return pd.DataFrame(rows)[ROBUST_COLUMNS], profiles[PROFILE_COLUMNS], summary


def robust_statistics(aggregate_dir: Path, analysis: dict, human_scores: pd.DataFrame | None,
                      references: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Every experiment of every paper under ``aggregate_dir`` (``<paper>/{tidy.csv.gz, runs.csv}``), with
    the config's ``analysis`` section (bootstrap settings, ``comparisons``, ``reference_algos``)."""
    # rliable's probability of improvement and profiles cost ~100x a mean per resample: their own count
    reps = analysis.get("robust_bootstrap_reps", analysis["bootstrap_reps"])
    seed, confidence = analysis["bootstrap_seed"], analysis["confidence"]
    comparisons, reference_algos = analysis.get("comparisons", {}), analysis.get("reference_algos", [])
    robust, profiles, summaries = [], [], []
    for paper_dir in sorted(p.parent for p in Path(aggregate_dir).glob("*/runs.csv")):
        runs = pd.read_csv(paper_dir / "runs.csv")
        tidy = pd.read_csv(paper_dir / "tidy.csv.gz")
        per_run = final_scores(tidy, runs, analysis["final_window"])
        for experiment in dict.fromkeys(runs.experiment):
            mine = runs[runs.experiment == experiment]
            if (mine.kind == "atari").any() and mine.env.nunique() >= MIN_TASKS:
                if human_scores is None:
                    raise ValueError(f"{experiment}: Atari runs need --human-scores")
                per_run = pd.concat([per_run, human_normalised(per_run, mine, human_scores)], ignore_index=True)
            rows, prof, summary = experiment_statistics(per_run, runs, experiment, references, reps, seed, confidence,
                                                        comparisons, reference_algos)
            robust.append(rows)
            profiles.append(prof)
            summaries.append(summary)
    robust_table = pd.concat([r for r in robust if len(r)] or [pd.DataFrame(columns=ROBUST_COLUMNS)], ignore_index=True)
    profile_table = pd.concat([p for p in profiles if len(p)] or [pd.DataFrame(columns=PROFILE_COLUMNS)],
                              ignore_index=True)
    return robust_table, profile_table, summaries


# ------------------------------------------------------------------------------------------ LaTeX

def macro_name(paper: str) -> str:
    """mirl -> RobustStatisticsMirl."""
    return "RobustStatistics" + camel(paper)


def _display(summary: dict) -> dict[str, str]:
    """Algorithm -> its label, with the algorithm's key added where two share a label."""
    labels = {a: summary["labels"].get(a, a) for a in summary["algos"]}
    counts = pd.Series(list(labels.values())).value_counts()
    return {a: (f"{lab} ({a})" if counts[lab] > 1 else lab) for a, lab in labels.items()}


def _cell(row: pd.Series) -> str:
    return f"{fmt(row.estimate)} [{fmt(row.low)}, {fmt(row.high)}]"


def experiment_tex(summary: dict, rows: pd.DataFrame) -> str:
    """A sentence on what was pooled, then a table of IQM and mean per algorithm and one of the
    probabilities of improvement; for an experiment that does not qualify, one sentence."""
    name = f"\\texttt{{{tex_escape(summary['experiment'])}}}"
    if not summary["qualifies"]:
        tasks = ", ".join(summary["all_tasks"])
        dropped = (" " + tex_escape("; ".join(summary["warnings"])) + ".") if summary["warnings"] else ""
        return f"{name} ({tex_escape(tasks)}): {tex_escape(summary['reason'])}.{dropped}\n"
    names = {a: tex_escape(n) for a, n in _display(summary).items()}
    seeds = sorted(set(summary["n_seeds"].values()))
    seeds_text = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}--{seeds[-1]}"
    pct = round(100 * summary["confidence"])
    scale = r" These runs are \textbf{below paper scale}." if summary["below_paper_scale"] else ""
    notes = (" Dropped or left out: " + tex_escape("; ".join(summary["warnings"])) + ".") if summary["warnings"] else ""
    unscored = (f" {summary['unscored_runs']} run(s) did not complete (diverged) and have no score."
                if summary["unscored_runs"] else "")
    sentence = (f"{name}: across-task statistics of the {tex_escape(summary['normalisation'])}, pooled over "
                f"{len(summary['tasks'])} tasks ({tex_escape(', '.join(summary['tasks']))}) with {seeds_text} seeds "
                f"per task and algorithm; {pct}\\% stratified-bootstrap intervals (rliable, {summary['reps']} "
                f"resamples, seed {summary['seed']}).{scale}{notes}{unscored}\n")
    caption_scale = " Below paper scale." if summary["below_paper_scale"] else ""
    label = summary["experiment"].replace("_", "-")

    def stat(statistic: str, algo: str) -> pd.Series:
        return rows[(rows.statistic == statistic) & (rows.algo == algo)].iloc[0]

    caption = (f"{name}: interquartile mean and mean of the normalised score over all runs of "
               f"{len(summary['tasks'])} tasks, with {pct}\\% intervals.{caption_scale}")
    lines = [r"\begin{table}[H]", r"\centering\small", r"\begin{tabular}{lll}", r"\toprule",
             r"algorithm & IQM & mean \\", r"\midrule"]
    lines += [f"{names[algo]} & {_cell(stat('iqm', algo))} & {_cell(stat('mean', algo))} \\\\"
              for algo in summary["n_seeds"]]
    lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{caption}}}", f"\\label{{tab:robust-{label}}}",
              r"\end{table}", ""]
    poi = rows[rows.statistic == "poi"]
    if len(poi):
        caption = (f"{name}: probability that a run of the method scores higher than a run of the baseline on a task "
                   f"drawn at random (ties count half; 0.5 = no difference), with {pct}\\% intervals.{caption_scale}")
        lines += [r"\begin{table}[H]", r"\centering\small", r"\begin{tabular}{lll}", r"\toprule",
                  r"method & baseline & P(method $>$ baseline) \\", r"\midrule"]
        lines += [f"{names[r.x]} & {names[r.y]} & {_cell(r)} \\\\" for _, r in poi.iterrows()]
        lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{caption}}}", f"\\label{{tab:robust-poi-{label}}}",
                  r"\end{table}", ""]
    return sentence + "\n" + "\n".join(lines)


def robust_tex(robust: pd.DataFrame, summaries: list[dict], papers: tuple[str, ...] = PAPERS) -> str:
    """``\\RobustStatistics<Paper>`` for every paper in ``papers`` and every paper with a summary."""
    out = ["% Generated by `python -m rlrepro.analysis.robust`; do not edit.\n"]
    for paper in dict.fromkeys([*papers, *(s["paper"] for s in summaries)]):
        mine = [s for s in summaries if s["paper"] == paper]
        parts = [experiment_tex(s, robust[robust.experiment == s["experiment"]]) for s in mine]
        if not any(s["qualifies"] for s in mine):
            parts.insert(0, f"No experiment of this paper has complete results on at least {MIN_TASKS} tasks, "
                            "so there are no across-task statistics.\n")
        body = "\n".join(parts)
        out.append(f"\\newcommand{{\\{macro_name(paper)}}}{{%\n{body}}}\n")
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rlrepro.analysis.robust",
        description="Across-task IQM, probability of improvement and performance profiles.")
    parser.add_argument("--aggregate", type=Path, required=True, help="folder with <paper>/{tidy.csv.gz, runs.csv}")
    parser.add_argument("--analysis", required=True, help="JSON of the config's 'analysis' section")
    parser.add_argument("--human-scores", type=Path, help="CSV env,random_score,human_score (Atari)")
    parser.add_argument("--references", type=Path, help="CSV of published returns (MuJoCo reference returns)")
    parser.add_argument("--output-dir", type=Path, required=True, help="where robust.csv and profiles.csv go")
    parser.add_argument("--tex", type=Path, help="LaTeX file defining \\RobustStatistics<Paper>")
    args = parser.parse_args(argv)
    try:
        human_scores = pd.read_csv(args.human_scores) if args.human_scores else None
        references = pd.read_csv(args.references) if args.references else None
        robust, profiles, summaries = robust_statistics(args.aggregate, json.loads(args.analysis),
                                                        human_scores, references)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_atomic(args.output_dir / "robust.csv", robust.to_csv(index=False).encode())
    write_atomic(args.output_dir / "profiles.csv", profiles.to_csv(index=False).encode())
    if args.tex:
        write_atomic(args.tex, robust_tex(robust, summaries).encode())
    for s in summaries:
        state = f"{len(s['tasks'])} tasks" if s["qualifies"] else s["reason"]
        print(f"{s['experiment']}: {state}" + "".join(f"\n  warning: {w}" for w in s["warnings"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
