"""Claims as code: each checkable claim of the papers and seed reports, turned into a verdict.

``config/claims.yaml`` lists the claims; each names its data (experiment, per-run score, envs,
algorithms), a test and its threshold. :func:`evaluate` applies the test to the aggregate stage's
outputs and returns a verdict, ``reproduced``, ``not reproduced`` or ``inconclusive``, with the
statistic and its interval.

How a verdict is reached
------------------------
1. A claim is split into **comparisons**: one per (env, baseline) for ``better``/``not_worse``, one per
   (env, algorithm) for the other tests; with ``pool_envs`` one per baseline/algorithm over all envs.
2. Each comparison gets a statistic with a percentile bootstrap interval (``confidence``, or the claim's
   own ``confidence`` when it has one, e.g. a claim whose data were looked at twice; ``reps`` resamples,
   a ``numpy`` Generator seeded with ``seed`` afresh for every comparison, so the same seed gives
   identical intervals). Seeds are resampled within each algorithm (and env when pooled):
   a stratified bootstrap. The comparison's **outcome** is ``supports``, ``contradicts`` or ``unclear``:

   ``better``         a - b, difference of mean scores over seeds. supports: low > margin;
                      contradicts: high < margin (with the default margin 0: a reversed effect, the
                      interval entirely below 0); unclear otherwise (the interval contains the margin).
   ``not_worse``      a - b, tolerance t = margin, or relative_margin * |mean of b|.
                      supports: low > -t; contradicts: high < -t; unclear otherwise.
   ``above``          the mean score of an algorithm. supports: low > threshold; contradicts:
                      high < threshold; unclear otherwise.  ``below`` mirrors it.
   ``diverges``       runs whose status is 'diverged' at a step below ``before_step`` (runs.csv),
                      as a fraction with a Wilson interval. supports: every run diverged; contradicts:
                      none did; unclear: some did (the overflow is not systematic, so neither side).
   ``no_divergence``  supports: no run diverged before ``before_step``; contradicts: any run did (one
                      divergence refutes 'removes the divergence').

3. The outcomes combine by ``require`` (n comparisons, s supporting, c contradicting):
   ``all`` (default): reproduced if s == n, not reproduced if c >= 1; ``any``: reproduced if s >= 1,
   not reproduced if c == n; ``majority``: reproduced if s > n/2, not reproduced if c >= n/2 (no
   majority is possible any more); inconclusive otherwise. This is the ``evidence`` column.
4. The verdict is ``inconclusive`` whatever the evidence when data is missing (reason ``missing data:``
   naming the algorithm, env or score, or how many of the runs the config asks for were not run, from the
   aggregate's ``missing.csv``), when an (algorithm, env) has fewer than ``min_seeds`` completed
   runs (``too few seeds``), when any run used is below paper scale (runs.csv ``below_paper_scale``),
   when a comparison's runs were trained at more than one precision (runs.csv ``cfg_precision``, no
   value = fp32; ``mixed precision``: fp32 and bf16 runs are never pooled, so no statistic either),
   or, for the divergence tests, when a run's budget is below ``min_steps``. The statistic is still
   reported when it can be computed. Below paper scale the table adds what the comparisons alone say;
   with too few seeds it does not (a bootstrap over one or two seeds has a handful of distinct
   resamples: any reading of it would be noise).
5. A claim with ``given: [ids]`` is conditional: its verdict stands only when every listed claim is
   ``reproduced`` (e.g. "PMAC fails without detail X" means something only when full PMAC learns in
   the same data); otherwise it is ``inconclusive`` with the reason ``condition not met``.

A score test may restrict its data to a step window, ``data.step_window: [first, last]``: the
per-run scores are then computed from the snapshots with first <= step <= last only (``final_<m>``
from the last snapshots inside the window, ``mean_<m>`` over the window), and runs whose budget ends
before ``last`` make the claim inconclusive (``runs too short``).

The statistic reported in ``statistic``/``estimate``/``low``/``high`` is the headline comparison: the
worst one for ``all`` and ``majority`` (a contradicting one first, then an unclear one, then the
weakest support), the best one for ``any``; ``details`` lists every comparison.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import yaml

from rlrepro.analysis.aggregate import final_scores, human_normalised
from rlrepro.core.config import REPO_ROOT, schema_errors
from rlrepro.core.runstore import write_atomic
from rlrepro.reporting.latex import tex_escape

CLAIMS_SCHEMA = REPO_ROOT / "config" / "claims.schema.yaml"
"""JSON Schema of a claims file: each field on its own (see :func:`parse_claim` for the rest)."""
PAPERS = ("mirl", "epmd")
SCORE_TESTS = ("better", "not_worse", "above", "below")
PAIR_TESTS = ("better", "not_worse")
DIVERGENCE_TESTS = ("diverges", "no_divergence")
TESTS = SCORE_TESTS + DIVERGENCE_TESTS
VERDICTS = ("reproduced", "not reproduced", "inconclusive")
SUPPORTS, CONTRADICTS, UNCLEAR = "supports", "contradicts", "unclear"
ALL_ENVS = "all"
"""``envs: all`` = every env of the experiment present in the results (e.g. the Atari games run)."""


class ClaimsError(ValueError):
    """A claims file that cannot be evaluated; the message names the entry, the field and what is allowed."""


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    source: str
    statement: str
    test: str
    experiment: str
    envs: tuple[str, ...] | str
    metric: str | None = None
    algo: str | None = None
    than: tuple[str, ...] = ()
    algos: tuple[str, ...] = ()
    pool_envs: bool = False
    require: str = "all"
    min_seeds: int = 3
    margin: float = 0.0
    relative_margin: float | None = None
    threshold: float | None = None
    before_step: int | None = None
    min_steps: int | None = None
    step_window: tuple[int, int] | None = None
    given: tuple[str, ...] = ()
    confidence: float | None = None
    note: str = ""

    @property
    def all_algos(self) -> tuple[str, ...]:
        """Every algorithm the claim reads, the claimed one first."""
        return (self.algo, *self.than) if self.test in PAIR_TESTS else self.algos


@dataclass(frozen=True)
class Comparison:
    """One comparison of a claim: a statistic, its interval and what it says about the claim."""
    text: str
    estimate: float
    low: float
    high: float
    outcome: str
    slack: float = field(default=0.0, compare=False)
    """How far the interval clears the decision boundary on the claimed side (negative: it does not);
    orders comparisons with the same outcome when choosing the headline."""


# ------------------------------------------------------------------------------------ loading

def load_claims(path: str | Path) -> list[Claim]:
    """Read and validate a claims file (``config/claims.schema.yaml``, then how each claim's fields go
    with its test, unique ids and ``given`` conditions); a broken entry raises ClaimsError naming it
    and the field."""
    path = Path(path)
    if not path.exists():
        raise ClaimsError(f"claims file {path} does not exist")
    try:
        entries = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ClaimsError(f"claims file {path} is not valid YAML: {err}") from err
    problems = schema_problems(entries)
    if problems:
        raise ClaimsError(f"claims file {path} is invalid:\n  " + "\n  ".join(problems))
    claims, seen = [], {}
    for index, entry in enumerate(entries):
        claim = parse_claim(entry, index)
        if claim.id in seen:
            raise ClaimsError(f"claim #{index} ({claim.id!r}): field 'id': duplicate id, "
                              f"already used by claim #{seen[claim.id]}")
        seen[claim.id] = index
        claims.append(claim)
    for index, claim in enumerate(claims):
        for other in claim.given:
            if other not in seen:
                raise ClaimsError(f"claim #{index} ({claim.id!r}): field 'given': unknown claim id {other!r}; "
                                  f"defined: {', '.join(seen)}")
    evaluation_order(claims)
    return claims


def _entry_name(entries, index: int) -> str:
    """'claim #3' or, where the entry has an id, "claim #3 ('its-id')"."""
    entry = entries[index]
    claim_id = entry.get("id") if isinstance(entry, dict) else None
    return f"claim #{index} ({claim_id!r})" if isinstance(claim_id, str) and claim_id else f"claim #{index}"


def schema_problems(entries) -> list[str]:
    """Every way a claims file's content breaks ``CLAIMS_SCHEMA``, one line each naming the claim and the field."""
    problems = []
    for path, problem in schema_errors(entries, CLAIMS_SCHEMA):
        if not path:
            problems.append(f"top level (a list of claims): {problem}")
            continue
        field = ".".join(map(str, path[1:]))
        where = _entry_name(entries, path[0])
        problems.append(f"{where}: field {field!r}: {problem}" if field else f"{where}: {problem}")
    return problems


