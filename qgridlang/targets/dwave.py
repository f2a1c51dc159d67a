"""The ``dwave`` target: a QUBO minor-embedded into a D-Wave topology (the pre-flight of a QPU
run).

``dwave`` lowers exactly like ``qubo``, then embeds the QUBO's graph with minorminer into the
target topology: ``--option topology=pegasus16 | zephyr12 | chimera4 …`` when given, else the
named (``solver=``) or default Leap QPU's working graph when D-Wave credentials are configured,
else Pegasus P16 (Advantage) offline. It reports logical and physical qubits and chains, the
chain strength that uniform torque compensation would pick, and warns when, after the QPU's
auto-scaling, programmed biases fall below the h/J precision the hardware resolves
(:data:`RESOLUTION`; see docs/DWAVE.md). No embedding is refused with the model's name and
sizes. ``-o m.embedding.json`` writes the embedding (``solve --backend dwave --option
embedding=m.embedding.json`` reuses it); ``.json``/``.coo``/``.lp`` write the QUBO as ``qubo``
does. The ``cqm`` target (Leap's hybrid CQM solver) is :mod:`qgridlang.targets.cqm`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

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
from qgridlang.errors import BackendError, UsageError
from qgridlang.flat import FlatModel
from qgridlang.lazy import lazy
from qgridlang.registry import Options, Target, register_target
from qgridlang.targets.qubo import QuboTarget, lowering_options, write_bqm

# loaded when a model is lowered, not when the registry lists this target (qglc start-up)
dimod = lazy("dimod")
qubo = lazy("qgridlang.compilers.qubo")

RESOLUTION = 0.01  # assumed absolute h/J precision in QPU units (J range [-1, 1]); DWAVE.md
_NOISE = 1e-12  # relative size below which a bias is cancellation noise (qubo.py drops those)



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
