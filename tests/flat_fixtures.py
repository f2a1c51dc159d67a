"""Small hand-built FlatModels for the lowering tests, and a brute-force reference solver.

``build`` assembles a :class:`FlatModel` from variable and row descriptions (dense coefficient
lists, fine at this size); the named fixtures below are the shapes the QUBO tests exercise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from qgridlang.errors import Span
from qgridlang.flat import KIND_CODE, EncodeSpec, FlatModel, QuantumSpec, RowInfo, VarBlock

INF = math.inf


@dataclass(frozen=True)
class Var:
    """A variable block of ``size`` columns keyed ``(1,) … (size,)`` (or ``()`` when 1)."""

    name: str
    kind: str = "binary"
    lb: float = 0.0
    ub: float = 1.0
    size: int = 1
    unit: str = ""


@dataclass(frozen=True)
class Row:
    """``lo <= coeffs @ x <= hi`` with ``coeffs`` dense over all columns."""

    name: str
    coeffs: Sequence[float]
    lo: float = -INF
    hi: float = INF
    key: tuple[int | str, ...] = ()


def span(line: int) -> Span:
    return Span("fixture.qgl", line, 1, line, 30)


def build(name: str, variables: Sequence[Var], rows: Sequence[Row], c: Sequence[float],
          q: Sequence[tuple[int, int, float]] = (), *, sense: str = "min",
          obj_const: float = 0.0, encodings: Sequence[tuple[str, str, float | None]] = (),
          penalty: float | None = None,
          penalties: Sequence[tuple[str, float]] = ()) -> FlatModel:
    """A FlatModel; block ``k`` has span line ``k + 1``, row ``r`` line ``100 + r``,
    encoding ``e`` line ``200 + e``, the quantum block line 300."""
    blocks, lb, ub, kind = [], [], [], []
    for k, v in enumerate(variables):
        keys = [()] if v.size == 1 else [(i + 1,) for i in range(v.size)]
        blocks.append(VarBlock(v.name, v.kind, v.unit, tuple(keys), len(lb), span(k + 1)))  # type: ignore[arg-type]
        lb += [v.lb] * v.size
        ub += [v.ub] * v.size
        kind += [KIND_CODE[v.kind]] * v.size
    n = len(lb)
    a = np.array([r.coeffs for r in rows], dtype=float).reshape(len(rows), n)
    qi, qj, qv = (np.array([t[p] for t in q], dtype=dt) for p, dt in
                  ((0, np.int64), (1, np.int64), (2, float)))
    return FlatModel(
        name=name, blocks=blocks, lb=np.array(lb, dtype=float), ub=np.array(ub, dtype=float),
        kind=np.array(kind, dtype=np.int8), A=sp.csr_matrix(a),
        row_lo=np.array([r.lo for r in rows], dtype=float),
        row_hi=np.array([r.hi for r in rows], dtype=float),
        rows=[RowInfo(r.name, r.key, "", span(100 + i)) for i, r in enumerate(rows)],
        c=np.array(c, dtype=float), Q=(qi, qj, qv), obj_const=obj_const,
        sense=sense, obj_name="cost", obj_unit="", obj_span=span(90),  # type: ignore[arg-type]
        quantum=QuantumSpec(
            encodings=tuple(EncodeSpec(v, m, s, span(200 + e))
                            for e, (v, m, s) in enumerate(encodings)),
            penalty=penalty, penalties=tuple(penalties), span=span(300)),
    )


def column_grid(flat: FlatModel) -> list[np.ndarray]:
    """The encodable values of each column: binary 0/1, integers and reals on their step."""
    steps = {e.var: e.step for e in flat.quantum.encodings}
    grids = []
    for b in flat.blocks:
        step = steps.get(b.name) if b.kind != "binary" else None
        for col in range(b.start, b.stop):
            lo = math.ceil(flat.lb[col] - 1e-9) if b.kind != "real" else flat.lb[col]
            hi = math.floor(flat.ub[col] + 1e-9) if b.kind != "real" else flat.ub[col]
            s = step or 1.0
            grids.append(lo + s * np.arange(math.floor((hi - lo) / s + 1e-9) + 1))
    return grids


def grid_points(flat: FlatModel) -> np.ndarray:
    """Every point of the column grids (``n_points x n``)."""
    mesh = np.meshgrid(*column_grid(flat), indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def objective(flat: FlatModel, x: np.ndarray) -> np.ndarray:
    """Objective of many points at once (``n_points x n`` -> ``n_points``)."""
    i, j, v = flat.Q
    return x @ flat.c + (x[:, i] * x[:, j]) @ v + flat.obj_const


def feasible(flat: FlatModel, x: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Row feasibility of many points at once (``n_points``)."""
    act = np.asarray(flat.A @ x.T).T
    ok = (act >= flat.row_lo - tol) & (act <= flat.row_hi + tol)
    return ok.all(axis=1)


