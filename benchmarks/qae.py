"""Amplitude estimation: the DN-EC paper's Table I regenerated, and error versus cost (issue 9).

The loss is a DN-EC-style daily cost of a fixed plan (:class:`DailyCost`): 24 hours of net
import ``load - pv`` bought at a time-of-use price, plus the settlement of the forecast errors,
``loss = sum_t price_t (load_t - pv_t) + xi`` with ``xi = sum_t price_t (eps_load_t - eps_pv_t)``.
Independent normal hourly errors make ``xi`` one aggregated normal ``N(mu, sigma^2)``; the loss is
affine in it (the paper's ``f = a xi + b``). ``xi`` is truncated to ``[-3 sigma, 3 sigma]`` around
the forecast and split into ``2^n`` equal bins, each with its CDF mass (renormalised; the
truncated mass is reported) at its midpoint.

The load forecast is biased low (``mu > 0``) on purpose: a centred error makes the rescaled payoff
symmetric about 1/2 on its window, so ``a = E[f] = 1/2`` exactly, which is a grid point of
canonical AE for every ``m >= 2`` and gives zero error for every payoff (``table1 --centred``
measures it). A biased forecast puts ``a`` off the grid.

``table1``: canonical AE (``method="ae"``) with ``m`` evaluation qubits on oracles with ``n``
loader qubits, for the payoffs ``linear`` (Circuit-1), ``exact_mc`` (Circuit-2) and ``exact``: the
error against the exact expectation of the discretised distribution, two-qubit gates and depth of
``A`` decomposed to cx/u, wall times, A-queries. Exact probabilities throughout (no shots): the
estimate is the most likely outcome of AE's register (the runner's ``engine="analytic"``, which
takes ``a`` from the statevector of ``A`` and the Fejer-kernel distribution of phase estimation;
equal to the simulated AE circuit, tests/test_qae_runner.py); the full AE circuit is also
simulated where its predicted time fits ``--budget``. Every stage runs in a child process killed
at ``--budget`` seconds; what cannot finish is recorded as skipped, with the extrapolated time.

``cost``: relative error of ``E[loss]`` against the number of A applications: canonical AE
(exact, the mode of its register; and one shot drawn from that exact distribution), IQAE, MLAE
and FAE (sampled on Aer, seeded), Monte Carlo with as many samples (several seeds, median). A
Grover power ``Q^k`` applies ``A`` or its inverse ``2k + 1`` times per shot; qiskit-algorithms
counts ``k`` (``num_oracle_queries``; FAE counts ``2k + 1``): both are saved, the plot uses A
applications, the unit an MC sample costs.

Rows are saved to JSON as each completes; a rerun skips saved rows unless ``--force``::

    python benchmarks/qae.py table1 [--n 5 12] [--payoffs linear exact_mc exact] [--budget 120]
    python benchmarks/qae.py cost [--max-queries 1e6]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TABLE1 = RESULTS / "qae_table1.json"
COST = RESULTS / "qae_error_vs_cost.json"
PLOT = RESULTS / "qae_error_vs_cost.png"
PAYOFFS = ("linear", "exact_mc", "exact")
TRUNCATION = 3.0  # the window, in sigmas around the forecast (SPECS A7: +-3 sigma)

# SPECS A8, Table I, verbatim: error (%) and time (us) per "number of qubits" 5..11
PAPER: dict[str, dict[str, list[float]]] = {
    "linear": {"error_pct": [0.0939, 0.0470, 0.0236, 0.0119, 0.0060, 0.0031, 0.0016],
               "time_us": [0.0040, 0.0060, 0.0060, 0.0060, 0.0060, 0.0061, 0.0063]},
    "exact_mc": {"error_pct": [0.0937, 0.0468, 0.0234, 0.0117, 0.0058, 0.0029, 0.0014],
                 "time_us": [0.1685, 0.8326, 4.8751, 93.423, 755.83, 6534.4, 58568.0]},
}
PAPER_QUBITS = list(range(5, 12))


# --- the loss --------------------------------------------------------------------------------

@dataclass(frozen=True)
class DailyCost:
    """A plan's daily cost under load and PV forecast errors, affine in one aggregated normal.

    Attributes:
        price: $/MWh per hour (time of use: 40 at night, 60 by day, 110 in the evening peak).
        load: Forecast load per hour, MW (a community feeder, 2.2-4.6 MW).
        pv: Forecast PV per hour, MW (0 at night, 2.5 MW at noon).
        load_sd: Load forecast error, fraction of the load (sd).
        pv_sd: PV forecast error, fraction of the PV (sd).
        load_bias: The load forecast's mean error, fraction of the load (positive: the load is
            under-forecast, so the expected settlement is a cost).
        centred: Ignore ``load_bias`` (the degenerate symmetric case).
    """

    price: tuple[float, ...] = field(default_factory=lambda: tuple(
        [40.0] * 7 + [60.0] * 10 + [110.0] * 4 + [60.0] * 2 + [40.0]))
    load: tuple[float, ...] = (2.4, 2.3, 2.2, 2.2, 2.3, 2.6, 3.1, 3.5, 3.6, 3.5, 3.4, 3.4,
                               3.3, 3.3, 3.4, 3.6, 3.9, 4.3, 4.6, 4.5, 4.2, 3.7, 3.1, 2.7)
    pv: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.5, 1.1, 1.7, 2.2, 2.5,
                             2.5, 2.3, 1.9, 1.3, 0.7, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    load_sd: float = 0.05
    pv_sd: float = 0.15
    load_bias: float = 0.01
    centred: bool = False

    @property
    def plan_cost(self) -> float:
        """The plan's cost at the forecast, $: net import bought at the hour's price."""
        return float(sum(c * (lo - p) for c, lo, p in zip(self.price, self.load, self.pv,
                                                          strict=True)))

    @property
    def mu(self) -> float:
        """Mean of the aggregated error ``xi``, $."""
        if self.centred:
            return 0.0
        return float(sum(c * self.load_bias * lo for c, lo in zip(self.price, self.load,
                                                                  strict=True)))

    @property
    def sigma(self) -> float:
        """Standard deviation of ``xi``, $."""
        return float(math.sqrt(sum(c * c * ((self.load_sd * lo) ** 2 + (self.pv_sd * p) ** 2)
                                   for c, lo, p in zip(self.price, self.load, self.pv,
                                                       strict=True))))

    def grid(self, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Probabilities and losses ($) of ``2^n`` bins of ``[-3 sigma, 3 sigma]``, with the
        truncated mass, the discretised and the continuous (truncated normal) expectations."""
        from scipy.stats import norm, truncnorm

        s, mu = self.sigma, self.mu
        edges = np.linspace(-TRUNCATION * s, TRUNCATION * s, 2**n + 1)
        mass = np.diff(norm.cdf(edges, loc=mu, scale=s))
        inside = float(mass.sum())
        probs = mass / inside
        values = self.plan_cost + 0.5 * (edges[:-1] + edges[1:])
        cont = truncnorm((-TRUNCATION * s - mu) / s, (TRUNCATION * s - mu) / s, loc=mu, scale=s)
        facts = {"truncated_mass": 1.0 - inside, "e_exact": float(probs @ values),
                 "e_continuous": self.plan_cost + float(cont.mean()), "bin_width": float(
                     edges[1] - edges[0])}
        return probs, values, facts

    def describe(self) -> dict[str, Any]:
        return {"plan_cost": self.plan_cost, "mu": self.mu, "sigma": self.sigma,
                "window": f"xi in [-{TRUNCATION:g} sigma, {TRUNCATION:g} sigma] around the "
                          "forecast, 2^n equal bins at their midpoints",
                "load_sd": self.load_sd, "pv_sd": self.pv_sd,
                "load_bias": 0.0 if self.centred else self.load_bias}


