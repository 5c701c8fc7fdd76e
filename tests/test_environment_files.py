"""The pinned install: requirements.lock pins everything; pyproject and envs/ agree with it."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

from conftest import REPO
from rlrepro.core.kinds import KINDS


def lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"requirements.lock: {line!r} is not an exact pin"
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_lock_pins_every_direct_dependency_within_its_range():
    pins = lock()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        req = Requirement(spec)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{req.name} missing from requirements.lock"
        assert req.specifier.contains(pins[name]), f"{req.name}=={pins[name]} violates {req.specifier}"


def test_lock_has_the_versions_the_issue_requires():
    pins = lock()
    assert pins["torch"] == "2.13.0"
    assert int(pins["pandas"].split(".")[0]) < 3
    assert "opencv-python-headless" in pins
    assert "snakemake-executor-plugin-slurm" in pins and "snakemake-executor-plugin-slurm-jobstep" in pins


def pip_section(name: str) -> list[str]:
    deps = yaml.safe_load((REPO / f"envs/{name}.yaml").read_text())["dependencies"]
    assert "python=3.11" in deps, f"envs/{name}.yaml: python must be 3.11 like the lock"
    return next(d["pip"] for d in deps if isinstance(d, dict))


def test_python_conda_envs_install_exactly_the_lock():
    for name in ("train", "train-cuda", "analysis"):
        pip = pip_section(name)
        assert "-r ../requirements.lock" in pip
        # no pin of their own that could drift from the lock
        assert [line for line in pip if re.match(r"^[A-Za-z0-9_.-]+\s*[=<>~!]", line)] == []


def test_cpu_env_takes_the_cpu_build_of_torch_and_cuda_env_the_cuda_build():
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip_section("train")
    # PyPI's Linux wheel of torch is the CUDA build: the CUDA env must not point at the CPU index
    assert not any("whl/cpu" in line for line in pip_section("train-cuda"))


def rule_conda_envs(device: str) -> dict[str, str | None]:
    """Rule name -> its conda env file (repository path; None if it has none), with the config's device set."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=REPO / "Snakefile",
                                config_settings=ConfigSettings(config={"device": device}), workdir=REPO)
        rules = [rule for rule in workflow._workflow.rules if rule.shellcmd is not None]  # not `rule all`
        return {rule.name: rule.conda_env and str((REPO / "workflow/rules" / str(rule.conda_env)).resolve())
                for rule in rules}


def test_train_rule_env_follows_the_device_the_profile_sets():
    gpu_profile = yaml.safe_load((REPO / "workflow/profiles/slurm-gpu/config.yaml").read_text())
    assert gpu_profile["config"] == ["device=cuda"]
    for device, env in (("cpu", "envs/train.yaml"), ("cuda", "envs/train-cuda.yaml")):
        assert rule_conda_envs(device)["train"] == str((REPO / env).resolve())


def test_gpu_profile_is_the_cpu_profile_plus_the_device():
    cpu = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    gpu = yaml.safe_load((REPO / "workflow/profiles/slurm-gpu/config.yaml").read_text())
    assert gpu.pop("config") == ["device=cuda"]
    assert gpu == cpu
    assert cpu["executor"] == "slurm" and cpu["slurm-status-command"] == "squeue"


def test_every_rule_has_a_conda_env_that_exists():
    for device in ("cpu", "cuda"):
        envs = rule_conda_envs(device)
        assert {f"figures_{kind}" for kind in KINDS} <= set(envs)  # one figure rule per registered kind
        for rule, env in envs.items():
            assert env is not None, f"rule {rule} needs a conda env"
            assert Path(env).exists(), f"rule {rule}: {env} missing"
