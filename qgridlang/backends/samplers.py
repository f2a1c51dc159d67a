"""Classical samplers for the ``qubo`` target: ``sa``, ``tabu``, ``steepest`` (dwave-samplers),
``exact`` and ``random`` (dimod).

Each returns every sample, as rows over the BQM's variables in the BQM's order, in
``RawResult.xs``; the target's ``refine`` step decodes them, checks them against the model and
summarises the sample set, and the dispatcher keeps the best feasible plan.

Common options: ``reads`` (``num_reads``), ``sweeps`` (``num_sweeps``, ``sa`` only), time limit
(``sa``: stop between reads; ``tabu``: split over the reads as its per-read ``timeout``) and
``seed``. Each may also come through ``Options.extra`` (``--option reads=500``).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from qgridlang import interrupt, progress
from qgridlang.errors import UsageError
from qgridlang.lazy import lazy
from qgridlang.registry import Backend, Options, register_backend
from qgridlang.results import RawResult, Status

dimod = lazy("dimod")  # loaded when a backend runs, not when it is listed (qglc start-up)

EXACT_MAX_BINARIES = 24
SA_SEED_LIMIT = 2**31  # dwave-samplers' SimulatedAnnealingSampler: 0 <= seed < 2^31


class SamplerBackend(Backend):
    """A dimod sampler on the ``qubo`` target (subclasses name the sampler and its knobs)."""

    target = "qubo"
    REQUIRED_MODULES: ClassVar[tuple[str, ...]] = ("dimod", "dwave.samplers")
    DEFAULT_READS: ClassVar[int] = 100
    COMMON: ClassVar[frozenset[str]] = frozenset({"reads", "seed"})
    READS_IN_ORDER: ClassVar[bool] = True  # sample rows are reads in the order they were made
    STATUS: ClassVar[Status] = Status.FEASIBLE  # a heuristic proves nothing
    INTERRUPTIBLE: ClassVar[bool] = False  # polls interrupt.requested() (Ctrl-C keeps the reads)

    def sampler(self) -> Any:
        raise NotImplementedError

    def parameters(self, bqm: dimod.BinaryQuadraticModel, options: Options) -> dict[str, Any]:
        """Keyword arguments of ``sampler().sample`` (JSON-ready: they go into the info)."""
        return {"num_reads": _option(options, "reads", self.DEFAULT_READS),
                "seed": _option(options, "seed", None)}

    def run(self, artifact: Any, options: Options) -> RawResult:
        bqm: dimod.BinaryQuadraticModel = artifact
        params = self.parameters(bqm, options)
        sampler = self.sampler()
        what = f"{params['num_reads']} reads" if "num_reads" in params else "every state"
        progress.line(options, self.name, f"sampling {what} of {bqm.num_variables} binaries")
        start = time.perf_counter()
        if self.INTERRUPTIBLE:
            with interrupt.watch():
                sampleset = self.sample(sampler, bqm, params, options)
        else:
            sampleset = self.sample(sampler, bqm, params, options)
        seconds = time.perf_counter() - start
        energy = np.asarray(sampleset.record.energy)
        stopped = self.INTERRUPTIBLE and interrupt.requested()
        progress.line(options, self.name, f"{len(energy)} reads in {seconds:.2f} s"
                      + (f", lowest energy {energy.min():.6g}" if len(energy) else "")
                      + (" (interrupted)" if stopped else ""))
        if stopped and not len(energy):
            return RawResult(Status.INTERRUPTED, info={"sampler_seconds": seconds},
                             message="interrupted (Ctrl-C) before the first read finished")
        keep = self.keep(energy)
        bits = bqm_order(sampleset, bqm, keep)
        info = {"sampler": type(sampler).__name__, **params, "sampler_seconds": seconds,
                "reads_in_order": self.READS_IN_ORDER}
        best = int(np.argmin(energy[keep]))
        if stopped:
            info["reads_done"] = len(energy)
            return RawResult(Status.INTERRUPTED, x=bits[best], xs=bits, info=info,
                             message=f"interrupted (Ctrl-C) after {len(energy)} of "
                                     f"{params.get('num_reads')} reads: the best plan so far")
        return RawResult(self.STATUS, x=bits[best], xs=bits, info=info)

    def sample(self, sampler: Any, bqm: dimod.BinaryQuadraticModel, params: dict[str, Any],
               options: Options) -> dimod.SampleSet:
        return sampler.sample(bqm, **params, **self.hooks(options))

    def keep(self, energy: np.ndarray) -> np.ndarray:
        """Which samples to return (all of them, in order)."""
        return np.ones(len(energy), dtype=bool)

    def hooks(self, options: Options) -> dict[str, Any]:
        """Non-JSON sampler arguments (callbacks), kept out of the info."""
        return {}


def bqm_order(sampleset: dimod.SampleSet, bqm: dimod.BinaryQuadraticModel,
              rows: np.ndarray) -> np.ndarray:
    """The chosen sample rows with their columns in ``bqm.variables``' order (int8)."""
    position = {v: k for k, v in enumerate(sampleset.variables)}
    columns = np.fromiter((position[v] for v in bqm.variables), dtype=np.int64,
                          count=bqm.num_variables)
    return np.asarray(sampleset.record.sample[rows][:, columns], dtype=np.int8)