def evaluation_order(claims: list[Claim]) -> list[Claim]:
    """The claims with every claim after those it is ``given``; a cycle raises ClaimsError naming it."""
    by_id, done, order = {c.id: c for c in claims}, set(), []

    def visit(claim: Claim, path: tuple[str, ...]):
        if claim.id in path:
            raise ClaimsError(f"claim {claim.id!r}: field 'given': circular condition {' -> '.join((*path, claim.id))}")
        if claim.id in done:
            return
        for other in claim.given:
            if other in by_id:
                visit(by_id[other], (*path, claim.id))
        done.add(claim.id)
        order.append(claim)

    for claim in claims:
        visit(claim, ())
    return order


def parse_claim(entry: dict, index: int) -> Claim:
    """One entry of the claims file, already valid against ``CLAIMS_SCHEMA`` -> Claim, or ClaimsError
    naming the entry and the field that its test does not read (or needs and lacks)."""
    where = f"claim #{index} ({entry['id']!r})"
    test, data = entry["test"], entry["data"]

    def fail(key: str, problem: str):
        raise ClaimsError(f"{where}: field {key!r}: {problem}")

    def require(mapping: dict, key: str, prefix: str = ""):
        if mapping.get(key) is None:
            fail(prefix + key, f"missing (required by test {test!r})")
        return mapping[key]

    def only_for(key: str, tests: tuple[str, ...], instead: str = ""):
        if entry.get(key) is not None and test not in tests:
            fail(key, f"only for tests {' and '.join(tests)}, not {test!r}{instead}")

    fields = {key: entry[key] for key in ("id", "paper", "source", "statement", "test")}
    fields.update(experiment=data["experiment"], envs=data["envs"] if data["envs"] == ALL_ENVS else tuple(data["envs"]),
                  pool_envs=data.get("pool_envs", False), note=entry.get("note") or "",
                  require=entry.get("require") or "all", min_seeds=int(entry.get("min_seeds") or 3))
    if test in SCORE_TESTS:
        fields["metric"] = require(data, "metric", "data.")
    if test in PAIR_TESTS:
        fields["algo"], fields["than"] = require(data, "algo", "data."), tuple(require(data, "than", "data."))
        if "algos" in data:
            fail("data.algos", f"test {test!r} reads data.algo and data.than, not data.algos")
    else:
        fields["algos"] = tuple(require(data, "algos", "data."))
        for key in ("algo", "than"):
            if key in data:
                fail(f"data.{key}", f"test {test!r} reads data.algos; data.algo/data.than are for better and not_worse")
    margin, relative = entry.get("margin"), entry.get("relative_margin")
    only_for("margin", PAIR_TESTS)
    only_for("relative_margin", ("not_worse",), "; 'better' takes an absolute margin" if test == "better" else "")
    if test == "not_worse" and (margin is None) == (relative is None):
        fail("margin", "test 'not_worse' needs exactly one of margin (absolute) or relative_margin (a fraction of |b|)")
    fields["margin"], fields["relative_margin"] = float(margin or 0.0), None if relative is None else float(relative)
    only_for("threshold", ("above", "below"))
    if test in ("above", "below"):
        fields["threshold"] = float(require(entry, "threshold"))
    only_for("before_step", DIVERGENCE_TESTS)
    only_for("min_steps", DIVERGENCE_TESTS)
    if test in DIVERGENCE_TESTS:
        fields["before_step"] = int(require(entry, "before_step"))
        fields["min_steps"] = int(entry.get("min_steps") or fields["before_step"])
    window = data.get("step_window")
    if window is not None:
        if test not in SCORE_TESTS:
            fail("data.step_window",
                 f"only for score tests ({', '.join(SCORE_TESTS)}); divergence tests take before_step")
        if not window[0] < window[1]:
            fail("data.step_window", f"must be [first, last] with 0 <= first < last, got {window!r}")
        fields["step_window"] = tuple(int(step) for step in window)
    fields["given"] = tuple(entry.get("given") or ())
    if fields["id"] in fields["given"]:
        fail("given", "a claim cannot be conditional on itself")
    if entry.get("confidence") is not None:  # range checked by the schema
        fields["confidence"] = float(entry["confidence"])
    return Claim(**fields)


