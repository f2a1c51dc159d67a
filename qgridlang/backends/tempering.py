"""``tempering``: replica-exchange Monte Carlo on the QUBO with register moves.

Single-flip samplers (``sa``, ``tabu``) see a certified QUBO as a landscape of narrow valleys:
moving one decision by one step flips several bits of its register (a carry) and every slack
register of every row it appears in, and each intermediate bit string is penalised by weights
sized for the worst case. This sampler moves in the space the QUBO encodes instead
(:mod:`qgridlang.compilers.qubo_collapsed`):

* a state is a value ``k_j`` per column register; the slack registers are always at their
  optimum, so the energy of a state is the QUBO energy of its bit string ``encode_point(x)``;
* moves change one register by ``+-1``, or two registers of an equality row together so that
  the row's activity does not change (``imp[t] - 1, gen[t] + 1`` keeps ``balance[t]``);
* replicas run at a geometric ladder of temperatures (``t_min`` .. ``t_max``, objective units)
  and exchange states with their neighbours (replica exchange, Metropolis on ``beta E``);
* the chain sees the penalties scaled by ``penalty_ratio`` (``F + ratio P``; by default the
  cheapest violation then costs about 20 objective steps instead of the whole objective
  range), so a replica can cross a short infeasible stretch (switch the diesel on before its
  output reaches the minimum). States are ranked, kept and returned by the QUBO's OWN energy
  ``F + P``: the weights of the lowered QUBO are never changed, and its certified guarantee
  (the ground state is the model's optimum) holds for what is returned.

The chain stops at ``sweeps``, at the time limit, or after ``convergence`` sweeps without a new
lowest energy, whichever comes first.

Returned samples (bit rows in the BQM's order, decoded and re-checked by the target's refine
step like every sampler's): the lowest-energy state seen, then the ``replicas / 2`` lowest-energy
distinct states seen at the end of the sweeps. Options: ``replicas`` (32), ``sweeps`` (a sweep
is one proposed move per column per replica; 1000), time limit (stops between sweeps),
``seed``, ``t_min`` / ``t_max`` (default: a quarter of the smallest and 50 times the median
single-step objective change), ``penalty_ratio``, ``pairs`` (``equality``, or ``rows``: pairs
along every penalised row).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from qgridlang import interrupt, limits, progress
from qgridlang.errors import UsageError
from qgridlang.lazy import lazy
from qgridlang.registry import Backend, Options, register_backend
from qgridlang.results import RawResult, Status

if TYPE_CHECKING:
    from qgridlang.compilers.qubo import QuboInverse
    from qgridlang.compilers.qubo_collapsed import Collapsed
    from qgridlang.flat import FlatModel

collapsed = lazy("qgridlang.compilers.qubo_collapsed")
pen = lazy("qgridlang.compilers.qubo_penalties")

MAX_PAIR_MOVES = 200_000  # equality rows with many columns: keep the move table bounded
MOVE_COLUMNS = 3  # registers a move changes at most
DENSE_MAX = 2000  # quadratic objectives: a dense n x n gradient table up to this n (32 MB)
KICK_ROW_COLUMNS = 8  # inequality rows this short seed kicks (longer ones would be quadratic)
# default penalty scale of the chain: the cheapest violation costs this many objective steps
VIOLATION_STEPS = 20.0
PAIRS = ("equality", "rows")
RAMP_END = 0.8  # share of the run over which a penalty ramp rises to its final value


@dataclass(frozen=True)
class Settings:
    replicas: int = 32
    sweeps: int = 1000
    t_min: float | None = None
    t_max: float | None = None
    penalty_ratio: float | None = None
    seed: int | None = None
    time_limit: float | None = None
    pairs: str = "equality"
    penalty_ramp: float = 10.0
    kicks: bool = True
    convergence: int = 1000

    @classmethod
    def from_options(cls, options: Options) -> Settings:
        x = options.extra

        def num(name: str, default: Any, kind: type = float) -> Any:
            value = x.get(name, default)
            if value is None:
                return None
            try:
                out = kind(value)
                whole = kind is not int or (not isinstance(value, bool)
                                            and out == float(value))
            except (TypeError, ValueError, OverflowError):
                whole = False
            if not whole:  # int(3.5) would be 3: a silent truncation
                raise UsageError(f"tempering option {name} must be a number"
                                 + (" (whole)" if kind is int else "") + f", got {value!r}",
                                 None)
            if out <= 0:
                raise UsageError(f"tempering option {name} must be positive, got {value!r}")
            return out

        sweeps = options.sweeps if options.sweeps is not None else cls.sweeps
        s = cls(replicas=num("replicas", cls.replicas, int), sweeps=int(sweeps),
                t_min=num("t_min", None), t_max=num("t_max", None),
                penalty_ratio=num("penalty_ratio", None), pairs=str(x.get("pairs", cls.pairs)),
                penalty_ramp=num("penalty_ramp", cls.penalty_ramp),
                kicks=bool(x.get("kicks", cls.kicks)),
                convergence=_count(x.get("convergence", cls.convergence), "convergence"),
                seed=options.seed if options.seed is not None else x.get("seed"),
                time_limit=options.time_limit if options.time_limit is not None
                else num("time_limit", None))
        if s.pairs not in PAIRS:
            raise UsageError(f"tempering option pairs must be one of {', '.join(PAIRS)}, got "
                             f"{s.pairs!r}")
        if s.replicas < 2:
            raise UsageError("tempering needs at least 2 replicas", hint="--option replicas=32")
        if s.penalty_ratio is not None and s.penalty_ratio > 1:
            raise UsageError("penalty_ratio scales the penalties down: at most 1")
        if s.t_min and s.t_max and s.t_min >= s.t_max:
            raise UsageError("t_min must be below t_max")
        return s


def _count(value: Any, name: str) -> int:
    """A whole number >= 0 (0 switches the rule off)."""
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"tempering option {name} must be a whole number, got {value!r}",
                         None) from None
    if out < 0 or out != float(value):
        raise UsageError(f"tempering option {name} must be a whole number >= 0, got {value!r}")
    return out


@register_backend
class Tempering(Backend):
    name = "tempering"
    target = "qubo"
    description = ("replica exchange on the QUBO with register moves, slacks at their optimum "
                   "and a penalty ladder; replicas, sweeps, time limit, seed")
    REQUIRED_MODULES = ("dimod", "scipy")
    COMMON = frozenset({"seed", "time_limit", "sweeps"})
    OPTIONS: ClassVar[dict[str, str]] = {
        "replicas": "replicas in the temperature/penalty ladder (default 32)",
        "t_min": "coldest temperature, objective units (default: from the objective's steps)",
        "t_max": "hottest temperature, objective units (default: from the objective's steps)",
        "penalty_ratio": "the chain's penalty scale (default: the cheapest violation costs "
                         "about 20 objective steps)",
        "penalty_ramp": "start the chain's penalty scale this many times lower and raise it "
                        "geometrically to its final value by 80 % of the run (default 10; "
                        "1: no ramp)",
        "convergence": "stop after this many sweeps without a new lowest energy (default "
                       "1000; 0: never)",
        "kicks": "three-register moves across a short inequality and an equality row "
                 "(default true)",
        "pairs": "two-register moves along `equality` rows (default) or all penalised `rows`",
    }

    def run(self, artifact: Any, options: Options) -> RawResult:
        raise UsageError("the tempering backend samples a lowered model, not a bare QUBO",
                         hint="use it through qglc solve / qgridlang.solve")

    def run_lowered(self, bqm: Any, inverse: QuboInverse, flat: FlatModel,
                    options: Options) -> RawResult:
        """Sample the QUBO ``bqm`` lowered from ``flat`` (``inverse`` gives its registers)."""
        settings = Settings.from_options(options)
        col = collapsed.collapse(flat, inverse)
        progress.line(options, self.name, f"{settings.replicas} replicas over {col.n} "
                      f"registers ({inverse.n_bits} bits), up to {settings.sweeps} sweeps")
        start = time.perf_counter()
        with interrupt.watch():
            out = temper(col, settings)
        seconds = time.perf_counter() - start
        states = np.vstack([out.best[None, :], out.final])
        bits = col.to_bits(col.values(states), inverse)
        info = {"sampler": "tempering", "replicas": settings.replicas,
                "sweeps": out.sweeps, "moves": out.moves, "pair_moves": out.pair_moves,
                "kick_moves": out.kick_moves,
                "t_min": out.t_min, "t_max": out.t_max, "penalty_ratio": out.floor,
                "acceptance": out.acceptance, "exchange_rate": out.exchange_rate,
                "best_energy": out.best_energy, "best_sweep": out.best_sweep,
                "seed": settings.seed, "sampler_seconds": seconds, "reads_in_order": False}
        progress.line(options, self.name, f"{out.sweeps} sweeps in {seconds:.2f} s, lowest "
                      f"energy {out.best_energy:.6g} (sweep {out.best_sweep})")
        if interrupt.requested():
            return RawResult(Status.INTERRUPTED, x=bits[0], xs=bits, info=info,
                             message=f"interrupted (Ctrl-C) after {out.sweeps} sweeps: the "
                                     "best plan so far")
        return RawResult(Status.FEASIBLE, x=bits[0], xs=bits, info=info)


@dataclass
class Outcome:
    best: np.ndarray  # register values of the lowest-energy state seen
    best_energy: float
    best_sweep: int
    final: np.ndarray  # register values of the lowest-energy distinct states seen
    sweeps: int
    moves: int
    pair_moves: int
    kick_moves: int
    t_min: float
    t_max: float
    floor: float
    acceptance: float
    exchange_rate: float


@dataclass(frozen=True)
class Moves:
    """Padded move table: columns (dummy ``n``), register steps, rows (dummy ``m``), activity
    change per unit move, and the cross term of two-column moves."""

    cols: np.ndarray  # M x MOVE_COLUMNS
    dk: np.ndarray  # M x MOVE_COLUMNS
    rows: np.ndarray  # M x L
    dact: np.ndarray  # M x L
    cross: np.ndarray  # M: the objective's cross terms between the move's registers
    pairs: int
    kicks: int


def moves_of(col: Collapsed, pairs_along: str = "equality", kicks: bool = True) -> Moves:
    """The move table (each move changes up to three registers by fixed integer amounts):

    * every register by ``+-1``;
    * pairs that keep a row's activity: along equality rows (``pairs_along="equality"``) or
      along every penalised row (``"rows"``): ``imp[t] - 1, gen[t] + 1`` keeps ``balance[t]``;
    * kicks: a pair that keeps a short inequality row (at most ``KICK_ROW_COLUMNS`` columns)
      and breaks exactly one equality row, completed by a third register of that row:
      ``on[t] + 1, gen[t] + 2`` keeps ``gen >= 2 on`` and ``imp[t] - 2`` keeps ``balance[t]``.
      Without them that change climbs over two violated rows.
    """
    n = col.n
    rows, rows_t = col.rows, col.rows_t
    equality = col.kind == pen.EQUALITY
    table: list[dict[int, int]] = [{int(j): 1} for j in np.flatnonzero(col.kmax > 0)]
    seen: set[tuple[tuple[int, int], ...]] = set()

    def add(move: dict[int, int]) -> bool:
        items = sorted(move.items())
        if items[0][1] < 0:
            items = [(j, -k) for j, k in items]
        key = tuple(items)
        if key in seen or any(abs(k) > col.kmax[j] for j, k in items):
            return False
        seen.add(key)
        table.append(dict(items))
        return True

    by_column = [(rows_t.indices[rows_t.indptr[j]:rows_t.indptr[j + 1]],
                  rows_t.data[rows_t.indptr[j]:rows_t.indptr[j + 1]]) for j in range(n)]

    def column_change(move: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The rows a move changes and by how much (sorted rows; zeros possible)."""
        parts = [by_column[j] for j in move]
        hit = np.unique(np.concatenate([p[0] for p in parts]))
        change = np.zeros(len(hit))
        for (r_idx, vals), (j, k) in zip(parts, move.items(), strict=True):
            change[np.searchsorted(hit, r_idx)] += vals * col.step[j] * k
        return hit, change

    def compensate(r: int, move: dict[int, int]) -> list[tuple[int, int]]:
        """``(column, k)`` of the columns of row ``r`` that restore its activity alone."""
        a, b = rows.indptr[r], rows.indptr[r + 1]
        js, coef = rows.indices[a:b], rows.data[a:b]
        of = dict(zip(js.tolist(), coef.tolist(), strict=True))
        change = sum(of.get(j, 0.0) * col.step[j] * k for j, k in move.items())
        out = []
        for j, c in zip(js.tolist(), coef.tolist(), strict=True):
            if j in move or col.kmax[j] == 0:
                continue
            ratio = -change / (c * col.step[j])
            k = round(ratio)
            if k != 0 and abs(ratio - k) <= 1e-9 * max(1.0, abs(ratio)) and abs(k) <= col.kmax[j]:
                out.append((j, k))
        return out

    along = np.flatnonzero(equality) if pairs_along == "equality" else np.arange(col.m)
    pairs = 0
    for r in along.tolist():
        a, b = rows.indptr[r], rows.indptr[r + 1]
        for j1 in rows.indices[a:b].tolist():
            if col.kmax[j1] == 0 or pairs >= MAX_PAIR_MOVES:
                continue
            for j2, k2 in compensate(r, {j1: 1}):
                pairs += add({j1: 1, j2: k2})
    n_kicks = 0
    for r in (np.flatnonzero(~equality) if kicks else np.zeros(0, dtype=np.int64)).tolist():
        a, b = rows.indptr[r], rows.indptr[r + 1]
        if b - a > KICK_ROW_COLUMNS:
            continue
        for j1 in rows.indices[a:b].tolist():
            if col.kmax[j1] == 0 or n_kicks >= MAX_PAIR_MOVES:
                continue
            for j2, k2 in compensate(r, {j1: 1}):
                seed = {j1: 1, j2: k2}
                hit, change = column_change(seed)
                broken = hit[equality[hit] & (np.abs(change) > 1e-12)]
                if len(broken) == 0:
                    n_kicks += add(seed)
                elif len(broken) == 1:
                    for j3, k3 in compensate(int(broken[0]), seed):
                        n_kicks += add({**seed, j3: k3})
    m_count = len(table)
    cols = np.full((m_count, MOVE_COLUMNS), n, dtype=np.int64)
    dk = np.zeros((m_count, MOVE_COLUMNS))
    cross = np.zeros(m_count)
    row_lists: list[np.ndarray] = []
    dact_lists: list[np.ndarray] = []
    sym = col.sym.todok() if col.upper.nnz else None
    for i, move in enumerate(table):
        js = np.fromiter(move, dtype=np.int64)
        ks = np.fromiter(move.values(), dtype=float)
        cols[i, :len(js)], dk[i, :len(js)] = js, ks
        dx = ks * col.step[js]
        if len(js) > 1 and sym is not None:
            cross[i] = sum(float(sym.get((int(js[u]), int(js[v])), 0.0)) * dx[u] * dx[v]
                           for u in range(len(js)) for v in range(u + 1, len(js)))
        hit, change = column_change(move)
        keep = np.abs(change) > 0
        row_lists.append(hit[keep])
        dact_lists.append(change[keep])
    width = max((len(r) for r in row_lists), default=0) or 1
    # the padded table is moves x the widest move's rows: refuse it before it is allocated
    limits.check_size(m_count * width, f"the tempering move table ({m_count} moves, up to "
                      f"{width} rows each)", "entries", None)
    rows_pad = np.full((m_count, width), col.m, dtype=np.int64)
    dact_pad = np.zeros((m_count, width))
    for i, (r, d) in enumerate(zip(row_lists, dact_lists, strict=True)):
        rows_pad[i, :len(r)] = r
        dact_pad[i, :len(d)] = d
    return Moves(cols, dk, rows_pad, dact_pad, cross, pairs, n_kicks)


