"""D-Wave backends: ``dwave`` (a QPU behind minor-embedding) and ``hybrid`` (Leap's hybrid BQM
solver) on the ``qubo`` target, and ``hybrid_cqm`` (Leap's hybrid CQM solver) on the ``cqm``
target.

``dwave`` samples the QUBO on ``DWaveSampler`` through ``EmbeddingComposite`` (minorminer finds
an embedding on every run), or through ``FixedEmbeddingComposite`` when an embedding is given
(``--option embedding=m.embedding.json``, as written by ``qglc compile --target dwave``) or cached
(``--option embedding_cache=true``: on disk under the user cache dir, keyed by a hash of the
QUBO's graph and the solver's graph). ``--option mock=true`` swaps the QPU for dwave-system's
``MockDWaveSampler`` on a Pegasus (or ``topology=``) graph with simulated annealing as its
stand-in physics; everything else (embedding, chain strength, unembedding, the info) is the
same code path. Without ``mock`` it needs Leap credentials from the vendor's own configuration
(``DWAVE_API_TOKEN`` or a ``dwave.conf``) and never falls back to a simulator.

Each backend returns every sample as rows over the model's variables (the BQM's order for the
``qubo`` backends, model column order for ``hybrid_cqm``); the target's ``refine`` step and the
dispatcher decode, check and pick the best feasible plan.

The embedding helpers here (:func:`parse_topology`, :func:`find_embedding`, :func:`chain_stats`,
the embedding file format) are shared with the ``dwave`` target (:mod:`qgridlang.targets.dwave`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from qgridlang.backends.samplers import _option as option
from qgridlang.backends.samplers import bqm_order
from qgridlang.errors import BackendError, UsageError, did_you_mean
from qgridlang.lazy import lazy
from qgridlang.registry import Backend, Options, register_backend
from qgridlang.results import RawResult, Status

dimod = lazy("dimod")  # loaded when a backend runs, not when it is listed (qglc start-up)

INSTALL_HINT = 'pip install "qgridlang[quantum]" (dwave-system brings minorminer and dwave.cloud)'
CREDENTIALS_HINT = (
    "set DWAVE_API_TOKEN to your Leap API token, or run `dwave config create` to write a "
    "dwave.conf (DWAVE_CONFIG_FILE names another file, DWAVE_PROFILE a profile); "
    "https://docs.ocean.dwavesys.com/en/stable/overview/sapi.html")
DEFAULT_TOPOLOGY = "pegasus16"  # Advantage's graph: the offline default
DEFAULT_READS = 100
EMBEDDING_FORMAT = "qgridlang.embedding/1"
LABEL = "qgridlang"

_FAMILY_DEFAULT = {"pegasus": 16, "zephyr": 12, "chimera": 16}
_ALIASES = {"advantage": "pegasus16", "advantage2": "zephyr12"}
_TOPOLOGY_RE = re.compile(r"^(pegasus|zephyr|chimera)(\d+)?$")
_CHAIN_BREAK = ("majority_vote", "weighted_random", "discard")
_CHAIN_STRENGTH = ("uniform_torque_compensation", "utc", "scaled")
_SOLVER = {"solver": "Leap solver name (default: Leap's default for the sampler)"}


# --------------------------------------------------------------------------- vendor imports


def _vendor(module: str) -> Any:
    """Import a D-Wave Ocean module lazily, with an install hint when it is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendError(f"the D-Wave backends need '{module}' ({exc})", None,
                           INSTALL_HINT) from exc


def _graphs() -> Any:
    """``dwave.graphs`` (dwave-system >= 1.30), else the older ``dwave_networkx``."""
    try:
        import dwave.graphs as dnx  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        dnx = _vendor("dwave_networkx")
    return dnx


# --------------------------------------------------------------------------- credentials


def credentials_configured() -> bool:
    """Whether the vendor's configuration (env, dwave.conf, profile) holds an API token.

    Reads the configuration only (no network); the token itself never leaves dwave.cloud.
    """
    config = _vendor("dwave.cloud.config")
    try:
        loaded = config.load_config()
    except Exception as exc:  # ConfigFileError and friends: name the problem, not the content
        raise BackendError(f"the D-Wave configuration cannot be read ({type(exc).__name__})",
                           None, CREDENTIALS_HINT) from exc
    return bool(loaded.get("token"))


