"""Bounded integer registers spelled in bits: the encodings of the QUBO lowering.

A *register* is an integer ``k`` in ``0 .. kmax`` written with a run of bits; it stands for the
value ``offset + step * k``. Model columns (binary, integer, real on a grid) and inequality
slacks are all registers, so one set of vectorised routines builds the encoding matrix, decodes
samples and encodes points for every kind of bit. Methods:

- ``binary`` (log, bounded coefficient): weights ``1, 2, 4, …, 2^(n-2)`` and a last weight
  ``kmax - (2^(n-1) - 1)``, so every bit string lies in ``0 .. kmax`` and every ``k`` is reachable.
  ``integer`` is the same method (its name in ``encode x as integer(step = …)``).
- ``unary``: ``kmax`` bits of weight 1 (``k`` = number of ones; redundant, no penalty needed).
- ``onehot``: ``kmax + 1`` bits, bit ``p`` of weight ``p`` meaning ``k == p``; structural
  penalty ``(sum b - 1)^2``.
- ``domain_wall``: ``kmax`` bits of weight 1 whose valid strings are ``1…10…0``; structural
  penalty ``sum_p b_p (1 - b_(p-1))``, which counts the ``0 -> 1`` steps (Chancellor 2019).

A register with ``kmax == 0`` (a fixed column) has no bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from qgridlang.errors import (
    ErrorCollector,
    LimitExceeded,
    UnknownName,
    UnsupportedConstruct,
    did_you_mean,
)
from qgridlang.flat import KIND_CODE, EncodeSpec, FlatModel, VarBlock
from qgridlang.limits import check_size, current

BINARY, UNARY, ONEHOT, DOMAIN_WALL = 0, 1, 2, 3
METHOD_CODE: dict[str, int] = {
    "binary": BINARY,
    "integer": BINARY,
    "unary": UNARY,
    "onehot": ONEHOT,
    "domain_wall": DOMAIN_WALL,
}
_REAL, _INTEGER = KIND_CODE["real"], KIND_CODE["integer"]
_GRID_TOL = 1e-9  # relative slack when flooring (ub - lb) / step, against float noise


@dataclass(frozen=True)
class Registers:
    """Integer registers and their bits (all arrays; bit indices are global BQM variables).

    Attributes:
        method: Encoding method code per register (``BINARY`` …).
        kmax: Largest ``k`` per register.
        step: Value of one unit of ``k`` per register.
        offset: Value at ``k == 0`` per register.
        start: Global index of each register's first bit.
        nbits: Number of bits per register.
        bit_reg: For each bit, the register (local index) it belongs to.
        bit_pos: For each bit, its position inside its register.
        bit_weight: For each bit, its weight in units of ``k``.
        base: Global index of the first bit of this set of registers.
    """

    method: np.ndarray
    kmax: np.ndarray
    step: np.ndarray
    offset: np.ndarray
    start: np.ndarray
    nbits: np.ndarray
    bit_reg: np.ndarray
    bit_pos: np.ndarray
    bit_weight: np.ndarray
    base: int

    @property
    def n_bits(self) -> int:
        return int(self.bit_reg.shape[0])

    @property
    def stop(self) -> int:
        """One past the last global bit index."""
        return self.base + self.n_bits


def make_registers(method: np.ndarray, kmax: np.ndarray, step: np.ndarray, offset: np.ndarray,
                   base: int) -> Registers:
    """Lay out registers on consecutive bits starting at global index ``base``."""
    method = np.asarray(method, dtype=np.int8)
    kmax = np.asarray(kmax, dtype=np.int64)
    nbits = _bit_count(method, kmax)
    start = base + np.concatenate(([0], np.cumsum(nbits)[:-1])).astype(np.int64)
    bit_reg = np.repeat(np.arange(len(kmax)), nbits)
    bit_pos = np.arange(int(nbits.sum()), dtype=np.int64) - (start[bit_reg] - base)
    weight = _bit_weights(method[bit_reg], kmax[bit_reg], nbits[bit_reg], bit_pos)
    return Registers(method, kmax, np.asarray(step, dtype=float), np.asarray(offset, dtype=float),
                     start, nbits, bit_reg, bit_pos, weight, base)


def _bit_count(method: np.ndarray, kmax: np.ndarray) -> np.ndarray:
    # frexp gives the exponent e with kmax = m * 2**e, m in [0.5, 1): e is kmax's bit length.
    log_bits = np.frexp(kmax.astype(float))[1].astype(np.int64)
    count = np.where(method == BINARY, log_bits, kmax + (method == ONEHOT))
    return np.where(kmax > 0, count, 0).astype(np.int64)


def _bit_weights(method: np.ndarray, kmax: np.ndarray, nbits: np.ndarray,
                 pos: np.ndarray) -> np.ndarray:
    below_top = np.left_shift(np.int64(1), np.maximum(nbits - 1, 0)) - 1  # 2^(n-1) - 1
    log = np.where(pos == nbits - 1, kmax - below_top, np.left_shift(np.int64(1), pos))
    weight = np.select([method == BINARY, method == ONEHOT], [log, pos], default=1)
    return np.asarray(weight, dtype=float)


def value_matrix(regs: Registers, owner: np.ndarray, n_owners: int, n_bits: int) -> sp.csr_matrix:
    """Sparse ``V`` with ``value[owner] = offset-part + V @ bits`` (entries ``step * weight``)."""
    data = regs.step[regs.bit_reg] * regs.bit_weight
    rows = owner[regs.bit_reg]
    cols = regs.base + np.arange(regs.n_bits)
    return sp.csr_matrix((data, (rows, cols)), shape=(n_owners, n_bits))


def decode_k(regs: Registers, bits: np.ndarray) -> np.ndarray:
    """Register values ``k`` (``n_samples x n_registers``) of global bit samples."""
    local = bits[:, regs.base:regs.stop]
    weights = sp.csr_matrix((regs.bit_weight, (np.arange(regs.n_bits), regs.bit_reg)),
                            shape=(regs.n_bits, len(regs.kmax)))
    return np.asarray(weights.T @ local.T).T


def encode_k(regs: Registers, k: np.ndarray) -> np.ndarray:
    """Canonical bits (``n_points x regs.n_bits``) of register values ``k`` (``n_points x R``)."""
    k = np.clip(np.rint(k), 0, regs.kmax).astype(np.int64)
    kb = k[:, regs.bit_reg]
    reg, pos = regs.bit_reg, regs.bit_pos
    nbits = regs.nbits[reg]
    last = pos == nbits - 1
    top_weight = regs.bit_weight[regs.start[reg] - regs.base + nbits - 1].astype(np.int64)
    top = kb > np.left_shift(np.int64(1), nbits - 1) - 1
    rest = kb - np.where(top, top_weight, 0)
    log = np.where(last, top, np.right_shift(rest, pos) & 1)
    method = regs.method[reg]
    bits = np.select([method == BINARY, method == ONEHOT], [log, pos == kb], default=pos < kb)
    return np.asarray(bits, dtype=np.int8)


def onehot_rows(regs: Registers, n_bits: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows ``g`` and constants ``d`` of the one-hot penalties ``(g @ b + d)^2``, one per register.

    Returns:
        The sparse row matrix (one row per one-hot register with bits) and the register ids.
    """
    ids = np.flatnonzero((regs.method == ONEHOT) & (regs.nbits > 0))
    row_of = np.full(len(regs.kmax), -1)
    row_of[ids] = np.arange(len(ids))
    on = row_of[regs.bit_reg] >= 0
    cols = regs.base + np.flatnonzero(on)
    g = sp.csr_matrix((np.ones(len(cols)), (row_of[regs.bit_reg[on]], cols)),
                      shape=(len(ids), n_bits))
    return g, ids


