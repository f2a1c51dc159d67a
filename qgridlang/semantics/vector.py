"""Expand a declaration over its whole index domain at once, with array operations.

The per-element evaluator (:mod:`qgridlang.semantics.evaluate`) walks a declaration's body
once per index combination: ~200 µs and dozens of Python calls per binary. This module
evaluates the body once over a *frame* (every binding of the index names, as arrays of
positions into their sets), the way linopy and JuMP's containers build expressions:

- an index is an array of positions (:class:`VElem`); a parameter lookup is a gather through
  the parameter's sorted key codes (sparse: a table with a default stores only its entries);
- a number is an array with one unit (:class:`VNum`); an affine form is COO triples
  (row, column, coefficient) plus a constant per row (:class:`VAff`);
- ``sum(…)`` expands the frame by its domains, filters by ``where`` and folds back with
  ``bincount``; ``if`` and ``and``/``or`` evaluate each branch on the rows that take it only.

A construct the arrays do not cover (an index domain that depends on another index, a
scenario-valued parameter, ``expected``/``cvar``, mixed units across rows) is evaluated row
by row through the per-element evaluator (:meth:`Vectoriser._rowwise`), or the whole
declaration goes back to the per-element path. So is anything that would be an error: the
per-element path then reports it exactly as before. Both paths give the same rows, columns and
coefficients; ``tests/test_vector_expansion.py`` runs every test and example model both ways.

The instances of an indexed component (``thermal_unit gen[u in U]``) have each constraint of
the component expanded once for all of them (:meth:`Vectoriser.batch`): a frame's rows then
span the instances, and a name of the component's scope takes each row's value from the row's
instance (a table gathered over the instances). Each instance gets the rows, in the order, its
own expansion gives.

:func:`expansion` selects the path (``"auto"``: arrays with fallback, instances together;
``"instance"``: arrays, one instance at a time; ``"element"``: the per-element path only), for
tests and benchmarks; ``QGL_EXPANSION`` sets it for a process.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from qgridlang import ast
from qgridlang.errors import QglError, Span
from qgridlang.flat import RowInfo
from qgridlang.semantics import units as U
from qgridlang.semantics.arrays import (
    Batch,
    ExprPack,
    Frame,
    KeyCodes,
    NotVectorisable,
    Num,
    Split,
    VAff,
    VElem,
    VNum,
    affine_rows,
    as_aff,
    as_num,
    calls,
    check_ambiguous,
    finite,
    free_names,
    infinity,
    is_label,
    lookup,
    merge,
    mul_unit,
    power_of,
    same_unit,
    shifts,
    split_rows,
    to_value,
    to_values,
)
from qgridlang.semantics.context import Context
from qgridlang.semantics.evaluate import ARRAY_FUNCTIONS, DISTRIBUTIONS, Env, Suppressed
from qgridlang.semantics.scope import (
    ExprData,
    InstanceData,
    Key,
    ParamData,
    Poisoned,
    Scope,
    VarData,
)
from qgridlang.semantics.values import Affine, Elem, Label, Scalar, SetValue, quotient_unit

_MODE = {"value": os.environ.get("QGL_EXPANSION", "auto")}
_MODES = ("auto", "instance", "element")


@contextlib.contextmanager
def expansion(mode: str) -> Iterator[None]:
    """Check models with the given expansion path inside the block: ``auto`` (arrays, the
    instances of an indexed component together), ``instance`` (arrays, one instance at a time)
    or ``element``."""
    if mode not in _MODES:
        raise ValueError(f"expansion mode must be one of {_MODES}, got {mode!r}")
    old = _MODE["value"]
    _MODE["value"] = mode
    try:
        yield
    finally:
        _MODE["value"] = old


def enabled() -> bool:
    return _MODE["value"] != "element"


def together() -> bool:
    """Are an indexed component's instances expanded together (:meth:`Vectoriser.batch`)?"""
    return _MODE["value"] == "auto"


_RISKY: dict[int, tuple[ast.Node, bool]] = {}  # node id -> (node, calls expected/cvar/draws)
# calls that add columns and rows as they are evaluated (or draw): their declarations are left to
# the element path, which evaluates them exactly once
_RISK_CALLS = frozenset({"expected", "cvar", *DISTRIBUTIONS})
# what sends a declaration back to the element path: constructs the arrays leave alone, user
# errors (reported there, at the same place as before), and, as a safety net, a defect of this
# module (recorded in the fallbacks as "internal error: …"; the tests fail on any)
_FALLBACK = (NotVectorisable, Split, QglError, Suppressed, ArithmeticError, RecursionError)
_INTERNAL = (IndexError, KeyError, TypeError, ValueError)
# functions a component's constraints and expressions may call for its instances to be expanded
# together (:meth:`Vectoriser.batch`): none of them adds a column or a row (pos, max and min of
# variables do), so columns are made in the same order as instance by instance
BATCH_CALLS = frozenset({"first", "last", "prev", "next", "ord", "card", "sqrt", "exp", "log",
                          "floor", "ceil", "round", "abs"})


class Batched:
    """A component constraint's rows for every instance of an indexed component, computed
    together (:meth:`Vectoriser.batch`) and added instance by instance (:meth:`Vectoriser.emit`):
    each instance gets exactly the rows, in the order, its own expansion would give."""

    def __init__(self, keys: list[Key], index: tuple[str, ...], tops: np.ndarray,
                 lo: np.ndarray, hi: np.ndarray, units: list[U.Unit | None], rr: np.ndarray,
                 cc: np.ndarray, vv: np.ndarray, row_inst: np.ndarray, n_inst: int) -> None:
        self.keys, self.index, self.tops = keys, index, tops
        self.lo, self.hi, self.units = lo, hi, units
        self.rr, self.cc, self.vv = rr, cc, vv
        # rows are instance-major; each instance's terms in their original order
        self.rows_at = np.searchsorted(row_inst, np.arange(n_inst + 1))
        tri_inst = row_inst[rr]
        self.t_order = np.argsort(tri_inst, kind="stable")
        self.terms_at = np.searchsorted(tri_inst[self.t_order], np.arange(n_inst + 1))


