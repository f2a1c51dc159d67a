"""The ``dwave`` target (a QUBO minor-embedded into a D-Wave topology: the pre-flight of a QPU
run) and the ``cqm`` target (the model as a dimod ConstrainedQuadraticModel, for Leap's hybrid
CQM solver).

``dwave`` lowers exactly like ``qubo``, then embeds the QUBO's graph with minorminer into the
target topology: ``--option topology=pegasus16 | zephyr12 | chimera4 …`` when given, else the
named (``solver=``) or default Leap QPU's working graph when D-Wave credentials are configured,
else Pegasus P16 (Advantage) offline. It reports logical and physical qubits and chains, the
chain strength that uniform torque compensation would pick, and warns when, after the QPU's
auto-scaling, programmed biases fall below the h/J precision the hardware resolves
(:data:`RESOLUTION`; see docs/DWAVE.md). No embedding is refused with the model's name and
sizes. ``-o m.embedding.json`` writes the embedding (``solve --backend dwave --option
embedding=m.embedding.json`` reuses it); ``.json``/``.coo``/``.lp`` write the QUBO as ``qubo``
does.

``cqm`` keeps the model's rows as constraints (no penalties): binaries, bounded integers and
real variables that enter the objective linearly; ``--backend hybrid_cqm`` samples it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from qgridlang.backends.dwave import (
    DEFAULT_TOPOLOGY,
    Topology,
    _vendor,
    as_number,
    chain_stats,
    chain_strength,
    credentials_configured,
    embedding_document,
    embedding_parameters,
    find_embedding,
    is_mock,
    no_embedding_error,
    parse_topology,
    qpu_sampler,
    solver_topology,
    write_embedding,
)
from qgridlang.errors import BackendError, QglError, QglErrors, UnsupportedConstruct, UsageError
from qgridlang.flat import FlatModel
from qgridlang.lazy import lazy
from qgridlang.registry import Backend, Options, Target, register_target
from qgridlang.results import RawResult
from qgridlang.target_qubo import QuboTarget, feasible_rows, lowering_options, write_bqm

# loaded when a model is lowered, not when the registry lists this target (qglc start-up)
dimod = lazy("dimod")
qubo = lazy("qgridlang.compilers.qubo")

if TYPE_CHECKING:
    from qgridlang.dispatcher import Compiled

RESOLUTION = 0.01  # assumed absolute h/J precision in QPU units (J range [-1, 1]); DWAVE.md
_REAL_LIMIT = 1e30  # dimod's bound for REAL variables
_INT_LIMIT = 2.0**53 - 1  # and for INTEGER ones
_NOISE = 1e-12  # relative size below which a bias is cancellation noise (qubo.py drops those)


# --------------------------------------------------------------------------- dwave target


@dataclass(frozen=True)
class EmbeddedQubo:
    """The ``dwave`` target's artifact: the QUBO, its embedding and the pre-flight facts.

    Attributes:
        bqm: The QUBO (as the ``qubo`` target builds it).
        embedding: Logical variable -> chain of physical qubits.
        topology: The target graph.
        model: The model's name.
        embedding_seconds: minorminer's time.
        preflight: Qubits, chains, chain strength and precision (JSON-ready).
    """

    bqm: dimod.BinaryQuadraticModel
    embedding: dict[Any, list[int]]
    topology: Topology
    model: str
    embedding_seconds: float
    preflight: dict[str, Any] = field(default_factory=dict)


@register_target
class DWaveTarget(Target):
    name = "dwave"
    description = ("QUBO minor-embedded into a D-Wave topology (pre-flight: physical qubits, "
                   "chains, h/J precision); -o m.embedding.json")
    REQUIRED_MODULES = ("dimod", "minorminer", "dwave.system")
    EXPORTS = (".embedding.json", ".json", ".coo", ".lp")
    OPTIONS: ClassVar[dict[str, str]] = {
        **lowering_options(),
        "topology": "graph to embed into: pegasus16, zephyr12, chimera4 … (default: the "
                    "solver's, else pegasus16)",
        "mock": "embed into MockDWaveSampler's graph (default false)",
        "solver": "Leap QPU solver whose graph to embed into (with credentials)",
        "embedding_timeout": "minorminer seconds per try (default 30)",
        "embedding_tries": "minorminer tries (default 10)",
        "chain_strength": "a number, uniform_torque_compensation (utc) or scaled",
    }

    def apply(self, flat: FlatModel, options: Options) -> tuple[EmbeddedQubo, qubo.QuboInverse]:
        bqm, inverse = QuboTarget().apply(flat, options)  # exactly what `qubo` lowers
        topology = target_topology(options)
        params = embedding_parameters(options)
        embedding, seconds = find_embedding(bqm, topology, params)
        if bqm.num_variables and not embedding:
            raise no_embedding_error(flat.name, bqm, topology, params)
        strength, _ = chain_strength(options)
        preflight = precision_report(bqm, embedding, topology, strength)
        return EmbeddedQubo(bqm, embedding, topology, flat.name, seconds, preflight), inverse

    def invert(self, x: np.ndarray, inverse: Any) -> np.ndarray:
        return np.asarray(qubo.invert(np.asarray(x).ravel(), inverse))

    def export(self, artifact: Any, path: Path) -> None:
        art: EmbeddedQubo = artifact
        if str(path).lower().endswith(".embedding.json"):
            doc = embedding_document(art.bqm, art.embedding, art.topology, art.model)
            write_embedding(doc, Path(path))
        elif Path(path).suffix.lower() in (".json", ".coo", ".lp"):
            write_bqm(art.bqm, Path(path))
        else:
            raise UsageError(f"the dwave target writes .embedding.json (the embedding) or "
                             f".json/.coo/.lp (the QUBO), not '{Path(path).suffix}'",
                             hint="e.g. -o model.embedding.json")

    def report(self, artifact: Any, inverse: Any) -> dict[str, Any]:
        art: EmbeddedQubo = artifact
        out = QuboTarget().report(art.bqm, inverse)
        return {**out, "topology": art.topology.describe(), **chain_stats(art.embedding),
                "embedding_seconds": round(art.embedding_seconds, 6), **art.preflight}


def target_topology(options: Options) -> Topology:
    """``topology=`` when given; else the Leap solver's graph when credentials exist (and not
    ``mock=true``); else Pegasus P16 offline."""
    spec = options.extra.get("topology")
    if spec is not None:
        return parse_topology(spec, "option")
    if is_mock(options):
        return parse_topology(DEFAULT_TOPOLOGY, "mock")
    if credentials_configured():
        try:
            return solver_topology(qpu_sampler(options))
        except BackendError as exc:
            raise BackendError(exc.message, exc.span,
                               f"{exc.hint}; or embed offline: --option topology=pegasus16 "
                               "(Advantage) or zephyr12 (Advantage2)") from exc
    return parse_topology(DEFAULT_TOPOLOGY,
                          "offline default (no D-Wave credentials; --option topology=…)")


def precision_report(bqm: dimod.BinaryQuadraticModel, embedding: dict[Any, list[int]],
                     topology: Topology, strength: Any,
                     resolution: float = RESOLUTION) -> dict[str, Any]:
    """The embedded Ising problem as the QPU would program it, and whether its terms survive.

    The QUBO is embedded as ``EmbeddingComposite`` does it (biases spread over chains, chains
    coupled at ``-chain_strength``) and converted to Ising ``h, J``; the QPU's auto-scaling
    divides everything by the factor ``r`` that brings the largest ``h`` into ``h_range`` and
    the largest ``J`` into ``j_range``. Two things can fall below ``resolution`` (the control
    errors, ICE, are about that large in QPU units) and become noise to the annealer:

    - a programmed bias (``unresolved_biases``);
    - a QUBO term: ``c b_i`` moves ``h_i`` by ``c / 2`` spread over the chain, ``c b_i b_j``
      moves ``J_ij`` by ``c / 4`` (``unresolved_qubo_terms``). A small term can vanish inside
      a large programmed bias without any bias being small (``0.01 z - 3000 y z``).
    """
    if not embedding:
        return {"chain_strength": None, "warnings": []}
    structure = _vendor("dwave.embedding").EmbeddedStructure(list(topology.edges), embedding)
    embedded = structure.embed_bqm(bqm, chain_strength=strength, smear_vartype=dimod.SPIN)
    h, j = _ising(embedded)
    scale = _auto_scale(h, j, topology.h_range, topology.j_range)
    programmed = _nonzero(np.concatenate([h, j])) / scale
    terms = _term_effects(bqm, embedding) / scale
    cs = as_number(getattr(structure, "chain_strength", strength))  # None: no chains
    out: dict[str, Any] = {
        "chain_strength": cs, "auto_scale_divisor": scale,
        "h_range": list(topology.h_range), "j_range": list(topology.j_range),
        "assumed_resolution": resolution,
        "qubo_dynamic_range": _ratio(_nonzero(np.concatenate(_qubo_terms(bqm)))),
        "programmed_dynamic_range": _ratio(programmed),
        "programmed_min_bias": float(programmed.min()) if programmed.size else 0.0,
        "unresolved_biases": int((programmed < resolution).sum()),
        "programmed_biases": int(programmed.size),
        "smallest_term_effect": float(terms.min()) if terms.size else 0.0,
        "unresolved_qubo_terms": int((terms < resolution).sum()), "qubo_terms": int(terms.size),
    }
    out["warnings"] = _precision_warnings(out, topology, cs)
    return out


def _precision_warnings(facts: dict[str, Any], topology: Topology,
                        cs: float | None) -> list[str]:
    where = (f"the QPU's h/J precision (~{facts['assumed_resolution']:g}) after auto-scaling "
             f"to h in {list(topology.h_range)}, J in {list(topology.j_range)}")
    why = (f"QUBO dynamic range {facts['qubo_dynamic_range']:.3g}, chain strength "
           f"{'—' if cs is None else format(cs, '.3g')}")
    fix = ("where penalty weights set the range, lower them (--option penalty_margin=…, "
           "quantum { penalty … }); else round the small coefficients, coarsen the "
           "encodings, or use --backend hybrid")
    out = []
    if facts["unresolved_qubo_terms"]:
        out.append(f"{facts['unresolved_qubo_terms']} of {facts['qubo_terms']} QUBO terms "
                   f"change the programmed biases by less than {where} (smallest "
                   f"{facts['smallest_term_effect']:.2g}; {why}): the annealer cannot see "
                   f"them; {fix}")
    if facts["unresolved_biases"]:
        out.append(f"{facts['unresolved_biases']} of {facts['programmed_biases']} programmed "
                   f"biases fall below {where} (smallest {facts['programmed_min_bias']:.2g}; "
                   f"{why}); {fix}")
    return out


def _qubo_terms(bqm: dimod.BinaryQuadraticModel) -> tuple[np.ndarray, np.ndarray]:
    vectors = bqm.change_vartype(dimod.BINARY, inplace=False).to_numpy_vectors()
    return np.asarray(vectors.linear_biases), np.asarray(vectors.quadratic[2])


def _term_effects(bqm: dimod.BinaryQuadraticModel,
                  embedding: dict[Any, list[int]]) -> np.ndarray:
    """What each nonzero QUBO term adds to a programmed bias before scaling: ``|c| / (2 L)``
    for a linear term on a chain of ``L`` qubits, ``|c| / 4`` for a quadratic one (an upper
    bound: dwave-system splits it over the couplers between the two chains)."""
    linear, quadratic = _qubo_terms(bqm)
    lengths = np.fromiter((len(embedding[v]) for v in bqm.variables), dtype=float,
                          count=bqm.num_variables)
    lin = np.abs(linear) / (2.0 * lengths)
    return np.concatenate([lin[linear != 0], _nonzero(quadratic) / 4.0])


def _nonzero(values: np.ndarray) -> np.ndarray:
    """Magnitudes that are not zero up to float noise (an Ising bias that cancels to 1e-17
    is programmed as the 0 it is)."""
    magnitudes = np.abs(np.asarray(values, dtype=float))
    kept: np.ndarray = magnitudes[magnitudes > _NOISE * magnitudes.max(initial=0.0)]
    return kept


def _ising(bqm: dimod.BinaryQuadraticModel) -> tuple[np.ndarray, np.ndarray]:
    """Ising ``h`` and ``J`` values of a BQM (any vartype)."""
    vectors = bqm.change_vartype(dimod.SPIN, inplace=False).to_numpy_vectors()
    return np.asarray(vectors.linear_biases), np.asarray(vectors.quadratic[2])


def _auto_scale(h: np.ndarray, j: np.ndarray, h_range: tuple[float, float],
                j_range: tuple[float, float]) -> float:
    """The QPU's ``auto_scale`` divisor: the largest of bias / range-end over signs."""
    ratios = [0.0]
    for values, (lo, hi) in ((h, h_range), (j, j_range)):
        if values.size:
            ratios += [max(float(values.max()), 0.0) / hi, min(float(values.min()), 0.0) / lo]
    return max(ratios) or 1.0


def _ratio(values: np.ndarray) -> float:
    return float(values.max() / values.min()) if values.size else 1.0


# --------------------------------------------------------------------------- cqm target


@dataclass(frozen=True)
class CqmInverse:
    """CQM variables are the model's columns ``0 .. n-1``; the objective is minimised (negated
    for ``max`` models)."""

    n: int
    sense: str


def cqm(flat: FlatModel) -> dimod.ConstrainedQuadraticModel:
    """The model as a dimod CQM over variables ``0 .. n-1`` (model columns), built straight
    from the flat form: binaries, bounded integers and reals, one constraint per row
    (``label (lower)`` / ``label (upper)`` for ranged rows), and the objective in minimisation
    form (``-objective`` for ``max`` models), constant included.

    Raises:
        QglErrors: Columns a CQM solver cannot take (unbounded integers, reals in products),
            each with its span and the fix.
    """
    _check_cqm(flat)
    model = dimod.ConstrainedQuadraticModel()  # type: ignore[no-untyped-call,unused-ignore]
    for start, stop in _runs(flat):
        vartype = {2: "BINARY", 1: "INTEGER", 0: "REAL"}[int(flat.kind[start])]
        bounds = {} if vartype == "BINARY" else _bounds(flat, start, vartype)
        model.add_variables(vartype, range(start, stop), **bounds)
    model.set_objective(_objective(flat, model))
    _add_rows(flat, model)
    return model


