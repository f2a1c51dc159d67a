"""Array values of the vectorised expansion (:mod:`qgridlang.semantics.vector`).

A frame is every binding of a declaration's index names as arrays of positions into their
sets; values over a frame are index elements (:class:`VElem`), numbers with one unit
(:class:`VNum`) and affine forms as COO triples with a constant per row (:class:`VAff`). The
helpers merge per-group values, gather named expressions' terms and turn rows back into the
per-element :class:`Affine` / :class:`Scalar` values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qgridlang import ast
from qgridlang.errors import Span
from qgridlang.semantics import units as U
from qgridlang.semantics.evaluate import Env
from qgridlang.semantics.values import Affine, Elem, Scalar, SetValue


class NotVectorisable(Exception):
    """This construct (or this error) is left to the per-element path."""


class Split(Exception):
    """Rows of the declaration must be evaluated in two groups (their values differ in unit)."""

    def __init__(self, top: np.ndarray) -> None:
        super().__init__("split")
        self.top = top  # the top-level rows of one group



# ---- values ---------------------------------------------------------------------------------
@dataclass
class VElem:
    set: SetValue
    pos: np.ndarray  # int64 positions into set.elements


@dataclass
class VNum:
    value: np.ndarray  # float64, one per row
    unit: U.Unit | None


_EMPTY_I = np.zeros(0, np.int64)
_EMPTY_F = np.zeros(0)


@dataclass
class VAff:
    """Per row: ``sum lv x_lc + sum qv x_qi x_qj + const`` (COO, duplicates allowed)."""

    const: np.ndarray
    unit: U.Unit | None
    lr: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    lc: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    lv: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    qr: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    qi: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    qj: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    qv: np.ndarray = field(default_factory=lambda: _EMPTY_F)

    @property
    def n(self) -> int:
        return int(self.const.shape[0])

    def has_terms(self) -> np.ndarray:
        """Rows that would be an :class:`Affine` on the per-element path (any term at all)."""
        out = np.zeros(self.n, bool)
        out[self.lr] = True
        out[self.qr] = True
        return out

    def scaled(self, f: np.ndarray | float, unit: U.Unit | None) -> VAff:
        fa = np.asarray(f, float)
        if fa.ndim == 0:
            return VAff(self.const * fa, unit, self.lr, self.lc, self.lv * fa, self.qr,
                        self.qi, self.qj, self.qv * fa)
        return VAff(self.const * fa, unit, self.lr, self.lc, self.lv * fa[self.lr], self.qr,
                    self.qi, self.qj, self.qv * fa[self.qr])


Num = VNum | VAff


def same_unit(a: U.Unit | None, b: U.Unit | None) -> bool:
    return a is b or (a is not None and b is not None and a == b and a.text == b.text)


def finite(x: np.ndarray) -> None:
    if x.size and not np.isfinite(x).all():
        raise NotVectorisable("a value is not finite")


# ---- frames ---------------------------------------------------------------------------------
@dataclass
class Batch:
    """The instances of an indexed component a frame spans (``gen[u in U]``: one scope per
    instance), and each row's instance: a name of the component's own scope has a value per
    row, gathered from the instances' scopes (:meth:`Vectoriser._member`)."""

    scopes: list[Any]  # Scope, one per instance, in instance order
    pos: np.ndarray  # int64: each row's instance (an index into scopes)
    names: frozenset[str]  # the names every instance's scope declares (its own items)
    cache: dict[Any, Any]  # gathered tables by (kind, name), shared by the frame's parts

    def take(self, idx: np.ndarray) -> Batch:
        return Batch(self.scopes, self.pos[idx], self.names, self.cache)


@dataclass
class Frame:
    """``n`` bindings of index names (positions into sets) and each one's top-level row;
    ``inst``: the rows span several instances of a component (else one scope, ``env``'s)."""

    n: int
    bind: dict[str, tuple[SetValue, np.ndarray]]
    time: SetValue | None
    top: np.ndarray
    env: Env  # the declaration's environment (scope, and bindings made outside the frame)
    inst: Batch | None = None

    def take(self, idx: np.ndarray) -> Frame:
        return Frame(int(idx.shape[0]), {k: (s, p[idx]) for k, (s, p) in self.bind.items()},
                     self.time, self.top[idx], self.env,
                     None if self.inst is None else self.inst.take(idx))

    def row_env(self, i: int) -> Env:
        env = self.env
        if self.inst is not None:  # the row's own instance
            env = Env(self.inst.scopes[int(self.inst.pos[i])], env.bind, env.time, env.rng,
                      env.n_draws)
        for name, (s, p) in self.bind.items():
            env = env.with_(name, Elem(s.elements[int(p[i])], s))
        if env.time is not self.time and self.time is not None:
            env = Env(env.scope, env.bind, self.time, env.rng, env.n_draws)
        return env


