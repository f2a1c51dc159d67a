"""Disturbance predictors: the contract, persistence, AR(2), the two walks, option errors."""

from __future__ import annotations

import numpy as np
import pytest

from qgridlang.control.predictors import (
    AR2,
    OPTIONS,
    WalkPredictor,
    check_options,
    classical_walk_distributions,
    classical_walk_means,
    make_predictor,
)
from qgridlang.control.spec import PredictorSpec
from qgridlang.errors import Span, TypeMismatch, UnknownName

SPAN = Span("m.qgl", 7, 30)


@pytest.mark.parametrize("kind", list(OPTIONS))
def test_every_kind_follows_the_contract(kind: str) -> None:
    p = make_predictor(PredictorSpec(kind), 0.1)  # type: ignore[arg-type]
    x = np.sin(np.arange(40) * 0.3) * 0.01
    y = p.predict(x, 20)
    assert y.shape == (20,) and np.all(np.isfinite(y))
    assert p.cost["predictions"] == 1 and p.cost["ms_mean"] > 0
    if kind == "quantum_walk":  # the circuit of one prediction: 6 position qubits + the coin
        assert p.cost["qubits"] == 7 and p.cost["steps"] == 20 and p.cost["cx"] > 0
    p.reset()
    assert "predictions" not in p.cost
    assert np.allclose(p.predict(np.array([0.003]), 5), 0.003)  # one sample: hold it
    assert np.allclose(p.predict(np.array([]), 3), 0.0)


def test_persistence_holds_the_last_value() -> None:
    p = make_predictor(PredictorSpec("persistence"), 0.1)
    assert np.array_equal(p.predict(np.array([1.0, 2.0, 5.0]), 4), [5.0] * 4)


def test_ar2_recovers_the_coefficients_of_a_synthetic_series() -> None:
    rng = np.random.default_rng(3)
    a1, a2, c = 1.2, -0.5, 0.02
    x = np.zeros(3000)
    for t in range(2, x.size):
        x[t] = c + a1 * x[t - 1] + a2 * x[t - 2] + rng.normal(scale=0.01)
    ar = AR2(window=3000)
    fit = ar.fit(x)
    assert fit is not None
    assert fit[1] == pytest.approx(a1, abs=0.03) and fit[2] == pytest.approx(a2, abs=0.03)
    assert fit[0] == pytest.approx(c, abs=0.005)
    # noiseless: the forecast continues the recursion exactly
    y = np.zeros(30)
    y[:2] = [0.1, 0.05]
    for t in range(2, 30):
        y[t] = c + a1 * y[t - 1] + a2 * y[t - 2]
    forecast = AR2(window=20).predict(y[:20], 10)
    assert np.allclose(forecast, y[20:], atol=1e-9)


def test_ar2_falls_back_to_persistence() -> None:
    ar = AR2(window=50, min_samples=10)
    assert np.array_equal(ar.predict(np.array([0.0, 1.0, 2.0]), 3), [2.0] * 3)  # short
    assert np.array_equal(ar.predict(np.full(30, 0.4), 3), [0.4] * 3)  # constant
    explosive = 1.05 ** np.arange(40)
    assert np.array_equal(ar.predict(explosive, 2), [explosive[-1]] * 2)


def test_classical_walk_matches_the_binomial_closed_form() -> None:
    levels, start, steps = 256, 128, 40
    x = np.arange(levels)
    for tau in (-0.7, 0.0, 0.35, 1.0):
        dist = classical_walk_distributions(levels, start, tau, steps)
        h = np.arange(1, steps + 1)
        mean = dist @ x
        var = dist @ x**2 - mean**2
        assert np.allclose(mean, start + h * tau, atol=1e-9)
        assert np.allclose(var, h * (1 - tau**2), atol=1e-8)
        assert np.allclose(classical_walk_means(levels, start, tau, steps), mean, atol=1e-9)
    # near an edge it reflects (stays) and the exact mean comes from the distribution
    near = classical_walk_means(8, 6, 1.0, 5)
    assert np.allclose(near, [7, 7, 7, 7, 7])


