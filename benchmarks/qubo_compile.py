"""Model -> BQM compile time: qglc against dimod, dimod CQM, PyQUBO and qiskit-optimization.

A unit-commitment-style model of U units x T hours (T a multiple of 24) of binaries ``x[u, t]``
with an equality per hour (``sum_u P_u x[u, t] == D_t``), an equality per unit and day (``K_u``
hours on), a linear cost and a quadratic cycling term (``w_u x[u, t] x[u, t-1]``), written once
in qgl and once per tool from the same arrays. Its penalty couplings grow linearly with T (each
row has U or 24 terms), so 20 x 2400 = 48,000 binaries is a model a laptop holds. Every tool
gets the same penalty weight, so every BQM is the same function: the script checks that all of
them give the objective on a known feasible point and one energy on a random point, then prints
the times and their ratios to qglc's lowering. Not run by CI::

    python benchmarks/qubo_compile.py                 # 20 units x 24, 96, 480, 2400 hours
    python benchmarks/qubo_compile.py --sizes 20x24 --skip qiskit

Times are the best of ``--repeat`` runs (a tool stops repeating after 10 s).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import dimod
import numpy as np

PENALTY = 1.0e4

MODEL = """model uc_bench "U units x T hours: hourly demand, daily on-hours, cycling cost"
set U = csv("units.csv", key = "u")
time T = 1..{periods} step 1 h
set Days = 1..{days}
set H = 1..24
param P[U]: MW, K[U], c[U]: $/MWh, w[U]: $ = csv("units.csv", key = "u")
param D[T]: MW = csv("demand.csv", key = "t", column = "D")
var x[U, T] binary
constraint balance[t in T]: sum(u in U) P[u] * x[u, t] == D[t]
constraint hours[u in U, d in Days]: sum(h in H) x[u, 24 * (d - 1) + h] == K[u]
minimize cost: sum(u in U, t in T) c[u] * P[u] * x[u, t] * dt
  + sum(u in U, t in T where t > first(T)) w[u] * x[u, t] * x[u, prev(t)]