_NAMES: dict[int, tuple[ast.Node, frozenset[str]]] = {}


def free_names(node: ast.Node) -> frozenset[str]:
    """The first names of every reference in ``node`` (what a domain could depend on); kept
    per node (the AST is immutable; component bodies are walked once, not per instance)."""
    got = _NAMES.get(id(node))
    if got is not None and got[0] is node:
        return got[1]
    if len(_NAMES) > 100_000:
        _NAMES.clear()
    out = frozenset(_walk_names(node))
    _NAMES[id(node)] = (node, out)
    return out


def _walk(node: ast.Node) -> Iterator[ast.Node]:
    """Every node under ``node`` (itself included), without recursion."""
    stack: list[Any] = [node]
    while stack:
        x = stack.pop()
        if isinstance(x, ast.Node):
            yield x
            for name in type(x).model_fields:
                if name != "span":
                    stack.append(getattr(x, name))
        elif isinstance(x, tuple | list):
            stack.extend(x)


def _walk_names(node: ast.Node) -> set[str]:
    return {x.parts[0].name for x in _walk(node) if isinstance(x, ast.Ref)}


_SHIFTS: dict[tuple[int, str], tuple[ast.Node, bool]] = {}


def shifts(node: ast.Node, var: str) -> bool:
    """Does ``node`` step from the index ``var`` (``prev(var…)``, ``next(var…)``)? Kept per
    node and name."""
    got = _SHIFTS.get((id(node), var))
    if got is not None and got[0] is node:
        return got[1]
    if len(_SHIFTS) > 100_000:
        _SHIFTS.clear()
    out = any(isinstance(x, ast.Call) and x.name in ("prev", "next") and x.args and
              isinstance(x.args[0], ast.Ref) and x.args[0].parts[0].name == var
              for x in _walk(node))
    _SHIFTS[(id(node), var)] = (node, out)
    return out


def calls(node: ast.Node) -> set[str]:
    """The names of the functions ``node`` calls."""
    return {x.name for x in _walk(node) if isinstance(x, ast.Call)}


# ---- helpers --------------------------------------------------------------------------------
@dataclass
class KeyCodes:
    """Sorted integer codes of an item's keys; ``where[k]`` is the key's insertion index."""

    codes: np.ndarray
    where: np.ndarray
    values: np.ndarray | None  # columns (variables) or values (parameters), insertion order
    count: int


def lookup(packed: KeyCodes, codes: np.ndarray) -> np.ndarray:
    """Positions in ``packed.codes`` of every code (all must be present)."""
    if not packed.codes.size:
        raise NotVectorisable("a key that is not declared")
    k = np.searchsorted(packed.codes, codes)
    k = np.minimum(k, packed.codes.shape[0] - 1)
    if not (packed.codes[k] == codes).all():
        raise NotVectorisable("a key that is not declared")
    return packed.where[k]  # type: ignore[no-any-return]


