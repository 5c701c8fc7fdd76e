"""The bit-identical prefix check: re-run the first steps of archived runs and require the same metric rows.

    python -m rlrepro.archive.replay --archive archive --per-kind 1 --min-steps 2000 --seed 0 \\
        --out results/aggregate/archive_check.csv [--kinds tabular algorithmic continuous] [--strict] [RUN_DIR ...]

For each run (a reproducible sample of ``archive/runs``, stratified by kind, or the run directories named) the
archived spec is trained again, unchanged, until the first metrics row at or after ``--min-steps`` steps (the
replay's ``on_progress`` raises :class:`~rlrepro.core.loop.StopEarly`; the run's end when it is shorter), and
those rows are compared with the archived run's first rows. Decisions:

* **What "identical" means.** Every cell as CSV text (:func:`rlrepro.core.runstore.metrics_to_csv`: floats as
  their ``repr``, so equal text is equal bits, and ``nan`` equals ``nan``); a cell a row lacks is empty text.
  Columns are matched by name (their order is not compared) and the number of rows must match too. Columns
  that measure time would be left out (:func:`measures_time`); no loop logs one today (wall time lives in
  ``meta.json`` only).
* **Outcomes.** ``identical``; ``differs`` (the first differing row, column and both values): the code, the
  numerical libraries or the platform now give other numbers than the archive's; ``not comparable``: the
  archived ``platform`` differs from this machine's (:func:`rlrepro.core.fingerprint.comparable_platforms`
  names what: instruction set, Python or a numerical library) or the run trained on a GPU; ``unknown
  platform``: the run predates platform fingerprints. CPU runs are bit-identical only on equal platforms, so
  where the platform differs or is unknown nothing is asserted: the run is still replayed and whether its
  rows came out identical anyway is reported, as information. GPU-trained runs are not replayed at all (their
  kernels are not bit-reproducible, and this machine may have no GPU) and are left out of samples.
* **Code.** Each result names the files whose hash differs between the run's recorded code fingerprint and
  today's (``unknown`` for runs recorded before fingerprints): ``identical`` with changed files is a refactor
  that kept the numbers; ``differs`` with none points at the platform's libraries.
* **Same process.** Runs are replayed one after another in this process with the torch thread count the run
  recorded (``meta.device``; 1, ``rlrepro.train``'s default, when it names none); torch's thread count and
  deterministic-algorithms flag are restored after each.
* **Sampling.** :func:`sample_runs` draws ``per_kind`` CPU runs of each kind asked for (default: every kind
  but atari, whose replay takes minutes), with one generator per kind seeded by ``(seed, kind)``, so the
  sample of one kind does not move when runs of another are added.

Exit status: 0 when no run differs, 1 when one does (or, with ``--strict``, when one is not comparable or
of unknown platform), 2 on bad input (missing archive, unreadable run, no runs to check).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rlrepro.archive import store
from rlrepro.core import fingerprint, runstore
from rlrepro.core.config import ConfigError
from rlrepro.core.kinds import KINDS
from rlrepro.core.loop import Diverged, StopEarly

IDENTICAL, DIFFERS, NOT_COMPARABLE, UNKNOWN_PLATFORM = "identical", "differs", "not comparable", "unknown platform"
OUTCOMES = (IDENTICAL, DIFFERS, NOT_COMPARABLE, UNKNOWN_PLATFORM)
DEFAULT_KINDS = tuple(name for name in KINDS if name != "atari")
"""Kinds a sample checks unless told otherwise: atari's first thousands of steps take minutes on a CPU."""
CSV_COLUMNS = ("run", "kind", "outcome", "steps_replayed", "rows_compared", "first_difference", "reason",
               "platform_differences", "code_changed")
NO_ROW = "<no row>"


class ReplayError(Exception):
    """Bad input: a run that cannot be read or replayed, or an archive with nothing to check."""


def measures_time(column: str) -> bool:
    """Whether a metrics column measures time (it would differ between any two runs): left out of the comparison."""
    return column.endswith(("time_s", "_per_s", "fps"))


@dataclass(frozen=True)
class Difference:
    """The first cell where the replay and the archive differ (row counted from 0)."""

    row: int
    step: str
    column: str
    archived: str
    replayed: str

    def __str__(self) -> str:
        return (f"row {self.row} (step {self.step}) column {self.column}: archived {self.archived!r}, "
                f"replayed {self.replayed!r}")