# ------------------------------------------------------------------------------------ statistics

def bootstrap_means(strata: list[np.ndarray], rng: np.random.Generator, reps: int) -> np.ndarray:
    """``reps`` bootstrap replicates of the mean over strata of each stratum's mean, resampling
    every stratum (e.g. the seeds of one env) with replacement on its own."""
    total = np.zeros(reps)
    for values in strata:
        idx = rng.integers(0, len(values), size=(reps, len(values)))
        total += values[idx].mean(axis=1)
    return total / len(strata)


def stratified_mean(strata: list[np.ndarray]) -> float:
    """Mean over strata of each stratum's mean (every env weighs the same)."""
    return float(np.mean([values.mean() for values in strata]))


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile bootstrap interval."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return float(low), float(high)


def difference_interval(a: list[np.ndarray], b: list[np.ndarray], reps: int, seed: int,
                        confidence: float) -> tuple[float, float, float]:
    """mean(a) - mean(b) with a percentile bootstrap interval, seeds resampled within each algorithm
    (and env) independently: (estimate, low, high)."""
    rng = np.random.default_rng(seed)
    replicates = bootstrap_means(a, rng, reps) - bootstrap_means(b, rng, reps)
    return (stratified_mean(a) - stratified_mean(b), *percentile_interval(replicates, confidence))


def mean_interval(a: list[np.ndarray], reps: int, seed: int, confidence: float) -> tuple[float, float, float]:
    """Mean with a percentile bootstrap interval: (estimate, low, high)."""
    rng = np.random.default_rng(seed)
    return (stratified_mean(a), *percentile_interval(bootstrap_means(a, rng, reps), confidence))


def wilson_interval(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


# --------------------------------------------------------------------------------- the tests

def better(low: float, high: float, margin: float = 0.0) -> str:
    """a - b > margin: supports if the interval's low end clears the margin, contradicts if its
    high end is below it (with margin 0: a reversed effect), unclear if it contains the margin."""
    return SUPPORTS if low > margin else CONTRADICTS if high < margin else UNCLEAR


def not_worse(low: float, high: float, tolerance: float) -> str:
    """a - b > -tolerance (a matches or beats b): supports if the whole interval is above
    -tolerance, contradicts if it is entirely below, unclear otherwise."""
    return better(low, high, -tolerance)


def above(low: float, high: float, threshold: float) -> str:
    """mean > threshold: supports if the interval is entirely above it, contradicts if entirely below."""
    return better(low, high, threshold)


def below(low: float, high: float, threshold: float) -> str:
    """mean < threshold: supports if the interval is entirely below it, contradicts if entirely above."""
    return SUPPORTS if high < threshold else CONTRADICTS if low > threshold else UNCLEAR


def diverges(n_diverged: int, n_runs: int) -> str:
    """Every run diverges: supports if all did, contradicts if none did, unclear if some did."""
    return SUPPORTS if n_diverged == n_runs else CONTRADICTS if n_diverged == 0 else UNCLEAR


def no_divergence(n_diverged: int, n_runs: int) -> str:
    """No run diverges: supports if none did; a single divergence contradicts."""
    return SUPPORTS if n_diverged == 0 else CONTRADICTS


def combine(outcomes: list[str], require: str) -> str:
    """The comparisons' outcomes -> a verdict, by ``require`` (all, any or majority); see the module docstring."""
    n, s, c = len(outcomes), outcomes.count(SUPPORTS), outcomes.count(CONTRADICTS)
    if n == 0:
        return "inconclusive"
    if require == "all":
        return "reproduced" if s == n else "not reproduced" if c >= 1 else "inconclusive"
    if require == "any":
        return "reproduced" if s >= 1 else "not reproduced" if c == n else "inconclusive"
    return "reproduced" if s > n / 2 else "not reproduced" if c >= n / 2 else "inconclusive"


def headline(comparisons: list[Comparison], require: str) -> Comparison:
    """The comparison that stands for the claim: the worst for all/majority, the best for any."""
    rank = {CONTRADICTS: 0, UNCLEAR: 1, SUPPORTS: 2}
    key = [(rank[c.outcome], c.slack) for c in comparisons]
    pick = max if require == "any" else min
    return comparisons[key.index(pick(key))]


# -------------------------------------------------------------------------------- evaluation

def num(x: float) -> str:
    """A number for a sentence: 3 significant digits below 100, an integer above."""
    if x is None or not np.isfinite(x):
        return "--"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}" if abs(x) >= 0.01 or x == 0 else f"{x:.2g}"


