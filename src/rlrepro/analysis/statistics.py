"""The one seeded bootstrap: rliable's stratified-bootstrap intervals, repeatable for a given seed.

rliable draws its resamples from numpy's global generator whatever ``random_state`` says, so every
call here seeds ``np.random`` first; and each call bootstraps one algorithm (or one pair), so an
interval does not depend on which other algorithms are analysed alongside it.
"""

from __future__ import annotations

import warnings
from typing import Callable, Mapping

import numpy as np


def interval_estimate(data, statistic: Callable, reps: int, seed: int,
                      confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """rliable's stratified bootstrap of ``statistic`` on one ``(runs x tasks)`` matrix (or a tuple of
    matrices, resampled independently). Returns (point estimate, 2 x k interval)."""
    from rliable import library as rly

    np.random.seed(seed)
    with warnings.catch_warnings():  # arch deprecates the RandomState that rliable passes
        warnings.simplefilter("ignore", FutureWarning)
        point, ci = rly.get_interval_estimates({"key": data}, statistic, reps=reps, confidence_interval_size=confidence,
                                               random_state=np.random.RandomState(seed))
    return np.atleast_1d(point["key"]), np.asarray(ci["key"]).reshape(2, -1)


def scalar_intervals(matrix: np.ndarray, statistics: Mapping[str, Callable], reps: int, seed: int,
                     confidence: float) -> dict[str, float]:
    """Each scalar statistic of ``matrix`` (name -> function of the matrix, e.g. :func:`interquartile_mean`)
    with its interval: ``{name: point, name_low: low, name_high: high, ...}``.

    All statistics share one bootstrap: the resamples depend only on the seed and the matrix's shape, so
    this gives, bit for bit, the intervals of one bootstrap per statistic at a fraction of the cost."""
    fns = list(statistics.values())
    point, ci = interval_estimate(matrix, lambda x: np.array([fn(x) for fn in fns]), reps, seed, confidence)
    out = {}
    for i, name in enumerate(statistics):
        out[name], out[f"{name}_low"], out[f"{name}_high"] = float(point[i]), float(ci[0, i]), float(ci[1, i])
    return out


def interquartile_mean(scores: np.ndarray) -> float:
    """The mean of the middle half of all scores (IQM): rliable's ``aggregate_iqm``, which is
    ``scipy.stats.trim_mean(scores, 0.25, axis=None)``, computed by the same partition and mean but
    without scipy's argument checks, which cost five times the computation in a bootstrap."""
    flat = np.ravel(scores)
    if flat.size == 0:
        return float("nan")
    cut = int(0.25 * flat.size)
    middle = np.partition(flat, (cut, flat.size - cut - 1))[cut:flat.size - cut]
    return np.mean(middle if np.issubdtype(middle.dtype, np.inexact) else middle.astype(float))


def mean_and_iqm() -> dict[str, Callable]:
    """rliable's mean and the interquartile mean, the statistics of final.csv."""
    from rliable import metrics as rlm

    return {"mean": rlm.aggregate_mean, "iqm": interquartile_mean}


def performance_profile_band(matrix: np.ndarray, taus: np.ndarray, reps: int, seed: int,
                             confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """rliable's performance profile of one matrix at ``taus`` with its stratified-bootstrap band:
    (fraction per tau, 2 x len(taus) band)."""
    from rliable import library as rly

    np.random.seed(seed)  # create_performance_profile has no random_state: it draws from np.random
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        profile, ci = rly.create_performance_profile({"key": matrix}, taus, reps=reps,
                                                     confidence_interval_size=confidence)
    return profile["key"], np.asarray(ci["key"])
