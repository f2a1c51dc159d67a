"""A model that calls a surrogate on a variable, solved as a differentiable program: the
`program` target's split, the `pgd` backend's envelope-theorem gradient against finite
differences (with a bilinear revenue and a CVaR in the objective), the exact projection, the
constraints after every step, and the CLI as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("jax")
pytest.importorskip("optax")

from qgridlang.backends.pgd import Descent, _shift_projection  # noqa: E402
from qgridlang.checker import check_file  # noqa: E402
from qgridlang.errors import QglError  # noqa: E402
from qgridlang.registry import Options  # noqa: E402
from qgridlang.targets.program import build  # noqa: E402

TRAIN = """\
time T = 1..4 step 1 h
surrogate ec: price[T]: $/MWh -> p_ex[T]: MW {
  ansatz = tiny(hidden = 3)
  data = "d.npz"; epochs = 30; learning_rate = 0.05; batch = 16; seed = 3
  trained = "ec.qgls"
}
"""

# the operator buys what the community draws at a scenario-dependent upstream price, sells it at
# `price`, and weighs the scenarios' costs by expectation and CVaR
PROGRAM = TRAIN + """\
set S = 1..3
scenarios S = equal()
param up[S]: $/MWh = {1: 50, 2: 70, 3: 95}
param shape[T] = {1: 0.5, 2: 1.0, 3: 1.8, 4: 0.8}
var price[T]: $/MWh in 40 .. 120
constraint mean_price: sum(t in T) price[t] == 320 $/MWh
var buy[S, T]: MW >= 0
constraint cover[s in S, t in T]: buy[s, t] >= ec(price)[t]
expr revenue: $ = sum(t in T) price[t] * ec(price)[t] * dt
expr cost[s in S]: $ = sum(t in T) up[s] * shape[t] * buy[s, t] * dt
minimize risk: expected(cost) + 0.5 * cvar(cost, alpha = 60 %) - 1.5 * revenue
"""


def _write(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Prices ($/MWh) and responses (MW) as `qglc sample-responses` writes them."""
    meta = json.dumps({"units": {"price": "$/MWh", "response": "MW"}})
    np.savez(path, price=x, response=y, qgridlang=np.array(meta))


def _data(folder: Path) -> None:
    x = np.random.default_rng(0).uniform(40, 120, (300, 4))
    _write(folder / "d.npz", x, 1.2 - 0.008 * x + 0.003 * np.roll(x, 1, axis=1))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from qgridlang.surrogates.fit import train_declared

    f = tmp_path_factory.mktemp("pgd")
    _data(f)
    (f / "p.qgl").write_text(PROGRAM)
    train_declared(f / "p.qgl", "ec", f / "ec.qgls")
    return f


def test_program_split(folder: Path) -> None:
    p = build(check_file(folder / "p.qgl").flat)
    assert len(p.outer) == 4 and len(p.responses) == 4 and len(p.outer_rows) == 1
    assert "ec" in p.surrogates


def test_gradient_matches_finite_differences(folder: Path) -> None:
    d = Descent(build(check_file(folder / "p.qgl").flat), Options())
    z = d.project(np.array([60.0, 90.0, 105.0, 65.0]))
    value, g, x, why = d.evaluate(z)
    assert g is not None and not why
    rng = np.random.default_rng(1)
    h = 0.05
    for _ in range(4):
        u = rng.normal(size=4)
        u -= u.mean()  # along the mean-price hyperplane
        fd = (d.evaluate(z + h * u)[0] - d.evaluate(z - h * u)[0]) / (2 * h)
        # float32 surrogates: agreement to about 1e-3 relative
        assert fd == pytest.approx(float(g @ u), rel=2e-3, abs=1e-4)