def require_credentials(backend: str) -> None:
    """Raise a :class:`BackendError` naming how to configure Leap when no token is set."""
    if not credentials_configured():
        extra = "; for an offline run of the same code path use --option mock=true" \
            if backend == "dwave" else ""
        raise BackendError(
            f"backend '{backend}' runs on D-Wave Leap and no Leap credentials are configured "
            "(no DWAVE_API_TOKEN, no token in the dwave config file)", None,
            CREDENTIALS_HINT + extra)


def _leap_error(what: str, exc: Exception) -> BackendError:
    return BackendError(f"D-Wave Leap: {what} failed ({type(exc).__name__}: {exc})", None,
                        "check the solver name (--option solver=NAME), your network and your "
                        "Leap account; `dwave ping` tests the configuration")


# --------------------------------------------------------------------------- topologies


@dataclass(frozen=True)
class Topology:
    """A target graph: a QPU family graph (``pegasus16``), a solver's working graph or any
    networkx graph.

    Attributes:
        name: ``pegasus16``, ``zephyr12``, ``chimera4``, a solver's name, or ``graph(N)``.
        kind: ``pegasus``, ``zephyr``, ``chimera`` or ``graph``.
        shape: The family's shape as dwave-system writes it (``[16]``, ``[12, 4]``,
            ``[4, 4, 4]``); empty for a plain graph.
        nodes: The working qubits.
        edges: The working couplers.
        h_range: Programmable ``h`` range (the solver's, else Advantage's).
        j_range: Programmable ``J`` range (the solver's, else Advantage's).
        source: Where it came from: ``option``, ``solver``, ``mock`` or ``offline default``.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    nodes: tuple[int, ...] = field(repr=False)
    edges: tuple[tuple[int, int], ...] = field(repr=False)
    h_range: tuple[float, float] = (-4.0, 4.0)
    j_range: tuple[float, float] = (-1.0, 1.0)
    source: str = "option"

    @property
    def qubits(self) -> int:
        return len(self.nodes)

    @property
    def couplers(self) -> int:
        return len(self.edges)

    @cached_property
    def key(self) -> str:
        """A hash of the graph itself (qubits and couplers), so a solver whose working graph
        changed gets new cache entries."""
        edges = np.sort(np.asarray(self.edges, dtype=np.int64).reshape(-1, 2), axis=1)
        edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]
        digest = hashlib.sha256(f"{self.kind}{list(self.shape)}".encode())
        digest.update(np.sort(np.asarray(self.nodes, dtype=np.int64)).tobytes())
        digest.update(edges.tobytes())
        return digest.hexdigest()[:32]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "shape": list(self.shape),
                "qubits": self.qubits, "couplers": self.couplers, "source": self.source,
                "key": self.key}


def _from_graph(name: str, kind: str, shape: tuple[int, ...], graph: Any,
                source: str) -> Topology:
    return Topology(name, kind, shape, tuple(int(v) for v in graph.nodes),
                    tuple((int(u), int(v)) for u, v in graph.edges), source=source)


def family(spec: Any) -> tuple[str, str, tuple[int, ...]]:
    """``(name, kind, shape)`` of a topology spec: ``pegasus16`` / ``pegasus`` (m = 16),
    ``zephyr12`` / ``zephyr`` (m = 12, t = 4), ``chimera16`` / ``chimera4`` (m x m cells of
    t = 4), ``advantage`` (P16) or ``advantage2`` (Z12)."""
    text = _ALIASES.get(str(spec).strip().lower(), str(spec).strip().lower())
    match = _TOPOLOGY_RE.match(text)
    if not match:
        raise UsageError(f"unknown D-Wave topology '{spec}'",
                         hint="use pegasus16, zephyr12, chimera16 (any size: pegasus6, "
                              "chimera2 …), advantage or advantage2")
    kind = match.group(1)
    m = int(match.group(2) or _FAMILY_DEFAULT[kind])
    if m < 1 or (kind == "pegasus" and m < 2):
        raise UsageError(f"topology '{spec}': size {m} is too small")
    shape = {"pegasus": (m,), "zephyr": (m, 4), "chimera": (m, m, 4)}[kind]
    return f"{kind}{m}", kind, shape


def parse_topology(spec: Any, source: str = "option") -> Topology:
    """A family spec (see :func:`family`) built with dwave-networkx's generators, or a
    networkx graph (Python API) used as it is."""
    if hasattr(spec, "number_of_nodes"):
        return _from_graph(f"graph({spec.number_of_nodes()})", "graph", (), spec, source)
    name, kind, shape = family(spec)
    return replace(_family_graph(kind, shape), name=name, source=source)


@lru_cache(maxsize=8)
def _family_graph(kind: str, shape: tuple[int, ...]) -> Topology:
    """One build per family and size in a process (P16 takes about half a second)."""
    dnx = _graphs()
    generator = {"pegasus": dnx.pegasus_graph, "zephyr": dnx.zephyr_graph,
                 "chimera": dnx.chimera_graph}[kind]
    return _from_graph(kind, kind, shape, generator(*shape), "option")


def solver_topology(sampler: Any) -> Topology:
    """The working graph and ``h``/``J`` ranges of a (real or mock) ``DWaveSampler``."""
    props = sampler.properties
    topo = props.get("topology", {})
    kind, shape = str(topo.get("type", "graph")), tuple(int(s) for s in topo.get("shape", ()))
    solver = getattr(getattr(sampler, "solver", None), "name", None)
    mock = solver is None and props.get("chip_id") == "MockDWaveSampler"
    name = f"MockDWaveSampler {kind}{shape[0] if shape else ''}" if mock else str(solver)
    h_lo, h_hi = props.get("h_range", (-4.0, 4.0))
    j_lo, j_hi = props.get("j_range", (-1.0, 1.0))
    return Topology(name, kind, shape, tuple(int(v) for v in sampler.nodelist),
                    tuple((int(u), int(v)) for u, v in sampler.edgelist),
                    (float(h_lo), float(h_hi)), (float(j_lo), float(j_hi)),
                    source="mock" if mock else "solver")


# --------------------------------------------------------------------------- samplers


def is_mock(options: Options) -> bool:
    value = options.extra.get("mock", False)
    return value is True or str(value).lower() in ("true", "1", "yes")


def mock_sampler(options: Options) -> Any:
    """``MockDWaveSampler`` on the ``topology`` option's family graph (Pegasus P16 by default)
    with simulated annealing (seeded) standing in for the annealer."""
    testing = _vendor("dwave.system.testing")
    samplers = _vendor("dwave.samplers")
    spec = options.extra.get("topology", DEFAULT_TOPOLOGY)
    if hasattr(spec, "number_of_nodes"):
        raise UsageError("mock=true needs a family topology (pegasus…, zephyr…, chimera…), "
                         "not an arbitrary graph")
    _, kind, shape = family(spec)
    stand_in = {"num_sweeps": int(option(options, "sweeps", 1000))}
    seed = option(options, "seed", None)
    if seed is not None:
        stand_in["seed"] = int(seed)
    return testing.MockDWaveSampler(
        topology_type=kind, topology_shape=list(shape),
        substitute_sampler=samplers.SimulatedAnnealingSampler(), substitute_kwargs=stand_in,
        parameter_warnings=False)


def qpu_sampler(options: Options) -> Any:
    """The mock (``mock=true``) or a Leap ``DWaveSampler`` (``solver=NAME`` or Leap's default
    QPU); a :class:`BackendError` without credentials."""
    if is_mock(options):
        return mock_sampler(options)
    require_credentials("dwave")
    system = _vendor("dwave.system")
    solver = options.extra.get("solver")
    try:
        return system.DWaveSampler(**({"solver": str(solver)} if solver else {}))
    except Exception as exc:
        raise _leap_error(f"opening the QPU solver {solver or '(default)'}", exc) from exc


def _leap_hybrid(cls_name: str, backend: str, options: Options) -> Any:
    require_credentials(backend)
    system = _vendor("dwave.system")
    solver = options.extra.get("solver")
    try:
        return getattr(system, cls_name)(**({"solver": str(solver)} if solver else {}))
    except Exception as exc:
        raise _leap_error(f"opening {cls_name}", exc) from exc


# --------------------------------------------------------------------------- embeddings


def source_edges(bqm: dimod.BinaryQuadraticModel) -> list[tuple[Any, Any]]:
    """The QUBO's graph as minorminer takes it: couplers plus self-loops, so isolated
    variables get a qubit too (as ``EmbeddingComposite`` does)."""
    return list(bqm.quadratic) + [(v, v) for v in bqm.variables]


def embedding_parameters(options: Options) -> dict[str, Any]:
    """minorminer's knobs: ``embedding_timeout`` (s per try, default 30),
    ``embedding_tries`` (default 10) and the run's ``seed``."""
    params: dict[str, Any] = {"timeout": float(options.extra.get("embedding_timeout", 30.0)),
                              "tries": int(options.extra.get("embedding_tries", 10))}
    seed = option(options, "seed", None)
    if seed is not None:
        params["random_seed"] = int(seed)
    return params


