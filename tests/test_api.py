"""The Python front door mirrors the CLI verbs."""

from __future__ import annotations

from pathlib import Path

import pytest

import qgridlang as qg

ROOT = Path(__file__).resolve().parent.parent
TEXT = """model api
var x integer in 0 .. 10
var y in 0 .. 10
constraint c: x + y <= 7.5
maximize f: 3 * x + 2 * y
"""


def test_verbs(tmp_path: Path) -> None:
    assert qg.parse(TEXT).statements[0].name == "api"
    checked = qg.check(TEXT)
    assert checked.flat.n == 2
    sol = qg.solve(checked, "highs", time_limit=10)
    assert sol.objective == pytest.approx(3 * 7 + 2 * 0.5)
    assert sol.value("x") == 7.0
    out = tmp_path / "m.lp"
    compiled = qg.compile(TEXT, "milp", output=out)
    assert out.is_file() and compiled.report["integer_columns"] == 1
    assert any(t["name"] == "milp" for t in qg.targets()["targets"])


def test_path_and_overrides() -> None:
    sol = qg.solve(ROOT / "examples/risk/risk.qgl", overrides={"lambda": "0.001"})
    assert sol.status.value == "optimal"
    with pytest.raises(qg.QglErrors) as err:
        qg.check("model bad\nvar x in 0 .. y\n")
    assert err.value.errors[0].span.line == 2
