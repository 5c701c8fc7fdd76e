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
# # MIRL on Atari: DQN, SQL and MIRL (Paper A, approximate setting)
#
# From the aggregate stage's tables only. First figure: one column per game, the evaluation return
# (whole games, unclipped, epsilon 0.05) against agent steps, mean over seeds with a 95% bootstrap
# band. Second figure: the final human-normalised score aggregated over games, interquartile mean
# and mean with the aggregate stage's stratified-bootstrap intervals (rliable), one row per algorithm.

# %%
import json

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rlrepro.analysis.aggregate import ALL_GAMES
from rlrepro.core import paths
from rlrepro.reporting import figures

# %% tags=["parameters"]
tidy_path = paths.aggregate_file("mirl", "tidy")
runs_path = paths.aggregate_file("mirl", "runs")
final_path = paths.aggregate_file("mirl", "final")
experiment = "mirl_atari"
panels = '{"dqn_sql_mirl": ["dqn", "deep_sql", "deep_mirl"]}'
figure_dir = paths.FIGURE_DIR
confidence = 0.95

# %%
figure_dir = figures.set_up(figure_dir)
panels = json.loads(panels)
algos = figures.panel_algorithms(panels)
tidy = pd.read_csv(tidy_path)
tidy = tidy[(tidy.experiment == experiment) & (tidy.metric == "eval_return") & tidy.algo.isin(algos)]
runs = figures.experiment_runs(runs_path, experiment)
final = pd.read_csv(final_path)
final = final[(final.experiment == experiment) & (final.env == ALL_GAMES) & final.algo.isin(algos)]
games = list(dict.fromkeys(runs.env))
labels = figures.algorithm_labels(runs)
below_scale = bool(runs.below_paper_scale.any())
palette = figures.colours(algos, "tab10")  # matplotlib's default colours, as these figures have always had
figures.run_summary(runs)

# %% [markdown]
# ## Learning curves, one column per game

# %%
fig, axes = plt.subplots(1, len(games), figsize=(3.0 * len(games), 2.6), squeeze=False)
for col, game in enumerate(games):
    ax = axes[0, col]
    sns.lineplot(data=tidy[tidy.env == game], x="step", y="value", hue="algo", hue_order=algos, palette=palette,
                 errorbar=("ci", round(100 * confidence)), seed=0, ax=ax, linewidth=1.2, legend=col == 0)
    figures.mark_divergences(ax, runs[runs.env == game], palette)
    ax.set_title(game.removesuffix("NoFrameskip-v4"), fontsize=8)
    ax.set_xlabel("agent steps (4 frames each)")
    ax.set_ylabel("evaluation return" if col == 0 else "")
    ax.tick_params(labelsize=6)
    ax.xaxis.get_offset_text().set_fontsize(6)
if axes[0, 0].get_legend() is not None:
    handles, names = axes[0, 0].get_legend_handles_labels()
    axes[0, 0].legend(handles, [labels.get(n, n) for n in names], fontsize=6, title=None)
figures.stamp_below_paper_scale(fig, below_scale)
fig.tight_layout()
fig.savefig(figure_dir / f"{experiment}_curves.pdf")

# %% [markdown]
# ## Human-normalised score over games: IQM and mean with stratified-bootstrap intervals

# %%
fig, axes = plt.subplots(1, 2, figsize=(6.0, 0.5 + 0.45 * len(algos)), sharey=True)
for ax, stat, title in ((axes[0], "iqm", "IQM"), (axes[1], "mean", "mean")):
    for y, algo in enumerate(algos):
        row = final[final.algo == algo]
        if row.empty:
            continue
        row = row.iloc[0]
        ax.plot([row[f"{stat}_low"], row[f"{stat}_high"]], [y, y], color=palette[algo], linewidth=6, alpha=0.5,
                solid_capstyle="butt")
        ax.plot([row[stat]], [y], "|", color="k", markersize=12)
    ax.set_title(f"{title} of human-normalised score", fontsize=8)
    ax.set_xlabel(f"over {len(games)} game(s) x seeds", fontsize=7)
    ax.tick_params(labelsize=6)
axes[0].set_yticks(range(len(algos)), [labels.get(a, a) for a in algos])
axes[0].set_ylim(-0.6, len(algos) - 0.4)
figures.stamp_below_paper_scale(fig, below_scale)
fig.tight_layout()
fig.savefig(figure_dir / f"{experiment}_aggregate.pdf")
