"""Generated LaTeX for the report: macros, tables and observations, all from aggregate files.

The hand-written sections in ``report/sections/`` contain no result; they ``\\input`` what this
module writes to ``report/generated/<experiment>.tex``. Each experiment kind's generator is named by
its registry entry (``rlrepro.core.kinds.KINDS[kind].tables``) and takes the same arguments
(:data:`TableGenerator`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

import pandas as pd

from rlrepro.analysis.aggregate import ALL_GAMES
from rlrepro.core.kinds import KINDS, resolve
from rlrepro.core.runstore import write_atomic
from rlrepro.reporting.latex import camel, fmt, macro, sci_tex, tex_escape, thousands

ENV_NAMES = {"corridor": r"3$\times$20 corridor", "left_once": r"8$\times$8 `left exactly once'"}


def interval(row: pd.Series, stat: str = "mean", digits: int = 2) -> str:
    if pd.isna(row.get(stat)):
        return "--"
    return f"{fmt(row[stat], digits)} [{fmt(row[stat + '_low'], digits)}, {fmt(row[stat + '_high'], digits)}]"


def interval_cells(final: pd.DataFrame, env: str, algo: str, metrics: tuple[str, ...], digits: int = 2) -> list[str]:
    """One 'mean [low, high]' table cell per metric for (env, algo); '--' where there is no score."""
    sel = final[(final.env == env) & (final.algo == algo)].set_index("metric")
    return [interval(sel.loc[m], digits=digits) if m in sel.index else "--" for m in metrics]


def compare(a: pd.Series, b: pd.Series) -> str:
    """'higher', 'lower' or 'indistinguishable': whether the two intervals are disjoint."""
    if pd.isna(a.get("mean")) or pd.isna(b.get("mean")):
        return "not comparable (no completed runs)"
    if a["mean_low"] > b["mean_high"]:
        return "higher"
    if a["mean_high"] < b["mean_low"]:
        return "lower"
    return "indistinguishable (overlapping intervals)"


def config_values(runs: pd.DataFrame, key: str, algos: list[str] | None = None, agent: str | None = None) -> str:
    """The distinct values of a resolved agent-config field among the selected runs, e.g. '0.99, 0.999'."""
    sel = runs if algos is None else runs[runs.algo.isin(algos)]
    if agent is not None:
        sel = sel[sel.agent == agent]
    values = sorted(sel[f"cfg_{key}"].dropna().unique())
    return ", ".join(f"{v:g}" for v in values) if values else "--"


def distinct_cells(column: pd.Series) -> list[str]:
    """Distinct values of a runs.csv column as text; integers stay integers (pandas makes a column with
    gaps, e.g. a config key of another experiment kind, float)."""
    return sorted({str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in column.dropna()})


def panel_caption(runs: pd.DataFrame, title: str, algos: list[str]) -> str:
    """A table caption whose hyperparameters are read from the runs, not typed."""
    return (f"{title} ($\\gamma \\in \\{{{config_values(runs, 'gamma', algos)}\\}}$; MIRL's "
            f"$\\alpha_\\rho \\in \\{{{config_values(runs, 'alpha_rho', algos, 'MIRL')}\\}}$).")


def final_table(final: pd.DataFrame, runs: pd.DataFrame, algos: list[str], caption: str, label: str,
                confidence: float) -> str:
    lines = [
        r"\begin{table}[ht]", r"\centering\small",
        r"\resizebox{\textwidth}{!}{%", r"\begin{tabular}{lllllll}", r"\toprule",
        r"grid & algorithm & final return & final correct-action & mean correct-action & ceiling (final) & "
        r"runs (diverged) \\",
        r"\midrule",
    ]
    for env in ENV_NAMES:
        for algo in algos:
            group = runs[(runs.env == env) & (runs.algo == algo)]
            if group.empty:
                continue
            cells = (interval_cells(final, env, algo,
                                    ("final_eval_return", "final_correct_action_rate", "mean_correct_action_rate"))
                     + interval_cells(final, env, algo, ("final_correct_action_ceiling",), digits=3))
            n_div = int((group.status == "diverged").sum())
            lines.append(f"{ENV_NAMES[env]} & {tex_escape(group.label.iloc[0])} & {' & '.join(cells)} & "
                         f"{len(group)} ({n_div}) \\\\")
        lines.append(r"\midrule")
    lines[-1] = r"\bottomrule"
    pct = round(100 * confidence)
    lines += [r"\end{tabular}}",
              f"\\caption{{{caption} Mean over completed seeds with {pct}\\% stratified-bootstrap intervals (rliable). "
              r"`Final' averages the last snapshots of each run; `mean' averages the whole run (area under the curve); "
              r"correct-action rates are correct actions per visit. `Ceiling': $(1-\epsilon)+\epsilon\,\rho(a^*)$. "
              r"Common random numbers at evaluation: agents with the same greedy policy (e.g.\ QL and SQL) show "
              r"identical returns.}",
              f"\\label{{{label}}}", r"\end{table}", ""]
    return "\n".join(lines)


def observations(final: pd.DataFrame, runs: pd.DataFrame, panels: dict[str, list[str]], confidence: float) -> str:
    """Itemised comparisons of MIRL with each baseline, and the stability study's outcome."""
    pct = round(100 * confidence)
    items = []
    for panel in ("paper_hyperparameters", "advised_hyperparameters"):
        algos = panels.get(panel, [])
        mirl = [a for a in algos if a.startswith("mirl")]
        if not mirl:
            continue
        for env in ENV_NAMES:
            for metric, what in (("mean_correct_action_rate", "mean correct-action rate over the run"),
                                 ("final_eval_return", "final evaluation return")):
                sel = final[(final.env == env) & (final.metric == metric)].set_index("algo")
                if mirl[0] not in sel.index:
                    continue
                parts = [f"{tex_escape(sel.loc[b].label)}: {compare(sel.loc[mirl[0]], sel.loc[b])}"
                         for b in algos if b != mirl[0] and b in sel.index]
                items.append(f"{panel.replace('_', ' ').capitalize()}, {ENV_NAMES[env]}: MIRL's {what} "
                             f"({interval(sel.loc[mirl[0]])}) versus " + "; ".join(parts) + ".")
    for algo in panels.get("stability", []):
        for env in ENV_NAMES:
            sel = runs[(runs.algo == algo) & (runs.env == env)]
            if sel.empty:
                continue
            n_div = int((sel.status == "diverged").sum())
            text = f"{tex_escape(sel.label.iloc[0])}, {ENV_NAMES[env]}: {n_div} of {len(sel)} runs diverged"
            if n_div:
                steps = sel.diverged_at_step.dropna()
                text += f" (first at step {int(steps.min())}, median {int(steps.median())})"
            items.append(text + beta_q_sentence(sel) + ".")
    body = "\n".join(f"  \\item {item}" for item in items) or r"  \item No comparisons available."
    return (f"% 'higher'/'lower': the {pct}\\% intervals are disjoint.\n"
            f"\\newcommand{{\\MirlTabularObservations}}{{\\begin{{itemize}}\n{body}\n\\end{{itemize}}}}\n")


