"""QUBO lowering of a :class:`~qgridlang.flat.FlatModel`.

``apply(flat) -> (bqm, inverse)`` builds a ``dimod.BinaryQuadraticModel`` over the integer
variables ``0 .. N-1``; ``invert(samples, inverse)`` turns bit samples back into model columns.

Construction (all sparse matrix products, no per-term Python objects):

1. Every column becomes a register of bits (:mod:`.qubo_encodings`): ``x = o + M b``.
2. The objective (minimisation form: negated when the model maximises) becomes
   ``c'(o + Mb) + (o + Mb)' Q (o + Mb)``: linear ``M'c + M'(Q + Q')o``, quadratic ``M'QM``.
3. Each kept row becomes a weighted squared residual (:mod:`.qubo_penalties`), with slack bits
   for inequalities, or the unbalanced penalty ``P (-l1 h + l2 h^2)`` when asked for.
4. One-hot and domain-wall registers add their structural penalties.

Energy equals the model objective (negated for ``max``) on every feasible point encoded with
zero-penalty slacks, constant term included (rows whose coefficients share no lattice carry a
bounded residual instead; the report says how much).

Penalty weight ``auto`` (``quantum { penalty = auto }``): let ``F_hi`` bound the minimisation
objective from above over encodable points and ``F_lo`` bound it from below over *all* bit
strings (interval arithmetic on the column bounds, products bounded from their factors). Let
``mu_r`` be the smallest penalty, before weighting, that an assignment violating row ``r`` can
cost: ``delta_r^2`` for a row whose bit coefficients lie on the lattice ``delta_r Z`` (its
residual then lies on that lattice too, and is nonzero), 1 for one-hot and domain-wall chains.
With ``P_r = (1 + margin) (F_hi - F_lo) / mu_r`` every assignment violating any row has energy
``>= F_lo + P_r mu_r > F_hi >= `` the energy of the best feasible point (all penalties are
nonnegative and vanish on that point). Off-lattice rows use their resolution ``sigma_r`` in place
of ``delta_r``, which covers violations of at least ``sigma_r`` only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import dimod
import numpy as np
import scipy.sparse as sp

from qgridlang.errors import UnknownName, UsageError, did_you_mean
from qgridlang.flat import FlatModel, key_text
from qgridlang.limits import check_size

from . import qubo_penalties as pen
from .qubo_encodings import (
    BINARY,
    ColumnPlan,
    Registers,
    decode_k,
    domain_wall_bits,
    encode_k,
    make_registers,
    onehot_rows,
    plan_columns,
    value_matrix,
)

__all__ = [
    "PenaltyInfo",
    "QuboInverse",
    "QuboOptions",
    "QuboReport",
    "apply",
    "encode_point",
    "invert",
    "report",
    "retune",
    "slack_values",
    "to_coo_text",
    "to_lp_text",
]

Triples = tuple[np.ndarray, np.ndarray, np.ndarray]
_DROP_RTOL = 1e-12  # biases below this fraction of the largest are float noise from cancellation


@dataclass(frozen=True)
class QuboOptions:
    """Knobs of the QUBO lowering.

    Attributes:
        inequality: ``"slack"`` (exact, extra bits) or ``"unbalanced"`` (no slack bits for
            one-sided rows; Montañez-Barrera et al. 2023; ranged rows still get a slack).
        unbalanced: ``(l1, l2)`` of ``-l1 h + l2 h^2``; the default is the paper's knapsack pair.
        margin: Auto weights are ``(1 + margin)`` times their bound (strictly above it).
        max_slack_bits: A row whose lattice would need more slack bits counts as off-lattice.
        nongrid_bits: Off-lattice rows resolve their range into ``2^nongrid_bits - 1`` steps.
        max_denominator: Largest denominator tried when reading coefficients as fractions.
        penalties: Per-constraint weights by name, applied over the model's own (``retune``).
    """

    inequality: Literal["slack", "unbalanced"] = "slack"
    unbalanced: tuple[float, float] = (0.96, 0.0371)
    margin: float = 0.1
    max_slack_bits: int = 16
    nongrid_bits: int = 8
    max_denominator: int = 10**6
    penalties: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class PenaltyInfo:
    """The penalty of one constraint name (all its rows).

    Attributes:
        rows: Number of penalised rows of this name.
        kinds: How they were penalised (``equality``, ``inequality (slack)``, ``onehot`` …).
        weight: Largest weight among the rows.
        source: ``auto``, ``global`` (a number in the quantum block), ``override`` (per name),
            or ``unbalanced default`` (weight 1: the paper's ``l1, l2`` used as they are).
        bound: Weight above which the feasibility guarantee holds (NaN where none exists).
        min_violation: Smallest unweighted penalty a violation costs (``mu``).
        residual: Largest unweighted penalty a feasible point can carry (0 when exact).
        guaranteed: Whether every row's weight exceeds its bound on an exact lattice.
    """

    rows: int
    kinds: tuple[str, ...]
    weight: float
    source: str
    bound: float
    min_violation: float
    residual: float
    guaranteed: bool


@dataclass(frozen=True)
class QuboReport:
    """What the lowering produced and why (``to_dict`` for JSON).

    Attributes:
        n_bits: BQM variables in all.
        decision_bits: Bits of binary variables, per variable block.
        encoding_bits: Bits of integer and real variables, per variable block.
        slack_bits: Slack bits per constraint name.
        n_linear: Nonzero linear biases.
        n_quadratic: Nonzero quadratic biases.
        dynamic_range: Largest over smallest nonzero absolute bias (linear and quadratic).
        objective_range: ``(F_lo, F_hi)``: the minimisation objective over all bit strings is at
            least ``F_lo``; over encodable points at most ``F_hi``.
        penalty_rule: How auto weights were derived.
        penalties: Per constraint name (one-hot and domain-wall chains as ``onehot(x)`` …).
        discretisation: Per coarse-grid variable: the largest distance from a point of its
            bounds to the grid, and the unit.
        rows_dropped: Rows no encodable point can violate (no penalty emitted).
        rows_infeasible: Labels of rows no encodable point satisfies.
        inequality: The inequality method used.
    """

    n_bits: int
    decision_bits: dict[str, int]
    encoding_bits: dict[str, int]
    slack_bits: dict[str, int]
    n_linear: int
    n_quadratic: int
    dynamic_range: float
    objective_range: tuple[float, float]
    penalty_rule: str
    penalties: dict[str, PenaltyInfo]
    discretisation: dict[str, tuple[float, str]]
    rows_dropped: int
    rows_infeasible: tuple[str, ...]
    inequality: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN bounds become ``None``)."""
        out: dict[str, Any] = _json_ready(asdict(self))
        return out


@dataclass(frozen=True)
class QuboInverse:
    """Everything ``invert``, ``encode_point``, ``report`` and ``retune`` need (no model ref).

    Attributes:
        n_columns: Model columns.
        n_bits: BQM variables.
        sense: The model's sense (energy is ``-objective`` for ``max``).
        columns: One register per column, on bits ``0 .. columns.stop``.
        slacks: One register per slack row, on the bits after the columns'.
        encoding: ``M`` with ``x = columns.offset + M @ b[:columns.stop]``.
        slack_rows: Model rows of the slack registers (over columns).
        slack_origin: Activity at which each slack is 0.
        penalty_names: Constraint name of every penalised row (model rows, then structural).
        penalty_labels: Label of every penalised row (``balance[14]``, ``onehot(s)[2]``).
        weights: Weight of every penalised row.
        summary: The report.
        plan: How each penalised model row was planned (the first ``len(plan.index)`` entries
            of ``weights`` are these rows'): samplers that keep every slack at its optimum
            (:mod:`qgridlang.compilers.qubo_collapsed`) evaluate the same penalties from row
            activities.
        unbalanced: The ``(l1, l2)`` of unbalanced rows.
    """

    n_columns: int
    n_bits: int
    sense: str
    columns: Registers
    slacks: Registers
    encoding: sp.csr_matrix
    slack_rows: sp.csr_matrix
    slack_origin: np.ndarray
    penalty_names: tuple[str, ...]
    penalty_labels: tuple[str, ...]
    weights: np.ndarray
    summary: QuboReport = field(repr=False)
    plan: pen.RowPlan | None = field(default=None, repr=False)
    unbalanced: tuple[float, float] = (0.96, 0.0371)


@dataclass(frozen=True)
class _Penalties:
    """All penalised rows as one system ``sum_r w_r (g_r @ b + d_r)^2`` plus extra terms."""

    g: sp.csr_matrix
    d: np.ndarray
    mu: np.ndarray
    kind: list[str]
    names: np.ndarray
    labels: list[str]
    unbalanced_sign: np.ndarray  # +1 (<= row), -1 (>= row), 0 (not unbalanced)
    chain_bits: np.ndarray  # domain-wall bits carrying b_p - b_(p-1) b_p
    chain_row: np.ndarray  # the penalty row (index into the above) of each chain bit


def apply(flat: FlatModel,
          options: QuboOptions | None = None) -> tuple[dimod.BinaryQuadraticModel, QuboInverse]:
    """Lower ``flat`` to a QUBO over bits ``0 .. N-1`` and return it with its inverse.

    Raises:
        QglErrors: Columns that cannot be encoded (each with its span and the fix).
        UnknownName: A per-constraint penalty names no constraint.
        UsageError: Invalid options.
    """
    opts = options or QuboOptions()
    _check_options(opts)
    cols = plan_columns(flat)
    c, q, const = _min_sense_objective(flat)
    m_enc, offset = cols.matrix, cols.registers.offset
    f_lo = pen.interval_objective(c, q, cols.reach_lo, cols.reach_hi)[0] + const
    f_hi = pen.interval_objective(c, q, cols.grid_lo, cols.grid_hi)[1] + const
    g_x = (flat.A @ m_enc).tocsr()
    _check_penalty_size(flat, g_x)
    c0 = np.asarray(flat.A @ offset).ravel()
    plan = pen.plan_rows(flat.A.tocsr(), flat.row_lo, flat.row_hi, g_x, c0,
                         (cols.grid_lo, cols.grid_hi), unbalanced=opts.inequality == "unbalanced",
                         unbalanced_l=opts.unbalanced, max_slack_bits=opts.max_slack_bits,
                         nongrid_bits=opts.nongrid_bits, max_den=opts.max_denominator)
    has_slack = plan.kind == pen.SLACK
    n_slack = int(has_slack.sum())
    slacks = make_registers(np.full(n_slack, BINARY), plan.slack_kmax[has_slack],
                            plan.sigma[has_slack], np.zeros(n_slack), base=cols.registers.stop)
    n_bits = slacks.stop
    system = _penalty_system(flat, cols, plan, slacks, g_x, c0, n_bits)
    weights, sources = _weights(flat, opts, system, f_hi - f_lo)
    bqm, biases = _assemble(_objective_bits(c, q, const, m_enc, offset, n_bits), system, weights,
                            opts)
    summary = _report(flat, cols, plan, slacks, system, weights, sources, bqm.num_variables,
                      biases, (f_lo, f_hi), opts)
    slack_index = plan.index[has_slack]
    inverse = QuboInverse(flat.n, n_bits, flat.sense, cols.registers, slacks, m_enc,
                          flat.A.tocsr()[slack_index], plan.target[has_slack],
                          tuple(system.names), tuple(system.labels), weights, summary, plan,
                          opts.unbalanced)
    return bqm, inverse


def invert(samples: np.ndarray, inverse: QuboInverse) -> np.ndarray:
    """Model column values of bit samples (``n_samples x n_bits`` -> ``n_samples x n``).

    A 1-D sample gives a 1-D result. Bits decode linearly (``x = o + M b``), so a broken
    one-hot or domain-wall string still decodes to a number (see ``QuboReport.penalties``).
    """
    bits = _as_samples(samples, inverse.n_bits)
    weighted = np.asarray(inverse.encoding @ bits[:, :inverse.columns.stop].T).T
    x: np.ndarray = inverse.columns.offset + weighted
    return x[0] if np.ndim(samples) == 1 else x


def encode_point(x: np.ndarray, inverse: QuboInverse) -> np.ndarray:
    """Bits of model points (``n_points x n`` -> ``n_points x n_bits``; 1-D in, 1-D out).

    Each column is rounded to its nearest grid point (and clipped to the grid); slack bits are
    set to the slack value nearest to ``activity - origin``, which makes the penalty of every
    satisfied row on an exact lattice zero.
    """
    pts = np.atleast_2d(np.asarray(x, dtype=float))
    cols = inverse.columns
    k = (pts - cols.offset) / cols.step
    col_bits = encode_k(cols, k)
    grid = cols.offset + cols.step * np.clip(np.rint(k), 0, cols.kmax)
    slack_value = np.asarray(inverse.slack_rows @ grid.T).T - inverse.slack_origin
    slack_bits = encode_k(inverse.slacks, slack_value / inverse.slacks.step)
    bits = np.hstack([col_bits, slack_bits])
    return bits[0] if np.ndim(x) == 1 else bits


def slack_values(samples: np.ndarray, inverse: QuboInverse) -> np.ndarray:
    """Slack register values (``n_samples x n_slacks``, in each row's unit) of bit samples."""
    bits = _as_samples(samples, inverse.n_bits)
    return np.asarray(decode_k(inverse.slacks, bits) * inverse.slacks.step)


def report(inverse: QuboInverse) -> QuboReport:
    """The :class:`QuboReport` of the lowering that produced ``inverse``."""
    return inverse.summary


def retune(inverse: QuboInverse, violated: list[str] | tuple[str, ...],
           factor: float = 2.0) -> dict[str, float]:
    """Per-constraint weights for the next lowering, with violated constraints' multiplied.

    Args:
        inverse: The inverse of the lowering whose samples broke constraints.
        violated: Constraint names or row labels (``balance`` or ``balance[14]``); labels of no
            penalised row (bound or integrality violations, dropped rows) are ignored.
        factor: Multiplier for the violated constraints' current (largest) weight.

    Returns:
        ``{name: weight}`` for the violated constraints and those already overridden; pass it
        as ``QuboOptions(penalties=tuple(d.items()))``.
    """
    names = np.asarray(inverse.penalty_names, dtype=object)
    by_label = dict(zip(inverse.penalty_labels, inverse.penalty_names, strict=True))
    hit = {by_label.get(v, v) for v in violated} & set(inverse.penalty_names)
    out = {n: p.weight for n, p in inverse.summary.penalties.items() if p.source == "override"}
    for name in hit:
        out[name] = factor * float(inverse.weights[names == name].max())
    return out


def to_coo_text(bqm: dimod.BinaryQuadraticModel) -> str:
    """The QUBO as text: a comment, ``offset VALUE``, then ``i j value`` lines (``i <= j``;
    linear biases as ``i i value``), indices in the BQM's variable order."""
    lin, (row, col, quad), offset = _vectors(bqm)
    nz = np.flatnonzero(lin)
    i = np.concatenate([nz, np.minimum(row, col)])
    j = np.concatenate([nz, np.maximum(row, col)])
    v = np.concatenate([lin[nz], quad])
    order = np.lexsort((j, i))
    body = "".join(f"{a} {b} {w!r}\n" for a, b, w in
                   zip(i[order].tolist(), j[order].tolist(), v[order].tolist(), strict=True))
    head = (f"# qgridlang QUBO: {bqm.num_variables} binary variables; "
            "energy = offset + sum(value * b_i * b_j)\n")
    return f"{head}offset {float(offset)!r}\n{body}"


def to_lp_text(bqm: dimod.BinaryQuadraticModel) -> str:
    """The QUBO as an LP-format binary program (variables ``b0 …`` in the BQM's order) with a
    quadratic objective section ``[ … ] / 2``, for classical cross-checks."""
    lin, (row, col, quad), offset = _vectors(bqm)
    n = bqm.num_variables
    nz = np.flatnonzero(lin)
    linear = "".join(f" {_signed(w)} b{k}\n" for k, w in zip(nz.tolist(), lin[nz].tolist(),
                                                              strict=True))
    square = "".join(f" {_signed(2 * w)} b{a} * b{b}\n" for a, b, w in
                     zip(row.tolist(), col.tolist(), quad.tolist(), strict=True))
    quadratic = f" + [\n{square} ] / 2\n" if len(quad) else ""
    binaries = "".join(f" b{k}\n" for k in range(n))
    return (f"\\ qgridlang QUBO: {n} binary variables\nMinimize\n obj: {_signed(float(offset))}\n"
            f"{linear}{quadratic}Subject To\nBinaries\n{binaries}End\n")


def _vectors(bqm: dimod.BinaryQuadraticModel) -> tuple[np.ndarray, Triples, float]:
    """Linear biases, quadratic ``(row, col, bias)`` and offset in the BQM's variable order."""
    vectors = bqm.to_numpy_vectors()
    return vectors.linear_biases, vectors.quadratic, float(vectors.offset)


def _signed(v: float) -> str:
    return f"+ {v!r}" if v >= 0 else f"- {-v!r}"


def _check_options(opts: QuboOptions) -> None:
    if opts.inequality not in ("slack", "unbalanced"):
        raise UsageError(f"unknown inequality method '{opts.inequality}'",
                         hint="use 'slack' or 'unbalanced'")
    l1, l2 = opts.unbalanced
    if not (l1 >= 0 and l2 > 0 and opts.margin > 0):
        raise UsageError(f"need l1 >= 0, l2 > 0 and margin > 0, got {opts.unbalanced}, "
                         f"{opts.margin}")
    if not (opts.max_slack_bits >= 1 and opts.nongrid_bits >= 1 and opts.max_denominator >= 1):
        raise UsageError("max_slack_bits, nongrid_bits and max_denominator must be positive")


def _as_samples(samples: np.ndarray, n_bits: int) -> np.ndarray:
    bits = np.atleast_2d(np.asarray(samples, dtype=float))
    if bits.shape[1] != n_bits:
        raise UsageError(f"samples have {bits.shape[1]} bits, the QUBO has {n_bits}")
    return bits


def _min_sense_objective(flat: FlatModel) -> tuple[np.ndarray, Triples, float]:
    sign = 1.0 if flat.sense == "min" else -1.0
    i, j, v = (np.asarray(a) for a in flat.Q)
    return sign * flat.c, (i.astype(np.int64), j.astype(np.int64), sign * v), sign * flat.obj_const


def _objective_bits(c: np.ndarray, q: Triples, const: float, m_enc: sp.csr_matrix,
                    offset: np.ndarray, n_bits: int) -> tuple[sp.csr_matrix, np.ndarray, float]:
    """``c'x + x'Qx + const`` at ``x = o + M b`` as ``(S, linear, offset)`` over ``n_bits``."""
    n = len(c)
    i, j, v = q
    qm = sp.csr_matrix((v, (i, j)), shape=(n, n))
    m_pad = sp.hstack([m_enc, sp.csr_matrix((n, n_bits - m_enc.shape[1]))]).tocsr()
    linear = m_pad.T @ (c + (qm + qm.T) @ offset)
    value = float(c @ offset + offset @ (qm @ offset) + const)
    return (m_pad.T @ qm @ m_pad).tocsr(), np.asarray(linear).ravel(), value


def _penalty_system(flat: FlatModel, cols: ColumnPlan, plan: pen.RowPlan, slacks: Registers,
                    g_x: sp.csr_matrix, c0: np.ndarray, n_bits: int) -> _Penalties:
    """Stack kept model rows (slack bits as extra columns), one-hot rows and domain-wall chains
    (the chains' rows in ``g`` are empty: their terms are not squares)."""
    n_rows = len(plan.index)
    g_rows = sp.hstack([g_x[plan.index], sp.csr_matrix((n_rows, n_bits - g_x.shape[1]))])
    g_rows = g_rows - value_matrix(slacks, np.flatnonzero(plan.kind == pen.SLACK), n_rows, n_bits)
    g_hot, hot = onehot_rows(cols.registers, n_bits)
    chain_bits, chain_reg = domain_wall_bits(cols.registers)
    wall = np.unique(chain_reg)
    names, labels = _structure_names(flat, hot, wall)
    rows = [flat.rows[k] for k in plan.index]
    n_struct = len(hot) + len(wall)
    return _Penalties(
        g=sp.vstack([g_rows, g_hot, sp.csr_matrix((len(wall), n_bits))]).tocsr(),
        d=np.concatenate([c0[plan.index] - plan.target, -np.ones(len(hot)), np.zeros(len(wall))]),
        mu=np.concatenate([plan.mu, np.ones(n_struct)]),
        kind=[pen.KIND_NAME[k] for k in plan.kind.tolist()] + ["onehot"] * len(hot)
        + ["domain_wall"] * len(wall),
        names=np.concatenate([np.asarray([r.name for r in rows], dtype=object), names]),
        labels=[r.label for r in rows] + labels,
        unbalanced_sign=np.concatenate([
            np.select([plan.kind == pen.UNBALANCED_LE, plan.kind == pen.UNBALANCED_GE], [1, -1]),
            np.zeros(n_struct)]),
        chain_bits=chain_bits,
        chain_row=n_rows + len(hot) + np.searchsorted(wall, chain_reg),
    )


def _structure_names(flat: FlatModel, hot: np.ndarray,
                     wall: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Names (``onehot(s)``) and labels (``onehot(s)[2]``) of one-hot and chain columns."""
    block_of = np.repeat(np.arange(len(flat.blocks)), [len(b.keys) for b in flat.blocks])
    blocks = np.asarray([b.name for b in flat.blocks], dtype=object)
    names = np.concatenate(["onehot(" + blocks[block_of[hot]] + ")",
                            "domain_wall(" + blocks[block_of[wall]] + ")"])
    keys = [k for b in flat.blocks for k in b.keys]
    columns = np.concatenate([hot, wall]).astype(np.int64).tolist()
    return names, [n + key_text(keys[c]) for n, c in zip(names.tolist(), columns, strict=True)]


def _weights(flat: FlatModel, opts: QuboOptions, system: _Penalties,
             objective_span: float) -> tuple[np.ndarray, np.ndarray]:
    """Weight and its source per penalised row: auto, then global, then per-name overrides."""
    weights = pen.auto_weights(objective_span, system.mu, opts.margin)
    sources = np.full(len(weights), "auto", dtype=object)
    unbalanced = system.unbalanced_sign != 0
    weights[unbalanced], sources[unbalanced] = 1.0, "unbalanced default"
    if flat.quantum.penalty is not None:
        weights[:], sources[:] = float(flat.quantum.penalty), "global"
    known = {r.name for r in flat.rows} | set(system.names.tolist())
    for name, _ in flat.quantum.penalties:
        if name not in known:
            raise UnknownName(f"'penalty {name}': the model has no constraint '{name}'",
                              flat.quantum.span, did_you_mean(name, known))
    for name, _ in opts.penalties:
        if name not in known:
            raise UsageError(f"penalty override for unknown constraint '{name}'",
                             hint=did_you_mean(name, known))
    for name, value in (*flat.quantum.penalties, *opts.penalties):
        hit = system.names == name
        weights[hit], sources[hit] = float(value), "override"
    return weights, sources


def _assemble(objective: tuple[sp.csr_matrix, np.ndarray, float], system: _Penalties,
              weights: np.ndarray, opts: QuboOptions
              ) -> tuple[dimod.BinaryQuadraticModel, tuple[np.ndarray, np.ndarray]]:
    """Sum objective, squared penalties, unbalanced linear parts and chains into one BQM.

    The objective, the unbalanced linear parts and the domain-wall chains (all sparse) go in
    through ``from_numpy_vectors``; each squared row ``w_r (g_r @ b + d_r)^2`` is expanded by
    dimod's own C++ ``add_linear_equality_constraint`` (one call per row with that row's
    nonzeros; the quadratic terms never exist as Python objects), which is several times faster
    than forming ``G' W G`` with scipy and handing its terms to dimod. Also returns the linear
    and quadratic biases (for the report).
    """
    l1, l2 = opts.unbalanced
    sign = system.unbalanced_sign
    square_w = np.where(sign != 0, l2 * weights, weights)
    ub_w = l1 * sign * weights  # -l1 h with h = -(residual) for <= rows, +residual for >=
    n = system.g.shape[1]
    chain_w = weights[system.chain_row]
    chain = sp.csr_matrix((-chain_w, (system.chain_bits - 1, system.chain_bits)), shape=(n, n))
    s_obj, lin_obj, off_obj = objective
    s = (s_obj + chain).tocoo()
    s.sum_duplicates()
    diag = s.row == s.col
    linear = (lin_obj + np.asarray(system.g.T @ ub_w).ravel()
              + np.bincount(system.chain_bits, weights=chain_w, minlength=n)
              + np.bincount(s.row[diag], weights=s.data[diag], minlength=n))
    off = ~diag
    upper = (np.minimum(s.row[off], s.col[off]), np.maximum(s.row[off], s.col[off]), s.data[off])
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
        linear, upper, off_obj + float(ub_w @ system.d), dimod.BINARY)
    g = system.g  # CSR
    indptr, cols, coefs = g.indptr, g.indices.tolist(), g.data.tolist()
    for r, (w, d) in enumerate(zip(square_w.tolist(), system.d.tolist(), strict=True)):
        a, b = indptr[r], indptr[r + 1]
        if a < b and w != 0.0:
            bqm.add_linear_equality_constraint(zip(cols[a:b], coefs[a:b], strict=True), w, d)
        elif w != 0.0:  # an empty row is the constant d_r
            bqm.offset += w * d * d
    return bqm, _drop_noise(bqm)


def _drop_noise(bqm: dimod.BinaryQuadraticModel) -> tuple[np.ndarray, np.ndarray]:
    """Zero the biases that are float noise from cancellation (below ``_DROP_RTOL`` of the
    largest), so that the report counts and the dynamic range see only real terms; return the
    linear and quadratic biases that remain."""
    lin, (row, col, quad), _ = _vectors(bqm)
    scale = max(np.abs(lin).max(initial=0.0), np.abs(quad).max(initial=0.0))
    small_lin = (lin != 0.0) & (np.abs(lin) <= _DROP_RTOL * scale)
    if small_lin.any():
        bqm.add_linear_from_array(np.where(small_lin, -lin, 0.0))
        lin = np.where(small_lin, 0.0, lin)
    small = np.abs(quad) <= _DROP_RTOL * scale
    if small.any():
        bqm.remove_interactions_from(zip(row[small].tolist(), col[small].tolist(), strict=True))
        quad = quad[~small]
    return lin, quad


def _report(flat: FlatModel, cols: ColumnPlan, plan: pen.RowPlan, slacks: Registers,
            system: _Penalties, weights: np.ndarray, sources: np.ndarray, n_bits: int,
            biases_lq: tuple[np.ndarray, np.ndarray], objective_range: tuple[float, float],
            opts: QuboOptions) -> QuboReport:
    lin, quad = biases_lq
    biases = np.abs(np.concatenate([lin, quad]))
    biases = biases[biases > 0]
    dynamic = float(biases.max() / biases.min()) if biases.size else 1.0
    per_col = cols.registers.nbits
    decision = {b.name: int(per_col[b.start:b.stop].sum()) for b in flat.blocks
                if b.kind == "binary"}
    encoding = {b.name: int(per_col[b.start:b.stop].sum()) for b in flat.blocks
                if b.kind != "binary"}
    slack_names = system.names[np.flatnonzero(plan.kind == pen.SLACK)]
    slack_bits: dict[str, int] = {}
    for name, count in zip(slack_names.tolist(), slacks.nbits.tolist(), strict=True):
        slack_bits[name] = slack_bits.get(name, 0) + count
    n_model = len(plan.index)
    exact = np.concatenate([plan.grid, np.ones(len(system.mu) - n_model, dtype=bool)])
    bound = (objective_range[1] - objective_range[0]) / system.mu
    bound[system.unbalanced_sign != 0] = np.nan
    infeasible = plan.kind == pen.INFEASIBLE
    residual = np.concatenate([plan.residual, np.zeros(len(system.mu) - n_model)])
    return QuboReport(
        n_bits=n_bits, decision_bits=decision, encoding_bits=encoding,
        slack_bits=slack_bits, n_linear=int(np.count_nonzero(lin)),
        n_quadratic=int(np.count_nonzero(quad)), dynamic_range=dynamic,
        objective_range=objective_range, penalty_rule=_RULE,
        penalties=_penalty_infos(system, weights, sources, bound, residual, exact),
        discretisation=cols.discretisation, rows_dropped=plan.dropped,
        rows_infeasible=tuple(np.asarray(system.labels[:n_model], dtype=object)[infeasible]),
        inequality=opts.inequality)


_RULE = ("auto: P_r = (1 + margin) * (F_hi - F_lo) / mu_r, with F_hi >= the objective "
         "(minimisation form) on every encodable point and F_lo <= it on every bit string "
         "(interval bounds), mu_r = the least penalty a violation of row r costs (delta_r^2 "
         "for a row on the lattice delta_r Z, 1 for one-hot/domain-wall). Then every assignment "
         "violating a row has energy >= F_lo + P_r mu_r > F_hi >= the best feasible energy.")


def _penalty_infos(system: _Penalties, weights: np.ndarray, sources: np.ndarray,
                   bound: np.ndarray, residual: np.ndarray,
                   exact: np.ndarray) -> dict[str, PenaltyInfo]:
    kinds = np.asarray(system.kind, dtype=object)
    guaranteed = exact & (weights > bound)
    out: dict[str, PenaltyInfo] = {}
    for name in dict.fromkeys(system.names.tolist()):
        hit = system.names == name
        out[name] = PenaltyInfo(
            rows=int(hit.sum()), kinds=tuple(dict.fromkeys(kinds[hit].tolist())),
            weight=float(weights[hit].max()), source=str(sources[hit][0]),
            bound=float(bound[hit].max()), min_violation=float(system.mu[hit].min()),
            residual=float(residual[hit].max()), guaranteed=bool(guaranteed[hit].all()))
    return out


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _check_penalty_size(flat: FlatModel, g_x: sp.csr_matrix) -> None:
    """Refuse penalties with more quadratic terms than the size limit, before squaring rows.

    A row's penalty (a x - b)^2 couples every pair of its bits: a constraint over 1e5 bits
    alone has 5e9 terms.
    """
    nnz = np.diff(g_x.indptr).astype(float)
    pairs = nnz * (nnz - 1) / 2
    if not len(pairs):
        return
    worst = int(np.argmax(pairs))
    row = flat.rows[worst]
    what = f"the QUBO penalty of constraint {row.name}{key_text(row.key)}"
    check_size(float(pairs[worst]), what, "quadratic terms", row.span)
    check_size(float(pairs.sum()), "the QUBO penalties of all constraints (the most: "
               f"{row.name}{key_text(row.key)})", "quadratic terms", row.span)
