"""The ``qubo`` target: a checked model as a dimod BQM, and the post-step every sampler shares.

Lowering, inversion and the report are :mod:`qgridlang.compilers.qubo`'s. What this module adds
is the part a QUBO backend cannot do alone because it needs the model: :meth:`QuboTarget.refine`
decodes every sample (vectorised), re-checks it against the ORIGINAL model rows, summarises the
sample set (energies, feasibility rate, the first feasible read), and, when asked
(``Options.extra["penalty_retune"] = N``), re-lowers with the weights of the constraints the
lowest-energy sample breaks multiplied (:func:`qubo.retune`) and samples again, up to ``N`` times.

Options read from ``Options.extra``: ``inequality`` (``slack`` or ``unbalanced``),
``penalty_margin`` (auto weights are ``1 + margin`` times their bound), ``penalty_retune``
(extra runs) and ``penalty_factor`` (the multiplier per retuning round, default 2).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np

from qgridlang import progress
from qgridlang.errors import UsageError
from qgridlang.flat import FlatModel
from qgridlang.lazy import lazy
from qgridlang.registry import Backend, Options, Target, register_target
from qgridlang.results import RawResult, Status
from qgridlang.targets.feasibility import feasible_rows

# loaded when a model is lowered, not when the registry lists this target (qglc start-up)
dimod = lazy("dimod")
qubo = lazy("qgridlang.compilers.qubo")

if TYPE_CHECKING:
    from qgridlang.dispatcher import Compiled


@register_target
class QuboTarget(Target):
    name = "qubo"
    description = "binary quadratic model (dimod) with auto penalties that keep the optimum"
    REQUIRED_MODULES = ("dimod",)
    EXPORTS = (".json", ".coo", ".lp")
    OPTIONS: ClassVar[dict[str, str]] = {
        "inequality": "slack (exact, extra bits) or unbalanced (no slack bits); default slack",
        "penalty_margin": "auto weights are 1 + margin times their bound (default 0.1)",
        "penalty_scale": "multiply every penalty weight (> 0, default 1)",
        "penalty_retune": "solve: up to N re-lowerings raising broken rows' weights (0)",
        "penalty_factor": "solve: the weight multiplier per retune round (> 1, default 2)",
        "repair": "solve: move the N lowest-energy infeasible distinct samples to the nearest "
                  "feasible grid point (marked in info.repair; default 0: no repair)",
        "repair_time": "solve: HiGHS time limit per repair in seconds (default 5)",
    }
    SOLVE_OPTIONS = frozenset({"penalty_retune", "penalty_factor", "repair", "repair_time"})

    def apply(self, flat: FlatModel, options: Options
              ) -> tuple[dimod.BinaryQuadraticModel, qubo.QuboInverse]:
        return lower(flat, options)

    def invert(self, x: np.ndarray, inverse: Any) -> np.ndarray:
        return np.asarray(qubo.invert(np.asarray(x).ravel(), inverse))

    def export(self, artifact: Any, path: Path) -> None:
        write_bqm(artifact, path)

    def report(self, artifact: Any, inverse: Any) -> dict[str, Any]:
        out: dict[str, Any] = qubo.report(inverse).to_dict()
        out["energy_offset"] = float(artifact.offset)
        return out

    def refine(self, raw: RawResult, compiled: Compiled, flat: FlatModel, backend: Backend,
               options: Options) -> RawResult:
        """Summarise the samples in model terms; retune penalties while none is feasible.

        A backend that returns ``Status.OPTIMAL`` claims its samples hold a ground state of the
        BQM (``exact``); the plan is then reported optimal when the lowering is certified.
        """
        from qgridlang.dispatcher import run_backend

        if raw.xs is None or not len(raw.xs):
            return raw
        bqm, inverse = compiled.artifact, compiled.inverse
        summary, feasible = summarize(raw, bqm, inverse, flat)
        samples, ok, raws, summaries = [raw.xs], [feasible], [raw], [summary]
        bqms = [bqm]
        rounds: list[dict[str, Any]] = []
        limit = int(options.extra.get("penalty_retune", 0))
        factor = float(options.extra.get("penalty_factor", 2.0))
        while not feasible.any() and len(rounds) < limit and raw.status != Status.INTERRUPTED:
            lowest = np.asarray(raw.xs)[int(np.argmin(_energies(bqm, raw.xs)))]
            broken = [v.label for v in flat.violations(self.invert(lowest, inverse))]
            weights = qubo.retune(inverse, broken, factor)
            if not weights or weights == _overrides(inverse):
                break  # nothing penalised is broken: raising weights cannot help
            bqm, inverse = lower(flat, options, weights)
            raw = run_backend(backend, bqm, inverse, flat, options)
            if raw.xs is None:
                break
            stats, feasible = summarize(raw, bqm, inverse, flat)
            rounds.append({"round": len(rounds) + 1, "weights": weights, **stats})
            progress.line(options, "retune", f"round {len(rounds)}: {len(weights)} raised "
                          f"weights, feasible rate {stats['feasible_rate']:.3g}")
            samples.append(raw.xs)
            bqms.append(bqm)
            ok.append(feasible)
            raws.append(raw)
            summaries.append(stats)
        # the plan comes from one round, and the summary must be that round's (it used to be
        # the first round's: "feasible_rate 0.0" beside a feasible plan found in round 3)
        k = len(samples) - 1 if feasible.any() else _least_violated_round(flat, samples, inverse)
        result = _result(raws[k], {**summaries[k], "round": k}, rounds, np.asarray(samples[k]),
                         ok[k], inverse)
        n_repair = int(options.extra.get("repair", 0))
        if n_repair > 0:
            result = repair(result, np.asarray(samples[k]), ok[k], bqms[k], inverse, flat,
                            n_repair, options)
        if k != 0:
            result.info["sampleset_initial"] = {**summary, "round": 0}
        if raw.status == Status.INTERRUPTED:  # Ctrl-C in the last run: say so, keep the plan
            result.status, result.message = Status.INTERRUPTED, raw.message
        return result


def lowering_options() -> dict[str, str]:
    """The qubo target's options that shape the BQM (for targets that lower the same way)."""
    return {k: v for k, v in QuboTarget.OPTIONS.items() if k not in QuboTarget.SOLVE_OPTIONS}