def _runs(flat: FlatModel) -> list[tuple[int, int]]:
    """Column runs with the same kind and bounds (one dimod call each, in column order)."""
    if not flat.n:
        return []
    same = ((flat.kind[1:] == flat.kind[:-1]) & (flat.lb[1:] == flat.lb[:-1])
            & (flat.ub[1:] == flat.ub[:-1]))
    starts = np.concatenate([[0], np.flatnonzero(~same) + 1])
    stops = np.concatenate([starts[1:], [flat.n]])
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _bounds(flat: FlatModel, col: int, vartype: str) -> dict[str, float]:
    limit = _REAL_LIMIT if vartype == "REAL" else _INT_LIMIT
    return {"lower_bound": float(np.clip(flat.lb[col], -limit, limit)),
            "upper_bound": float(np.clip(flat.ub[col], -limit, limit))}


def _check_cqm(flat: FlatModel) -> None:
    i, j, _ = flat.Q
    in_products = np.zeros(flat.n, dtype=bool)
    in_products[np.asarray(i, dtype=np.int64)] = True
    in_products[np.asarray(j, dtype=np.int64)] = True
    errors: list[QglError] = []
    for block in flat.blocks:
        cols = slice(block.start, block.stop)
        if block.kind == "real" and in_products[cols].any():
            errors.append(UnsupportedConstruct(
                f"'{block.name}' is real and appears in a product in the objective; Leap's CQM "
                "solver takes real variables only linearly", block.span,
                "make it integer (encode it on a step), or use --backend hybrid (the QUBO)"))
        if block.kind == "integer" and not (np.isfinite(flat.lb[cols]).all()
                                            and np.isfinite(flat.ub[cols]).all()):
            errors.append(UnsupportedConstruct(
                f"'{block.name}' is an integer without finite bounds; CQM integers need both",
                block.span, f"declare it as: var {block.name} integer in LOW .. HIGH"))
    if errors:
        raise QglErrors(errors)


def _objective(flat: FlatModel, model: dimod.ConstrainedQuadraticModel) -> dimod.QuadraticModel:
    sign = 1.0 if flat.sense == "min" else -1.0
    objective = dimod.QuadraticModel()
    objective.add_variables_from_model(model)
    c = sign * np.asarray(flat.c, dtype=float)
    i, j, v = (np.asarray(a) for a in flat.Q)
    i, j, v = i.astype(np.int64), j.astype(np.int64), sign * v.astype(float)
    square_of_binary = (i == j) & (flat.kind[i] == 2)  # b * b = b: a linear term
    c = c + np.bincount(i[square_of_binary], weights=v[square_of_binary], minlength=flat.n)
    nz = np.flatnonzero(c)
    objective.add_linear_from(zip(nz.tolist(), c[nz].tolist(), strict=True))
    keep = ~square_of_binary & (v != 0)
    objective.add_quadratic_from(zip(i[keep].tolist(), j[keep].tolist(), v[keep].tolist(),
                                     strict=True))
    objective.offset = sign * float(flat.obj_const)
    return objective


def _add_rows(flat: FlatModel, model: dimod.ConstrainedQuadraticModel) -> None:
    a = flat.A.tocsr()
    seen: set[str] = set()
    for k, row in enumerate(flat.rows):
        terms = slice(a.indptr[k], a.indptr[k + 1])
        if terms.start == terms.stop:
            continue  # a constant row: the checker has judged it already
        lhs = list(zip(a.indices[terms].tolist(), a.data[terms].tolist(), strict=True))
        lo, hi = float(flat.row_lo[k]), float(flat.row_hi[k])
        label = _unique(row.label, seen)
        if lo == hi:
            model.add_constraint_from_iterable(lhs, "==", hi, label=label)
            continue
        both = np.isfinite(lo) and np.isfinite(hi)
        if np.isfinite(lo):
            model.add_constraint_from_iterable(lhs, ">=", lo,
                                               label=f"{label} (lower)" if both else label)
        if np.isfinite(hi):
            model.add_constraint_from_iterable(lhs, "<=", hi,
                                               label=f"{label} (upper)" if both else label)