@dataclass
class ExprPack:
    """A named expression's values by key (insertion order), as CSR-like term arrays."""

    const: np.ndarray
    unit: U.Unit | None
    l_off: np.ndarray
    l_col: np.ndarray
    l_val: np.ndarray
    q_off: np.ndarray
    q_i: np.ndarray
    q_j: np.ndarray
    q_val: np.ndarray
    affine: bool

    @staticmethod
    def build(vals: list[Scalar | Affine]) -> ExprPack:
        if not vals:
            raise NotVectorisable("an empty expression")
        unit = vals[0].unit
        if not all(same_unit(v.unit, unit) for v in vals):
            raise NotVectorisable("an expression whose elements differ in unit")
        if any(isinstance(v, Scalar) and np.ndim(v.value) != 0 for v in vals):
            raise NotVectorisable("scenario values")
        const = np.array([float(v.value) if isinstance(v, Scalar) else v.const for v in vals])
        lins = [v.lin if isinstance(v, Affine) else {} for v in vals]
        quads = [v.quad if isinstance(v, Affine) else {} for v in vals]
        l_off = np.cumsum([0] + [len(d) for d in lins])
        q_off = np.cumsum([0] + [len(d) for d in quads])
        l_col = np.fromiter((k for d in lins for k in d), np.int64, int(l_off[-1]))
        l_val = np.fromiter((v for d in lins for v in d.values()), float, int(l_off[-1]))
        q_i = np.fromiter((k[0] for d in quads for k in d), np.int64, int(q_off[-1]))
        q_j = np.fromiter((k[1] for d in quads for k in d), np.int64, int(q_off[-1]))
        q_val = np.fromiter((v for d in quads for v in d.values()), float, int(q_off[-1]))
        affine = any(isinstance(v, Affine) for v in vals)
        if any(isinstance(v, Affine) and not (v.lin or v.quad) for v in vals):
            # an Affine without terms cannot be told from a number in these arrays
            raise NotVectorisable("an expression element that is affine without terms")
        return ExprPack(const, unit, l_off, l_col, l_val, q_off, q_i, q_j, q_val, affine)

    def gather(self, idx: np.ndarray) -> Num:
        n = idx.shape[0]
        if not self.affine:
            return VNum(self.const[idx], self.unit)
        lr, lt = segments(self.l_off, idx)
        qr, qt = segments(self.q_off, idx)
        return VAff(self.const[idx], self.unit, lr, self.l_col[lt], self.l_val[lt], qr,
                    self.q_i[qt], self.q_j[qt], self.q_val[qt]) if n else \
            VAff(np.zeros(0), self.unit)