def triple(estimate: float, low: float, high: float) -> str:
    """'0.66 [-2.98, 4.30]': all three with the decimals that the interval's width warrants (3 significant)."""
    scale = high - low if high > low else abs(estimate)
    decimals = int(np.clip(2 - np.floor(np.log10(scale)), 0, 4)) if scale > 0 else 2
    return f"{estimate:.{decimals}f} [{low:.{decimals}f}, {high:.{decimals}f}]"


def _where(envs: list[str], pooled: bool) -> str:
    return f"over {len(envs)} env(s) ({', '.join(envs)})" if pooled else f"on {envs[0]}"


def _blocks(claim: Claim, envs: list[str]) -> list[list[str]]:
    """The env groups of the comparisons: each env alone, or all together when pooled."""
    return [envs] if claim.pool_envs else [[env] for env in envs]


def score_comparisons(claim: Claim, scores: dict, envs: list[str], reps: int, seed: int,
                      confidence: float) -> list[Comparison]:
    """The comparisons of a score test (better, not_worse, above, below) that have data on both sides.
    ``scores[(algo, env)]`` holds the per-seed scores."""
    out = []
    for block in _blocks(claim, envs):
        where = _where(block, claim.pool_envs)

        def strata(algo, block=block):
            parts = [scores.get((algo, env), np.empty(0)) for env in block]
            return parts if all(len(p) for p in parts) else None

        if claim.test in PAIR_TESTS:
            a = strata(claim.algo)
            for base in claim.than:
                b = strata(base)
                if a is None or b is None:
                    continue
                est, low, high = difference_interval(a, b, reps, seed, confidence)
                text = f"{claim.algo} - {base} = {triple(est, low, high)} {where}"
                if claim.test == "better":
                    bound = claim.margin
                    outcome = better(low, high, bound)
                    text += f" (margin {num(bound)})" if bound else ""
                else:
                    tolerance = (claim.margin if claim.relative_margin is None
                                 else claim.relative_margin * abs(stratified_mean(b)))
                    bound = -tolerance
                    outcome = not_worse(low, high, tolerance)
                    text += f" (tolerance {num(bound)})"
                out.append(Comparison(text, est, low, high, outcome, slack=low - bound))
        else:
            for algo in claim.algos:
                a = strata(algo)
                if a is None:
                    continue
                est, low, high = mean_interval(a, reps, seed, confidence)
                fn = above if claim.test == "above" else below
                slack = low - claim.threshold if claim.test == "above" else claim.threshold - high
                text = f"{algo} = {triple(est, low, high)} {where} (threshold {num(claim.threshold)})"
                out.append(Comparison(text, est, low, high, fn(low, high, claim.threshold), slack))
    return out


def divergence_comparisons(claim: Claim, runs: pd.DataFrame, envs: list[str], confidence: float) -> list[Comparison]:
    """The comparisons of a divergence test: per algorithm (and env), the fraction of runs that
    diverged before ``before_step``, with a Wilson interval."""
    out = []
    for block in _blocks(claim, envs):
        for algo in claim.algos:
            sel = runs[(runs.algo == algo) & runs.env.isin(block)]
            if sel.empty:
                continue
            at = pd.to_numeric(sel.diverged_at_step, errors="coerce")
            hit = (sel.status == "diverged") & (at.isna() | (at < claim.before_step))
            k, n = int(hit.sum()), len(sel)
            low, high = wilson_interval(k, n, confidence)
            steps = f" (at steps {num(at[hit].min())}-{num(at[hit].max())})" if k and at[hit].notna().any() else ""
            text = (f"{algo}: {k}/{n} runs diverged before step {claim.before_step}{steps} "
                    f"{_where(block, claim.pool_envs)}")
            fn = diverges if claim.test == "diverges" else no_divergence
            slack = k / n if claim.test == "diverges" else 1 - k / n
            out.append(Comparison(text, k / n, low, high, fn(k, n), slack))
    return out


def _as_bool(column: pd.Series) -> pd.Series:
    return column.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0")) if column.dtype != bool else column


def _names(items) -> str:
    return ", ".join(repr(i) for i in items)


def _too_few(few: list[tuple[int, str, str, int]], min_seeds: int, completed: bool) -> str:
    """'too few seeds: 2 < 3 completed runs of 'mirl', 'sql' on 'corridor' (1 diverged)'."""
    what = "completed runs" if completed else "runs"
    groups: dict[tuple, list[str]] = {}
    for n in sorted({f[0] for f in few}):
        for env in dict.fromkeys(f[2] for f in few if f[0] == n):
            algos = tuple(f[1] for f in few if f[0] == n and f[2] == env)
            diverged = sum(f[3] for f in few if f[0] == n and f[2] == env)
            groups.setdefault((n, algos), []).append(repr(env) + (f" ({diverged} diverged)" if diverged else ""))
    parts = [f"{n} < {min_seeds} {what} of {_names(algos)} on {', '.join(envs)}" for (n, algos), envs in groups.items()]
    return "too few seeds: " + _listing(parts)


