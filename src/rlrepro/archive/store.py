"""The archive of completed runs: what it holds, how runs enter it, how the pipeline takes them back.

Layout (``archive/`` at the repository root)::

    manifest.json                         every run and every set, with checksums (written atomically)
    sets/<set>/<sha12>.yaml               the merged configs a set's runs came from (each run names its own)
    runs/<paper>/<algo>/<env>/seed<k>/    meta.json as training wrote it, metrics.csv.xz: its metrics.csv, xz-
                                          compressed (a third of the size; restored byte for byte)

A run is named as in ``results/runs`` (:data:`rlrepro.core.paths.RUN_NAME`). Its *identity* is the SHA-256 of
its resolved spec without the keys that say where or under which label it ran (:data:`PLACEMENT_KEYS`): the
pipeline takes an archived run for a configured one when the identities are equal. A run is *stale* when
the code its kind runs today differs from the fingerprint it recorded (:mod:`rlrepro.core.fingerprint`);
what the pipeline then does is the config's ``archive.stale`` (README, "The archive").

    python -m rlrepro.archive add --set NAME --config config/config.yaml --config config/paper.yaml RUN_DIR ...
    python -m rlrepro.archive verify
    python -m rlrepro.archive summary
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import lzma
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from rlrepro.core import fingerprint, paths, runstore
from rlrepro.core.config import ConfigError, resolve_run
from rlrepro.core.kinds import KINDS
from rlrepro.core.layers import load_layered_config

FORMAT = 1
MANIFEST = "manifest.json"
METRICS_XZ = "metrics.csv.xz"
SIZE_LIMIT_BYTES = 50 * 2**20
"""The archive lives in the repository: everything under it stays below 50 MB."""
PLACEMENT_KEYS = ("device", "config_scale", "below_paper_scale", "scale_notes")
"""Spec keys that do not define a run: where it ran and how the config that asked for it is labelled."""
REQUIRED_FOR_ARCHIVE = ("code", "platform")
"""meta.json keys an archived run needs beyond the run-directory contract (what trust in it rests on)."""


class ArchiveError(Exception):
    """The archive, or a run offered to it, breaks the contract; the message names the file and the rule."""


def run_identity(spec: dict) -> str:
    """SHA-256 of the spec without :data:`PLACEMENT_KEYS`: equal for the same run wherever it is asked for."""
    defining = {k: v for k, v in spec.items() if k not in PLACEMENT_KEYS}
    return hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()


def run_name(spec: dict) -> str:
    return paths.RUN_NAME.format(paper=spec["paper"], algo=spec["algo"], env=spec["env"], seed=spec["seed"])


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def stale_files(meta: dict) -> list[str] | None:
    """Files of the run's code that changed since it was produced (empty: none); None when it recorded none."""
    if "code" not in meta:
        return None
    current = fingerprint.code_fingerprint(KINDS[meta["spec"]["kind"]].module)
    return fingerprint.changed_files(meta["code"], current)


def compress(data: bytes) -> bytes:
    """xz with fixed settings: the same metrics always give the same bytes."""
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9)


def read_archived(directory: Path) -> tuple[dict, bytes]:
    """(meta, metrics.csv bytes) of one archived run directory, the metrics checked against meta's checksum."""
    directory = Path(directory)
    meta_path, metrics_path = directory / runstore.META, directory / METRICS_XZ
    try:
        meta = json.loads(meta_path.read_text())
        data = lzma.decompress(metrics_path.read_bytes())
    except (OSError, ValueError, lzma.LZMAError) as err:
        raise ArchiveError(f"{directory}: unreadable archived run ({err})") from err
    if hashlib.sha256(data).hexdigest() != meta.get("metrics_sha256"):
        raise ArchiveError(f"{metrics_path}: content does not match the checksum in {meta_path}")
    return meta, data


