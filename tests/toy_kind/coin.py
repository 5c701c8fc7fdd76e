"""A toy experiment kind for tests/test_kinds.py: a two-armed Bernoulli bandit ("coin") learned by an
epsilon-greedy sample average. Everything a kind provides, in the smallest form: agents, config and
budget dataclasses, ``make_trainer``, its table generator; its notebook is coin_notebook.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rlrepro.core.loop import Bookkeeping, ConfigFields, TrainState, check_finite
from rlrepro.reporting.latex import camel, fmt, macro

ENVS = ("fair", "biased")
PAYOFFS = {"fair": (0.5, 0.5), "biased": (0.2, 0.8)}


@dataclass
class CoinConfig(ConfigFields):
    epsilon: float = 0.1
    """Probability of a random arm."""


@dataclass
class CoinBudget:
    total_steps: int = 400
    """Pulls per run."""
    eval_interval: int = 100
    """Pulls between metrics rows."""
    checkpoint_interval: int = 200
    """Pulls between checkpoints."""


class SampleAverage:
    def __init__(self, cfg: CoinConfig):
        self.cfg, self.counts, self.values = cfg, np.zeros(2), np.zeros(2)

    def act(self, rng: np.random.Generator) -> int:
        return int(rng.integers(2)) if rng.random() < self.cfg.epsilon else int(np.argmax(self.values))

    def update(self, arm: int, reward: float) -> None:
        self.counts[arm] += 1
        self.values[arm] += (reward - self.values[arm]) / self.counts[arm]


AGENTS = {"SampleAverage": SampleAverage}


def train(agent: SampleAverage, env: str, budget: CoinBudget, seed: int, resume: TrainState | None = None,
          on_checkpoint=None, on_progress=None) -> list[dict]:
    book = Bookkeeping(budget, resume, on_checkpoint, on_progress)
    rng = np.random.default_rng(seed)
    if resume is not None:
        agent.counts, agent.values = resume.agent["counts"], resume.agent["values"]
        rng.bit_generator.state = resume.rng
    with book:
        for step in range(book.start, budget.total_steps):
            arm = agent.act(rng)
            agent.update(arm, float(rng.random() < PAYOFFS[env][arm]))
            done = step + 1
            if done % budget.eval_interval == 0:
                best = float(np.max(agent.values))
                check_finite(done, best_value=best)
                book.log({"step": done, "eval_return": best}, budget.eval_interval)
            if book.checkpoint_due(done):
                book.checkpoint(done, agent={"counts": agent.counts.copy(), "values": agent.values.copy()},
                                rng=rng.bit_generator.state)
    return book.rows


def make_trainer(spec: dict):
    agent = AGENTS[spec["agent"]](CoinConfig(**spec["agent_config"]))
    budget = CoinBudget(**spec["budget"])

    def fit(**kwargs):
        return train(agent, spec["env"], budget, spec["seed"], **kwargs)

    return fit, budget.total_steps, "cpu"


def coin_tables(experiment: str, final: pd.DataFrame, runs: pd.DataFrame, stats: dict, panels: dict,
                references: pd.DataFrame) -> str:
    mine = final[(final.experiment == experiment) & (final.metric == "final_eval_return")]
    return "".join(macro(f"{camel(experiment)}{camel(row.algo)}{camel(row.env)}", fmt(row.mean))
                   for row in mine.itertuples())