def beta_q_sentence(sel: pd.DataFrame) -> str:
    """'; largest |beta Q| per run: median 712 (range 650-760); the clip at +-700 acts in 3 of 10 runs,
    from step 97000 (median)': why a clip of beta Q does or does not change a run."""
    if "max_abs_beta_q" not in sel or sel.max_abs_beta_q.isna().all():
        return ""
    peak = sel.max_abs_beta_q.dropna()
    text = f"; largest $|\\beta Q|$ per run: median {peak.median():.0f} (range {peak.min():.0f}--{peak.max():.0f})"
    if "cfg_soft_form" in sel and (sel.cfg_soft_form == "clipped").all() and "clip_binds_from_step" in sel:
        bound = sel.cfg_clip_bound.iloc[0]
        binds = sel.clip_binds_from_step.dropna()
        text += f"; the clip at $\\pm{bound:g}$ acts in {len(binds)} of {len(sel)} runs"
        text += f", from step {int(binds.median())} (median)" if len(binds) else ""
    return text


def loosest_clip_macro(runs: pd.DataFrame) -> str:
    """\\MirlTabularLoosestClip: from which step (median over runs) the loosest clip of beta Q acted on
    each grid, as a share of the run, or that it never did: whether that clip could change a run."""
    if "clip_binds_from_step" not in runs or "cfg_soft_form" not in runs:
        return macro("MirlTabularLoosestClip", "no clipped runs")
    clipped = runs[runs.cfg_soft_form == "clipped"]
    if clipped.empty:
        return macro("MirlTabularLoosestClip", "no clipped runs")
    bound = clipped.cfg_clip_bound.max()
    parts = []
    for env, name in ENV_NAMES.items():
        sel = clipped[(clipped.cfg_clip_bound == bound) & (clipped.env == env)]
        if sel.empty:
            continue
        binds = sel.clip_binds_from_step.dropna()
        if binds.empty:
            parts.append(f"never on the {name}")
            continue
        share = 1 - binds.median() / sel.total_steps.max()
        parts.append(f"on the {name} in {len(binds)} of {len(sel)} runs from step {thousands(binds.median())} "
                     f"(median), the last {100 * share:.0f}\\% of the run")
    return macro("MirlTabularLoosestClip",
                 f"the loosest clip, $\\pm{bound:g}$, acted " + "; ".join(parts) if parts else "no clipped runs")


