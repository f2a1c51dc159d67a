"""A community model's response to a price vector: its MILP solved for that price.

Two exact ways to solve one price vector:

- ``recheck``: the price parameter's declaration is rewritten with the vector
  (:mod:`qgridlang.datasets.substitute`) and the whole model text is checked and solved. Always
  right; it pays the parse and check for every vector.
- ``update``: the model is checked once at a base price, and the price's effect on the flat
  model is identified: the model is checked again with each period's price raised by one unit
  (T + 1 checks in all), which gives the objective's coefficients and constant as an affine
  function of the price, ``c(p) = c0 + G (p - p0)``, ``k(p) = k0 + g . (p - p0)``. Every other
  array of the flat model (the constraint matrix, row and column bounds, integrality, the
  quadratic objective, the output expression's rows) must come out identical in every one of
  those checks, and two further checks at random price vectors must match the affine
  prediction; otherwise ``update`` is refused and ``recheck`` is used. A vector is then solved
  by changing the objective only.

The first is the definition; the second is what makes 10,240 samples cheap
(tests/test_datasets.py checks that both give the same objectives and profiles).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang import ast
from qgridlang.datasets.substitute import Values, _line_starts, _offset, substitute
from qgridlang.errors import UsageError

AFFINE_RTOL = 1e-9  # the affine prediction against a full check, relative to the coefficients


@dataclass
class SolveSettings:
    """How each MILP is solved (HiGHS, one thread per worker)."""

    mip_gap: float | None = None  # None: HiGHS's default (1e-4)
    time_limit: float | None = None
    threads: int = 1

    def options(self) -> Any:
        from qgridlang.registry import Options

        return Options(mip_gap=self.mip_gap, time_limit=self.time_limit, threads=self.threads)


@dataclass
class ResponseModel:
    """A checked community model ready to answer price vectors (picklable: it travels to the
    dask workers once)."""

    file: str
    text: str
    price_param: str
    price_keys: list[tuple[int | str, ...]]
    price_unit: str
    output: str
    output_rows: np.ndarray
    output_keys: list[tuple[int | str, ...]]
    output_unit: str
    objective_unit: str
    method: str  # "update" or "recheck"
    why_recheck: str = ""
    base_price: np.ndarray = field(default_factory=lambda: np.zeros(0))
    checked: Any = None  # CheckedModel at base_price
    G: np.ndarray | None = None
    g: np.ndarray | None = None
    allow_read: tuple[str, ...] = ()
    prepare_seconds: float = 0.0
    checks: int = 0

    @property
    def periods(self) -> int:
        return len(self.price_keys)

    def fingerprint(self) -> str:
        """A digest of everything a solution depends on: the flat model at the base price,
        the affine price map, the output rows and the method."""
        import hashlib

        h = hashlib.blake2b(digest_size=16)
        flat = self.checked.flat
        for arr in (flat.A.data, flat.A.indices, flat.A.indptr, flat.row_lo, flat.row_hi,
                    flat.lb, flat.ub, flat.kind, flat.c, *flat.Q, self.output_rows,
                    self.base_price, self.G if self.G is not None else np.zeros(0),
                    self.g if self.g is not None else np.zeros(0)):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(repr((flat.obj_const, flat.sense, self.method, self.price_unit,
                       self.output_unit, self.price_keys)).encode())
        if self.method == "recheck":
            h.update(self.text.encode())
        return h.hexdigest()

    def solve(self, price: np.ndarray, settings: SolveSettings) -> dict[str, Any]:
        """Solve for one price vector: status, objective, the output profile, seconds."""
        t0 = time.perf_counter()
        price = np.asarray(price, dtype=float)
        if price.shape != (self.periods,):
            raise UsageError(f"a price vector of {self.periods} periods expected, got "
                             f"{price.shape}")
        from qgridlang.dispatcher import solve_model

        if self.method == "update":
            assert self.G is not None and self.g is not None
            d = price - self.base_price
            flat = self.checked.flat
            new_flat = dataclasses.replace(flat, c=flat.c + self.G @ d,
                                           obj_const=float(flat.obj_const + self.g @ d))
            checked = dataclasses.replace(self.checked, flat=new_flat)
        else:
            checked = self.check(price)
        sol = solve_model(checked, "highs", settings.options())
        out = np.full(len(self.output_rows), np.nan)
        if sol.x is not None:
            out = checked.flat.expr_values(sol.x)[self.output_rows]
            for k, row in enumerate(self.output_rows):  # in the unit results are shown in
                out[k] *= checked.flat.exprs[row].report_scale
        return {"status": sol.status.value, "objective": (np.nan if sol.objective is None
                                                          else float(sol.objective)),
                "response": out, "seconds": time.perf_counter() - t0,
                "feasible": bool(sol.x is not None and sol.feasible)}

    def check(self, price: np.ndarray) -> Any:
        """The model checked with ``price`` written into it (the ``recheck`` path)."""
        return check_with(self.file, self.text, {self.price_param: Values(
            self.price_keys, np.asarray(price, dtype=float))}, self.allow_read)


def check_with(file: str, text: str, new: dict[str, Values], allow_read: tuple[str, ...] = ()
               ) -> Any:
    """Check ``text`` (the model of ``file``) with indexed parameters replaced."""
    from qgridlang.checker import check_text
    from qgridlang.limits import make

    return check_text(substitute(text, file, new), file,
                      limits=make(None, list(allow_read) or None, None))


def prepare(file: str | Path, price_param: str = "price", output: str | None = None,
            base_level: float | None = None, method: str = "auto",
            allow_read: tuple[str, ...] = (), probe: float = 1.0,
            verify: list[np.ndarray] | None = None) -> ResponseModel:
    """Check ``file`` once and make it ready to solve price vectors.

    ``output`` names the response expression (default: the one expression named ``exchange``,
    e.g. ``ec.exchange``); ``base_level`` is the flat base price (default: the mean of the
    model's own prices); ``method`` is ``auto`` (``update`` where it is verified, else
    ``recheck``), ``update`` (refuse the model if it cannot) or ``recheck``. ``verify`` are the
    price vectors at which the affine map is checked against full checks (default: two random
    vectors around the base).
    """
    t0 = time.perf_counter()
    if method not in ("auto", "update", "recheck"):
        raise UsageError(f"unknown method '{method}'", hint="auto, update or recheck")
    path = str(file)
    own, text, values = check_reading(path, price_param, allow_read)
    param = next((p for p in own.ir.params if p.name == price_param), None)
    if param is None or values is None:
        raise UsageError(f"{path} has no parameter '{price_param}' declared at its top level",
                         hint="name the price parameter with --price-param")
    if len(param.index) != 1:
        raise UsageError(f"the price parameter '{price_param}' must have one index (the time "
                         f"set), it has {len(param.index)}")
    keys = set_elements(own, param.index[0])
    own_price = np.array([values[k] for k in keys])
    level = float(np.mean(own_price)) if base_level is None else float(base_level)
    base = np.full(len(keys), level)
    checks = 1
    checked = check_with(path, text, {price_param: Values(keys, base)}, allow_read)
    checks += 1
    name, rows = output_expression(checked, output)
    flat = checked.flat
    model = ResponseModel(
        file=path, text=text, price_param=price_param, price_keys=keys,
        price_unit=param.unit, output=name, output_rows=rows,
        output_keys=[flat.exprs[r].key for r in rows],
        output_unit=flat.exprs[rows[0]].shown_unit, objective_unit=flat.obj_unit,
        method="recheck", base_price=base, checked=checked, allow_read=tuple(allow_read))
    if method != "recheck":
        why, checks_used = _identify(model, probe, verify)
        checks += checks_used
        if why:
            if method == "update":
                raise UsageError(f"the price of {path} changes more than the objective: {why}",
                                 hint="use --method recheck")
            model.why_recheck = why
        else:
            model.method = "update"
    model.checks = checks
    model.prepare_seconds = time.perf_counter() - t0
    return model


def _identify(model: ResponseModel, probe: float, verify: list[np.ndarray] | None
              ) -> tuple[str, int]:
    """Fill ``model.G`` and ``model.g`` from one check per period; return why the affine
    update is not exact ("" when it is) and the number of checks made."""
    base = model.checked.flat
    n, periods = base.n, model.periods
    G = np.zeros((n, periods))
    g = np.zeros(periods)
    checks = 0
    for t in range(periods):
        price = model.base_price.copy()
        price[t] += probe
        other = model.check(price)
        checks += 1
        why = _same_structure(base, other.flat, model.output_rows)
        if why:
            return f"raising {model.price_param}{list(model.price_keys[t])} changes {why}", checks
        G[:, t] = (other.flat.c - base.c) / probe
        g[t] = (other.flat.obj_const - base.obj_const) / probe
    model.G, model.g = G, g
    rng = np.random.default_rng(12345)
    level = float(np.mean(model.base_price))
    tests = verify if verify is not None else [
        model.base_price + 0.3 * max(1.0, abs(level)) * rng.standard_normal(periods)
        for _ in range(2)]
    for price in tests:
        other = model.check(price)
        checks += 1
        why = _same_structure(base, other.flat, model.output_rows)
        if why:
            return f"a random price vector changes {why}", checks
        d = price - model.base_price
        c = base.c + G @ d
        k = base.obj_const + g @ d
        scale = max(1.0, float(np.max(np.abs(other.flat.c))), abs(other.flat.obj_const))
        if (np.max(np.abs(c - other.flat.c), initial=0.0) > AFFINE_RTOL * scale
                or abs(k - other.flat.obj_const) > AFFINE_RTOL * scale):
            return "the objective, and not affinely, at a random price vector", checks
    return "", checks


def _same_structure(a: Any, b: Any, rows: np.ndarray) -> str:
    """What differs between two flat models apart from the linear objective and its
    constant ("" when nothing does)."""
    if a.n != b.n or a.m != b.m:
        return "the number of columns or rows"
    pairs = {"the constraint matrix": ((a.A.data, a.A.indices, a.A.indptr),
                                       (b.A.data, b.A.indices, b.A.indptr)),
             "the row bounds": ((a.row_lo, a.row_hi), (b.row_lo, b.row_hi)),
             "the column bounds": ((a.lb, a.ub), (b.lb, b.ub)),
             "the integrality": ((a.kind,), (b.kind,)),
             "the quadratic objective": (a.Q, b.Q)}
    for what, (xs, ys) in pairs.items():
        if len(xs) != len(ys) or any(x.shape != y.shape or not np.array_equal(x, y)
                                     for x, y in zip(xs, ys, strict=True)):
            return what
    if a.sense != b.sense:
        return "the objective's sense"
    ea, eb = a.E[rows], b.E[rows]
    if (ea != eb).nnz or not np.array_equal(a.e_const[rows], b.e_const[rows]):
        return "the output expression"
    if a.e_quad is not None and len(a.e_quad[0]) and np.isin(a.e_quad[0], rows).any():
        return "the output expression (it is quadratic)"
    return ""


def set_elements(checked: Any, name: str) -> list[tuple[int | str, ...]]:
    """The elements of set ``name``, in order, as 1-tuples: from a variable or expression
    indexed by it alone, else from an integer range."""
    for b in checked.flat.blocks:
        if b.index == (name,):
            return [tuple(k) for k in b.keys]
    keys = [e.key for e in checked.flat.exprs if e.index == (name,)]
    if keys:
        seen: dict[tuple[int | str, ...], None] = {}
        for k in keys:
            seen.setdefault(tuple(k), None)
        return list(seen)
    for s in checked.ir.sets:
        if s.name == name and isinstance(s.first, int) and isinstance(s.last, int) \
                and s.last - s.first + 1 == s.size:
            return [(k,) for k in range(s.first, s.last + 1)]
    raise UsageError(f"cannot list the elements of set '{name}': index a variable or an "
                     "expression by it alone")


def output_expression(checked: Any, output: str | None) -> tuple[str, np.ndarray]:
    """The response expression's name and its element rows in ``flat.exprs``."""
    exprs = checked.flat.exprs
    names = list(dict.fromkeys(e.name for e in exprs))
    if output is None:
        candidates = [n for n in names if n.rsplit(".", 1)[-1] == "exchange"]
        if len(candidates) != 1:
            raise UsageError("say which expression is the response with --output-expr "
                             f"({'several' if candidates else 'no'} expression named "
                             f"'exchange': {', '.join(candidates) or 'none'})",
                             hint=f"expressions: {', '.join(names[:12])}")
        output = candidates[0]
    rows = np.array([k for k, e in enumerate(exprs) if e.name == output], dtype=np.int64)
    if rows.size == 0:
        from qgridlang.errors import did_you_mean

        raise UsageError(f"the model has no expression '{output}'",
                         hint=did_you_mean(output, names) or None)
    return output, rows