def metrics_rows(data: bytes) -> list[dict]:
    """The rows of a metrics.csv, parsed as :func:`rlrepro.core.runstore.read_run` parses them."""
    return [{k: runstore.parse_value(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(data.decode()))]


@dataclass
class Archive:
    """One archive directory and its manifest."""

    root: Path

    def __post_init__(self):
        self.root = Path(self.root)
        self.manifest = self._load_manifest()

    @property
    def runs(self) -> dict[str, dict]:
        return self.manifest["runs"]

    @property
    def sets(self) -> dict[str, dict]:
        return self.manifest["sets"]

    def run_dir(self, name: str) -> Path:
        return self.root / "runs" / name

    def _load_manifest(self) -> dict:
        path = self.root / MANIFEST
        if not path.exists():
            return {"format": FORMAT, "sets": {}, "runs": {}}
        try:
            manifest = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ArchiveError(f"{path}: not valid JSON ({err})") from err
        if manifest.get("format") != FORMAT or not {"sets", "runs"} <= set(manifest):
            raise ArchiveError(f"{path}: expected format {FORMAT} with keys 'sets' and 'runs'")
        return manifest

    def _save_manifest(self) -> None:
        data = json.dumps(self.manifest, indent=1, sort_keys=True) + "\n"
        runstore.write_atomic(self.root / MANIFEST, data.encode())

    # ------------------------------------------------------------------ reading
    def match(self, spec: dict) -> dict | None:
        """The manifest entry of the archived run that is ``spec``'s run (same name and identity), or None."""
        entry = self.runs.get(run_name(spec))
        return entry if entry and entry["identity"] == run_identity(spec) else None

    def verify(self) -> list[str]:
        """Every breach of the contract: checksums, identities, unlisted or missing files, the size limit."""
        problems = []
        for name, entry in sorted(self.runs.items()):
            directory = self.run_dir(name)
            try:
                meta, _ = read_archived(directory)
            except ArchiveError as err:
                problems.append(str(err))
                continue
            for file, key in ((METRICS_XZ, "metrics_xz_sha256"), (runstore.META, "meta_sha256")):
                if sha256_file(directory / file) != entry[key]:
                    problems.append(f"{directory / file}: checksum differs from {MANIFEST} (edited or damaged)")
            if run_identity(meta["spec"]) != entry["identity"] or run_name(meta["spec"]) != name:
                problems.append(f"{directory / runstore.META}: its spec is not the run {MANIFEST} lists as {name}")
            if entry["set"] not in self.sets:
                problems.append(f"{MANIFEST}: run {name} names set {entry['set']!r}, which it does not list")
        listed = {self.run_dir(name) for name in self.runs}
        for meta_path in sorted((self.root / "runs").glob("*/*/*/seed*/meta.json")):
            if meta_path.parent not in listed:
                problems.append(f"{meta_path.parent}: not in {MANIFEST} (add it with `python -m rlrepro.archive add`)")
        for name, entry in sorted(self.runs.items()):
            if not (self.root / entry["config"]).exists():
                problems.append(f"{self.root / entry['config']}: missing (the config run {name} came from)")
        size = self.size_bytes()
        if size > SIZE_LIMIT_BYTES:
            problems.append(f"{self.root}: {size / 2**20:.1f} MB, above the {SIZE_LIMIT_BYTES / 2**20:.0f} MB limit")
        return problems

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    # ------------------------------------------------------------------ writing
    def add(self, run_dirs: list[Path], set_name: str, config_files: list[str | Path], description: str = "",
            replace: bool = False, allow_uncommitted: bool = False) -> list[str]:
        """Check each run against the contract and the set's config, copy it in, record it; the names added.

        Every run is checked before anything is written, so a bad one adds nothing. A run already archived
        with the same identity and metrics is skipped; a different one needs ``replace``. Runs from code with
        uncommitted changes are refused unless ``allow_uncommitted`` (tests).
        """
        if not set_name.replace("-", "").replace("_", "").isalnum():
            raise ArchiveError(f"set name {set_name!r}: use letters, digits, '-' and '_'")
        config = load_layered_config(*config_files)
        config_text = yaml.safe_dump(config, sort_keys=True)
        set_config = f"sets/{set_name}/{hashlib.sha256(config_text.encode()).hexdigest()[:12]}.yaml"
        accepted = []
        for directory in map(Path, run_dirs):
            meta = self._check_offered(directory, config, replace, allow_uncommitted)
            if meta is not None:
                accepted.append((directory, meta))
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        runstore.write_atomic(self.root / set_config, config_text.encode())
        entry = self.sets.setdefault(set_name, {"created_at": now, "configs": []})
        entry["description"] = description or entry.get("description", "")
        if set_config not in entry["configs"]:
            entry["configs"].append(set_config)
        for directory, meta in accepted:
            name = run_name(meta["spec"])
            target = self.run_dir(name)
            runstore.write_atomic(target / METRICS_XZ, compress((directory / runstore.METRICS).read_bytes()))
            runstore.write_atomic(target / runstore.META, (directory / runstore.META).read_bytes())
            self.runs[name] = {**self._entry(meta, target, set_name, now), "config": set_config,
                               "config_files": [str(f) for f in config_files]}
        self._save_manifest()
        return [run_name(meta["spec"]) for _, meta in accepted]

    def _check_offered(self, directory: Path, config: dict, replace: bool, allow_uncommitted: bool) -> dict | None:
        """The meta of a run fit for the archive, None when it is archived already, else ArchiveError."""
        try:
            meta, _ = runstore.read_run(directory)
        except runstore.CorruptRun as err:
            raise ArchiveError(f"{err}: only finished, intact runs enter the archive") from err
        missing = [key for key in REQUIRED_FOR_ARCHIVE if key not in meta]
        if missing:
            raise ArchiveError(f"{directory / runstore.META}: no {' or '.join(missing)} (a run made before runs "
                               "recorded their code fingerprint; re-run it)")
        if "archive" in meta:
            raise ArchiveError(f"{directory}: restored from the archive already, not a new run")
        commit = str(meta.get("git_commit", "unknown"))
        if not allow_uncommitted and (commit.endswith("-dirty") or commit == "unknown"):
            raise ArchiveError(f"{directory / runstore.META}: git commit {meta.get('git_commit')!r}; archived runs "
                               "come from committed code")
        spec = meta["spec"]
        try:
            expected = resolve_run(config, spec["paper"], spec["algo"], spec["env"], spec["seed"])
        except (ConfigError, KeyError) as err:
            raise ArchiveError(f"{directory}: the set's config does not ask for this run ({err})") from err
        if run_identity(expected) != run_identity(spec):
            differing = sorted(k for k in set(spec) | set(expected)
                               if k not in PLACEMENT_KEYS and spec.get(k) != expected.get(k))
            raise ArchiveError(f"{directory}: its spec differs from the set's config in {differing}")
        current = self.runs.get(run_name(spec))
        if current:
            same = current["metrics_sha256"] == meta["metrics_sha256"] and current["identity"] == run_identity(spec)
            if same:
                return None
            if not replace:
                raise ArchiveError(f"{directory}: {run_name(spec)} is archived with other results; "
                                   "pass --replace to overwrite it")
        return meta

    @staticmethod
    def _entry(meta: dict, directory: Path, set_name: str, now: str) -> dict:
        spec = meta["spec"]
        return {
            "set": set_name, "identity": run_identity(spec), "experiment": spec["experiment"], "kind": spec["kind"],
            "status": meta["status"], "steps": spec["budget"]["total_steps"],
            "below_paper_scale": bool(spec.get("below_paper_scale")),
            "metrics_sha256": meta["metrics_sha256"], "metrics_xz_sha256": sha256_file(directory / METRICS_XZ),
            "meta_sha256": sha256_file(directory / runstore.META),
            "git_commit": meta["git_commit"], "code_sha256": meta["code"]["sha256"],
            "cpu_model": meta["platform"].get("cpu_model", ""), "device": meta.get("device", ""),
            "wall_time_s": round(float(meta["wall_time_s"]), 3), "torch_threads": meta.get("torch_threads"),
            "added_at": now,
        }

    def restore(self, name: str, to: Path, spec: dict | None = None) -> dict:
        """Copy archived run ``name`` into run directory ``to`` after checking its checksums (and, given the
        configured ``spec``, that it is that run); its meta.json gains an ``archive`` key saying so."""
        entry = self.runs.get(name)
        if entry is None:
            raise ArchiveError(f"{self.root / MANIFEST}: no archived run {name}")
        if spec is not None and run_identity(spec) != entry["identity"]:
            raise ArchiveError(f"archived run {name} is not the configured run (their specs differ)")
        source = self.run_dir(name)
        for file, key in ((METRICS_XZ, "metrics_xz_sha256"), (runstore.META, "meta_sha256")):
            if sha256_file(source / file) != entry[key]:
                raise ArchiveError(f"{source / file}: checksum differs from {self.root / MANIFEST}; not restored")
        meta, data = read_archived(source)
        meta["archive"] = {"set": entry["set"], "added_at": entry["added_at"], "name": name,
                           "stale_files": stale_files(meta)}
        to = Path(to)
        runstore.write_atomic(to / runstore.METRICS, data)
        runstore.write_atomic(to / runstore.META, json.dumps(meta, indent=2, sort_keys=True).encode())
        (to / runstore.CHECKPOINT).unlink(missing_ok=True)
        return meta

    # ------------------------------------------------------------------ summarising
    def summary(self) -> list[dict]:
        """Per set and experiment: runs, algorithms, envs, seeds, steps, core-hours (wall time x torch threads)."""
        groups: dict[tuple[str, str], list[dict]] = {}
        for entry in self.runs.values():
            groups.setdefault((entry["set"], entry["experiment"]), []).append(entry)
        rows = []
        for (set_name, experiment), entries in sorted(groups.items()):
            names = [n for n, e in self.runs.items() if e in entries]
            rows.append({
                "set": set_name, "experiment": experiment, "runs": len(entries),
                "algos": len({n.split("/")[1] for n in names}), "envs": len({n.split("/")[2] for n in names}),
                "steps": max(e["steps"] for e in entries),
                "below_paper_scale": any(e["below_paper_scale"] for e in entries),
                "core_hours": sum(e["wall_time_s"] * (e.get("torch_threads") or 1) for e in entries) / 3600,
                "commits": " ".join(sorted({e["git_commit"][:10] for e in entries})),
                "cpu": " / ".join(sorted({e["cpu_model"] for e in entries})),
            })
        return rows
