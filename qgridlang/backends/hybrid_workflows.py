"""Offline dwave-hybrid workflows on the ``qubo`` target: ``pt`` and ``kerberos``.

- ``pt``: parallel tempering built from dwave-hybrid's reference components
  (:mod:`hybrid.reference.pt`: ``SpawnParallelTemperingReplicas`` spaces the replicas'
  inverse temperatures geometrically over dwave-samplers' default beta range,
  ``FixedTemperatureSampler`` runs fixed-temperature annealing on each, ``SwapReplicasDownsweep``
  exchanges neighbours). The reference ``ParallelTempering()`` takes no seed, so the same
  components are assembled here with one seeded random stream per replica and a seeded swap
  step: a run is reproducible when it stops on ``max_iter`` or ``convergence`` (not on the time
  limit, which depends on the machine's speed).
- ``kerberos``: the structure of dwave-hybrid's reference ``Kerberos`` workflow (a race of tabu
  search, simulated annealing and a subproblem sampler on the highest-energy-impact variables,
  ``ArgMin`` of the three, looped), with the QPU subproblem sampler replaced by an offline one
  (``subsampler=sa``: ``SimulatedAnnealingSubproblemSampler``; ``tabu``:
  ``TabuSubproblemSampler``). The seed fixes the initial state and every branch's sampler seed,
  but a race is decided by thread timing (the first branch to finish stops the others), so
  runs are NOT bit-reproducible; say so wherever kerberos numbers are compared.

Both return their final samples (``pt``: the lowest-energy sample any replica held, then
every replica's final state, coldest last; ``kerberos``: the winning state's) as rows over the
BQM's variables in the BQM's order, so the target's ``refine`` step decodes them, re-checks them
against the model and summarises the sample set. dwave-hybrid is imported when a workflow
runs, never when the backends are listed.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from qgridlang import interrupt, progress
from qgridlang.lazy import lazy
from qgridlang.registry import (
    Backend,
    Options,
    choice_option,
    register_backend,
    whole_option,
)
from qgridlang.results import RawResult, Status

dimod = lazy("dimod")  # loaded when a workflow runs (qglc start-up lists backends without it)

_SEED_SPACE = 2**31  # dwave-samplers SA checks 0 <= seed < 2^31 (its message says 2^32)


class _HybridBackend(Backend):
    """Shared run loop: a workflow built per run, started from a seeded random state."""

    target = "qubo"
    REQUIRED_MODULES: ClassVar[tuple[str, ...]] = ("dimod", "dwave.samplers", "hybrid")
    INSTALL_HINT = 'pip install -e ".[quantum]"  (dwave-hybrid)'
    COMMON: ClassVar[frozenset[str]] = frozenset({"seed", "time_limit", "sweeps"})

    def settings(self, options: Options) -> dict[str, Any]:
        raise NotImplementedError

    def workflow(self, settings: dict[str, Any], rng: np.random.Generator, n: int) -> Any:
        raise NotImplementedError

    def samples(self, final: Any) -> list[Any]:
        """The final state(s)' sample sets, in the order they are returned."""
        raise NotImplementedError

    def run(self, artifact: Any, options: Options) -> RawResult:
        import hybrid

        bqm: dimod.BinaryQuadraticModel = artifact
        settings = self.settings(options)
        rng = np.random.default_rng(options.seed)
        binary = bqm.change_vartype("BINARY", inplace=False)
        variables = list(binary.variables)
        start_bits = rng.integers(0, 2, size=len(variables))
        init = hybrid.State.from_sample(dict(zip(variables, start_bits.tolist(), strict=True)),
                                        binary)
        flow = self.workflow(settings, rng, len(variables))
        progress.line(options, self.name, f"{binary.num_variables} binaries, "
                      + ", ".join(f"{k} {v}" for k, v in settings.items() if v is not None))
        begin = time.perf_counter()
        limit = settings.get("max_time")
        deadline = None if limit is None else begin + float(limit)
        with interrupt.watch():
            future = flow.run(init)
            # poll so that Ctrl-C stops the workflow between its iterations (kept: best so far),
            # and the time limit too: the loop itself checks it only after an iteration, and
            # stopping reaches the race's interruptible branches (the subproblem sampler between
            # its reads, the tabu loop) at once (measured: 10 s limits ended at 10.3-12.4 s)
            stopping = False
            while not future.done():
                if interrupt.requested() or (
                        not stopping and deadline is not None and time.perf_counter() > deadline):
                    flow.stop()
                    stopping = True
                time.sleep(0.02)
            stopped = interrupt.requested()
        final = future.result()
        seconds = time.perf_counter() - begin
        sets = self.samples(final)
        merged = dimod.concatenate(sets) if len(sets) > 1 else sets[0]
        merged = merged.change_vartype("BINARY", inplace=False)
        position = {v: k for k, v in enumerate(merged.variables)}
        columns = np.fromiter((position[v] for v in bqm.variables), dtype=np.int64,
                              count=bqm.num_variables)
        bits = np.asarray(merged.record.sample[:, columns], dtype=np.int8)
        energy = np.asarray(bqm.energies((bits, list(bqm.variables))))
        info = {"sampler": f"dwave-hybrid {self.name}", **settings, "seed": options.seed,
                "sampler_seconds": seconds, "reads_in_order": False,
                "stopped_by_time": bool(limit is not None and seconds >= limit)}
        progress.line(options, self.name, f"{len(bits)} samples in {seconds:.2f} s, lowest "
                      f"energy {energy.min():.6g}" + (" (interrupted)" if stopped else ""))
        best = int(np.argmin(energy))
        if stopped:
            return RawResult(Status.INTERRUPTED, x=bits[best], xs=bits, info=info,
                             message="interrupted (Ctrl-C): the best plan so far")
        return RawResult(Status.FEASIBLE, x=bits[best], xs=bits, info=info)