def lower(flat: FlatModel, options: Options, penalties: dict[str, float] | None = None
          ) -> tuple[dimod.BinaryQuadraticModel, qubo.QuboInverse]:
    """``qubo.apply`` with the options of ``Options.extra``; ``penalty_scale`` multiplies every
    weight the model would get (auto, its own numbers) before ``penalties`` override them."""
    scale = float(options.extra.get("penalty_scale", 1.0))
    if scale <= 0:
        raise UsageError(f"penalty_scale must be positive, got {scale:g}")
    if scale != 1.0 and not penalties:
        _, inverse = qubo.apply(flat, qubo_options(options))
        penalties = {n: scale * p.weight for n, p in qubo.report(inverse).penalties.items()}
    lowered: tuple[dimod.BinaryQuadraticModel, qubo.QuboInverse] = qubo.apply(
        flat, qubo_options(options, penalties))
    return lowered


def qubo_options(options: Options, penalties: dict[str, float] | None = None
                 ) -> qubo.QuboOptions:
    """The lowering's options from ``Options.extra`` (plus per-constraint weights)."""
    base = qubo.QuboOptions()
    extra = options.extra
    return replace(
        base,
        inequality=cast(Any, str(extra.get("inequality", base.inequality))),
        margin=float(extra.get("penalty_margin", base.margin)),
        penalties=tuple((penalties or {}).items()),
    )


