"""The layout shows the pipeline (ARCHITECTURE.md, rule 13): no import cycles, one registered
target per module of ``qgridlang/targets/``, strategies in their own package.

Imports are read from the source with :mod:`ast` (every ``import`` statement: module level,
inside functions and under ``if TYPE_CHECKING:``), since a cycle that only the type checker
follows still ties the modules together.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from qgridlang.registry import TARGETS, _load
from qgridlang.strategies import STRATEGIES, get_strategy

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "qgridlang"


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for the package and its compilers (installed as
    ``qgridlang.compilers`` from ``compilers/``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in sorted((ROOT / "compilers").glob("*.py")):
        name = "qgridlang.compilers" + ("" if path.stem == "__init__" else f".{path.stem}")
        out[name] = path
    return out


def imports(name: str, source: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports anywhere in ``source``
    (``from pkg import sub`` counts as importing ``pkg.sub`` when that is a module)."""
    package = name if f"{name}.__init__" in known else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    # a module's parent packages are imported with it: not an edge of the module's own
    return {m for m in found & known if m != name and not name.startswith(m + ".")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (``a -> … -> a``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def _graph(prefix: str) -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods) | {f"{m}.__init__" for m, p in mods.items() if p.name == "__init__.py"}
    return {m: {d for d in imports(m, p.read_text(encoding="utf-8"), known)
                if d.startswith(prefix)}
            for m, p in mods.items() if m.startswith(prefix)}


def test_semantics_has_no_import_cycle() -> None:
    """builder imports components, evaluate, params, quantum and risk; none of them imports
    builder back (they annotate against semantics.context.Context)."""
    graph = _graph("qgridlang.semantics")
    assert {"qgridlang.semantics.builder", "qgridlang.semantics.evaluate",
            "qgridlang.semantics.context"} <= set(graph)
    assert "qgridlang.semantics.components" in graph["qgridlang.semantics.builder"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])
    users = [m for m, deps in graph.items() if "qgridlang.semantics.builder" in deps]
    assert "qgridlang.semantics.components" not in users


def test_package_has_no_import_cycle() -> None:
    graph = _graph("qgridlang")
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_sees_type_checking_and_local_imports() -> None:
    """The reader must see the imports the old builder cycle was made of."""
    known = {"p.builder", "p.risk", "p.evaluate", "p.__init__", "p"}
    risk = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from p.builder import Builder\n")
    evaluate = "def f():\n    from . import risk\n"
    graph = {"p.builder": imports("p.builder", "from p import evaluate\n", known),
             "p.risk": imports("p.risk", risk, known),
             "p.evaluate": imports("p.evaluate", evaluate, known)}
    assert graph == {"p.builder": {"p.evaluate"}, "p.risk": {"p.builder"},
                     "p.evaluate": {"p.risk"}}
    assert find_cycle(graph) == ["p.builder", "p.evaluate", "p.risk", "p.builder"]
    graph["p.risk"] = set()
    assert find_cycle(graph) is None


def test_every_registered_target_is_a_module_of_the_targets_package() -> None:
    _load()
    builtin = {n: c for n, c in TARGETS.items() if c.__module__.startswith("qgridlang.")}
    assert {"milp", "qubo", "qaoa", "dwave", "cqm"} <= set(builtin)
    for name, cls in builtin.items():
        assert cls.__module__ == f"qgridlang.targets.{name}", (name, cls.__module__)
        assert (PACKAGE / "targets" / f"{name}.py").is_file()


def test_no_target_or_strategy_module_is_left_at_the_top_level() -> None:
    assert sorted(p.name for p in PACKAGE.glob("target_*.py")) == []
    assert not (PACKAGE / "coalition.py").exists()


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_is_a_module_of_the_strategies_package(name: str) -> None:
    module, _ = STRATEGIES[name]
    assert module.startswith("qgridlang.strategies.")
    assert callable(get_strategy(name))


def test_an_unknown_strategy_gets_a_did_you_mean() -> None:
    from qgridlang.errors import UsageError

    with pytest.raises(UsageError) as info:
        get_strategy("gcs")
    assert "gcsq" in str(info.value.hint)


def test_the_front_doors_targets_survives_the_targets_package() -> None:
    """``import qgridlang.targets.qubo`` rebinds ``qgridlang.targets`` (the public function
    ``qg.targets()``) to the package; the call must still list targets and backends."""
    import subprocess
    import sys

    code = ("import json, qgridlang as qg\n"
            "before = qg.targets()\n"
            "import qgridlang.targets.qubo\n"
            "after = qg.targets()\n"
            "print(json.dumps([before == after, sorted(t['name'] for t in after['targets']),"
            " len(after['backends'])]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    same, names, backends = json.loads(proc.stdout.strip().splitlines()[-1])
    assert same and {"cqm", "dwave", "milp", "qaoa", "qubo"} <= set(names) and backends > 0


def test_every_package_directory_is_installed() -> None:
    """A package missing from pyproject's list imports from a source tree but not from the
    wheel (qgridlang.estimation was nearly shipped that way)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
                 ["tool"]["setuptools"]["packages"])
    here = {".".join(p.parent.relative_to(ROOT).parts)
            for p in (ROOT / "qgridlang").rglob("__init__.py")}
    assert here <= listed, sorted(here - listed)
