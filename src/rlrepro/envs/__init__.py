"""Environments written in this project (registered with Gymnasium on import)."""

from rlrepro.envs.gridworld import LAYOUTS, GridWorld

__all__ = ["LAYOUTS", "GridWorld"]