def write_bqm(bqm: dimod.BinaryQuadraticModel, path: Path) -> None:
    """``.json``: dimod's serialisable form; ``.coo``: COO text; ``.lp``: a binary LP."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        text = json.dumps(bqm.to_serializable())
    elif suffix == ".coo":
        text = qubo.to_coo_text(bqm)
    elif suffix == ".lp":
        text = qubo.to_lp_text(bqm)
    else:
        raise UsageError(f"the qubo target writes .json, .coo or .lp files, not '{suffix}'",
                         hint="e.g. -o model.bqm.json")
    Path(path).write_text(text, encoding="utf-8")


def summarize(raw: RawResult, bqm: dimod.BinaryQuadraticModel, inverse: qubo.QuboInverse,
              flat: FlatModel) -> tuple[dict[str, Any], np.ndarray]:
    """Sample-set facts in model terms, and the feasibility of every sample.

    Returns:
        ``samples``, ``energy_min``/``energy_mean`` (QUBO energy, penalties included),
        ``feasible_rate``, the best feasible ``objective`` (model units), and, when the backend
        returned its reads in order (``raw.info["reads_in_order"]``), ``first_feasible_read``
        (1-based) and ``time_to_first_feasible_s`` (sampling time per read times that count).
    """
    bits = np.asarray(raw.xs)
    energy = _energies(bqm, bits)
    x = qubo.invert(bits, inverse)
    feasible = feasible_rows(flat, x)
    out: dict[str, Any] = {
        "samples": len(bits), "energy_min": float(energy.min()),
        "energy_mean": float(energy.mean()), "feasible_rate": float(feasible.mean()),
        "objective": _best_objective(flat, x[feasible]),
    }
    if raw.info.get("reads_in_order"):
        hit = np.flatnonzero(feasible)
        first = int(hit[0]) + 1 if len(hit) else None
        per_read = float(raw.info.get("sampler_seconds", 0.0)) / len(bits)
        out["first_feasible_read"] = first
        out["time_to_first_feasible_s"] = per_read * first if first else None
    return out, feasible


def _energies(bqm: dimod.BinaryQuadraticModel, bits: np.ndarray) -> np.ndarray:
    return np.asarray(bqm.energies((np.asarray(bits), list(bqm.variables))))


def _best_objective(flat: FlatModel, x: np.ndarray) -> float | None:
    if not len(x):
        return None
    i, j, v = flat.Q
    values = x @ flat.c + (x[:, i] * x[:, j]) @ v + flat.obj_const
    return float(values.min() if flat.sense == "min" else values.max())


def _overrides(inverse: qubo.QuboInverse) -> dict[str, float]:
    return {n: p.weight for n, p in qubo.report(inverse).penalties.items()
            if p.source == "override"}


def _least_violated_round(flat: FlatModel, samples: list[np.ndarray],
                           inverse: qubo.QuboInverse) -> int:
    """The round holding the sample the dispatcher would show when none is feasible."""
    from qgridlang.dispatcher import best_candidate

    tags = np.concatenate([np.full(len(s), r) for r, s in enumerate(samples)])
    rows, first = np.unique(np.vstack(samples), axis=0, return_index=True)
    return int(tags[first[best_candidate(flat, list(qubo.invert(rows, inverse)))]])


def _result(raw: RawResult, summary: dict[str, Any], rounds: list[dict[str, Any]],
            samples: np.ndarray, feasible: np.ndarray, inverse: qubo.QuboInverse) -> RawResult:
    """The dispatcher's candidates: the distinct feasible samples, else every distinct one."""
    info = {**raw.info, "sampleset": summary}
    if rounds:
        info["penalty_retune"] = rounds
    pool = samples[feasible] if feasible.any() else samples
    candidates = np.unique(pool, axis=0)
    exact = raw.status == Status.OPTIMAL and _certified(inverse)
    if not feasible.any() and exact:
        return RawResult(Status.INFEASIBLE, xs=candidates, info=info,
                         message="the exact ground state breaks constraints although every "
                                 "penalty is above its bound: no plan on the grid is feasible")
    if not feasible.any():
        return RawResult(Status.ERROR, xs=candidates, info=info,
                         message="no sample decodes to a feasible plan; the least violated is "
                                 "shown (try more reads or sweeps, or "
                                 "--option penalty_retune=3)")
    return RawResult(Status.OPTIMAL if exact else Status.FEASIBLE, xs=candidates, info=info,
                     message=raw.message)


