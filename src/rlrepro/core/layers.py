"""Layered config files: what merging ``--configfile`` layers cannot say by itself.

A later file can add or replace keys of an earlier one but not delete them. Here a null per-environment
entry (``budget_by_env`` / ``agent_overrides_by_env``) deletes the earlier file's entry: how a layer that
narrows an experiment's envs (``config/mujoco_midscale.yaml`` over ``config/paper.yaml``) drops the
exceptions of the envs it no longer runs. Kept apart from :mod:`rlrepro.core.config`, which training
imports: the code fingerprint of a run covers that module, and reading config files is no part of a run.
"""

from __future__ import annotations

from pathlib import Path

from rlrepro.core.config import load_config

BY_ENV_KEYS = ("budget_by_env", "agent_overrides_by_env")


def drop_removed_env_entries(config: dict) -> dict:
    """Remove, in place, every per-environment entry set to null; returns ``config``."""
    for exp in (config.get("experiments") or {}).values():
        if not isinstance(exp, dict):
            continue
        for key in BY_ENV_KEYS:
            entries = exp.get(key)
            if isinstance(entries, dict):
                for env in [env for env, value in entries.items() if value is None]:
                    del entries[env]
    return config


def load_layered_config(*paths: str | Path) -> dict:
    """:func:`rlrepro.core.config.load_config` (files merged left to right) with null entries removed."""
    return drop_removed_env_entries(load_config(*paths))
