"""The bit-identical prefix check (rlrepro.archive.replay) on a tiny archive of smoke-sized runs."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rlrepro.archive import replay
from rlrepro.core import runstore
from rlrepro.core.kinds import KINDS
from rlrepro.core.loop import StopEarly
from rlrepro.train import main as train_main

REPO = Path(__file__).resolve().parents[1]
RUNS = {"tabular": ("mirl", "ql", "corridor"), "algorithmic": ("epmd", "repmd", "Copy"),
        "continuous": ("epmd", "pmac", "Pendulum-v1")}
MIN_STEPS = 500
"""Stops the tabular (rows every 100 of 2000 steps) and algorithmic (400 of 1200) replays early."""


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """One smoke-sized run of each cheap kind, trained as the pipeline trains them."""
    import torch

    root = tmp_path_factory.mktemp("archive")
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    configs = ["--config", str(REPO / "config/config.yaml"), "--config", str(REPO / "config/smoke.yaml")]
    try:
        for paper, algo, env in RUNS.values():
            run_dir = root / "runs" / paper / algo / env / "seed0"
            args = ["--paper", paper, "--algo", algo, "--env", env, "--seed", "0", "--run-dir", str(run_dir)]
            assert train_main([*configs, *args, "--no-progress"]) == 0
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    return root


def run_dir_of(archive: Path, kind: str) -> Path:
    paper, algo, env = RUNS[kind]
    return archive / "runs" / paper / algo / env / "seed0"


def test_a_replay_of_unchanged_code_is_identical_and_stops_at_the_first_row_past_min_steps(archive):
    results = {kind: replay.replay_prefix(run_dir_of(archive, kind), MIN_STEPS) for kind in RUNS}
    assert {kind: r.outcome for kind, r in results.items()} == dict.fromkeys(RUNS, replay.IDENTICAL)
    assert (results["tabular"].steps_replayed, results["tabular"].rows_compared) == (500, 5)
    assert (results["algorithmic"].steps_replayed, results["algorithmic"].rows_compared) == (800, 2)
    assert (results["continuous"].steps_replayed, results["continuous"].rows_compared) == (600, 3)
    assert all(r.code_changed == () and r.difference is None for r in results.values())


def test_a_deliberately_changed_agent_makes_the_check_fail(archive, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(REPO / "src", source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    losses = source / "rlrepro/epmd/losses.py"
    original = "return -(weights.detach() * log_probs).sum(-1).mean()"
    assert original in losses.read_text()
    changed = "return -1.001 * (weights.detach() * log_probs).sum(-1).mean()"
    losses.write_text(losses.read_text().replace(original, changed))
    out = tmp_path / "check.csv"
    result = subprocess.run([sys.executable, "-m", "rlrepro.archive.replay", "--min-steps", str(MIN_STEPS), "--out",
                             str(out), str(run_dir_of(archive, "algorithmic"))],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(source)}, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "epmd/repmd/Copy/seed0: differs" in result.stdout
    assert "failed for: epmd/repmd/Copy/seed0" in result.stderr
    [row] = list(csv.DictReader(out.open()))
    assert row["outcome"] == "differs" and row["code_changed"] == "rlrepro/epmd/losses.py"
    assert row["first_difference"].startswith("row 0 (step 400) column ")


def test_a_run_from_another_platform_is_not_comparable_and_says_why(archive, tmp_path):
    run_dir = shutil.copytree(run_dir_of(archive, "tabular"), tmp_path / "runs/mirl/ql/corridor/seed0")
    meta = json.loads((run_dir / "meta.json").read_text())
    meta["platform"]["cpu_flags"] = "avx avx2"
    (run_dir / "meta.json").write_text(json.dumps(meta))
    result = replay.replay_prefix(run_dir, MIN_STEPS)
    assert result.outcome == replay.NOT_COMPARABLE and result.platform_differences == ("cpu_flags",)
    assert "cpu_flags" in result.reason and "replayed rows identical anyway" in result.describe()

    del meta["platform"]
    (run_dir / "meta.json").write_text(json.dumps(meta))
    assert replay.replay_prefix(run_dir, MIN_STEPS).outcome == replay.UNKNOWN_PLATFORM
    out = tmp_path / "check.csv"
    assert replay.main(["--min-steps", str(MIN_STEPS), "--out", str(out), str(run_dir)]) == 0
    assert replay.main(["--min-steps", str(MIN_STEPS), "--out", str(out), "--strict", str(run_dir)]) == 1


@pytest.mark.parametrize("kind", ["tabular", "algorithmic"])
def test_stopping_early_leaves_the_earlier_rows_those_of_the_whole_run(archive, kind, one_torch_thread):
    spec = json.loads((run_dir_of(archive, kind) / "meta.json").read_text())["spec"]
    whole = KINDS[kind].make_trainer(spec)[0]()

    seen = []

    def stop_after_two_rows(steps):
        seen.append(steps)
        if len(seen) == 2:
            raise StopEarly(sum(seen))

    with pytest.raises(StopEarly) as stopped:
        KINDS[kind].make_trainer(spec)[0](on_progress=stop_after_two_rows)
    assert len(stopped.value.rows) == 2 < len(whole)
    assert runstore.metrics_to_csv(stopped.value.rows) == runstore.metrics_to_csv(whole[:2])


def test_the_sample_covers_every_kind_asked_for_and_is_reproducible(archive):
    sample = replay.sample_runs(archive, per_kind=1, seed=3)
    assert sample == replay.sample_runs(archive, per_kind=1, seed=3)
    assert {json.loads((d / "meta.json").read_text())["spec"]["kind"] for d in sample} == set(RUNS)
    only_one = replay.sample_runs(archive, per_kind=2, seed=0, kinds=("algorithmic",))
    assert only_one == [run_dir_of(archive, "algorithmic")]


def test_bad_input_exits_2_naming_what_is_wrong(archive, tmp_path, capsys):
    out = tmp_path / "check.csv"
    assert replay.main(["--archive", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "nowhere: no such directory" in capsys.readouterr().err
    assert replay.main(["--archive", str(archive), "--kinds", "atari", "--out", str(out)]) == 2
    assert "no CPU-trained runs of kinds ['atari']" in capsys.readouterr().err
    assert replay.main(["--archive", str(archive), "--kinds", "chess", "--out", str(out)]) == 2
    assert "unknown kinds ['chess']" in capsys.readouterr().err
    assert replay.main(["--out", str(out), str(tmp_path)]) == 2
    assert "meta.json: missing" in capsys.readouterr().err
    assert not out.exists()


def test_rows_compare_as_csv_text_by_column_and_count():
    archived = runstore.metrics_to_csv([{"step": 100, "loss": 0.5, "wall_time_s": 1.0},
                                        {"step": 200, "loss": float("nan")}]).decode()
    same = [{"step": 100, "loss": 0.5, "wall_time_s": 9.0}, {"step": 200, "loss": float("nan")}]
    assert replay.first_difference(archived, same, 2) is None  # nan equals nan as text; time is left out
    one_bit_off = [{"step": 100, "loss": 0.5000000000000001}]
    assert replay.first_difference(archived, one_bit_off, 1) == replay.Difference(
        0, "100", "loss", "0.5", "0.5000000000000001")
    assert replay.first_difference(archived, same[:1], 2) == replay.Difference(1, "200", "<row>", "row", replay.NO_ROW)


SHIPPED = REPO / "archive"
"""The archive that ships with the package."""
SHIPPED_MIN_STEPS = 2000
"""Past Pendulum's 1000 random steps: the replay includes a thousand updates."""


