"""The workflow on a real single-node SLURM (tests/local_slurm.py), through workflow/profiles/slurm.

Needs Debian's slurm-wlm and munge and root (to start slurmd); workflow/scripts/test.sh installs
them. Skipped where they are missing, unless RLREPRO_REQUIRE_SLURM=1 (CI sets it), then failed.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import activated_env, copy_workflow
from local_slurm import LocalSlurm, missing_binaries

pytestmark = pytest.mark.slow

SMOKE = ("--configfile", "config/smoke.yaml")


@pytest.fixture(scope="module")
def cluster():
    reason = ""
    if missing := missing_binaries():
        reason = f"SLURM is not installed ({', '.join(missing)} missing; apt-get install slurm-wlm munge)"
    elif os.getuid() != 0:
        reason = "starting slurmd needs root"
    if reason:
        if os.environ.get("RLREPRO_REQUIRE_SLURM") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with LocalSlurm() as slurm:
        yield slurm


def on_slurm(cluster, work: Path, *args: str, profile: str = "slurm", env: dict | None = None, **popen):
    """snakemake with a SLURM profile (first status check after 1 s instead of 40, for test speed)."""
    command = [sys.executable, "-m", "snakemake", *args, "--profile", f"workflow/profiles/{profile}",
               "--slurm-init-seconds-before-status-checks", "1"]
    environment = cluster.env(activated_env())
    environment.update(env or {})
    if popen.pop("background", False):
        return subprocess.Popen(command, cwd=work, env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, cwd=work, env=environment, capture_output=True, text=True, timeout=900)


def metrics_files(work: Path) -> dict[str, bytes]:
    runs = work / "results/runs"
    return {str(path.relative_to(runs)): path.read_bytes() for path in sorted(runs.rglob("metrics.csv"))}


def squeue_ids(cluster) -> list[str]:
    out = subprocess.run(["squeue", "--noheader", "--format=%i"], env=cluster.env(), capture_output=True,
                         text=True, check=True).stdout
    return out.split()


def test_smoke_workflow_on_slurm_equals_the_local_run(cluster, smoke_workflow, tmp_path):
    work = copy_workflow(tmp_path)
    result = on_slurm(cluster, work, *SMOKE)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (work / "report/report.pdf").stat().st_size > 10_000

    on_cluster, local = metrics_files(work), metrics_files(smoke_workflow)
    n_tabular, n_other = smoke_run_counts(work)
    assert on_cluster.keys() == local.keys() and len(local) == n_tabular + n_other
    assert [name for name in local if on_cluster[name] != local[name]] == []
    for paper in ("mirl", "epmd"):
        pd.testing.assert_frame_equal(pd.read_csv(work / f"results/aggregate/{paper}/final.csv"),
                                      pd.read_csv(smoke_workflow / f"results/aggregate/{paper}/final.csv"))

    # The jobs really went through sbatch: the tabular runs batched into one group job, the others one each.
    submitted = re.findall(r"submitted with SLURM jobid \d+ \(log: \S+/slurm_logs/(\w+)/",
                           result.stdout + result.stderr)
    assert 1 < n_tabular <= 50 and submitted.count("group_train_tabular_train") == 1  # 50 to a job (profile)
    assert submitted.count("rule_train") == n_other


def smoke_run_counts(work: Path) -> tuple[int, int]:
    """(tabular runs, other runs) that config/smoke.yaml asks for."""
    from rlrepro.core.config import find_experiment, iter_runs, load_config

    config = load_config(work / "config/config.yaml", work / "config/smoke.yaml")
    kinds = [find_experiment(config, r["paper"], r["algo"], r["env"])[1]["kind"] for r in iter_runs(config)]
    return kinds.count("tabular"), len(kinds) - kinds.count("tabular")


def test_cancelled_training_job_resumes_from_its_checkpoint(cluster, tmp_path):
    work = copy_workflow(tmp_path / "slurm")
    (work / "config/long.yaml").write_text(
        "experiments:\n  epmd_pendulum:\n    budget: {total_steps: 4000, eval_interval: 1000, eval_episodes: 1,"
        " checkpoint_interval: 200}\n")
    target = "results/runs/epmd/sac/Pendulum-v1/seed0"
    args = (f"{target}/meta.json", "--configfile", "config/smoke.yaml", "config/long.yaml")

    snakemake = on_slurm(cluster, work, *args, background=True)
    deadline = time.monotonic() + 180
    while not (work / target / "checkpoint.pkl").exists():
        assert snakemake.poll() is None and time.monotonic() < deadline, "no checkpoint before the job ended"
        time.sleep(0.2)
    (job,) = squeue_ids(cluster)
    subprocess.run(["scancel", job], env=cluster.env(), check=True)
    output, _ = snakemake.communicate(timeout=600)
    assert snakemake.returncode == 0, output[-3000:]
    assert "CANCELLED" in output and "Trying to restart job" in output

    meta = json.loads((work / target / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["resumed_from_step"] > 0

    uninterrupted = copy_workflow(tmp_path / "local")
    (uninterrupted / "config/long.yaml").write_text((work / "config/long.yaml").read_text())
    local = subprocess.run([sys.executable, "-m", "snakemake", *args, "--cores", "1"], cwd=uninterrupted,
                           env=activated_env(), capture_output=True, text=True)
    assert local.returncode == 0, local.stderr[-3000:]
    assert (work / target / "metrics.csv").read_bytes() == (uninterrupted / target / "metrics.csv").read_bytes()


def test_failed_job_exits_nonzero_and_is_never_aggregated(cluster, tmp_path):
    work = copy_workflow(tmp_path)
    (work / "config/small.yaml").write_text("experiments:\n  epmd_pendulum: {seeds: 1}\n  epmd_mujoco: {seeds: 1}\n")
    broken = work / "results/runs/epmd/sac/Pendulum-v1/seed0"
    broken.mkdir(parents=True)
    (broken / "checkpoint.pkl").write_bytes(b"not a checkpoint")  # outside damage: every attempt fails

    result = on_slurm(cluster, work, "results/aggregate/epmd/final.csv", "--configfile", "config/smoke.yaml",
                      "config/small.yaml", "--retries", "0")  # retrying a broken run only costs time here
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error in rule train" in output and "wildcards: paper=epmd, algo=sac, env=Pendulum-v1, seed=0" in output
    assert not (broken / "meta.json").exists()
    assert not (work / "results/aggregate/epmd").exists()
    assert (work / "results/runs/epmd/pmac/Pendulum-v1/seed0/meta.json").exists()  # --keep-going: the rest ran


@pytest.mark.parametrize(("profile", "env", "message"), [
    ("slurm", {"RLREPRO_SLURM_PARTITION": "nosuch"}, "cluster.partition (or RLREPRO_SLURM_PARTITION) is 'nosuch'"),
    ("slurm-gpu", {"RLREPRO_SLURM_GPU_MODEL": "h100"}, "GPUs of type 'h100' (cluster.gpu_model"),
    ("slurm-gpu", {}, "device is cuda, so training jobs request GPUs"),
])
def test_profile_asking_for_what_the_cluster_lacks_stops_before_submitting(cluster, tmp_path, profile, env, message):
    work = copy_workflow(tmp_path)
    result = on_slurm(cluster, work, *SMOKE, profile=profile, env=env)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert squeue_ids(cluster) == []
    assert not (work / "results/runs").exists()