class Vectoriser:
    """Array expansion for one :class:`Builder` (see the module docstring)."""

    def __init__(self, builder: Context) -> None:
        self.b = builder
        self.ev = builder.ev
        self._packed: dict[int, Any] = {}
        self._maps: dict[tuple[int, int], np.ndarray] = {}
        self._labels: dict[int, np.ndarray] = {}
        self._lazy: dict[int, dict[int, Scalar]] = {}
        self.vectorised = 0  # declarations expanded with arrays
        self.fallbacks: list[str] = []  # declarations left to the per-element path, and why
        # component constraints not expanded for all instances at once (each instance is then
        # expanded on its own, with arrays or element by element), and why
        self.unbatched: list[str] = []
        self.together = 0  # component constraints expanded for all instances at once

    # ---- declarations ------------------------------------------------------------------------
    def constraint(self, st: ast.ConstraintDecl, env: Env, qname: str) -> bool:
        """Add the rows of ``st`` with arrays; False (nothing added) to use the element path."""
        assert isinstance(st.body, ast.Compare)
        body = st.body
        return self._attempt(st, qname, env, lambda: self._constraint(st, body, env, qname))

    def var(self, st: ast.VarDecl, env: Env, unit: U.Unit
            ) -> tuple[list[tuple[Label, ...]], np.ndarray, np.ndarray, np.ndarray] | None:
        """A variable's keys, bounds and key codes with arrays (None: use the element path)."""
        out: list[Any] = []

        def run() -> None:
            items = st.index.items if st.index else ()
            fr, keys, codes = self.frame(items, st.index.where if st.index else None, env)
            out.extend([keys, *self._bounds(st, fr, unit), codes])

        ok = self._attempt(st, f"var {st.name}", env, run)
        return (out[0], out[1], out[2], out[3]) if ok else None

    def columns(self, data: VarData, codes: np.ndarray, start: int) -> None:
        """Keep the key codes :meth:`var` gave for ``data`` (columns ``start ..``), so that its
        first use needs no pass over its keys in Python."""
        order = np.argsort(codes, kind="stable")
        n = codes.shape[0]
        self._packed[id(data) * 2] = KeyCodes(codes[order], order,
                                              np.arange(start, start + n, dtype=np.int64), n)

    def _bounds(self, st: ast.VarDecl, fr: Frame, unit: U.Unit) -> list[np.ndarray]:
        """As :meth:`Builder._bounds`, on every row."""
        if st.kind == "binary":
            if st.low is not None or st.high is not None:
                raise NotVectorisable("a binary with bounds")
            return [np.zeros(fr.n), np.ones(fr.n)]
        bounds = [np.full(fr.n, -math.inf), np.full(fr.n, math.inf)]
        for i, node in enumerate((st.low, st.high)):
            if node is None:
                continue
            inf = infinity(node)
            if inf is not None:
                if (inf > 0) == (i == 0):
                    raise NotVectorisable("a bound no value fits")
                continue  # an open side written out: -inf below, inf above
            s = self.scalar(node, fr)
            f = U.convert(s.unit, unit, node.span, f"bound of '{st.name}'")
            bounds[i] = s.value * f
        lo, hi = bounds
        if st.kind == "integer":
            lo, hi = np.ceil(lo - 1e-9), np.floor(hi + 1e-9)
        if (lo > hi + 1e-9).any():
            raise NotVectorisable("an empty domain")
        return [lo, hi]

    def param_values(self, items: tuple[ast.Iterator, ...], where: ast.Expr | None, env: Env,
                     value: ast.Expr, unit: U.Unit | None, name: str, span: Span
                     ) -> tuple[dict[tuple[Label, ...], float], U.Unit | None] | None:
        """``param x[t in T] = expr``: every value and the parameter's unit (None: use the
        element path), as :func:`params.declare_param` computes them."""
        out: list[Any] = []

        def run() -> None:
            fr, keys, _ = self.frame(items, where, env)
            v = self.scalar(value, fr)  # a Split (rows in different units) falls back
            out_unit = unit if unit is not None else v.unit
            f = U.convert(v.unit, out_unit, value.span, f"parameter '{name}'")
            out.extend([dict(zip(keys, (v.value * f).tolist(), strict=True)), out_unit])

        ok = self._attempt(value, f"param {name}", env, run)
        return (out[0], out[1]) if ok else None

    def objective(self, st: ast.Objective, env: Env) -> Scalar | Affine | None:
        out: list[Scalar | Affine] = []

        def run() -> None:
            fr = Frame(1, {}, env.time, np.zeros(1, np.int64), env)
            v = self.num(st.value, fr)
            out.append(to_value(v, 0))

        ok = self._attempt(st, "objective", env, run)
        return out[0] if ok else None

    def expr(self, data: ExprData) -> bool:
        """Fill ``data.cache`` for every key with arrays; False to leave it to the element path."""
        if all(k in data.cache for k in data.keys):
            return True
        if not enabled() or data.busy or data.env is None:
            return False
        if self._risky(data.node):
            return False
        saved = self.ev.work
        mark = self.b.positive.mark()
        data.busy = True
        try:
            fr = self._expr_frame(data)
            with np.errstate(all="ignore"):
                parts = self._top(fr, lambda f: self._expr_rows(data, f))
        except (*_FALLBACK, *_INTERNAL) as exc:
            self.ev.work = saved
            self.b.positive.disown(mark)
            self.fallbacks.append(f"expr {data.name}: {_why(exc)}")
            return False
        finally:
            data.busy = False
        keys = list(data.keys)
        for top, vals in parts:
            for i, t in enumerate(top.tolist()):
                key = keys[t]
                if key not in data.cache:
                    data.cache[key] = vals[i]
        self.vectorised += 1
        return True

    def _risky(self, node: ast.Node) -> bool:
        """Does ``node`` call expected/cvar or draw (once per node: component bodies repeat,
        and the import cache hands the same AST to every check of an unchanged file)?"""
        got = _RISKY.get(id(node))
        if got is not None and got[0] is node:
            return got[1]
        if len(_RISKY) > 100_000:
            _RISKY.clear()
        out = bool(_RISK_CALLS & calls(node))
        _RISKY[id(node)] = (node, out)
        return out

    def _attempt(self, st: ast.Node, name: str, env: Env, run: Callable[[], None]) -> bool:
        if not enabled() or self._risky(st):
            return False
        saved = self.ev.work
        mark = self.b.positive.mark()
        try:
            with np.errstate(all="ignore"):  # overflow and NaN are found by finite, not warned
                run()
        except (*_FALLBACK, *_INTERNAL) as exc:
            self.ev.work = saved
            self.b.positive.disown(mark)
            self.fallbacks.append(f"{name}: {_why(exc)}")
            return False
        self.vectorised += 1
        return True

    def _top(self, fr: Frame, fn: Callable[[Frame], Any]) -> list[Any]:
        """``fn`` over the frame; where it asks, over two groups of its rows in turn."""
        try:
            return [fn(fr)]
        except Split as s:
            inside = np.isin(fr.top, s.top)
            if inside.all() or not inside.any():
                raise NotVectorisable("a split that separates nothing") from None
            return (self._top(fr.take(np.flatnonzero(inside)), fn)
                    + self._top(fr.take(np.flatnonzero(~inside)), fn))

    # ---- constraints -------------------------------------------------------------------------
    def _constraint(self, st: ast.ConstraintDecl, body: ast.Compare, env: Env,
                    qname: str) -> None:
        items = st.index.items if st.index else ()
        where = st.index.where if st.index else None
        fr, keys, _ = self.frame(items, where, env)
        tops, lo, hi, units, rr, cc, vv, _n = self._block(body, fr)
        self._emit(qname, keys, st.span, tops, lo, hi, units, rr, cc, vv)

    def _block(self, body: ast.Compare, fr: Frame) -> tuple[Any, ...]:
        """A constraint's rows over a frame, in the per-element order: (each row's frame row,
        lo, hi, units, terms' rows, columns, values, how many groups the rows were split in)."""
        parts = self._top(fr, lambda f: self._rows(body, f))
        # rows in the per-element order: by top-level row, then by comparison
        tops = np.concatenate([p[0] for p in parts])
        order = np.argsort(tops, kind="stable")
        lo = np.concatenate([p[1] for p in parts])[order]
        hi = np.concatenate([p[2] for p in parts])[order]
        units = [u for p in parts for u in p[3]]
        units = [units[i] for i in order.tolist()]
        rank = np.empty_like(order)
        rank[order] = np.arange(order.shape[0])
        offsets = np.cumsum([0] + [p[0].shape[0] for p in parts])
        rr = np.concatenate([rank[offsets[k] + p[4]] for k, p in enumerate(parts)])
        cc = np.concatenate([p[5] for p in parts])
        vv = np.concatenate([p[6] for p in parts])
        return (np.floor(tops[order]).astype(np.int64), lo, hi, units, rr, cc, vv, len(parts))

    def _emit(self, qname: str, keys: list[Key], span: Span, tops: np.ndarray, lo: np.ndarray,
              hi: np.ndarray, units: list[U.Unit | None], rr: np.ndarray, cc: np.ndarray,
              vv: np.ndarray) -> None:
        """Add rows (``rr`` numbers them from 0) to the builder."""
        b = self.b
        first = len(b.rows)
        b.r_rows.extend((rr + first).tolist())
        b.r_cols.extend(cc.tolist())
        b.r_vals.extend(vv.tolist())
        b.row_lo.extend(lo.tolist())
        b.row_hi.extend(hi.tolist())
        texts: dict[int, str] = {}
        for t, unit in zip(tops.tolist(), units, strict=True):
            text = texts.get(id(unit))
            if text is None:
                text = texts[id(unit)] = U.unit_text(unit)
            b.rows.append(RowInfo(qname, keys[t], text, span))

    # ---- component constraints, every instance at once ----------------------------------------
    def batch(self, st: ast.ConstraintDecl, scopes: list[Scope]) -> Batched | None:
        """The rows of a component's constraint ``st`` for every instance in ``scopes`` at once
        (None: expand each instance on its own, as :meth:`constraint`). Nothing is added to the
        builder: :meth:`emit` adds one instance's rows."""
        if len(scopes) < 2 or not isinstance(st.body, ast.Compare) or \
                any(op in ("<", ">", "!=") for op in st.body.ops) or self._risky(st):
            return None
        body = st.body
        saved = self.ev.work
        try:
            with np.errstate(all="ignore"):
                out = self._batch(st, body, scopes)
        except (*_FALLBACK, *_INTERNAL) as exc:
            self.ev.work = saved
            (self.fallbacks if isinstance(exc, _INTERNAL) else self.unbatched).append(
                f"{scopes[0].component}.{st.name}: {_why(exc)}")
            return None
        self.vectorised += len(scopes)
        self.together += 1
        return out

    def _batch(self, st: ast.ConstraintDecl, body: ast.Compare, scopes: list[Scope]) -> Batched:
        items = st.index.items if st.index else ()
        where = st.index.where if st.index else None
        env = Env(scopes[0])
        names = frozenset(scopes[0].items)
        if any(frozenset(s.items) != names for s in scopes):
            raise NotVectorisable("instances that declare different names")
        n_inst = len(scopes)
        fr = Frame(n_inst, {}, env.time, np.arange(n_inst, dtype=np.int64), env,
                   Batch(scopes, np.arange(n_inst, dtype=np.int64), names, {}))
        bound: set[str] = set()
        doms: list[SetValue] = []
        for it in items:
            free = free_names(it.domain)
            if free & bound:
                raise NotVectorisable("an index domain that depends on another index")
            if free & names:
                raise NotVectorisable("an index domain that differs by instance")
            doms.append(self.ev.domain(it.domain, env))
            if it.var:
                bound.add(it.var)
        fr, pos = self._expand(fr, items, doms)
        if where is not None:
            idx = np.flatnonzero(self.cond(where, fr))
            fr, pos = fr.take(idx), [p[idx] for p in pos]
        self._count(fr.n)
        fr = Frame(fr.n, fr.bind, fr.time, np.arange(fr.n, dtype=np.int64), fr.env, fr.inst)
        labels = [self._label_array(d)[p] for d, p in zip(doms, pos, strict=True)]
        keys: list[Key] = list(zip(*(lab.tolist() for lab in labels), strict=True)) \
            if labels else [()] * fr.n
        # rows split in groups (units that differ by row) are grouped by the same test as each
        # instance's own rows, so each instance's terms keep their order
        tops, lo, hi, units, rr, cc, vv, _n = self._block(body, fr)
        assert fr.inst is not None
        return Batched(keys, tuple(d.name for d in doms), tops, lo, hi, units, rr, cc, vv,
                       fr.inst.pos[tops], n_inst)

    def emit(self, got: Batched, k: int, qname: str, span: Span) -> None:
        """Add instance ``k``'s rows of a :meth:`batch`."""
        a, z = int(got.rows_at[k]), int(got.rows_at[k + 1])
        sel = got.t_order[int(got.terms_at[k]):int(got.terms_at[k + 1])]
        self._emit(qname, got.keys, span, got.tops[a:z], got.lo[a:z], got.hi[a:z],
                   got.units[a:z], got.rr[sel] - a, got.cc[sel], got.vv[sel])

    def _member(self, node: ast.Ref, fr: Frame) -> Any:
        """A name of the component's own scope in a frame over several instances: each row's
        value from its instance (a parameter or a variable gathered from a table of all
        instances; anything else resolved per instance and merged)."""
        inst = fr.inst
        assert inst is not None
        part = node.parts[0]
        items = inst.cache.get(("items", part.name))
        if items is None:
            items = inst.cache[("items", part.name)] = [s.items.get(part.name)
                                                        for s in inst.scopes]
        if any(isinstance(x, Poisoned) for x in items):
            raise Suppressed()
        first = items[0]
        if len(node.parts) == 1 and all(type(x) is type(first) for x in items):
            if isinstance(first, ParamData) and part.index is None and not first.sets:
                vals, unit = self._gathered_param(items, part, inst)
                return VNum(vals[inst.pos], unit)
            if isinstance(first, VarData) and all(
                    len(x.sets) == len(first.sets) and same_unit(x.unit, first.unit) and
                    all(a is b for a, b in zip(x.sets, first.sets, strict=True))
                    for x in items):
                cols = self._gathered_columns(items, part, fr)
                return VAff(np.zeros(fr.n), first.unit, np.arange(fr.n, dtype=np.int64), cols,
                            np.ones(fr.n))
        out: list[tuple[np.ndarray, Any]] = []
        for k in np.unique(inst.pos).tolist():
            rows = np.flatnonzero(inst.pos == k)
            sub = fr.take(rows)
            env = Env(inst.scopes[k], fr.env.bind, fr.env.time, fr.env.rng, fr.env.n_draws)
            one = Frame(sub.n, sub.bind, sub.time, sub.top, env)
            out.append((rows, self._resolve(items[k], node, 0, one)))
        return merge(out, fr.n)

    def _gathered_param(self, items: list[Any], part: ast.Part, inst: Batch
                        ) -> tuple[np.ndarray, U.Unit | None]:
        got = inst.cache.get(("param", part.name))
        if got is None:
            vals = [x.get((), part.span) for x in items]
            if any(np.ndim(v.value) != 0 for v in vals):
                raise NotVectorisable("scenario values")
            unit = vals[0].unit
            if not all(same_unit(v.unit, unit) for v in vals):
                raise NotVectorisable("values in different units")
            got = inst.cache[("param", part.name)] = (
                np.array([float(v.value) for v in vals]), unit)
        return got  # type: ignore[no-any-return]

    def _gathered_columns(self, items: list[VarData], part: ast.Part, fr: Frame) -> np.ndarray:
        inst = fr.inst
        assert inst is not None
        first = items[0]
        if part.index is None:
            if first.sets:
                raise NotVectorisable("an indexed variable without index")
            if any(() not in x.cols for x in items):
                raise NotVectorisable("a missing column")
            return np.array([x.cols[()] for x in items], np.int64)[inst.pos]
        codes, doms = self._subscript(part.index, first.sets, fr)
        got = inst.cache.get(("var", part.name))
        if got is None:
            packs = [self._keys(x, x.cols, doms) for x in items]
            p0 = packs[0]
            cols: list[np.ndarray] = []
            for p in packs:
                if p.values is None or not np.array_equal(p.codes, p0.codes) or \
                        not np.array_equal(p.where, p0.where):
                    raise NotVectorisable("instances with different keys")
                cols.append(p.values)
            got = inst.cache[("var", part.name)] = (p0, np.stack(cols))
        p0, table = got
        return table[inst.pos, lookup(p0, codes)]  # type: ignore[no-any-return]

    def _rows(self, body: ast.Compare, fr: Frame) -> tuple[Any, ...]:
        """The rows of one group: (top, lo, hi, units, row, col, val) with rows local."""
        vals = [self.num(o, fr) for o in body.operands]
        for (a, b), node in zip(zip(vals, vals[1:]), body.operands[1:], strict=True):
            check_ambiguous(a, b, node.span)
        ranged = len(vals) == 3 and body.ops[0] == body.ops[1] and body.ops[0] != "=="
        if ranged:
            ends = [(~v.has_terms()) if isinstance(v, VAff) else np.ones(fr.n, bool)
                    for v in (vals[0], vals[2])]
            const_ends = ends[0] & ends[1]
            if const_ends.any() and not const_ends.all():
                raise NotVectorisable("a range constraint whose ends are variable on some rows")
            ranged = bool(const_ends.all()) if fr.n else False
        out: list[tuple[Any, ...]] = []
        if ranged:
            lo_v, mid, hi_v = vals if body.ops[0] == "<=" else vals[::-1]
            out.append(self._row(mid, lo_v, hi_v, fr, body.operands[1].span))
        else:
            for (a, b), op, node in zip(zip(vals, vals[1:]), body.ops, body.operands[1:],
                                        strict=True):
                diff = self.add(a, b, -1.0, node.span)
                zero = VNum(np.zeros(fr.n), None)
                if op == "==":
                    out.append(self._row(diff, zero, zero, fr, node.span))
                elif op == "<=":
                    out.append(self._row(diff, None, zero, fr, node.span))
                else:
                    out.append(self._row(diff, zero, None, fr, node.span))
        k = len(out)
        tops: list[np.ndarray] = []
        los: list[np.ndarray] = []
        his: list[np.ndarray] = []
        units: list[U.Unit | None] = []
        rr: list[np.ndarray] = []
        base = 0
        for j, (lo_v, hi_v, unit, rows, _cols, _vals, has) in enumerate(out):
            # rows without coefficients are dropped (their feasibility was checked in _row);
            # a row's comparisons sort after one another: key = top + j / k
            newpos = np.cumsum(has) - 1
            tops.append(fr.top[has] + j / k)
            los.append(lo_v[has])
            his.append(hi_v[has])
            units.extend([unit] * int(has.sum()))
            rr.append(base + newpos[rows])
            base += int(has.sum())
        return (np.concatenate(tops), np.concatenate(los), np.concatenate(his), units,
                np.concatenate(rr), np.concatenate([o[4] for o in out]),
                np.concatenate([o[5] for o in out]))

    def _row(self, expr: Num, lo: Num | None, hi: Num | None, fr: Frame, at: Span
             ) -> tuple[np.ndarray, np.ndarray, U.Unit | None, np.ndarray, np.ndarray,
                        np.ndarray, np.ndarray]:
        a = expr if isinstance(expr, VAff) else VAff(expr.value.astype(float), expr.unit)
        if a.qr.size:
            raise NotVectorisable("a quadratic constraint")
        unit = a.unit
        bounds: list[np.ndarray] = []
        for side, bnd in ((-math.inf, lo), (math.inf, hi)):
            if bnd is None:
                bounds.append(np.full(fr.n, side))
                continue
            f = U.into(bnd.unit, unit, at, "cannot compare")
            c = bnd.const if isinstance(bnd, VAff) else bnd.value
            bounds.append(c * f - a.const)
        lo_v, hi_v = bounds
        # sum duplicate (row, column) pairs, then drop zeros, as the per-element dict does
        n_cols = max(len(self.b.lb), 1)
        code = a.lr * n_cols + a.lc
        uniq, inv = np.unique(code, return_inverse=True)
        vals = np.bincount(inv, weights=a.lv, minlength=uniq.shape[0])
        nz = vals != 0.0
        uniq, vals = uniq[nz], vals[nz]
        rows, cols = uniq // n_cols, uniq % n_cols
        has = np.zeros(fr.n, bool)
        has[rows] = True
        empty = ~has
        if empty.any():
            fin_lo = np.where(np.isfinite(lo_v), np.abs(lo_v), 0.0)
            fin_hi = np.where(np.isfinite(hi_v), np.abs(hi_v), 0.0)
            tol = 1e-9 * np.maximum(1.0, np.maximum(fin_lo, fin_hi))
            if ((lo_v > tol) | (hi_v < -tol))[empty].any():
                raise NotVectorisable("a constraint that can never hold")
        return lo_v, hi_v, unit, rows, cols, vals, has

    # ---- expressions (named) -----------------------------------------------------------------
    def _expr_frame(self, data: ExprData) -> Frame:
        keys = list(data.keys.values())
        n = len(keys)
        bind: dict[str, tuple[SetValue, np.ndarray]] = {}
        env: Env = data.env
        time = env.time
        for k, name in enumerate(data.names):
            sets = {id(e[k].set) for e in keys}
            if len(sets) > 1:
                raise NotVectorisable("an expression over a dependent domain")
            s = keys[0][k].set if keys else None
            if s is None:
                continue
            pos = np.fromiter((s.position[e[k].value] for e in keys), np.int64, n)
            if name:  # as Builder.expr_value binds them: anonymous indices set no time
                bind[name] = (s, pos)
                if s.is_time:
                    time = s
        return Frame(n, bind, time, np.arange(n, dtype=np.int64), env)

    def _expr_rows(self, data: ExprData, fr: Frame) -> tuple[np.ndarray, list[Scalar | Affine]]:
        v = self.num(data.node, fr)
        if data.unit is not None:
            f = U.convert(v.unit, data.unit, data.node.span, f"expression '{data.name}'")
            v = VNum(v.value * f, data.unit) if isinstance(v, VNum) else v.scaled(f, data.unit)
        return fr.top, to_values(v)

    # ---- frames ------------------------------------------------------------------------------
    def frame(self, items: tuple[ast.Iterator, ...], where: ast.Expr | None, env: Env
              ) -> tuple[Frame, list[tuple[Label, ...]], np.ndarray]:
        """Every binding of a declaration's index, as the element path orders them: the frame,
        its keys, and the keys as integer codes over the declared sets."""
        names = set(env.bind)
        doms: list[SetValue] = []
        for it in items:
            if free_names(it.domain) & names:
                raise NotVectorisable("an index domain that depends on another index")
            doms.append(self.ev.domain(it.domain, env))
            if it.var:
                names.add(it.var)
        fr = Frame(1, {}, env.time, np.zeros(1, np.int64), env)
        fr, pos = self._expand(fr, items, doms)
        if where is not None:
            mask = self.cond(where, fr)
            idx = np.flatnonzero(mask)
            fr, pos = fr.take(idx), [p[idx] for p in pos]
        self._count(fr.n)
        fr = Frame(fr.n, fr.bind, fr.time, np.arange(fr.n, dtype=np.int64), fr.env, fr.inst)
        code = np.zeros(fr.n, np.int64)
        for d, p in zip(doms, pos, strict=True):
            code = code * len(d.elements) + p
        labels = [self._label_array(d)[p] for d, p in zip(doms, pos, strict=True)]
        keys: list[tuple[Label, ...]] = list(zip(*(lab.tolist() for lab in labels),
                                                 strict=True)) if labels else [()] * fr.n
        return fr, keys, code

    def _expand(self, fr: Frame, items: tuple[ast.Iterator, ...], doms: list[SetValue]
                ) -> tuple[Frame, list[np.ndarray]]:
        sizes = [len(d.elements) for d in doms]
        total = fr.n * math.prod(sizes)
        if total > self.ev.max_size:
            raise NotVectorisable("more combinations than the size limit")
        per = math.prod(sizes)
        parent = np.repeat(np.arange(fr.n, dtype=np.int64), per)
        bind = {k: (s, p[parent]) for k, (s, p) in fr.bind.items()}
        time = fr.time
        pos: list[np.ndarray] = []
        inner = per
        for it, d, size in zip(items, doms, sizes, strict=True):
            inner //= max(size, 1)
            p = np.tile(np.repeat(np.arange(size, dtype=np.int64), inner),
                        total // max(size * inner, 1)) if size else np.zeros(0, np.int64)
            pos.append(p)
            if it.var:
                bind.pop(it.var, None)  # a re-bound name moves to the end, as Env.with_ does
                bind[it.var] = (d, p)
            if d.is_time:
                time = d
        return Frame(total, bind, time, fr.top[parent], fr.env,
                     None if fr.inst is None else fr.inst.take(parent)), pos

    def _count(self, n: int) -> None:
        self.ev.work += n
        if self.ev.work > self.ev.max_size:
            raise NotVectorisable("the size limit")

    def _label_array(self, s: SetValue) -> np.ndarray:
        arr = self._labels.get(id(s))
        if arr is None or arr.shape[0] != len(s.elements):
            arr = np.empty(len(s.elements), object)
            arr[:] = s.elements
            self._labels[id(s)] = arr
        return arr

    # ---- evaluation --------------------------------------------------------------------------
    def value(self, node: ast.Expr, fr: Frame) -> Any:
        if fr.n == 0:  # no rows: nothing is evaluated (nor is it element by element)
            return VNum(np.zeros(0), None)
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            return self._rowwise(node, fr)
        return method(node, fr)

    def num(self, node: ast.Expr, fr: Frame) -> Num:
        v = self.value(node, fr)
        if isinstance(v, VNum | VAff):
            return v
        if isinstance(v, VElem):
            labels = self._label_array(v.set)[v.pos]
            if v.set.elements and all(isinstance(e, int) for e in v.set.elements):
                return VNum(labels.astype(float), None)
            raise NotVectorisable("a label used as a number")
        if isinstance(v, np.ndarray) and v.dtype == bool:
            return VNum(v.astype(float), None)
        raise NotVectorisable("not a number")

    def scalar(self, node: ast.Expr, fr: Frame) -> VNum:
        return as_num(self.num(node, fr))

    def cond(self, node: ast.Expr, fr: Frame) -> np.ndarray:
        v = self.value(node, fr)
        if isinstance(v, np.ndarray) and v.dtype == bool:
            return v
        if isinstance(v, VNum) or (isinstance(v, VAff) and not v.has_terms().any()):
            return as_num(v).value != 0.0
        raise NotVectorisable("a condition that is not a comparison")

    def _rowwise(self, node: ast.Expr, fr: Frame) -> Any:
        """``node`` through the per-element evaluator, one row at a time, packed into arrays."""
        vals = [self.ev.value(node, fr.row_env(i)) for i in range(fr.n)]
        return self._pack(vals, fr.n)

    def _pack(self, vals: list[Any], n: int) -> Any:
        if not vals:
            raise NotVectorisable("nothing to pack")
        first = vals[0]
        if isinstance(first, Elem):
            if not all(isinstance(v, Elem) and v.set is first.set for v in vals):
                raise NotVectorisable("elements of different sets")
            return VElem(first.set, np.fromiter((first.set.position[v.value] for v in vals),
                                                np.int64, n))
        if isinstance(first, bool):
            if not all(isinstance(v, bool) for v in vals):
                raise NotVectorisable("mixed values")
            return np.array(vals, bool)
        if isinstance(first, Scalar | Affine):
            unit = first.unit
            if not all(isinstance(v, Scalar | Affine) and same_unit(v.unit, unit)
                       for v in vals):
                raise NotVectorisable("values in different units")
            if all(isinstance(v, Scalar) for v in vals):
                if not all(np.ndim(v.value) == 0 for v in vals):
                    raise NotVectorisable("scenario values")
                return VNum(np.array([float(v.value) for v in vals]), unit)
            return affine_rows(vals, unit)
        if isinstance(first, SetValue) and all(v is first for v in vals):
            return first
        if isinstance(first, str) and all(v == first for v in vals):
            return first
        raise NotVectorisable(f"a {type(first).__name__} value")

    # leaves
    def _Num(self, node: ast.Num, fr: Frame) -> VNum:
        if not math.isfinite(node.value):
            raise NotVectorisable("an infinite literal")
        return VNum(np.full(fr.n, node.value), None)

    def _Quantity(self, node: ast.Quantity, fr: Frame) -> VNum:
        if not math.isfinite(node.value):
            raise NotVectorisable("an infinite literal")
        return VNum(np.full(fr.n, node.value), U.unit_at(node.unit, node.span))

    def _Str(self, node: ast.Str, fr: Frame) -> str:
        return node.value

    def _RangeExpr(self, node: ast.RangeExpr, fr: Frame) -> SetValue:
        if free_names(node) & set(fr.bind):
            raise NotVectorisable("a range that depends on an index")
        self._shared(node, fr)
        return self.ev.domain(node, fr.env)

    def _LabelSet(self, node: ast.LabelSet, fr: Frame) -> SetValue:
        return self.ev.domain(node, fr.env)

    @staticmethod
    def _shared(node: ast.Node, fr: Frame) -> None:
        """A set evaluated once for the whole frame: over several instances it must not use
        their own names (each could give another set)."""
        if fr.inst is not None and free_names(node) & fr.inst.names:
            raise NotVectorisable("a set that differs by instance")

    # references
    def _Ref(self, node: ast.Ref, fr: Frame) -> Any:
        first = node.parts[0]
        if first.name in fr.bind:
            if first.index is not None or len(node.parts) > 1:
                raise NotVectorisable("a subscripted index")
            s, pos = fr.bind[first.name]
            return VElem(s, pos)
        if first.name in fr.env.bind:
            return self._rowwise(node, fr)
        if fr.inst is not None and first.name in fr.inst.names:
            return self._member(node, fr)
        item = fr.env.scope.lookup(first.name)
        if item is None:
            if first.name == "dt" and len(node.parts) == 1:
                t = fr.time or fr.env.scope.over
                if t is None or t.step is None:
                    raise NotVectorisable("dt outside a time set")
                return VNum(np.full(fr.n, float(t.step.value)), t.step.unit)
            raise NotVectorisable("an unknown name")
        return self._resolve(item, node, 0, fr)

    def _resolve(self, item: Any, node: ast.Ref, i: int, fr: Frame) -> Any:
        parts = node.parts
        part = parts[i]
        last = i == len(parts) - 1
        if isinstance(item, Poisoned):
            raise Suppressed()
        if isinstance(item, InstanceData):
            if last:
                raise NotVectorisable("an instance used as a value")
            nxt = parts[i + 1]
            if part.index is None:
                scope = item.scopes.get(())
                if scope is None or nxt.name not in scope.items:
                    raise NotVectorisable("an instance member that does not exist")
                return self._resolve(scope.items[nxt.name], node, i + 1, fr)
            codes, packed = self._codes(item, item.scopes, part.index, item.sets, fr)
            where = lookup(packed, codes)
            keys = list(item.scopes)
            out: list[tuple[np.ndarray, Any]] = []
            for w in np.unique(where).tolist():
                rows = np.flatnonzero(where == w)
                scope = item.scopes[keys[w]]
                member = scope.items.get(nxt.name)
                if member is None:
                    raise NotVectorisable("an instance member that does not exist")
                out.append((rows, self._resolve(member, node, i + 1, fr.take(rows))))
            return merge(out, fr.n)
        if not last:
            raise NotVectorisable("members of a non-instance")
        if isinstance(item, SetValue):
            if part.index is not None:
                raise NotVectorisable("a subscripted set")
            return item
        if isinstance(item, ParamData):
            return self._param(item, part, fr)
        if isinstance(item, VarData):
            if part.index is None:
                if item.sets:
                    raise NotVectorisable("an indexed variable without index")
                col = item.cols.get(())
                if col is None:
                    raise NotVectorisable("a missing column")
                cols = np.full(fr.n, col, np.int64)
            else:
                codes, packed = self._codes(item, item.cols, part.index, item.sets, fr)
                assert packed.values is not None  # a variable's keys carry its columns
                cols = packed.values[lookup(packed, codes)]
            return VAff(np.zeros(fr.n), item.unit, np.arange(fr.n, dtype=np.int64), cols,
                        np.ones(fr.n))
        if isinstance(item, ExprData):
            return self._expr_ref(item, part, fr, node)
        raise NotVectorisable("an unusable name")

    def _param(self, item: ParamData, part: ast.Part, fr: Frame) -> VNum:
        if part.index is None:
            if item.sets:
                raise NotVectorisable("an indexed parameter without index")
            v = item.get((), part.span)
            if np.ndim(v.value) != 0:
                raise NotVectorisable("scenario values")
            return VNum(np.full(fr.n, float(v.value)), v.unit)
        if item.lazy is not None:
            return self._lazy_param(item, part, fr)
        codes, packed = self._codes(item, item.data, part.index, item.sets, fr)
        if packed.values is None:
            raise NotVectorisable("scenario values")
        k = np.searchsorted(packed.codes, codes)
        k = np.minimum(k, max(packed.codes.shape[0] - 1, 0))
        hit = packed.codes[k] == codes if packed.codes.size else np.zeros(fr.n, bool)
        if hit.all():
            return VNum(packed.values[packed.where[k]], item.unit)
        if item.default is None:
            raise NotVectorisable("a parameter without a value")
        out = np.full(fr.n, float(item.default))
        out[hit] = packed.values[packed.where[k[hit]]]
        return VNum(out, item.unit)

    def _lazy_param(self, item: ParamData, part: ast.Part, fr: Frame) -> VNum:
        """A component parameter bound by a rule: the rule once per distinct key used."""
        assert item.lazy is not None and part.index is not None
        codes, doms = self._subscript(part.index, item.sets, fr)
        uniq, inv = np.unique(codes, return_inverse=True)
        cache = self._lazy.setdefault(id(item), {})
        sizes = [len(d.elements) for d in doms]
        vals = np.empty(uniq.shape[0])
        unit: Any = 0
        for k, c in enumerate(uniq.tolist()):
            got = cache.get(c)
            if got is None:
                pos = np.unravel_index(c, sizes)
                key = tuple(d.elements[int(p)] for d, p in zip(doms, pos, strict=True))
                got = item.lazy(key, part.span)
                if np.ndim(got.value) != 0:
                    raise NotVectorisable("scenario values")
                cache[c] = got
            if unit != 0 and not same_unit(unit, got.unit):
                raise NotVectorisable("values in different units")
            unit = got.unit
            vals[k] = float(got.value)
        return VNum(vals[inv] if uniq.size else np.zeros(0), None if unit == 0 else unit)

    def _expr_ref(self, item: ExprData, part: ast.Part, fr: Frame, node: ast.Ref) -> Any:
        if item.busy or not self.expr(item):
            return self._rowwise(node, fr)  # the whole reference, as written
        packed = self._expr_pack(item)
        if part.index is None:
            if item.sets:
                raise NotVectorisable("an indexed expression without index")
            idx = np.zeros(fr.n, np.int64)
        else:
            codes, keyp = self._codes(item, item.keys, part.index, item.sets, fr)
            idx = lookup(keyp, codes)
        return packed.gather(idx)

    def _expr_pack(self, item: ExprData) -> ExprPack:
        got = self._packed.get(id(item) * 2 + 1)
        if got is None:
            vals = [item.cache[k] for k in item.keys]
            got = ExprPack.build(vals)
            self._packed[id(item) * 2 + 1] = got
        assert isinstance(got, ExprPack)
        return got

    def _codes(self, item: Any, table: dict[Any, Any], index: tuple[ast.Expr, ...],
               sets: list[SetValue | None], fr: Frame) -> tuple[np.ndarray, KeyCodes]:
        """The integer codes of a subscript ``item[index]`` on every row, and the item's keys."""
        code, doms = self._subscript(index, sets, fr)
        return code, self._keys(item, table, doms)

    def _subscript(self, index: tuple[ast.Expr, ...], sets: list[SetValue | None], fr: Frame
                   ) -> tuple[np.ndarray, list[SetValue]]:
        if len(index) != len(sets) or any(s is None for s in sets):
            raise NotVectorisable("a subscript that does not fit")
        doms = [s for s in sets if s is not None]
        code = np.zeros(fr.n, np.int64)
        for expr, dom in zip(index, doms, strict=True):
            code = code * len(dom.elements) + self._key_pos(expr, dom, fr)
        return code, doms

    def _keys(self, item: Any, table: dict[Any, Any], doms: list[SetValue]) -> KeyCodes:
        got = self._packed.get(id(item) * 2)
        if got is not None and got.count == len(table):
            assert isinstance(got, KeyCodes)
            return got
        sizes = [len(d.elements) for d in doms]
        n = len(table)
        codes = np.zeros(n, np.int64)
        try:
            for k, d in enumerate(doms):
                pos = np.fromiter((d.position[key[k]] for key in table), np.int64, n)
                codes = codes * sizes[k] + pos
        except KeyError:
            raise NotVectorisable("a key outside its set") from None
        order = np.argsort(codes, kind="stable")
        values: np.ndarray | None = None
        if isinstance(item, VarData):
            values = np.fromiter(table.values(), np.int64, n)
        elif isinstance(item, ParamData):
            raw = list(table.values())
            if all(type(v) is float or np.ndim(v) == 0 for v in raw):
                values = np.array(raw, float)
        got = KeyCodes(codes[order], order, values, n)
        self._packed[id(item) * 2] = got
        return got

    def _key_pos(self, expr: ast.Expr, dom: SetValue, fr: Frame) -> np.ndarray:
        if isinstance(expr, ast.Ref) and len(expr.parts) == 1 and expr.parts[0].index is None \
                and expr.parts[0].name not in fr.bind and expr.parts[0].name not in fr.env.bind:
            name = expr.parts[0].name
            if name in dom.position:
                return np.full(fr.n, dom.position[name], np.int64)
            if fr.env.scope.lookup(name) is None and name != "dt":
                raise NotVectorisable("a label not in the set")
        v = self.value(expr, fr)
        if isinstance(v, VElem):
            if v.set is dom:
                return v.pos
            out = self._map(v.set, dom)[v.pos]
        elif isinstance(v, str):
            if v not in dom.position:
                raise NotVectorisable("a label not in the set")
            return np.full(fr.n, dom.position[v], np.int64)
        else:
            s = as_num(v) if isinstance(v, VNum | VAff) else None
            if s is None or (s.unit is not None and not s.unit.dimensionless):
                raise NotVectorisable("an index that is not an element")
            if not np.all(np.mod(s.value, 1.0) == 0.0):
                raise NotVectorisable("a fractional index")
            ints = s.value.astype(np.int64)
            uniq, inv = np.unique(ints, return_inverse=True)
            look = np.array([dom.position.get(int(u), -1) for u in uniq.tolist()], np.int64)
            out = look[inv] if uniq.size else np.zeros(0, np.int64)
        if (out < 0).any():
            raise NotVectorisable("an index outside the set")
        return out

    def _map(self, src: SetValue, dst: SetValue) -> np.ndarray:
        key = (id(src), id(dst))
        got = self._maps.get(key)
        if got is None:
            got = np.array([dst.position.get(e, -1) for e in src.elements], np.int64)
            self._maps[key] = got
        return got

    # operators
    def _BinOp(self, node: ast.BinOp, fr: Frame) -> Any:
        if node.op in ("and", "or"):
            left = self.cond(node.left, fr)
            need = left if node.op == "and" else ~left
            truth = left.copy()
            idx = np.flatnonzero(need)
            if idx.size:
                truth[idx] = self.cond(node.right, fr.take(idx))
            return truth
        a = self.num(node.left, fr)
        b = self.num(node.right, fr)
        for v in (a, b):
            if isinstance(v, VNum) and np.isinf(v.value).any():
                raise NotVectorisable("an infinite operand")
        if node.op == "+":
            out = self.add(a, b, 1.0, node.span)
        elif node.op == "-":
            out = self.add(a, b, -1.0, node.span)
        elif node.op == "*":
            out = self.mul(a, b, node.span)
        elif node.op == "/":
            out = self.div(a, b, node.span)
        else:
            out = self.power(a, b, node)
        finite(out.value if isinstance(out, VNum) else out.const)
        if isinstance(out, VAff):
            finite(out.lv)
            finite(out.qv)
        return out

    def add(self, a: Num, b: Num, sign: float, span: Span) -> Num:
        unit, fa, fb = U.reconcile(a.unit, b.unit, span, "cannot add")
        if isinstance(a, VNum) and isinstance(b, VNum):
            return VNum(a.value * fa + sign * fb * b.value, unit)
        aa, bb = as_aff(a), as_aff(b)
        f = sign * fb
        return VAff(aa.const * fa + f * bb.const, unit,
                    np.concatenate([aa.lr, bb.lr]), np.concatenate([aa.lc, bb.lc]),
                    np.concatenate([aa.lv * fa, bb.lv * f]),
                    np.concatenate([aa.qr, bb.qr]), np.concatenate([aa.qi, bb.qi]),
                    np.concatenate([aa.qj, bb.qj]), np.concatenate([aa.qv * fa, bb.qv * f]))

    def mul(self, a: Num, b: Num, span: Span) -> Num:
        unit, uf = mul_unit(a.unit, b.unit)
        if isinstance(a, VNum) and isinstance(b, VNum):
            return VNum(a.value * b.value * uf, unit)
        if isinstance(a, VNum) or isinstance(b, VNum):
            s, e = (a, b) if isinstance(a, VNum) else (b, a)
            assert isinstance(s, VNum) and isinstance(e, VAff)
            return e.scaled(s.value * uf, unit)
        assert isinstance(a, VAff) and isinstance(b, VAff)
        n = a.n
        a_lin = np.bincount(a.lr, minlength=n)
        b_lin = np.bincount(b.lr, minlength=n)
        a_quad = np.bincount(a.qr, minlength=n)
        b_quad = np.bincount(b.qr, minlength=n)
        if ((a_quad > 0) & ((b_lin > 0) | (b_quad > 0))).any() or \
                ((b_quad > 0) & (a_lin > 0)).any():
            raise NotVectorisable("a product of more than two variables")
        if (a_lin * b_lin).max(initial=0) > self.ev.max_size:
            raise NotVectorisable("too many quadratic terms")
        # every pair of linear terms of one row: a's terms repeated, b's tiled within the row
        ob = np.argsort(b.lr, kind="stable")
        b_start = np.concatenate([[0], np.cumsum(b_lin)[:-1]]) if n else np.zeros(0, np.int64)
        rep = b_lin[a.lr]
        ia = np.repeat(np.arange(a.lr.shape[0]), rep)
        offs = np.arange(ia.shape[0]) - np.repeat(np.cumsum(rep) - rep, rep)
        ib = ob[np.repeat(b_start[a.lr], rep) + offs]
        ci, cj = a.lc[ia], b.lc[ib]
        qi, qj = np.minimum(ci, cj), np.maximum(ci, cj)
        parts_r = [a.qr, b.qr, a.lr[ia]]
        parts_i = [a.qi, b.qi, qi]
        parts_j = [a.qj, b.qj, qj]
        parts_v = [a.qv * b.const[a.qr], b.qv * a.const[b.qr], a.lv[ia] * b.lv[ib]]
        # a's linear terms times b's constant only where that constant is nonzero (and the
        # other way round), as values.multiply leaves them out
        ka, kb = b.const[a.lr] != 0.0, a.const[b.lr] != 0.0
        out = VAff(a.const * b.const, unit,
                   np.concatenate([a.lr[ka], b.lr[kb]]), np.concatenate([a.lc[ka], b.lc[kb]]),
                   np.concatenate([a.lv[ka] * b.const[a.lr[ka]], b.lv[kb] * a.const[b.lr[kb]]]),
                   np.concatenate(parts_r), np.concatenate(parts_i), np.concatenate(parts_j),
                   np.concatenate(parts_v))
        return out if uf == 1.0 else out.scaled(uf, unit)

    def div(self, a: Num, b: Num, span: Span) -> Num:
        bn = as_num(b)
        if (bn.value == 0).any():
            raise NotVectorisable("division by zero")
        unit, uf = quotient_unit(a.unit, bn.unit)
        if isinstance(a, VNum):
            return VNum(a.value / bn.value * uf, unit)
        return a.scaled(uf / bn.value, unit)

    def power(self, a: Num, b: Num, node: ast.BinOp) -> Num:
        bn = as_num(b)
        bf = U.plain_factor(bn.unit) if bn.unit is not None else 1.0
        if bf is None:
            raise NotVectorisable("an exponent with a unit")
        e = bn.value if bf == 1.0 else bn.value * bf
        if isinstance(a, VNum) or not a.has_terms().any():
            an = as_num(a)
            if an.unit is None:
                return VNum(power_of(an.value, e), None)
            af = U.plain_factor(an.unit)
            if af is not None:
                return VNum(power_of(an.value if af == 1.0 else an.value * af, e), U.DIMENSIONLESS)
            if not (e.size and (e == e[0]).all()) or not float(e[0]).is_integer() or \
                    abs(float(e[0])) > 64:
                raise NotVectorisable("a unit raised to a non-integer power")
            unit, uf = U.power(an.unit, int(e[0]))
            return VNum(power_of(an.value, e) * uf, unit)
        if not (e == e[0]).all():
            raise NotVectorisable("exponents that differ by row")
        if e[0] == 1.0:
            return a
        if e[0] == 2.0:
            return self.mul(a, a, node.span)
        raise NotVectorisable("a variable raised to a power other than 1 or 2")

    def _Neg(self, node: ast.Neg, fr: Frame) -> Num:
        v = self.num(node.operand, fr)
        if isinstance(v, VNum):
            return VNum(-v.value, v.unit)
        return v.scaled(-1.0, v.unit)

    def _Not(self, node: ast.Not, fr: Frame) -> np.ndarray:
        return ~self.cond(node.operand, fr)

    def _IfExpr(self, node: ast.IfExpr, fr: Frame) -> Any:
        mask = self.cond(node.cond, fr)
        parts: list[tuple[np.ndarray, Any]] = []
        for branch, rows in ((node.then, np.flatnonzero(mask)),
                             (node.other, np.flatnonzero(~mask))):
            if rows.size:
                parts.append((rows, self.value(branch, fr.take(rows))))
        if len(parts) == 2:
            (ra, va), (rb, vb) = parts
            ua, ub = getattr(va, "unit", 0), getattr(vb, "unit", 0)
            if ua != 0 and ub != 0 and not same_unit(ua, ub):  # type: ignore[arg-type]
                split_rows(fr, ra, rb)
        return merge(parts, fr.n)

    def _Compare(self, node: ast.Compare, fr: Frame) -> np.ndarray:
        vals = [self.value(o, fr) for o in node.operands]
        out = np.ones(fr.n, bool)
        for (a, b), op, o in zip(zip(vals, vals[1:]), node.ops, node.operands[1:], strict=True):
            out &= self._compare(a, b, op, o.span)
        return out

    def _compare(self, a: Any, b: Any, op: str, span: Span) -> np.ndarray:
        if isinstance(a, VElem) and isinstance(b, VElem) and a.set is b.set:
            x, y = a.pos.astype(float), b.pos.astype(float)
        elif is_label(a) or is_label(b):
            if op not in ("==", "!="):
                raise NotVectorisable("labels ordered")
            la, lb = self._labels_of(a), self._labels_of(b)
            eq = np.array([p == q for p, q in zip(la, lb, strict=True)], bool) \
                if isinstance(la, np.ndarray) and isinstance(lb, np.ndarray) else \
                np.asarray(la == lb, bool)
            return eq if op == "==" else ~eq
        else:
            na, nb = self._numeric(a), self._numeric(b)
            check_ambiguous(na, nb, span)
            _, fa, fb = U.reconcile(na.unit, nb.unit, span, "cannot compare")
            x, y = na.value * fa, nb.value * fb
        if op == "<":
            return x < y
        if op == "<=":
            return x <= y + 1e-12
        if op == ">":
            return x > y
        if op == ">=":
            return x >= y - 1e-12
        if op == "==":
            return np.abs(x - y) <= 1e-12 * np.maximum(1.0, np.abs(x))
        return x != y

    def _numeric(self, v: Any) -> VNum:
        if isinstance(v, VElem):
            if v.set.elements and all(isinstance(e, int) for e in v.set.elements):
                return VNum(self._label_array(v.set)[v.pos].astype(float), None)
            raise NotVectorisable("a label used as a number")
        if isinstance(v, np.ndarray) and v.dtype == bool:
            return VNum(v.astype(float), None)
        if isinstance(v, VNum | VAff):
            return as_num(v)
        raise NotVectorisable("not a number")

    def _labels_of(self, v: Any) -> Any:
        if isinstance(v, VElem):
            return self._label_array(v.set)[v.pos]
        if isinstance(v, str):
            return v
        raise NotVectorisable("a label compared with a number")

    def _Sum(self, node: ast.Sum, fr: Frame) -> Num:
        got = self._sum_domains(node, fr)
        if got is None:
            return self._rowwise(node, fr)  # type: ignore[no-any-return]
        doms = [d for d, _, _ in got]
        inner, pos = self._expand(fr, node.iterators, doms)
        per = math.prod(len(d.elements) for d in doms)
        parent = np.repeat(np.arange(fr.n, dtype=np.int64), per)
        ends = [(i, lo, hi) for i, (_, lo, hi) in enumerate(got) if hi is not None]
        if ends:  # each row's own range: the common one cut at the row's upper end
            keep = np.ones(inner.n, bool)
            for i, lo, hi in ends:
                keep &= lo + pos[i] <= hi[parent]
            idx = np.flatnonzero(keep)
            inner, parent = inner.take(idx), parent[idx]
        if node.where is not None:
            mask = self.cond(node.where, inner)
            idx = np.flatnonzero(mask)
            inner, parent = inner.take(idx), parent[idx]
        self._count(inner.n)
        counts = np.bincount(parent, minlength=fr.n)
        if inner.n == 0:
            return VNum(np.zeros(fr.n), None)
        v = self.num(node.body, inner)
        empty = counts == 0
        if empty.any() and v.unit is not None:
            split_rows(fr, np.flatnonzero(empty), np.flatnonzero(~empty))
        if isinstance(v, VNum):
            out = VNum(np.bincount(parent, weights=v.value, minlength=fr.n), v.unit)
            finite(out.value)
            return out
        out_a = VAff(np.bincount(parent, weights=v.const, minlength=fr.n), v.unit,
                     parent[v.lr], v.lc, v.lv, parent[v.qr], v.qi, v.qj, v.qv)
        finite(out_a.const)
        return out_a

    def _sum_domains(self, node: ast.Sum, fr: Frame
                     ) -> list[tuple[SetValue, int, np.ndarray | None]] | None:
        """Each iterator's set, with (for a range whose upper end differs by row) its lower end
        and each row's upper end; None: evaluate the sum row by row."""
        own = fr.inst.names if fr.inst is not None else frozenset()
        names = set(fr.bind) | set(fr.env.bind)  # and each iterator's, once past it
        out: list[tuple[SetValue, int, np.ndarray | None]] = []
        for it in node.iterators:
            free = free_names(it.domain)
            if not free & (names | own):
                out.append((self.ev.domain(it.domain, fr.env), 0, None))
            else:
                # a range whose end differs by row (an index of the frame, an instance's name)
                fixed = names - set(fr.bind)  # bound outside the frame, or by this sum
                ranged = None if free & fixed else self._row_range(it, node, fr, names | own)
                if ranged is None:
                    self._shared(it.domain, fr)  # over several instances: theirs, not here
                    return None
                out.append(ranged)
            if it.var:
                names.add(it.var)
        return out

    def _row_range(self, it: ast.Iterator, node: ast.Sum, fr: Frame, varying: set[str]
                   ) -> tuple[SetValue, int, np.ndarray] | None:
        """``k in a .. b`` where ``b`` differs by row (an index, an instance's parameter) and
        ``a`` does not: the range ``a .. max b`` and each row's ``b``. Each row's elements are
        the ones of its own range, at the same positions (the ranges start together), so
        ``ord(k)``, ``k`` as a number and ``x[k]`` are the same; ``prev(k)``/``next(k)`` could
        step past a row's own end, so a sum using them is not done this way."""
        dom = it.domain
        if not isinstance(dom, ast.RangeExpr) or not it.var or free_names(dom.low) & varying or \
                shifts(node, it.var):
            return None
        lo = self.ev.range_bound(dom.low, fr.env)
        hi = self.scalar(dom.high, fr)
        if hi.value.size and not np.all(np.mod(hi.value, 1.0) == 0.0):
            raise NotVectorisable("a range bound that is not an integer")
        his = hi.value.astype(np.int64)
        top = max(int(his.max()) if his.size else lo - 1, lo - 1)
        return self.ev.range_set(lo, top, dom.span), lo, his

    # calls
    def _Call(self, node: ast.Call, fr: Frame) -> Any:
        if node.kwargs or node.name in _RISK_CALLS:
            raise NotVectorisable(f"{node.name}(…)")
        if node.name in ARRAY_FUNCTIONS:  # abs, floor, … sqrt, exp, log: numpy's, as evaluate
            return self._unary(node, fr, *ARRAY_FUNCTIONS[node.name])
        fn = getattr(self, "_fn_" + node.name, None)
        if fn is None:
            return self._rowwise(node, fr)
        return fn(node, fr)

    def _set_arg(self, node: ast.Call, fr: Frame) -> SetValue:
        if len(node.args) != 1:
            raise NotVectorisable("arguments")
        arg = node.args[0]
        if free_names(arg) & set(fr.bind):
            raise NotVectorisable("a set that depends on an index")
        self._shared(arg, fr)
        return self.ev.domain(arg, fr.env)

    def _fn_first(self, node: ast.Call, fr: Frame) -> VElem:
        s = self._set_arg(node, fr)
        if not s.elements:
            raise NotVectorisable("first of an empty set")
        return VElem(s, np.zeros(fr.n, np.int64))

    def _fn_last(self, node: ast.Call, fr: Frame) -> VElem:
        s = self._set_arg(node, fr)
        if not s.elements:
            raise NotVectorisable("last of an empty set")
        return VElem(s, np.full(fr.n, len(s.elements) - 1, np.int64))

    def _fn_card(self, node: ast.Call, fr: Frame) -> VNum:
        return VNum(np.full(fr.n, float(len(self._set_arg(node, fr).elements))), None)

    def _elem(self, node: ast.Call, fr: Frame) -> VElem:
        if not node.args:
            raise NotVectorisable("arguments")
        v = self.value(node.args[0], fr)
        if not isinstance(v, VElem):
            raise NotVectorisable("not an element")
        return v

    def _fn_ord(self, node: ast.Call, fr: Frame) -> VNum:
        if len(node.args) != 1:
            raise NotVectorisable("arguments")
        return VNum((self._elem(node, fr).pos + 1).astype(float), None)

    def _shift(self, node: ast.Call, fr: Frame, sign: int) -> VElem:
        if not 1 <= len(node.args) <= 2:
            raise NotVectorisable("arguments")
        el = self._elem(node, fr)
        k = np.ones(fr.n, np.int64)
        if len(node.args) == 2:
            s = self.scalar(node.args[1], fr)
            if not np.all(np.mod(s.value, 1.0) == 0.0):
                raise NotVectorisable("a fractional shift")
            k = s.value.astype(np.int64)
        pos = el.pos + sign * k
        if ((pos < 0) | (pos >= len(el.set.elements))).any():
            raise NotVectorisable("a shift outside the set")
        return VElem(el.set, pos)

    def _fn_prev(self, node: ast.Call, fr: Frame) -> VElem:
        return self._shift(node, fr, -1)

    def _fn_next(self, node: ast.Call, fr: Frame) -> VElem:
        return self._shift(node, fr, 1)

    def _minmax(self, node: ast.Call, fr: Frame, pick: Callable[..., np.ndarray]) -> VNum:
        if not node.args:
            raise NotVectorisable("arguments")
        vals = [self.scalar(a, fr) for a in node.args]
        unit, fs = U.common([v.unit for v in vals], node.span, f"{node.name}()")
        return VNum(pick(np.stack([v.value * f for v, f in zip(vals, fs, strict=True)]),
                         axis=0), unit)

    def _fn_min(self, node: ast.Call, fr: Frame) -> VNum:
        return self._minmax(node, fr, np.min)

    def _fn_max(self, node: ast.Call, fr: Frame) -> VNum:
        return self._minmax(node, fr, np.max)

    def _fn_pos(self, node: ast.Call, fr: Frame) -> VNum | VAff:
        """``pos(e)``: as :meth:`Positive.of` row by row (a number where ``e`` has no terms, else
        an epigraph column), with every column and row of the frame made at once."""
        if len(node.args) != 1:
            raise NotVectorisable("arguments")
        if fr.inst is not None:
            raise NotVectorisable("pos() over several instances")
        v = self.num(node.args[0], fr)
        if isinstance(v, VNum):
            return VNum(np.maximum(v.value, 0.0), v.unit)
        if v.qr.shape[0]:
            raise NotVectorisable("pos of a quadratic expression")
        has = v.has_terms()
        rows = np.flatnonzero(has)
        const = np.where(has, 0.0, np.maximum(v.const, 0.0))
        if rows.shape[0] == 0:
            return VNum(const, v.unit)
        slot = np.full(v.n, -1, np.int64)
        slot[rows] = np.arange(rows.shape[0])
        z = self.b.positive.block(v.unit, slot[v.lr], v.lc, v.lv, v.const[rows], node)
        return VAff(const, v.unit, rows, z + np.arange(rows.shape[0], dtype=np.int64),
                    np.ones(rows.shape[0]))

    def _unary(self, node: ast.Call, fr: Frame, fn: Callable[[np.ndarray], np.ndarray],
               keep_unit: bool) -> VNum:
        if len(node.args) != 1:
            raise NotVectorisable("arguments")
        v = self.scalar(node.args[0], fr)
        if not keep_unit and v.unit is not None and not v.unit.dimensionless:
            raise NotVectorisable("a function of a quantity with a dimension")
        with np.errstate(all="ignore"):
            out = fn(v.value)
        finite(out)
        return VNum(out.astype(float), v.unit if keep_unit else None)


def _why(exc: BaseException) -> str:
    if isinstance(exc, QglError):
        return f"error: {exc.message}"
    if isinstance(exc, _INTERNAL):
        return f"internal error: {type(exc).__name__}: {exc}"
    return str(exc) or type(exc).__name__
