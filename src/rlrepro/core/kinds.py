"""The one registry of experiment kinds: everything the package and the workflow need to train,
analyse, draw and report one kind of experiment.

An experiment of the config names its kind (``experiments.<name>.kind``); every stage looks the kind
up here and nowhere else. Code is referenced by dotted name and imported on first use, so the
registry itself is torch-free (a tabular job never imports torch, the Snakefile imports no agent).

Adding a kind (README, "Adding an experiment kind"): write its training module (agents, config and
budget dataclasses, ``make_trainer``), its notebook and its table generator, then add one
:class:`Kind` to :data:`KINDS` (or :func:`register` it) and a ``resources.train_<kind>`` profile.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Mapping


def resolve(reference: str) -> Any:
    """``"package.module:attribute"`` -> the attribute (the module is imported on first use)."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Kind:
    """One experiment kind."""

    name: str
    """The value of ``experiments.<name>.kind``."""
    module: str
    """Training module: defines ``AGENTS`` (name -> class), the dataclasses named by ``config_class``
    and ``budget_class``, and ``make_trainer(spec)`` (see :mod:`rlrepro.train`)."""
    config_class: str
    """Agent-config dataclass in ``module``; its fields are ``algorithms.<algo>.overrides`` keys."""
    budget_class: str
    """Budget dataclass in ``module``; its fields are ``experiments.<name>.budget`` keys."""
    envs: str
    """``"module:attribute"`` naming the environment ids (a sequence, or a function returning one)."""
    paper_scale: Mapping[str, int]
    """Budget fields and seeds the paper ran at; less than this is 'below paper scale'."""
    notebook: str
    """Jupytext notebook (repository path) that draws the experiment's figures."""
    figures: tuple[str, ...]
    """Figure names: the notebook writes :func:`rlrepro.core.paths.figure` (experiment, name) for each."""
    tables: str
    """``"module:function"`` writing the experiment's generated LaTeX (see :mod:`rlrepro.reporting.tables`)."""
    normalisation: tuple[str, str]
    """(per-run metric of ``aggregate.final_scores``, description): the common scale of across-task statistics."""
    neural: bool = False
    """Whether its agents run on ``config['device']`` (GPU when 'cuda'); the others are CPU-only."""
    paper_scale_by_env: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Per-environment exceptions to ``paper_scale``."""
    uses_torch: bool = True
    """Whether its training imports torch (the job then sets torch's thread count)."""
    env_list_hint: str | None = None
    """For kinds with too many environments to list in an error: the command that lists them."""

    def training_module(self) -> ModuleType:
        return importlib.import_module(self.module)

    @property
    def agents(self) -> Mapping[str, type]:
        return self.training_module().AGENTS

    @property
    def config(self) -> type:
        return getattr(self.training_module(), self.config_class)

    @property
    def budget(self) -> type:
        return getattr(self.training_module(), self.budget_class)

    @property
    def env_ids(self) -> tuple[str, ...]:
        envs = resolve(self.envs)
        return tuple(envs() if callable(envs) else envs)

    def make_trainer(self, spec: dict):
        return self.training_module().make_trainer(spec)

    def scale_of(self, env: str) -> Mapping[str, int]:
        return self.paper_scale_by_env.get(env, self.paper_scale)


KINDS: dict[str, Kind] = {}
"""Kind name -> :class:`Kind`, in registration order."""


def register(kind: Kind) -> Kind:
    """Add (or replace) a kind; returns it."""
    KINDS[kind.name] = kind
    return kind


register(Kind(
    name="tabular", module="rlrepro.mirl.tabular", config_class="TabularConfig", budget_class="Budget",
    envs="rlrepro.envs.gridworld:LAYOUTS",
    paper_scale={"total_steps": 100_000, "seeds": 10, "eval_episodes": 30, "eval_max_steps": 100},
    notebook="notebooks/mirl_tabular.py", figures=("figure1", "alpha_rho_sweep", "stability"),
    tables="rlrepro.reporting.tables:tabular_tables", uses_torch=False,
    normalisation=("final_correct_action_rate", "final correct-action rate of the training behaviour, exploratory "
                   "steps included (a fraction; no rescaling)"),
))
register(Kind(
    name="continuous", module="rlrepro.epmd.continuous", config_class="ActorCriticConfig",
    budget_class="ContinuousBudget", envs="rlrepro.epmd.continuous:ENVS",
    paper_scale={"total_steps": 1_000_000, "seeds": 5},
    paper_scale_by_env={
        "Humanoid-v5": {"total_steps": 6_000_000, "seeds": 5},
        # Neither EPMD nor its reproduction gives a scale for the sanity task; this project's reference.
        "Pendulum-v1": {"total_steps": 20_000, "seeds": 5},
    },
    notebook="notebooks/epmd_continuous.py", figures=("curves",),
    tables="rlrepro.reporting.tables:continuous_tables",
    normalisation=("final_eval_return", "final evaluation return / reference return of the task (mean of the "
                   "published TD3 and SAC returns at about 1M steps: TD3 paper, CleanRL)"),
    neural=True,
))
register(Kind(
    name="algorithmic", module="rlrepro.epmd.algorithmic", config_class="PolicyGradientConfig",
    budget_class="AlgorithmicBudget", envs="rlrepro.envs.algorithmic:TASKS",
    # Neither EPMD nor its reproduction states REPMD's budget; this project's reference (papers.md, open).
    paper_scale={"total_steps": 2_000_000, "seeds": 5},
    notebook="notebooks/epmd_algorithmic.py", figures=("curves",),
    tables="rlrepro.reporting.tables:algorithmic_tables",
    normalisation=("final_eval_solve_rate", "final solve rate of the greedy policy (already a fraction; no rescaling)"),
))
register(Kind(
    name="atari", module="rlrepro.mirl.atari", config_class="DeepQConfig", budget_class="AtariBudget",
    envs="rlrepro.envs.atari:game_ids",
    # MIRL's Atari frame budget is not known here (papers.md, open): the project's reference is
    # 10M agent steps (40M frames), the budget of the CleanRL DQN scores in papers.md.
    paper_scale={"total_steps": 10_000_000, "seeds": 5},
    notebook="notebooks/mirl_atari.py", figures=("curves", "aggregate"),
    tables="rlrepro.reporting.tables:atari_tables",
    normalisation=("final_hns", "human-normalised final return, (score - random) / (human - random)"),
    neural=True, env_list_hint="python -m rlrepro.envs.atari",
))
