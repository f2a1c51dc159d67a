"""``qglc price-search``: the classical ground truth of the bilevel pricing problem.

The operator (the leader) sets one community price vector; each community (a follower) answers
with the exchange profile its own MILP gives for it, and the operator's cost (its risk-averse
CVaR problem) follows. Over a low-dimensional family of price vectors, time-of-use blocks whose
prices lie on a grid within the bounds (1i) with the mean price (1j) met exactly
(:func:`qgridlang.datasets.prices.tou_family`), every candidate is evaluated exactly:

1. each community's MILP is solved for the candidate price (:mod:`~qgridlang.datasets.response`);
2. the operator model is checked with the candidate price and the responses written into its
   indexed parameters (:mod:`~qgridlang.datasets.substitute`) and solved;
3. the candidate's cost is the operator's optimal objective.

The contract with the operator model: it declares the community price as an indexed parameter
(``param price[T]: $/MWh``, ``--price-param``) and one indexed parameter per community for its
response (``param p_res[T]: MW``, named by ``--community p_res=residential.qgl``), each in a
statement of its own; responses are written with their unit and converted to the parameter's.

Candidates run in parallel on dask; each result is appended to the output CSV as it completes,
and rerunning the same command skips the candidates already there.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.datasets import cluster
from qgridlang.datasets.prices import PriceSet, tou_family
from qgridlang.datasets.response import (
    ResponseModel,
    SolveSettings,
    check_with,
    prepare,
    set_elements,
)
from qgridlang.datasets.substitute import Values
from qgridlang.errors import QglError, UsageError


@dataclass
class Operator:
    """The operator model, ready to be checked with a candidate's price and responses."""

    file: str
    text: str
    price_param: str
    price_keys: list[tuple[int | str, ...]]
    response_keys: dict[str, list[tuple[int | str, ...]]]
    objective_unit: str
    step_hours: float | None
    own_mean: float
    allow_read: tuple[str, ...] = ()


@dataclass
class SearchSpec:
    boundaries: list[float] = field(default_factory=lambda: [8.0, 16.0])  # hours
    step: float = 5.0
    mean: float | None = None
    lower: float = 0.5
    upper: float = 1.5
    price_param: str = "price"
    solve: SolveSettings = field(default_factory=SolveSettings)


@dataclass
class SearchSummary:
    output: Path
    candidates: int
    evaluated_now: int
    best: dict[str, Any] | None
    failed: int
    prepare_seconds: float
    run_seconds: float
    units: dict[str, str]


def load_operator(file: str | Path, price_param: str, responses: list[str],
                  allow_read: tuple[str, ...] = ()) -> Operator:
    from qgridlang.datasets.response import check_reading

    path = str(file)
    own, text, values = check_reading(path, price_param, allow_read)
    params = {p.name: p for p in own.ir.params}
    keys: dict[str, list[tuple[int | str, ...]]] = {}
    for name in [price_param, *responses]:
        p = params.get(name)
        if p is None:
            raise UsageError(f"the operator model {path} has no parameter '{name}'",
                             hint="--price-param names its community price; --community "
                                  "PARAM=MODEL its response parameters")
        if len(p.index) != 1:
            raise UsageError(f"the operator's '{name}' must have one index (the time set)")
        keys[name] = set_elements(own, p.index[0])
    if values is None:
        raise UsageError(f"the operator's '{price_param}' must be declared at its top level")
    price_set_name = params[price_param].index[0]
    step = next((s.step for s in own.ir.sets if s.name == price_set_name), None)
    own_price = np.array([values[k] for k in keys[price_param]])
    return Operator(path, text, price_param, keys[price_param],
                    {r: keys[r] for r in responses}, own.flat.obj_unit, _hours(step),
                    float(np.mean(own_price)), tuple(allow_read))


def _hours(step: str | None) -> float | None:
    """``"15 min"`` -> 0.25 (the time set's step in hours; None when it has none)."""
    if not step:
        return None
    from qgridlang.semantics.units import convert, unit_at

    number, _, unit = step.strip().partition(" ")
    return float(number) * convert(unit_at(unit.strip(), None), unit_at("h", None), None,
                                   "the time step")