def domain_wall_bits(regs: Registers) -> tuple[np.ndarray, np.ndarray]:
    """Bits ``p >= 1`` of domain-wall registers: each carries the chain term ``b_p - b_(p-1) b_p``.

    Returns:
        The global index of each such bit (its predecessor is the index minus one) and the
        register it belongs to.
    """
    inner = np.flatnonzero((regs.method[regs.bit_reg] == DOMAIN_WALL) & (regs.bit_pos > 0))
    return regs.base + inner, regs.bit_reg[inner]


@dataclass(frozen=True)
class ColumnPlan:
    """How every model column is encoded (one register per column, on bits ``0 .. n_bits``).

    Attributes:
        registers: One register per column.
        matrix: ``M`` with ``x = offset + M @ bits`` (``n_columns x n_bits`` of the BQM).
        grid_lo: Smallest encodable value of each column (on the grid).
        grid_hi: Largest encodable value of each column (on the grid).
        reach_lo: Smallest value any bit string decodes to (below grid_lo only for one-hot).
        reach_hi: Largest value any bit string decodes to.
        discretisation: Per encoded block with a coarser grid than its kind: the largest distance
            from a point of ``[lb, ub]`` to the grid, in the variable's unit, and the unit.
    """

    registers: Registers
    matrix: sp.csr_matrix
    grid_lo: np.ndarray
    grid_hi: np.ndarray
    reach_lo: np.ndarray
    reach_hi: np.ndarray
    discretisation: dict[str, tuple[float, str]]


