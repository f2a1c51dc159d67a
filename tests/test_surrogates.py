"""Surrogate ansätze (issue 11): shapes, parameter counts, gradients against finite differences,
training (loss falls, reproducible), checkpoint round trip and resume. Tiny sizes throughout."""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qgridlang.surrogates import (
    ANSATZE,
    AnsatzError,
    EpochReport,
    Normalisation,
    TrainConfig,
    TrainingError,
    build,
    count_parameters,
    load_checkpoint,
    predict,
    save_checkpoint,
    split_indices,
    train,
)

T = 8

# (name, kwargs, parameter count at T = 8) -- counts worked out by hand from the architectures
CASES = [
    ("qmlp", {"qubits": 3, "layers": 2}, (8 * 3 + 3) + 2 * 3 + (3 * 8 + 8)),
    ("qtcn", {"qubits": 4, "layers": 3}, 3 * 4 + 4 + 1),
    # one Q-LSTM layer (compiling two costs seconds; test_paper_sizes counts the stacked one):
    # 4 gates x (h + d) qubits + 2 x h, with d = 1, and a head h + 1
    ("qlstm", {"hidden": 1, "recurrent_layers": 1}, (4 * 2 + 2 * 1) + 2),
    ("qtcn_lstm", {"qubits": 2, "layers": 2, "hidden": 1, "recurrent_layers": 1}, 4 + 3 + 10 + 2),
    ("mlp", {"hidden": [5]}, (8 * 5 + 5) + (5 * 8 + 8)),
    ("tcn", {"channels": 2, "kernel": 2, "levels": 2}, (1 * 2 * 2 + 2) + (2 * 2 * 2 + 2) + 3),
    # conv: kernel x in x out + out; flax LSTMCell: 4 x (in*h + h*h + h)
    ("lstm", {"hidden": 2, "layers": 1}, 4 * (2 + 4 + 2) + 3),
    (
        "tcn_lstm",
        {"channels": 2, "kernel": 2, "levels": 1, "hidden": 2, "layers": 1},
        (1 * 2 * 2 + 2) + 4 * (4 + 4 + 2) + 3,
    ),
    ("tiny", {}, 101),
]


def test_registry_names_every_ansatz() -> None:
    assert {c[0] for c in CASES} == set(ANSATZE)