@register_backend
class ParallelTempering(_HybridBackend):
    name = "pt"
    description = ("parallel tempering (dwave-hybrid reference components, seeded); replicas, "
                   "sweeps, max_iter, convergence, seed, time limit")
    OPTIONS: ClassVar[dict[str, str]] = {
        "replicas": "number of replicas / temperatures (integer >= 2, default 10)",
        "max_iter": "update-and-swap iterations at most (integer >= 1, default 100)",
        "convergence": "stop after this many iterations without a colder best energy "
                       "(integer >= 1, default 10)",
    }
    _best: list[Any]  # the lowest-energy sample of a run (set when its workflow is built)

    def settings(self, options: Options) -> dict[str, Any]:
        return {"replicas": whole_option(options, "replicas", 10, 2),
                "sweeps": options.sweeps if options.sweeps is not None else 1000,
                "max_iter": whole_option(options, "max_iter", 100, 1),
                "convergence": whole_option(options, "convergence", 10, 1),
                "max_time": options.time_limit}

    def workflow(self, settings: dict[str, Any], rng: np.random.Generator, n: int) -> Any:
        import hybrid
        from hybrid.reference.pt import (
            FixedTemperatureSampler,
            SpawnParallelTemperingReplicas,
            SwapReplicasDownsweep,
        )

        class SeededReplica(FixedTemperatureSampler):  # type: ignore[misc]
            """A fresh seed on every call from the replica's own stream (the reference
            sampler reuses one seed, or none)."""

            def __init__(self, stream: np.random.Generator, **kw: Any) -> None:
                super().__init__(**kw)
                self.stream = stream

            def next(self, state: Any, **runopts: Any) -> Any:
                runopts["seed"] = int(self.stream.integers(_SEED_SPACE))
                return super().next(state, **runopts)

        best: list[Any] = []
        self._best = best

        class RememberingSwap(SwapReplicasDownsweep):  # type: ignore[misc]
            """The reference swap step, keeping the lowest-energy sample any replica held
            (the final replicas alone can miss it: a cold replica may have moved away)."""

            def next(self, states: Any, **runopts: Any) -> Any:
                for st in states:
                    if not best or st.samples.first.energy < best[0].first.energy:
                        best[:] = [st.samples.truncate(1)]
                return super().next(states, **runopts)

        streams = rng.spawn(settings["replicas"] + 1)
        update = hybrid.Branches(*[SeededReplica(s, num_sweeps=settings["sweeps"])
                                   for s in streams[:-1]])
        swap = RememberingSwap(seed=int(streams[-1].integers(_SEED_SPACE)))

        def coldest(states: Any) -> Any:
            return None if states is None else states[-1].samples.first.energy

        loop = hybrid.Loop(update | swap, max_iter=settings["max_iter"],
                           max_time=settings["max_time"], convergence=settings["convergence"],
                           key=coldest)
        return SpawnParallelTemperingReplicas(num_replicas=settings["replicas"]) | loop

    def samples(self, final: Any) -> list[Any]:
        return [*self._best, *(s.samples for s in final)]


