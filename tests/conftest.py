import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rlrepro.core.config import load_config, validate_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def smoke_config() -> dict:
    config = load_config(REPO / "config/config.yaml", REPO / "config/smoke.yaml")
    validate_config(config)
    return config


def copy_workflow(dest: Path) -> Path:
    """The repository's tracked and new (non-ignored) files, without results, copied to ``dest``."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def activated_env() -> dict:
    """Environment of an activated virtualenv: the rules' `python` is the interpreter running the tests."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def smoke_workflow(tmp_path_factory) -> Path:
    """The whole DAG of config/smoke.yaml run locally in a copy of the repository (shared by the tests)."""
    if shutil.which("latexmk") is None or shutil.which("pdftotext") is None:
        pytest.fail("latexmk and pdftotext are required (workflow/scripts/setup.sh installs them)")
    work = copy_workflow(tmp_path_factory.mktemp("smoke"))
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/smoke.yaml"],
                            cwd=work, capture_output=True, text=True, env=activated_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work


@pytest.fixture
def one_torch_thread():
    """One intra-op thread: on a 2-core machine with anything else running, two OpenMP threads make each
    update ~100x slower (measured: 3 ms -> 280 ms per SAC update). Restores torch's global settings."""
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)