def loss_grid(cost: DailyCost, n: int) -> tuple[Any, dict[str, float]]:
    from qgridlang.compilers.qae import LossGrid

    probs, values, facts = cost.grid(n)
    return LossGrid(probs, values), facts


def rel_pct(x: float, ref: float) -> float:
    return abs(x - ref) / abs(ref) * 100.0


# --- Table I: one row per (n, m, payoff), its stages in child processes ----------------------

def measure_row(n: int, m: int, payoff: str, centred: bool, stage: str) -> dict[str, Any]:
    """One stage of a Table I row, measured in this process.

    ``oracle``: build ``A``, its decomposed resources, canonical AE from its statevector
    (analytic engine). ``circuit``: the full AE circuit simulated (exact probabilities)."""
    from qgridlang.backends.qae import estimate_amplitude
    from qgridlang.compilers.qae import expectation_oracle, resources

    grid, facts = loss_grid(DailyCost(centred=centred), n)
    t0 = time.perf_counter()
    oracle = expectation_oracle(grid, payoff)
    build_s = time.perf_counter() - t0
    if stage == "circuit":
        res = estimate_amplitude(oracle, "ae", eval_qubits=m)
        return {"circuit_s": res.seconds, "circuit_estimate": res.estimate,
                "circuit_mle": res.info.get("mle"), "circuit_qubits": res.info.get("qubits")}
    t1 = time.perf_counter()
    counts = resources(oracle.circuit, seed=1)
    res_s = time.perf_counter() - t1
    res = estimate_amplitude(oracle, "ae", eval_qubits=m, options={"engine": "analytic"})
    post = oracle.post_processing
    e_hat, e_mle = post(res.estimate), post(float(res.info["mle"]))
    ref = facts["e_exact"]
    notes = oracle.notes
    return {
        "build_s": build_s, "resources_s": res_s, "analytic_s": res.seconds,
        "qubits_A": counts["decomposed"]["qubits"],
        "two_qubit_A": counts["decomposed"]["two_qubit_gates"],
        "depth_A": counts["decomposed"]["depth"],
        "logical_A": counts["logical"],
        "amplitude": oracle.exact_amplitude, "amplitude_simulated": res.info.get(
            "simulated_amplitude"),
        "estimate": res.estimate, "mle": res.info["mle"], "ci": list(res.ci),
        "e_estimate": e_hat, "e_mle": e_mle, "e_exact": ref,
        "e_continuous": facts["e_continuous"], "truncated_mass": facts["truncated_mass"],
        "error_pct": rel_pct(e_hat, ref), "error_mle_pct": rel_pct(e_mle, ref),
        "amplitude_error": abs(res.estimate - oracle.exact_amplitude),
        "discretisation_pct": rel_pct(ref, facts["e_continuous"]),
        "linear_bias": notes.get("bias"), "linear_bias_pct": (
            abs(notes["bias"]) / abs(ref) * 100.0 if notes.get("bias") is not None else None),
        "multi_controlled_rotations": notes.get("multi_controlled_rotations"),
        "oracle_queries": res.oracle_queries, "a_applications": 2 ** (m + 1) - 1,
    }