def test_walks_share_lattice_and_first_step_drift() -> None:
    history = np.array([0.0, 0.001, 0.002, 0.0025, 0.004])
    out = {}
    for kind in ("random_walk", "quantum_walk"):
        p = make_predictor(PredictorSpec(kind, {"blend": 1.0}), 0.1)  # type: ignore[arg-type]
        out[kind] = p.predict(history, 8)
    delta = np.mean(np.abs(np.diff(history)))
    tau = min((history[-1] - history[-2]) / delta, 1.0)
    # one step: both move by τ levels of spacing δ (the quantum walk's first step is classical)
    assert out["random_walk"][0] == pytest.approx(history[-1] + tau * delta)
    assert out["quantum_walk"][0] == pytest.approx(history[-1] + tau * delta)
    assert out["random_walk"][7] == pytest.approx(history[-1] + 8 * tau * delta)
    assert out["quantum_walk"][7] != pytest.approx(out["random_walk"][7])


def test_blend_weights_the_walk_against_persistence() -> None:
    history = np.array([0.0, 0.002, 0.004, 0.006])
    full = make_predictor(PredictorSpec("quantum_walk", {"blend": 1.0}), 0.1).predict(history, 5)
    half = make_predictor(PredictorSpec("quantum_walk", {"blend": 0.5}), 0.1).predict(history, 5)
    assert np.allclose(half, 0.5 * full + 0.5 * history[-1])


def test_adaptive_blend_follows_the_better_forecaster() -> None:
    # a steady ramp: the walk's one-step forecast is exact, persistence lags, so w -> 1
    p = make_predictor(PredictorSpec("quantum_walk", {"blend": "adaptive"}), 0.1)
    assert isinstance(p, WalkPredictor)
    ramp = 0.001 * np.arange(60)
    for k in range(3, 60):
        p.predict(ramp[:k], 10)
    assert p.weight > 0.99
    # alternating noise: the trend misleads the walk, persistence wins, so w < 0.5
    p.reset()
    assert p.weight == 0.5
    zigzag = 0.001 * (-1.0) ** np.arange(60)
    for k in range(3, 60):
        p.predict(zigzag[:k], 10)
    assert p.weight < 0.3


def test_fixed_range_lattice_starts_at_the_nearest_level() -> None:
    p = make_predictor(PredictorSpec("quantum_walk", {"range": 0.2, "blend": 1.0}), 0.1)
    flat = np.full(10, 0.1)  # no trend: the mean stays at the start level
    spacing = 0.4 / 63
    level = round((0.1 + 0.2) / spacing)
    assert np.allclose(p.predict(flat, 5), -0.2 + level * spacing)


def test_unknown_option_is_located_with_a_hint() -> None:
    spec = PredictorSpec("quantum_walk", {"positon_qubits": 5}, span=SPAN)
    with pytest.raises(UnknownName) as err:
        make_predictor(spec, 0.1)
    assert err.value.span == SPAN and "position_qubits" in (err.value.hint or "")
    with pytest.raises(UnknownName) as err2:
        check_options(PredictorSpec("quantum_wlk", span=SPAN))  # type: ignore[arg-type]
    assert "quantum_walk" in (err2.value.hint or "")
    with pytest.raises(UnknownName, match="no option 'window'"):
        make_predictor(PredictorSpec("persistence", {"window": 3}, span=SPAN), 0.1)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("quantum_walk", {"blend": 1.5}),
        ("quantum_walk", {"blend": "often"}),
        ("quantum_walk", {"position_qubits": 2.5}),
        ("random_walk", {"forget": 1.0}),
        ("ar2", {"window": 2}),
        ("ar2", {"window": "long"}),
    ],
)
def test_bad_option_values_are_located(kind: str, options: dict) -> None:
    with pytest.raises(TypeMismatch) as err:
        make_predictor(PredictorSpec(kind, options, span=SPAN), 0.1)  # type: ignore[arg-type]
    assert err.value.span == SPAN
