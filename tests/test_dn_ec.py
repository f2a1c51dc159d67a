"""The DN-EC operator example (examples/dn_ec/operator.qgl): its costs recomputed independently
with numpy (a LinDistFlow sweep over the feeder, the penalties, CVaR) from the solved plan's
injections, and the calibration of beta1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qgridlang.checker import check_file
from qgridlang.dispatcher import solve_model
from qgridlang.results import Status

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dn_ec"
S = 3


@pytest.fixture(scope="module")
def solved() -> tuple[object, object]:
    checked = check_file(EXAMPLE / "operator.qgl", {"n_scenarios": str(S)})
    sol = solve_model(checked, "highs")
    assert sol.status == Status.OPTIMAL and sol.feasible
    return checked, sol


def _series(values: dict[str, dict[str, float]], name: str) -> np.ndarray:
    return np.array([values[name][str(t)] for t in range(1, 97)])


def test_costs_match_an_independent_lindistflow_sweep(solved: tuple[object, object]) -> None:
    checked, sol = solved
    lines = pd.read_csv(EXAMPLE / "data/lines.csv")
    prof = pd.read_csv(EXAMPLE / "data/profiles.csv")
    resp = pd.read_csv(EXAMPLE / "data/responses.csv")
    price = pd.read_csv(EXAMPLE / "data/price_ec.csv").price.to_numpy()
    e, v = sol.expressions, sol.variables  # type: ignore[attr-defined]
    beta1, beta2, dt = 446.9, 4469.0, 0.25
    net = checked.network  # type: ignore[attr-defined]
    revenue = float(np.sum(price * resp[["residential", "commercial", "industrial"]]
                           .sum(axis=1).to_numpy()) * dt)
    assert e["revenue"] == pytest.approx(revenue, rel=1e-9)
    to_mw = {"kW": 1e-3, "kvar": 1e-3, "MW": 1.0, "Mvar": 1.0}
    scale = {x.name: to_mw[x.shown_unit] for x in checked.flat.exprs  # type: ignore[attr-defined]
             if x.shown_unit in to_mw}
    costs = []
    for s in range(1, S + 1):
        # net injections per bus (MW, Mvar) from every non-line port the record lists
        p = np.zeros((34, 96))
        q = np.zeros((34, 96))
        for i in range(1, 34):
            bus = net.bus(f"n[{s},{i}]")
            for name in bus.injections.get("p", ()):
                p[i] += _series(e, name) * scale[name]
            for name in bus.injections.get("q", ()):
                q[i] += _series(e, name) * scale[name]
        # radial sweep: a line's flow is the net load of everything downstream
        child = {int(r.tb): r for r in lines.itertuples()}
        down_p, down_q = -p.copy(), -q.copy()
        order = _depth_order(lines)
        for j in reversed(order[1:]):
            parent = int(child[j].fb)
            down_p[parent] += down_p[j]
            down_q[parent] += down_q[j]
        v2 = np.zeros((34, 96))
        v2[1] = 1.0
        for j in order[1:]:
            r = child[j]
            pij, qij = down_p[j], down_q[j]
            v2[j] = v2[int(r.fb)] - 2 * (r.r * pij + r.x * qij) / 12.66**2
            assert _series(v, f"l[{s},{int(r.line)}].p") == pytest.approx(pij, abs=1e-6)
        for i in range(1, 34):
            assert _series(v, f"n[{s},{i}].v2") == pytest.approx(v2[i], abs=1e-7)
        over = np.maximum(0, (v2[1:] - 1.21) / 2.2).sum()
        under = np.maximum(0, (0.81 - v2[1:]) / 1.8).sum()
        vpen = beta1 * (over + under) * dt
        flows = np.array([down_p[int(r.tb)] for r in lines.itertuples()])
        lpen = beta2 * np.maximum(0, np.abs(flows) - lines.pbar.to_numpy()[:, None]).sum() * dt
        grid = float(np.sum(prof.price_dn.to_numpy() * down_p[2]) * dt)  # the head line 1-2
        assert e["voltage_penalty"][str(s)] == pytest.approx(vpen, rel=1e-7, abs=1e-6)
        assert e["line_penalty"][str(s)] == pytest.approx(lpen, rel=1e-7, abs=1e-6)
        cost = grid - revenue + vpen + lpen
        assert e["cost"][str(s)] == pytest.approx(cost, rel=1e-9)
        costs.append(cost)
    costs_a = np.array(costs)
    assert e["mean_cost"] == pytest.approx(costs_a.mean(), rel=1e-9)
    # CVaR_95 of 3 equally likely scenarios is the worst one
    assert e["tail_cost"] == pytest.approx(costs_a.max(), rel=1e-9)
    assert sol.objective == pytest.approx(costs_a.mean() + costs_a.max(), rel=1e-9)  # type: ignore[attr-defined]


def _depth_order(lines: pd.DataFrame) -> list[int]:
    kids: dict[int, list[int]] = {}
    for r in lines.itertuples():
        kids.setdefault(int(r.fb), []).append(int(r.tb))
    order, stack = [], [1]
    while stack:
        b = stack.pop()
        order.append(b)
        stack.extend(kids.get(b, []))
    assert sorted(order) == list(range(1, 34))
    return order


def test_uncertain_loads_and_renewables_vary_by_scenario(solved: tuple[object, object]) -> None:
    _, sol = solved
    e = sol.expressions  # type: ignore[attr-defined]
    buses = pd.read_csv(EXAMPLE / "data/buses.csv").set_index("bus")
    shape = pd.read_csv(EXAMPLE / "data/profiles.csv").load_shape.to_numpy()
    fixed = -_series(e, "d[1,2].p") / (buses.pd[2] * shape)
    assert fixed == pytest.approx(np.ones(96))  # a deterministic load follows the shape
    dev = np.concatenate([-_series(e, f"d[{s},{i}].p") / (buses.pd[i] * shape) - 1
                          for s in range(1, S + 1) for i in (10, 12, 14)])
    assert abs(dev.mean()) < 0.03 and 0.08 < dev.std() < 0.12  # N(0, 0.1^2), 864 draws
    assert not np.allclose(_series(e, "wt[1].p"), _series(e, "wt[2].p"))


@pytest.mark.slow
def test_flat_price_reproduces_the_calibrated_voltage_penalty() -> None:
    """beta1 was calibrated on the default 20 scenarios to the paper's 17.76 (SPECS §A3)."""
    sol = solve_model(check_file(EXAMPLE / "operator.qgl"), "highs")
    assert sol.expressions["mean_voltage_penalty"] == pytest.approx(17.76, abs=0.005)
