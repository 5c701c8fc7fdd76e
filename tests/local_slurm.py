"""A real single-node SLURM on localhost, for the cluster tests (and by hand: ``python tests/local_slurm.py``).

Starts munged (unless one is running), slurmctld and slurmd from Debian's ``slurm-wlm`` with a
configuration in a temporary directory and free ports, so it never touches a site's ``/etc/slurm``.
Like many small clusters it has no accounting (no slurmdbd: ``sacct`` fails), and ``MinJobAge`` is
300 s, as the Snakemake SLURM executor's ``squeue`` status command needs (>= 120 s). Clients find it
through the ``SLURM_CONF`` variable of :meth:`LocalSlurm.env`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")

SLURM_CONF = """\
ClusterName=rlrepro-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SlurmctldParameters=enable_configless
MinJobAge=300
SlurmdTimeout=60
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def missing_binaries() -> list[str]:
    return [name for name in DAEMONS if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists()]


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _node_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - 1024  # leave the OS 1 GiB
    raise RuntimeError("no MemTotal in /proc/meminfo")


class LocalSlurm:
    """Context manager: a running single-node cluster with one partition; stops what it started."""

    def __init__(self, partition: str = "debug", cpus: int | None = None):
        if missing := missing_binaries():
            raise RuntimeError(f"SLURM is not installed (missing {', '.join(missing)}): "
                               "apt-get install slurm-wlm munge")
        self.partition = partition
        self.cpus = cpus or os.cpu_count() or 1
        self.root = Path(tempfile.mkdtemp(prefix="rlrepro-slurm-"))
        self.conf = self.root / "slurm.conf"
        self.host = socket.gethostname().split(".")[0]
        self._processes: list[subprocess.Popen] = []
        self._started_munged = False

    def env(self, base: dict | None = None) -> dict:
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        return env

    def __enter__(self) -> LocalSlurm:
        (self.root / "state").mkdir()
        (self.root / "spool").mkdir()
        self.ctld_port = _free_port()
        self.conf.write_text(SLURM_CONF.format(
            host=self.host, ctld_port=self.ctld_port, slurmd_port=_free_port(), root=self.root,
            cpus=self.cpus, memory_mb=_node_memory_mb(), partition=self.partition))
        try:
            self._start_munged()
            self._spawn("slurmctld", "-D", "-i", "-f", str(self.conf))
            # Configless slurmd: it caches the controller's config in /run/slurm/conf, where job
            # steps find it (the executor's job step drops SLURM_CONF from srun's environment).
            self._spawn("slurmd", "-D", "--conf-server", f"{self.host}:{self.ctld_port}", "-N", self.host)
            self._wait_for_idle_node()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if shutil.which("scancel") and self.conf.exists():
            subprocess.run(["scancel", "--full", "--user", str(os.getuid())], env=self.env(),
                           capture_output=True, timeout=30)
        for process in reversed(self._processes):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._started_munged:
            subprocess.run([_binary("munged"), "--stop"], capture_output=True)
            pid_file = Path("/run/munge/munged.pid")
            if pid_file.exists():
                subprocess.run(["kill", pid_file.read_text().strip()], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self, daemon: str = "slurmctld") -> str:
        path = self.root / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _start_munged(self) -> None:
        if MUNGE_SOCKET.exists() and subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode == 0:
            return
        MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        shutil.chown(MUNGE_SOCKET.parent, "munge", "munge")
        command = [_binary("munged")]
        if os.getuid() == 0:
            command = ["runuser", "-u", "munge", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=30)
        self._started_munged = True

    def _spawn(self, daemon: str, *args: str) -> None:
        log = open(self.root / f"{daemon}.stdout", "wb")
        self._processes.append(subprocess.Popen([_binary(daemon), *args], stdout=log, stderr=subprocess.STDOUT,
                                                env=self.env(), start_new_session=True))

    def _wait_for_idle_node(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n"
                                       f"{self.log('slurmctld')[-2000:]}\n{self.log('slurmd')[-2000:]}")
            result = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=self.env(), capture_output=True, text=True)
            state = result.stdout.strip()
            if result.returncode == 0 and state.startswith("idle"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the SLURM node did not become idle in {timeout} s (state {state!r})")


if __name__ == "__main__":
    with LocalSlurm() as cluster:
        print(f"SLURM is up: export SLURM_CONF={cluster.conf}   (Ctrl-C stops it)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
