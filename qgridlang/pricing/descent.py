"""Projected Adam on the operator's risk-averse cost through the communities' surrogates
(DN-EC eq. 4, SPECS §A4) and the re-evaluation of a price with the communities' true MILPs.

The problem: minimise over the price π and the value-at-risk variable v

    C(π, v) = E_s f_s(π, φ̂(π)) + λ (v + 1/(1-α) E_s [f_s(π, φ̂(π)) - v]_+)

with f_s the operator's scenario cost (:mod:`qgridlang.pricing.operator`) and φ̂_i the trained
surrogate of community i, subject to the bounds (1i) and the mean price (1j).

Each iteration: the gradient of C in (π, v); one Adam step (optax) in normalised units, the
price as ``z = (π - lower) / (upper - lower)`` and v as ``(v - v0) / |E f(π0)|`` (so the
learning rate is a fraction of the price range, and of the start's mean cost); then the exact
projection of π onto the bounds ∩ mean hyperplane (:func:`qgridlang.datasets.prices.project`).
The step takes the gradient's component within the mean-price hyperplane: for plain gradient
descent that changes nothing after the projection, but Adam scales each coordinate by its own
gradient history, and an uncorrected normal component would make the step normal to the
hyperplane, which the projection undoes.
It stops when ``|C_k - C_(k-1)| < tol |C_k|`` or after ``max_iterations``. The price returned
is the iterate with the least C* (C with v at its optimum, i.e. E f + λ CVaR exactly); the
history keeps every iterate.

With ``blocks`` the decision is one price per time-of-use block (the family of ``qglc
price-search``) instead of one per period; the projection is the same (a block-constant vector
stays block-constant under it).

Scenario expectations (``expectation``):

- ``classical``: the exact probability-weighted sums over the scenarios (JAX autodiff of C);
- ``qae``: per iteration, the per-scenario values are computed classically (the costs f_s and
  the per-scenario price gradients ∂f_s/∂π by JAX) and every expectation over the scenarios is
  estimated by amplitude estimation on a 2^n-point grid of its distribution
  (:func:`qgridlang.estimation.quantum.estimate`): E[f] and E[(f - v)_+] (the value of C),
  P(f > v) (∂C/∂v = λ (1 - P(f > v)/(1-α))), and for every period t
  E[(1 + λ/(1-α) 1[f > v]) ∂f/∂π_t] (∂C/∂π, eq. 4b): T + 3 estimates per iteration (blocks
  + 3 with ``blocks``, ∂f/∂ of each block price). A
  quantity equal in every scenario is its own expectation and needs no circuit (counted as
  skipped). The oracle calls (A-queries) of every estimate are summed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.datasets.prices import PriceSet, project
from qgridlang.errors import UsageError
from qgridlang.pricing.operator import OperatorCost, risk


@dataclass
class Surrogate:
    """A trained response surrogate: physical price (T,) -> physical response (T,)."""

    param: str
    source: str
    ansatz: Any
    params: Any
    normalisation: Any
    input_unit: str | None
    output_unit: str | None
    meta: dict[str, Any] = field(default_factory=dict)

    def function(self) -> Callable[[Any], Any]:
        ansatz, params, norm = self.ansatz, self.params, self.normalisation

        def f(price: Any) -> Any:
            return norm.y_inverse(ansatz.apply(params, norm.x(price)))

        return f

    def predict(self, price: np.ndarray) -> np.ndarray:
        import jax

        with jax.enable_x64(True):
            return np.asarray(self.function()(np.asarray(price, float)))


def load_surrogate(param: str, path: str | Path) -> Surrogate:
    """A training checkpoint (:func:`qgridlang.surrogates.training.save_checkpoint`) or a
    ``.qgls`` artifact from ``qglc train`` (the same file format with the declaration and the
    units in its configuration)."""
    from qgridlang.surrogates.training import TrainingError, load_checkpoint

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--surrogate {param}={path}: no such file")
    try:
        ck = load_checkpoint(p)
    except (TrainingError, KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"--surrogate {param}={path}: not a trained surrogate ({exc})"
                         ) from None
    units = ck.config.get("units") or {}
    return Surrogate(param, str(p), ck.ansatz, ck.params, ck.normalisation,
                     units.get("input"), units.get("output"), ck.config)


@dataclass
class DescentSettings:
    learning_rate: float = 0.01  # Adam, normalised units (see the module docstring)
    max_iterations: int = 500
    tol: float = 1e-4
    seed: int = 0
    expectation: str = "classical"  # or "qae"
    qae_qubits: int = 6  # grid points 2^n of each estimated distribution
    qae_method: str = "iqae"
    qae_epsilon: float = 1e-3
    qae_eval_qubits: int = 5
    # time-of-use blocks: the periods where blocks after the first start (0-based; empty: one
    # price per period, eq. 4 as the paper states it)
    blocks: tuple[int, ...] = ()

    def check(self) -> None:
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise UsageError(f"the learning rate must be > 0, got {self.learning_rate}")
        if self.max_iterations < 1:
            raise UsageError(f"max iterations must be >= 1, got {self.max_iterations}")
        if not (self.tol >= 0 and math.isfinite(self.tol)):
            raise UsageError(f"the tolerance must be >= 0, got {self.tol}")
        if self.expectation not in ("classical", "qae"):
            raise UsageError(f"unknown expectation '{self.expectation}'",
                             hint="classical or qae")
        if not 1 <= self.qae_qubits <= 16:
            raise UsageError(f"qae qubits must be from 1 to 16, got {self.qae_qubits}")

    def edges(self, periods: int) -> list[int]:
        """Where each decision's periods start, and the end (one decision per period without
        blocks)."""
        if not self.blocks:
            return list(range(periods + 1))
        edges = [0, *self.blocks, periods]
        if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise UsageError(f"block boundaries must increase strictly inside 1 .. "
                             f"{periods - 1}, got {list(self.blocks)}")
        return edges


@dataclass
class DescentResult:
    price: np.ndarray  # the best iterate (least C*)
    responses: np.ndarray  # the surrogates' responses there (R, T), in the parameters' units
    best_iteration: int
    iterations: int
    converged: bool
    start: dict[str, Any]  # C*, mean, CVaR at the start price (surrogate responses)
    best: dict[str, Any]
    history: list[dict[str, Any]]
    seconds: float
    oracle_queries: int = 0
    estimates: int = 0
    skipped_estimates: int = 0
    qae_seconds: float = 0.0


def _factor(src: str | None, dst: str, what: str) -> float:
    if not src or not dst:
        return 1.0
    from qgridlang.errors import QglError
    from qgridlang.semantics.units import convert, unit_at

    try:
        return convert(unit_at(src, None), unit_at(dst, None), None, what)
    except QglError as exc:
        raise UsageError(f"{what}: {exc.message}") from None


def response_map(op: OperatorCost, surrogates: dict[str, Surrogate]) -> Callable[[Any], Any]:
    """π (T,) in the operator's price unit -> responses (R, T) in the parameters' units."""
    import jax.numpy as jnp

    missing = [r for r in op.responses if r not in surrogates]
    if missing:
        raise UsageError(f"no surrogate for {', '.join(missing)}")
    fns = []
    for r in op.responses:
        s = surrogates[r]
        length = s.ansatz.config.get("length")
        if length is not None and length != op.periods:
            raise UsageError(f"--surrogate {r}={s.source} is built for {length} periods, the "
                             f"operator has {op.periods}")
        fin = _factor(op.price_unit, s.input_unit or op.price_unit, f"--surrogate {r} input")
        fout = _factor(s.output_unit or op.response_units[r], op.response_units[r],
                       f"--surrogate {r} output")
        fns.append((s.function(), fin, fout))

    def responses(price: Any) -> Any:
        return jnp.stack([fout * f(price * fin) for f, fin, fout in fns])

    return responses


def descend(op: OperatorCost, surrogates: dict[str, Surrogate], prices: PriceSet,
            settings: DescentSettings | None = None, start: np.ndarray | None = None,
            progress: Callable[[int, int, dict[str, Any]], None] | None = None
            ) -> DescentResult:
    """Projected Adam from ``start`` (default: the flat mean price)."""
    import jax
    import jax.numpy as jnp
    import optax

    s = settings or DescentSettings()
    s.check()
    t_start = time.perf_counter()
    span = prices.upper - prices.lower
    if not span > 0:
        raise UsageError("the price bounds leave no room: lower == upper")
    price = np.full(op.periods, prices.mean) if start is None else np.asarray(start, float)
    if price.shape != (op.periods,):
        raise UsageError(f"a start price of {op.periods} periods expected")
    price = project(price, prices)
    # the decision vector: one price per block (per period without blocks); a block-constant
    # vector stays block-constant under the projection (a common shift, then clipping), which
    # is then the projection onto the block-constant vectors of the price set
    edges = s.edges(op.periods)
    lengths = np.diff(edges)
    n_dec = len(lengths)
    price = project(np.repeat([price[a:b].mean() for a, b in zip(edges, edges[1:],
                                                                strict=False)], lengths), prices)

    def to_z(pi: np.ndarray) -> Any:
        return jnp.asarray((pi[edges[:-1]] - prices.lower) / span)

    resp_of = response_map(op, surrogates)
    probs = op.probs
    lam, alpha = op.lam, op.alpha
    with jax.enable_x64(True):
        def price_of(z: Any) -> Any:
            return prices.lower + jnp.repeat(z, lengths, total_repeat_length=op.periods) * span

        def costs_z(z: Any) -> Any:
            pi = price_of(z)
            return op.costs(pi, resp_of(pi))

        f0 = np.asarray(costs_z(to_z(price)))
        r0 = risk(f0, probs, alpha, lam)
        v_scale = max(abs(r0["mean"]), 1.0)
        v0 = r0["var"]

        def objective(z: Any, w: Any) -> Any:
            f = costs_z(z)
            v = v0 + w * v_scale
            return jnp.dot(probs, f) + lam * (v + jnp.dot(probs, jnp.maximum(f - v, 0.0))
                                              / (1.0 - alpha))

        value_grad = jax.jit(jax.value_and_grad(objective, argnums=(0, 1)))
        per_scenario = jax.jit(lambda z: (costs_z(z), jax.jacrev(costs_z)(z)))
        opt = optax.adam(s.learning_rate)
        z = to_z(price)
        w = jnp.asarray(0.0)
        state = opt.init((z, w))
        history: list[dict[str, Any]] = []
        best_k, best_c, best_price = 0, math.inf, price
        last_c: float | None = None
        converged = False
        qae = _Qae(s) if s.expectation == "qae" else None
        k = 0
        for k in range(1, s.max_iterations + 1):
            v = v0 + float(w) * v_scale
            if qae is None:
                c, (gz, gw) = value_grad(z, w)
                c = float(c)
                f_np = np.asarray(costs_z(z))
                est: dict[str, Any] = {}
            else:
                f, jac = per_scenario(z)
                f_np, jac_np = np.asarray(f), np.asarray(jac)
                c, g_z, g_w, est = qae.gradient(f_np, jac_np, probs, v, lam, alpha)
                gz, gw = jnp.asarray(g_z), jnp.asarray(g_w * v_scale)
            exact = risk(f_np, probs, alpha, lam)
            pi = np.asarray(price_of(z))
            row = {"iteration": k - 1, "C": c, "C_star": exact["objective"],
                   "mean": exact["mean"], "cvar": exact["cvar"], "v": v,
                   "price_min": float(pi.min()), "price_max": float(pi.max()),
                   "price_mean": float(np.mean(pi)),
                   "grad_norm": float(jnp.linalg.norm(gz) / span), "decisions": n_dec, **est}
            if qae is not None:  # the exact gradient, to report the estimate's error
                _, (ez, ew) = value_grad(z, w)
                row["grad_rel_error"] = float(jnp.linalg.norm(gz - ez)
                                              / max(float(jnp.linalg.norm(ez)), 1e-300))
            history.append(row)
            if exact["objective"] < best_c:
                best_k, best_c, best_price = k - 1, exact["objective"], pi
            if progress:
                progress(k, s.max_iterations, row)
            if last_c is not None and abs(c - last_c) < s.tol * abs(c):
                converged = True
                break
            last_c = c
            # the step follows the gradient's part within the mean-price hyperplane (1j):
            # the projection removes the normal part anyway, but Adam scales every coordinate
            # by its own gradient history, and a normal part of one sign would make the whole
            # step normal to the hyperplane (undone by the projection: no progress)
            gz = gz - (jnp.dot(gz, lengths) / float(np.dot(lengths, lengths))) * lengths
            updates, state = opt.update((gz, gw), state, (z, w))
            z, w = optax.apply_updates((z, w), updates)
            z = to_z(project(np.asarray(price_of(z)), prices))
        best_resp = np.asarray(resp_of(jnp.asarray(best_price)))
        best = {**risk(np.asarray(op.costs(jnp.asarray(best_price), jnp.asarray(best_resp))),
                       probs, alpha, lam), "iteration": best_k}
    out = DescentResult(best_price, best_resp, best_k, k, converged, r0, best, history,
                        time.perf_counter() - t_start)
    if qae is not None:
        out.oracle_queries, out.estimates = qae.queries, qae.estimates
        out.skipped_estimates, out.qae_seconds = qae.skipped, qae.seconds
    return out


class _Qae:
    """The expectations of one iteration by amplitude estimation (see the module docstring)."""

    def __init__(self, s: DescentSettings) -> None:
        from qgridlang.estimation.quantum import QaeSettings

        self.settings = QaeSettings(method=s.qae_method, epsilon=s.qae_epsilon,
                                    eval_qubits=s.qae_eval_qubits, seed=s.seed)
        self.n = s.qae_qubits
        self.queries = 0
        self.estimates = 0
        self.skipped = 0
        self.seconds = 0.0

    def expect(self, values: np.ndarray, probs: np.ndarray, what: str,
               threshold: float | None = None) -> float:
        from qgridlang.estimation.loss import Empirical, discretise
        from qgridlang.estimation.measure import Measure
        from qgridlang.estimation.quantum import estimate

        if threshold is None and np.ptp(values) == 0:
            self.skipped += 1
            return float(values[0])
        emp = Empirical(what, "S", np.asarray(values, float), probs, "")
        grid = discretise(emp, self.n)
        if threshold is None:
            m = Measure("expected", what)
        else:
            m = Measure("probability", what, threshold=threshold, op=">")
        r = estimate(m, grid, threshold, self.settings)
        self.queries += r.oracle_queries
        self.estimates += 1
        self.seconds += r.seconds
        return r.value

    def gradient(self, f: np.ndarray, jac: np.ndarray, probs: np.ndarray, v: float, lam: float,
                 alpha: float) -> tuple[float, np.ndarray, float, dict[str, Any]]:
        q0 = self.queries
        mean = self.expect(f, probs, "f")
        excess = self.expect(np.maximum(f - v, 0.0), probs, "(f - v)+")
        tail = self.expect(f, probs, "f", threshold=v)
        c = mean + lam * (v + excess / (1 - alpha))
        weight = 1.0 + lam / (1 - alpha) * (f > v)
        g_z = np.array([self.expect(weight * jac[:, t], probs, f"h[{t}]")
                        for t in range(jac.shape[1])])
        g_w = lam * (1.0 - tail / (1 - alpha))
        return c, g_z, g_w, {"oracle_queries": self.queries - q0,
                             "qae_mean_error": mean - float(np.dot(probs, f)),
                             "qae_tail_probability": tail}


def reevaluate(op: OperatorCost, text: str, communities: dict[str, Any], price: np.ndarray,
               overrides: dict[str, str] | None, allow_read: tuple[str, ...],
               settings: Any = None) -> dict[str, Any]:
    """``price`` through the communities' true MILPs (prepared
    :class:`~qgridlang.datasets.response.ResponseModel` by parameter) and the operator LP
    (the path of ``qglc price-search``, with ``--set`` overrides): status, LP objective, the
    operator's scalar expressions, the true responses, and the JAX evaluator's exact objective
    at the true responses (a cross-check)."""
    from qgridlang.datasets.response import SolveSettings
    from qgridlang.pricing.operator import solve_lp

    settings = settings or SolveSettings()
    responses = np.zeros((len(op.responses), op.periods))
    out: dict[str, Any] = {"price": np.asarray(price, float).tolist(), "communities": {}}
    for i, r in enumerate(op.responses):
        model = communities[r]
        sol = model.solve(np.asarray(price, float), settings)
        out["communities"][r] = {"status": sol["status"], "objective": sol["objective"]}
        if not sol["feasible"]:
            out["status"] = f"community {r}: {sol['status']}"
            return out
        responses[i] = sol["response"] * _factor(model.output_unit, op.response_units[r],
                                                 f"community {r}'s response")
    lp = solve_lp(op, text, price, responses, overrides, allow_read)
    out.update(status=lp["status"], objective=lp["objective"], expressions=lp["expressions"],
               responses=responses.tolist(), evaluator=op.exact(price, responses))
    return out
