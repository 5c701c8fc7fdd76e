# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Across-task statistics with rliable (one paper)
#
# Draws, from the files `python -m rlrepro.analysis.robust` writes (`robust.csv`, `profiles.csv`) and the
# paper's `runs.csv`, one row per experiment that has results on at least two tasks: the performance
# profile (the fraction of all runs whose normalised score exceeds tau, with a stratified-bootstrap
# band) and the probability that the paper's method beats each baseline on a task drawn at random,
# with its interval (Agarwal et al. 2021). The normalisation per experiment is in `rlrepro.analysis.robust`.
# An experiment with a single task has no across-task statistics and no row here.

# %%
import textwrap

import matplotlib.pyplot as plt
import pandas as pd

from rlrepro.core import paths
from rlrepro.reporting import figures

# %% tags=["parameters"]
robust_path = paths.ROBUST
profiles_path = paths.PROFILES
runs_path = paths.aggregate_file("mirl", "runs")
paper = "mirl"
figure_dir = paths.FIGURE_DIR

# %%
figure_dir = figures.set_up(figure_dir)
robust = pd.read_csv(robust_path, keep_default_na=False, na_values=[""])
robust = robust[robust.paper == paper]
profiles = pd.read_csv(profiles_path)
profiles = profiles[profiles.paper == paper]
runs = pd.read_csv(runs_path)
runs = runs[runs.paper == paper]
labels = figures.algorithm_labels(runs).to_dict()
experiments = list(dict.fromkeys(robust.experiment))
robust[["experiment", "statistic", "algo", "x", "y", "estimate", "low", "high", "n_tasks", "n_seeds"]]


# %%
def display_names(algos):
    """Label of each algorithm; the algorithm's key is added where two of them share a label."""
    counts = pd.Series([labels.get(a, a) for a in algos]).value_counts()
    return {a: labels.get(a, a) + (f" ({a})" if counts[labels.get(a, a)] > 1 else "") for a in algos}


# %% [markdown]
# ## Performance profiles and probabilities of improvement: one row per experiment

# %%
if not experiments:
    fig, ax = plt.subplots(figsize=(7, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5,
            f"{paper}: no experiment has results on at least two tasks, so there are no across-task statistics",
            ha="center", va="center", fontsize=9)
    below_scale = bool(runs.below_paper_scale.any())
else:
    fig, axes = plt.subplots(len(experiments), 2, figsize=(9, 3.0 * len(experiments)), squeeze=False)
    for row, experiment in enumerate(experiments):
        prof = profiles[profiles.experiment == experiment]
        algos = list(dict.fromkeys(prof.algo))
        names = display_names(algos)
        palette = figures.colours(algos)
        mine = robust[robust.experiment == experiment]
        first = mine.iloc[0]
        seeds = "-".join(map(str, sorted({int(mine.n_seeds.min()), int(mine.n_seeds.max())})))
        ax = axes[row, 0]
        for algo in algos:
            curve = prof[prof.algo == algo]
            ax.plot(curve.tau, curve.fraction, color=palette[algo], linewidth=1.3, label=names.get(algo, algo))
            ax.fill_between(curve.tau, curve.low, curve.high, color=palette[algo], alpha=0.2, linewidth=0)
        ax.set_ylim(-0.02, 1.02)
        # zoom onto the thresholds where some profile or band is strictly between 0 and 1
        bounds = prof[["fraction", "low", "high"]]
        moving = prof[(bounds > 0).any(axis=1) & (bounds < 1).any(axis=1)]
        if len(moving):
            step = prof.tau.drop_duplicates().diff().median()
            ax.set_xlim(moving.tau.min() - step, moving.tau.max() + step)
        ax.set_xlabel(r"normalised score $\tau$ (axis zoomed to where the profiles change)", fontsize=7)
        ax.set_ylabel(r"fraction of runs with score $> \tau$", fontsize=7)
        ax.set_title(f"{experiment}: {int(first.n_tasks)} tasks, {seeds} seeds per task\n"
                     f"{textwrap.shorten(first.normalisation, 90)}", fontsize=7)
        ax.legend(fontsize=6)
        ax.tick_params(labelsize=6)
        ax = axes[row, 1]
        poi = mine[mine.statistic == "poi"].reset_index(drop=True)
        if poi.empty:
            ax.axis("off")
            ax.text(0.5, 0.5, "no method/baseline pair", ha="center", va="center", fontsize=8)
        else:
            ys = range(len(poi))
            ax.errorbar(poi.estimate, list(ys), xerr=[poi.estimate - poi.low, poi.high - poi.estimate], fmt="o",
                        color="k", capsize=3, markersize=4)
            ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
            ax.set_yticks(list(ys))
            ax.set_yticklabels([f"{names.get(x, x)} > {names.get(y, y)}" for x, y in zip(poi.x, poi.y, strict=True)],
                               fontsize=6)
            ax.set_xlim(-0.02, 1.02)
            ax.invert_yaxis()
            ax.set_xlabel(f"probability of improvement ({round(100 * first.confidence)}% interval)", fontsize=7)
            ax.tick_params(labelsize=6)
        ax.set_title(f"P(method > baseline) on a random task; {int(first.reps)} bootstrap resamples", fontsize=7)
    # an experiment's runs are below paper scale if any run behind its statistics is
    below_scale = bool(runs[runs.experiment.isin(experiments)].below_paper_scale.any())
figures.stamp_below_paper_scale(fig, below_scale)
fig.tight_layout(rect=(0, 0.03, 1, 1))
fig.savefig(figure_dir / f"robust_{paper}.pdf")
