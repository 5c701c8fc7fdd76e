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
# # EPMD: REPMD on the algorithmic tasks (Paper B)
#
# Draws, from the aggregate stage's tidy table only, one column per task and one row per quantity:
# the greedy policy's evaluation return, the fraction of evaluation inputs it solves exactly, and the
# curriculum's input length reached by training (it grows once the recent inputs' sampled episodes
# fall short of the maximum by little enough: see rlrepro.epmd.algorithmic). Mean over seeds with a band of one standard
# error, against environment steps.

# %%
import json

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rlrepro.core import paths
from rlrepro.reporting import figures

# %% tags=["parameters"]
tidy_path = paths.aggregate_file("epmd", "tidy")
runs_path = paths.aggregate_file("epmd", "runs")
experiment = "epmd_algorithmic"
panels = '{"repmd_vs_baselines": ["repmd", "ment"]}'
figure_dir = paths.FIGURE_DIR

# %%
QUANTITIES = {"eval_return": "evaluation return", "eval_solve_rate": "solve rate",
              "curriculum_length": "curriculum length"}
figure_dir = figures.set_up(figure_dir)
panels = json.loads(panels)
algos = figures.panel_algorithms(panels)
tidy = pd.read_csv(tidy_path)
tidy = tidy[(tidy.experiment == experiment) & tidy.metric.isin(QUANTITIES) & tidy.algo.isin(algos)]
runs = figures.experiment_runs(runs_path, experiment)
envs = list(dict.fromkeys(runs.env))
labels = figures.algorithm_labels(runs)
below_scale = bool(runs.below_paper_scale.any())
figures.run_summary(runs)

# %% [markdown]
# ## Learning curves: one column per task, one row per quantity

# %%
palette = figures.colours(algos)
fig, axes = plt.subplots(len(QUANTITIES), len(envs), figsize=(2.4 * len(envs), 2.2 * len(QUANTITIES)), squeeze=False,
                         sharex="col")
for col, env in enumerate(envs):
    for row, (metric, name) in enumerate(QUANTITIES.items()):
        ax = axes[row, col]
        data = tidy[(tidy.env == env) & (tidy.metric == metric)]
        sns.lineplot(data=data, x="step", y="value", hue="algo", hue_order=algos, palette=palette, errorbar="se",
                     ax=ax, linewidth=1.2, legend=row == 0 and col == 0)
        figures.mark_divergences(ax, runs[runs.env == env], palette)
        if row == 0:
            ax.set_title(env, fontsize=8)
        ax.set_xlabel("environment steps" if row == len(QUANTITIES) - 1 else "")
        ax.set_ylabel(name if col == 0 else "")
        ax.tick_params(labelsize=6)
        ax.xaxis.get_offset_text().set_fontsize(6)
if axes[0, 0].get_legend() is not None:
    handles, names = axes[0, 0].get_legend_handles_labels()
    axes[0, 0].legend(handles, [labels.get(n, n) for n in names], fontsize=6, title=None)
figures.stamp_below_paper_scale(fig, below_scale)
fig.tight_layout()
fig.savefig(figure_dir / f"{experiment}_curves.pdf")
