"""What the algorithms compute does not change when code moves: metrics.csv of the smoke workflow and
of longer runs per experiment kind are bit-identical to the SHA-256 pinned in
tests/data/behaviour_hashes.json (re-record with ``python tests/behaviour_runs.py --record`` only
after a deliberate change of results, and say so in the commit)."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from behaviour_runs import HASHES, RUNS, environment, metrics_hashes, run_key, sha256, train

PINNED = json.loads(HASHES.read_text())


@pytest.fixture(scope="module")
def same_machine_kind():
    """Bit-identity holds for the same libraries on the same kind of CPU; elsewhere say what differs."""
    here, pinned = environment(), PINNED["environment"]
    differs = {key: (pinned.get(key), here[key]) for key in here if here[key] != pinned.get(key)}
    if differs:
        pytest.skip(f"pinned hashes come from another environment (pinned, here): {differs}")


def test_smoke_workflow_metrics_are_unchanged(smoke_workflow, same_machine_kind):
    produced = metrics_hashes(smoke_workflow / "results/runs")
    assert produced.keys() == PINNED["smoke"].keys()
    changed = sorted(key for key in produced if produced[key] != PINNED["smoke"][key])
    assert not changed, f"metrics.csv changed for {len(changed)} smoke runs: {changed}"


def test_longer_runs_per_kind_are_unchanged(tmp_path, same_machine_kind):
    with ThreadPoolExecutor(max_workers=2) as pool:
        paths = dict(zip(RUNS, pool.map(lambda run: train(tmp_path, *run), RUNS)))
    changed = sorted(run_key(*run) for run, path in paths.items() if sha256(path) != PINNED["runs"][run_key(*run)])
    assert not changed, f"metrics.csv changed for: {changed}"
