"""Pre-flight check of a SLURM site, run by the workflow before it submits anything.

The SLURM executor plugin reports a rejected submission only once jobs are submitted, and for
batched (grouped) jobs Snakemake drops sbatch's message. So a profile asking for a partition or a
GPU type the cluster lacks, or run where there is no SLURM, is stopped here, naming the setting.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

SLURM_COMMANDS = ("sbatch", "squeue", "sinfo", "scancel")


class ClusterError(RuntimeError):
    """The SLURM site cannot run what the config and profile ask for."""


def read_partitions(run: Callable[[list[str]], str] | None = None) -> dict[str, set[str]]:
    """Partition name -> the generic resources (e.g. ``gpu:a100:4``) of its nodes, from sinfo."""
    run = run or _run
    partitions: dict[str, set[str]] = {}
    for line in run(["sinfo", "--noheader", "--format=%R %G"]).splitlines():
        if not line.strip():
            continue
        name, _, gres = line.strip().partition(" ")
        partitions.setdefault(name, set()).update(g for g in gres.split(",") if g and g != "(null)")
    return partitions


def default_partition(run: Callable[[list[str]], str] | None = None) -> str | None:
    run = run or _run
    for line in run(["sinfo", "--noheader", "--format=%P"]).splitlines():
        if line.strip().endswith("*"):
            return line.strip().rstrip("*")
    return None


def has_gpu(gres: set[str], model: str) -> bool:
    """Whether a partition's gres offers GPUs (of ``model``, when given): gpu, gpu:N, gpu:model:N."""
    for entry in gres:
        parts = entry.split("(")[0].split(":")
        if parts[0] != "gpu":
            continue
        if not model or (len(parts) >= 3 and parts[1] == model):
            return True
    return False


def check_site(partition: str, gpu_partition: str, gpu_model: str, needs_gpus: bool,
               run: Callable[[list[str]], str] | None = None) -> None:
    """Raise ClusterError naming the setting when the cluster cannot take the jobs as configured.

    ``partition``/``gpu_partition``/``gpu_model`` are the resolved `cluster` settings ('' = default).
    """
    if run is None and (missing := [c for c in SLURM_COMMANDS if shutil.which(c) is None]):
        raise ClusterError(
            f"a SLURM profile was selected but this machine has no SLURM client ({', '.join(missing)} not on PATH). "
            "Run from a SLURM submit host, or locally with --workflow-profile workflow/profiles/default.")
    partitions = read_partitions(run)
    if not partitions:
        raise ClusterError("sinfo lists no partitions: is slurmctld reachable (check SLURM_CONF / scontrol ping)?")
    available = ", ".join(sorted(partitions))
    for key, name in (("partition", partition), ("gpu_partition", gpu_partition if needs_gpus else "")):
        if name and name not in partitions:
            raise ClusterError(f"cluster.{key} (or RLREPRO_SLURM_{key.upper()}) is {name!r}, "
                               f"which this cluster lacks; its partitions: {available}")
    if not needs_gpus:
        return
    target = gpu_partition or partition or default_partition(run)
    gres = partitions.get(target, set()) if target else set().union(*partitions.values())
    if not has_gpu(gres, gpu_model):
        wanted = f"GPUs of type {gpu_model!r} (cluster.gpu_model / RLREPRO_SLURM_GPU_MODEL)" if gpu_model else "GPUs"
        offered = ", ".join(sorted(gres)) or "no generic resources"
        raise ClusterError(f"device is cuda, so training jobs request {wanted}, but partition {target!r} offers "
                           f"{offered}. Set cluster.gpu_partition, or use workflow/profiles/slurm (CPU).")


def _run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise ClusterError(f"`{' '.join(command)}` failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout
