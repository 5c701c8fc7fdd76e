"""The code and platform fingerprints a run records (rlrepro.core.fingerprint)."""

import json

from rlrepro.core import fingerprint
from rlrepro.core.kinds import KINDS
from rlrepro.train import main as train_main


def test_closure_follows_imports_to_the_equations_and_the_environment():
    tabular = fingerprint.code_files(KINDS["tabular"].module)
    assert {"rlrepro.mirl.tabular", "rlrepro.mirl.soft", "rlrepro.envs.gridworld", "rlrepro.core.loop"} <= set(tabular)
    assert "rlrepro.epmd.losses" not in tabular and "rlrepro.train" not in tabular
    algorithmic = fingerprint.code_files(KINDS["algorithmic"].module)
    assert {"rlrepro.epmd.losses", "rlrepro.mirl.soft", "rlrepro.envs.algorithmic"} <= set(algorithmic)


def test_changed_files_names_edits_additions_and_removals():
    old = {"files": {"a.py": "1", "b.py": "2", "c.py": "3"}}
    new = {"files": {"a.py": "1", "b.py": "X", "d.py": "4"}}
    assert fingerprint.changed_files(old, new) == ["b.py", "c.py", "d.py"]
    assert fingerprint.changed_files(old, old) == []


def test_platform_differences_ignore_the_cpu_name_but_not_its_instruction_set():
    a = fingerprint.platform_identity()
    assert fingerprint.comparable_platforms(a, {**a, "cpu_model": "another name"}) == []
    assert fingerprint.comparable_platforms(a, {**a, "cpu_flags": "avx"}) == ["cpu_flags"]
    other = {**a, "versions": {**a["versions"], "numpy": "0.0"}}
    assert fingerprint.comparable_platforms(a, other) == ["numpy"]


def test_a_run_records_its_code_and_platform(tmp_path):
    run_dir = tmp_path / "run"
    configs = ["--config", "config/config.yaml", "--config", "config/smoke.yaml"]
    run = ["--paper", "mirl", "--algo", "ql", "--env", "corridor", "--seed", "0"]
    assert train_main([*configs, *run, "--run-dir", str(run_dir), "--no-progress"]) == 0
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["code"] == fingerprint.code_fingerprint(KINDS["tabular"].module)
    assert "rlrepro/mirl/soft.py" in meta["code"]["files"]
    assert meta["platform"] == fingerprint.platform_identity()
