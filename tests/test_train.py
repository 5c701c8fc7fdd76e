import json
import signal
import subprocess
import sys
import time

import pytest

from rlrepro.core import runstore
from rlrepro.core.config import load_config, merge, resolve_run
from rlrepro.train import run


def spec_for(config, algo="mirl", env="left_once", seed=0, **budget):
    spec = resolve_run(config, "mirl", algo, env, seed)
    spec["budget"].update(budget)
    return spec


def test_same_config_and_seed_give_identical_metrics(smoke_config, tmp_path):
    spec = spec_for(smoke_config)
    run(spec, tmp_path / "a", progress=False)
    run(spec, tmp_path / "b", progress=False)
    assert (tmp_path / "a/metrics.csv").read_bytes() == (tmp_path / "b/metrics.csv").read_bytes()
    other = spec_for(smoke_config, seed=1)
    run(other, tmp_path / "c", progress=False)
    assert (tmp_path / "a/metrics.csv").read_bytes() != (tmp_path / "c/metrics.csv").read_bytes()


def test_run_directory_contract(smoke_config, tmp_path):
    spec = spec_for(smoke_config, algo="sql_m", env="corridor")
    meta = run(spec, tmp_path / "r", progress=False)
    saved, rows = runstore.read_run(tmp_path / "r")
    assert saved["status"] == "completed" and meta["status"] == "completed"
    assert saved["spec"] == spec
    assert {"numpy", "gymnasium", "python"} <= set(saved["versions"])
    assert saved["host"]["cpus"] >= 1 and saved["wall_time_s"] > 0
    assert [r["step"] for r in rows] == list(range(100, 2001, 100))
    evaluated = [r["step"] for r in rows if r["eval_return"] == r["eval_return"]]  # not NaN
    # dense snapshots every early_eval_interval steps up to early_eval_until, then every eval_interval
    assert evaluated == list(range(100, 1001, 100)) + list(range(1200, 2001, 200))
    assert not (tmp_path / "r" / runstore.CHECKPOINT).exists()


class Preempted(Exception):
    pass


def test_interrupted_run_resumes_to_identical_metrics(smoke_config, tmp_path, monkeypatch):
    spec = spec_for(smoke_config, total_steps=3000, checkpoint_interval=700)
    run(spec, tmp_path / "full", progress=False)

    calls = {"n": 0}
    real_save = runstore.save_checkpoint

    def save_then_die(run_dir, state):
        real_save(run_dir, state)
        calls["n"] += 1
        if calls["n"] == 2:  # killed right after the second checkpoint (step 1400)
            raise Preempted

    monkeypatch.setattr(runstore, "save_checkpoint", save_then_die)
    with pytest.raises(Preempted):
        run(spec, tmp_path / "cut", progress=False)
    assert not (tmp_path / "cut" / runstore.META).exists()
    monkeypatch.setattr(runstore, "save_checkpoint", real_save)
    meta = run(spec, tmp_path / "cut", progress=False)
    assert meta["resumed_from_step"] == 1400
    assert (tmp_path / "full/metrics.csv").read_bytes() == (tmp_path / "cut/metrics.csv").read_bytes()


def test_killed_process_resumes_to_identical_metrics(smoke_config, tmp_path):
    """A real SIGKILL of `python -m rlrepro.train` after its first checkpoint, then a rerun."""
    spec = spec_for(smoke_config, env="corridor", total_steps=200_000, eval_interval=1000, checkpoint_interval=20_000)
    cmd = [sys.executable, "-m", "rlrepro.train", "--spec", json.dumps(spec), "--no-progress"]
    subprocess.run(cmd + ["--run-dir", str(tmp_path / "full")], check=True, capture_output=True)

    proc = subprocess.Popen(cmd + ["--run-dir", str(tmp_path / "cut")], stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "cut" / runstore.CHECKPOINT
    deadline = time.time() + 60
    while not checkpoint.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "cut" / runstore.META).exists(), "the run finished before it could be killed"

    subprocess.run(cmd + ["--run-dir", str(tmp_path / "cut")], check=True, capture_output=True)
    meta = json.loads((tmp_path / "cut/meta.json").read_text())
    assert meta["resumed_from_step"] > 0
    assert (tmp_path / "full/metrics.csv").read_bytes() == (tmp_path / "cut/metrics.csv").read_bytes()


def test_overflow_is_recorded_as_a_diverged_run(smoke_config, tmp_path):
    config = merge(smoke_config, {"algorithms": {"mirl_naive": {"overrides": {"beta_increment": 0.5}}}})
    spec = spec_for(config, algo="mirl_naive", env="corridor")
    result = subprocess.run([sys.executable, "-m", "rlrepro.train", "--spec", json.dumps(spec), "--no-progress",
                             "--run-dir", str(tmp_path / "r")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    meta, rows = runstore.read_run(tmp_path / "r")
    assert meta["status"] == "diverged"
    assert 0 < meta["divergence"]["step"] < spec["budget"]["total_steps"]
    assert "non-finite" in result.stderr and meta["divergence"]["quantity"]
    assert all(r["step"] <= meta["divergence"]["step"] for r in rows)


def test_stable_form_does_not_diverge_where_naive_does(smoke_config, tmp_path):
    config = merge(smoke_config, {"algorithms": {"mirl_advised": {"overrides": {"beta_increment": 0.5}}}})
    meta = run(spec_for(config, algo="mirl_advised", env="corridor"), tmp_path / "r", progress=False)
    assert meta["status"] == "completed"


def test_a_tabular_job_does_not_import_torch(tmp_path):
    """Importing torch costs about a second, times hundreds of tabular jobs in the default pipeline."""
    spec = resolve_run(load_config("config/config.yaml", "config/smoke.yaml"), "mirl", "mirl", "corridor", 0)
    script = ("import sys\nfrom rlrepro.train import main\nrc = main(sys.argv[1:])\n"
              "assert 'torch' not in sys.modules, 'torch was imported'\nsys.exit(rc)\n")
    result = subprocess.run([sys.executable, "-c", script, "--spec", json.dumps(spec),
                             "--run-dir", str(tmp_path / "run"), "--no-progress"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
