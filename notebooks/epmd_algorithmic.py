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

# %% tags=["parameters"]
tidy_path = "results/aggregate/epmd/tidy.csv.gz"
runs_path = "results/aggregate/epmd/runs.csv"
experiment = "epmd_algorithmic"
panels = '{"repmd_vs_baselines": ["repmd", "ment"]}'
figure_dir = "results/figures"

# %%
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

QUANTITIES = {"eval_return": "evaluation return", "eval_solve_rate": "solve rate", "curriculum_length": "curriculum length"}
panels = json.loads(panels)
algos = list(dict.fromkeys(a for members in panels.values() for a in members))
figure_dir = Path(figure_dir)
figure_dir.mkdir(parents=True, exist_ok=True)
tidy = pd.read_csv(tidy_path)
tidy = tidy[(tidy.experiment == experiment) & tidy.metric.isin(QUANTITIES) & tidy.algo.isin(algos)]
runs = pd.read_csv(runs_path)
runs = runs[runs.experiment == experiment]
envs = list(dict.fromkeys(runs.env))
labels = runs.drop_duplicates("algo").set_index("algo").label
below_scale = bool(runs.below_paper_scale.any())
sns.set_theme(style="whitegrid", context="paper")
runs.groupby(["algo", "env"]).agg(seeds=("seed", "size"), diverged=("status", lambda s: int((s == "diverged").sum())),
                                  steps=("last_step", "max"), minutes=("wall_time_s", lambda s: s.sum() / 60))

# %% [markdown]
# ## Learning curves: one column per task, one row per quantity

# %%
palette = dict(zip(algos, sns.color_palette(n_colors=len(algos)), strict=True))
fig, axes = plt.subplots(len(QUANTITIES), len(envs), figsize=(2.4 * len(envs), 2.2 * len(QUANTITIES)), squeeze=False,
                         sharex="col")
for col, env in enumerate(envs):
    for row, (metric, name) in enumerate(QUANTITIES.items()):
        ax = axes[row, col]
        data = tidy[(tidy.env == env) & (tidy.metric == metric)]
        sns.lineplot(data=data, x="step", y="value", hue="algo", hue_order=algos, palette=palette, errorbar="se",
                     ax=ax, linewidth=1.2, legend=row == 0 and col == 0)
        for _, run in runs[(runs.env == env) & (runs.status == "diverged")].iterrows():
            ax.axvline(run.diverged_at_step, ymax=0.06, color=palette.get(run.algo, "k"), linewidth=1.5)
        if row == 0:
            ax.set_title(env, fontsize=8)
        ax.set_xlabel("environment steps" if row == len(QUANTITIES) - 1 else "")
        ax.set_ylabel(name if col == 0 else "")
        ax.tick_params(labelsize=6)
        ax.xaxis.get_offset_text().set_fontsize(6)
if axes[0, 0].get_legend() is not None:
    handles, names = axes[0, 0].get_legend_handles_labels()
    axes[0, 0].legend(handles, [labels.get(n, n) for n in names], fontsize=6, title=None)
if below_scale:
    fig.text(0.99, 0.005, "BELOW PAPER SCALE", ha="right", va="bottom", color="crimson", fontsize=9, weight="bold")
fig.tight_layout()
fig.savefig(figure_dir / f"{experiment}_curves.pdf")
