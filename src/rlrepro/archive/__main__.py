"""``python -m rlrepro.archive {add,verify,summary,restore}``: see :mod:`rlrepro.archive.store`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rlrepro.archive.store import Archive, ArchiveError, run_name
from rlrepro.core.config import ConfigError

DEFAULT_ROOT = Path("archive")


def expand_run_dirs(paths: list[Path]) -> list[Path]:
    """Run directories as given, and every finished run (a meta.json) below a folder that is not one."""
    found = []
    for path in paths:
        if (path / "meta.json").exists() or not path.is_dir():
            found.append(path)
        else:
            found.extend(sorted(meta.parent for meta in path.rglob("meta.json")))
    return found


def markdown_table(rows: list[dict]) -> str:
    lines = ["| set | experiment | runs | algorithms | envs | steps per run | scale | core-hours | commit | CPU |",
             "|---|---|--:|--:|--:|--:|---|--:|---|---|"]
    for r in rows:
        scale = "below paper scale" if r["below_paper_scale"] else "paper scale"
        lines.append(f"| {r['set']} | {r['experiment']} | {r['runs']} | {r['algos']} | {r['envs']} | {r['steps']:,} | "
                     f"{scale} | {r['core_hours']:.2f} | {r['commits']} | {r['cpu']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlrepro.archive", description=__doc__.split(":")[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ROOT, help="archive directory (default: archive)")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="check finished runs against the contract and their config, archive them")
    add.add_argument("--set", required=True, help="the set the runs belong to (one config per set)")
    add.add_argument("--config", action="append", required=True,
                     help="the config files the runs came from, in the order they were layered")
    add.add_argument("--description", default="")
    add.add_argument("--replace", action="store_true", help="overwrite archived runs whose results differ")
    add.add_argument("run_dirs", nargs="+", type=Path,
                     help="run directories, or folders holding them (e.g. results/runs: every finished run below)")
    commands.add_parser("verify", help="check every checksum, identity and the size limit")
    summary = commands.add_parser("summary", help="what the archive holds, per set and experiment")
    summary.add_argument("--markdown", action="store_true", help="a Markdown table (README) instead of JSON lines")
    restore = commands.add_parser("restore", help="copy an archived run into a run directory (the pipeline's rule)")
    restore.add_argument("--spec", required=True, help="the configured run's spec (JSON); must be the archived run")
    restore.add_argument("--to", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        archive = Archive(args.archive)
        if args.command == "add":
            run_dirs = expand_run_dirs(args.run_dirs)
            added = archive.add(run_dirs, args.set, args.config, args.description, args.replace)
            print(f"{args.archive}: {len(added)} runs added to set {args.set!r}, "
                  f"{len(run_dirs) - len(added)} archived already", file=sys.stderr)
        elif args.command == "verify":
            problems = archive.verify()
            for problem in problems:
                print(problem, file=sys.stderr)
            print(f"{args.archive}: {len(archive.runs)} runs, {archive.size_bytes() / 2**20:.1f} MB, "
                  f"{len(problems)} problems", file=sys.stderr)
            return 1 if problems else 0
        elif args.command == "summary":
            rows = archive.summary()
            print(markdown_table(rows) if args.markdown else "\n".join(json.dumps(row) for row in rows))
        else:
            spec = json.loads(args.spec)
            meta = archive.restore(run_name(spec), args.to, spec)
            stale = meta["archive"]["stale_files"]
            print(f"{args.to}: restored from set {meta['archive']['set']!r}"
                  + (f"; code changed since in {', '.join(stale)}" if stale else ""), file=sys.stderr)
    except (ArchiveError, ConfigError, json.JSONDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
