"""The highs backend reports what HiGHS proved, in model names, and prints nothing on stdout.

Statuses (unbounded, infeasible with an irreducible infeasible subset, infeasible_or_unbounded),
error messages that are never empty, thread counts that change between solves (HiGHS 1.16 keeps
one global thread pool), and stdout that carries only the JSON document (HiGHS 1.16 prints a
banner at its first construction), checked in real processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qgridlang.backends import highs
from qgridlang.checker import check_file, check_text
from qgridlang.dispatcher import solve_model
from qgridlang.errors import QglErrors
from qgridlang.registry import Options
from qgridlang.results import RawResult, Status

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

COMMIT = """
model commit
set G = {a, b, c}
param cost[G] = {a: 3, b: 5, c: 4}
param cap[G] = {a: 4, b: 6, c: 5}
var u[G] binary
var p[g in G] in 0 .. cap[g]
constraint on[g in G]: p[g] <= cap[g] * u[g]
constraint demand: sum(g in G) p[g] >= 9
minimize total: sum(g in G) (cost[g] * u[g] + p[g])
"""

INFEASIBLE_LP = """
model clash
var x >= 0
var y >= 0
var z in 0 .. 5
constraint room: x + y <= 2
constraint need: x >= 3
constraint spare: z <= 4
minimize cost: x + y + z
"""

UNBOUNDED_MIP = """
model runaway
var x integer >= 0
var y integer >= 0
constraint gap: x - y <= 3
maximize gain: x + y
"""

UNBOUNDED_LP = """
model runaway_lp
var x >= 0
var y >= 0
constraint gap: x - y <= 3
maximize gain: x + y
"""

ODD = """
model odd
var k integer in 0 .. 10
constraint half: 2 * k == 1
minimize k_: k
"""

INFEASIBLE_MIQP = """
model clash_q
var u binary
var p in 0 .. 10
constraint link: p <= 4 * u
constraint need: p >= 6
minimize cost: p^2 + 3 * u
"""


def test_thread_count_can_change_between_solves() -> None:
    """HiGHS 1.16 refused threads=1 after a solve that started its pool at another size."""
    for threads in (None, 1, 2, None, 1):
        sol = solve_model(check_text(COMMIT), "highs", Options(threads=threads))
        assert sol.status == Status.OPTIMAL, (threads, sol.message)
        assert sol.objective == pytest.approx(7 + 9)  # c (4 + 5) plus a (3 + 4): p = 9


def test_highs_error_carries_highs_own_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """Solved in the calling thread (as before), threads=1 after threads=2 fails in HiGHS 1.16;
    the error's message is HiGHS's own reason, not empty."""
    import highspy

    highspy.Highs.resetThreadScheduler(True)  # whatever an earlier test left in this thread
    monkeypatch.setattr(highs, "_call", lambda s, work: work())
    assert solve_model(check_text(COMMIT), "highs", Options(threads=2)).status == \
        Status.OPTIMAL
    sol = solve_model(check_text(COMMIT), "highs", Options(threads=1))
    assert sol.status == Status.ERROR
    assert sol.message.startswith("HiGHS failed: ") and "scheduler" in sol.message


def test_an_error_status_always_has_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(highs.HighsBackend, "run",
                        lambda self, artifact, options: RawResult(Status.ERROR))
    sol = solve_model(check_text(COMMIT), "highs")
    assert sol.status == Status.ERROR and "highs" in sol.message


@pytest.mark.parametrize("text", [UNBOUNDED_MIP, UNBOUNDED_LP])
def test_unbounded_models_are_reported_unbounded(text: str) -> None:
    sol = solve_model(check_text(text), "highs")
    assert sol.status == Status.UNBOUNDED, (sol.status, sol.message)
    assert "unbounded" in sol.message and sol.x is None


def test_unbounded_or_infeasible_is_settled_by_a_feasibility_check() -> None:
    """The integer model is where HiGHS answers kUnboundedOrInfeasible; the check decides."""
    sol = solve_model(check_text(UNBOUNDED_MIP), "highs")
    assert sol.info["highs_status"] == "kUnboundedOrInfeasible"
    assert sol.info["feasibility_check"] == "kOptimal"


def test_undecided_stays_infeasible_or_unbounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the feasibility check cannot finish, neither answer is claimed."""
    real = highs._run

    def limited(s: highs._Solver, model: object, start: object = None) -> RawResult:
        raw = real(s, model, start)
        if not any(model.lp_.col_cost_):  # type: ignore[attr-defined]  # the check
            return RawResult(Status.TIME_LIMIT, info={"highs_status": "kTimeLimit"},
                             message="time limit reached before a plan was found")
        return raw

    monkeypatch.setattr(highs, "_run", limited)
    sol = solve_model(check_text(UNBOUNDED_MIP), "highs")
    assert sol.status == Status.INFEASIBLE_OR_UNBOUNDED
    assert "infeasible or unbounded" in sol.message


def test_infeasible_lp_names_an_irreducible_infeasible_subset() -> None:
    sol = solve_model(check_text(INFEASIBLE_LP), "highs")
    assert sol.status == Status.INFEASIBLE
    iis = sol.info["iis"]
    assert {(r["constraint"], r["side"]) for r in iis["constraints"]} == {
        ("room", "upper"), ("need", "lower")}
    assert [(c["variable"], c["side"]) for c in iis["bounds"]] == [("y", "lower")]
    assert "spare" not in sol.message and "room" in sol.message and "need" in sol.message


