"""The workflow with the archive: archived runs are restored instead of trained, and `train_missing=False`
builds the report from what exists, listing the rest as missing (on the smoke config, in a copy of the repo)."""

import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from conftest import activated_env, copy_workflow
from rlrepro.archive.store import Archive
from rlrepro.core import runstore

pytestmark = pytest.mark.slow

ARCHIVED_EXPERIMENTS = ("mirl_tabular", "epmd_pendulum")
CONFIGS = ["config/config.yaml", "config/smoke.yaml"]
ARCHIVE_ON = "archive: {use: true, path: archive_test}\n"


def archive_smoke_runs(smoke_workflow, work):
    """An archive in ``work`` holding the smoke workflow's runs of ARCHIVED_EXPERIMENTS; their names."""
    runs = [meta.parent for meta in sorted((smoke_workflow / "results/runs").glob("*/*/*/seed*/meta.json"))
            if json.loads(meta.read_text())["spec"]["experiment"] in ARCHIVED_EXPERIMENTS]
    (work / "archive_on.yaml").write_text(ARCHIVE_ON)
    # a copy of the repository is no git work tree: its runs' commit is 'unknown'
    return Archive(work / "archive_test").add(runs, "smoke", CONFIGS, "smoke runs", allow_uncommitted=True)


def snakemake(work, *args):
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/smoke.yaml",
                           "archive_on.yaml", *args], cwd=work, capture_output=True, text=True, env=activated_env())


@pytest.fixture(scope="module")
def report_only(smoke_workflow, tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("report_only"))
    archived = archive_smoke_runs(smoke_workflow, work)
    result = snakemake(work, "--config", "train_missing=False")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work, archived


def test_archived_runs_are_restored_byte_for_byte_and_nothing_is_trained(report_only, smoke_workflow):
    work, archived = report_only
    assert len(archived) == 9 * 2 * 2 + 4 * 2  # config/smoke.yaml: tabular algos x grids x seeds, Pendulum
    assert not (work / "results/logs/train").exists()
    for name in archived:
        meta, _ = runstore.read_run(work / "results/runs" / name)
        assert meta["archive"]["set"] == "smoke" and meta["archive"]["stale_files"] == []
        trained = (smoke_workflow / "results/runs" / name / runstore.METRICS).read_bytes()
        assert (work / "results/runs" / name / runstore.METRICS).read_bytes() == trained
    runs = pd.read_csv(work / "results/aggregate/mirl/runs.csv")
    assert set(runs.origin) == {"archive:smoke"}


def test_runs_not_archived_are_listed_missing_and_their_claims_inconclusive(report_only, smoke_workflow):
    work, _ = report_only
    missing = pd.concat(pd.read_csv(work / f"results/aggregate/{paper}/missing.csv") for paper in ("mirl", "epmd"))
    trained = pd.read_csv(smoke_workflow / "results/aggregate/epmd/runs.csv")
    expected_epmd = trained[~trained.experiment.isin(ARCHIVED_EXPERIMENTS)]
    assert set(missing.experiment) == {"mirl_atari", "epmd_algorithmic", "epmd_mujoco"}
    assert len(missing[missing.paper == "epmd"]) == len(expected_epmd)
    claims = pd.read_csv(work / "results/aggregate/claims.csv").set_index("id")
    for claim in ("epmd-repmd-beats-ment-urex", "mirl-atari-beats-dqn-sql", "epmd-pmac-beats-td3-ddpg"):
        assert claims.loc[claim, "verdict"] == "inconclusive"
        assert claims.loc[claim, "reason"].startswith("missing data: ")
        assert "were not run" in claims.loc[claim, "reason"]


def test_the_replay_check_ran_and_the_report_says_where_runs_come_from(report_only):
    work, _ = report_only
    check = pd.read_csv(work / "results/aggregate/archive_check.csv")
    assert sorted(check.kind) == ["continuous", "tabular"] and set(check.outcome) == {"identical"}
    text = subprocess.run(["pdftotext", "-layout", str(work / "report/report.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "archive:smoke" in text
    assert re.search(r"runs of epmd_algorithmic that the configuration asks for\s+did not run", text)
    assert re.search(r"re-ran a prefix of 2 archived\s+runs: 2 identical", text)


def test_with_training_only_the_runs_not_archived_are_trained(smoke_workflow, tmp_path):
    work = copy_workflow(tmp_path)
    archived = archive_smoke_runs(smoke_workflow, work)
    result = snakemake(work, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    total = len(pd.read_csv(smoke_workflow / "results/aggregate/mirl/runs.csv")) + len(
        pd.read_csv(smoke_workflow / "results/aggregate/epmd/runs.csv"))
    assert re.search(rf"^restore_archived\s+{len(archived)}$", result.stdout, re.M), result.stdout[-2000:]
    assert re.search(rf"^train\s+{total - len(archived)}$", result.stdout, re.M), result.stdout[-2000:]


@pytest.mark.parametrize("stale", ["use", "retrain"])
def test_a_stale_archived_run_is_used_or_retrained_as_configured(smoke_workflow, tmp_path, stale):
    work = copy_workflow(tmp_path)
    archived = archive_smoke_runs(smoke_workflow, work)
    manifest_path = work / "archive_test/manifest.json"
    manifest = json.loads(manifest_path.read_text())
    stale_runs = [name for name in archived if name.startswith("mirl/")]  # the tabular kind's runs
    assert 0 < len(stale_runs) < len(archived)
    for name in stale_runs:  # as if the tabular code had changed since they ran
        manifest["runs"][name]["code_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    (work / "archive_on.yaml").write_text(f"archive: {{use: true, path: archive_test, stale: {stale}}}\n")
    result = snakemake(work, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    restored = len(archived) - (len(stale_runs) if stale == "retrain" else 0)
    assert re.search(rf"^restore_archived\s+{restored}$", result.stdout, re.M), result.stdout[-2000:]
