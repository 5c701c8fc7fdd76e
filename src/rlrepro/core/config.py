"""Loading, validating and resolving the workflow config.

The same functions serve the Snakefile (which validates before building the DAG) and
``python -m rlrepro.train --config ...`` (which resolves one run by hand).
"""

from __future__ import annotations

import copy
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml

from rlrepro.core.kinds import KINDS

REPO_ROOT = Path(__file__).resolve().parents[3]
SCHEMA_PATH = REPO_ROOT / "config" / "schema.yaml"


def allowed_envs(kind: str) -> str:
    """The environments of a kind, for an error message."""
    envs = KINDS[kind].env_ids
    if KINDS[kind].env_list_hint:
        return f"{len(envs)} ids such as {', '.join(envs[:3])}; list them all with `{KINDS[kind].env_list_hint}`"
    return ", ".join(envs)


def kind_of_agent(agent: str) -> str | None:
    return next((kind for kind, k in KINDS.items() if agent in k.agents), None)


class ConfigError(ValueError):
    """A config that cannot be run; the message names the key and what is allowed."""


def load_config(*paths: str | Path) -> dict:
    """Read YAML files and merge them left to right (nested mappings merge, the rest is replaced),
    as Snakemake merges ``--configfile`` over the Snakefile's ``configfile``."""
    config: dict = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        config = merge(config, data)
    return config


def merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _allowed_keys(schema: dict, error: jsonschema.ValidationError) -> str:
    sub = error.schema
    if "$ref" in sub:
        sub = _resolve_ref(schema, sub["$ref"])
    keys = sorted(sub.get("properties", {}))
    return f"; allowed keys: {', '.join(keys)}" if keys else ""


def _resolve_ref(schema: dict, ref: str) -> dict:
    node: Any = schema
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def schema_errors(data: Any, schema_path: Path | dict) -> list[tuple[tuple, str]]:
    """Every way ``data`` breaks the JSON Schema (YAML) at ``schema_path``, in key order: (key path, problem),
    the problem followed, for an unknown key, by the allowed keys and, where a value fits none of several
    alternatives or no pattern, by the schema's description of what is expected. Shared by every validated YAML file."""
    schema = schema_path if isinstance(schema_path, dict) else yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        hint = ""
        if err.validator == "additionalProperties":
            hint = _allowed_keys(schema, err)
        elif err.validator in ("oneOf", "anyOf", "pattern") and isinstance(err.schema, dict) \
                and err.schema.get("description"):
            hint = "; expected: " + " ".join(err.schema["description"].split())
        out.append((tuple(err.absolute_path), f"{err.message}{hint}"))
    return out


def schema_problems(data: Any, schema_path: Path | dict) -> list[str]:
    """:func:`schema_errors` as lines 'key.path: problem'."""
    return [f"{_where(path)}: {problem}" for path, problem in schema_errors(data, schema_path)]