def _listing(items: list[str], limit: int = 4) -> str:
    return "; ".join(items[:limit]) + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def claim_runs(claim: Claim, runs: pd.DataFrame | None) -> tuple[pd.DataFrame, list[str]]:
    """The runs.csv rows a claim reads, and its envs (``envs: all`` = those of the experiment in ``runs``)."""
    if runs is None or not len(runs):
        runs = pd.DataFrame(columns=["experiment", "algo", "env", "seed", "status"])
    mine = runs[(runs.experiment == claim.experiment) & runs.algo.isin(claim.all_algos)]
    if claim.envs == ALL_ENVS:
        return mine, sorted(runs.loc[runs.experiment == claim.experiment, "env"].unique())
    return mine[mine.env.isin(claim.envs)], list(claim.envs)


def seed_ranges(seeds) -> str:
    """'0-2, 5' for seeds 0, 1, 2, 5."""
    ordered, parts = sorted({int(s) for s in seeds}), []
    for seed in ordered:
        if parts and seed == parts[-1][1] + 1:
            parts[-1][1] = seed
        else:
            parts.append([seed, seed])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)


def not_run(claim: Claim, mine: pd.DataFrame, envs: list[str], missing: pd.DataFrame | None) -> list[str]:
    """'2 of 5 runs of algo 'a' on env 'e1' were not run (seeds 3-4)' for every (algo, env) of the claim with
    runs in ``missing`` (the aggregate's missing.csv: runs the config asks for that do not exist)."""
    if missing is None or not len(missing):
        return []
    absent = missing[(missing.experiment == claim.experiment) & missing.algo.isin(claim.all_algos)
                     & missing.env.isin(envs)]
    out = []
    for (algo, env), group in absent.groupby(["algo", "env"], sort=False):
        total = len(group) + int(((mine.algo == algo) & (mine.env == env)).sum())
        out.append(f"{len(group)} of {total} runs of algo {algo!r} on env {env!r} were not run "
                   f"(seed{'s' if len(group) > 1 else ''} {seed_ranges(group.seed)})")
    return out


def missing_runs(claim: Claim, mine: pd.DataFrame, envs: list[str], missing: pd.DataFrame | None = None) -> list[str]:
    """'no runs of algo ...' for every algorithm without runs on some env (those the config asks for and that
    were not run are named by :func:`not_run` instead)."""
    if not envs:
        return [f"no runs of experiment {claim.experiment!r}"]
    present = set(zip(mine.algo, mine.env, strict=True))
    if missing is not None and len(missing):
        present |= set(zip(*(missing.loc[missing.experiment == claim.experiment, c] for c in ("algo", "env")),
                           strict=True))
    out = []
    for algo in claim.all_algos:
        absent = [env for env in envs if (algo, env) not in present]
        if absent:
            out.append(f"no runs of algo {algo!r} on env {_names(absent)} in experiment {claim.experiment!r}")
    return out


def claim_scores(claim: Claim, per_run_scores: pd.DataFrame | None, mine: pd.DataFrame,
                 envs: list[str]) -> tuple[dict, list[str], list[tuple]]:
    """(scores[(algo, env)] = per-seed values, missing-score messages, too-few-seeds entries
    (n, algo, env, n_diverged)) for a score test; pairs without runs are left to missing_runs."""
    if per_run_scores is None or not len(per_run_scores):
        per_run_scores = pd.DataFrame(columns=["experiment", "algo", "env", "seed", "metric", "value"])
    sel = per_run_scores[(per_run_scores.experiment == claim.experiment) & (per_run_scores.metric == claim.metric)
                         & per_run_scores.algo.isin(claim.all_algos) & per_run_scores.env.isin(envs)]
    scores = {key: group.value.to_numpy(dtype=float) for key, group in sel.sort_values("seed").groupby(["algo", "env"])}
    missing, few = [], []
    for (algo, env), group in mine.groupby(["algo", "env"]):
        n_done, n = int((group.status == "completed").sum()), len(scores.get((algo, env), ()))
        if n == 0 and n_done > 0:
            missing.append(f"no {claim.metric!r} scores of algo {algo!r} on env {env!r} "
                           f"in experiment {claim.experiment!r}")
        elif n < claim.min_seeds:
            few.append((n, algo, env, len(group) - n_done))
    return scores, missing, few


def scale_blockers(claim: Claim, mine: pd.DataFrame) -> list[tuple[str, str]]:
    """(short, long) reasons why the runs cannot decide the claim: below paper scale, or budgets shorter
    than ``min_steps`` (divergence tests) or than the end of ``step_window``."""
    out = []
    needed = claim.min_steps if claim.test in DIVERGENCE_TESTS else claim.step_window[1] if claim.step_window else None
    if needed is not None and "total_steps" in mine:
        steps = pd.to_numeric(mine.total_steps, errors="coerce")
        if (steps < needed).any():
            what = "min_steps" if claim.test in DIVERGENCE_TESTS else "the end of step_window"
            out.append(("runs too short", f"runs too short: total_steps {int(steps.min())} < {what} {needed}"))
    if "below_paper_scale" in mine and _as_bool(mine.below_paper_scale).any():
        below = mine[_as_bool(mine.below_paper_scale)]
        notes = sorted({str(n) for n in below.scale_notes.dropna() if str(n)}) if "scale_notes" in below else []
        out.append(("below paper scale",
                    "below paper scale: " + (" | ".join(notes) or "runs.csv marks the runs below paper scale")))
    return out


def precision_blockers(claim: Claim, mine: pd.DataFrame, envs: list[str]) -> list[tuple[str, str]]:
    """A (short, long) reason for each comparison block (an env, or all envs when pooled) whose runs
    were trained at more than one precision (runs.csv cfg_precision; runs without one are fp32)."""
    if "cfg_precision" not in mine:
        return []
    precision = mine.cfg_precision.fillna("fp32").astype(str)
    mixed = []
    for block in _blocks(claim, envs):
        found = sorted(set(precision[mine.env.isin(block)]))
        if len(found) > 1:
            by_algo = "; ".join(f"{algo}: {', '.join(sorted(set(group)))}"
                                for algo, group in precision[mine.env.isin(block)].groupby(mine.algo))
            mixed.append(f"{' and '.join(found)} runs {_where(block, claim.pool_envs)} ({by_algo})")
    if not mixed:
        return []
    return [("mixed precision", "mixed precision: runs of different precisions are never pooled: " + _listing(mixed))]


