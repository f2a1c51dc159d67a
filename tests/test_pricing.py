"""Pricing through the surrogates (qgridlang.pricing, DN-EC eq. 4): the JAX operator cost against
the operator LP, gradients against finite differences, the projection after every step, the
loop lowering C, the QAE expectations, and `qglc price-descent`'s errors as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from qgridlang.checker import read_source  # noqa: E402
from qgridlang.datasets.prices import PriceSet, project  # noqa: E402
from qgridlang.errors import UsageError  # noqa: E402
from qgridlang.pricing.descent import (  # noqa: E402
    DescentSettings,
    Surrogate,
    _Qae,
    descend,
    response_map,
)
from qgridlang.pricing.operator import build, risk, solve_lp  # noqa: E402
from qgridlang.surrogates.training import Normalisation  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OPERATOR = ROOT / "examples" / "dn_ec" / "operator.qgl"
RESPONSES = ["p_res", "p_com", "p_ind"]
SET2 = {"n_scenarios": "2"}


@pytest.fixture(scope="module")
def op() -> Any:
    return build(OPERATOR, "price", RESPONSES, overrides=SET2)


@dataclass(frozen=True, eq=False)
class _Linear:
    """A fixed analytic differentiable response: r(x) = a + b * x + c * sin(x) per period (x
    the normalised price), so a higher price lowers the import."""

    a: float
    b: float
    config: dict[str, Any] = field(default_factory=lambda: {"length": 96})

    def apply(self, params: Any, x: Any) -> Any:
        return self.a + self.b * x + 0.05 * jnp.sin(3.0 * x)


def _analytic() -> dict[str, Surrogate]:
    norm = Normalisation(40.0, 120.0, 0.0, 1.0)
    shapes = {"p_res": (0.2, -0.3), "p_com": (0.4, -0.5), "p_ind": (0.9, -1.2)}
    return {p: Surrogate(p, "analytic", _Linear(a, b), {}, norm, "$/MWh", "MW")
            for p, (a, b) in shapes.items()}


def test_jax_cost_equals_the_operator_lp_at_two_points(op: Any) -> None:
    """E f + λ CVaR_α at the optimal v (the evaluator) against the LP's optimum (the normal
    pipeline: the model checked with price and responses written in, solved by HiGHS)."""
    text = read_source(OPERATOR)
    rng = np.random.default_rng(3)
    points = [(np.full(96, 80.0), op.own_responses),
              (80 * (1 + 0.4 * rng.uniform(-1, 1, 96)),
               op.own_responses * (1 + 0.5 * rng.uniform(-1, 1, op.own_responses.shape)) + 0.2)]
    objectives = []
    for price, resp in points:
        lp = solve_lp(op, text, price, resp, SET2, ())
        assert lp["status"] == "optimal"
        mine = op.exact(price, resp)
        assert mine["objective"] == pytest.approx(lp["objective"], rel=1e-6)
        assert mine["mean"] == pytest.approx(lp["expressions"]["mean_cost"], rel=1e-6)
        assert mine["cvar"] == pytest.approx(lp["expressions"]["tail_cost"], rel=1e-6)
        objectives.append(lp["objective"])
    assert objectives[0] != pytest.approx(objectives[1], rel=1e-3)  # two different points
    assert op.lam == 1.0 and op.alpha == pytest.approx(0.95)


def test_risk_is_rockafellar_uryasev() -> None:
    f = np.array([1.0, 5.0, 2.0, 9.0])
    p = np.full(4, 0.25)
    r = risk(f, p, 0.5, 1.0)
    assert r["cvar"] == pytest.approx(7.0)  # the worst half: (5 + 9) / 2
    assert r["objective"] == pytest.approx(4.25 + 7.0)


def test_gradients_match_finite_differences(op: Any) -> None:
    resp_of = response_map(op, _analytic())
    rng = np.random.default_rng(5)
    price0 = 80 * (1 + 0.2 * rng.uniform(-1, 1, 96))
    with jax.enable_x64(True):
        f0 = np.asarray(op.costs(price0, resp_of(jnp.asarray(price0))))
        v = float(np.mean(f0))  # inside the costs' range: both CVaR branches are live

        def c(price: Any) -> Any:
            return op.objective(price, resp_of(price), v)

        g = np.asarray(jax.grad(c)(jnp.asarray(price0)))
        h = 1e-4
        for t in rng.choice(96, 8, replace=False):
            e = np.zeros(96)
            e[t] = h
            fd = (float(c(jnp.asarray(price0 + e))) - float(c(jnp.asarray(price0 - e)))) / (2 * h)
            assert g[t] == pytest.approx(fd, rel=1e-5, abs=1e-6 * max(1.0, abs(fd)))
        gv = float(jax.grad(lambda w: op.objective(jnp.asarray(price0), resp_of(
            jnp.asarray(price0)), w))(v))
        tail = float(np.dot(op.probs, f0 > v))
        assert gv == pytest.approx(op.lam * (1 - tail / (1 - op.alpha)))


def test_projection_is_exact() -> None:
    prices = PriceSet(80.0, 40.0, 120.0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = project(80 + 60 * rng.standard_normal(96), prices)
        assert x.min() >= 40.0 and x.max() <= 120.0
        assert abs(x.mean() - 80.0) <= 1e-9


def test_the_loop_lowers_c_and_keeps_the_constraints_after_every_step(op: Any) -> None:
    prices = PriceSet(80.0, 40.0, 120.0)
    r = descend(op, _analytic(), prices, DescentSettings(max_iterations=30, tol=0.0))
    assert len(r.history) == 30
    for row in r.history:
        assert row["price_min"] >= 40.0 - 1e-12 and row["price_max"] <= 120.0 + 1e-12
        assert abs(row["price_mean"] - 80.0) <= 1e-9
    assert r.best["objective"] < r.start["objective"]
    assert r.history[-1]["C_star"] < r.history[0]["C_star"]
    assert prices.contains(r.price)
    again = descend(op, _analytic(), prices, DescentSettings(max_iterations=30, tol=0.0))
    assert np.array_equal(again.price, r.price)  # deterministic


def test_block_prices_stay_block_constant_and_feasible(op: Any) -> None:
    prices = PriceSet(80.0, 40.0, 120.0)
    r = descend(op, _analytic(), prices, DescentSettings(max_iterations=20, tol=0.0,
                                                         blocks=(32, 64)))
    assert r.history[0]["decisions"] == 3
    for a, b in ((0, 32), (32, 64), (64, 96)):
        assert np.ptp(r.price[a:b]) == 0
    assert prices.contains(r.price)
    assert r.history[-1]["C_star"] < r.history[0]["C_star"]
    with pytest.raises(UsageError, match="increase strictly"):
        descend(op, _analytic(), prices, DescentSettings(blocks=(64, 32)))


def test_bad_settings_are_usage_errors(op: Any) -> None:
    with pytest.raises(UsageError, match="learning rate"):
        descend(op, _analytic(), PriceSet(80, 40, 120), DescentSettings(learning_rate=0))
    with pytest.raises(UsageError, match="no surrogate for p_ind"):
        descend(op, {k: v for k, v in _analytic().items() if k != "p_ind"},
                PriceSet(80, 40, 120))


def test_qae_expectations_estimate_the_exact_gradient() -> None:
    """The QAE option's per-iteration estimates against the exact sums (a tiny case: 8
    scenarios, 3 periods); constants are skipped, the oracle calls are counted."""
    rng = np.random.default_rng(2)
    f = rng.uniform(100, 200, 8)
    jac = np.column_stack([rng.uniform(-1, 1, 8), rng.uniform(2, 3, 8), np.zeros(8)])
    probs = np.full(8, 1 / 8)
    v = float(np.sort(f)[5])
    q = _Qae(DescentSettings(expectation="qae", qae_qubits=5, qae_epsilon=1e-2, seed=1))
    c, gz, gw, info = q.gradient(f, jac, probs, v, 1.0, 0.75)
    w = 1 + 1 / 0.25 * (f > v)
    exact_g = probs @ (w[:, None] * jac)
    exact_c = probs @ f + v + probs @ np.maximum(f - v, 0) / 0.25
    # the grid of 2^5 points moves each value by at most half a step
    for t in range(3):
        step = np.ptp(w * jac[:, t]) / 31
        assert gz[t] == pytest.approx(exact_g[t], abs=step / 2 + 0.02 * np.ptp(w * jac[:, t]))
    assert c == pytest.approx(exact_c, rel=0.01)
    assert gw == pytest.approx(1 - np.mean(f > v) / 0.25, abs=0.05)
    assert q.skipped == 1 and q.estimates == 3 + 2 and info["oracle_queries"] > 0


# ---- the CLI as a process ------------------------------------------------------------------------


def _qglc(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qgridlang.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from qgridlang.surrogates import build as build_ansatz
    from qgridlang.surrogates.training import save_checkpoint

    ansatz = build_ansatz("tiny", 96)
    params = ansatz.init(jax.random.PRNGKey(0))
    path = tmp_path_factory.mktemp("ck") / "tiny.msgpack"
    save_checkpoint(path, ansatz, params, Normalisation(40, 120, -0.1, 0.5),
                    {"units": {"input": "$/MWh", "output": "MW"}})
    return path


@pytest.mark.parametrize("args, message", [
    ([], "name a surrogate per response parameter"),
    (["--surrogate", "p_res"], "--surrogate expects PARAM=FILE"),
    (["--surrogate", "p_res=missing.qgls"], "no such file"),
    (["--surrogate", "p_res=README.md"], "not a trained surrogate"),
    (["--surrogate", "p_res={ck}", "--surrogate", "p_res={ck}"], "names 'p_res' twice"),
    (["--surrogate", "p_res={ck}", "--community", "p_com=x.qgl"], "has no --surrogate p_com"),
    (["--surrogate", "p_res={ck}", "-o", "out.csv"], "writes a .json"),
    (["--surrogate", "p_res={ck}", "--learning-rate", "-1"], "learning rate must be > 0"),
    (["--surrogate", "p_xyz={ck}"], "declares no parameter 'p_xyz'"),
    (["--surrogate", "p_res={ck}"], "is not the revenue"),  # p_com, p_ind not named
    (["--surrogate", "p_res={ck}", "--blocks", "8,x"], "--blocks expects hours"),
])
def test_cli_errors_are_clear(tiny_ckpt: Path, args: list[str], message: str) -> None:
    args = [a.replace("{ck}", str(tiny_ckpt)) for a in args]
    r = _qglc("price-descent", str(OPERATOR), *args, "--set", "n_scenarios=2", "--json")
    assert r.returncode == 2, r.stderr
    doc = json.loads(r.stdout)
    assert doc["status"] == "error" and message in doc["errors"][0]["message"]
    assert "Traceback" not in r.stderr


def test_cli_runs_with_a_trained_checkpoint(tiny_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "descent.json"
    ck = str(tiny_ckpt)
    r = _qglc("price-descent", str(OPERATOR), "--surrogate", f"p_res={ck}", "--surrogate",
              f"p_com={ck}", "--surrogate", f"p_ind={ck}", "--set", "n_scenarios=2",
              "--max-iterations", "5", "--tol", "0", "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["scenarios"] == 2 and doc["iterations"] == 5
    assert doc["evaluator"]["validation"]["relative_error"] <= 1e-6
    assert doc["constraints"]["min"] >= 40 and doc["constraints"]["max"] <= 120
    assert abs(doc["constraints"]["mean"] - 80) <= 1e-9
    assert len(json.loads(out.read_text())["history"]) == 5
