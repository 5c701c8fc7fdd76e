"""Environments written in this project (registered with Gymnasium on import)."""

from rlrepro.envs.algorithmic import ENV_CLASSES, ENV_IDS, TASKS, AlgorithmicEnv
from rlrepro.envs.gridworld import LAYOUTS, GridWorld

__all__ = ["ENV_CLASSES", "ENV_IDS", "LAYOUTS", "TASKS", "AlgorithmicEnv", "GridWorld"]
