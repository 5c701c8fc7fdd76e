"""Runs whose metrics must not change when code moves: their SHA-256 are pinned in
tests/data/behaviour_hashes.json, together with the smoke workflow's.

    python tests/behaviour_runs.py --record [--smoke-results DIR]   # after a deliberate change of results

The runs go through the training CLI (``python -m rlrepro.train``), the interface that stays fixed.
Bit-identical metrics need the same libraries and the same kind of CPU: the pinned file records both,
and the test says which differs instead of failing on another machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from rlrepro.core.fingerprint import platform_identity

REPO = Path(__file__).resolve().parents[1]
HASHES = REPO / "tests/data/behaviour_hashes.json"
CONFIGS = [REPO / "config/config.yaml", REPO / "tests/data/behaviour.yaml"]

# (paper, algo, env): one or more per experiment kind, the variants whose code differs most.
RUNS = [
    ("mirl", "mirl", "corridor"), ("mirl", "sql_m_prior", "left_once"), ("mirl", "mirl_clip300", "corridor"),
    ("mirl", "ql", "left_once"),
    ("epmd", "pmac", "Pendulum-v1"), ("epmd", "pmac_lp", "Pendulum-v1"), ("epmd", "sac", "Pendulum-v1"),
    ("epmd", "td3", "Hopper-v5"), ("epmd", "ddpg", "Hopper-v5"),
    ("epmd", "repmd", "Copy"), ("epmd", "ment", "ReversedAddition"), ("epmd", "urex", "Reverse"),
    ("mirl", "dqn", "PongNoFrameskip-v4"), ("mirl", "deep_mirl", "PongNoFrameskip-v4"),
]


def run_key(paper: str, algo: str, env: str, seed: int = 0) -> str:
    return f"{paper}/{algo}/{env}/seed{seed}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def environment() -> dict:
    """What bit-identical results depend on besides the code (the keys pinned since before the fingerprint)."""
    identity = platform_identity()
    versions = {pkg: identity["versions"][pkg] for pkg in ("numpy", "numba", "torch", "gymnasium", "mujoco", "ale-py")}
    return {**{key: identity[key] for key in ("machine", "cpu_flags", "python")}, **versions}


def train(out: Path, paper: str, algo: str, env: str, seed: int = 0) -> Path:
    run_dir = out / run_key(paper, algo, env, seed)
    config_args = [arg for path in CONFIGS for arg in ("--config", str(path))]
    subprocess.run([sys.executable, "-m", "rlrepro.train", *config_args, "--paper", paper, "--algo", algo,
                    "--env", env, "--seed", str(seed), "--run-dir", str(run_dir), "--no-progress"],
                   check=True, cwd=REPO, capture_output=True)
    return run_dir / "metrics.csv"


def metrics_hashes(results: Path) -> dict[str, str]:
    """SHA-256 of every metrics.csv under a results/runs directory, keyed paper/algo/env/seedN."""
    return {str(p.parent.relative_to(results)): sha256(p) for p in sorted(results.rglob("metrics.csv"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", required=True)
    parser.add_argument("--smoke-results", type=Path, help="results/runs of a finished smoke workflow")
    parser.add_argument("--out", type=Path, default=Path("/tmp/rlrepro-behaviour"))
    args = parser.parse_args()
    pinned = json.loads(HASHES.read_text()) if HASHES.exists() else {}
    runs = {run_key(*r): sha256(train(args.out, *r)) for r in RUNS}
    pinned.update({"environment": environment(), "runs": runs})
    if args.smoke_results:
        pinned["smoke"] = metrics_hashes(args.smoke_results)
    HASHES.write_text(json.dumps(pinned, indent=1, sort_keys=True) + "\n")
    print(f"{HASHES}: {len(runs)} runs, {len(pinned.get('smoke', {}))} smoke runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