def run_child(spec: dict[str, Any], budget: float) -> tuple[dict[str, Any] | None, float, str]:
    """``measure_row(**spec)`` in a child process killed after ``budget`` s (plus the import
    time the child reports before it starts): the row, the child's wall time, a status."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "_stage", json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=budget + 30, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - t0, f"skipped: over budget (killed after {budget:g} s)"
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, wall, f"failed: {tail[0][:300]}"
    return json.loads(out.stdout.strip().splitlines()[-1]), wall, "ok"


def extrapolate(history: list[tuple[float, float]], x: float) -> float | None:
    """Time at size ``x`` from a log-linear fit of the last two measured ``(size, seconds)``
    of the same series (``None`` with fewer than two)."""
    pts = [(s, t) for s, t in history if t > 0][-2:]
    if len(pts) < 2 or pts[0][0] == pts[1][0]:
        return None
    (x0, t0), (x1, t1) = pts
    slope = (math.log(t1) - math.log(t0)) / (x1 - x0)
    return float(t1 * math.exp(slope * (x - x1)))


def circuit_cost(row: dict[str, Any]) -> float:
    """Work of the full AE circuit: two-qubit gates of A times Grover powers (its transpiling,
    which dominates, grows with both)."""
    return float(row["two_qubit_A"]) * (2 ** row["m"] - 1)


def predict_circuit(done: list[dict[str, Any]], row: dict[str, Any]) -> float | None:
    """Seconds of the full AE circuit for ``row``: seconds per unit of :func:`circuit_cost` of
    the largest row measured so far (the same payoff if one ran; small rows are dominated by
    fixed costs), times this row's cost."""
    ran = [r for r in done if isinstance(r.get("circuit_s"), float) and r.get("two_qubit_A")]
    same = [r for r in ran if r["payoff"] == row["payoff"]] or ran
    if not same:
        return None
    big = max(same, key=circuit_cost)
    return float(big["circuit_s"]) / circuit_cost(big) * circuit_cost(row)