def evaluate(claim: Claim, per_run_scores: pd.DataFrame | None, runs: pd.DataFrame | None, reps: int, seed: int,
             confidence: float, conditions: dict[str, str] | None = None,
             not_run_runs: pd.DataFrame | None = None) -> dict:
    """One claim -> its verdict row (see the module docstring for the rules). Never raises on
    missing data: such a claim is inconclusive with a reason starting 'missing data:'.
    ``conditions`` holds the verdicts of the claims this one is ``given`` (absent = not evaluated).
    ``per_run_scores`` must already be restricted to the claim's ``step_window``. ``not_run_runs``: the
    aggregate's missing.csv (experiment, algo, env, seed of the runs the config asks for that do not exist).
    ``confidence`` is the analysis' level; a claim's own ``confidence`` replaces it."""
    own_level = claim.confidence is not None and claim.confidence != confidence
    confidence = claim.confidence if claim.confidence is not None else confidence
    mine, envs = claim_runs(claim, runs)
    if claim.envs == ALL_ENVS and not_run_runs is not None and len(not_run_runs):
        envs = sorted({*envs, *not_run_runs.loc[not_run_runs.experiment == claim.experiment, "env"]})
    missing = not_run(claim, mine, envs, not_run_runs) + missing_runs(claim, mine, envs, not_run_runs)
    if claim.test in SCORE_TESTS:
        scores, no_scores, few = claim_scores(claim, per_run_scores, mine, envs)
        missing += no_scores
        comparisons = score_comparisons(claim, scores, envs, reps, seed, confidence)
    else:
        few = [(len(g), algo, env, 0) for (algo, env), g in mine.groupby(["algo", "env"]) if len(g) < claim.min_seeds]
        comparisons = divergence_comparisons(claim, mine, envs, confidence)
    mixed = precision_blockers(claim, mine, envs)
    if mixed:  # no statistic pools runs of different precisions
        comparisons = []
    blocked = scale_blockers(claim, mine) + mixed
    if few:
        blocked.insert(0, (f"too few seeds ({min(f[0] for f in few)} < {claim.min_seeds})",
                           _too_few(few, claim.min_seeds, claim.test in SCORE_TESTS)))
    if missing:
        blocked.insert(0, ("missing data", "missing data: " + _listing(missing)))
    unmet = [f"{other} is {(conditions or {}).get(other, 'not evaluated')}" for other in claim.given
             if (conditions or {}).get(other) != "reproduced"]
    if unmet:
        blocked.append(("condition not met", "condition not met: " + "; ".join(unmet)))
    # With too few seeds or an unmet condition, the comparisons say nothing about the claim: no evidence line.
    silent = bool(few or unmet)

    evidence = combine([c.outcome for c in comparisons], claim.require)
    verdict = "inconclusive" if blocked else evidence
    n_support = sum(c.outcome == SUPPORTS for c in comparisons)
    n_contra = sum(c.outcome == CONTRADICTS for c in comparisons)
    if comparisons:
        head = headline(comparisons, claim.require)
        statistic = head.text + (f"; {n_support}/{len(comparisons)} comparisons support, {n_contra} contradict"
                                 if len(comparisons) > 1 else "")
        if own_level:
            statistic += f" ({confidence * 100:g}% intervals)"
        estimate, low, high = head.estimate, head.low, head.high
    else:
        statistic, estimate, low, high = "--", np.nan, np.nan, np.nan
    reasons, short = [b[1] for b in blocked], [b[0] for b in blocked]
    if blocked and comparisons and not silent:
        reasons.append(f"the comparisons alone say: {evidence}")
        short.append(f"the comparisons alone say: {evidence}")
    elif not blocked and verdict != "reproduced":
        reasons.append(_evidence_reason(comparisons, claim.require))
        short.append(f"require {claim.require}: {n_support} support, {n_contra} contradict, "
                     f"{len(comparisons) - n_support - n_contra} unclear")
    return {
        "id": claim.id, "paper": claim.paper, "source": claim.source, "statement": claim.statement,
        "test": claim.test, "require": claim.require, "experiment": claim.experiment,
        "metric": claim.metric or "status", "algos": " ".join(claim.all_algos), "envs": " ".join(envs),
        "verdict": verdict, "evidence": evidence if comparisons and not silent else "none", "statistic": statistic,
        "estimate": estimate, "low": low, "high": high, "n_runs": len(mine),
        "n_comparisons": len(comparisons), "n_support": n_support, "n_contradict": n_contra,
        "reason": "; ".join(reasons), "short_reason": "; ".join(short),
        "details": " | ".join(f"{c.text}: {c.outcome}" for c in comparisons),
        "threshold": claim.threshold, "margin": claim.margin, "relative_margin": claim.relative_margin,
        "step_window": "-".join(map(str, claim.step_window)) if claim.step_window else "",
        "given": " ".join(claim.given),
        "min_seeds": claim.min_seeds, "bootstrap_reps": reps, "bootstrap_seed": seed, "confidence": confidence,
        "note": claim.note,
    }


