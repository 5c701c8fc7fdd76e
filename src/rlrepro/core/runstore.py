"""The run directory contract (design.md, "Contracts between stages").

A run directory holds

* ``metrics.csv``  one row per evaluation snapshot (``step`` first);
* ``meta.json``    the resolved run spec, seed, git commit, package versions, host, device, wall
  time, status (``completed`` or ``diverged``), the SHA-256 of ``metrics.csv``, and (since the
  archive) the fingerprint of the code and platform that produced it (:mod:`rlrepro.core.fingerprint`);
* ``checkpoint.pkl`` while the run is in progress (removed once it completes).

``meta.json`` is written last and atomically, so a directory without it is an unfinished run.
:func:`read_run` refuses anything that does not satisfy the contract, naming the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import pickle
import platform
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

METRICS = "metrics.csv"
META = "meta.json"
CHECKPOINT = "checkpoint.pkl"
STATUSES = ("completed", "diverged")
REQUIRED_META = ("spec", "status", "metrics_sha256", "n_rows", "git_commit", "versions", "host", "wall_time_s")
TRACKED_PACKAGES = ("rlrepro", "numpy", "gymnasium", "torch", "pandas", "snakemake", "rliable")


class CorruptRun(Exception):
    """A run directory that breaks the contract; the message names the offending file."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def metrics_to_csv(rows: list[dict]) -> bytes:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    return buf.getvalue().encode()


def cpu_copy(obj):
    """A checkpointable copy of a (nested dict/list of) state: tensors detached, moved to the CPU and cloned."""
    if hasattr(obj, "detach"):  # a torch tensor (checked by duck type: tabular runs never import torch)
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [cpu_copy(v) for v in obj]
    return obj


def save_checkpoint(run_dir: Path, state) -> None:
    write_atomic(Path(run_dir) / CHECKPOINT, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


def load_checkpoint(run_dir: Path):
    """The saved training state, or None when the run has no checkpoint."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    try:
        return pickle.loads(path.read_bytes())
    except Exception as err:  # a checkpoint is written atomically, so this means outside damage
        raise CorruptRun(f"{path}: unreadable checkpoint ({err}); delete it to restart the run") from err


def finish_run(run_dir: Path, rows: list[dict], meta: dict) -> None:
    """Write metrics then meta (the completion marker), both atomically; drop the checkpoint."""
    run_dir = Path(run_dir)
    data = metrics_to_csv(rows)
    write_atomic(run_dir / METRICS, data)
    meta = {**meta, "metrics_sha256": hashlib.sha256(data).hexdigest(), "n_rows": len(rows)}
    write_atomic(run_dir / META, json.dumps(meta, indent=2, sort_keys=True, default=str).encode())
    (run_dir / CHECKPOINT).unlink(missing_ok=True)


def read_run(run_dir: Path) -> tuple[dict, list[dict]]:
    """Return (meta, metrics rows) of a finished run, or raise :class:`CorruptRun`."""
    run_dir = Path(run_dir)
    meta_path, metrics_path = run_dir / META, run_dir / METRICS
    if not meta_path.exists():
        raise CorruptRun(f"{meta_path}: missing; the run did not finish")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptRun(f"{meta_path}: not valid JSON ({err})") from err
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise CorruptRun(f"{meta_path}: missing keys {missing}")
    if meta["status"] not in STATUSES:
        raise CorruptRun(f"{meta_path}: status {meta['status']!r} is not one of {STATUSES}")
    if not metrics_path.exists():
        raise CorruptRun(f"{metrics_path}: missing")
    data = metrics_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["metrics_sha256"]:
        raise CorruptRun(f"{metrics_path}: content does not match the checksum in {META} (truncated or edited)")
    rows = [{k: parse_value(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(data.decode()))]
    if len(rows) != meta["n_rows"]:
        raise CorruptRun(f"{metrics_path}: {len(rows)} rows, {META} says {meta['n_rows']}")
    return meta, rows


def parse_value(value: str):
    """One metrics.csv cell: int, float, or nan for an empty cell."""
    if value == "":
        return math.nan
    try:
        return int(value)
    except ValueError:
        return float(value)


def git_commit(cwd: Path | None = None) -> str:
    """HEAD's commit, suffixed '-dirty' when tracked files differ; 'unknown' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True,
                               text=True, check=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def host_info() -> dict[str, str | int]:
    return {"node": platform.node(), "platform": platform.platform(), "machine": platform.machine(),
            "cpus": os.cpu_count() or 0}