def ceiling_macros(final: pd.DataFrame, panels: dict) -> list[str]:
    """On the 8x8 grid, the correct-action ceiling (1 - eps) + eps rho(left) of the uniform-prior
    agents (QL, SQL of the paper panel) and of MIRL's learned prior at the end of its runs."""
    sel = final[(final.env == "left_once") & (final.metric == "final_correct_action_ceiling")].set_index("algo")
    algos = panels.get("paper_hyperparameters", [])
    uniform = [a for a in algos if a in ("ql", "sql") and a in sel.index]
    mirl = [a for a in algos if a.startswith("mirl") and a in sel.index]
    return [macro("MirlTabularCeilingUniform", fmt(sel.loc[uniform, "mean"].mean(), 3) if uniform else "--"),
            macro("MirlTabularCeilingMirl", interval(sel.loc[mirl[0]], digits=3) if mirl else "--")]


TableGenerator = Callable[[str, pd.DataFrame, pd.DataFrame, dict, dict, pd.DataFrame], str]
"""What ``Kind.tables`` names: (experiment, final.csv, runs.csv, stats.json, the experiment's figure panels
(panel -> algorithms), published reference returns) -> the experiment's generated LaTeX."""


def tabular_tables(experiment: str, final: pd.DataFrame, runs: pd.DataFrame, stats: dict, panels: dict,
                   references: pd.DataFrame) -> str:
    """MIRL's gridworlds: setup macros, one results table per panel, observations (``references`` unused)."""
    final = final[final.experiment == experiment]
    runs = runs[runs.experiment == experiment]
    out = [f"% Generated by `python -m rlrepro.reporting.tables` for experiment {experiment}; do not edit.\n"]
    out += setup_macros("MirlTabular", runs, stats, "tabular")
    out += [
        macro("MirlTabularLogInterval", thousands(runs.log_interval.max())),
        macro("MirlTabularEvalMaxSteps", int(runs.eval_max_steps.max())),
        macro("MirlTabularEvalEpsilon", fmt(runs.eval_epsilon.max())),
        *[macro(f"MirlTabular{camel(key)}",
                thousands(runs[key].max()) if key in runs and runs[key].notna().any() else "--")
          for key in ("early_eval_interval", "early_eval_until")],
    ]
    out += ceiling_macros(final, panels)
    out.append(loosest_clip_macro(runs))
    out += [
        macro("MirlTabularBetaIncrement", config_values(runs, "beta_increment")),
        macro("MirlTabularTrainEpsilon", config_values(runs, "epsilon")),
        macro("MirlTabularSweepGamma", config_values(runs, "gamma", panels.get("alpha_rho_sweep", []))),
    ]
    conf = stats["confidence"]
    for name, title in (("paper_hyperparameters", "Paper hyperparameters"),
                        ("advised_hyperparameters", "The authors' later advice"),
                        ("alpha_rho_sweep", "MIRL's prior learning rate"),
                        ("stability", "Stability study: naive, clipped and stable soft values")):
        algos = panels.get(name, [])
        caption = panel_caption(runs, title, algos)
        table = final_table(final, runs, algos, caption, f"tab:{experiment}-{name}", conf) if algos else ""
        command = "MirlTabularTable" + "".join(w.capitalize() for w in name.split("_"))
        out.append(f"\\newcommand{{\\{command}}}{{%\n{table}}}\n")
    out.append(observations(final, runs, panels, conf))
    return "".join(out)