def repair(result: RawResult, samples: np.ndarray, feasible: np.ndarray,
           bqm: dimod.BinaryQuadraticModel, inverse: qubo.QuboInverse, flat: FlatModel,
           limit: int, options: Options) -> RawResult:
    """Add repaired copies of the ``limit`` lowest-energy infeasible distinct samples to the
    candidates (:func:`qubo_repair.nearest_feasible`), and say whether the plan the dispatcher
    will pick is one of them. The raw sample set's summary is left as it was."""
    from qgridlang.compilers.qubo_repair import nearest_feasible
    from qgridlang.dispatcher import best_candidate

    try:
        seconds_each = float(options.extra.get("repair_time", 5.0))
    except (TypeError, ValueError):
        raise UsageError("repair_time must be a number of seconds") from None
    bad = np.unique(samples[~feasible], axis=0)
    energy = _energies(bqm, bad) if len(bad) else np.zeros(0)
    chosen = bad[np.argsort(energy, kind="stable")[:limit]]
    fixed, moved, failed, spent = [], [], 0, 0.0
    for row in chosen:
        rep = nearest_feasible(flat, inverse, qubo.invert(row, inverse), seconds_each)
        spent += rep.seconds
        if rep.x is None or flat.violations(rep.x):
            failed += 1
            continue
        fixed.append(qubo.encode_point(rep.x, inverse))
        moved.append((rep.steps, rep.columns))
    raw_pool = np.asarray(result.xs) if feasible.any() else np.zeros((0, samples.shape[1]))
    info = dict(result.info)
    stats: dict[str, Any] = {"asked": limit, "tried": len(chosen), "repaired": len(fixed),
                             "failed": failed, "seconds": spent, "plan_repaired": False}
    if moved:
        stats["steps_mean"] = float(np.mean([m[0] for m in moved]))
        stats["columns_mean"] = float(np.mean([m[1] for m in moved]))
    if not fixed:
        info["repair"] = stats
        return RawResult(result.status, x=result.x, xs=result.xs, info=info,
                         message=result.message)
    pool = np.vstack([raw_pool, np.asarray(fixed, dtype=np.int8)]) if len(raw_pool) \
        else np.asarray(fixed, dtype=np.int8)
    pick = best_candidate(flat, list(qubo.invert(pool, inverse)))
    stats["plan_repaired"] = bool(pick >= len(raw_pool))
    stats["objective_repaired"] = _best_objective(flat, qubo.invert(np.asarray(fixed), inverse))
    info["repair"] = stats
    message = result.message
    if stats["plan_repaired"]:
        message = (f"the plan was REPAIRED: a sample's decoded plan moved to the nearest feasible "
                   f"grid point ({len(fixed)} of {len(chosen)} repaired; the raw samples' numbers "
                   f"are in info.sampleset)")
    status = Status.FEASIBLE if result.status in (Status.ERROR, Status.OPTIMAL) else result.status
    if result.status == Status.OPTIMAL and not stats["plan_repaired"]:
        status = Status.OPTIMAL
    return RawResult(status, xs=pool, info=info, message=message)


def _certified(inverse: qubo.QuboInverse) -> bool:
    """An exact ground state is the model's optimum when every penalty keeps the guarantee and
    no variable was put on a coarser grid than its own."""
    rep = qubo.report(inverse)
    return not rep.discretisation and all(p.guaranteed for p in rep.penalties.values())