def plan_columns(flat: FlatModel) -> ColumnPlan:
    """Choose a register for every column from its kind, bounds and the model's encodings.

    Raises:
        QglError: The one column or ``encode`` entry that cannot be lowered (real without a step,
            infinite bounds, empty integer domain, bad ``encode`` entries), with its span and
            the fix; ``QglErrors`` with all of them when there are several.
    """
    errors = ErrorCollector()
    specs = _specs_by_block(flat, errors)
    method = np.zeros(flat.n, dtype=np.int8)
    step = np.ones(flat.n)
    for blk in flat.blocks:
        spec = specs.get(blk.name)
        if blk.kind != "binary" and spec is not None:
            method[blk.start:blk.stop] = METHOD_CODE[spec.method]
            step[blk.start:blk.stop] = spec.step if spec.step is not None else 1.0
        _check_block(flat, blk, spec, errors)
    if len(errors.errors) == 1:
        raise errors.errors[0]
    errors.raise_if_any()
    integral = flat.kind != _REAL
    lb = np.where(integral, np.ceil(flat.lb - _GRID_TOL), flat.lb)
    ub = np.where(integral, np.floor(flat.ub + _GRID_TOL), flat.ub)
    kmax_f = np.floor((ub - lb) / step + _GRID_TOL)
    _check_encoding_size(flat, specs, method, kmax_f)
    kmax = kmax_f.astype(np.int64)
    regs = make_registers(method, kmax, step, lb, base=0)
    matrix = value_matrix(regs, np.arange(flat.n), flat.n, regs.n_bits)
    reach_lo = lb + np.asarray(matrix.minimum(0).sum(axis=1)).ravel()
    reach_hi = lb + np.asarray(matrix.maximum(0).sum(axis=1)).ravel()
    return ColumnPlan(regs, matrix, lb, lb + step * kmax, reach_lo, reach_hi,
                      _discretisation(flat, lb, ub, step, kmax))


def _check_encoding_size(flat: FlatModel, specs: dict[str, EncodeSpec], method: np.ndarray,
                         kmax: np.ndarray) -> None:
    """Refuse encodings with more bits than the size limit before laying them out.

    ``encode s as unary`` on ``0 .. 1e9`` is a billion bits per column; a grid of more than
    2^62 points does not fit the int64 register arithmetic at all.
    """
    bits = np.where(method == BINARY, np.ceil(np.log2(np.maximum(kmax, 1.0) + 1.0)),
                    kmax + (method == ONEHOT))
    bits = np.where(kmax > 0, bits, 0.0)
    limit = current().max_size
    if float(bits.sum()) <= limit and not (kmax >= 2.0**62).any():
        return
    blk = max(flat.blocks, key=lambda b: float(bits[b.start:b.stop].sum()) if b.stop > b.start
              else 0.0)
    spec = specs.get(blk.name)
    n = float(bits[blk.start:blk.stop].sum())
    how = f"as {spec.method}" if spec is not None else "in binary"
    if (kmax[blk.start:blk.stop] >= 2.0**62).any():
        raise LimitExceeded(f"variable '{blk.name}' encoded {how} has a grid of more than 2^62 "
                            "points", spec.span if spec is not None else blk.span,
                            "use a coarser step or tighter bounds")
    where = spec.span if spec is not None else blk.span
    check_size(n, f"the QUBO encoding of '{blk.name}' ({how})", "bits", where)
    check_size(float(bits.sum()), f"the model's QUBO encoding (the most in '{blk.name}', {how})",
               "bits", where)