# ------------------------------------------------------------------------------ continuous control

def reference_cell(references: pd.DataFrame, env: str, algo: str) -> str:
    sel = references[(references.env == env) & (references.algo == algo)]
    return "; ".join(f"{int(r['return'])} ({tex_escape(r.source.split(' (')[0])})" for _, r in sel.iterrows()) or "--"


def results_table(runs: pd.DataFrame, algos: list[str], header: list[str], row_cells, caption: str, label: str) -> str:
    """A booktabs table with a row per (task, algorithm) that has runs: task, algorithm, then
    ``row_cells(env, algo, group)`` (group: the runs.csv rows behind it); a rule between tasks."""
    lines = [r"\begin{table}[H]", r"\centering\small", r"\resizebox{\textwidth}{!}{%",
             rf"\begin{{tabular}}{{{'l' * (2 + len(header))}}}", r"\toprule",
             " & ".join(["task", "algorithm", *header]) + r" \\", r"\midrule"]
    for env in dict.fromkeys(runs.env):
        for algo in algos:
            group = runs[(runs.env == env) & (runs.algo == algo)]
            if not group.empty:
                cells = [tex_escape(env), tex_escape(group.label.iloc[0]), *row_cells(env, algo, group)]
                lines.append(" & ".join(cells) + r" \\")
        lines.append(r"\midrule")
    lines[-1] = r"\bottomrule"
    lines += [r"\end{tabular}}", f"\\caption{{{caption}}}", f"\\label{{{label}}}", r"\end{table}", ""]
    return "\n".join(lines)


def runs_cell(group: pd.DataFrame) -> str:
    return f"{len(group)} ({int((group.status == 'diverged').sum())})"