@dataclass(frozen=True)
class ReplayResult:
    run: str
    kind: str
    outcome: str
    steps_replayed: int = 0
    rows_compared: int = 0
    difference: Difference | None = None
    """The first difference found, whatever the outcome (for ``not comparable`` it is information only)."""
    reason: str = ""
    """Why nothing was asserted (``not comparable``, ``unknown platform``)."""
    platform_differences: tuple[str, ...] = ()
    code_changed: tuple[str, ...] | None = None
    """Files whose hash differs from the run's recorded code fingerprint; None when it recorded none."""

    def describe(self) -> str:
        """One line for people."""
        parts = [f"{self.run}: {self.outcome} ({self.steps_replayed} steps, {self.rows_compared} rows)"]
        if self.reason:
            parts.append(self.reason)
        if self.difference:
            parts.append(f"first difference: {self.difference}")
        elif self.outcome in (NOT_COMPARABLE, UNKNOWN_PLATFORM) and self.steps_replayed:
            parts.append("replayed rows identical anyway")
        parts.append(f"code changed: {code_changed_text(self.code_changed) or 'none'}")
        return "; ".join(parts)

    def csv_row(self) -> dict:
        return {"run": self.run, "kind": self.kind, "outcome": self.outcome, "steps_replayed": self.steps_replayed,
                "rows_compared": self.rows_compared, "first_difference": str(self.difference or ""),
                "reason": self.reason, "platform_differences": ";".join(self.platform_differences),
                "code_changed": code_changed_text(self.code_changed)}


def code_changed_text(files: tuple[str, ...] | None) -> str:
    return "unknown" if files is None else ";".join(files)


class _StopAt:
    """An ``on_progress`` callback that counts steps and stops the run at the first row at or after ``min_steps``."""

    def __init__(self, min_steps: int):
        self.min_steps, self.steps = min_steps, 0

    def __call__(self, steps: int) -> None:
        self.steps += steps
        if self.steps >= self.min_steps:
            raise StopEarly(self.steps)


def replay_rows(spec: dict, min_steps: int, torch_threads: int = 1) -> tuple[list[dict], int]:
    """Train ``spec`` (unchanged) until the first row at or after ``min_steps`` steps; (rows, steps replayed)."""
    kind = KINDS[spec["kind"]]
    stop = _StopAt(min_steps)
    with _torch_settings(torch_threads if kind.uses_torch else None):
        try:
            fit, _, _ = kind.make_trainer(spec)
        except (ValueError, ConfigError) as err:
            raise ReplayError(f"{store.run_name(spec)}: cannot make its trainer ({err})") from err
        try:
            rows = fit(resume=None, on_checkpoint=None, on_progress=stop)
        except (StopEarly, Diverged) as end:  # a diverged run's archive ends where the replay's does
            rows = end.rows
    return rows, stop.steps


@contextmanager
def _torch_settings(threads: int | None):
    """torch's thread count set to ``threads`` (None: torch untouched, not even imported), restored after."""
    if threads is None:
        yield
        return
    import torch

    saved = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])


def recorded_torch_threads(meta: dict) -> int:
    if meta.get("torch_threads"):
        return int(meta["torch_threads"])
    found = re.search(r"torch threads: (\d+)", str(meta.get("device", "")))
    return int(found.group(1)) if found else 1


def trained_on_gpu(meta: dict) -> bool:
    return meta["spec"].get("device", "cpu") != "cpu"


def first_difference(archived_csv: str, replayed: list[dict], n_rows: int) -> Difference | None:
    """The first cell (as CSV text) where ``replayed`` differs from the archive's first ``n_rows`` rows."""
    archived = list(csv.DictReader(io.StringIO(archived_csv)))[:n_rows]
    replayed_text = list(csv.DictReader(io.StringIO(runstore.metrics_to_csv(replayed).decode())))
    for index in range(max(len(archived), len(replayed_text))):
        if index >= len(archived) or index >= len(replayed_text):
            in_archive, in_replay = index < len(archived), index < len(replayed_text)
            present = archived[index] if in_archive else replayed_text[index]
            return Difference(index, present.get("step", ""), "<row>", "row" if in_archive else NO_ROW,
                              "row" if in_replay else NO_ROW)
        a, r = archived[index], replayed_text[index]
        for column in [*a, *(c for c in r if c not in a)]:
            if not measures_time(column) and a.get(column, "") != r.get(column, ""):
                return Difference(index, a.get("step", ""), column, a.get(column, ""), r.get(column, ""))
    return None