PROBE = "__qgl_price_probe"


def check_reading(file: str, name: str, allow_read: tuple[str, ...] = ()
                  ) -> tuple[Any, str, dict[tuple[int | str, ...], float] | None]:
    """Check the model of ``file`` once and read the values of its indexed parameter ``name``
    on the way (the flat model keeps no parameters: an expression ``__qgl_price_probe`` that
    equals the parameter is appended to the text, after every declaration, so the rows of the
    model's own expressions are unchanged). Returns the checked model, its text and the values
    by key (None when ``name`` is no top-level indexed parameter)."""
    from qgridlang.checker import check_file, check_text, read_source
    from qgridlang.limits import make
    from qgridlang.parser import parse

    limits = make(None, list(allow_read) or None, None)
    text = read_source(file)
    head = None
    for st in parse(text, file).statements:
        if isinstance(st, ast.ParamDecl):
            head = next((h for h in st.heads if h.name == name), head)
    if head is None or head.index is None:
        return check_file(file, limits=limits), text, None
    starts = _line_starts(text)
    binders, names = [], []
    for j, item in enumerate(head.index.items):
        sp = item.domain.span
        domain = text[_offset(starts, sp.line, sp.column):_offset(starts, sp.end_line,
                                                                  sp.end_column)]
        binders.append(f"k{j} in {domain}")
        names.append(f"k{j}")
    probe = f"\nexpr {PROBE}[{', '.join(binders)}] = {name}[{', '.join(names)}]\n"
    checked = check_text(text + probe, file, limits=limits)
    const = checked.flat.e_const
    assert const is not None  # the model has the probe expression
    values = {tuple(e.key): float(const[k]) for k, e in enumerate(checked.flat.exprs)
              if e.name == PROBE}
    return checked, text, values