def task_observations(final: pd.DataFrame, runs: pd.DataFrame, panels: dict[str, list[str]], confidence: float,
                      metrics: dict[str, str], digits: int = 2) -> str:
    """Each panel's first algorithm against each of the others, per task, on each of ``metrics``
    (final.csv metric -> name in the text); then every diverged run."""
    items = []
    for panel, algos in panels.items():
        if len(algos) < 2:
            continue
        first = algos[0]
        for env in dict.fromkeys(runs.env):
            where = tex_escape(env) if len(panels) == 1 else f"{tex_escape(env)}, {panel.replace('_', ' ')}"
            parts = []
            for metric, name in metrics.items():
                sel = final[(final.env == env) & (final.metric == metric)].set_index("algo")
                if first in sel.index:
                    versus = "; ".join(f"{tex_escape(sel.loc[b].label)} {interval(sel.loc[b], digits=digits)}: "
                                       f"{compare(sel.loc[first], sel.loc[b])}" for b in algos[1:] if b in sel.index)
                    parts.append(f"{name} {interval(sel.loc[first], digits=digits)} versus {versus}")
            label = (tex_escape(runs[runs.algo == first].label.iloc[0]) if (runs.algo == first).any()
                     else tex_escape(first))
            items.append(f"{where}: {label}'s " + "; ".join(parts) + "." if parts
                         else f"{where}: no completed run of {label}.")
    for _, run in runs[runs.status == "diverged"].iterrows():
        items.append(f"{tex_escape(run.label)} on {tex_escape(run.env)}, seed {run.seed}: diverged at step "
                     f"{int(run.diverged_at_step)} (non-finite {tex_escape(run.diverged_quantity)}).")
    pct = round(100 * confidence)
    body = "\n".join(f"  \\item {item}" for item in items) or r"  \item No comparisons available."
    return f"% 'higher'/'lower': the {pct}\\% intervals are disjoint.\n\\begin{{itemize}}\n{body}\n\\end{{itemize}}"


def short_commits(commits: pd.Series) -> str:
    return ", ".join(sorted({c[:12] + ("-dirty" if c.endswith("-dirty") else "") for c in commits.astype(str)}))


def figure_provenance(runs: pd.DataFrame, kind: str) -> str:
    """The end of every figure caption: notebook, runs behind it, scale (marked when below) and commit."""
    scale = (r"\textcolor{red}{\textbf{below paper scale}}" if runs.below_paper_scale.any() else "at paper scale")
    return (f"Drawn by \\texttt{{{tex_escape(KINDS[kind].notebook)}}} from {len(runs)} runs ({scale}, config scale "
            f"\\texttt{{{tex_escape(str(runs.config_scale.iloc[0]))}}}) at commit "
            f"\\texttt{{{tex_escape(short_commits(runs.git_commit))}}}.")


def device_and_precision(runs: pd.DataFrame) -> str:
    """'cpu' or, for kinds with a precision key (runs.csv cfg_precision), 'cpu at fp32 precision'."""
    devices = ", ".join(sorted(runs.device.astype(str).unique()))
    if "cfg_precision" not in runs or runs.cfg_precision.isna().all():
        return devices
    return f"{devices} at {' and '.join(sorted(runs.cfg_precision.fillna('fp32').astype(str).unique()))} precision"


def setup_macros(p: str, runs: pd.DataFrame, stats: dict, kind: str) -> list[str]:
    """Macros of an experiment's setup paragraph (runs, tasks, budget, scale, compute, provenance)."""
    below = bool(runs.below_paper_scale.any())
    notes = sorted({n for ns in runs.scale_notes.dropna() for n in str(ns).split("; ") if n})
    return [
        macro(f"{p}Runs", len(runs)),
        macro(f"{p}Algorithms", runs.algo.nunique()),
        macro(f"{p}Tasks", tex_escape(", ".join(dict.fromkeys(runs.env)))),
        macro(f"{p}Seeds", int(runs.groupby(["algo", "env"]).seed.nunique().max())),
        macro(f"{p}Steps", thousands(runs.total_steps.max())),
        macro(f"{p}EvalInterval", thousands(runs.eval_interval.max())),
        macro(f"{p}EvalEpisodes", int(runs.eval_episodes.min())),
        macro(f"{p}FinalWindow", final_window_of(stats, kind)),
        macro(f"{p}Diverged", int((runs.status == "diverged").sum())),
        macro(f"{p}WallTime", fmt(runs.wall_time_s.sum() / 60, 1)),
        macro(f"{p}Device", tex_escape(device_and_precision(runs))),
        macro(f"{p}ConfigScale", tex_escape(runs.config_scale.iloc[0])),
        macro(f"{p}ScaleStatement",
              r"\textbf{below paper scale} (" + tex_escape("; ".join(notes)) + ")" if below else "at paper scale"),
        macro(f"{p}Confidence", round(100 * stats["confidence"])),
        macro(f"{p}Bootstrap", f"{stats['bootstrap_reps']} resamples, seed {stats['bootstrap_seed']}"),
        macro(f"{p}Commit", tex_escape(short_commits(runs.git_commit))),
        macro(f"{p}FigureProvenance", figure_provenance(runs, kind)),
    ]


