"""The archive's contract (rlrepro.archive.store): checksums, identities, the set's config, restore."""

import json
import shutil

import pytest

from rlrepro.archive import store
from rlrepro.archive.__main__ import expand_run_dirs
from rlrepro.archive.__main__ import main as archive_main
from rlrepro.core import runstore
from rlrepro.core.config import load_config, resolve_run
from rlrepro.train import main as train_main

CONFIGS = ["config/config.yaml", "config/smoke.yaml"]


def train(results, algo, env, seed):
    run_dir = results / "mirl" / algo / env / f"seed{seed}"
    configs = [arg for path in CONFIGS for arg in ("--config", path)]
    run = ["--paper", "mirl", "--algo", algo, "--env", env, "--seed", str(seed)]
    assert train_main([*configs, *run, "--run-dir", str(run_dir), "--no-progress"]) == 0
    return run_dir


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    return [train(results, "ql", "corridor", 0), train(results, "mirl", "corridor", 1)]


@pytest.fixture
def archive(tmp_path, trained):
    archive = store.Archive(tmp_path / "archive")
    assert archive.add(trained, "smoke", CONFIGS, "two smoke runs", allow_uncommitted=True) == [
        "mirl/ql/corridor/seed0", "mirl/mirl/corridor/seed1"]
    return archive


def test_added_runs_are_byte_identical_listed_and_verified(archive, trained):
    for run_dir in trained:
        name = "/".join(run_dir.parts[-4:])
        meta, metrics = store.read_archived(archive.run_dir(name))
        assert metrics == (run_dir / runstore.METRICS).read_bytes()
        assert (archive.run_dir(name) / runstore.META).read_bytes() == (run_dir / runstore.META).read_bytes()
        assert archive.runs[name]["metrics_sha256"] == store.sha256_file(run_dir / runstore.METRICS)
        assert store.metrics_rows(metrics) == runstore.read_run(run_dir)[1]
    assert archive.verify() == []
    reread = store.Archive(archive.root)
    assert reread.runs == archive.runs
    (config,) = reread.sets["smoke"]["configs"]
    assert (archive.root / config).exists() and all(entry["config"] == config for entry in reread.runs.values())


def test_adding_the_same_runs_again_adds_nothing(archive, trained):
    assert archive.add(trained, "smoke", CONFIGS, allow_uncommitted=True) == []


def test_an_edited_file_fails_verify_and_is_never_restored(archive, tmp_path):
    name = "mirl/ql/corridor/seed0"
    metrics = archive.run_dir(name) / store.METRICS_XZ
    _, data = store.read_archived(archive.run_dir(name))
    metrics.write_bytes(store.compress(data.replace(b"\n1", b"\n2", 1)))
    problems = archive.verify()
    assert problems and all(name in p or "metrics.csv" in p for p in problems)
    with pytest.raises(store.ArchiveError, match="checksum|does not match"):
        archive.restore(name, tmp_path / "restored")
    assert not (tmp_path / "restored" / runstore.META).exists()


def test_unlisted_runs_and_the_size_limit_are_reported(archive, monkeypatch):
    shutil.copytree(archive.run_dir("mirl/ql/corridor/seed0"), archive.run_dir("mirl/ql/corridor/seed7"))
    assert any("seed7: not in manifest.json" in p for p in archive.verify())
    monkeypatch.setattr(store, "SIZE_LIMIT_BYTES", 1000)
    assert any("above the" in p for p in archive.verify())


def test_restore_marks_the_origin_and_keeps_the_metrics(archive, trained, tmp_path):
    spec = json.loads((trained[1] / runstore.META).read_text())["spec"]
    target = tmp_path / "results" / "mirl/mirl/corridor/seed1"
    assert archive_main(["--archive", str(archive.root), "restore", "--spec", json.dumps(spec), "--to",
                         str(target)]) == 0
    meta, rows = runstore.read_run(target)
    assert meta["archive"]["set"] == "smoke" and meta["archive"]["stale_files"] == []
    assert (target / runstore.METRICS).read_bytes() == (trained[1] / runstore.METRICS).read_bytes()
    assert rows and meta["spec"] == spec


def test_a_run_matches_wherever_it_ran_but_not_with_another_budget(archive, trained):
    spec = json.loads((trained[0] / runstore.META).read_text())["spec"]
    assert archive.match({**spec, "device": "cuda", "config_scale": "paper", "below_paper_scale": False})
    longer = {**spec, "budget": {**spec["budget"], "total_steps": spec["budget"]["total_steps"] * 2}}
    assert archive.match(longer) is None
    config = load_config(*CONFIGS)
    assert archive.match(resolve_run(config, "mirl", "ql", "corridor", 0))
    assert archive.match(resolve_run(load_config("config/config.yaml"), "mirl", "ql", "corridor", 0)) is None


def test_runs_that_break_the_contract_are_refused_before_anything_is_written(tmp_path, trained):
    archive = store.Archive(tmp_path / "archive")
    with pytest.raises(store.ArchiveError, match=r"differs from the set's config in \['budget'\]"):
        archive.add(trained, "default", ["config/config.yaml"], allow_uncommitted=True)
    dirty, old = tmp_path / "dirty", tmp_path / "old"
    for copy, change in ((dirty, {"git_commit": "0123abc-dirty"}), (old, {"code": None})):
        shutil.copytree(trained[0], copy)
        meta = {**json.loads((copy / runstore.META).read_text()), **change}
        (copy / runstore.META).write_text(json.dumps({k: v for k, v in meta.items() if v is not None}))
    with pytest.raises(store.ArchiveError, match="committed code"):
        archive.add([dirty], "smoke", CONFIGS)
    with pytest.raises(store.ArchiveError, match="no code"):
        archive.add([old], "smoke", CONFIGS, allow_uncommitted=True)
    assert not (tmp_path / "archive").exists()
    assert archive_main(["--archive", str(tmp_path / "archive"), "add", "--set", "smoke", "--config",
                         "config/config.yaml", str(old)]) == 2


def test_the_cli_finds_every_finished_run_below_a_folder(tmp_path, trained):
    results = trained[0].parents[3]
    unfinished = results / "mirl/sql/corridor/seed0"
    unfinished.mkdir(parents=True)
    (unfinished / runstore.CHECKPOINT).write_bytes(b"")
    assert expand_run_dirs([results]) == sorted(trained)
    assert expand_run_dirs([trained[1]]) == [trained[1]]
