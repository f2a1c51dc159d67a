"""The array expansion (qgridlang.semantics.vector) agrees with the per-element path.

Every model the tests and examples hold is checked both ways and must give the same flat model
(columns, rows, coefficients, objective, expressions), the same IR summary, or the same errors
at the same places; random models (hypothesis) cover combinations no fixture has. The examples
and the benchmark model must take the array path for every declaration (no silent fallback),
so the speed docs/guide/performance.md quotes is the speed users get.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import MODEL_PRELUDE as FUZZ_PRELUDE
from test_fuzz import TEMPLATES as FUZZ_TEMPLATES
from test_fuzz import _expressions as fuzz_expressions
from test_lowering_golden import flat_dump, reduce_spans

from qgridlang.checker import CheckedModel, check_file, check_text
from qgridlang.errors import QglErrors
from qgridlang.semantics.vector import expansion

ROOT = Path(__file__).resolve().parent.parent
MODELS = sorted([*ROOT.glob("examples/**/*.qgl"), *ROOT.glob("tests/golden/lower/*.qgl"),
                 *ROOT.glob("tests/errors/*.qgl")])


def _outcome(run: Any, mode: str) -> tuple[Any, ...]:
    with expansion(mode):
        try:
            checked: CheckedModel = run()
        except QglErrors as exc:
            return ("errors", [(e.message, e.span.line if e.span else None,
                                e.span.column if e.span else None, e.hint) for e in exc.errors])
    internal = [f for f in checked.expansion["fallbacks"] if "internal error" in f]
    assert internal == []  # a defect of the array path, hidden from users by the fallback
    own = Path(checked.file).name
    ir = reduce_spans(checked.ir.model_dump(mode="json"), own)
    if _has_pos(checked.flat):  # pos(…) blocks compared by what they bound (see _canonical)
        dump = _canonical(checked.flat)
        for part in ("variables", "constraints"):
            ir[part] = [v for v in ir[part] if not v["name"].startswith("pos#")]
    else:
        dump = flat_dump(checked.flat)
    return ("ok", json.dumps(dump, sort_keys=True), json.dumps(ir, sort_keys=True),
            [w.message for w in checked.warnings])


def _has_pos(flat: Any) -> bool:
    return any(b.auxiliary and b.name.startswith("pos#") for b in flat.blocks)


def _canonical(flat: Any) -> dict[str, Any]:
    """The flat model by names, its pos(…) columns named by what they bound. The array path makes
    one block of epigraph columns per pos(…) over all its rows, the element path one column per
    use in evaluation order: the same columns and rows, numbered differently."""
    names = flat.column_names()
    A = flat.A.tocsr()
    pos_cols = [j for b in flat.blocks if b.auxiliary and b.name.startswith("pos#")
                for j in range(b.start, b.stop)]
    own: dict[int, int] = {}  # pos column -> its epigraph row
    for i, r in enumerate(flat.rows):
        if r.name.startswith("pos#") and r.name.endswith(".epigraph"):
            lo, hi = A.indptr[i], A.indptr[i + 1]
            for j, v in zip(A.indices[lo:hi], A.data[lo:hi], strict=True):
                if names[j].startswith("pos#") and v == 1.0 and int(j) not in own:
                    own[int(j)] = i
                    break
    sig: dict[int, str] = {}

    def signature(j: int) -> str:
        if j not in sig:
            i = own[j]
            lo, hi = A.indptr[i], A.indptr[i + 1]
            terms = sorted((signature(int(k)) if int(k) in own else names[k], round(v, 12))
                           for k, v in zip(A.indices[lo:hi], A.data[lo:hi], strict=True)
                           if int(k) != j)
            sig[j] = f"pos({terms}, {flat.row_lo[i]!r})"
        return sig[j]

    rename = {j: signature(j) for j in pos_cols}
    col = [rename.get(j, n) for j, n in enumerate(names)]
    epigraph_rows = set(own.values())
    rows = []
    for i, r in enumerate(flat.rows):
        lo, hi = A.indptr[i], A.indptr[i + 1]
        label = "pos.epigraph" if i in epigraph_rows else r.label
        rows.append(repr((label, r.unit, flat.row_lo[i], flat.row_hi[i],
                          sorted((col[k], round(v, 12)) for k, v in
                                 zip(A.indices[lo:hi], A.data[lo:hi], strict=True)))))
    qi, qj, qv = flat.Q
    return {"columns": sorted(repr((c, int(k), lo, hi)) for c, k, lo, hi in
                              zip(col, flat.kind, flat.lb, flat.ub, strict=True)),
            "rows": sorted(rows), "c": sorted(repr((col[j], round(v, 12)))
                                             for j, v in enumerate(flat.c) if v),
            "Q": sorted(repr((col[i], col[j], v)) for i, j, v in zip(qi, qj, qv, strict=True)),
            "obj_const": flat.obj_const, "n": flat.n, "m": flat.m,
            "expressions": [f"{e.name}{e.key} [{e.unit}]" for e in flat.exprs]}


def _agree(run: Any) -> tuple[Any, ...]:
    by_element = _outcome(run, "element")
    with_arrays = _outcome(run, "auto")
    assert with_arrays == by_element
    return with_arrays


# examples whose defaults take long to expand element by element, made small with --set
SMALL = {"operator.qgl": {"n_scenarios": "2"}, "surrogate_pricing.qgl": {"n_scenarios": "2"},
         "surrogate_pricing_tou.qgl": {"n_scenarios": "2"}}


@pytest.mark.parametrize("path", MODELS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_model_expands_the_same_both_ways(path: Path) -> None:
    _agree(lambda: check_file(path, SMALL.get(path.name)))


@pytest.mark.parametrize("path", sorted(ROOT.glob("examples/**/*.qgl")),
                         ids=lambda p: p.stem)
def test_examples_take_the_array_path_throughout(path: Path) -> None:
    checked = check_file(path, SMALL.get(path.name))
    assert checked.expansion["fallbacks"] == []
    if checked.flat.n == 0 and checked.flat.systems:
        return  # a model of systems only (examples/lfc) has no indexed declaration to expand
    assert checked.expansion["vectorised"] > 0


def test_the_benchmark_model_takes_the_array_path(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import qubo_compile
    finally:
        sys.path.pop(0)
    path = qubo_compile.write_model(qubo_compile.make_instance(7, 48), tmp_path)
    checked = check_file(path)
    assert checked.expansion == {"vectorised": 4, "fallbacks": [], "together": 0,
                                 "unbatched": []}
    _agree(lambda: check_file(path))


def test_rows_whose_sum_is_empty_keep_the_element_units() -> None:
    # row t=1 sums nothing (a bare 0, no unit) while the others are in kW: the rows are
    # expanded in two groups, not left to the element path
    text = """time T = 1..4 step 1 h