def table1_specs(args: argparse.Namespace) -> Iterator[tuple[str, int, int, str]]:
    """(sweep, n, m, payoff) in the order they run: n = m first, then the two sweeps."""
    for payoff in args.payoffs:
        for n in range(args.n[0], args.n[1] + 1):
            yield "n=m", n, n, payoff
    if args.sweeps:
        for payoff in args.payoffs:
            for m in range(3, 11):
                yield f"n={args.fixed}", args.fixed, m, payoff
            for n in range(3, 11):
                yield f"m={args.fixed}", n, args.fixed, payoff


def key_of(sweep: str, n: int, m: int, payoff: str, centred: bool) -> str:
    return f"{'centred ' if centred else ''}{sweep} n={n} m={m} {payoff}"


def table1(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, Any]:
    doc = load(args.out)
    doc["setting_centred" if args.centred else "setting"] = {
        **DailyCost(centred=args.centred).describe(), "method": "ae",
                      "reference": "exact expectation of the discretised distribution",
                      "estimate": "most likely outcome of canonical AE (exact probabilities)",
                      "budget_s": args.budget}
    rows: dict[str, Any] = doc.setdefault("rows", {})
    for sweep, n, m, payoff in table1_specs(args):
        key = key_of(sweep, n, m, payoff, args.centred)
        if key in rows and not args.force:
            continue
        row: dict[str, Any] = {"sweep": sweep, "n": n, "m": m, "payoff": payoff,
                               "centred": args.centred,
                               "when": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
        series = [r for r in rows.values() if r.get("payoff") == payoff
                  and r.get("sweep") == sweep and r.get("centred") == args.centred]
        x_of = (lambda r: r["n"]) if sweep != f"n={args.fixed}" else (lambda r: r["m"])
        hist = [(x_of(r), r["oracle_wall_s"]) for r in series
                if isinstance(r.get("oracle_wall_s"), float) and r.get("status") == "ok"]
        guess = extrapolate(hist, x_of(row))
        if guess is not None and guess > 2 * args.budget:
            row.update(status="skipped: over budget", extrapolated_s=guess)
        else:
            spec = {"n": n, "m": m, "payoff": payoff, "centred": args.centred, "stage": "oracle"}
            got, wall, status = run_child(spec, args.budget)
            row.update(status=status, oracle_wall_s=wall)
            if got is None and guess is not None:
                row["extrapolated_s"] = guess
            row.update(got or {})
        if row["status"] == "ok" and args.circuit:
            done = [r for r in rows.values() if r.get("status") == "ok"]
            guess_c = predict_circuit(done, row)
            if guess_c is not None and guess_c > args.budget:
                row.update(circuit_status="skipped: over budget", circuit_extrapolated_s=guess_c)
            else:
                spec = {"n": n, "m": m, "payoff": payoff, "centred": args.centred,
                        "stage": "circuit"}
                got, wall, status = run_child(spec, args.budget)
                row.update(circuit_status=status, circuit_wall_s=wall, **(got or {}))
                if got is None and guess_c is not None:
                    row["circuit_extrapolated_s"] = guess_c
        rows[key] = row
        save(args.out, doc)
        log(row_line(row))
    return doc


def row_line(r: dict[str, Any]) -> str:
    if r["status"] != "ok":
        ext = r.get("extrapolated_s")
        return (f"{r['sweep']:<6} n={r['n']:>2} m={r['m']:>2} {r['payoff']:<8} {r['status']}"
                + (f" (extrapolated {ext:.3g} s)" if ext else ""))
    circ = (f"{r['circuit_s']:.1f}" if isinstance(r.get("circuit_s"), float)
            else str(r.get("circuit_status", "-")))
    return (f"{r['sweep']:<6} n={r['n']:>2} m={r['m']:>2} {r['payoff']:<8} "
            f"err {r['error_pct']:.3e} % (mle {r['error_mle_pct']:.1e}) "
            f"2q {r['two_qubit_A']:>7} depth {r['depth_A']:>7} "
            f"analytic {r['analytic_s']:.2f} s circuit {circ} queries {r['oracle_queries']}")


def print_table1(doc: dict[str, Any], log: Callable[[str], None] = print) -> None:
    """Ours (n = m, exact probabilities) beside the paper's, per payoff and qubit count."""
    rows = [r for r in doc.get("rows", {}).values() if r.get("sweep") == "n=m"]
    for payoff in PAYOFFS:
        mine = {r["n"]: r for r in rows if r["payoff"] == payoff and not r.get("centred")}
        if not mine:
            continue
        log(f"\n{payoff}: n = m | paper err % | ours err % | ours mle err % | paper us | "
            "2q(A) | depth(A) | analytic s | circuit s | queries")
        for n in sorted(mine):
            r = mine[n]
            paper = PAPER.get(payoff, {})
            i = n - PAPER_QUBITS[0]
            pe = paper["error_pct"][i] if paper and 0 <= i < len(PAPER_QUBITS) else None
            pt = paper["time_us"][i] if paper and 0 <= i < len(PAPER_QUBITS) else None
            if r["status"] != "ok":
                log(f"  {n:>2} | {fmt(pe)} | {r['status']} | extrapolated "
                    f"{fmt(r.get('extrapolated_s'))} s")
                continue
            circ = r.get("circuit_s") if isinstance(r.get("circuit_s"), float) else r.get(
                "circuit_status")
            log(f"  {n:>2} | {fmt(pe)} | {r['error_pct']:.4g} | {r['error_mle_pct']:.2g} | "
                f"{fmt(pt)} | {r['two_qubit_A']} | {r['depth_A']} | {r['analytic_s']:.2f} | "
                f"{fmt(circ)} | {r['oracle_queries']}")


def fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


# --- error versus cost -----------------------------------------------------------------------

def a_applications(method: str, res: Any) -> int:
    """Applications of A or A^dagger: ``shots * sum(2k + 1)`` over the circuits run."""
    if method == "fae":  # qiskit-algorithms' FAE already counts (2k + 1) per shot
        return int(res.oracle_queries)
    if method == "ae":
        return 2 ** (int(res.info["eval_qubits"]) + 1) - 1
    shots = int(res.shots or 1)
    return shots * sum(2 * int(k) + 1 for k in res.info["powers"])


def mc_errors(probs: np.ndarray, values: np.ndarray, ref: float, samples: int,
              seeds: list[int]) -> list[float]:
    """Relative errors (%) of the Monte Carlo mean of ``samples`` draws, one per seed."""
    out = []
    for s in seeds:
        rng = np.random.default_rng(s)
        draws = rng.choice(len(probs), size=samples, p=probs)
        out.append(rel_pct(float(values[draws].mean()), ref))
    return out


def cost_points(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, Any]]]:
    """(series, parameters) of every point, cheapest first within a series."""
    max_q = float(args.max_queries)
    top_m = max(2, int(math.floor(math.log2(max_q + 1))) - 1)  # 2^(m+1) - 1 A applications
    for m in range(2, top_m + 1):
        yield "ae", {"eval_qubits": m}
        yield "ae_1shot", {"eval_qubits": m}
        yield "ae_linear", {"eval_qubits": m, "linear_scale": 0.25}
        yield "ae_linear_c0.05", {"eval_qubits": m, "linear_scale": 0.05}
    for eps in np.logspace(-1, -5, 9):
        yield "iqae", {"epsilon": float(eps), "shots": args.shots}
    for m in range(1, 16):
        if args.shots * (2 ** m - 1) * 2 > 4 * max_q:
            break
        yield "mlae", {"eval_qubits": m, "shots": args.shots}
    for eps in np.logspace(-2, -5, 7):
        yield "fae", {"epsilon": float(eps)}
    for x in np.logspace(1, math.log10(max_q), 4 * round(math.log10(max_q) - 1) + 1):
        yield "mc", {"samples": int(round(x))}