def _unique(label: str, seen: set[str]) -> str:
    out, k = label, 1
    while out in seen:
        k += 1
        out = f"{label}#{k}"
    seen.add(out)
    return out


@register_target
class CqmTarget(Target):
    name = "cqm"
    description = ("constrained quadratic model (dimod) straight from the model: rows stay "
                   "constraints, no penalties; for --backend hybrid_cqm")
    REQUIRED_MODULES = ("dimod",)
    EXPORTS = (".lp", ".cqm")
    OPTIONS: ClassVar[dict[str, str]] = {}

    def apply(self, flat: FlatModel, options: Options
              ) -> tuple[dimod.ConstrainedQuadraticModel, CqmInverse]:
        return cqm(flat), CqmInverse(flat.n, flat.sense)

    def invert(self, x: np.ndarray, inverse: Any) -> np.ndarray:
        return np.asarray(x, dtype=float).ravel()

    def export(self, artifact: Any, path: Path) -> None:
        suffix = Path(path).suffix.lower()
        if suffix == ".cqm":
            with artifact.to_file() as handle, open(path, "wb") as out:
                out.write(handle.read())
        elif suffix == ".lp":
            Path(path).write_text(dimod.lp.dumps(_lp_ready(artifact)), encoding="utf-8")
        else:
            raise UsageError(f"the cqm target writes .lp or .cqm (dimod's file) files, not "
                             f"'{suffix}'", hint="e.g. -o model.lp")

    def refine(self, raw: RawResult, compiled: Compiled, flat: FlatModel, backend: Backend,
               options: Options) -> RawResult:
        """The sample-set summary the QUBO backends give (``info["sampleset"]``), here with
        CQM objective energies and feasibility checked on the model's own rows."""
        if raw.xs is None or not len(raw.xs):
            return raw
        xs = np.asarray(raw.xs, dtype=float)
        model: dimod.ConstrainedQuadraticModel = compiled.artifact
        energy = np.asarray(model.objective.energies((xs, list(range(flat.n)))))
        feasible = feasible_rows(flat, xs)
        sign = 1.0 if flat.sense == "min" else -1.0
        summary = {"samples": len(xs), "energy_min": float(energy.min()),
                   "energy_mean": float(energy.mean()), "feasible_rate": float(feasible.mean()),
                   "objective": float(sign * energy[feasible].min()) if feasible.any() else None}
        return replace(raw, info={**raw.info, "sampleset": summary})

    def report(self, artifact: Any, inverse: Any) -> dict[str, Any]:
        model: dimod.ConstrainedQuadraticModel = artifact
        kinds = [model.vartype(v).name.lower() for v in model.variables]
        senses = [c.sense.value for c in model.constraints.values()]
        return {"variables": len(kinds),
                **{f"{k}_variables": kinds.count(k) for k in ("binary", "integer", "real")},
                "constraints": len(senses), "equalities": senses.count("=="),
                "objective_linear": int(np.count_nonzero(
                    [b for _, b in model.objective.iter_linear()])),
                "objective_quadratic": model.objective.num_interactions,
                "objective_sense": "min" if inverse.sense == "min" else "min of -objective"}


_LP_BAD = re.compile(r"[^A-Za-z0-9!\"#$%&'(),.;?@_{}~]")


def _lp_ready(model: dimod.ConstrainedQuadraticModel) -> dimod.ConstrainedQuadraticModel:
    """A copy with LP-safe labels: variables ``x0 …``, constraints with ``[ ]`` as ``( )``."""
    out = dimod.ConstrainedQuadraticModel.from_file(model.to_file().read())  # a deep copy
    out.relabel_variables({v: f"x{v}" for v in out.variables})
    seen: set[str] = set()
    mapping = {}
    for label in out.constraints:
        text = _LP_BAD.sub("_", str(label).replace("[", "(").replace("]", ")"))
        mapping[label] = _unique(text if text[:1].isalpha() else f"c_{text}", seen)
    out.relabel_constraints(mapping)
    return out