var p[T]: kW in 0 .. 10
var q[T]: MW in 0 .. 1
constraint c[t in T]: sum(k in T where k < t) p[k] <= q[t]
minimize cost: sum(t in T) p[t] * 1 $/kWh * dt
"""
    outcome = _agree(lambda: check_text(text, "split.qgl"))
    assert outcome[0] == "ok"
    with expansion("auto"):
        checked = check_text(text, "split.qgl")
    assert checked.expansion["fallbacks"] == []
    units = [r.unit for r in checked.flat.rows]
    assert units == ["MW", "kW", "kW", "kW"]  # the first row is q's unit, as element by element


def test_a_shift_off_the_edge_is_reported_as_before() -> None:
    text = """time T = 1..3 step 1 h
var u[T] binary
constraint c[t in T]: u[t] - u[prev(t)] <= 0
minimize n: sum(t in T) u[t]
"""
    outcome = _agree(lambda: check_text(text, "edge.qgl"))
    assert outcome[0] == "errors" and "steps outside" in outcome[1][0][0]


def test_sparse_parameter_tables_with_a_default_stay_sparse() -> None:
    # a 400 x 400 weight table with 3 entries, summed over every pair: the zeros of the
    # default give no quadratic terms, and both paths agree
    text = """set N = 1..400