def _specs_by_block(flat: FlatModel, errors: ErrorCollector) -> dict[str, EncodeSpec]:
    names = [b.name for b in flat.blocks]
    specs: dict[str, EncodeSpec] = {}
    for spec in flat.quantum.encodings:
        if spec.var not in names:
            errors.add(UnknownName(f"'encode {spec.var}': the model has no variable '{spec.var}'",
                                   spec.span, did_you_mean(spec.var, names)))
        elif spec.method not in METHOD_CODE:
            hint = did_you_mean(spec.method, METHOD_CODE) or (
                "use binary, unary, onehot, domain_wall or integer(step = …)")
            errors.add(UnsupportedConstruct(
                f"unknown encoding '{spec.method}' for variable '{spec.var}'", spec.span, hint))
        elif spec.var in specs:
            errors.add(UnsupportedConstruct(
                f"variable '{spec.var}' is encoded twice (first at {specs[spec.var].span})",
                spec.span, "keep one `encode` line per variable"))
        else:
            specs[spec.var] = spec
    return specs


def _check_block(flat: FlatModel, blk: VarBlock, spec: EncodeSpec | None,
                 errors: ErrorCollector) -> None:
    lb, ub = flat.lb[blk.start:blk.stop], flat.ub[blk.start:blk.stop]
    unit = f" {blk.unit}" if blk.unit else ""
    if not (np.isfinite(lb).all() and np.isfinite(ub).all()):
        errors.add(UnsupportedConstruct(
            f"variable '{blk.name}' has an infinite bound (lb = {lb.min()}, ub = {ub.max()}); "
            f"a QUBO encodes only bounded variables: declare `var {blk.name} … in LO .. HI`",
            blk.span))
    if blk.kind == "real" and (spec is None or spec.step is None):
        errors.add(UnsupportedConstruct(
            f"real variable '{blk.name}' needs a grid for the QUBO target: add "
            f"`encode {blk.name} as integer(step = …{unit})` to the model's quantum block",
            blk.span))
    if spec is not None and spec.step is not None:
        _check_step(blk, spec, errors)
    if blk.kind == "integer" and (np.floor(ub + _GRID_TOL) < np.ceil(lb - _GRID_TOL)).any():
        errors.add(UnsupportedConstruct(
            f"integer variable '{blk.name}' has bounds that hold no integer", blk.span))


def _check_step(blk: VarBlock, spec: EncodeSpec, errors: ErrorCollector) -> None:
    step = float(spec.step) if spec.step is not None else float("nan")
    if not (np.isfinite(step) and step > 0):
        errors.add(UnsupportedConstruct(
            f"the encoding step of '{blk.name}' must be a positive number, got {step:g}",
            spec.span))
    elif blk.kind == "integer" and abs(step - round(step)) > _GRID_TOL * step:
        errors.add(UnsupportedConstruct(
            f"integer variable '{blk.name}' needs a whole-number step, got {step:g}", spec.span,
            "use a whole step, or declare the variable real"))


def _discretisation(flat: FlatModel, lb: np.ndarray, ub: np.ndarray, step: np.ndarray,
                    kmax: np.ndarray) -> dict[str, tuple[float, str]]:
    """Largest distance from a point of ``[lb, ub]`` to the grid ``lb + step * (0..kmax)``.

    Inside the grid a point is at most half a step from a grid point (for integer variables,
    ``floor(step / 2)`` since only integers count); above the last grid point ``lb + kmax*step``
    the tail ``ub - lb - kmax*step`` (< step) is uncovered, and its far end is that far away.
    """
    half = np.where(flat.kind == _INTEGER, np.floor(step / 2), step / 2)
    error = np.maximum(np.where(kmax > 0, half, 0.0), (ub - lb) - kmax * step)
    coarse = (flat.kind == _REAL) | (step > 1)
    return {b.name: (float(error[b.start:b.stop].max(initial=0.0)), b.unit)
            for b in flat.blocks if coarse[b.start:b.stop].any()}
