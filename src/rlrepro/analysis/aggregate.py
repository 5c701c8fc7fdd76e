"""Aggregate stage: finished run directories -> one tidy table per paper, plus statistics.

Outputs (in ``--out-dir``):

* ``tidy.csv.gz``  long table: paper, experiment, algo, label, agent, env, seed, step, metric, value;
* ``runs.csv``     one row per run: status, divergence, wall time, scale, commit, where it came from (``origin``:
                   ``archive:<set>`` or ``this build``), its CPU model and ``code_changed`` (the files of its
                   code that changed since it ran; ``unknown`` for runs that predate the code fingerprint);
* ``missing.csv``  the runs the config asks for that do not exist (``--missing-json``; header only when none);
* ``final.csv``    per (experiment, algo, env, metric): final performance over seeds (mean and
                   interquartile mean with stratified-bootstrap intervals from rliable), the number
                   of runs and of diverged runs;
* ``stats.json``   the bootstrap's seed, repetitions and confidence.

Atari runs also get human-normalised scores, (score - random) / (human - random) with the
standard random and human scores (``--human-scores``), per game (metric ``final_hns``) and
aggregated over games (env ``all games``: IQM and mean over every run of every game, with
intervals from rliable's bootstrap stratified by game).

A run directory that breaks the contract stops the stage with an error naming the file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import pandas as pd

from rlrepro.analysis.statistics import mean_and_iqm, scalar_intervals
from rlrepro.core.fingerprint import changed_files, code_fingerprint
from rlrepro.core.kinds import KINDS
from rlrepro.core.runstore import CorruptRun, read_run, write_atomic

ALL_GAMES = "all games"
"""The env value of rows that aggregate over every game of an Atari experiment."""

FINAL_METRICS = ("eval_return", "correct_action_rate", "eval_solve_rate", "curriculum_length", "correct_action_ceiling",
                 "target_weight", "weight_at_clamp", "log_mean_raw_weight")
"""Metrics scored per run (a kind's runs have only some of them): PMAC's target_weight (the mean
weight pi*/pi_bar as used, after any clamp), weight_at_clamp (fraction at or above the clamp) and
log_mean_raw_weight (log of the mean weight before the clamp; 0 when V normalises it) show whether
V normalises the weight or the clamp does the work."""
WEIGHTED_METRICS = {"correct_action_rate": "scored_in_window"}
"""Metric -> the metric that weighs its rows in the per-run scores. A window's correct-action rate
counts as often as the scored cells were visited in it (on the 8x8 grid, the visits to (3,6)), so a
score is correct actions / visits over the rows used, not an equal-weight mean of windows. Rows
without a weight (runs written before the weight was recorded) weigh 1."""
LATE_CHANGE_METRICS = ("eval_return",)
"""Metrics that also get ``late_change_<metric>``: the final score minus the same score at mid-run."""
BUDGET_COLUMNS = ("total_steps", "eval_interval", "log_interval", "eval_episodes", "eval_max_steps", "eval_epsilon",
                  "early_eval_interval", "early_eval_until")
"""Budget fields copied into runs.csv (empty where a kind has no such field)."""
MISSING_COLUMNS = ("experiment", "paper", "algo", "env", "seed")
"""Columns of missing.csv, and the keys of each entry of ``--missing-json``."""
THIS_BUILD = "this build"
"""runs.csv ``origin`` of a run trained by this build (an archived run's is ``archive:<set>``)."""
UNKNOWN_CODE = "unknown"
"""runs.csv ``code_changed`` of a run whose meta.json has no code fingerprint."""


def collect(run_dirs: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read every run; returns (tidy metrics, one row per run)."""
    tidy_parts, runs = [], []
    for run_dir in run_dirs:
        meta, rows = read_run(run_dir)
        spec = meta["spec"]
        ids = {k: spec[k] for k in ("paper", "experiment", "algo", "label", "agent", "env", "seed")}
        frame = pd.DataFrame(rows)
        if len(frame):
            long = frame.melt(id_vars="step", var_name="metric", value_name="value").dropna(subset=["value"])
            tidy_parts.append(long.assign(**ids))
        divergence = meta.get("divergence") or {}
        runs.append({
            **ids,
            "status": meta["status"],
            "diverged_at_step": divergence.get("step"),
            "diverged_quantity": divergence.get("quantity"),
            "kind": spec["kind"],
            **{key: spec["budget"].get(key) for key in BUDGET_COLUMNS},
            "device": meta.get("device", "cpu"),
            **{f"cfg_{key}": _cell(value) for key, value in spec["agent_config"].items()},
            **beta_q_peak(frame, spec["agent_config"]),
            "last_step": int(frame["step"].max()) if len(frame) else 0,
            "below_paper_scale": spec["below_paper_scale"],
            "scale_notes": "; ".join(spec["scale_notes"]),
            "config_scale": spec["config_scale"],
            "wall_time_s": meta["wall_time_s"],
            "git_commit": meta["git_commit"],
            "run_dir": str(run_dir),
            **run_provenance(meta),  # host_cpu, host_name, python, versions
            **run_origin(meta),  # origin, cpu_model, code_changed
        })
    columns = ["paper", "experiment", "algo", "label", "agent", "env", "seed", "step", "metric", "value"]
    tidy = pd.concat(tidy_parts, ignore_index=True)[columns] if tidy_parts else pd.DataFrame(columns=columns)
    return tidy, pd.DataFrame(runs)


def versions_text(versions: dict) -> str:
    """meta.json's package versions as one string: 'python 3.11.7; gymnasium 1.4.0; numpy ...'."""
    names = (["python"] if "python" in versions else []) + sorted(k for k in versions if k != "python")
    return "; ".join(f"{name} {versions[name]}" for name in names)


def run_provenance(meta: dict) -> dict:
    """The provenance columns of a run's runs.csv row, from its meta.json: ``host_cpu`` (the CPU
    model where recorded, else the machine type and core count), ``host_name``, ``python`` and
    ``versions`` (:func:`versions_text`)."""
    host, versions = meta.get("host") or {}, meta.get("versions") or {}
    cpu = host.get("cpu_model") or host.get("processor") or host.get("machine") or "unknown"
    if host.get("cpus"):
        cpu = f"{cpu}, {host['cpus']} CPUs"
    return {"host_cpu": cpu, "host_name": host.get("node", "unknown"), "python": versions.get("python", "unknown"),
            "versions": versions_text(versions)}


def run_origin(meta: dict) -> dict:
    """Where a run came from, for its runs.csv row: ``origin`` (``archive:<set>`` for a run restored from the
    archive, else ``this build``), ``cpu_model`` (from the platform fingerprint, else the host record) and
    ``code_changed`` (space-separated files whose hash differs from the code running this; ``unknown``
    without a recorded fingerprint or for a kind no longer registered; empty when unchanged)."""
    archive = meta.get("archive")
    origin = f"archive:{archive.get('set', 'unknown')}" if isinstance(archive, dict) else THIS_BUILD
    host = meta.get("host") or {}
    cpu = ((meta.get("platform") or {}).get("cpu_model") or host.get("cpu_model") or host.get("platform")
           or host.get("machine") or "unknown")
    kind = meta["spec"].get("kind")
    if "code" not in meta or kind not in KINDS:
        changed = UNKNOWN_CODE
    else:
        changed = " ".join(changed_files(meta["code"], code_fingerprint(KINDS[kind].module)))
    return {"origin": origin, "cpu_model": cpu, "code_changed": changed}


def missing_table(entries) -> pd.DataFrame:
    """``--missing-json`` (a list of {experiment, paper, algo, env, seed}) as missing.csv's table, sorted;
    ValueError naming the entry and what is wrong."""
    if not isinstance(entries, list):
        raise ValueError(f"--missing-json: expected a JSON list of objects with keys {', '.join(MISSING_COLUMNS)}, "
                         f"got {type(entries).__name__}")
    rows = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != set(MISSING_COLUMNS):
            keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise ValueError(f"--missing-json entry {index}: expected exactly the keys {', '.join(MISSING_COLUMNS)}, "
                             f"got {keys}")
        if isinstance(entry["seed"], bool) or not isinstance(entry["seed"], int) or entry["seed"] < 0:
            raise ValueError(f"--missing-json entry {index}: seed must be an integer >= 0, got {entry['seed']!r}")
        rows.append({key: entry[key] for key in MISSING_COLUMNS})
    table = pd.DataFrame(rows, columns=list(MISSING_COLUMNS))
    return table.sort_values(["experiment", "algo", "env", "seed"], ignore_index=True)


def _cell(value):
    return "x".join(map(str, value)) if isinstance(value, list) else value  # hidden_sizes [256, 256] -> 256x256


def beta_q_peak(frame: pd.DataFrame, agent_config: dict) -> dict:
    """runs.csv columns of a soft tabular run: ``max_abs_beta_q``, the largest |beta Q| over the Q
    table at the run's log points, and ``clip_binds_from_step``, with soft_form 'clipped' the first
    logged step where it exceeded clip_bound (empty if it never did, i.e. the clip never acted)."""
    if "max_abs_beta_q" not in frame or frame.max_abs_beta_q.isna().all():
        return {"max_abs_beta_q": None, "clip_binds_from_step": None}
    peak = frame.max_abs_beta_q
    binds = None
    if agent_config.get("soft_form") == "clipped":
        above = frame.step[peak > agent_config["clip_bound"]]
        binds = int(above.min()) if len(above) else None
    return {"max_abs_beta_q": float(peak.max()), "clip_binds_from_step": binds}


def final_scores(tidy: pd.DataFrame, runs: pd.DataFrame, final_window: int | dict[str, int]) -> pd.DataFrame:
    """Per completed run, scores of each metric in FINAL_METRICS: ``final_<metric>``, the mean
    of its last ``final_window`` snapshots (a number per experiment kind, or one for all), and
    ``mean_<metric>``, the mean over the whole run (an area under the learning curve, which rewards
    learning early: each snapshot weighs the steps since the one before, so denser early snapshots do
    not count more); for LATE_CHANGE_METRICS also ``late_change_<metric>``, final_<metric> minus the
    mean of the last ``final_window`` snapshots at or before mid-run (halfway between the run's first
    and last snapshot). Means weigh rows by WEIGHTED_METRICS. Diverged runs have no scores."""
    completed = runs.loc[runs.status == "completed", ["experiment", "algo", "env", "seed", "kind"]]
    run_keys = ["experiment", "algo", "env", "seed"]
    data = tidy[tidy.metric.isin(FINAL_METRICS)].merge(completed, on=run_keys)
    keys = ["experiment", "algo", "label", "env", "seed", "metric"]
    data = data.assign(weight=1.0).sort_values("step", kind="stable")
    for metric, weight in WEIGHTED_METRICS.items():
        w = tidy.loc[tidy.metric == weight, [*run_keys, "step", "value"]].rename(columns={"value": "w"})
        rows = data.metric == metric
        if rows.any() and len(w):
            data.loc[rows, "weight"] = (data.loc[rows, [*run_keys, "step"]]
                                        .merge(w, on=[*run_keys, "step"], how="left").w.fillna(1.0).to_numpy())

    # The area under the curve: a snapshot stands for the steps since the previous one (the first for as
    # many as the next one; a run with one snapshot weighs it 1).
    span = data.groupby(keys).step.diff()
    span = span.fillna(span.groupby([data[k] for k in keys]).bfill()).fillna(1.0)
    area_weight = data.weight.where(data.metric.isin(list(WEIGHTED_METRICS)), span)

    def weighted_mean(frame: pd.DataFrame, weight: str = "weight") -> pd.DataFrame:
        sums = (frame.assign(wv=frame.value * frame[weight], w=frame[weight])
                .groupby(keys, as_index=False)[["wv", "w"]].sum())
        return sums.assign(value=sums.wv / sums.w)[keys + ["value"]]

    windows = {} if isinstance(final_window, int) else final_window

    def last_snapshots(frame: pd.DataFrame) -> pd.DataFrame:
        parts = [part.groupby(keys).tail(windows.get(kind, final_window)) for kind, part in frame.groupby("kind")]
        return pd.concat(parts) if parts else frame

    last, whole = (weighted_mean(last_snapshots(data)),
                   weighted_mean(data.assign(area_weight=area_weight), "area_weight"))
    late = data[data.metric.isin(LATE_CHANGE_METRICS)]
    steps = late.groupby(keys).step
    mid = weighted_mean(last_snapshots(late[late.step <= (steps.transform("min") + steps.transform("max")) / 2]))
    change = last.merge(mid, on=keys, suffixes=("", "_mid"))
    change = change.assign(value=change.value - change.value_mid)[keys + ["value"]]
    return pd.concat([last.assign(metric="final_" + last.metric), whole.assign(metric="mean_" + whole.metric),
                      change.assign(metric="late_change_" + change.metric)], ignore_index=True)


def human_normalised(per_run: pd.DataFrame, runs: pd.DataFrame, human_scores: pd.DataFrame) -> pd.DataFrame:
    """``final_hns`` rows for the Atari runs: their final_eval_return as (score - random) / (human - random).

    A game missing from ``human_scores`` is an error naming the file to extend.
    """
    atari = runs.loc[runs.kind == "atari", ["experiment", "algo", "env", "seed"]]
    returns = per_run[per_run.metric == "final_eval_return"].merge(atari, on=["experiment", "algo", "env", "seed"])
    missing = sorted(set(returns.env) - set(human_scores.env))
    if missing:
        raise ValueError(f"no random/human scores for {missing} in the human-scores table; add a row per game")
    scored = returns.merge(human_scores, on="env")
    hns = (scored.value - scored.random_score) / (scored.human_score - scored.random_score)
    return scored.assign(metric="final_hns", value=hns)[per_run.columns]


def interval_table(per_run: pd.DataFrame, runs: pd.DataFrame, reps: int, seed: int, confidence: float) -> pd.DataFrame:
    """Mean and IQM over seeds with stratified-bootstrap intervals (rliable), per algo/env/metric."""
    out = []
    counts = runs.groupby(["experiment", "algo", "env"]).agg(
        n_runs=("seed", "size"), n_diverged=("status", lambda s: int((s == "diverged").sum())),
        below_paper_scale=("below_paper_scale", "any"))
    for (exp, algo, label, env, metric), group in per_run.groupby(["experiment", "algo", "label", "env", "metric"]):
        scores = group["value"].to_numpy()[:, None]
        row = {"experiment": exp, "algo": algo, "label": label, "env": env, "metric": metric,
               "n_completed": len(scores)}
        out.append({**row, **scalar_intervals(scores, mean_and_iqm(), reps, seed, confidence)})
    table = pd.DataFrame(out)
    return table.merge(counts.reset_index(), on=["experiment", "algo", "env"], how="right")


def across_games(hns: pd.DataFrame, runs: pd.DataFrame, reps: int, seed: int, confidence: float) -> pd.DataFrame:
    """Per Atari experiment and algorithm: mean and IQM of final_hns over every (game, seed), with
    rliable's stratified bootstrap (runs resampled within each game). Needs the same number of
    completed runs on every game; an algorithm without that gets no row."""
    out = []
    for (exp, algo, label), group in hns.groupby(["experiment", "algo", "label"]):
        matrix = group.pivot(index="seed", columns="env", values="value").dropna()
        if matrix.empty:
            continue
        row = {"experiment": exp, "algo": algo, "label": label, "env": ALL_GAMES, "metric": "final_hns",
               "n_completed": int(matrix.size), "n_games": int(matrix.shape[1]),
               **scalar_intervals(matrix.to_numpy(), mean_and_iqm(), reps, seed, confidence)}
        mine = runs[(runs.experiment == exp) & (runs.algo == algo)]
        row.update(n_runs=len(mine), n_diverged=int((mine.status == "diverged").sum()),
                   below_paper_scale=bool(mine.below_paper_scale.any()))
        out.append(row)
    return pd.DataFrame(out)


def aggregate(run_dirs: list[Path], out_dir: Path, analysis: dict, human_scores: pd.DataFrame | None = None,
              missing: pd.DataFrame | None = None) -> None:
    """Write the aggregate files of the runs in ``run_dirs``; ``missing`` (:func:`missing_table`): the runs the
    config asks for that do not exist, written to missing.csv (a run both given and missing is an error)."""
    missing = missing_table([]) if missing is None else missing
    tidy, runs = collect(run_dirs)
    keys = ["experiment", "algo", "env", "seed"]
    both = missing.merge(runs[keys], on=keys) if len(runs) else missing.iloc[0:0]
    if len(both):
        first = both.iloc[0]
        raise ValueError(f"{len(both)} run(s) listed in --missing-json exist, e.g. {first.experiment} {first.algo} "
                         f"on {first.env} seed {first.seed}; list only the runs that do not exist")
    per_run = final_scores(tidy, runs, analysis["final_window"])
    bootstrap = (analysis["bootstrap_reps"], analysis["bootstrap_seed"], analysis["confidence"])
    if (runs.kind == "atari").any():
        if human_scores is None:
            raise ValueError("Atari runs need --human-scores (random and human score per game)")
        hns = human_normalised(per_run, runs, human_scores)
        per_run = pd.concat([per_run, hns], ignore_index=True)
    table = interval_table(per_run, runs, *bootstrap)
    if (runs.kind == "atari").any():
        table = pd.concat([table, across_games(hns, runs, *bootstrap)], ignore_index=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "tidy.csv.gz", _gzip(tidy))
    write_atomic(out_dir / "runs.csv",
                 runs.sort_values(["experiment", "algo", "env", "seed"]).to_csv(index=False).encode())
    write_atomic(out_dir / "final.csv", table.to_csv(index=False).encode())
    write_atomic(out_dir / "missing.csv", missing.to_csv(index=False).encode())
    stats = {"bootstrap_reps": analysis["bootstrap_reps"], "bootstrap_seed": analysis["bootstrap_seed"],
             "confidence": analysis["confidence"], "final_window": analysis["final_window"],
             "interval_method": "rliable stratified bootstrap (percentile)"}
    write_atomic(out_dir / "stats.json", json.dumps(stats, indent=2).encode())


def _gzip(frame: pd.DataFrame) -> bytes:
    return gzip.compress(frame.to_csv(index=False).encode(), mtime=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlrepro.analysis.aggregate",
                                     description="Aggregate finished runs of one paper.")
    parser.add_argument("--analysis", required=True, help="JSON of the config's 'analysis' section")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--human-scores", type=Path, help="CSV env,random_score,human_score (needed for Atari runs)")
    parser.add_argument("--missing-json", default="[]",
                        help="JSON list of the runs the config asks for that do not exist, each "
                             '{"experiment", "paper", "algo", "env", "seed"}: written to missing.csv')
    parser.add_argument("run_dirs", nargs="+", type=Path, help="run directories (or their meta.json files)")
    args = parser.parse_args(argv)
    try:
        run_dirs = [p.parent if p.name == "meta.json" else p for p in args.run_dirs]
        human_scores = pd.read_csv(args.human_scores) if args.human_scores else None
        try:
            missing = missing_table(json.loads(args.missing_json))
        except json.JSONDecodeError as err:
            raise ValueError(f"--missing-json is not valid JSON: {err}") from err
        aggregate(run_dirs, args.out_dir, json.loads(args.analysis), human_scores, missing)
    except (CorruptRun, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