def _option(options: Options, name: str, default: Any) -> Any:
    value = getattr(options, name)
    return value if value is not None else options.extra.get(name, default)


@register_backend
class SimulatedAnnealing(SamplerBackend):
    name = "sa"
    description = "simulated annealing (dwave-samplers); reads, sweeps, seed, time limit"
    COMMON = frozenset({"reads", "sweeps", "seed", "time_limit"})
    INTERRUPTIBLE = True
    # reads per sampler call: the sampler prepares every read before the first one runs
    # (measured: 26 s for 100,000 reads of 460 binaries), and Ctrl-C is seen between reads only
    CHUNK: ClassVar[int] = 1000

    def sample(self, sampler: Any, bqm: dimod.BinaryQuadraticModel, params: dict[str, Any],
               options: Options) -> dimod.SampleSet:
        reads = int(params["num_reads"])
        if reads <= self.CHUNK:
            return super().sample(sampler, bqm, params, options)
        hooks = self.hooks(options)
        sets: list[dimod.SampleSet] = []
        while (done := sum(len(s) for s in sets)) < reads and not (
                sets and hooks["interrupt_function"]()):
            seed = params.get("seed")
            part = {**params, "num_reads": min(self.CHUNK, reads - done),
                    "seed": None if seed is None else (int(seed) + len(sets)) % SA_SEED_LIMIT}
            sets.append(sampler.sample(bqm, **part, **hooks))
        return dimod.concatenate(sets)

    def sampler(self) -> Any:
        from dwave.samplers import SimulatedAnnealingSampler

        return SimulatedAnnealingSampler()  # type: ignore[no-untyped-call]

    def parameters(self, bqm: dimod.BinaryQuadraticModel, options: Options) -> dict[str, Any]:
        params = {**super().parameters(bqm, options),
                  "num_sweeps": int(_option(options, "sweeps", 1000))}
        seed = params.get("seed")
        if seed is not None and not 0 <= int(seed) < SA_SEED_LIMIT:
            # dwave-samplers' SA takes seeds below 2^31 (it used to be an internal error)
            raise UsageError(f"the sa backend takes seeds from 0 to {SA_SEED_LIMIT - 1}, got "
                             f"{seed}", None, "--seed 1")
        return params

    def hooks(self, options: Options) -> dict[str, Any]:
        # called between reads: Ctrl-C (interrupt.watch) or the time limit ends the run there
        limit = _option(options, "time_limit", None)
        deadline = None if limit is None else time.perf_counter() + float(limit)
        return {"interrupt_function": lambda: interrupt.requested() or (
            deadline is not None and time.perf_counter() > deadline)}


@register_backend
class Tabu(SamplerBackend):
    name = "tabu"
    description = "tabu search (dwave-samplers); reads, seed, time limit split over the reads"
    DEFAULT_READS = 10
    COMMON = frozenset({"reads", "seed", "time_limit"})

    def sampler(self) -> Any:
        from dwave.samplers import TabuSampler

        return TabuSampler()  # type: ignore[no-untyped-call]

    def parameters(self, bqm: dimod.BinaryQuadraticModel, options: Options) -> dict[str, Any]:
        params = super().parameters(bqm, options)
        limit = _option(options, "time_limit", None)
        reads = int(params["num_reads"])
        per_read_ms = 20 if limit is None else max(1, int(1000 * float(limit) / reads))
        return {**params, "timeout": per_read_ms}


@register_backend
class SteepestDescent(SamplerBackend):
    name = "steepest"
    description = "steepest descent from random states (dwave-samplers); reads, seed"

    def sampler(self) -> Any:
        from dwave.samplers import SteepestDescentSolver

        return SteepestDescentSolver()  # type: ignore[no-untyped-call]


@register_backend
class RandomBaseline(SamplerBackend):
    name = "random"
    description = "uniformly random bit strings (dimod): the baseline; reads, seed"
    REQUIRED_MODULES = ("dimod",)

    def sampler(self) -> Any:
        return dimod.RandomSampler()  # type: ignore[no-untyped-call]


@register_backend
class Exact(SamplerBackend):
    name = "exact"
    description = f"every bit string (dimod ExactSolver), up to {EXACT_MAX_BINARIES} binaries"
    REQUIRED_MODULES = ("dimod",)
    READS_IN_ORDER = False
    STATUS = Status.OPTIMAL
    COMMON = frozenset({"seed"})  # every state is enumerated once: no reads, no randomness

    def sampler(self) -> Any:
        return dimod.ExactSolver()  # type: ignore[no-untyped-call]

    def parameters(self, bqm: dimod.BinaryQuadraticModel, options: Options) -> dict[str, Any]:
        return {}

    def run(self, artifact: Any, options: Options) -> RawResult:
        n = artifact.num_variables
        if n > EXACT_MAX_BINARIES:  # the user's choice of backend, not a failure: exit 2
            raise UsageError(
                f"the exact backend enumerates all 2^n states; this QUBO has {n} binaries "
                f"(at most {EXACT_MAX_BINARIES})", None,
                "use a heuristic sampler: --backend sa (or tabu)")
        raw = super().run(artifact, options)
        raw.info["states"] = 2**n
        return raw

    def keep(self, energy: np.ndarray) -> np.ndarray:
        """Only the ground states: every state was enumerated."""
        low = float(energy.min())
        return np.asarray(energy <= low + 1e-9 * max(1.0, abs(low)))
