"""Old module names of the flat layout (before per-paper packages), kept working with a message.

``python -m rlrepro.aggregate ...`` and ``import rlrepro.tabular`` still work: the old name is an
alias of the module that now holds the code (one module object, so classes stay identical).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "rlrepro.runstore": "rlrepro.core.runstore", "rlrepro.config": "rlrepro.core.config",
    "rlrepro.cluster": "rlrepro.core.cluster", "rlrepro.tabular": "rlrepro.mirl.tabular",
    "rlrepro.soft": "rlrepro.mirl.soft", "rlrepro.deep_q": "rlrepro.mirl.atari",
    "rlrepro.replay": "rlrepro.mirl.replay",
    "rlrepro.losses": "rlrepro.epmd.losses", "rlrepro.actor_critic": "rlrepro.epmd.continuous",
    "rlrepro.repmd": "rlrepro.epmd.algorithmic", "rlrepro.aggregate": "rlrepro.analysis.aggregate",
    "rlrepro.robust": "rlrepro.analysis.robust", "rlrepro.claims": "rlrepro.analysis.claims",
    "rlrepro.report": "rlrepro.reporting.tables", "rlrepro.provenance": "rlrepro.reporting.provenance",
}
"""Old module name -> where its code lives now."""


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str):
        self.new = new

    def create_module(self, spec):
        return importlib.import_module(self.new)

    def exec_module(self, module) -> None:
        pass

    def get_code(self, name: str):  # `python -m <old name>` runs the new module's code
        return importlib.util.find_spec(self.new).loader.get_code(self.new)


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in MOVED:
            return None
        print(f"note: {name} is now {MOVED[name]}; the old name keeps working for now", file=sys.stderr)
        return importlib.util.spec_from_loader(name, _Alias(MOVED[name]))


def install() -> None:
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