def brute_force(flat: FlatModel) -> tuple[float, np.ndarray, np.ndarray]:
    """Minimisation-form optimum, the optimal points, and all feasible grid points."""
    x = grid_points(flat)
    x = x[feasible(flat, x)]
    sign = 1.0 if flat.sense == "min" else -1.0
    value = sign * objective(flat, x)
    best = float(value.min())
    return best, x[np.isclose(value, best, rtol=1e-9, atol=1e-9)], x


def knapsack() -> FlatModel:
    """Binary knapsack, maximise value with one ``<=`` row (capacity 7)."""
    return build("knapsack", [Var("take", size=4)],
                 [Row("capacity", [2, 3, 4, 5], hi=7)], c=[6, 5, 8, 9], sense="max")


def integer_equality() -> FlatModel:
    """Two integers (log encoded) tied by an equality row."""
    return build("int_eq", [Var("x", "integer", 0, 3), Var("y", "integer", 0, 5)],
                 [Row("total", [1, 2], lo=7, hi=7)], c=[3, 1])


def real_with_step() -> FlatModel:
    """A real power (MW) on a 0.5 MW grid, committed by a binary, with a demand row."""
    return build("real_step", [Var("p", "real", 0, 2.5, unit="MW"), Var("u")],
                 [Row("demand", [1, 0], lo=1.2), Row("limit", [1, -2.5], hi=0)],
                 c=[0.8, 1.0], encodings=[("p", "integer", 0.5)])


def ranged_row() -> FlatModel:
    """Three binaries and an integer in one ranged row ``2 <= … <= 3``."""
    return build("ranged", [Var("b", size=3), Var("z", "integer", 0, 2)],
                 [Row("band", [1, 1, 1, 1], lo=2, hi=3)], c=[-1, 2, -1, 1.5])


def fractional() -> FlatModel:
    """Coefficients 0.1, 0.25, 0.3 (MW) on binaries and an integer: lattice 0.05."""
    return build("fractional", [Var("on", size=3), Var("n", "integer", 0, 2)],
                 [Row("cap", [0.1, 0.25, 0.3, 0.1], hi=0.45)],
                 c=[3, 4, 5, 1], sense="max")


def quadratic_binary() -> FlatModel:
    """A quadratic objective on binaries (squares and products) with ``sum == 2``."""
    return build("quad", [Var("x", size=3)], [Row("pick", [1, 1, 1], lo=2, hi=2)],
                 c=[1, -2, 0.5], q=[(0, 0, 2.0), (0, 1, -3.0), (1, 2, 1.5), (0, 2, 0.25)],
                 obj_const=4.0)


def max_sense_onehot() -> FlatModel:
    """Maximise a concave quadratic of a one-hot integer, gated by a binary."""
    return build("max_onehot", [Var("s", "integer", 0, 4), Var("u")],
                 [Row("gate", [1, -4], hi=0)], c=[3, -1], q=[(0, 0, -0.5)],
                 sense="max", encodings=[("s", "onehot", None)])


def domain_wall() -> FlatModel:
    """An integer in ``1 .. 4`` as a domain wall, with a ``>=`` row and a product term."""
    return build("dw", [Var("s", "integer", 1, 4), Var("u")],
                 [Row("need", [1, 1], lo=3)], c=[2, 1.5], q=[(0, 1, 0.5)],
                 encodings=[("s", "domain_wall", None)])


def unary_int() -> FlatModel:
    """An integer in ``0 .. 3`` in unary, with a ``<=`` row."""
    return build("unary", [Var("k", "integer", 0, 3), Var("u")],
                 [Row("cap", [2, 3], hi=6)], c=[-2, -2.5], encodings=[("k", "unary", None)])


def real_without_step() -> FlatModel:
    """A real variable with no encoding: not lowerable to a QUBO."""
    return build("no_step", [Var("u"), Var("p", "real", 0, 10, unit="MW")],
                 [Row("limit", [-10, 1], hi=0)], c=[1, -1])


ALL = {f.__name__: f for f in (knapsack, integer_equality, real_with_step, ranged_row, fractional,
                                quadratic_binary, max_sense_onehot, domain_wall, unary_int)}


def valid_structure(bits: np.ndarray, inverse: object) -> np.ndarray:
    """Which bit samples keep every one-hot register one-hot and every domain wall a wall."""
    from qgridlang.compilers.qubo_encodings import DOMAIN_WALL, ONEHOT

    regs = inverse.columns  # type: ignore[attr-defined]
    ok = np.ones(len(bits), dtype=bool)
    for r in np.flatnonzero(regs.nbits > 0):
        seg = bits[:, regs.start[r]:regs.start[r] + regs.nbits[r]]
        if regs.method[r] == ONEHOT:
            ok &= seg.sum(axis=1) == 1
        elif regs.method[r] == DOMAIN_WALL:
            ok &= (np.diff(seg, axis=1) <= 0).all(axis=1)
    return ok


def every_bit_string(n: int) -> np.ndarray:
    """All ``2^n`` bit strings (``2^n x n``)."""
    return (np.arange(2**n)[:, None] >> np.arange(n)) & 1