def continuous_tables(experiment: str, final: pd.DataFrame, runs: pd.DataFrame, stats: dict, panels: dict,
                      references: pd.DataFrame) -> str:
    """EPMD's continuous control: setup macros, returns beside the published references, PMAC's weights."""
    final = final[final.experiment == experiment]
    runs = runs[runs.experiment == experiment]
    p = camel(experiment)
    pmac = runs[runs.agent == "PMAC"]
    out = [f"% Generated by `python -m rlrepro.reporting.tables` for experiment {experiment}; do not edit.\n"]
    out += setup_macros(p, runs, stats, "continuous")
    for key in ("hidden_sizes", "batch_size", "random_steps", "actor_lr", "critic_lr", "gamma", "updates_per_step",
                "kl_coef", "pmac_entropy_coef", "target_weight_max", "pmac_value_samples"):
        source = pmac if key in ("kl_coef", "pmac_entropy_coef", "target_weight_max", "updates_per_step",
                                 "pmac_value_samples") and len(pmac) else runs
        values = distinct_cells(source.get(f"cfg_{key}", pd.Series(dtype=object)))
        out.append(macro(f"{p}{camel(key)}", tex_escape(", ".join(values)) or "--"))
    algos = list(dict.fromkeys(a for algos in panels.values() for a in algos)) or list(dict.fromkeys(runs.algo))
    pct = round(100 * stats["confidence"])
    table = results_table(
        runs, algos, ["steps", "final return", "mean return over the run", "runs (diverged)",
                      r"reference at $\sim$1M steps"],
        lambda env, algo, group: [thousands(group.total_steps.max()),
                                  *interval_cells(final, env, algo, ("final_eval_return", "mean_eval_return"),
                                                  digits=0),
                                  runs_cell(group), reference_cell(references, env, algo)],
        f"{tex_escape(experiment)}: final returns. Evaluation return of the deterministic policy: mean over completed "
        f"seeds with {pct}\\% stratified-bootstrap intervals (rliable). `Final' averages each run's last snapshots; "
        "`mean' the whole run. References are other implementations' published means (papers.md), at about 1M steps.",
        f"tab:{experiment}")
    observations = task_observations(final, runs, panels, stats["confidence"], {"final_eval_return": "final return"},
                                     digits=0)
    weights = pmac_weight_table(experiment, final, pmac, algos, stats["confidence"])
    out.append(f"\\newcommand{{\\{p}Table}}{{%\n{table}}}\n")
    out.append(f"\\newcommand{{\\{p}WeightTable}}{{%\n{weights}}}\n")
    out.append(f"\\newcommand{{\\{p}Observations}}{{%\n{observations}}}\n")
    return "".join(out)