def find_embedding(bqm: dimod.BinaryQuadraticModel, topology: Topology,
                   params: Mapping[str, Any]) -> tuple[dict[Any, list[int]], float]:
    """A minor embedding of the QUBO's graph into ``topology`` (empty when none was found)
    and the seconds minorminer took."""
    minorminer = _vendor("minorminer")
    if bqm.num_variables > topology.qubits:  # no search can succeed
        return {}, 0.0
    start = time.perf_counter()
    found = minorminer.find_embedding(source_edges(bqm), list(topology.edges), **params)
    return {v: [int(q) for q in chain] for v, chain in found.items()}, time.perf_counter() - start


def chain_stats(embedding: Mapping[Any, Iterable[int]]) -> dict[str, Any]:
    """Logical and physical qubits and chain lengths of an embedding."""
    lengths = np.fromiter((len(list(c)) for c in embedding.values()), dtype=np.int64,
                          count=len(embedding))
    return {"logical_qubits": int(len(lengths)), "physical_qubits": int(lengths.sum()),
            "chains": int((lengths > 1).sum()),
            "max_chain_length": int(lengths.max(initial=0)),
            "mean_chain_length": float(lengths.mean()) if len(lengths) else 0.0}


def graph_key(bqm: dimod.BinaryQuadraticModel) -> str:
    """A hash of the QUBO's graph (variables and couplers; biases play no part)."""
    nodes = sorted(bqm.variables, key=repr)
    edges = sorted((tuple(sorted((u, v), key=repr)) for u, v in bqm.quadratic), key=repr)
    text = json.dumps([[repr(v) for v in nodes], [[repr(u), repr(v)] for u, v in edges]],
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def embedding_document(bqm: dimod.BinaryQuadraticModel, embedding: Mapping[Any, list[int]],
                       topology: Topology, model: str | None = None) -> dict[str, Any]:
    """The JSON form of an embedding (``compile -o m.embedding.json`` and the cache)."""
    return {"format": EMBEDDING_FORMAT, "model": model, "source_key": graph_key(bqm),
            "topology": topology.describe(), **chain_stats(embedding),
            "embedding": {str(v): list(chain) for v, chain in embedding.items()}}


def write_embedding(document: Mapping[str, Any], path: Path) -> None:
    """Write atomically (a cache shared by concurrent runs never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document), encoding="utf-8")
    tmp.replace(path)


def read_embedding(path: Path, bqm: dimod.BinaryQuadraticModel,
                   topology: Topology) -> dict[Any, list[int]]:
    """An embedding file checked against this QUBO and this topology."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the embedding file '{path}' ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != EMBEDDING_FORMAT:
        raise UsageError(f"'{path}' is not a qgridlang embedding ({EMBEDDING_FORMAT})",
                         hint="write one with: qglc compile MODEL --target dwave "
                              "-o m.embedding.json")
    by_label = {str(v): v for v in bqm.variables}
    embedding = {by_label.get(k, k): [int(q) for q in c] for k, c in doc["embedding"].items()}
    _check_embedding(embedding, bqm, topology, str(path))
    return embedding


def _check_embedding(embedding: Mapping[Any, list[int]], bqm: dimod.BinaryQuadraticModel,
                     topology: Topology, where: str) -> None:
    emb = _vendor("dwave.embedding")
    try:
        emb.verify_embedding(embedding, source_edges(bqm), list(topology.edges))
    except Exception as exc:  # EmbeddingError subclasses say which chain or edge is wrong
        raise UsageError(f"the embedding in {where} does not fit this QUBO on "
                         f"{topology.name} ({exc})",
                         hint="re-create it for this model and solver (compile --target "
                              "dwave -o …), or drop --option embedding") from exc


def default_cache_dir() -> Path:
    """``<user cache dir>/qgridlang/embeddings`` (platformdirs when present)."""
    try:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("qgridlang"))
    except ImportError:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qgridlang"
    return base / "embeddings"