@pytest.mark.parametrize(("name", "kwargs", "count"), CASES, ids=[c[0] for c in CASES])
def test_shape_and_parameter_count(name: str, kwargs: dict, count: int) -> None:
    ansatz = build(name, T, **kwargs)
    params = ansatz.init(jax.random.PRNGKey(0))
    assert count_parameters(params) == count
    assert sum(ansatz.parameter_split(params).values()) == count
    x = jnp.linspace(0.0, 1.0, T)
    # a single vector's shape without compiling a second (1, T) program; batches are computed
    assert jax.eval_shape(ansatz.apply, params, x).shape == (T,)
    batch = ansatz.apply(params, jnp.stack([x, x[::-1]]))
    assert batch.shape == (2, T) and bool(jnp.all(jnp.isfinite(batch)))
    # samples are independent: the same row gives the same response whatever its neighbour
    again = ansatz.apply(params, jnp.stack([x, x]))
    np.testing.assert_allclose(again[0], batch[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(again[1], batch[0], rtol=1e-5, atol=1e-5)


def test_paper_sizes() -> None:
    """The paper's configurations: Q-TCN-LSTM near its 94 parameters (<= 150), the classical
    TCN-LSTM near its 37,353."""
    q = build("qtcn_lstm", 96, qubits=8, layers=3, hidden=3)
    # eval_shape: the parameter shapes without running (or compiling) the initialisers
    qp = jax.eval_shape(q.init, jax.random.PRNGKey(0))
    assert count_parameters(qp) == 89
    assert q.parameter_split(qp) == {"qtcn": 24, "features": 9, "qlstm": 52, "head": 4}
    c = build("tcn_lstm", 96)
    assert abs(count_parameters(jax.eval_shape(c.init, jax.random.PRNGKey(0))) - 37_353) < 100


def test_causality_of_qtcn() -> None:
    """The Q-TCN output at t depends only on x_0..x_t (left zero-padding, causal windows)."""
    ansatz = build("qtcn", T, qubits=3, layers=2)
    params = ansatz.init(jax.random.PRNGKey(1))
    x = jnp.linspace(0.1, 0.9, T)
    y1 = ansatz.apply(params, x)
    y2 = ansatz.apply(params, x.at[5].set(0.0))
    np.testing.assert_allclose(y1[:5], y2[:5], atol=1e-6)
    assert float(jnp.max(jnp.abs(y1[5:] - y2[5:]))) > 1e-4


def test_unknown_ansatz_and_keyword() -> None:
    with pytest.raises(AnsatzError, match="unknown ansatz 'qgan'"):
        build("qgan", T)
    with pytest.raises(AnsatzError, match="no parameter 'depth'.*qubits"):
        build("qtcn", T, depth=2)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("qtcn", {"qubits": 3, "layers": 2}),
        # the recurrent quantum path (11 s on a shared core: kept out of the default suite)
        pytest.param(
            "qtcn_lstm",
            {"qubits": 2, "layers": 2, "hidden": 1, "recurrent_layers": 1},
            marks=pytest.mark.slow,
        ),
        ("tcn_lstm", {"channels": 2, "levels": 2, "hidden": 3, "layers": 1}),
    ],
)
def test_gradient_matches_central_differences(name: str, kwargs: dict) -> None:
    ansatz = build(name, T, **kwargs)
    params = ansatz.init(jax.random.PRNGKey(2))
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(size=(3, T)), jnp.float32)
    y = jnp.asarray(rng.uniform(size=(3, T)), jnp.float32)

    def loss(p: dict) -> jax.Array:
        return jnp.mean((ansatz.batch_apply(p, x) - y) ** 2)

    flat, unravel = jax.flatten_util.ravel_pytree(params)
    grad = jax.flatten_util.ravel_pytree(jax.grad(loss)(params))[0]
    f = jax.jit(lambda v: loss(unravel(v)))
    # four random directions: directional derivative vs a central difference (float32, so a
    # step of 1e-2: truncation ~1e-4 relative, rounding ~1e-5)
    for k in range(4):
        u = jnp.asarray(rng.normal(size=flat.shape), jnp.float32)
        u = u / jnp.linalg.norm(u)
        eps = 1e-2
        fd = (float(f(flat + eps * u)) - float(f(flat - eps * u))) / (2 * eps)
        ad = float(grad @ u)
        assert ad == pytest.approx(fd, rel=2e-2, abs=1e-4), (k, ad, fd)


