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
# # Toy kind (tests/test_kinds.py): the learned value of the best arm against pulls

# %%
import matplotlib.pyplot as plt
import pandas as pd

from rlrepro.core import paths
from rlrepro.reporting import figures

# %% tags=["parameters"]
tidy_path = paths.aggregate_file("mirl", "tidy")
runs_path = paths.aggregate_file("mirl", "runs")
experiment = "coin_toss"
figure_dir = paths.FIGURE_DIR

# %%
figure_dir = figures.set_up(figure_dir)
tidy = pd.read_csv(tidy_path)
tidy = tidy[(tidy.experiment == experiment) & (tidy.metric == "eval_return")]
runs = figures.experiment_runs(runs_path, experiment)
fig, ax = plt.subplots(figsize=(4, 3))
for (algo, env), curve in tidy.groupby(["algo", "env"]):
    mean = curve.groupby("step").value.mean()
    ax.plot(mean.index, mean.values, label=f"{algo} {env}")
ax.legend()
figures.stamp_below_paper_scale(fig, bool(runs.below_paper_scale.any()))
fig.savefig(figure_dir / f"{experiment}_curves.pdf")
