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

# %% tags=["parameters"]
tidy_path = "results/aggregate/epmd/tidy.csv.gz"
runs_path = "results/aggregate/epmd/runs.csv"
experiment = "epmd_pendulum"
panels = '{"baselines": ["pmac", "sac", "td3", "ddpg"]}'
figure_dir = "results/figures"

# %%
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

panels = json.loads(panels)
figure_dir = Path(figure_dir)
figure_dir.mkdir(parents=True, exist_ok=True)
tidy = pd.read_csv(tidy_path)
tidy = tidy[(tidy.experiment == experiment) & (tidy.metric == "eval_return")]
runs = pd.read_csv(runs_path)
runs = runs[runs.experiment == experiment]
envs = list(dict.fromkeys(runs.env))
labels = runs.drop_duplicates("algo").set_index("algo").label
below_scale = bool(runs.below_paper_scale.any())
sns.set_theme(style="whitegrid", context="paper")
runs.groupby(["algo", "env"]).agg(seeds=("seed", "size"), diverged=("status", lambda s: int((s == "diverged").sum())),
                                  steps=("last_step", "max"), minutes=("wall_time_s", lambda s: s.sum() / 60))

# %% [markdown]
# ## Learning curves: one row per panel, one column per task (panels side by side for a single task)

# %%
single = len(envs) == 1
ncols = len(panels) if single else min(3, len(envs))
per_panel = 1 if single else -(-len(envs) // ncols)  # rows of tasks per panel
fig, axes = plt.subplots(per_panel * (1 if single else len(panels)), ncols, figsize=(3.3 * ncols, 2.7 * per_panel * (1 if single else len(panels))),
                         squeeze=False)
for ax in axes.flat:
    ax.set_visible(False)
for row, (panel, algos) in enumerate(panels.items()):
    palette = dict(zip(algos, sns.color_palette(n_colors=len(algos)), strict=True))
    for col, env in enumerate(envs):
        ax = axes[0, row] if single else axes[row * per_panel + col // ncols, col % ncols]
        ax.set_visible(True)
        data = tidy[(tidy.env == env) & tidy.algo.isin(algos)]
        sns.lineplot(data=data, x="step", y="value", hue="algo", hue_order=algos, palette=palette,
                     errorbar="se", ax=ax, linewidth=1.2)
        for _, run in runs[(runs.env == env) & (runs.status == "diverged") & runs.algo.isin(algos)].iterrows():
            ax.axvline(run.diverged_at_step, ymax=0.06, color=palette[run.algo], linewidth=1.5)
        handles, names = ax.get_legend_handles_labels()
        ax.legend(handles, [labels.get(n, n) for n in names], fontsize=6, title=None)
        ax.set_title(f"{env}\n{panel.replace('_', ' ')}", fontsize=8)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("evaluation return" if ax in list(axes[:, 0]) else "")
if below_scale:
    fig.text(0.99, 0.005, "BELOW PAPER SCALE", ha="right", va="bottom", color="crimson", fontsize=9, weight="bold")
fig.tight_layout()
fig.savefig(figure_dir / f"{experiment}_curves.pdf")