def _dataset(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A price-response toy: response falls with the price and lags it by one step."""
    rng = np.random.default_rng(7)
    prices = 50 + 30 * rng.uniform(size=(n, T))
    lagged = np.concatenate([prices[:, :1], prices[:, :-1]], axis=1)
    return prices, 200.0 - 1.5 * lagged + 0.5 * prices


def test_split_is_80_10_10_and_seeded() -> None:
    tr, va, te = split_indices(50, seed=3)
    assert (len(tr), len(va), len(te)) == (40, 5, 5)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(50))
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), split_indices(50, seed=3)))
    with pytest.raises(TrainingError, match="at least 3"):
        split_indices(2, seed=0)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("tiny", {}), pytest.param("qtcn", {"qubits": 3, "layers": 2}, marks=pytest.mark.slow)],
)
def test_training_reduces_loss_and_is_reproducible(name: str, kwargs: dict) -> None:
    prices, responses = _dataset()
    cfg = TrainConfig(epochs=6, learning_rate=0.05, batch=8, seed=4, patience=10)
    seen: list[tuple[int, float, float]] = []
    a = train(
        build(name, T, **kwargs),
        prices,
        responses,
        cfg,
        callback=lambda r: seen.append((r.epoch, r.train_loss, r.val_loss)),
    )
    assert [s[0] for s in seen] == list(range(1, 7))
    assert a.history[-1].train_loss < 0.7 * a.history[0].train_loss
    assert min(h.val_loss for h in a.history) < a.history[0].val_loss
    # normalisation fitted on the training split only
    tr = split_indices(len(prices), cfg.seed)[0]
    assert a.normalisation.x_min == pytest.approx(float(prices[tr].min()))
    assert a.normalisation.y_max == pytest.approx(float(responses[tr].max()))
    b = train(build(name, T, **kwargs), prices, responses, cfg)
    assert [h.train_loss for h in b.history] == [h.train_loss for h in a.history]
    assert b.test_mse == a.test_mse and np.isfinite(a.test_mse_physical)


def test_early_stopping_keeps_best_parameters() -> None:
    prices, responses = _dataset()
    # a learning rate this large makes the validation loss stop improving quickly
    cfg = TrainConfig(epochs=40, learning_rate=5.0, batch=8, seed=0, patience=2)
    res = train(build("tiny", T), prices, responses, cfg)
    assert res.stopped_early and len(res.history) < 40
    assert len(res.history) == res.best_epoch + cfg.patience
    assert res.history[res.best_epoch - 1].val_loss == min(h.val_loss for h in res.history)


def test_checkpoint_round_trip_and_resume(tmp_path) -> None:
    prices, responses = _dataset()
    cfg = TrainConfig(epochs=4, learning_rate=0.05, batch=8, seed=5, patience=10)
    ansatz = build("tiny", T)
    full = train(ansatz, prices, responses, cfg)
    path = tmp_path / "ec.qgls"
    part = train(
        ansatz,
        prices,
        responses,
        replace(cfg, epochs=2),
        checkpoint=path,
        extra_config={"declaration": "abc"},
    )
    ck = load_checkpoint(path)
    assert ck.ansatz.name == "tiny" and ck.config["declaration"] == "abc"
    assert ck.normalisation == part.normalisation
    np.testing.assert_allclose(ck.predict(prices[:3]), part.predict(prices[:3]), rtol=1e-6)
    assert ck.predict(prices[0]).shape == (T,)
    # a checkpoint written under other settings is refused rather than silently mixed
    with pytest.raises(TrainingError, match="trained with"):
        train(ansatz, prices, responses, cfg, checkpoint=path, resume=True)
    with pytest.raises(TrainingError, match="checkpoint is for tiny"):
        train(
            build("tiny", T, hidden=3),
            prices,
            responses,
            replace(cfg, epochs=2),
            checkpoint=path,
            resume=True,
        )
    # resume: interrupt a 4-epoch run after epoch 2 (the callback raises), then resume it
    path4 = tmp_path / "ec4.qgls"
    seen: list[int] = []

    def interrupt(report: EpochReport) -> None:
        seen.append(report.epoch)
        if report.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(ansatz, prices, responses, cfg, checkpoint=path4, callback=interrupt)
    resumed = train(
        ansatz,
        prices,
        responses,
        cfg,
        checkpoint=path4,
        resume=True,
        callback=lambda r: seen.append(r.epoch),
    )
    assert seen == [1, 2, 3, 4]
    # the resumed run is the uninterrupted one, epoch by epoch
    assert [h.val_loss for h in resumed.history] == [h.val_loss for h in full.history]
    assert resumed.test_mse == full.test_mse


def test_quantum_checkpoint_round_trip(tmp_path) -> None:
    prices, _ = _dataset(5)
    ansatz = build("qtcn", T, qubits=3, layers=2)
    params = ansatz.init(jax.random.PRNGKey(3))
    norm = Normalisation.fit(prices, prices)
    save_checkpoint(tmp_path / "q.qgls", ansatz, params, norm, {"note": "x"})
    ck = load_checkpoint(tmp_path / "q.qgls")
    assert ck.ansatz.config == ansatz.config and ck.config["note"] == "x"
    np.testing.assert_allclose(
        ck.predict(prices), predict(ansatz, params, norm, prices), rtol=1e-6, atol=1e-6
    )
    (tmp_path / "bad.qgls").write_bytes(b"not msgpack")
    with pytest.raises(TrainingError, match="bad.qgls"):
        load_checkpoint(tmp_path / "bad.qgls")


def test_lightning_adjoint_matches_default_qubit() -> None:
    """`device = "lightning.qubit"` (adjoint method) gives default.qubit's values and gradients."""
    x = jnp.linspace(0.0, 1.0, T)
    a = build("qtcn", T, qubits=2, layers=1, device="lightning.qubit")
    b = build("qtcn", T, qubits=2, layers=1)
    params = b.init(jax.random.PRNGKey(0))
    np.testing.assert_allclose(a.apply(params, x), b.apply(params, x), atol=1e-5)
    ga = jax.grad(lambda p: a.apply(p, x).sum())(params)
    gb = jax.grad(lambda p: b.apply(p, x).sum())(params)
    for u, v in zip(jax.tree_util.tree_leaves(ga), jax.tree_util.tree_leaves(gb)):
        np.testing.assert_allclose(u, v, atol=1e-5)
