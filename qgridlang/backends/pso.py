"""Binary particle swarm optimisation on the ``qubo`` target: backend ``pso``.

The classical baseline of the rural-microgrid paper (SPECS §D2): a global-best binary PSO in
the inertia form, run on the same penalised QUBO as the other samplers (its fitness is the BQM
energy, penalties included)::

    v <- w v + c1 r1 (pbest - x) + c2 r2 (gbest - x),   |v| <= vmax
    x_i = 1 with probability sigmoid(v_i)                (Kennedy & Eberhart's binary PSO)

Defaults are the paper's settings: 50 particles, 200 iterations, w = 0.6, c1 = c2 = 1.4, and
(not given in the paper, SPECS §D2 [s]) a sigmoid transfer with vmax = 4.

Written here rather than taken from pyswarms: pyswarms' ``BinaryPSO`` (last release 1.3.0,
January 2021) uses a ring (local-best) topology with extra ``k``/``p`` options rather than the
paper's global best, has no seed argument (it draws from numpy's global state), and pulls in
matplotlib, tqdm, attrs, future and pyyaml. The loop below is a few vectorised numpy lines.

Every particle's best position is returned as a row of ``RawResult.xs`` in the BQM's variable
order (particle order, so ``reads_in_order`` is false), and the target's ``refine`` step decodes
and re-checks each of them, exactly as for ``sa``/``tabu``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from qgridlang import interrupt, progress
from qgridlang.lazy import lazy
from qgridlang.registry import (
    Backend,
    Options,
    number_option,
    register_backend,
    whole_option,
)
from qgridlang.results import RawResult, Status

dimod = lazy("dimod")  # loaded when the backend runs, not when it is listed (qglc start-up)
sparse = lazy("scipy.sparse")


@dataclass(frozen=True)
class PsoSettings:
    """The swarm's settings (validated by :meth:`from_options`)."""

    particles: int = 50
    iterations: int = 200
    inertia: float = 0.6
    c1: float = 1.4
    c2: float = 1.4
    vmax: float = 4.0
    seed: int | None = None
    time_limit: float | None = None

    @classmethod
    def from_options(cls, options: Options) -> PsoSettings:
        d = cls()
        return cls(particles=whole_option(options, "particles", d.particles, 2),
                   iterations=whole_option(options, "iterations", d.iterations, 1),
                   inertia=number_option(options, "inertia", d.inertia, 0.0),
                   c1=number_option(options, "c1", d.c1, 0.0),
                   c2=number_option(options, "c2", d.c2, 0.0),
                   vmax=number_option(options, "vmax", d.vmax, 0.0, strict=True),
                   seed=options.seed, time_limit=options.time_limit)


class BatchEnergy:
    """Energies of many bit rows at once: ``x·h + rowwise(x Q x) + offset``.

    Q is the BQM's upper-triangular quadratic part as a CSR matrix. Measured on the QUBO of
    examples/microgrid/microgrid_qubo_day.qgl (886 bits, 39,020 couplings), 50 rows a batch,
    with the machine's two cores busy: 3.4 ms here against 11.9 ms for dimod's
    ``bqm.energies`` (which also maps the columns to the labels each call).
    """

    def __init__(self, bqm: dimod.BinaryQuadraticModel) -> None:
        linear, (row, col, quad), offset = bqm.to_numpy_vectors(bqm.variables)
        n = bqm.num_variables
        self.h = np.asarray(linear, dtype=np.float64)
        self.q = sparse.csr_matrix((np.asarray(quad, dtype=np.float64), (row, col)), shape=(n, n))
        self.offset = float(offset)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        xf = np.asarray(x, dtype=np.float64)
        return xf @ self.h + np.einsum("ij,ij->i", np.asarray(self.q.T.dot(xf.T).T), xf) \
            + self.offset


def binary_pso(energy: BatchEnergy, n: int, s: PsoSettings,
               stop: Any = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Run the swarm: ``(pbest rows, their energies, iterations done)``.

    ``stop()`` is polled once an iteration (time limit, Ctrl-C); the swarm keeps what it found.
    """
    rng = np.random.default_rng(s.seed)
    x = rng.random((s.particles, n)) < 0.5
    v = rng.uniform(-s.vmax, s.vmax, (s.particles, n))
    e = energy(x)
    pbest, pbest_e = x.copy(), e.copy()
    g = int(np.argmin(pbest_e))
    done = 0
    for _ in range(s.iterations):
        if stop is not None and stop():
            break
        r1 = rng.random((s.particles, n))
        r2 = rng.random((s.particles, n))
        xi = x.astype(np.float64)
        v = (s.inertia * v + s.c1 * r1 * (pbest - xi)
             + s.c2 * r2 * (pbest[g].astype(np.float64) - xi))
        np.clip(v, -s.vmax, s.vmax, out=v)
        x = rng.random((s.particles, n)) < 1.0 / (1.0 + np.exp(-v))
        e = energy(x)
        better = e < pbest_e
        pbest[better], pbest_e[better] = x[better], e[better]
        g = int(np.argmin(pbest_e))
        done += 1
    return pbest.astype(np.int8), pbest_e, done


@register_backend
class BinaryPso(Backend):
    name = "pso"
    target = "qubo"
    description = ("binary particle swarm (global best, inertia form, sigmoid transfer); "
                   "particles, iterations, inertia, c1, c2, vmax, seed, time limit")
    REQUIRED_MODULES: ClassVar[tuple[str, ...]] = ("dimod", "scipy")
    COMMON: ClassVar[frozenset[str]] = frozenset({"seed", "time_limit"})
    OPTIONS: ClassVar[dict[str, str]] = {
        "particles": "swarm size (integer >= 2, default 50)",
        "iterations": "iterations (integer >= 1, default 200)",
        "inertia": "inertia weight w (>= 0, default 0.6)",
        "c1": "cognitive learning factor (>= 0, default 1.4)",
        "c2": "social learning factor (>= 0, default 1.4)",
        "vmax": "velocity clamp |v| <= vmax (> 0, default 4)",
    }

    def run(self, artifact: Any, options: Options) -> RawResult:
        bqm: dimod.BinaryQuadraticModel = artifact
        s = PsoSettings.from_options(options)
        n = bqm.num_variables
        progress.line(options, self.name, f"{s.particles} particles x {s.iterations} iterations "
                      f"on {n} binaries")
        start = time.perf_counter()
        deadline = None if s.time_limit is None else start + s.time_limit
        energy = BatchEnergy(bqm)
        with interrupt.watch():
            rows, energies, done = binary_pso(energy, n, s, stop=lambda: interrupt.requested() or (
                deadline is not None and time.perf_counter() > deadline))
            stopped = interrupt.requested()
        seconds = time.perf_counter() - start
        progress.line(options, self.name, f"{done} iterations in {seconds:.2f} s, lowest energy "
                      f"{energies.min():.6g}" + (" (interrupted)" if stopped else ""))
        info = {"sampler": "binary PSO", "particles": s.particles, "iterations": s.iterations,
                "iterations_done": done, "inertia": s.inertia, "c1": s.c1, "c2": s.c2,
                "vmax": s.vmax, "seed": s.seed, "sampler_seconds": seconds,
                "reads_in_order": False}
        best = int(np.argmin(energies))
        if stopped:
            return RawResult(Status.INTERRUPTED, x=rows[best], xs=rows, info=info,
                             message=f"interrupted (Ctrl-C) after {done} of {s.iterations} "
                                     "iterations: the best plan so far")
        return RawResult(Status.FEASIBLE, x=rows[best], xs=rows, info=info)