def evaluate(shared: dict[str, Any], index: int, price: np.ndarray) -> dict[str, Any]:
    """One candidate (runs on a dask worker): the communities' responses, then the operator."""
    t0 = time.perf_counter()
    operator: Operator = shared["operator"]
    communities: dict[str, ResponseModel] = shared["communities"]
    settings: SolveSettings = shared["solve"]
    row: dict[str, Any] = {"candidate": index, "price": price, "status": "", "objective": math.nan,
                           "communities": {}}
    new = {operator.price_param: Values(operator.price_keys, price)}
    for param, model in communities.items():
        r = model.solve(price, settings)
        row["communities"][param] = {"status": r["status"], "objective": r["objective"],
                                     "response": r["response"]}
        if not r["feasible"]:
            row["status"] = f"community {param}: {r['status']}"
            row["seconds"] = time.perf_counter() - t0
            return row
        new[param] = Values(operator.response_keys[param], r["response"], model.output_unit)
    try:
        checked = check_with(operator.file, operator.text, new, operator.allow_read)
    except QglError as exc:
        row["status"] = f"operator model: {exc.message}"
        row["seconds"] = time.perf_counter() - t0
        return row
    status, objective = solve_objective(checked, settings)
    row["status"] = status
    row["objective"] = objective
    row["seconds"] = time.perf_counter() - t0
    return row


def solve_objective(checked: Any, settings: SolveSettings) -> tuple[str, float]:
    """Status and exact objective of a solve with HiGHS, without building the full
    :class:`~qgridlang.results.Solution` (for a feeder over many scenarios, hundreds of
    thousands of named values nobody reads here). Like ``qglc solve``, a plan that breaks the
    model's constraints is not a result."""
    from qgridlang.dispatcher import compile_model
    from qgridlang.registry import get_backend, get_target

    be = get_backend("highs")
    tgt = get_target(be.target)
    options = settings.options()
    compiled = compile_model(checked, be.target, options)
    raw = be.run(compiled.artifact, options)
    if raw.x is None:
        return raw.status.value, math.nan
    x = tgt.invert(raw.x, compiled.inverse)
    if checked.flat.violations(x):
        return "error", math.nan  # the backend's plan breaks model constraints
    return raw.status.value, float(checked.flat.objective_value(x))


