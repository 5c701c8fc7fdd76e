"""What a run's numbers depend on, recorded in its ``meta.json``: the code and the platform.

* :func:`code_fingerprint`: the SHA-256 of every package source file a kind's training module imports,
  directly or through other package modules (its agent, losses, environment and loop). A run whose
  files' hashes differ from today's was produced by code that has changed since (a *stale* run).
* :func:`platform_identity`: what bit-identical re-runs need to be equal (CPU instruction set, Python
  and the numerical libraries). Two runs of one spec on equal platforms give identical metrics.

Torch-free: the closure is read from the sources' import statements, not by importing them.
"""

from __future__ import annotations

import ast
import hashlib
import platform
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
"""``src/rlrepro``: file paths in a fingerprint are relative to its parent (``rlrepro/...``)."""

NUMERIC_PACKAGES = ("numpy", "torch", "gymnasium", "mujoco", "ale-py", "numba", "llvmlite", "opencv-python-headless")
"""The libraries whose versions a run's numbers depend on."""


def module_file(module: str) -> Path:
    """The source file of a package module given its dotted name."""
    relative = Path(*module.split(".")[1:])
    package = PACKAGE_ROOT / relative / "__init__.py"
    return package if package.exists() else (PACKAGE_ROOT / relative).with_suffix(".py")


def _imported_modules(path: Path) -> set[str]:
    """The ``rlrepro`` modules ``path`` imports (``from rlrepro.x import y`` counts ``rlrepro.x.y`` when that
    is a module, else ``rlrepro.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("rlrepro.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("rlrepro"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if module_file(candidate).exists() else node.module)
    return {name for name in found if name != "rlrepro" and module_file(name).exists()}


@cache
def code_files(module: str) -> tuple[str, ...]:
    """``module`` and every package module it imports, transitively: dotted names, sorted."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imported_modules(module_file(name)))
    return tuple(sorted(seen))


@cache
def code_fingerprint(module: str) -> dict:
    """``{"files": {path: sha256}, "sha256": digest of them all}`` for the code a training module runs (hashed once
    per process; treat the result as read-only)."""
    files = {}
    for name in code_files(module):
        path = module_file(name)
        files[path.relative_to(PACKAGE_ROOT.parent).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256("".join(f"{p} {h}\n" for p, h in sorted(files.items())).encode()).hexdigest()
    return {"files": files, "sha256": digest}


def changed_files(recorded: dict, current: dict) -> list[str]:
    """The files whose hash differs between two code fingerprints (added or removed files included)."""
    old, new = recorded.get("files", {}), current.get("files", {})
    return sorted(path for path in set(old) | set(new) if old.get(path) != new.get(path))


@cache
def platform_identity() -> dict:
    """CPU and library identity: runs are bit-identical across machines where this is equal."""
    flags, model = "", ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text().splitlines()
        flag_line = next((ln for ln in lines if ln.startswith("flags")), "")
        flags = " ".join(sorted(f for f in flag_line.split() if f.startswith(("avx", "fma", "amx"))))
        model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")
    versions = {}
    for name in NUMERIC_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {"machine": platform.machine(), "cpu_model": model or platform.processor(), "cpu_flags": flags,
            "python": platform.python_version(), "versions": versions}


def comparable_platforms(a: dict, b: dict) -> list[str]:
    """What differs between two platform identities that bit-identity needs (the CPU model name does not
    matter, its instruction set does); empty when runs on them should be identical."""
    differences = [key for key in ("machine", "cpu_flags", "python") if a.get(key) != b.get(key)]
    versions_a, versions_b = a.get("versions", {}), b.get("versions", {})
    differences += [name for name in sorted(set(versions_a) | set(versions_b))
                    if versions_a.get(name) != versions_b.get(name)]
    return differences