def default_scales(col: Collapsed) -> tuple[float, float, float]:
    """``(t_min, t_max, unit)``: temperatures from the objective's single-step changes."""
    steps = np.abs(col.c * col.step) + np.abs(col.upper.diagonal()) * col.step**2
    steps = steps[(steps > 0) & (col.kmax > 0)]
    unit = float(np.median(steps)) if len(steps) else 1.0
    low = float(steps.min()) if len(steps) else 1.0
    return low / 4.0, 50.0 * unit, unit


def temper(col: Collapsed, s: Settings) -> Outcome:
    """Run the replica-exchange chain (see the module docstring)."""
    rng = np.random.default_rng(s.seed)
    limits.check_size(s.replicas * (col.n + col.m + 2), f"tempering's {s.replicas} replicas "
                      f"of {col.n} registers and {col.m} rows", "values", None)
    mv = moves_of(col, s.pairs, s.kicks)
    n, m, r_count = col.n, col.m, s.replicas
    t_lo, t_hi, unit = default_scales(col)
    t_min = s.t_min or t_lo
    t_max = s.t_max or max(t_hi, 2 * t_min)
    temps = np.geomspace(t_min, t_max, r_count)
    beta = 1.0 / temps
    min_violation = float(np.min(col.weight * col.sigma**2)) if m else 1.0
    floor = s.penalty_ratio or min(1.0, VIOLATION_STEPS * unit / max(min_violation, 1e-300))
    lam = np.full(r_count, floor)
    keep = max(1, r_count // 2)
    # extended arrays: column n and row m are padding (never move, zero weight)
    kmax = np.append(col.kmax, 0)
    step = np.append(col.step, 0.0)
    c = np.append(col.c, 0.0)
    diag = np.append(col.upper.diagonal(), 0.0)
    quadratic = col.upper.nnz > 0
    k = rng.integers(0, col.kmax + 1, size=(r_count, n)).astype(float)
    k = np.hstack([k, np.zeros((r_count, 1))])
    x0 = col.values(k[:, :n])  # column values are derived from k where needed, not kept
    act = np.hstack([col.activity(x0), np.zeros((r_count, 1))])
    terms = np.hstack([col.penalty_terms(act[:, :m]), np.zeros((r_count, 1))])
    f = col.objective(x0)
    p = terms.sum(axis=1)
    sym = col.sym
    grad = np.hstack([np.asarray((sym @ x0.T).T), np.zeros((r_count, 1))]) if quadratic \
        else None
    dense_sym = sym.toarray() if quadratic and n <= DENSE_MAX else None
    elite = Elite(keep)
    best_e = float(np.min(f + p))
    best = k[int(np.argmin(f + p)), :n].copy()
    best_sweep = 0
    deadline = None if s.time_limit is None else time.perf_counter() + s.time_limit
    per_sweep = max(1, n)
    accepted = proposed = swaps = swap_tries = 0
    sweep = 0
    n_moves = len(mv.cols)
    # flat views: element (r, j) of an R x (n+1) array is r * (n+1) + j (np.take is faster
    # than 2-D fancy indexing on these small gathers)
    k, act, terms = (np.ascontiguousarray(v) for v in (k, act, terms))
    kf, af, tf = k.reshape(-1), act.reshape(-1), terms.reshape(-1)
    base_c = (np.arange(r_count) * (n + 1))[:, None]
    base_a = (np.arange(r_count) * (m + 1))[:, None]
    if grad is not None:
        grad = np.ascontiguousarray(grad)
    gf = grad.reshape(-1) if grad is not None else None
    # the flat names must be views (a C-ordered copy would silently stop seeing the updates)
    assert all(np.shares_memory(v, w) for v, w in ((k, kf), (act, af), (terms, tf)))
    pt, ps, pk, pq, pl = (np.append(a, pad) for a, pad in zip(
        col.penalty_tables(), (0.0, 1.0, 0.0, 0.0, 0.0), strict=True))  # + a zero pad row
    start_time = time.perf_counter()
    ramped = 0
    for sweep in range(1, s.sweeps + 1 if n_moves else 1):  # nothing can move: no sweeps
        if s.penalty_ramp > 1:  # raise the chain's penalty scale towards its final value
            done = (sweep - 1) / s.sweeps
            if deadline is not None and s.time_limit:
                done = max(done, (time.perf_counter() - start_time) / s.time_limit)
            lam = np.full(r_count, floor * s.penalty_ramp ** (min(done / RAMP_END, 1.0) - 1.0))
            if done < RAMP_END:
                ramped = sweep  # convergence counts from the first sweep at the final scale
        draws = rng.integers(n_moves, size=(per_sweep, r_count))
        signs = np.where(rng.random((per_sweep, r_count)) < 0.5, -1.0, 1.0)
        uniform = rng.random((per_sweep, r_count))
        for step_i in range(per_sweep):
            mi = draws[step_i]
            sgn = signs[step_i]
            cols = mv.cols[mi]
            ic = base_c + cols
            dk = sgn[:, None] * mv.dk[mi]
            knew = kf.take(ic) + dk
            ok = ((knew >= 0) & (knew <= kmax.take(cols))).all(axis=1)
            dx = dk * step.take(cols)
            df = (dx * c.take(cols)).sum(axis=1) + mv.cross[mi]
            if gf is not None:
                df += (dx * (gf.take(ic) + dx * diag.take(cols))).sum(axis=1)
            rws = mv.rows[mi]
            ia = base_a + rws
            anew = af.take(ia) + sgn[:, None] * mv.dact[mi]
            h = anew - pt.take(rws)
            sig = ps.take(rws)
            r = h - sig * np.clip(np.rint(h / sig), 0, pk.take(rws))
            tnew = (pq.take(rws) * r + pl.take(rws)) * r
            dp = (tnew - tf.take(ia)).sum(axis=1)
            de = beta * (df + lam * dp)
            acc = ok & ((de <= 0) | (uniform[step_i] < np.exp(-np.clip(de, 0, 700))))
            proposed += r_count
            if not acc.any():
                continue
            a = np.flatnonzero(acc)
            accepted += len(a)
            ica, iaa = ic[a], ia[a]
            kf[ica] = knew[a]
            af[iaa] = anew[a]
            tf[iaa] = tnew[a]
            f[a] += df[a]
            p[a] += dp[a]
            if grad is not None:
                if dense_sym is not None:
                    for slot in range(MOVE_COLUMNS):
                        cj = cols[a, slot]
                        real = cj < n
                        if real.any():
                            grad[a[real], :n] += dx[a[real], slot][:, None] * dense_sym[cj[real]]
                else:
                    grad[a, :n] = np.asarray((sym @ col.values(k[a, :n]).T).T)
        # exchanges between neighbours, even then odd pairs
        for parity in (0, 1):
            lo = np.arange(parity, r_count - 1, 2)
            hi = lo + 1
            delta = (beta[lo] * (f[hi] + lam[lo] * p[hi]) + beta[hi] * (f[lo] + lam[hi] * p[lo])
                     - beta[lo] * (f[lo] + lam[lo] * p[lo]) - beta[hi] * (f[hi] + lam[hi] * p[hi]))
            swap = (delta <= 0) | (rng.random(len(lo)) < np.exp(-np.clip(delta, 0, 700)))
            swap_tries += len(lo)
            if swap.any():
                i, j = lo[swap], hi[swap]
                swaps += len(i)
                for arr in (k, act, terms):
                    arr[i], arr[j] = arr[j].copy(), arr[i].copy()
                for vec in (f, p):
                    vec[i], vec[j] = vec[j].copy(), vec[i].copy()
                if grad is not None:
                    grad[i], grad[j] = grad[j].copy(), grad[i].copy()
        e = f + p  # the QUBO's own energy (lam = 1)
        low = int(np.argmin(e))
        if e[low] < best_e - 1e-9 * max(1.0, abs(best_e)):
            best_e, best, best_sweep = float(e[low]), k[low, :n].copy(), sweep
        elite.offer(k[:, :n], e)
        if (deadline is not None and time.perf_counter() > deadline) or interrupt.requested():
            break
        if s.convergence and sweep - max(best_sweep, ramped) >= s.convergence:
            break
    # the incremental energies drift by float rounding: report the best state's exact energy
    best_e = float(col.energy(col.values(best)[None, :])[0])
    return Outcome(best=best, best_energy=best_e, best_sweep=best_sweep, final=elite.states(n),
                   sweeps=sweep, moves=n_moves, pair_moves=mv.pairs, kick_moves=mv.kicks,
                   t_min=float(t_min),
                   t_max=float(t_max), floor=float(floor),
                   acceptance=accepted / max(proposed, 1),
                   exchange_rate=swaps / max(swap_tries, 1))


class Elite:
    """The ``size`` lowest-energy distinct states seen (by the QUBO's own energy)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pool: dict[bytes, tuple[float, np.ndarray]] = {}
        self.worst = np.inf

    def offer(self, k: np.ndarray, e: np.ndarray) -> None:
        full = len(self.pool) >= self.size
        for i in np.flatnonzero(e < self.worst) if full else range(len(e)):
            key = k[i].astype(np.int64).tobytes()
            if key in self.pool:
                continue
            self.pool[key] = (float(e[i]), k[i].copy())
            if len(self.pool) > self.size:
                drop = max(self.pool, key=lambda q: self.pool[q][0])
                del self.pool[drop]
            if len(self.pool) >= self.size:
                self.worst = max(v[0] for v in self.pool.values())

    def states(self, n: int) -> np.ndarray:
        ranked = sorted(self.pool.values(), key=lambda v: v[0])
        return np.asarray([v[1] for v in ranked]).reshape(len(ranked), n)
