"""workflow/scripts/unlock_stale.sh (run by reproduce.sh): a killed pipeline's lock does not block the rerun."""

import subprocess
import sys

from conftest import REPO, activated_env, copy_workflow

SCRIPT = "workflow/scripts/unlock_stale.sh"


def fake_lock(work):
    """A lock as a killed `snakemake` leaves it: the run's inputs and outputs, relative to the directory."""
    locks = work / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("report/report.tex\n")
    (locks / "0.output.lock").write_text("results/runs/mirl/ql/corridor/seed0/meta.json\nreport/report.pdf\n")
    return locks


def unlocked(locks) -> bool:
    return not locks.exists() or not any(locks.iterdir())


def test_a_stale_lock_is_unlocked_with_a_message(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    locks = fake_lock(work)
    refused = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "config/smoke.yaml"],
                             cwd=work, capture_output=True, text=True, env=activated_env())
    assert refused.returncode != 0 and "Directory cannot be locked" in refused.stdout + refused.stderr
    result = subprocess.run(["bash", SCRIPT], cwd=work, capture_output=True, text=True, env=activated_env())
    assert result.returncode == 0, result.stderr
    assert "is stale (no Snakemake process of this directory is alive" in result.stderr
    assert unlocked(locks)


def test_no_lock_is_a_silent_no_op(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    result = subprocess.run(["bash", SCRIPT], cwd=work, capture_output=True, text=True, env=activated_env())
    assert (result.returncode, result.stderr) == (0, "")


def test_a_live_snakemake_of_the_directory_keeps_its_lock(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    locks = fake_lock(work)
    result, pid = unlock_while_snakemake_runs_in(work, work)
    assert result.returncode == 1
    assert f"error: Snakemake is running in {work.resolve()} (pid {pid})" in result.stderr
    assert sorted(p.name for p in locks.iterdir()) == ["0.input.lock", "0.output.lock"]
    # Elsewhere, a live Snakemake of another directory does not count.
    result, _ = unlock_while_snakemake_runs_in(tmp_path, work)
    assert result.returncode == 0, result.stderr
    assert unlocked(locks)


def unlock_while_snakemake_runs_in(directory, work):
    """(result of the unlock script in ``work``, pid) while a process whose argv[0] is "snakemake"
    runs with ``directory`` as its working directory."""
    live = subprocess.Popen(["snakemake", "120"], executable="sleep", cwd=directory)
    try:
        return subprocess.run(["bash", SCRIPT], cwd=work, capture_output=True, text=True, env=activated_env()), live.pid
    finally:
        live.kill()
        live.wait()


def test_reproduce_unlocks_a_stale_lock_before_running_snakemake():
    lines = (REPO / "workflow/scripts/reproduce.sh").read_text().splitlines()
    unlock = next(i for i, line in enumerate(lines) if line.startswith(f"bash {SCRIPT}"))
    run = next(i for i, line in enumerate(lines) if line.startswith("snakemake "))
    assert lines.index("source .venv/bin/activate") < unlock < run