def test_infeasible_miqp_is_explained_too() -> None:
    """Outer approximation (integers and a quadratic objective) reports the same way."""
    sol = solve_model(check_text(INFEASIBLE_MIQP), "highs")
    assert sol.status == Status.INFEASIBLE
    assert {r["constraint"] for r in sol.info["iis"]["constraints"]} == {"link", "need"}


def test_integrality_only_conflict_has_no_linear_subset() -> None:
    sol = solve_model(check_text(ODD), "highs")
    assert sol.status == Status.INFEASIBLE and "iis" not in sol.info
    assert "integrality" in sol.message


def test_iis_can_be_turned_off() -> None:
    sol = solve_model(check_text(INFEASIBLE_LP), "highs", Options(extra={"iis": False}))
    assert sol.status == Status.INFEASIBLE and "iis" not in sol.info


def test_time_limited_mip_incumbent_is_feasible_with_a_message() -> None:
    sol = solve_model(check_text(COMMIT), "highs", Options(time_limit=30))
    assert sol.status == Status.OPTIMAL and sol.message == ""


@pytest.mark.parametrize("cell", ["inf", "-inf", "1e400", "nan"])
def test_non_finite_csv_cells_are_refused_with_their_place(tmp_path: Path, cell: str) -> None:
    (tmp_path / "units.csv").write_text(f"unit,pmax\nu1,10\nu2,{cell}\n", encoding="utf-8")
    model = tmp_path / "m.qgl"
    model.write_text('model m\nset U = csv("units.csv", key = "unit")\n'
                     'param pmax[U] = csv("units.csv", key = "unit", column = "pmax")\n'
                     'var p[u in U] in 0 .. pmax[u]\nmaximize out: sum(u in U) p[u]\n',
                     encoding="utf-8")
    with pytest.raises(QglErrors) as exc:
        check_file(model)
    err = exc.value.errors[0]
    assert f"units.csv, row 3, column 'pmax': '{cell}' is not a finite number" in err.message
    assert err.span is not None and err.span.line == 3


def _qglc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qgridlang.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("args", [
    ["solve", str(EXAMPLES / "risk" / "risk.qgl"), "--json"],
    ["solve", str(EXAMPLES / "coalition" / "bipartition.qgl"), "--strategy", "gcsq",
     "--backend", "highs", "--json"],
    ["solve", str(EXAMPLES / "risk" / "risk.qgl"), "--json", "--threads", "1", "--verbose"],
], ids=["solve", "gcsq", "verbose"])
def test_stdout_is_only_the_json_document(args: list[str]) -> None:
    out = _qglc(*args)
    assert out.returncode == 0, out.stderr
    json.loads(out.stdout)  # nothing else on stdout: no HiGHS banner, no log


def test_compile_json_stdout_parses(tmp_path: Path) -> None:
    out = _qglc("compile", str(EXAMPLES / "risk" / "risk.qgl"), "--target", "milp",
                "-o", str(tmp_path / "x.mps"), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["target"] == "milp"
    assert (tmp_path / "x.mps").stat().st_size > 0


def test_verbose_sends_the_highs_log_to_stderr() -> None:
    out = _qglc("solve", str(EXAMPLES / "risk" / "risk.qgl"), "--json", "--verbose")
    assert out.returncode == 0
    assert "highs: " in out.stderr and "Presolving model" in out.stderr
    quiet = _qglc("solve", str(EXAMPLES / "risk" / "risk.qgl"), "--json")
    assert "Presolving" not in quiet.stderr  # stderr is not a terminal here


def test_python_api_prints_nothing() -> None:
    risk = str(EXAMPLES / "risk" / "risk.qgl")
    code = f"import qgridlang as qg; s = qg.solve({risk!r}); assert s.status.value == 'optimal'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""


def test_infeasible_json_carries_the_subset(tmp_path: Path) -> None:
    model = tmp_path / "clash.qgl"
    model.write_text(INFEASIBLE_LP, encoding="utf-8")
    out = _qglc("solve", str(model), "--json")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["status"] == "infeasible" and doc["objective"] is None
    assert {r["constraint"] for r in doc["info"]["iis"]["constraints"]} == {"room", "need"}
    human = _qglc("solve", str(model))
    assert human.returncode == 1 and "room" in human.stdout and "need" in human.stdout


def test_unbounded_exit_status_and_json(tmp_path: Path) -> None:
    model = tmp_path / "runaway.qgl"
    model.write_text(UNBOUNDED_MIP, encoding="utf-8")
    out = _qglc("solve", str(model), "--json")
    assert out.returncode == 1
    assert json.loads(out.stdout)["status"] == "unbounded"


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan"])
def test_nan_override_is_a_usage_error(value: str) -> None:
    """`--set cap=nan` used to solve to "optimal (plan infeasible)"."""
    from qgridlang.errors import UsageError

    with pytest.raises(UsageError, match="not a number"):
        check_text("model m\nparam cap = 5\nvar x in 0 .. cap\nmaximize o: x\n",
                   overrides={"cap": value})


def test_a_solver_failure_exits_3_with_its_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`error` is the backend's failure, not the model's: exit 3 like other backend errors."""
    from qgridlang.cli import main

    monkeypatch.setattr(highs.HighsBackend, "run", lambda self, artifact, options: RawResult(
        Status.ERROR, message="HiGHS failed: out of memory"))
    model = tmp_path / "commit.qgl"
    model.write_text(COMMIT, encoding="utf-8")
    assert main(["solve", str(model), "--json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "error" and doc["message"] == "HiGHS failed: out of memory"
