"""qglc start-up: a verb imports what it needs, nothing heavier (checked on ``sys.modules``).

Each case runs the CLI in a fresh interpreter and prints the modules loaded afterwards; wall
time is measured in docs/guide/performance.md, not asserted here (the machine is shared).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RISK = ROOT / "examples" / "risk" / "risk.qgl"

# quantum stacks, samplers and the optimisers only a QAOA run needs; the bare `dwave` namespace
# package (empty) is imported by `find_spec("dwave.samplers")`, which tells availability
HEAVY = ("dimod", "dwave.samplers", "dwave.system", "dwave.cloud", "qiskit", "qiskit_aer",
         "scipy.optimize", "minorminer", "qgridlang.compilers.qaoa", "qgridlang.compilers.qubo")

_SCRIPT = """
import contextlib, io, json, sys
from qgridlang.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _loaded(*argv: str) -> tuple[int, set[str]]:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, *argv], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    return doc["code"], set(doc["modules"])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("argv", [("targets",), ("targets", "--json"), ("check", str(RISK)),
                                  ("solve", str(RISK))], ids=" ".join)
def test_verb_loads_no_quantum_or_sampler_stack(argv: tuple[str, ...]) -> None:
    code, modules = _loaded(*argv)
    assert code == 0
    assert _heavy(modules) == []
    if argv[0] == "targets":
        # listing reads class-level data: no checker, no parser, no units registry
        assert not {"qgridlang.checker", "qgridlang.parser", "pint"} & modules


def test_version_loads_neither_numpy_nor_the_registry() -> None:
    code, modules = _loaded("--version")
    assert code == 0
    assert not {"numpy", "qgridlang.registry", "pint"} & modules


def test_a_qubo_solve_loads_the_sampler_but_not_qaoa() -> None:
    """Lazy is per use: the qubo path gets dimod, a QAOA-only module stays unloaded."""
    code, modules = _loaded("solve", str(ROOT / "examples/coalition/bipartition.qgl"),
                            "--backend", "sa", "--seed", "1", "--reads", "5")
    assert code == 0
    assert "dimod" in modules and "qgridlang.compilers.qubo" in modules
    assert not {"scipy.optimize", "qiskit", "qgridlang.compilers.qaoa"} & modules


def test_qaoa_install_hint_matches_the_compiler() -> None:
    """backends/qaoa.py spells the hint out so that listing it does not load the compiler."""
    from qgridlang.backends.qaoa import QaoaBackend
    from qgridlang.compilers.qaoa import QISKIT_HINT

    assert QaoaBackend.INSTALL_HINT == QISKIT_HINT


def test_units_registry_is_built_once_and_used_by_parse() -> None:
    from qgridlang.semantics import units as U

    mw = U.parse_unit("MW")
    assert U.factor(U.parse_unit("kW"), mw) == pytest.approx(1e-3)
    assert U.DIMENSIONLESS == U.parse_unit("")
    assert "MW" in U._REGISTRY and U._BUILT and len(U._BUILT) == 1


def test_check_does_not_import_dask_through_pint_and_dask_still_imports() -> None:
    """pint would import dask.base (~0.1 s) because dask is installed; units._import_pint hides
    it for that one import, and leaves `import dask` working afterwards."""
    code, modules = _loaded("check", str(RISK))
    assert code == 0 and "pint" in modules
    assert not {m for m in modules if m == "dask" or m.startswith("dask.")}
    script = ("from qgridlang.semantics import units as U\n"
              "U.parse_unit('MW')\n"
              "import sys, dask, dask.base\n"
              "assert sys.modules['dask'] is dask and dask.base.tokenize(1)\n"
              "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