def cost_point(series: str, params: dict[str, Any], n: int, seeds: list[int],
               budget: float) -> dict[str, Any]:
    """One point of the error-versus-cost plot (median over ``seeds`` where it is random)."""
    from qgridlang.backends.qae import ae_distribution, estimate_amplitude
    from qgridlang.compilers.qae import expectation_oracle

    grid, facts = loss_grid(DailyCost(), n)
    ref = facts["e_exact"]
    out: dict[str, Any] = {"series": series, **params, "e_exact": ref}
    t0 = time.perf_counter()
    if series == "mc":
        errs = mc_errors(grid.probs, grid.values, ref, params["samples"], seeds)
        out.update(errors_pct=errs, error_pct=float(np.median(errs)),
                   a_applications=params["samples"], seeds=seeds)
    elif series.startswith("ae"):
        payoff = "linear" if "linear" in series else "exact"
        scale: dict[str, Any] = ({"linear_scale": params["linear_scale"]}
                                 if payoff == "linear" else {})
        oracle = expectation_oracle(grid, payoff, **scale)
        m = params["eval_qubits"]
        # a from the statevector of A (the runner's analytic engine); the estimate is the mode
        # of AE's register, argmax of its exact distribution (ae_distribution): what the engine
        # returns, without its maximum-likelihood pass over 2^m outcomes (minutes at m > 14)
        res = estimate_amplitude(oracle, "ae", eval_qubits=2, options={"engine": "analytic"})
        dist = ae_distribution(float(res.info["simulated_amplitude"]), m)
        mode = math.sin(math.pi * int(np.argmax(dist)) / 2**m) ** 2
        out.update(a_applications=2 ** (m + 1) - 1, oracle_queries=2**m - 1,
                   amplitude=oracle.exact_amplitude, linear_bias=oracle.notes.get("bias"),
                   engine="mode of ae_distribution(a of A's statevector)")
        if series == "ae_1shot":
            # one shot of canonical AE: an outcome y drawn from the exact distribution of its
            # register, estimate sin^2(pi y / 2^m)
            errs = []
            for s in seeds:
                y = int(np.random.default_rng(s).choice(len(dist), p=dist))
                est = math.sin(math.pi * y / 2**m) ** 2
                errs.append(rel_pct(oracle.post_processing(est), ref))
            out.update(errors_pct=errs, error_pct=float(np.median(errs)), seeds=seeds)
        else:
            out.update(estimate=mode, error_pct=rel_pct(oracle.post_processing(mode), ref))
    else:
        oracle = expectation_oracle(grid, "exact")
        errs, apps, queries, wall = [], [], [], []
        for s in seeds:
            if time.perf_counter() - t0 > budget:
                break  # the seeds that ran are the point; say how many
            kw: dict[str, Any] = {"seed": s, "shots": params.get("shots", 100)}
            if "epsilon" in params:
                kw["epsilon"] = params["epsilon"]
            if "eval_qubits" in params:
                kw["eval_qubits"] = params["eval_qubits"]
            res = estimate_amplitude(oracle, series, **kw)
            errs.append(rel_pct(oracle.post_processing(res.estimate), ref))
            apps.append(a_applications(series, res))
            queries.append(res.oracle_queries)
            wall.append(res.seconds)
        out.update(errors_pct=errs, error_pct=float(np.median(errs)),
                   a_applications=int(np.median(apps)), a_applications_each=apps,
                   oracle_queries_each=queries, seeds=seeds[: len(errs)], seconds_each=wall,
                   amplitude=oracle.exact_amplitude)
    out["seconds"] = time.perf_counter() - t0
    return out