@register_backend
class Kerberos(_HybridBackend):
    name = "kerberos"
    description = ("Kerberos-style race of tabu, SA and an offline subproblem sampler "
                   "(dwave-hybrid); not bit-reproducible")
    OPTIONS: ClassVar[dict[str, str]] = {
        "max_iter": "race iterations at most (integer >= 1, default 100)",
        "convergence": "stop after this many iterations without improvement "
                       "(integer >= 1, default 3)",
        "subsampler": "the subproblem branch's sampler: sa or tabu (default sa)",
        "subproblem_size": "variables per subproblem (energy impact, bfs; integer >= 1, "
                           "default 50)",
        "sub_reads": "reads of the subproblem sampler (integer >= 1, default 100)",
        "tabu_timeout": "tabu branch: ms per uninterruptible tabu run (integer >= 1, "
                        "default 500)",
    }

    def settings(self, options: Options) -> dict[str, Any]:
        return {"max_iter": whole_option(options, "max_iter", 100, 1),
                "convergence": whole_option(options, "convergence", 3, 1),
                "subsampler": choice_option(options, "subsampler", "sa", ("sa", "tabu")),
                "subproblem_size": whole_option(options, "subproblem_size", 50, 1),
                "sub_reads": whole_option(options, "sub_reads", 100, 1),
                "tabu_timeout": whole_option(options, "tabu_timeout", 500, 1),
                "sweeps": options.sweeps if options.sweeps is not None else 10000,
                "max_time": options.time_limit}

    def workflow(self, settings: dict[str, Any], rng: np.random.Generator, n: int) -> Any:
        import hybrid

        def draw() -> int:
            return int(rng.integers(_SEED_SPACE))

        # the reference's branches take no seed: the same samplers, seeded on every call
        class SeededSA(hybrid.SimulatedAnnealingProblemSampler):  # type: ignore[misc]
            def next(self, state: Any, **runopts: Any) -> Any:
                samples = self.sampler.sample(
                    state.problem, num_reads=self.num_reads, num_sweeps=self.num_sweeps,
                    initial_states=state.samples,
                    initial_states_generator=self.initial_states_generator, seed=draw(),
                    interrupt_function=lambda: self._stop_event.is_set())
                return state.updated(samples=samples)

        class SeededTabu(hybrid.TabuProblemSampler):  # type: ignore[misc]
            def next(self, state: Any, **runopts: Any) -> Any:
                samples = self.sampler.sample(
                    state.problem, initial_states=state.samples,
                    initial_states_generator=self.initial_states_generator,
                    tenure=self.tenure, timeout=self.timeout, num_reads=self.num_reads,
                    seed=draw())
                return state.updated(samples=samples)

        def current(state: Any) -> tuple[np.ndarray, list[Any]]:
            """The state's best sample on the subproblem's variables. The reference samplers
            start from ``state.subsamples``, which after an iteration the subproblem branch
            won still hold the PREVIOUS subproblem's variables (measured: "mismatch between
            variables in 'initial_states' and 'bqm'" on the 4x6 UC model)."""
            labels = list(state.subproblem.variables)
            first = state.samples.first.sample
            return np.array([[first[v] for v in labels]], dtype=np.int8), labels

        class SeededSubSA(hybrid.SimulatedAnnealingSubproblemSampler):  # type: ignore[misc]
            def next(self, state: Any, **runopts: Any) -> Any:
                subsamples = self.sampler.sample(
                    state.subproblem, num_reads=self.num_reads, num_sweeps=self.num_sweeps,
                    initial_states=current(state),
                    initial_states_generator=self.initial_states_generator, seed=draw(),
                    interrupt_function=lambda: self._stop_event.is_set())
                return state.updated(subsamples=subsamples)

        class SeededSubTabu(hybrid.TabuSubproblemSampler):  # type: ignore[misc]
            def next(self, state: Any, **runopts: Any) -> Any:
                subsamples = self.sampler.sample(
                    state.subproblem, initial_states=current(state),
                    initial_states_generator=self.initial_states_generator,
                    tenure=self.tenure, timeout=self.timeout, num_reads=self.num_reads,
                    seed=draw())
                return state.updated(subsamples=subsamples)

        sub = (SeededSubSA(num_reads=settings["sub_reads"], num_sweeps=1000)
               if settings["subsampler"] == "sa"
               else SeededSubTabu(num_reads=settings["sub_reads"], timeout=100))
        iteration = hybrid.Race(
            hybrid.BlockingIdentity(),
            hybrid.Loop(SeededTabu(timeout=settings["tabu_timeout"])),  # interruptable tabu
            SeededSA(num_reads=1, num_sweeps=settings["sweeps"]),
            hybrid.EnergyImpactDecomposer(size=min(settings["subproblem_size"], n), rolling=True,
                                          rolling_history=0.3, traversal="bfs")
            | sub | hybrid.SplatComposer(),
        ) | hybrid.ArgMin()
        return hybrid.Loop(iteration, max_iter=settings["max_iter"],
                           max_time=settings["max_time"], convergence=settings["convergence"])

    def samples(self, final: Any) -> list[Any]:
        return [final.samples]