def shipped_archive() -> Path:
    if not (SHIPPED / "manifest.json").exists():
        pytest.skip("no archive in this checkout")
    return SHIPPED


def test_the_shipped_archive_is_intact():
    from rlrepro.archive.store import Archive

    assert Archive(shipped_archive()).verify() == []


def test_no_shipped_run_is_stale():
    """The archive comes from the final code: no archived run's code (its kind's source files, fingerprinted when
    it ran) has changed since. A change that fails this re-produces the runs it names, or says why not."""
    from rlrepro.archive.store import stale_files

    stale = {}
    for run_dir in replay.archived_runs(shipped_archive()):
        changed = stale_files(json.loads((run_dir / runstore.META).read_text()))
        if changed:
            stale.setdefault(tuple(changed), []).append(run_dir.relative_to(SHIPPED / "runs").as_posix())
    assert not stale, "; ".join(f"{len(runs)} runs (e.g. {runs[0]}) stale by {', '.join(files)}"
                                for files, runs in stale.items())


def test_a_sample_of_the_shipped_archive_replays_bit_identically(one_torch_thread):
    """One run of each CPU-trained kind in the archive, re-run to its first row at or after 2000 steps."""
    sample = replay.sample_runs(shipped_archive(), per_kind=1, seed=0)
    results = [replay.replay_prefix(run_dir, SHIPPED_MIN_STEPS) for run_dir in sample]
    elsewhere = [f"{r.run}: {r.reason}" for r in results if r.outcome in (replay.NOT_COMPARABLE,
                                                                            replay.UNKNOWN_PLATFORM)]
    if elsewhere:
        pytest.skip("archived on another platform, not bit-comparable here: " + "; ".join(elsewhere))
    assert [(r.run, r.outcome, r.difference) for r in results] == [(r.run, replay.IDENTICAL, None) for r in results]
    kinds = {json.loads((d / runstore.META).read_text())["spec"]["kind"] for d in replay.archived_runs(SHIPPED)}
    assert {r.kind for r in results} == kinds - {"atari"}


def test_a_deliberately_changed_agent_fails_on_the_shipped_archive(tmp_path):
    """MIRL's prior update (eq. 7) changed in the last digits: the archived MIRL run no longer replays."""
    run_dir = shipped_archive() / "runs/mirl/mirl/corridor/seed0"
    if not run_dir.exists():
        pytest.skip("the archive holds no MIRL tabular run")
    source = tmp_path / "src"
    shutil.copytree(REPO / "src", source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    soft = source / "rlrepro/mirl/soft.py"
    original = "return (1.0 - alpha_rho) * rho + alpha_rho * pi_s"
    assert original in soft.read_text()
    soft.write_text(soft.read_text().replace(original, "return (1.0 - alpha_rho) * rho + alpha_rho * pi_s * 1.0001"))
    out = tmp_path / "check.csv"
    result = subprocess.run([sys.executable, "-m", "rlrepro.archive.replay", "--min-steps", str(SHIPPED_MIN_STEPS),
                             "--out", str(out), str(run_dir)],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(source)}, cwd=tmp_path)
    [row] = list(csv.DictReader(out.open()))
    assert row["code_changed"] == "rlrepro/mirl/soft.py"
    assert row["first_difference"], row  # found on any platform; only a comparable one makes it a failure
    if row["outcome"] == replay.NOT_COMPARABLE:
        return
    assert result.returncode == 1, result.stdout + result.stderr
    assert row["outcome"] == "differs"