quantum {{ penalty = {penalty} }}
"""


@dataclass(frozen=True)
class Instance:
    """Arrays of one size; ``x0`` is feasible by construction (``D`` and ``K`` come from it)."""

    power: np.ndarray  # P_u, MW
    cost: np.ndarray  # c_u, $/MWh
    hours: np.ndarray  # K_u, hours on per day
    cycling: np.ndarray  # w_u, $ per pair of consecutive hours on (negative: a reward)
    demand: np.ndarray  # D_t, MW
    x0: np.ndarray  # U x T

    @property
    def shape(self) -> tuple[int, int]:
        return self.x0.shape  # type: ignore[return-value]

    def objective(self, x: np.ndarray) -> float:
        x = x.reshape(self.shape)
        return float((self.cost * self.power) @ x.sum(axis=1)
                     + self.cycling @ (x[:, 1:] * x[:, :-1]).sum(axis=1))


def make_instance(units: int, periods: int, seed: int = 0) -> Instance:
    if periods % 24:
        raise SystemExit(f"T = {periods}: the model has whole days (T a multiple of 24)")
    rng = np.random.default_rng(seed)
    hours = rng.integers(4, 21, units)
    days = periods // 24
    # each unit on for K_u hours of every day, at random hours: feasible by construction
    keys = rng.random((units, days, 24))
    ranks = keys.argsort(axis=2).argsort(axis=2)
    x0 = (ranks < hours[:, None, None]).astype(np.int8).reshape(units, periods)
    power = rng.integers(10, 101, units)
    return Instance(power, rng.integers(10, 60, units).astype(float), hours,
                    -rng.integers(1, 20, units).astype(float), power @ x0, x0)


def write_model(inst: Instance, folder: Path) -> Path:
    units, periods = inst.shape
    rows = "".join(f"g{u},{p},{k},{c:g},{w:g}\n" for u, (p, k, c, w) in
                   enumerate(zip(inst.power.tolist(), inst.hours.tolist(), inst.cost.tolist(),
                                 inst.cycling.tolist(), strict=True)))
    (folder / "units.csv").write_text("u,P,K,c,w\n" + rows, encoding="utf-8")
    (folder / "demand.csv").write_text(
        "t,D\n" + "".join(f"{t + 1},{d}\n" for t, d in enumerate(inst.demand.tolist())),
        encoding="utf-8")
    path = folder / "uc_bench.qgl"
    path.write_text(MODEL.format(periods=periods, days=periods // 24, penalty=PENALTY),
                    encoding="utf-8")
    return path


def by_index(bqm: dimod.BinaryQuadraticModel, label: Callable[[Any], int]
             ) -> dimod.BinaryQuadraticModel:
    """The BQM relabelled to column indices ``u * T + t``."""
    return bqm.relabel_variables({v: label(v) for v in bqm.variables}, inplace=False)


def qglc(inst: Instance, folder: Path, repeat: int
         ) -> tuple[dict[str, float], dimod.BinaryQuadraticModel]:
    """Best-of-``repeat`` parse+check and lowering times (the CLI's own timings)."""
    from qgridlang import limits
    from qgridlang.checker import check_file
    from qgridlang.dispatcher import compile_model

    path = write_model(inst, folder)
    # 2000 units per hourly balance row are 4.8e7 penalty couplings: above qglc's default size
    # limit (1e7), which a user raises the same way (--max-size / max_size=)
    best = {"parse+check": float("inf"), "lower": float("inf"), "end to end": float("inf")}
    with limits.using(limits.make(max_size=10**9)):
        for _ in range(repeat):
            start = time.perf_counter()
            checked = check_file(path)
            compiled = compile_model(checked, "qubo")
            total = time.perf_counter() - start  # what qg.compile(path, target="qubo") costs
            t = compiled.timings
            best = {"parse+check": min(best["parse+check"], t["parse"] + t["check"]),
                    "lower": min(best["lower"], t["lower"]),
                    "end to end": min(best["end to end"], total)}
    return best, compiled.artifact


def dimod_direct(inst: Instance) -> dimod.BinaryQuadraticModel:
    units, periods = inst.shape
    col = np.arange(units * periods).reshape(units, periods)
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
        np.repeat(inst.cost * inst.power, periods), _cycling(inst), 0.0, dimod.BINARY)
    for t in range(periods):
        bqm.add_linear_equality_constraint(zip(col[:, t].tolist(), inst.power.tolist()),
                                           PENALTY, -float(inst.demand[t]))
    for u in range(units):
        for d in range(periods // 24):
            bqm.add_linear_equality_constraint(
                ((v, 1.0) for v in col[u, 24 * d:24 * d + 24].tolist()), PENALTY,
                -float(inst.hours[u]))
    return bqm


def _cycling(inst: Instance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cycling term as (i, j, w) arrays over column indices ``u * T + t``."""
    units, periods = inst.shape
    col = np.arange(units * periods).reshape(units, periods)
    return (col[:, 1:].ravel(), col[:, :-1].ravel(),
            np.repeat(inst.cycling, periods - 1))


def dimod_cqm(inst: Instance) -> dimod.BinaryQuadraticModel:
    units, periods = inst.shape
    col = np.arange(units * periods).reshape(units, periods)
    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(dimod.BinaryQuadraticModel.from_numpy_vectors(
        np.repeat(inst.cost * inst.power, periods), _cycling(inst), 0.0, dimod.BINARY))
    for t in range(periods):
        cqm.add_constraint_from_iterable(
            [(v, p) for v, p in zip(col[:, t].tolist(), inst.power.tolist(), strict=True)],
            "==", rhs=float(inst.demand[t]), label=f"balance{t}")
    for u in range(units):
        for d in range(periods // 24):
            cqm.add_constraint_from_iterable(
                [(v, 1.0) for v in col[u, 24 * d:24 * d + 24].tolist()], "==",
                rhs=float(inst.hours[u]), label=f"hours{u}_{d}")
    bqm, _ = dimod.cqm_to_bqm(cqm, lagrange_multiplier=PENALTY)
    return bqm


def pyqubo(inst: Instance) -> tuple[dimod.BinaryQuadraticModel, Callable[[Any], int]]:
    from pyqubo import Array

    units, periods = inst.shape
    x = Array.create("x", shape=(units, periods), vartype="BINARY")
    power, cost = inst.power.tolist(), inst.cost.tolist()
    cycling = inst.cycling.tolist()
    h = sum(cost[u] * power[u] * x[u, t] for u in range(units) for t in range(periods))
    h += sum(cycling[u] * x[u, t] * x[u, t - 1] for u in range(units)
             for t in range(1, periods))
    for t in range(periods):
        h += PENALTY * (sum(power[u] * x[u, t] for u in range(units)) - int(inst.demand[t])) ** 2
    for u in range(units):
        for d in range(periods // 24):
            h += PENALTY * (sum(x[u, t] for t in range(24 * d, 24 * d + 24))
                            - int(inst.hours[u])) ** 2
    bqm = h.compile().to_bqm()

    def label(v: str) -> int:  # "x[u][t]"
        u, t = v[2:-1].split("][")
        return int(u) * periods + int(t)

    return bqm, label


def qiskit(inst: Instance) -> Any:
    from qiskit_optimization import QuadraticProgram
    from qiskit_optimization.converters import QuadraticProgramToQubo

    units, periods = inst.shape
    qp = QuadraticProgram("uc")
    names = [f"x{u}_{t}" for u in range(units) for t in range(periods)]
    for name in names:
        qp.binary_var(name)
    lin = np.repeat(inst.cost * inst.power, periods)
    i, j, w = _cycling(inst)
    qp.minimize(linear=dict(zip(names, lin.tolist(), strict=True)),
                quadratic={(names[a], names[b]): v for a, b, v in
                           zip(i.tolist(), j.tolist(), w.tolist(), strict=True)})
    for t in range(periods):
        qp.linear_constraint({names[u * periods + t]: float(inst.power[u]) for u in range(units)},
                             "==", float(inst.demand[t]), f"balance{t}")
    for u in range(units):
        for d in range(periods // 24):
            qp.linear_constraint({names[u * periods + t]: 1.0 for t in range(24 * d, 24 * d + 24)},
                                 "==", float(inst.hours[u]), f"hours{u}_{d}")
    return QuadraticProgramToQubo(penalty=PENALTY).convert(qp)


def qiskit_bqm(qp: Any) -> dimod.BinaryQuadraticModel:
    """The QUBO QuadraticProgram as a BQM over column indices (not timed)."""
    obj = qp.objective
    quad = obj.quadratic.coefficients.tocoo()
    lin = np.zeros(qp.get_num_vars())
    dense = obj.linear.coefficients.tocoo()
    lin[dense.col] = dense.data
    diag = quad.row == quad.col
    np.add.at(lin, quad.row[diag], quad.data[diag])
    off = ~diag
    return dimod.BinaryQuadraticModel.from_numpy_vectors(
        lin, (quad.row[off], quad.col[off], quad.data[off]), float(obj.constant), dimod.BINARY)


def timed(fn: Callable[..., Any], *args: Any, repeat: int = 1) -> tuple[float, Any]:
    """Best of ``repeat`` runs, stopping early once 10 s have been spent."""
    best, spent, out = float("inf"), 0.0, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args)
        seconds = time.perf_counter() - start
        best, spent = min(best, seconds), spent + seconds
        if spent > 10.0:
            break
    return best, out


def run(units: int, periods: int, skip: set[str], repeat: int
        ) -> list[tuple[str, float, float, float]]:
    """``(tool, seconds, energy at x0, energy at a random point)`` per tool."""
    inst = make_instance(units, periods)
    point = np.random.default_rng(1).integers(0, 2, units * periods)
    x0 = inst.x0.ravel()
    rows: list[tuple[str, float, float, float]] = []

    def energy(bqm: dimod.BinaryQuadraticModel, x: np.ndarray) -> float:
        order = list(bqm.variables)
        return float(bqm.energies((x[np.asarray(order)][None, :], order))[0])

    def add(tool: str, seconds: float, bqm: dimod.BinaryQuadraticModel) -> None:
        rows.append((tool, seconds, energy(bqm, x0), energy(bqm, point)))

    with TemporaryDirectory() as tmp:
        times, bqm = qglc(inst, Path(tmp), repeat)
    add("qglc parse+check", times["parse+check"], bqm)
    add("qglc lower", times["lower"], bqm)
    add("qglc end to end", times["end to end"], bqm)
    seconds, bqm = timed(dimod_direct, inst, repeat=repeat)
    add("dimod direct", seconds, bqm)
    seconds, bqm = timed(dimod_cqm, inst, repeat=repeat)
    add("dimod CQM + cqm_to_bqm", seconds, bqm)
    if "pyqubo" not in skip:
        seconds, (bqm, label) = timed(pyqubo, inst, repeat=repeat)
        add("PyQUBO", seconds, by_index(bqm, label))
    if "qiskit" not in skip:
        seconds, qp = timed(qiskit, inst, repeat=repeat)
        add("qiskit QuadraticProgramToQubo", seconds, qiskit_bqm(qp))
    expected = inst.objective(x0)
    for tool, _, at_x0, _ in rows:
        assert abs(at_x0 - expected) <= 1e-6 * max(1.0, abs(expected)), (tool, at_x0, expected)
    ref = rows[0][3]
    for tool, _, _, at_point in rows:
        assert abs(at_point - ref) <= 1e-9 * abs(ref), (tool, at_point, ref)
    return rows


def print_table(units: int, periods: int, rows: list[tuple[str, float, float, float]]) -> None:
    """Times with two ratios: to qglc's lowering stage alone, and to qglc end to end (check +
    lower, what a user waits for): the second is the one to compare tools by."""
    lower = next(s for tool, s, _, _ in rows if tool == "qglc lower")
    whole = next(s for tool, s, _, _ in rows if tool == "qglc end to end")
    print(f"\nU = {units}, T = {periods}: {units * periods} binaries; energy on the feasible "
          f"point {rows[0][2]:.6g} (= objective) and on a random point {rows[0][3]:.6g} "
          "for every tool")
    print(f"{'tool':32s} {'seconds':>10s} {'/ qglc lower':>13s} {'/ qglc end to end':>18s}")
    for tool, seconds, _, _ in rows:
        print(f"{tool:32s} {seconds:10.3f} {seconds / lower:13.1f} {seconds / whole:18.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", nargs="+", default=["20x24", "20x96", "20x480", "20x2400"],
                   help="UxT, T a multiple of 24")
    p.add_argument("--skip", nargs="*", default=[], choices=["pyqubo", "qiskit"])
    p.add_argument("--repeat", type=int, default=3, help="best of N (until 10 s per tool)")
    p.add_argument("--out", type=Path, help="also save every row as JSON (written as each size "
                   "completes), e.g. benchmarks/results/qubo_compile.json")
    args = p.parse_args()
    saved: list[dict[str, Any]] = []
    for size in args.sizes:
        units, periods = (int(v) for v in size.split("x"))
        rows = run(units, periods, set(args.skip), args.repeat)
        print_table(units, periods, rows)
        if args.out is not None:
            saved.extend({"units": units, "periods": periods, "binaries": units * periods,
                          "tool": tool, "seconds": seconds} for tool, seconds, _, _ in rows)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