def price_search(operator_file: str | Path, communities: dict[str, str | Path],
                 output: str | Path, spec: SearchSpec, *, workers: int | None = None,
                 scheduler: str | None = None, allow_read: tuple[str, ...] = (),
                 progress: cluster.Progress | None = None) -> SearchSummary:
    output = Path(output)
    if output.suffix.lower() != ".csv":
        raise UsageError(f"the price search writes a .csv, not '{output.name}'",
                         hint="e.g. -o search.csv")
    from qgridlang.atomic import check_writable
    from qgridlang.datasets.store import write_text

    check_writable(output)
    if not communities:
        raise UsageError("name at least one community: --community PARAM=MODEL.qgl")
    t0 = time.perf_counter()
    operator = load_operator(operator_file, spec.price_param, list(communities), allow_read)
    mean = spec.mean if spec.mean is not None else operator.own_mean
    prices = PriceSet(mean, spec.lower * mean, spec.upper * mean)
    models: dict[str, ResponseModel] = {}
    for param, file in communities.items():
        m = prepare(file, "price", None, mean, "auto", allow_read)
        if m.periods != len(operator.price_keys):
            raise UsageError(f"community {file} has {m.periods} periods, the operator model "
                             f"{len(operator.price_keys)}")
        models[param] = m
    periods = len(operator.price_keys)
    if operator.step_hours is None:
        raise UsageError("the operator's price is not indexed by a time set (`time T = … step "
                         "…`): block boundaries in hours cannot be placed")
    bounds = []
    for h in spec.boundaries:
        k = h / operator.step_hours
        if abs(k - round(k)) > 1e-9:
            raise UsageError(f"block boundary {h:g} h is not a whole number of "
                             f"{operator.step_hours:g} h periods")
        bounds.append(int(round(k)))
    candidates = tou_family(periods, bounds, prices, spec.step)
    blocks = len(bounds) + 1
    edges = [0, *bounds, periods]
    settings = {"operator": Path(operator_file).name, "operator_text": operator.text,
                "communities": {p: [Path(str(f)).name, models[p].fingerprint()]
                                for p, f in communities.items()},
                "boundaries_h": list(spec.boundaries), "step": spec.step, "mean": mean,
                "lower": prices.lower, "upper": prices.upper, "solve": vars(spec.solve)}
    manifest = output.with_name(output.name + ".manifest.json")
    done = _resume(output, manifest, settings)
    t1 = time.perf_counter()
    header = ["candidate", *[f"block{b + 1}" for b in range(blocks)], "status", "objective",
              *[f"{p}_objective" for p in communities], "seconds"]
    if not output.exists():
        write_text(output, ",".join(header) + "\n")
        write_text(manifest, json.dumps(settings, indent=1))
    tasks = [(i, p) for i, p in enumerate(candidates) if i not in done]
    evaluated = 0

    def save(row: dict[str, Any]) -> None:
        nonlocal evaluated
        values = [row["candidate"], *[row["price"][edges[b]] for b in range(blocks)],
                  row["status"], row["objective"],
                  *[row["communities"].get(p, {}).get("objective", math.nan)
                    for p in communities], row["seconds"]]
        with open(output, "a", encoding="utf-8", newline="") as f:
            csv.writer(f).writerow([repr(float(v)) if isinstance(v, float | np.floating)
                                     else v for v in values])
            f.flush()
        evaluated += 1

    shared = {"operator": operator, "communities": models, "solve": spec.solve}
    if tasks:
        with cluster.client(workers, scheduler) as c:
            cluster.run(c, evaluate, shared, tasks, save, progress)
    elif progress:
        progress(0, 0)
    rows = read_results(output)
    ok = [r for r in rows if r["status"] == "optimal" and math.isfinite(r["objective"])]
    best = None
    if ok:
        b = min(ok, key=lambda r: r["objective"])
        vector = np.repeat([b[f"block{k + 1}"] for k in range(blocks)], np.diff(edges))
        best = {"candidate": b["candidate"], "objective": b["objective"],
                "blocks": [b[f"block{k + 1}"] for k in range(blocks)],
                "block_periods": [[edges[k] + 1, edges[k + 1]] for k in range(blocks)],
                "price": vector.tolist(), "mean": float(np.mean(vector))}
    return SearchSummary(output, len(candidates), evaluated, best,
                         sum(1 for r in rows if r["status"] != "optimal"), t1 - t0,
                         time.perf_counter() - t1,
                         {"price": next(iter(models.values())).price_unit,
                          "objective": operator.objective_unit})


def _resume(output: Path, manifest: Path, settings: dict[str, Any]) -> set[int]:
    """Candidates already in ``output`` (with matching settings), else refuse to mix."""
    if not output.exists():
        return set()
    try:
        old = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UsageError(f"'{output}' exists without its manifest {manifest.name}: it is not "
                         "a price search this run can continue", hint="remove it, or write "
                         "another -o") from None
    if old != json.loads(json.dumps(settings)):
        raise UsageError(f"'{output}' holds a price search with other settings",
                         hint="rerun with the same settings to continue it, or remove it "
                              f"and {manifest.name}, or write another -o")
    return {int(r["candidate"]) for r in read_results(output)}


def read_results(output: Path) -> list[dict[str, Any]]:
    """The rows of a price-search CSV (a last line cut short by a kill is skipped)."""
    rows: list[dict[str, Any]] = []
    with open(output, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for raw in reader:
            if None in raw or any(v is None for v in raw.values()):
                continue
            try:
                row: dict[str, Any] = {k: (raw[k] if k == "status" else float(raw[k]))
                                       for k in raw}
            except ValueError:
                continue
            row["candidate"] = int(row["candidate"])
            rows.append(row)
    return rows