def cache_dir(options: Options) -> Path | None:
    """``embedding_cache``: off by default; ``true`` for the user cache dir, or a directory."""
    value = options.extra.get("embedding_cache")
    if value is None or value is False or str(value).lower() in ("false", "0", "no", "off", ""):
        return None
    if value is True or str(value).lower() in ("true", "1", "yes", "on"):
        return default_cache_dir()
    return Path(str(value)).expanduser()


def cached_embedding(bqm: dimod.BinaryQuadraticModel, topology: Topology, directory: Path,
                     params: Mapping[str, Any]) -> tuple[dict[Any, list[int]], str, float]:
    """The cached embedding of this graph on this topology, found and stored on a miss.

    Returns:
        The embedding, ``cache hit`` / ``cache miss (stored)``, and minorminer's seconds.
    """
    path = directory / f"{graph_key(bqm)}-{topology.key}.json"
    if path.exists():
        try:
            return read_embedding(path, bqm, topology), "cache hit", 0.0
        except UsageError:
            pass  # a stale or damaged entry: find a fresh one and overwrite it
    embedding, seconds = find_embedding(bqm, topology, params)
    if embedding:
        write_embedding(embedding_document(bqm, embedding, topology), path)
    return embedding, "cache miss (stored)", seconds


# --------------------------------------------------------------------------- run options


