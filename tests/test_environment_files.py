"""The pinned install: requirements.lock pins everything; pyproject and envs/ agree with it."""

import re
import tomllib

import yaml
from packaging.requirements import Requirement

from conftest import REPO


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


def test_python_conda_envs_install_the_lock():
    for name in ("train", "analysis"):
        env = yaml.safe_load((REPO / f"envs/{name}.yaml").read_text())
        deps = env["dependencies"]
        assert "python=3.11" in deps
        pip = next(d["pip"] for d in deps if isinstance(d, dict))
        assert "-r ../requirements.lock" in pip


def test_every_rule_has_a_conda_env_that_exists():
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        text = smk.read_text()
        rules = re.findall(r"^rule (\w+):", text, flags=re.M)
        envs = re.findall(r'conda:\s*\n\s*"([^"]+)"', text)
        assert len(envs) == len(rules), f"{smk.name}: every rule needs a conda env"
        for env in envs:
            assert (smk.parent / env).resolve().exists(), f"{smk.name}: {env} missing"