def segments(off: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows selecting segments ``idx`` of a CSR offset array: each term's row and index."""
    lens = off[idx + 1] - off[idx]
    rows = np.repeat(np.arange(idx.shape[0], dtype=np.int64), lens)
    starts = np.repeat(off[idx] - (np.cumsum(lens) - lens), lens)
    return rows, starts + np.arange(rows.shape[0], dtype=np.int64)


def infinity(node: ast.Expr) -> float | None:
    """``inf`` / ``-inf`` written as a bound (the one place an infinite literal is allowed)."""
    sign = 1.0
    while isinstance(node, ast.Neg):
        node, sign = node.operand, -sign
    if isinstance(node, ast.Num) and node.text in ("inf", "-inf") and math.isinf(node.value):
        return sign * node.value
    return None



def power_of(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if ((a < 0) & (np.mod(e, 1.0) != 0)).any() or ((a == 0) & (e < 0)).any():
            raise NotVectorisable("an undefined power")
        out = np.power(a, e)
    finite(out)
    return out  # type: ignore[no-any-return]


def is_label(v: Any) -> bool:
    if isinstance(v, str):
        return True
    return isinstance(v, VElem) and any(isinstance(e, str) for e in v.set.elements)


def as_aff(v: Num) -> VAff:
    if isinstance(v, VAff):
        return v
    return VAff(v.value.astype(float), v.unit)


def as_num(v: Num) -> VNum:
    if isinstance(v, VNum):
        return v
    if v.lr.size or v.qr.size:
        raise NotVectorisable("a variable where a number is needed")
    return VNum(v.const, v.unit)


def mul_unit(a: U.Unit | None, b: U.Unit | None) -> tuple[U.Unit | None, float]:
    if a is None:
        return b, 1.0
    if b is None:
        return a, 1.0
    return U.multiply(a, b)


def constants(v: Num) -> np.ndarray:
    if isinstance(v, VNum):
        return v.value
    return np.where(v.has_terms(), np.nan, v.const)


def check_ambiguous(a: Num, b: Num, span: Span) -> None:
    """:func:`units.check_comparison` on every row (only a bare number against % can fail)."""
    for unit, bare, value in ((a.unit, b.unit, constants(b)), (b.unit, a.unit, constants(a))):
        if unit is not None and bare is None and U.plain_factor(unit) not in (None, 1.0):
            bad = (value == value) & (value != 0.0)
            if bad.any():
                raise NotVectorisable("an ambiguous comparison")


def split_rows(fr: Frame, a: np.ndarray, b: np.ndarray) -> None:
    """Ask for the top-level rows of ``a`` and ``b`` to be evaluated apart (or give up)."""
    ta, tb = np.unique(fr.top[a]), np.unique(fr.top[b])
    if np.intersect1d(ta, tb).size:
        raise NotVectorisable("values in different units within one row")
    raise Split(ta)


def merge(parts: list[tuple[np.ndarray, Any]], n: int) -> Any:
    """Scatter per-group values (rows ``idx`` of an ``n``-row frame) into one value."""
    if len(parts) == 1 and parts[0][0].shape[0] == n:
        return parts[0][1]
    vals = [v for _, v in parts]
    first = vals[0]
    if isinstance(first, VElem):
        if not all(isinstance(v, VElem) and v.set is first.set for v in vals):
            raise NotVectorisable("elements of different sets")
        pos = np.zeros(n, np.int64)
        for idx, v in parts:
            pos[idx] = v.pos
        return VElem(first.set, pos)
    if isinstance(first, np.ndarray) and first.dtype == bool:
        out = np.zeros(n, bool)
        for idx, v in parts:
            if not (isinstance(v, np.ndarray) and v.dtype == bool):
                raise NotVectorisable("mixed values")
            out[idx] = v
        return out
    if all(isinstance(v, VNum | VAff) for v in vals):
        unit = first.unit
        if not all(same_unit(v.unit, unit) for v in vals):
            raise NotVectorisable("values in different units")
        if all(isinstance(v, VNum) for v in vals):
            out_n = np.zeros(n)
            for idx, v in parts:
                out_n[idx] = v.value
            return VNum(out_n, unit)
        const = np.zeros(n)
        lr, lc, lv, qr, qi, qj, qv = ([] for _ in range(7))
        for idx, v in parts:
            a = as_aff(v)
            const[idx] = a.const
            lr.append(idx[a.lr])
            lc.append(a.lc)
            lv.append(a.lv)
            qr.append(idx[a.qr])
            qi.append(a.qi)
            qj.append(a.qj)
            qv.append(a.qv)
        return VAff(const, unit, np.concatenate(lr), np.concatenate(lc), np.concatenate(lv),
                    np.concatenate(qr), np.concatenate(qi), np.concatenate(qj),
                    np.concatenate(qv))
    if all(v is first for v in vals):
        return first
    raise NotVectorisable("mixed values")


def affine_rows(vals: list[Scalar | Affine], unit: U.Unit | None) -> VAff:
    pack = ExprPack.build(vals)
    got = pack.gather(np.arange(len(vals), dtype=np.int64))
    return as_aff(got)


def to_values(v: Num) -> list[Scalar | Affine]:
    """Per-row values as the element path makes them (an Affine where a row has terms)."""
    if isinstance(v, VNum):
        return [Scalar(x, v.unit) for x in v.value.tolist()]
    has = v.has_terms()
    out: list[Scalar | Affine] = [Scalar(x, v.unit) for x in v.const.tolist()]
    if not has.any():
        return out
    lin: list[dict[int, float]] = [{} for _ in range(v.n)]
    for r, c, x in zip(v.lr.tolist(), v.lc.tolist(), v.lv.tolist(), strict=True):
        d = lin[r]
        d[c] = d.get(c, 0.0) + x
    quad: list[dict[tuple[int, int], float]] = [{} for _ in range(v.n)]
    for r, i, j, x in zip(v.qr.tolist(), v.qi.tolist(), v.qj.tolist(), v.qv.tolist(),
                          strict=True):
        d2 = quad[r]
        d2[(i, j)] = d2.get((i, j), 0.0) + x
    for r in np.flatnonzero(has).tolist():
        out[r] = Affine(lin[r], quad[r], float(v.const[r]), v.unit)
    return out


def to_value(v: Num, row: int) -> Scalar | Affine:
    """One row as a value; for the objective (one row), with terms summed by column."""
    if isinstance(v, VNum):
        return Scalar(float(v.value[row]), v.unit)
    sel = v.lr == row
    cols, inv = np.unique(v.lc[sel], return_inverse=True)
    vals = np.bincount(inv, weights=v.lv[sel], minlength=cols.shape[0])
    qs = v.qr == row
    q_code = v.qi[qs].astype(np.int64) * (max(int(v.qj.max(initial=0)), 0) + 1) + v.qj[qs]
    qc, qinv = np.unique(q_code, return_inverse=True)
    qv = np.bincount(qinv, weights=v.qv[qs], minlength=qc.shape[0])
    width = max(int(v.qj.max(initial=0)), 0) + 1
    if not cols.size and not qc.size and not sel.any():
        return Scalar(float(v.const[row]), v.unit)
    return Affine(dict(zip(cols.tolist(), vals.tolist(), strict=True)),
                  {(i, j): x for i, j, x in zip((qc // width).tolist(), (qc % width).tolist(),
                                                 qv.tolist(), strict=True)},
                  float(v.const[row]), v.unit)