def pmac_weight_table(experiment: str, final: pd.DataFrame, pmac: pd.DataFrame, algos: list[str],
                      confidence: float) -> str:
    """PMAC's target weight per (task, algorithm): its reading of V, its clamp, and over the run the mean
    weight, the fraction at the clamp and the log mean weight before the clamp (final.csv's mean_
    target_weight, weight_at_clamp, log_mean_raw_weight): whether V or the clamp normalises the weight."""
    if pmac.empty:
        return "No PMAC runs."
    order = [a for a in algos if a in set(pmac.algo)] + [a for a in dict.fromkeys(pmac.algo) if a not in algos]

    def cells(env, algo, group):
        clamped = group.cfg_clamp_target_weight.astype(str) == "True"
        return [tex_escape(", ".join(distinct_cells(group.cfg_pmac_value))) if "cfg_pmac_value" in group else "--",
                ", ".join(distinct_cells(group.cfg_target_weight_max.where(clamped, "none"))),
                *interval_cells(final, env, algo,
                                ("mean_target_weight", "mean_weight_at_clamp", "mean_log_mean_raw_weight"))]

    return results_table(
        pmac, order, ["V", "clamp", "mean weight", "at the clamp", "log mean weight before the clamp"], cells,
        f"{tex_escape(experiment)}: PMAC's target weight $w = \\pi^*/\\bar\\pi$ as the policy loss uses it (after the "
        "clamp where there is one), the fraction of weights at or above the clamp's upper end (counted also where no "
        "clamp is applied), and the log of a batch's mean weight before the clamp (0 when V normalises the weight, "
        "above 0 when V is too low for it). Per run the mean over its snapshots, each the mean over the updates since "
        f"the one before; then the mean over seeds with {round(100 * confidence)}\\% stratified-bootstrap intervals. "
        "V: soft\\_mean is SAC~v1's value network; log\\_partition the weight's log-normaliser estimated from each "
        "state's sampled actions, under which the unclamped weight's mean over $\\bar\\pi$ is 1 up to sampling error.",
        f"tab:{experiment}-weights")


def config_macros(p: str, runs: pd.DataFrame, keys: tuple[str, ...]) -> list[str]:
    """One macro per agent-config key: its distinct values among the runs ('--' if none)."""
    return [macro(f"{p}{camel(key)}",
                  ", ".join(sci_tex(tex_escape(c)) for c in distinct_cells(runs[f"cfg_{key}"])) or "--")
            for key in keys]


def algorithmic_tables(experiment: str, final: pd.DataFrame, runs: pd.DataFrame, stats: dict, panels: dict,
                       references: pd.DataFrame) -> str:
    """EPMD's algorithmic tasks: setup macros, final scores, observations (``references`` unused)."""
    final = final[final.experiment == experiment]
    runs = runs[runs.experiment == experiment]
    out = [f"% Generated by `python -m rlrepro.reporting.tables` for experiment {experiment}; do not edit.\n"]
    out += setup_macros(camel(experiment), runs, stats, "algorithmic")
    out += config_macros(camel(experiment), runs, ("hidden_size", "learning_rate", "inputs_per_batch",
                                                   "samples_per_input", "tau", "tau_prime", "entropy_coef", "urex_tau",
                                                   "grad_clip", "curriculum_counting"))
    algos = list(dict.fromkeys(a for algos in panels.values() for a in algos)) or list(dict.fromkeys(runs.algo))
    p = camel(experiment)
    pct = round(100 * stats["confidence"])
    table = results_table(
        runs, algos, ["final return", "final solve rate", "curriculum length reached", "runs (diverged)"],
        lambda env, algo, group: [*interval_cells(final, env, algo, ("final_eval_return", "final_eval_solve_rate",
                                                                     "final_curriculum_length")), runs_cell(group)],
        f"{tex_escape(experiment)}: final scores. Greedy policy on fresh inputs at the training curriculum's current "
        f"length: mean over completed seeds with {pct}\\% stratified-bootstrap intervals (rliable), averaged over each "
        "run's last snapshots. Solve rate: fraction of evaluation inputs whose whole target was written correctly.",
        f"tab:{experiment}")
    observations = task_observations(final, runs, panels, stats["confidence"],
                                     {"final_eval_return": "final return",
                                      "final_curriculum_length": "curriculum length"})
    out.append(f"\\newcommand{{\\{p}Table}}{{%\n{table}}}\n")
    out.append(f"\\newcommand{{\\{p}Observations}}{{%\n{observations}}}\n")
    return "".join(out)