param w[N, N] default 0 = {(1, 2): 5, (2, 3): 7, (399, 400): 1}
var x[N] binary
maximize cut: sum(i in N, j in N where j > i) w[i, j] * (x[i] + x[j] - 2 * x[i] * x[j])
"""
    with expansion("auto"):
        checked = check_text(text, "sparse.qgl")
    assert checked.expansion["fallbacks"] == []
    qi, qj, qv = checked.flat.Q
    assert sorted(zip(qi.tolist(), qj.tolist(), qv.tolist(), strict=True)) == [
        (0, 1, -10.0), (1, 2, -14.0), (398, 399, -2.0)]
    _agree(lambda: check_text(text, "sparse.qgl"))


# ---- random models -------------------------------------------------------------------------
UNITS = ["MW", "kW"]


@st.composite
def models(draw: st.DrawFn) -> str:
    n_t = draw(st.integers(0, 5))
    n_g = draw(st.integers(1, 3))
    labels = [f"g{i}" for i in range(n_g)]
    unit = draw(st.sampled_from(UNITS))
    cap = {g: draw(st.integers(0, 50)) for g in labels if draw(st.booleans())}
    table = ", ".join(f"{g}: {v}" for g, v in cap.items())
    default = draw(st.sampled_from(["", "default 5 "]))
    shift = draw(st.integers(1, 3))
    guard = draw(st.sampled_from([f"ord(t) > {shift}", "t > first(T)", "true_guard", ""]))
    where = "" if guard == "" else f" where {guard}" if guard != "true_guard" else \
        " where ord(t) >= 1"
    body = draw(st.sampled_from([
        f"p[g, t] - p[g, prev(t, {shift})] <= ramp * dt",
        f"p[g, t] <= cap[g] * u[g, t] + (if t == first(T) then 1 else 0) * 1 {unit}",
        f"sum(k in T where k <= t) p[g, k] >= (if ord(t) > {shift} then 1 else 2) * 1 {unit}",
        "pmin <= p[g, t] <= cap[g]",
        f"u[g, t] + sum(k in 1 .. {shift} where ord(t) > k) u[g, prev(t, k)] <= 1",
        "p[g, t] <= lim[g, t]",
    ]))
    lim = draw(st.sampled_from([
        f"param lim[g in G, t in T]: {unit} = cap[g] + ord(t) * 1 {unit}",
        "param lim[g in G, t in T] = (if ord(t) > 1 then 2 MW else 3 kW) + cap[g]",
        f"param lim[g in G, t in T where ord(t) > 1]: kW = ord(t) * 500 {unit}",
    ]))
    obj = draw(st.sampled_from([
        "sum(g in G, t in T) (c * p[g, t] * dt + q * p[g, t]^2 * dt)",
        "sum(g in G, t in T) c * p[g, t] * dt + sum(g in G, t in T where ord(t) > 1) "
        "u[g, t] * u[g, prev(t)] * 1 $",
        "sum(g in G) sum(t in T) (if g == \"g0\" then 2 else 1) * c * p[g, t] * dt",
    ]))
    return f"""time T = 1..{n_t} step 30 min
set G = {{{", ".join(labels)}}}
param cap[G]: {unit} {default}= {{{table}}}
param ramp: {unit}/h = 3 MW/h
param pmin: kW = 100
{lim}
param c: $/MWh = 20
param q: $/MW^2/h = 0.5
var u[G, T] binary
var p[G, T]: {unit} in 0 .. 40
constraint r[g in G, t in T{where}]: {body}
expr out[t in T] = sum(g in G) p[g, t]
minimize cost: {obj}
"""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_random_models_expand_the_same_both_ways(text: str) -> None:
    _agree(lambda: check_text(text, "random.qgl"))


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FUZZ_TEMPLATES), fuzz_expressions(), fuzz_expressions())
def test_fuzzed_arithmetic_expands_the_same_both_ways(template: str, a: str, b: str) -> None:
    # overflow, NaN, division by zero, % against bare numbers, units in exponents: the array
    # path hands every such row to the element path, which reports it as before
    text = FUZZ_PRELUDE + template.format(a, b)
    _agree(lambda: check_text(text, "fuzz.qgl"))


def test_bounds_whose_rows_differ_in_unit_fall_back_and_agree() -> None:
    # the if gives MW on some rows and kW on others: the array path cannot hold one unit for
    # the bound, so this declaration goes element by element (recorded), with the same columns
    text = """time T = 1..3 step 1 h
var p[t in T]: kW in 0 .. (if ord(t) > 1 then 2 MW else 3 kW)
minimize cost: sum(t in T) p[t] * 1 $/kWh * dt
"""
    outcome = _agree(lambda: check_text(text, "bounds.qgl"))
    assert outcome[0] == "ok"
    checked = check_text(text, "bounds.qgl")
    assert checked.flat.ub.tolist() == [3.0, 2000.0, 2000.0]
    assert [f.split(":")[0] for f in checked.expansion["fallbacks"]] == ["var p"]
