"""Run one training job and write its run directory (see :mod:`rlrepro.core.runstore`).

    python -m rlrepro.train --config config/config.yaml --paper mirl --algo mirl --env corridor --seed 0
    python -m rlrepro.train --spec '<json from rlrepro.core.config.resolve_run>' --run-dir DIR

A killed run restarts from its last checkpoint and ends with the same metrics as an uninterrupted
one. A run whose values go non-finite is recorded with status 'diverged' (step and quantity) and
exits 0, so the pipeline and the report can show it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from rlrepro.core import fingerprint, paths, runstore
from rlrepro.core.config import ConfigError, check_spec, resolve_run, validate_config
from rlrepro.core.kinds import KINDS
from rlrepro.core.layers import load_layered_config
from rlrepro.core.loop import Diverged


def default_run_dir(spec: dict) -> Path:
    return Path(paths.run_dir(spec["paper"], spec["algo"], spec["env"], spec["seed"]))


def run(spec: dict, run_dir: Path, progress: bool = True, torch_threads: int | None = None) -> dict:
    """Train (or resume) the run described by ``spec``; returns its meta.json content. ``torch_threads`` (the
    caller has set it) is recorded: a torch run's last bits can depend on it, so a bit-identical replay needs it."""
    check_spec(spec)
    run_dir = Path(run_dir)
    try:
        fit, total_steps, device = KINDS[spec["kind"]].make_trainer(spec)
    except ValueError as err:  # e.g. an environment whose action space the agent cannot handle
        raise ConfigError(str(err)) from err
    code = fingerprint.code_fingerprint(KINDS[spec["kind"]].module)  # hashed before training, as it was imported
    run_dir.mkdir(parents=True, exist_ok=True)
    resume = runstore.load_checkpoint(run_dir)
    started_at = resume.step if resume else 0
    previous_wall = resume.wall_time_s if resume else 0.0
    t0 = time.perf_counter()

    def checkpoint(state):
        state.wall_time_s = previous_wall + time.perf_counter() - t0
        runstore.save_checkpoint(run_dir, state)

    bar = tqdm(total=total_steps, initial=started_at, desc=f"{spec['algo']}/{spec['env']}/seed{spec['seed']}",
               unit="step", file=sys.stderr, mininterval=5, disable=not progress)
    status, divergence = "completed", None
    try:
        rows = fit(resume=resume, on_checkpoint=checkpoint, on_progress=bar.update)
    except Diverged as err:
        status, divergence, rows = "diverged", {"step": err.step, "quantity": err.quantity}, err.rows
        print(f"run diverged: {err}", file=sys.stderr)
    finally:
        bar.close()
    meta = {
        "spec": spec,
        "status": status,
        "divergence": divergence,
        "resumed_from_step": started_at,
        "git_commit": runstore.git_commit(Path(__file__).parent),
        "versions": runstore.package_versions(),
        "host": runstore.host_info(),
        "device": device,
        "torch_threads": torch_threads,
        "code": code,
        "platform": fingerprint.platform_identity(),
        "wall_time_s": previous_wall + time.perf_counter() - t0,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    runstore.finish_run(run_dir, rows, meta)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlrepro.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", help="JSON run spec (what the Snakemake rule passes)")
    parser.add_argument("--config", action="append", help="config YAML; repeat to layer files (later wins)")
    parser.add_argument("--paper")
    parser.add_argument("--algo")
    parser.add_argument("--env")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--run-dir", type=Path, help=f"default: {paths.RUN_DIR}")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1, fastest for these small networks; "
                             "the rule passes its thread count)")
    args = parser.parse_args(argv)
    try:
        if args.spec:
            spec = json.loads(args.spec)
        else:
            missing = [k for k in ("config", "paper", "algo", "env", "seed") if getattr(args, k) is None]
            if missing:
                parser.error(f"without --spec, give {', '.join('--' + m for m in missing)}")
            config = load_layered_config(*args.config)
            validate_config(config)
            spec = resolve_run(config, args.paper, args.algo, args.env, args.seed)
        run_dir = args.run_dir or default_run_dir(spec)
        torch_threads = None
        # tabular jobs never import torch
        if args.threads and spec.get("kind") in KINDS and KINDS[spec["kind"]].uses_torch:
            import torch

            torch.set_num_threads(args.threads)
            torch_threads = torch.get_num_threads()
        meta = run(spec, run_dir, progress=not args.no_progress, torch_threads=torch_threads)
    except (ConfigError, runstore.CorruptRun, json.JSONDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{run_dir}: {meta['status']} in {meta['wall_time_s']:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