def atari_tables(experiment: str, final: pd.DataFrame, runs: pd.DataFrame, stats: dict, panels: dict,
                 references: pd.DataFrame) -> str:
    """MIRL's Atari games: setup macros, scores per game, across games (``references`` unused)."""
    final = final[final.experiment == experiment]
    runs = runs[runs.experiment == experiment]
    p = camel(experiment)
    out = [f"% Generated by `python -m rlrepro.reporting.tables` for experiment {experiment}; do not edit.\n"]
    out += setup_macros(p, runs, stats, "atari")
    out += config_macros(p, runs, ("gamma", "learning_rate", "loss", "batch_size", "buffer_size", "learning_starts",
                                   "train_frequency", "target_update_interval", "epsilon_start", "epsilon_end",
                                   "epsilon_decay_steps", "noop_max", "beta_init", "adapt_beta", "alpha_beta",
                                   "alpha_rho", "save_replay_in_checkpoint"))
    out.append(macro(f"{p}EvalEpsilon", tex_escape(", ".join(distinct_cells(runs.eval_epsilon)))))
    algos = list(dict.fromkeys(a for algos in panels.values() for a in algos)) or list(dict.fromkeys(runs.algo))
    pct = round(100 * stats["confidence"])
    table = results_table(
        runs, algos, ["final return", "human-normalised", "mean return over the run", "runs (diverged)"],
        lambda env, algo, group: [*interval_cells(final, env, algo, ("final_eval_return", "final_hns",
                                                                     "mean_eval_return")),
                                  runs_cell(group)],
        f"{tex_escape(experiment)}: final scores per game. Whole games with unclipped rewards: mean over completed "
        f"seeds with {pct}\\% stratified-bootstrap intervals (rliable), averaged over each run's last snapshots; "
        "human-normalised = (score - random) / (human - random) with the standard random and human scores.",
        f"tab:{experiment}")
    overall = final[(final.env == ALL_GAMES) & (final.metric == "final_hns")].set_index("algo")
    items = [f"{tex_escape(overall.loc[a].label)}: IQM {interval(overall.loc[a], 'iqm')}, "
             f"mean {interval(overall.loc[a])} ({int(overall.loc[a].n_completed)} runs on "
             f"{int(overall.loc[a].n_games)} game(s))" for a in algos if a in overall.index]
    aggregate = ("\\begin{itemize}\n" + "\n".join(f"  \\item {item}." for item in items) + "\n\\end{itemize}" if items
                 else "none.")
    observations = task_observations(final, runs, panels, stats["confidence"],
                                     {"final_eval_return": "final return", "final_hns": "human-normalised score"})
    out.append(f"\\newcommand{{\\{p}Table}}{{%\n{table}}}\n")
    out.append(f"\\newcommand{{\\{p}AcrossGames}}{{%\n{aggregate}}}\n")
    out.append(f"\\newcommand{{\\{p}Observations}}{{%\n{observations}}}\n")
    return "".join(out)


def final_window_of(stats: dict, kind: str) -> int:
    window = stats["final_window"]
    return window if isinstance(window, int) else window[kind]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlrepro.reporting.tables",
                                     description="Write generated LaTeX for one experiment.")
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--final", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--panels", required=True, help="JSON: panel name -> algorithms")
    parser.add_argument("--references", type=Path, help="CSV of other implementations' published returns")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    final, runs, stats, panels = (pd.read_csv(args.final), pd.read_csv(args.runs), json.loads(args.stats.read_text()),
                                  json.loads(args.panels))
    kinds = set(runs.loc[runs.experiment == args.experiment, "kind"])
    if len(kinds) != 1:
        problem = f"runs of several kinds {sorted(kinds)}" if kinds else f"no runs of experiment {args.experiment!r}"
        print(f"error: {problem} in {args.runs}", file=sys.stderr)
        return 2
    references = (pd.read_csv(args.references) if args.references
                  else pd.DataFrame(columns=["source", "env", "algo", "return"]))
    generator: TableGenerator = resolve(KINDS[kinds.pop()].tables)
    text = generator(args.experiment, final, runs, stats, panels, references)
    write_atomic(args.output, text.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
