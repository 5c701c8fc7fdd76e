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
# # MIRL tabular gridworlds (Paper A, Figure 1)
#
# Draws, from the aggregate stage's tidy table only:
# * **Figure 1 layout** for both grids: evaluation reward (EMA) and correct-action rate of QL, SQL,
#   SQL_m and MIRL, under the paper's hyperparameters and under the authors' later advice;
# * the **alpha_rho sweep** of MIRL, over the whole run and, below, the unsmoothed snapshots of the
#   dense early evaluation (where the seed report saw a dip near 2k steps);
# * the **stability study**: naive exp(beta Q), beta*Q clipped to +-300/500/700, and the stable form.
#
# Lines are means over seeds; bands are t-intervals over seeds (mean +- t * standard error, at the
# configured confidence), computed per x by seaborn.

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from scipy import stats

from rlrepro.core import paths
from rlrepro.reporting import figures

# %% tags=["parameters"]
tidy_path = paths.aggregate_file("mirl", "tidy")
runs_path = paths.aggregate_file("mirl", "runs")
experiment = "mirl_tabular"
panels = '{"paper_hyperparameters": ["ql", "sql", "sql_m", "mirl"]}'
figure_dir = paths.FIGURE_DIR
ema_window = 10
confidence = 0.95

# %%
figure_dir = figures.set_up(figure_dir)
panels = json.loads(panels)
tidy = pd.read_csv(tidy_path)
tidy = tidy[tidy.experiment == experiment]
runs = figures.experiment_runs(runs_path, experiment)
ENVS = {"corridor": "3x20 corridor", "left_once": "8x8 'left exactly once'"}
envs = [e for e in ENVS if e in set(tidy.env)]
below_scale = bool(runs.below_paper_scale.any())
n_seeds = int(runs.groupby(["algo", "env"]).seed.nunique().max())
errorbar = ("se", float(stats.t.ppf(0.5 + confidence / 2, max(n_seeds - 1, 1))))  # t-interval over seeds
runs[["algo", "env", "seed", "status", "diverged_at_step", "below_paper_scale"]].head()


# %%
def series(metric: str) -> pd.DataFrame:
    """One column per metric in wide form, per run and step."""
    return tidy[tidy.metric == metric].rename(columns={"value": metric}).drop(columns="metric")


def smoothed_reward() -> pd.DataFrame:
    """Evaluation reward with an exponential moving average per run (the authors' window)."""
    data = series("eval_return").sort_values("step")
    data["eval_return_ema"] = data.groupby(["algo", "env", "seed"])["eval_return"].transform(
        lambda s: s.ewm(span=ema_window, adjust=True).mean())
    return data


def correct_action() -> pd.DataFrame:
    """Correct-action rate per logging window. In the 8x8 grid the x-axis is the number of
    interactions in cell (3,6), as in the paper: each run is interpolated onto a common grid."""
    rate = series("correct_action_rate").merge(
        series("scored_visits"), on=["paper", "experiment", "algo", "label", "agent", "env", "seed", "step"])
    parts = []
    for (algo, env), group in rate.groupby(["algo", "env"]):
        if env != "left_once":
            parts.append(group.assign(x=group.step))
            continue
        horizon = group.groupby("seed").scored_visits.max().min()
        first = max(group.groupby("seed").scored_visits.min().max(), 1)
        grid = np.geomspace(first, horizon, 60)
        for seed, run in group.groupby("seed"):
            run = run.dropna(subset=["correct_action_rate"]).sort_values("scored_visits")
            values = np.interp(grid, run.scored_visits, run.correct_action_rate, right=np.nan)
            parts.append(pd.DataFrame({"algo": algo, "env": env, "seed": seed, "x": grid,
                                       "correct_action_rate": values}))
    return pd.concat(parts, ignore_index=True)


