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
# # EPMD continuous control (Paper B, Figure 1 and the seed report's Pendulum ablation)
#
# Draws, from the aggregate stage's tidy table only, the learning curves of one experiment: one row
# per figure panel of the config (e.g. the PMAC ablation, PMAC against its baselines), one column per
# task. As in the paper: evaluation return of the deterministic policy against environment steps,
# the mean over seeds with a band of one standard error. Diverged runs end where they diverged and
# carry a tick on the x-axis.

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
experiment = "epmd_pendulum"
panels = '{"baselines": ["pmac", "sac", "td3", "ddpg"]}'
figure_dir = paths.FIGURE_DIR

# %%
figure_dir = figures.set_up(figure_dir)
panels = json.loads(panels)
tidy = pd.read_csv(tidy_path)
tidy = tidy[(tidy.experiment == experiment) & (tidy.metric == "eval_return")]
runs = figures.experiment_runs(runs_path, experiment)
envs = list(dict.fromkeys(runs.env))
labels = figures.algorithm_labels(runs)
below_scale = bool(runs.below_paper_scale.any())
figures.run_summary(runs)

# %% [markdown]
# ## Learning curves: one row per panel, one column per task (panels side by side for a single task)

# %%
single = len(envs) == 1
ncols = len(panels) if single else min(3, len(envs))
per_panel = 1 if single else -(-len(envs) // ncols)  # rows of tasks per panel
panel_rows = 1 if single else len(panels)
fig, axes = plt.subplots(per_panel * panel_rows, ncols, figsize=(3.3 * ncols, 2.7 * per_panel * panel_rows),
                         squeeze=False)
for ax in axes.flat:
    ax.set_visible(False)
for row, (panel, algos) in enumerate(panels.items()):
    palette = figures.colours(algos)
    for col, env in enumerate(envs):
        ax = axes[0, row] if single else axes[row * per_panel + col // ncols, col % ncols]
        ax.set_visible(True)
        data = tidy[(tidy.env == env) & tidy.algo.isin(algos)]
        sns.lineplot(data=data, x="step", y="value", hue="algo", hue_order=algos, palette=palette,
                     errorbar="se", ax=ax, linewidth=1.2)
        figures.mark_divergences(ax, runs[(runs.env == env) & runs.algo.isin(algos)], palette)
        handles, names = ax.get_legend_handles_labels()
        ax.legend(handles, [labels.get(n, n) for n in names], fontsize=6, title=None)
        ax.set_title(f"{env}\n{panel.replace('_', ' ')}", fontsize=8)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("evaluation return" if ax in list(axes[:, 0]) else "")
figures.stamp_below_paper_scale(fig, below_scale)
fig.tight_layout()
fig.savefig(figure_dir / f"{experiment}_curves.pdf")