def test_descent_respects_the_constraints_and_improves(folder: Path) -> None:
    from qgridlang.dispatcher import solve_model

    checked = check_file(folder / "p.qgl")
    sol = solve_model(checked, "pgd", Options(extra={"maxiter": 40, "learning_rate": 0.05}))
    assert sol.status == "feasible" and "not a proven optimum" in sol.message
    price = np.array([sol.variables["price"][str(t)] for t in (1, 2, 3, 4)])
    assert np.all(price >= 40 - 1e-9) and np.all(price <= 120 + 1e-9)
    assert price.sum() == pytest.approx(320.0, abs=1e-9)
    info = sol.info
    assert info["iterations"] >= 2 and info["projection"] == "shift bisection"
    assert sol.objective <= info["first_objective"] + 1e-9
    assert sol.objective < info["first_objective"] - 1e-3  # it moved off the flat price


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=2, max_size=12), st.data())
def test_shift_projection_is_the_euclidean_projection(y: list[float], data: st.DataObject
                                                      ) -> None:
    yv = np.array(y)
    n = len(yv)
    a = np.array(data.draw(st.lists(st.floats(0.1, 3.0), min_size=n, max_size=n)))
    lo, hi = -np.ones(n) * 10, np.ones(n) * 10
    b = float(data.draw(st.floats(-0.9, 0.9)) * (a @ hi))
    z = _shift_projection(yv, a, b, lo, hi)
    assert np.all(z >= lo - 1e-12) and np.all(z <= hi + 1e-12)
    assert a @ z == pytest.approx(b, abs=1e-9 * max(1.0, abs(b)))
    # optimality: no feasible direction along the hyperplane inside the box decreases the
    # distance (KKT: z - y = -lam * a on the free coordinates)
    free = (z > lo + 1e-9) & (z < hi - 1e-9)
    if free.sum() >= 2:
        lam = (yv - z)[free] / a[free]
        assert np.ptp(lam) < 1e-6 * max(1.0, float(np.abs(lam).max()))


def test_program_target_refuses_models_without_links(tmp_path: Path) -> None:
    from qgridlang.dispatcher import solve_model

    (tmp_path / "m.qgl").write_text("var x >= 1\nminimize c: x\n")
    with pytest.raises(QglError, match="call a surrogate on a variable"):
        solve_model(check_file(tmp_path / "m.qgl"), "pgd")


def test_untrained_program_is_refused_at_the_call(tmp_path: Path) -> None:
    from qgridlang.dispatcher import solve_model

    (tmp_path / "p.qgl").write_text(PROGRAM.replace('  trained = "ec.qgls"\n', ""))
    with pytest.raises(QglError, match="no trained artifact") as info:
        solve_model(check_file(tmp_path / "p.qgl"), "pgd")
    span = info.value.span
    assert span is not None and (span.line, span.column) == (13, 48)


def test_cli_solve_pgd(folder: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "qgridlang", "solve", "p.qgl", "--backend",
                          "pgd", "--option", "maxiter=5", "--json"], capture_output=True,
                         text=True, timeout=600, cwd=folder)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["status"] == "feasible" and doc["target"] == "program"
    assert doc["info"]["iterations"] <= 5 and doc["objective_unit"] == "$"
    bad = subprocess.run([sys.executable, "-m", "qgridlang", "solve", "p.qgl", "--backend",
                          "pgd", "--option", "learning_rate=-1"], capture_output=True,
                         text=True, timeout=600, cwd=folder)
    assert bad.returncode == 2 and "learning_rate" in bad.stderr and "Traceback" not in bad.stderr


TWO = """\
time T = 1..2 step 1 h
surrogate ec: price[T]: $/MWh -> p_ex[T]: MW {
  ansatz = tiny(hidden = 3)
  data = "d2.npz"; epochs = 40; learning_rate = 0.05; batch = 16; seed = 3
  trained = "ec2.qgls"
}
param shape[T] = {1: 0.6, 2: 1.4}
var price[T]: $/MWh in 40 .. 120
constraint mean_price: price[1] + price[2] == 160 $/MWh
var buy[T]: MW >= 0
constraint cover[t in T]: buy[t] >= ec(price)[t]
expr revenue: $ = sum(t in T) price[t] * ec(price)[t] * dt
minimize cost: sum(t in T) 80 $/MWh * shape[t] * buy[t] * dt - revenue
"""


