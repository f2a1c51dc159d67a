"""``qglc sample-responses``: a data set of a community's responses to sampled price vectors.

For sample ``i`` of seed ``s`` the price vector is drawn by SPECS §A6's rule
(:class:`qgridlang.datasets.prices.Perturbation`, projected onto (1i)-(1j)) and the community's
MILP is solved for it; the data set holds, per sample, the price vector (input), the response
profile (output, e.g. ``ec.exchange``), the solve status, the objective and the seconds it took,
with their units in the metadata. Samples are solved in chunks on dask and saved as they
complete (:mod:`qgridlang.datasets.store`); rerunning the same command continues.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.datasets import cluster
from qgridlang.datasets.prices import Perturbation, PriceSet, sample_prices
from qgridlang.datasets.response import ResponseModel, SolveSettings, prepare
from qgridlang.datasets.store import ChunkStore, check_output, write_dataset
from qgridlang.errors import UsageError


@dataclass
class SampleSpec:
    """What to sample (everything that decides the data set's content)."""

    n: int
    seed: int
    mean: float | None = None  # None: the mean of the model's own price vector
    lower: float = 0.5  # bounds, as fractions of the mean price (SPECS §A3)
    upper: float = 1.5
    sigma: float = 0.25
    length: float = 8.0
    price_param: str = "price"
    output: str | None = None
    method: str = "auto"
    solve: SolveSettings = field(default_factory=SolveSettings)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise UsageError(f"--n must be >= 1, got {self.n}")
        if not 0 <= self.seed < 2**63:
            raise UsageError(f"--seed must be in 0 .. 2**63-1, got {self.seed}")
        if not 0 <= self.lower <= 1 <= self.upper:
            raise UsageError(f"the price bounds are fractions of the mean with lower <= 1 <= "
                             f"upper, got {self.lower} .. {self.upper}")


@dataclass
class Summary:
    output: Path
    samples: int
    solved_now: int
    statuses: dict[str, int]
    method: str
    why_recheck: str
    prepare_seconds: float
    run_seconds: float
    solve_seconds: float  # the solves' own time, summed over the samples solved now
    workers: int | None
    meta: dict[str, Any]


def price_set(model: ResponseModel, spec: SampleSpec) -> PriceSet:
    mean = spec.mean if spec.mean is not None else float(np.mean(model.base_price))
    return PriceSet(mean=mean, lower=spec.lower * mean, upper=spec.upper * mean)


def solve_chunk(model: ResponseModel, indices: np.ndarray, prices: np.ndarray,
                settings: SolveSettings) -> dict[str, np.ndarray]:
    """Solve one chunk of samples (runs on a dask worker)."""
    rows = [model.solve(p, settings) for p in prices]
    return {"sample": np.asarray(indices, dtype=np.int64), "price": prices,
            "response": np.array([r["response"] for r in rows]),
            "status": np.array([r["status"] for r in rows]),
            "objective": np.array([r["objective"] for r in rows]),
            "seconds": np.array([r["seconds"] for r in rows])}


def sample_responses(model_file: str | Path, output: str | Path, spec: SampleSpec, *,
                     workers: int | None = None, scheduler: str | None = None,
                     chunk: int = 16, allow_read: tuple[str, ...] = (),
                     progress: cluster.Progress | None = None,
                     prepared: ResponseModel | None = None) -> Summary:
    """Sample, solve, save; see the module docstring."""
    output = Path(output)
    check_output(output)
    if chunk < 1:
        raise UsageError(f"--chunk must be >= 1, got {chunk}")
    t0 = time.perf_counter()
    model = prepared or prepare(model_file, spec.price_param, spec.output, spec.mean,
                                spec.method, allow_read)
    t1 = time.perf_counter()
    prices = price_set(model, spec)
    rule = Perturbation(spec.sigma, spec.length)
    settings = {"model": Path(model_file).name, "fingerprint": model.fingerprint(),
                "seed": spec.seed, "mean": prices.mean, "lower": prices.lower,
                "upper": prices.upper, "sigma": rule.sigma, "length": rule.length,
                "price_param": model.price_param, "output": model.output,
                "method": model.method, "solve": asdict(spec.solve)}
    meta = {**settings, "kind": "qgridlang.responses",
            "units": {"price": model.price_unit, "response": model.output_unit,
                      "objective": model.objective_unit, "seconds": "s"},
            "periods": [list(k) for k in model.price_keys], "samples": spec.n,
            "rule": "price = mean * (1 + sigma * z), z white noise smoothed by a Gaussian "
                    "kernel of `length` periods (unit variance), projected onto "
                    "lower <= price <= upper and mean(price) == mean (SPECS §A6)"}
    store = ChunkStore(output, settings)
    solved_now = 0
    solve_seconds = 0.0
    if output.exists() and not store.folder.exists():
        from qgridlang.datasets.store import read_dataset

        try:
            _, old = read_dataset(output)
        except Exception:  # noqa: BLE001 (any unreadable file: refuse to overwrite it)
            old = {}
        same = {k: old.get(k) for k in settings} == _plain(settings)
        if same and old.get("samples") == spec.n:
            return Summary(output, spec.n, 0, old.get("statuses", {}), model.method,
                           model.why_recheck, t1 - t0, 0.0, 0.0, workers, old)
        raise UsageError(f"'{output}' exists and is another data set (other settings or "
                         "size)", hint="remove it, or write another -o")
    store.open()
    todo = sorted(set(range(spec.n)) - store.done())
    tasks = []
    for k in range(0, len(todo), chunk):
        idx = np.array(todo[k:k + chunk], dtype=np.int64)
        tasks.append((idx, sample_prices(spec.seed, idx, model.periods, prices, rule),
                      spec.solve))

    def save(rows: dict[str, np.ndarray]) -> None:
        nonlocal solved_now, solve_seconds
        store.save(rows)
        solved_now += len(rows["sample"])
        solve_seconds += float(np.sum(rows["seconds"]))

    if tasks:
        with cluster.client(workers, scheduler) as c:
            cluster.run(c, solve_chunk, model, tasks, save, progress,
                        [len(t[0]) for t in tasks])
    elif progress:
        progress(0, 0)
    rows = store.rows(range(spec.n))
    statuses = {str(s): int(n) for s, n in zip(*np.unique(rows["status"], return_counts=True),
                                                strict=True)}
    meta["statuses"] = statuses
    meta["prepare_seconds"] = t1 - t0
    meta["why_recheck"] = model.why_recheck
    write_dataset(output, rows, meta)
    store.remove()
    return Summary(output, spec.n, solved_now, statuses, model.method, model.why_recheck,
                   t1 - t0, time.perf_counter() - t1, solve_seconds, workers, meta)


def _plain(v: Any) -> Any:
    from qgridlang.datasets.store import _jsonable

    return _jsonable(v)