def chain_strength(options: Options) -> tuple[Any, str]:
    """``chain_strength``: a number, or ``uniform_torque_compensation`` (default, ``utc``) /
    ``scaled`` from ``dwave.embedding.chain_strength``. Returns the value or callable and its
    name for the info."""
    value = options.extra.get("chain_strength", "uniform_torque_compensation")
    strengths = _vendor("dwave.embedding.chain_strength")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise UsageError(f"chain_strength must be positive, got {value}")
        return float(value), "fixed"
    name = str(value).lower()
    if name in ("uniform_torque_compensation", "utc"):
        return strengths.uniform_torque_compensation, "uniform_torque_compensation"
    if name == "scaled":
        return strengths.scaled, "scaled"
    raise UsageError(f"unknown chain_strength '{value}'",
                     hint=did_you_mean(name, _CHAIN_STRENGTH) or
                     "a positive number, uniform_torque_compensation (utc) or scaled")


def chain_break_method(options: Options) -> tuple[Callable[..., Any], str]:
    """``chain_break_method``: ``majority_vote`` (default), ``weighted_random`` or ``discard``."""
    name = str(options.extra.get("chain_break_method", "majority_vote")).lower()
    if name not in _CHAIN_BREAK:
        raise UsageError(f"unknown chain_break_method '{name}'",
                         hint=did_you_mean(name, _CHAIN_BREAK) or ", ".join(_CHAIN_BREAK))
    return getattr(_vendor("dwave.embedding.chain_breaks"), name), name


def _qpu_parameters(options: Options) -> dict[str, Any]:
    params: dict[str, Any] = {"num_reads": int(option(options, "reads", DEFAULT_READS)),
                              "answer_mode": "raw", "label": LABEL}
    annealing = options.extra.get("annealing_time")
    if annealing is not None:
        params["annealing_time"] = float(annealing)
    return params