def config_schema(config: dict, schema_path: Path = SCHEMA_PATH) -> dict:
    """The workflow config's JSON Schema with what the kinds registry knows filled in: the kind names,
    every kind's agents, a ``resources.train_<kind>`` family per kind (required for the kinds the
    config's experiments use) and a ``final_window`` entry per kind. A kind added to
    :data:`~rlrepro.core.kinds.KINDS` is thus valid config without editing the schema file."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    defs, props = schema["$defs"], schema["properties"]
    defs["experiment"]["properties"]["kind"]["enum"] = list(KINDS)
    agents = defs["algorithm"]["properties"]["agent"]["enum"]
    agents += [a for kind in KINDS.values() for a in kind.agents if a not in agents]
    resources = props["resources"]
    used = {exp.get("kind") for exp in (config.get("experiments") or {}).values() if isinstance(exp, dict)}
    resources["required"] = [r for r in resources["required"] if not r.startswith("train_")]
    resources["required"] += [f"train_{kind}" for kind in KINDS if kind in used]
    for kind in KINDS:
        resources["properties"].setdefault(f"train_{kind}", {"$ref": "#/$defs/resources"})
    for option in props["analysis"]["properties"]["final_window"]["oneOf"]:
        if option.get("type") == "object":
            option["required"] = [kind for kind in KINDS if kind in used]
            option["properties"] = {kind: {"type": "integer", "minimum": 1} for kind in KINDS}
    return schema


def validate_config(config: dict, schema_path: Path = SCHEMA_PATH) -> None:
    """Raise :class:`ConfigError` listing every problem, each with its key path."""
    problems = schema_problems(config, config_schema(config, schema_path))
    if not problems:
        problems = _semantic_problems(config)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _semantic_problems(config: dict) -> list[str]:
    problems = []
    registry = config["algorithms"]
    owner: dict[tuple[str, str, str], str] = {}
    for algo, entry in registry.items():
        kind = kind_of_agent(entry["agent"])
        unknown = sorted(set(entry.get("overrides", {})) - set(KINDS[kind].config.field_names()))
        if unknown:
            problems.append(f"algorithms.{algo}.overrides: unknown keys {unknown} for a {kind} agent; "
                            f"allowed: {', '.join(KINDS[kind].config.field_names())}")
    for name, exp in config["experiments"].items():
        kind = KINDS[exp["kind"]]
        for i, env in enumerate(exp["envs"]):
            if env not in kind.env_ids:
                problems.append(f"experiments.{name}.envs[{i}]: {env!r} is not an environment of kind {exp['kind']!r}; "
                                f"allowed: {allowed_envs(exp['kind'])}")
        unknown = sorted(set(exp.get("agent_overrides", {})) - set(kind.config.field_names()))
        if unknown:
            problems.append(f"experiments.{name}.agent_overrides: unknown keys {unknown}; "
                            f"allowed: {', '.join(kind.config.field_names())}")
        for i, algo in enumerate(exp["algorithms"]):
            if algo not in registry:
                problems.append(f"experiments.{name}.algorithms[{i}]: unknown algorithm {algo!r}; "
                                f"defined: {', '.join(sorted(registry))}")
                continue
            if kind_of_agent(registry[algo]["agent"]) != exp["kind"]:
                problems.append(f"experiments.{name}.algorithms[{i}]: {algo!r} is a "
                                f"{kind_of_agent(registry[algo]['agent'])} agent ({registry[algo]['agent']}); "
                                f"experiment kind {exp['kind']!r} runs: {', '.join(kind.agents)}")
                continue
            for env in [None, *(e for e in exp.get("agent_overrides_by_env", {}) if e in exp["envs"])]:
                try:
                    agent_config(config, exp, algo, env)
                except ConfigError as err:
                    problems.append(str(err))
            for env in exp["envs"]:
                key = (exp["paper"], algo, env)
                if key in owner:
                    problems.append(f"experiments.{name}: ({exp['paper']}, {algo}, {env}) is already run by "
                                    f"experiment {owner[key]!r}")
                owner[key] = name
        for by_env in ("budget_by_env", "agent_overrides_by_env"):
            for env in exp.get(by_env, {}):
                if env not in exp["envs"]:
                    problems.append(f"experiments.{name}.{by_env}.{env}: not one of this experiment's envs "
                                    f"{exp['envs']}")
        for env, overrides in exp.get("agent_overrides_by_env", {}).items():
            unknown = sorted(set(overrides) - set(kind.config.field_names()))
            if unknown:
                problems.append(f"experiments.{name}.agent_overrides_by_env.{env}: unknown keys {unknown}; "
                                f"allowed: {', '.join(kind.config.field_names())}")
        for env in exp["envs"]:
            try:
                kind.budget(**budget_of(exp, env))
            except (TypeError, ValueError) as err:
                where = f"budget_by_env.{env}" if env in exp.get("budget_by_env", {}) else "budget"
                problems.append(f"experiments.{name}.{where}: {err}")
                break
        for panel, algos in exp.get("figures", {}).items():
            for algo in algos:
                if algo not in exp["algorithms"]:
                    problems.append(f"experiments.{name}.figures.{panel}: {algo!r} is not in this experiment's "
                                    f"algorithms {exp['algorithms']}")
    for method, baselines in config["analysis"]["comparisons"].items():
        for name in (method, *baselines):
            if name not in registry:
                problems.append(f"analysis.comparisons.{method}: unknown algorithm {name!r}; "
                                f"defined: {', '.join(sorted(registry))}")
    return list(dict.fromkeys(problems))  # a conflict of the experiment's agent_overrides is met once per environment


def iter_runs(config: dict) -> Iterator[dict]:
    """Every training run the config asks for, as wildcard values."""
    for exp in config["experiments"].values():
        for algo in exp["algorithms"]:
            for env in exp["envs"]:
                for seed in range(exp["seeds"]):
                    yield {"paper": exp["paper"], "algo": algo, "env": env, "seed": seed}


def find_experiment(config: dict, paper: str, algo: str, env: str) -> tuple[str, dict]:
    for name, exp in config["experiments"].items():
        if exp["paper"] == paper and algo in exp["algorithms"] and env in exp["envs"]:
            return name, exp
    known = sorted({(r["paper"], r["algo"], r["env"]) for r in iter_runs(config)})
    raise ConfigError(f"no experiment runs algorithm {algo!r} on env {env!r} for paper {paper!r}; "
                      f"configured runs: {known}")


def budget_of(exp: dict, env: str) -> dict:
    """The experiment's budget with its ``budget_by_env`` entry for ``env`` applied (Humanoid's 6M steps)."""
    return {**exp["budget"], **exp.get("budget_by_env", {}).get(env, {})}


def agent_config(config: dict, exp: dict, algo: str, env: str | None = None):
    """The agent's config dataclass: defaults, then the algorithm's ``overrides``, then the experiment's
    ``agent_overrides`` (settings of a task family, such as network sizes), then its
    ``agent_overrides_by_env`` entry for ``env`` (settings of one task; the twin of ``budget_by_env``).

    The experiment's layers may add fields but not change one the algorithm sets (that would undo an
    ablation): such a conflict is a :class:`ConfigError` naming both keys. Without ``env`` the
    per-environment layer is left out."""
    name = next((n for n, e in config["experiments"].items() if e is exp), "<experiment>")
    own = config["algorithms"][algo].get("overrides", {})
    layers = [("agent_overrides", exp.get("agent_overrides", {}))]
    if env is not None:
        layers.append((f"agent_overrides_by_env.{env}", exp.get("agent_overrides_by_env", {}).get(env, {})))
    overrides, source = dict(own), {key: f"algorithms.{algo}.overrides.{key}" for key in own}
    for where, layer in layers:
        for key, value in layer.items():
            if key in own and own[key] != value:
                raise ConfigError(f"experiments.{name}.{where}.{key} ({value!r}) conflicts with "
                                  f"algorithms.{algo}.overrides.{key} ({own[key]!r}): an experiment may not change "
                                  f"what an algorithm sets; define another algorithm or drop one of the two keys")
            source[key] = f"experiments.{name}.{where}.{key}"
        overrides.update(layer)
    try:
        return KINDS[exp["kind"]].config(**overrides)
    except (TypeError, ValueError) as err:
        named = [where for key, where in source.items() if re.search(rf"\b{key}\b", str(err))]
        on = f" on {env}" if env is not None else ""
        raise ConfigError(f"algorithms.{algo} in experiments.{name}{on}: {err}"
                          + (f" (set at {', '.join(named)})" if named else "")) from err


def scale_report(kind: str, budget: dict, seeds: int, env: str | None = None) -> list[str]:
    """Ways in which a run's budget falls short of the paper's; empty at paper scale."""
    paper = KINDS[kind].scale_of(env)
    notes = [f"{key} {budget[key]} < paper {paper[key]}" for key in paper
             if key != "seeds" and budget[key] < paper[key]]
    if seeds < paper["seeds"]:
        notes.append(f"seeds {seeds} < paper {paper['seeds']}")
    return notes


def resolve_run(config: dict, paper: str, algo: str, env: str, seed: int) -> dict:
    """The complete, JSON-serialisable specification of one run (what the train job receives)."""
    exp_name, exp = find_experiment(config, paper, algo, env)
    entry = config["algorithms"][algo]
    budget = KINDS[exp["kind"]].budget(**budget_of(exp, env))
    if not 0 <= seed < exp["seeds"]:
        raise ConfigError(f"seed {seed} out of range for experiment {exp_name!r}: allowed 0..{exp['seeds'] - 1}")
    below = scale_report(exp["kind"], asdict(budget), exp["seeds"], env)
    return {
        "paper": paper,
        "experiment": exp_name,
        "kind": exp["kind"],
        "algo": algo,
        "label": entry["label"],
        "agent": entry["agent"],
        "agent_config": asdict(agent_config(config, exp, algo, env)),
        "env": env,
        "seed": seed,
        "budget": asdict(budget),
        "config_scale": config["scale"],
        "below_paper_scale": bool(below),
        "scale_notes": below,
        "device": config.get("device", "cpu"),
    }


def check_spec(spec: dict) -> None:
    """Reject a hand-written spec whose agent or keys are unknown, before any work."""
    if spec.get("kind") not in KINDS:
        raise ConfigError(f"spec.kind: unknown kind {spec.get('kind')!r}; allowed: {', '.join(KINDS)}")
    kind = KINDS[spec["kind"]]
    if spec.get("agent") not in kind.agents:
        raise ConfigError(f"spec.agent: unknown {spec['kind']} agent {spec.get('agent')!r}; "
                          f"allowed: {', '.join(kind.agents)}")
    unknown = set(spec.get("agent_config", {})) - set(kind.config.field_names())
    if unknown:
        raise ConfigError(f"spec.agent_config: unknown keys {sorted(unknown)}; allowed: {kind.config.field_names()}")
    if spec.get("env") not in kind.env_ids:
        raise ConfigError(f"spec.env: unknown environment {spec.get('env')!r}; allowed: {allowed_envs(spec['kind'])}")
    if spec.get("device", "cpu") not in ("cpu", "cuda"):
        raise ConfigError(f"spec.device: {spec.get('device')!r}; allowed: cpu, cuda")
    budget_keys = list(kind.budget.__dataclass_fields__)
    unknown = set(spec.get("budget", {})) - set(budget_keys)
    if unknown:
        raise ConfigError(f"spec.budget: unknown keys {sorted(unknown)}; allowed: {budget_keys}")