def cost_key(series: str, params: dict[str, Any]) -> str:
    return series + " " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in sorted(params.items()))


def cost(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, Any]:
    doc = load(args.out)
    grid, facts = loss_grid(DailyCost(), args.loader_qubits)
    doc["setting"] = {**DailyCost().describe(), **facts, "loader_qubits": args.loader_qubits,
                      "shots": args.shots, "mc_seeds": args.mc_seeds,
                      "ae_seeds": args.ae_seeds, "budget_s": args.budget,
                      "x": "applications of A or A^dagger (shots * sum(2k + 1)); MC: samples"}
    points: dict[str, Any] = doc.setdefault("points", {})
    over: set[str] = set()
    for series, params in cost_points(args):
        key = cost_key(series, params)
        if series in over or (key in points and not args.force):
            continue
        seeds = list(range(args.mc_seeds)) if series in ("mc", "ae_1shot") else list(
            range(args.ae_seeds))
        spec = {"series": series, "params": params, "n": args.loader_qubits, "seeds": seeds,
                "budget": args.budget}
        got, wall, status = run_child({"cost": spec}, args.budget * 2)
        if got is None:
            points[key] = {"series": series, **params, "status": status, "wall_s": wall}
            over.add(series)  # larger points of the series cost more still
        else:
            points[key] = {**got, "status": "ok", "wall_s": wall}
            if got.get("a_applications", 0) > 4 * float(args.max_queries):
                over.add(series)
        save(args.out, doc)
        p = points[key]
        log(f"{key:<44} {p['status']:<8} apps {p.get('a_applications', '-')!s:>9} "
            f"err {p.get('error_pct', float('nan')):.3e} %  {p.get('seconds', wall):.1f} s")
    doc["fits"] = fits(doc)
    save(args.out, doc)
    plot(doc, args.png)
    return doc