def _evidence_reason(comparisons: list[Comparison], require: str) -> str:
    against = [c.text for c in comparisons if c.outcome == CONTRADICTS]
    unclear = [c.text for c in comparisons if c.outcome == UNCLEAR]
    parts = []
    if against:
        parts.append("contradicted by: " + _listing(against, 3))
    if unclear:
        parts.append("interval includes the decision boundary: " + _listing(unclear, 3))
    return f"require {require}; " + "; ".join(parts)


# ---------------------------------------------------------------------------- all claims, I/O

class AggregateData:
    """One paper's aggregate directory, read once; per-run scores computed once per step window."""

    def __init__(self, directory: Path, final_window, human_scores: pd.DataFrame | None):
        self.runs = pd.read_csv(directory / "runs.csv")
        tidy_path = directory / "tidy.csv.gz"
        self.tidy = pd.read_csv(tidy_path) if tidy_path.exists() else pd.DataFrame(
            columns=["paper", "experiment", "algo", "label", "agent", "env", "seed", "step", "metric", "value"])
        missing_path = directory / "missing.csv"  # absent in aggregates written before it existed: none missing
        self.missing = (pd.read_csv(missing_path, dtype={"experiment": str, "algo": str, "env": str})
                        if missing_path.exists() else None)
        self.final_window, self.human_scores = final_window, human_scores
        self.note = ""
        """What was not available (e.g. human-normalised scores without a human-scores table)."""
        self._scores: dict = {}

    def scores(self, window: tuple[int, int] | None = None) -> pd.DataFrame:
        """Per-run scores (rlrepro.analysis.aggregate.final_scores, plus final_hns for Atari runs) from the
        snapshots inside ``window`` (first, last), or from all of them."""
        if window not in self._scores:
            tidy = self.tidy if window is None else self.tidy[self.tidy.step.between(*window)]
            per_run = final_scores(tidy, self.runs, self.final_window)
            if "kind" in self.runs and (self.runs.kind == "atari").any():
                if self.human_scores is None:
                    self.note = "no human-scores table: no final_hns scores"
                else:
                    try:
                        per_run = pd.concat([per_run, human_normalised(per_run, self.runs, self.human_scores)],
                                            ignore_index=True)
                    except ValueError as err:
                        self.note = f"no final_hns scores: {err}"
            self._scores[window] = per_run
        return self._scores[window]


def evaluate_all(claims: list[Claim], aggregate_dirs: dict[str, Path], analysis: dict,
                 human_scores: Path | None = None) -> pd.DataFrame:
    """Every claim's verdict row, in the claims file's order (evaluated after the claims they are
    ``given``). A paper without an aggregate directory (or runs.csv) makes its claims inconclusive:
    missing data."""
    reps, seed, confidence = analysis["bootstrap_reps"], analysis["bootstrap_seed"], analysis["confidence"]
    table = pd.read_csv(human_scores) if human_scores is not None else None
    loaded = {}
    for paper in sorted({c.paper for c in claims}):
        directory = aggregate_dirs.get(paper)
        if directory is None or not (Path(directory) / "runs.csv").exists():
            loaded[paper] = f"missing data: no aggregate results for paper {paper!r} ({directory}/runs.csv not found)"
        else:
            loaded[paper] = AggregateData(Path(directory), analysis["final_window"], table)
    rows: dict[str, dict] = {}
    for claim in evaluation_order(claims):
        data = loaded[claim.paper]
        verdicts = {other: rows[other]["verdict"] for other in claim.given if other in rows}
        if isinstance(data, str):
            row = evaluate(claim, None, None, reps, seed, confidence, verdicts)
            row.update(verdict="inconclusive", reason=data, short_reason="missing data: no aggregate results")
        else:
            row = evaluate(claim, data.scores(claim.step_window), data.runs, reps, seed, confidence, verdicts,
                           data.missing)
            if data.note and claim.metric == "final_hns" and row["reason"].startswith("missing data"):
                row["reason"] += f" ({data.note})"
        rows[claim.id] = row
    return pd.DataFrame([rows[claim.id] for claim in claims])


# --------------------------------------------------------------------------------------- LaTeX

VERDICT_COLOURS = {"reproduced": "green!45!black", "not reproduced": "red!70!black", "inconclusive": "black!60"}


def tex(text) -> str:
    """A cell of the claims table as LaTeX: escaped, empty where missing."""
    return tex_escape("" if pd.isna(text) else text)


def tex_statistic(text) -> str:
    """A statistic for LaTeX: escaped, with minus signs (not hyphens) in differences and negative numbers."""
    return re.sub(r" - |(?<![\w.])-(?=[0-9])", lambda m: " $-$ " if m[0] == " - " else "$-$", tex(text))


def summary(verdicts: pd.Series) -> str:
    """'3 reproduced, 1 not reproduced, 8 inconclusive'."""
    counts = verdicts.value_counts()
    return ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)


def verdict_tex(verdict: str) -> str:
    """The verdict, coloured when the document loads xcolor."""
    return (f"\\ifcsname ver@xcolor.sty\\endcsname\\textcolor{{{VERDICT_COLOURS[verdict]}}}{{{verdict}}}"
            f"\\else {verdict}\\fi")


def table_level(table: pd.DataFrame) -> float:
    """The interval level most claims use (the analysis'); a claim with its own says so in its statistic."""
    return float(table.confidence.mode().iloc[0])


