"""What every figure notebook (notebooks/*.py) does the same way: set-up, the runs of one experiment, colours,
divergence ticks and the BELOW PAPER SCALE stamp. Torch-free; figures are written to files, never shown."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd


def set_up(figure_dir: str | Path) -> Path:
    """Draw off-screen with the report's seaborn theme; returns ``figure_dir``, created if missing."""
    matplotlib.use("Agg")
    import seaborn as sns  # after choosing the backend

    sns.set_theme(style="whitegrid", context="paper")
    figure_dir = Path(figure_dir)
    figure_dir.mkdir(parents=True, exist_ok=True)
    return figure_dir


def experiment_runs(runs_path: str | Path, experiment: str) -> pd.DataFrame:
    """The rows of a paper's ``runs.csv`` that belong to ``experiment``."""
    runs = pd.read_csv(runs_path)
    return runs[runs.experiment == experiment]


def algorithm_labels(runs: pd.DataFrame) -> pd.Series:
    """Algorithm key -> its label in the figures."""
    return runs.drop_duplicates("algo").set_index("algo").label


def panel_algorithms(panels: dict[str, list[str]]) -> list[str]:
    """Every algorithm of the config's figure panels, once, in order of first appearance."""
    return list(dict.fromkeys(algo for members in panels.values() for algo in members))


def colours(algos: list[str], palette: str | None = None) -> dict[str, tuple[float, float, float]]:
    """One colour per algorithm, from seaborn's palette ``palette`` (default: the current one)."""
    import seaborn as sns

    return dict(zip(algos, sns.color_palette(palette, n_colors=len(algos)), strict=True))


def run_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Seeds, diverged runs, last step and compute minutes per algorithm and environment."""
    return runs.groupby(["algo", "env"]).agg(
        seeds=("seed", "size"), diverged=("status", lambda s: int((s == "diverged").sum())),
        steps=("last_step", "max"), minutes=("wall_time_s", lambda s: s.sum() / 60))


def mark_divergences(ax, runs: pd.DataFrame, palette: dict) -> None:
    """A tick on the x-axis at the step where each diverged run of ``runs`` stopped, in its algorithm's colour."""
    for _, run in runs[runs.status == "diverged"].iterrows():
        ax.axvline(run.diverged_at_step, ymax=0.06, color=palette.get(run.algo, "k"), linewidth=1.5)


def stamp_below_paper_scale(fig, below_scale: bool, y: float = 0.005) -> None:
    """Write BELOW PAPER SCALE in the bottom right corner of ``fig`` when its runs are below paper scale."""
    if below_scale:
        fig.text(0.99, y, "BELOW PAPER SCALE", ha="right", va="bottom", color="crimson", fontsize=9, weight="bold")