SERIES_STYLE = {"ae": ("canonical AE, exact (mode)", "C0", "o"),
                "ae_1shot": ("canonical AE, 1 shot (median)", "C0", "x"),
                "ae_linear": ("canonical AE, linear payoff c=0.25", "C3", "s"),
                "ae_linear_c0.05": ("canonical AE, linear payoff c=0.05", "C5", "s"),
                "iqae": ("IQAE, 100 shots/round (median)", "C1", "^"),
                "mlae": ("MLAE, 100 shots/power (median)", "C2", "v"),
                "fae": ("FAE (median)", "C4", "D"),
                "mc": ("Monte Carlo (median)", "k", ".")}


def fits(doc: dict[str, Any]) -> dict[str, Any]:
    """Least-squares slope of log10(error) against log10(A applications) per series (points
    with a positive error; the linear payoff's points above twice its bias floor)."""
    out: dict[str, Any] = {}
    e_exact = doc["setting"]["e_exact"]
    for series in SERIES_STYLE:
        pts = [p for p in doc.get("points", {}).values()
               if p.get("series") == series and p.get("status") == "ok"
               and p.get("error_pct", 0) > 0]
        floor = None
        if series.startswith("ae_linear") and pts:
            floor = abs(pts[0]["linear_bias"]) / abs(e_exact) * 100.0
            pts = [p for p in pts if p["error_pct"] > 2 * floor]
        if len(pts) < 3:
            out[series] = {"points": len(pts), "floor_pct": floor}
            continue
        x = np.log10([p["a_applications"] for p in pts])
        y = np.log10([p["error_pct"] for p in pts])
        slope, icept = np.polyfit(x, y, 1)
        out[series] = {"slope": float(slope), "intercept": float(icept), "points": len(pts),
                       "range": [int(min(p["a_applications"] for p in pts)),
                                 int(max(p["a_applications"] for p in pts))],
                       "floor_pct": floor}
    return out


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    f = doc.get("fits", {})
    for series, (label, color, marker) in SERIES_STYLE.items():
        pts = sorted((p for p in doc.get("points", {}).values()
                      if p.get("series") == series and p.get("status") == "ok"
                      and p.get("error_pct", 0) > 0), key=lambda p: p["a_applications"])
        if not pts:
            continue
        slope = f.get(series, {}).get("slope")
        text = label + (f", slope {slope:.2f}" if slope is not None else "")
        ax.loglog([p["a_applications"] for p in pts], [p["error_pct"] for p in pts],
                  marker=marker, color=color, ls="-" if series != "ae_1shot" else ":",
                  label=text, ms=4, lw=1)
        floor = f.get(series, {}).get("floor_pct")
        if floor:
            ax.axhline(floor, color=color, ls="--", lw=0.8)
    ax.set_xlabel("applications of A (AE: shots x sum(2k+1); MC: samples)")
    ax.set_ylabel("relative error of E[daily cost] (%)")
    s = doc["setting"]
    ax.set_title(f"Error vs cost, n = {s['loader_qubits']} loader qubits, "
                 f"E = {s['e_exact']:.2f} $ (dashed: linear-payoff bias)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- files and command line ------------------------------------------------------------------

def load(path: Path) -> dict[str, Any]:
    if path.exists():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    return {}


def save(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=float) + "\n", encoding="utf-8")
    tmp.replace(path)