def claims_tex(table: pd.DataFrame) -> str:
    """LaTeX defining \\ClaimsTable (a longtable: needs the longtable and booktabs packages; verdicts
    are coloured if xcolor is loaded), \\ClaimsSummary, \\ClaimsBootstrap, and per claim
    \\ClaimVerdictOf{id} and \\ClaimStatisticOf{id}."""
    first = table.iloc[0] if len(table) else None
    boot = "--"
    if first is not None:
        boot = (f"{int(first.bootstrap_reps)} resamples, seed {int(first.bootstrap_seed)}, "
                f"{table_level(table) * 100:g}\\% intervals"
                + (" unless a statistic says otherwise" if table.confidence.nunique() > 1 else ""))
    out = ["% Generated by `python -m rlrepro.analysis.claims` from config/claims.yaml; do not edit.\n",
           f"\\newcommand{{\\ClaimsSummary}}{{{summary(table.verdict) if len(table) else 'no claims'}}}\n",
           f"\\newcommand{{\\ClaimsBootstrap}}{{{boot}}}\n",
           "\\newcommand{\\ClaimVerdictOf}[1]{\\csname claimverdict@#1\\endcsname}\n",
           "\\newcommand{\\ClaimStatisticOf}[1]{\\csname claimstatistic@#1\\endcsname}\n"]
    for row in table.itertuples():
        out.append(f"\\expandafter\\def\\csname claimverdict@{row.id}\\endcsname{{{row.verdict}}}\n")
        out.append(f"\\expandafter\\def\\csname claimstatistic@{row.id}\\endcsname{{{tex_statistic(row.statistic)}}}\n")
    cols = "p{0.13\\linewidth}l p{0.11\\linewidth}p{0.27\\linewidth}p{0.11\\linewidth}p{0.22\\linewidth}"
    header = ("\\raggedright claim & paper & \\raggedright source & \\raggedright statement & \\raggedright verdict & "
              "\\raggedright statistic [interval]; why \\tabularnewline\n")
    body = []
    for row in table.itertuples():
        why = f" \\emph{{{tex(row.short_reason)}.}}" if row.verdict != "reproduced" and row.short_reason else ""
        body.append(f"\\raggedright {tex(row.id)} & {row.paper.upper()} & \\raggedright {tex(row.source)} & "
                    f"\\raggedright {tex(row.statement)} & \\raggedright {verdict_tex(row.verdict)} & "
                    f"\\raggedright {tex_statistic(row.statistic)}.{why} \\tabularnewline\n")
    out.append(
        "\\newcommand{\\ClaimsTable}{%\n\\begingroup\\small\\setlength{\\tabcolsep}{3pt}\n"
        f"\\begin{{longtable}}{{{cols}}}\n"
        f"\\caption{{Claims of the papers and seed reports, and their verdicts (\\ClaimsSummary; {boot}).}}"
        "\\label{tab:claims}\\tabularnewline\n"
        f"\\toprule\n{header}\\midrule\n\\endfirsthead\n"
        f"\\toprule\n{header}\\midrule\n\\endhead\n"
        "\\bottomrule\n\\endlastfoot\n"
        + "\\addlinespace\n".join(body)
        + "\\end{longtable}\n\\endgroup}\n")
    return "".join(out)


def claims_markdown(table: pd.DataFrame) -> str:
    """The verdicts as Markdown (the README's table): the summary line, then per claim its verdict and
    statistic, or for an undecided claim why not (the statistic too unless data are missing)."""
    level = f"{table_level(table) * 100:g}% " if len(table) else ""
    rows = [f"{summary(table.verdict)}:", "", f"| claim | verdict | statistic [{level}interval], or why not decided |",
            "|---|---|---|"]
    for row in table.itertuples():
        statistic = row.statistic.replace("|", "\\|") if isinstance(row.statistic, str) else ""
        if row.verdict == "inconclusive":
            shown = row.short_reason if "missing" in str(row.short_reason) or not statistic \
                else f"{row.short_reason}; {statistic}"
            rows.append(f"| `{row.id}` | inconclusive | {shown} |")
        else:
            rows.append(f"| `{row.id}` | **{row.verdict}** | {statistic} |")
    return "\n".join(rows) + "\n"


# ----------------------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlrepro.analysis.claims",
                                     description="Evaluate the claims file against aggregate results.")
    parser.add_argument("--claims", type=Path, required=True, help="claims YAML (config/claims.yaml)")
    parser.add_argument("--aggregate", type=Path, required=True,
                        help="directory holding <paper>/runs.csv and tidy.csv.gz")
    parser.add_argument("--analysis", required=True, help="JSON of the config's 'analysis' section")
    parser.add_argument("--human-scores", type=Path, help="CSV env,random_score,human_score (for final_hns)")
    parser.add_argument("--output", type=Path, required=True, help="CSV, one row per claim")
    parser.add_argument("--tex", type=Path, help="LaTeX file defining \\ClaimsTable and \\ClaimsSummary")
    parser.add_argument("--markdown", type=Path, help="Markdown file with the summary and the verdicts table")
    args = parser.parse_args(argv)
    try:
        claims = load_claims(args.claims)
        analysis = json.loads(args.analysis)
        missing = [k for k in ("bootstrap_reps", "bootstrap_seed", "confidence", "final_window") if k not in analysis]
        if missing:
            raise ClaimsError(f"--analysis lacks {', '.join(missing)}")
        if args.human_scores is not None and not args.human_scores.exists():
            raise ClaimsError(f"--human-scores {args.human_scores} does not exist")
        dirs = {paper: args.aggregate / paper for paper in PAPERS}
        table = evaluate_all(claims, dirs, analysis, args.human_scores)
    except (ClaimsError, json.JSONDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_atomic(args.output, table.to_csv(index=False).encode())
    if args.tex:
        write_atomic(args.tex, claims_tex(table).encode())
    if args.markdown:
        write_atomic(args.markdown, claims_markdown(table).encode())
    for row in table.itertuples():
        print(f"{row.verdict:>14}  {row.id}: {row.statistic}")
    print(summary(table.verdict))
    return 0


if __name__ == "__main__":
    sys.exit(main())
