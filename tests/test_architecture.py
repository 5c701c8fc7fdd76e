"""The layout's rules, checked on the source: which package may import which, no import cycle, no
``rlrepro`` import hidden inside a function, and the stages that never need torch never import it."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

ALLOWED = {
    "core": {"core"},
    "envs": {"core", "envs"},
    "mirl": {"core", "envs", "mirl"},
    # EPMD's log-partition value is MIRL's soft value (eq. 2) with a uniform prior, and every critic's
    # one-step target is eq. 4's: one function for both papers.
    "epmd": {"core", "envs", "epmd", "mirl.soft", "mirl.losses"},
    "analysis": {"core", "analysis", "reporting.latex"},
    "reporting": {"core", "analysis", "reporting"},
    "train": {"core"},
    "archive": {"core", "archive"},
    "_moved": set(),
    "__init__": {"_moved"},
}
"""Package (first part of the module name under rlrepro) -> what it may import from rlrepro."""

TORCH_FREE = ["rlrepro.core.config", "rlrepro.core.kinds", "rlrepro.core.runstore", "rlrepro.core.cluster",
              "rlrepro.analysis.aggregate", "rlrepro.analysis.robust", "rlrepro.analysis.claims",
              "rlrepro.reporting.tables", "rlrepro.reporting.provenance", "rlrepro.mirl.tabular", "rlrepro.train"]
"""Modules a tabular job, the Snakefile and the analysis/report stages import: torch stays out."""


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported rlrepro module, whether the import sits inside a function) for every import."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only, never executed
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inside) for alias in child.names if alias.name.startswith("rlrepro"))
            elif isinstance(child, ast.ImportFrom) and (child.module or "").startswith("rlrepro"):
                for alias in child.names:  # `from rlrepro.mirl import soft` imports rlrepro.mirl.soft
                    candidate = f"{child.module}.{alias.name}"
                    is_module = (SRC / candidate.replace(".", "/")).with_suffix(".py").exists()
                    found.append((candidate if is_module else child.module, inside))
            visit(child, inside)

    visit(ast.parse(path.read_text()), False)
    return found


MODULES = {module_name(p): p for p in sorted((SRC / "rlrepro").rglob("*.py"))}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def allowed(importer: str, imported: str) -> bool:
    rest = imported.split(".", 1)[1] if "." in imported else ""
    return any(rest == target or rest.startswith(target + ".") for target in ALLOWED[package_of(importer)])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module):
    wrong = [imported for imported, _ in imports(MODULES[module]) if not allowed(module, imported)]
    assert not wrong, f"{module} may import only {sorted(ALLOWED[package_of(module)])} from rlrepro, imports {wrong}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_rlrepro_import_inside_a_function(module):
    hidden = [imported for imported, inside in imports(MODULES[module]) if inside]
    assert not hidden, f"{module} imports {hidden} inside a function (an import cycle worked around?)"


def test_no_import_cycle():
    graph = {m: {i for i, _ in imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_core_analysis_and_reporting_never_import_torch():
    code = "import sys\n" + "".join(f"import {m}\n" for m in TORCH_FREE) + (
        "from rlrepro.core.kinds import KINDS\n"
        "[(k.config, k.budget) for k in KINDS.values() if not k.uses_torch]\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