def child(spec: dict[str, Any]) -> None:
    """The ``_stage`` entry: one measurement, its JSON on the last line of stdout."""
    import warnings

    warnings.filterwarnings("ignore")
    if "cost" in spec:
        c = spec["cost"]
        out = cost_point(c["series"], c["params"], c["n"], c["seeds"], c["budget"])
    else:
        out = measure_row(spec["n"], spec["m"], spec["payoff"], spec["centred"], spec["stage"])
    print(json.dumps(out, default=float))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table1", help="Table I regenerated (canonical AE, n = m, and sweeps)")
    t.add_argument("--n", type=int, nargs=2, default=[5, 12], metavar=("FROM", "TO"))
    t.add_argument("--payoffs", nargs="+", choices=PAYOFFS, default=list(PAYOFFS))
    t.add_argument("--budget", type=float, default=120.0, help="seconds per stage of a row")
    t.add_argument("--fixed", type=int, default=6, help="the fixed n (m swept) and m (n swept)")
    t.add_argument("--no-sweeps", dest="sweeps", action="store_false")
    t.add_argument("--no-circuit", dest="circuit", action="store_false",
                   help="do not simulate the full AE circuit (the analytic engine only)")
    t.add_argument("--centred", action="store_true", help="the symmetric (degenerate) case")
    t.add_argument("--force", action="store_true")
    t.add_argument("--out", type=Path, default=TABLE1)
    c = sub.add_parser("cost", help="error versus cost, AE methods against Monte Carlo")
    c.add_argument("--max-queries", type=float, default=1e6)
    c.add_argument("--loader-qubits", type=int, default=5)
    c.add_argument("--shots", type=int, default=100, help="shots per circuit (iqae, mlae)")
    c.add_argument("--mc-seeds", type=int, default=21)
    c.add_argument("--ae-seeds", type=int, default=5)
    c.add_argument("--budget", type=float, default=120.0, help="seconds per point")
    c.add_argument("--force", action="store_true")
    c.add_argument("--out", type=Path, default=COST)
    c.add_argument("--png", type=Path, default=PLOT)
    sub.add_parser("show", help="print Table I beside the paper's from the saved JSON")
    return p


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_stage":
        child(json.loads(argv[1]))
        return
    args = parser().parse_args(argv)
    if args.cmd == "table1":
        print_table1(table1(args))
    elif args.cmd == "cost":
        doc = cost(args)
        for series, fit in doc["fits"].items():
            print(f"{series:<16} {fit}")
    else:
        print_table1(load(TABLE1))


if __name__ == "__main__":
    main()
