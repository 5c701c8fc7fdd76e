"""The seeded bootstrap of analysis.statistics: the fast IQM and the shared bootstrap must give exactly
rliable's numbers, since the paper-scale verdicts were read from them."""

import numpy as np
import pytest
from rliable import metrics as rlm

from rlrepro.analysis.statistics import interquartile_mean, interval_estimate, scalar_intervals


def test_interquartile_mean_by_hand():
    # 8 scores: a quarter (2) cut at each end, the mean of 3, 4, 5, 6
    assert interquartile_mean(np.array([[8.0], [1.0], [7.0], [2.0], [6.0], [3.0], [5.0], [4.0]])) == 4.5
    # 10 scores: int(2.5) = 2 cut at each end, the mean of the middle six
    assert interquartile_mean(np.arange(10.0)) == pytest.approx(np.mean([2, 3, 4, 5, 6, 7]))
    assert interquartile_mean(np.array([3, 1, 2])) == 2.0  # integers give a float mean
    assert np.isnan(interquartile_mean(np.empty((0, 3))))


@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (10, 1), (5, 6), (7, 3), (50, 2)])
def test_interquartile_mean_equals_rliable_bit_for_bit(shape):
    rng = np.random.default_rng(sum(shape))
    for scores in (rng.normal(size=shape) * 1e3, rng.integers(0, 4, size=shape).astype(float)):  # ties too
        assert interquartile_mean(scores) == rlm.aggregate_iqm(scores)


def test_shared_bootstrap_equals_one_bootstrap_per_statistic():
    scores = np.random.default_rng(3).normal(size=(10, 2))
    stats = {"mean": rlm.aggregate_mean, "iqm": rlm.aggregate_iqm, "gap": rlm.aggregate_optimality_gap}
    shared = scalar_intervals(scores, stats, reps=300, seed=7, confidence=0.95)
    for name, fn in stats.items():
        point, ci = interval_estimate(scores, lambda x, fn=fn: np.array([fn(x)]), 300, 7, 0.95)
        assert (shared[name], shared[f"{name}_low"], shared[f"{name}_high"]) == (point[0], ci[0, 0], ci[1, 0])
    fast = scalar_intervals(scores, {"iqm": interquartile_mean}, reps=300, seed=7, confidence=0.95)
    assert fast == {key: shared[key] for key in ("iqm", "iqm_low", "iqm_high")}