def _column_order(sampleset: dimod.SampleSet, variables: Iterable[Any]) -> np.ndarray:
    """Sample rows with columns in ``variables``' order (float: CQM integers may be large)."""
    position = {v: k for k, v in enumerate(sampleset.variables)}
    columns = np.fromiter((position[v] for v in variables), dtype=np.int64)
    return np.asarray(sampleset.record.sample[:, columns], dtype=float)


def _timing(info: Mapping[str, Any]) -> dict[str, float]:
    """QPU (``timing``) or hybrid (``run_time`` …) times in microseconds, where reported."""
    out: dict[str, float] = {}
    timing = info.get("timing") or {}
    for key in ("qpu_access_time", "qpu_sampling_time", "qpu_programming_time"):
        if key in timing:
            out[f"{key}_us"] = float(timing[key])
    for key in ("run_time", "charge_time", "qpu_access_time"):
        if key in info:
            out[f"{key}_us"] = float(info[key])
    return out


# --------------------------------------------------------------------------- backends


@dataclass
class _Embedder:
    """How a ``dwave`` run gets its embedding: the composite, its source and the search time."""

    composite: Any
    source: str
    seconds: float = 0.0
    search: dict[str, Any] = field(default_factory=dict)

    def find(self, *args: Any, **kwargs: Any) -> Any:
        """``EmbeddingComposite``'s ``find_embedding`` hook: minorminer, timed."""
        start = time.perf_counter()
        found = _vendor("minorminer").find_embedding(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        return found


@register_backend
class DWave(Backend):
    """A D-Wave QPU (or ``mock=true``: MockDWaveSampler) behind minor-embedding."""

    name = "dwave"
    target = "qubo"
    description = ("D-Wave QPU via minorminer embedding (Leap credentials, or mock=true); reads, "
                   "annealing_time, chain_strength, chain_break_method, embedding_cache")
    REQUIRED_MODULES: ClassVar[tuple[str, ...]] = ("dimod", "dwave.system", "minorminer",
                                                   "dwave.cloud")
    INSTALL_HINT = INSTALL_HINT
    OPTIONS: ClassVar[dict[str, str]] = {
        **_SOLVER,
        "mock": "MockDWaveSampler (simulated annealing on the embedded problem) instead of a "
                "QPU (default false)",
        "topology": "mock=true: pegasus16 (default), zephyr12, chimera4 …",
        "embedding": "an embedding file from `compile --target dwave -o m.embedding.json`",
        "embedding_cache": "true (user cache dir) or a folder: reuse embeddings (default off)",
        "embedding_timeout": "minorminer seconds per try (default 30)",
        "embedding_tries": "minorminer tries (default 10)",
        "chain_strength": "a number, uniform_torque_compensation (utc, default) or scaled",
        "chain_break_method": "majority_vote (default), weighted_random or discard",
        "annealing_time": "annealing time in microseconds (QPU default)",
    }
    COMMON = frozenset({"reads", "seed", "sweeps"})  # sweeps: the mock's annealing stand-in

    def run(self, artifact: Any, options: Options) -> RawResult:
        bqm: dimod.BinaryQuadraticModel = artifact
        strength, strength_rule = chain_strength(options)
        breaks, break_name = chain_break_method(options)
        qpu = qpu_sampler(options)
        topology = solver_topology(qpu)
        embedder = self.embedder(qpu, bqm, topology, options)
        params = _qpu_parameters(options)
        warnings_action = _vendor("dwave.system.warnings").WarningAction.SAVE
        start = time.perf_counter()
        try:
            sampleset = embedder.composite.sample(
                bqm, chain_strength=strength, chain_break_method=breaks,
                chain_break_fraction=True, return_embedding=True, warnings=warnings_action,
                **embedder.search, **params)
            sampleset.resolve()
        except ValueError as exc:
            if "no embedding" in str(exc):
                raise no_embedding_error(None, bqm, topology, embedder.search) from exc
            raise
        seconds = time.perf_counter() - start - embedder.seconds
        if not len(sampleset):
            raise BackendError(
                f"every one of the {params['num_reads']} reads broke a chain and "
                "chain_break_method=discard dropped them all", None,
                "use chain_break_method=majority_vote, or raise chain_strength")
        bits = bqm_order(sampleset, bqm, np.ones(len(sampleset), dtype=bool))
        info = {**self.info(sampleset, qpu, topology, embedder, options),
                **{k: v for k, v in params.items() if k != "answer_mode"},
                "chain_strength_rule": strength_rule, "chain_break_method": break_name,
                "sampler_seconds": seconds, "reads_in_order": True}
        best = int(np.argmin(np.asarray(sampleset.record.energy)))
        return RawResult(Status.FEASIBLE, x=bits[best], xs=bits, info=info)

    def embedder(self, qpu: Any, bqm: dimod.BinaryQuadraticModel, topology: Topology,
                 options: Options) -> _Embedder:
        """A fixed embedding (``embedding=FILE``), a cached one (``embedding_cache``), else
        ``EmbeddingComposite`` with minorminer on every run."""
        system = _vendor("dwave.system")
        params = embedding_parameters(options)
        path = options.extra.get("embedding")
        if path:
            emb = read_embedding(Path(str(path)), bqm, topology)
            return _Embedder(system.FixedEmbeddingComposite(qpu, emb), f"file {path}")
        directory = cache_dir(options)
        if directory is not None:
            emb, how, seconds = cached_embedding(bqm, topology, directory, params)
            if not emb:
                raise no_embedding_error(None, bqm, topology, params)
            return _Embedder(system.FixedEmbeddingComposite(qpu, emb), how, seconds)
        embedder = _Embedder(None, "minorminer", search={"embedding_parameters": params})
        embedder.composite = system.EmbeddingComposite(qpu, find_embedding=embedder.find)
        return embedder

    def info(self, sampleset: dimod.SampleSet, qpu: Any, topology: Topology,
             embedder: _Embedder, options: Options) -> dict[str, Any]:
        """Embedding, chain and timing facts of one run (JSON-ready)."""
        context = sampleset.info.get("embedding_context", {})
        record = sampleset.record
        weights = np.asarray(record.num_occurrences, dtype=float)
        broken = np.asarray(record.chain_break_fraction, dtype=float)
        out: dict[str, Any] = {
            "sampler": type(qpu).__name__, "solver": topology.name, "mock": is_mock(options),
            "topology": topology.describe(), **chain_stats(context.get("embedding", {})),
            "chain_strength": as_number(context.get("chain_strength")),
            "chain_break_fraction": float(weights @ broken / weights.sum()),
            "reads_with_broken_chains": float(weights @ (broken > 0) / weights.sum()),
            "embedding_source": embedder.source, "embedding_seconds": embedder.seconds,
            "seed": option(options, "seed", None), **_timing(sampleset.info),
            "warnings": [str(w.get("message", w)) for w in sampleset.info.get("warnings", [])],
        }
        if out["mock"]:
            out["qpu_timing_note"] = ("MockDWaveSampler reports fixed placeholder QPU times, "
                                      "not a measurement; the samples come from simulated "
                                      "annealing on the embedded problem")
        return out


def no_embedding_error(model: str | None, bqm: dimod.BinaryQuadraticModel, topology: Topology,
                       params: Mapping[str, Any]) -> BackendError:
    """The refusal when minorminer finds no embedding (names the model and the sizes)."""
    params = dict(params.get("embedding_parameters", params))
    what = f"model '{model}'" if model else "the QUBO"
    return BackendError(
        f"no minor embedding of {what} ({bqm.num_variables} logical qubits, "
        f"{bqm.num_interactions} couplers) into {topology.name} ({topology.qubits} qubits, "
        f"{topology.couplers} couplers) was found (minorminer, tries="
        f"{params.get('tries', '?')}, timeout={params.get('timeout', '?')} s per try)", None,
        "run it on Leap's hybrid solver (--backend hybrid or hybrid_cqm), decompose the model "
        "(fewer periods or units per solve, a rolling horizon), or search longer "
        "(--option embedding_tries=50 --option embedding_timeout=120)")


@register_backend
class HybridBQM(Backend):
    """Leap's hybrid BQM solver on the QUBO (penalties included)."""

    name = "hybrid"
    target = "qubo"
    description = "D-Wave Leap LeapHybridBQMSampler on the QUBO (Leap credentials); time_limit"
    REQUIRED_MODULES: ClassVar[tuple[str, ...]] = ("dimod", "dwave.system", "dwave.cloud")
    INSTALL_HINT = INSTALL_HINT
    OPTIONS: ClassVar[dict[str, str]] = _SOLVER
    COMMON = frozenset({"time_limit"})

    def run(self, artifact: Any, options: Options) -> RawResult:
        bqm: dimod.BinaryQuadraticModel = artifact
        sampleset, info = _hybrid_sample("LeapHybridBQMSampler", self.name, options,
                                         lambda s, p: s.sample(bqm, **p), "the hybrid BQM solve")
        bits = bqm_order(sampleset, bqm, np.ones(len(sampleset), dtype=bool))
        info["reads_in_order"] = False
        best = int(np.argmin(np.asarray(sampleset.record.energy)))
        return RawResult(Status.FEASIBLE, x=bits[best], xs=bits, info=info)


@register_backend
class HybridCQM(Backend):
    """Leap's hybrid CQM solver on the model's own constraints (the ``cqm`` target)."""

    name = "hybrid_cqm"
    target = "cqm"
    description = ("D-Wave Leap LeapHybridCQMSampler on the model as a CQM (constraints kept, "
                   "no penalties; Leap credentials); time_limit")
    REQUIRED_MODULES: ClassVar[tuple[str, ...]] = ("dimod", "dwave.system", "dwave.cloud")
    INSTALL_HINT = INSTALL_HINT
    OPTIONS: ClassVar[dict[str, str]] = _SOLVER
    COMMON = frozenset({"time_limit"})

    def run(self, artifact: Any, options: Options) -> RawResult:
        cqm: dimod.ConstrainedQuadraticModel = artifact
        sampleset, info = _hybrid_sample("LeapHybridCQMSampler", self.name, options,
                                         lambda s, p: s.sample_cqm(cqm, **p),
                                         "the hybrid CQM solve")
        xs = _column_order(sampleset, range(len(cqm.variables)))
        feasible = np.asarray(getattr(sampleset.record, "is_feasible", np.ones(len(xs), bool)))
        info["feasible_rate"] = float(feasible.mean()) if len(feasible) else 0.0
        if not len(xs):
            raise BackendError("Leap's hybrid CQM solver returned no sample")
        energy = np.asarray(sampleset.record.energy, dtype=float)
        best = int(np.argmin(np.where(feasible, energy, np.inf))) if feasible.any() \
            else int(np.argmin(energy))
        return RawResult(Status.FEASIBLE, x=xs[best], xs=xs, info=info)


def _hybrid_sample(kind: str, backend: str, options: Options,
                   call: Callable[[Any, dict[str, Any]], Any], what: str
                   ) -> tuple[Any, dict[str, Any]]:
    """Run one Leap hybrid solve (``call(sampler, params)``) and the info both backends give."""
    sampler = _leap_hybrid(kind, backend, options)
    params = _hybrid_parameters(options)
    start = time.perf_counter()
    try:
        sampleset = call(sampler, params)
        sampleset.resolve()
    except Exception as exc:
        raise _leap_error(what, exc) from exc
    info = {"sampler": kind, "solver": _solver_name(sampler), **params,
            "sampler_seconds": time.perf_counter() - start, **_timing(sampleset.info)}
    return sampleset, info


def _hybrid_parameters(options: Options) -> dict[str, Any]:
    params: dict[str, Any] = {"label": LABEL}
    limit = option(options, "time_limit", None)
    if limit is not None:
        params["time_limit"] = float(limit)  # Leap's minimum (about 3 s for BQMs) applies
    return params


def as_number(value: Any) -> float | None:
    """A JSON-ready number, or None (dwave-system leaves the chain strength unset when no
    chain is longer than one qubit)."""
    return float(value) if isinstance(value, int | float | np.number) else None


def _solver_name(sampler: Any) -> str:
    return str(getattr(getattr(sampler, "solver", None), "name", type(sampler).__name__))