def lineplot(ax, data, x, y, algos):
    labels = figures.algorithm_labels(runs)
    sns.lineplot(data=data[data.algo.isin(algos)], x=x, y=y, hue="algo", hue_order=algos, errorbar=errorbar,
                 ax=ax, linewidth=1.2)
    handles, names = ax.get_legend_handles_labels()
    ax.legend(handles, [f"{labels.get(n, n)}" for n in names], fontsize=7, title=None)


reward = smoothed_reward()
correct = correct_action()

# %% [markdown]
# ## Figure 1 layout: reward and correct action, paper vs advised hyperparameters

# %%
columns = [(name, kind) for name in ("paper_hyperparameters", "advised_hyperparameters") if name in panels
           for kind in ("reward", "correct")]
fig, axes = plt.subplots(len(envs), len(columns), figsize=(3.4 * len(columns), 2.8 * len(envs)), squeeze=False)
for row, env in enumerate(envs):
    for col, (panel, kind) in enumerate(columns):
        ax = axes[row, col]
        if kind == "reward":
            lineplot(ax, reward[reward.env == env], "step", "eval_return_ema", panels[panel])
            ax.set_ylabel("evaluation reward (EMA)")
            ax.set_xlabel("environment steps")
        else:
            lineplot(ax, correct[correct.env == env], "x", "correct_action_rate", panels[panel])
            ax.set_xscale("log")
            ax.set_ylabel("correct-action rate")
            ax.set_xlabel("interactions in (3,6)" if env == "left_once" else "environment steps")
        ax.set_title(f"{ENVS[env]}\n{panel.replace('_', ' ')}", fontsize=8)
figures.stamp_below_paper_scale(fig, below_scale, y=0.01)
fig.tight_layout()
fig.savefig(figure_dir / f"{experiment}_figure1.pdf")

# %% [markdown]
# ## MIRL's prior learning rate alpha_rho (gamma 0.999); below, the dense early snapshots

# %%
def reward_by_grid(algos: list[str], name: str, mark_divergence: bool = False, early: int = 0) -> None:
    """One reward panel per grid for ``algos``; optionally a tick at each run's divergence step, and
    (``early`` > 0) a second row with the raw snapshot returns up to step ``early``."""
    fig, axes = plt.subplots(2 if early else 1, len(envs), figsize=(3.6 * len(envs), 2.8 + 2.4 * bool(early)),
                             squeeze=False)
    palette = figures.colours(algos)
    for ax, env in zip(axes[1] if early else [], envs):
        lineplot(ax, reward[(reward.env == env) & (reward.step <= early)], "step", "eval_return", algos)
        ax.set_title(f"{ENVS[env]}: first {early} steps, unsmoothed", fontsize=8)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("evaluation reward")
    for ax, env in zip(axes[0], envs, strict=True):
        lineplot(ax, reward[reward.env == env], "step", "eval_return_ema", algos)
        if mark_divergence:
            figures.mark_divergences(ax, runs[(runs.env == env) & runs.algo.isin(algos)], palette)
        ax.set_title(ENVS[env], fontsize=8)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("evaluation reward (EMA)")
    figures.stamp_below_paper_scale(fig, below_scale, y=0.01)
    fig.tight_layout()
    fig.savefig(figure_dir / f"{experiment}_{name}.pdf")


has_early_snapshots = "early_eval_until" in runs and runs.early_eval_until.notna().any()
early_until = int(runs.early_eval_until.max()) if has_early_snapshots else 0
reward_by_grid(panels.get("alpha_rho_sweep", []), "alpha_rho_sweep", early=early_until)

# %% [markdown]
# ## Stability: naive, clipped and stable soft values over the whole run
# Curves of diverged runs stop at their divergence; ticks on the x-axis mark each divergence.

# %%
reward_by_grid(panels.get("stability", []), "stability", mark_divergence=True)

# %%
runs.groupby(["algo", "env"]).agg(runs=("seed", "size"), diverged=("status", lambda s: (s == "diverged").sum()),
                                  first_divergence=("diverged_at_step", "min"))