def test_descent_reaches_the_grid_optimum_of_a_one_dimensional_price(tmp_path: Path) -> None:
    """Two periods and a fixed mean leave one degree of freedom: a 1 $/MWh grid of the same
    C(z) is the reference; the descent must end within the grid's resolution of its best."""
    from qgridlang.dispatcher import solve_model
    from qgridlang.surrogates.fit import train_declared

    x = np.random.default_rng(2).uniform(40, 120, (300, 2))
    _write(tmp_path / "d2.npz", x, 1.5 - 0.01 * x + 0.002 * x[:, ::-1])  # falls with its price
    (tmp_path / "two.qgl").write_text(TWO)
    train_declared(tmp_path / "two.qgl", "ec", tmp_path / "ec2.qgls")
    checked = check_file(tmp_path / "two.qgl")
    d = Descent(build(checked.flat), Options())
    grid = [d.evaluate(np.array([p1, 160.0 - p1]))[0] for p1 in np.arange(40.0, 120.5, 1.0)]
    sol = solve_model(checked, "pgd", Options(extra={"maxiter": 150, "learning_rate": 0.02}))
    best = 40.0 + float(np.argmin(grid))
    assert abs(best - 80.0) >= 5  # the optimum is away from the start (the flat price)
    assert sol.objective <= min(grid) + 0.05 * (max(grid) - min(grid)) / 80  # ~ one grid step
    assert sol.variables["price"]["1"] == pytest.approx(best, abs=2.0)
    p = sol.variables["price"]
    assert p["1"] + p["2"] == pytest.approx(160.0, abs=1e-9)


# the price as a named expression of two time-of-use block prices (affine in variables)
BLOCKS = TRAIN + """\
set S = 1..3
scenarios S = equal()
param up[S]: $/MWh = {1: 50, 2: 70, 3: 95}
param shape[T] = {1: 0.5, 2: 1.0, 3: 1.8, 4: 0.8}
set B = 1..2
param blk[T] = {1: 1, 2: 1, 3: 2, 4: 2}
var block[B]: $/MWh in 40 .. 120
expr price[t in T]: $/MWh = block[blk[t]]
constraint mean_price: sum(t in T) price[t] == 320 $/MWh
var buy[S, T]: MW >= 0
constraint cover[s in S, t in T]: buy[s, t] >= ec(price)[t]
expr revenue: $ = sum(t in T) price[t] * ec(price)[t] * dt
expr cost[s in S]: $ = sum(t in T) up[s] * shape[t] * buy[s, t] * dt
minimize risk: expected(cost) + 0.5 * cvar(cost, alpha = 60 %) - 1.5 * revenue
"""


def test_an_expression_argument_descends_over_its_variables(folder: Path) -> None:
    from qgridlang.dispatcher import solve_model

    (folder / "blocks.qgl").write_text(BLOCKS)
    checked = check_file(folder / "blocks.qgl")
    p = build(checked.flat)
    assert len(p.outer) == 2 and len(p.outer_rows) == 1  # the two block prices
    link = p.links[0]
    assert link.input_name == "price" and sorted(set(link.input_rows)) == [0, 1, 2, 3]
    d = Descent(p, Options())
    z = d.project(np.array([70.0, 95.0]))
    value, g, _, _ = d.evaluate(z)
    assert g is not None
    u = np.array([1.0, -1.0])  # along the mean-price row (two periods per block)
    fd = (d.evaluate(z + 0.05 * u)[0] - d.evaluate(z - 0.05 * u)[0]) / 0.1
    assert fd == pytest.approx(float(g @ u), rel=2e-3, abs=1e-4)
    sol = solve_model(checked, "pgd", Options(extra={"maxiter": 30}))
    blocks = sol.variables["block"]
    assert blocks["1"] + blocks["2"] == pytest.approx(160.0, abs=1e-9)
    assert sol.objective <= sol.info["first_objective"] + 1e-9