def replay_prefix(run_dir: Path, min_steps: int) -> ReplayResult:
    """Replay the archived run in ``run_dir`` up to the first row at or after ``min_steps`` steps and compare."""
    if min_steps < 1:
        raise ReplayError(f"min_steps must be >= 1, got {min_steps}")
    run_dir = Path(run_dir)
    try:  # an archived run (metrics xz-compressed) or a plain run directory
        if (run_dir / store.METRICS_XZ).exists():
            meta, data = store.read_archived(run_dir)
        else:
            meta, _ = runstore.read_run(run_dir)
            data = (run_dir / runstore.METRICS).read_bytes()
    except (runstore.CorruptRun, store.ArchiveError) as err:
        raise ReplayError(str(err)) from err
    archived_csv = data.decode()
    rows = store.metrics_rows(data)
    spec = meta["spec"]
    if spec.get("kind") not in KINDS:
        raise ReplayError(f"{run_dir / runstore.META}: spec.kind {spec.get('kind')!r} is not one of {list(KINDS)}")
    name, kind = store.run_name(spec), spec["kind"]
    stale = store.stale_files(meta)
    code_changed = None if stale is None else tuple(stale)
    if trained_on_gpu(meta):
        return ReplayResult(name, kind, NOT_COMPARABLE, reason=f"trained on {spec['device']}: GPU kernels are not "
                            "bit-reproducible; not replayed", code_changed=code_changed)

    n_rows = next((i + 1 for i, row in enumerate(rows) if row["step"] >= min_steps), len(rows))
    replayed, steps = replay_rows(spec, min_steps, recorded_torch_threads(meta))
    difference = first_difference(archived_csv, replayed, n_rows)
    common = dict(steps_replayed=steps, rows_compared=max(n_rows, len(replayed)), difference=difference,
                  code_changed=code_changed)
    if "platform" not in meta:
        return ReplayResult(name, kind, UNKNOWN_PLATFORM, reason="the run recorded no platform (made before "
                            "platform fingerprints): nothing asserted", **common)
    platform_differences = tuple(fingerprint.comparable_platforms(meta["platform"], fingerprint.platform_identity()))
    if platform_differences:
        return ReplayResult(name, kind, NOT_COMPARABLE, reason=f"platform differs in {', '.join(platform_differences)}"
                            ": nothing asserted", platform_differences=platform_differences, **common)
    return ReplayResult(name, kind, DIFFERS if difference else IDENTICAL, **common)


def archived_runs(archive_root: Path) -> list[Path]:
    """The run directories of an archive (``runs/<paper>/<algo>/<env>/seed<k>``), sorted."""
    return sorted(path.parent for path in Path(archive_root).glob("runs/*/*/*/seed*/" + runstore.META))


def sample_runs(archive_root: Path, per_kind: int, seed: int, kinds: tuple[str, ...] = DEFAULT_KINDS) -> list[Path]:
    """A reproducible random sample of ``per_kind`` CPU-trained runs of each of ``kinds`` present in the archive."""
    if per_kind < 1:
        raise ReplayError(f"per_kind must be >= 1, got {per_kind}")
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise ReplayError(f"unknown kinds {unknown}; known: {list(KINDS)}")
    by_kind: dict[str, list[Path]] = {}
    for run_dir in archived_runs(archive_root):
        meta_path = run_dir / runstore.META
        try:
            meta = json.loads(meta_path.read_text())
            kind = meta["spec"]["kind"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
            raise ReplayError(f"{meta_path}: not a run's meta.json (no readable spec.kind: {err!r})") from err
        if kind in kinds and not trained_on_gpu(meta):
            by_kind.setdefault(kind, []).append(run_dir)
    sample = []
    for kind in kinds:
        candidates = by_kind.get(kind, [])
        sample += sorted(random.Random(f"{seed}:{kind}").sample(candidates, min(per_kind, len(candidates))))
    return sample


def write_results(path: Path, results: list[ReplayResult]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.csv_row() for result in results)
    runstore.write_atomic(Path(path), buffer.getvalue().encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlrepro.archive.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR",
                        help="replay these run directories instead of a sample (any kind)")
    parser.add_argument("--archive", type=Path, default=Path("archive"), help="archive root (default: archive)")
    parser.add_argument("--per-kind", type=int, default=1, help="runs sampled per kind (default 1)")
    parser.add_argument("--min-steps", type=int, default=2000,
                        help="replay up to the first row at or after this many steps (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument("--kinds", nargs="+", default=list(DEFAULT_KINDS), metavar="KIND",
                        help=f"kinds to sample, of {list(KINDS)} (default: {' '.join(DEFAULT_KINDS)}; "
                             "ignored with RUN_DIR)")
    parser.add_argument("--out", type=Path, default=Path("results/aggregate/archive_check.csv"),
                        help="CSV of the results, written atomically")
    parser.add_argument("--strict", action="store_true",
                        help="also fail (exit 1) on runs that are not comparable or of unknown platform")
    args = parser.parse_args(argv)
    try:
        if args.min_steps < 1:
            raise ReplayError(f"--min-steps must be >= 1, got {args.min_steps}")
        if args.run_dirs:
            run_dirs = args.run_dirs
        else:
            if not args.archive.is_dir():
                raise ReplayError(f"--archive {args.archive}: no such directory")
            run_dirs = sample_runs(args.archive, args.per_kind, args.seed, tuple(args.kinds))
            if not run_dirs:
                raise ReplayError(f"no CPU-trained runs of kinds {args.kinds} under {args.archive / 'runs'}")
        results = []
        for run_dir in run_dirs:
            result = replay_prefix(run_dir, args.min_steps)
            print(result.describe(), flush=True)
            results.append(result)
    except ReplayError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_results(args.out, results)
    failing = [r.run for r in results if r.outcome == DIFFERS
               or (args.strict and r.outcome in (NOT_COMPARABLE, UNKNOWN_PLATFORM))]
    if failing:
        print(f"bit-identical prefix check failed for: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
