"""``qglc price-descent``: its options and its run (cli.py prints; this module does not).

Mirrors ``qglc price-search``'s contract: the operator model declares the community price
(``--price-param``) and one indexed parameter per community response; ``--surrogate
PARAM=FILE`` names the trained surrogate (a training checkpoint or a ``.qgls`` artifact of
``qglc train``) that answers for PARAM; ``--community PARAM=MODEL`` (optional) re-evaluates the
flat and the final price with the community's true MILP and the operator LP.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from qgridlang.errors import UsageError

# numpy and the pricing modules are imported inside run(): cli.py builds this subcommand's
# parser on every start, and `qglc --version` must load neither (tests/test_startup.py)


def add_options(q: argparse.ArgumentParser) -> None:
    q.add_argument("file", type=Path, metavar="OPERATOR", help="the operator model (.qgl)")
    q.add_argument("--surrogate", action="append", default=[], metavar="PARAM=FILE",
                   help="the operator's response parameter PARAM is predicted by the trained "
                        "surrogate FILE (.qgls or a training checkpoint) (required: one per "
                        "response parameter; repeatable)")
    q.add_argument("--community", action="append", default=[], metavar="PARAM=MODEL",
                   help="re-evaluate the flat and the final price with community MODEL's true "
                        "MILP for PARAM (repeatable; default: no re-evaluation)")
    q.add_argument("--price-param", default="price", metavar="NAME",
                   help="the operator's community-price parameter (default: %(default)s)")
    q.add_argument("--mean-price", type=float, metavar="X",
                   help="the mean price (1j), in the price's unit (default: the mean of the "
                        "model's own price)")
    q.add_argument("--bounds", type=float, nargs=2, default=(0.5, 1.5), metavar=("LO", "HI"),
                   help="price bounds (1i) as fractions of the mean price (default: 0.5 1.5)")
    q.add_argument("--blocks", metavar="H1,H2,…",
                   help="descend over time-of-use block prices with these boundaries in hours "
                        "(e.g. 8,16, the blocks of qglc price-search) (default: one price per "
                        "period)")
    q.add_argument("--learning-rate", type=float, default=0.01, metavar="ETA",
                   help="Adam's step in normalised units: a fraction of the price range "
                        "(default: %(default)s)")
    q.add_argument("--max-iterations", type=int, default=500, metavar="N",
                   help="iterations at most (default: %(default)s)")
    q.add_argument("--tol", type=float, default=1e-4, metavar="X",
                   help="stop when |C_k - C_k-1| < X |C_k| (default: %(default)s)")
    q.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the amplitude estimations (default: %(default)s)")
    q.add_argument("--expectation", choices=("classical", "qae"), default="classical",
                   help="the scenario expectations of the gradient: exact sums, or amplitude "
                        "estimation (T + 3 estimates per iteration) (default: %(default)s)")
    q.add_argument("--qae-qubits", type=int, default=6, metavar="N",
                   help="qae: grid points 2^N of each estimated distribution (default: "
                        "%(default)s)")
    q.add_argument("--qae-method", choices=("ae", "iqae", "mlae", "fae"), default="iqae",
                   help="qae: the amplitude-estimation method (default: %(default)s)")
    q.add_argument("--qae-epsilon", type=float, default=1e-3, metavar="X",
                   help="qae: target half-width of each amplitude (default: %(default)s)")
    q.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a scalar parameter of the operator model (repeatable; "
                        "default: none)")
    q.add_argument("--no-validate", action="store_true",
                   help="skip solving the operator LP once to check the evaluator (default: "
                        "check it)")
    q.add_argument("-o", "--output", type=Path, metavar="FILE.json",
                   help="write the result with every iteration's history (default: write "
                        "none)")
    q.add_argument("--json", action="store_true", help="print one JSON document (default: "
                   "text)")


def _pairs(items: list[str], option: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"{option} expects PARAM={what}, got '{item}'")
        if name.strip() in out:
            raise UsageError(f"{option} names '{name.strip()}' twice")
        out[name.strip()] = value.strip()
    return out


def run(args: argparse.Namespace, overrides: dict[str, str],
        progress: Any = None) -> tuple[dict[str, Any], str]:
    """Run ``qglc price-descent``: the JSON document and the text to show."""
    import numpy as np

    from qgridlang.checker import read_source
    from qgridlang.datasets.prices import PriceSet
    from qgridlang.pricing.descent import DescentSettings, descend, load_surrogate, reevaluate
    from qgridlang.pricing.operator import build

    surrogates = _pairs(args.surrogate, "--surrogate", "FILE")
    if not surrogates:
        raise UsageError("name a surrogate per response parameter: --surrogate PARAM=FILE")
    communities = _pairs(args.community, "--community", "MODEL")
    extra = sorted(set(communities) - set(surrogates))
    if extra:
        raise UsageError(f"--community {extra[0]}=… has no --surrogate {extra[0]}=…")
    if communities and set(communities) != set(surrogates):
        missing = sorted(set(surrogates) - set(communities))
        raise UsageError(f"re-evaluation needs every community's model: --community "
                         f"{missing[0]}=MODEL is missing")
    if args.output is not None:
        if args.output.suffix.lower() != ".json":
            raise UsageError(f"price-descent writes a .json, not '{args.output.name}'")
        from qgridlang.atomic import check_writable

        check_writable(args.output)
    settings = DescentSettings(learning_rate=args.learning_rate,
                               max_iterations=args.max_iterations, tol=args.tol, seed=args.seed,
                               expectation=args.expectation, qae_qubits=args.qae_qubits,
                               qae_method=args.qae_method, qae_epsilon=args.qae_epsilon)
    settings.check()
    hours = _hours_list(args.blocks) if args.blocks else []
    loaded = {p: load_surrogate(p, f) for p, f in surrogates.items()}
    allow = tuple(str(d) for d in args.allow_read)
    op = build(args.file, args.price_param, list(surrogates), overrides=overrides,
               allow_read=allow, validate=not args.no_validate)
    if hours:
        settings.blocks = tuple(_blocks(hours, op.step_hours))
        settings.edges(op.periods)
    mean = args.mean_price if args.mean_price is not None else float(np.mean(op.own_price))
    prices = PriceSet(mean, args.bounds[0] * mean, args.bounds[1] * mean)

    def step(k: int, total: int, row: dict[str, Any]) -> None:
        if progress:
            progress(k, total)

    r = descend(op, loaded, prices, settings, progress=step)
    flat = np.full(op.periods, mean)
    doc: dict[str, Any] = {
        "status": "ok", "operator": str(args.file), "expectation": settings.expectation,
        "scenarios": op.scenarios, "lambda": op.lam, "alpha": op.alpha,
        "units": {"price": op.price_unit, "objective": op.objective_unit,
                  "responses": op.response_units},
        "price_set": {"mean": mean, "lower": prices.lower, "upper": prices.upper},
        "settings": vars(settings), "surrogates": surrogates,
        "evaluator": {"checks": op.checks, "seconds": round(op.seconds, 3),
                      "validation": op.validation},
        "iterations": r.iterations, "converged": r.converged, "best_iteration": r.best_iteration,
        "seconds": round(r.seconds, 3),
        "start": {k: v for k, v in r.start.items() if k != "costs"},
        "final": {k: v for k, v in r.best.items() if k != "costs"},
        "price": r.price.tolist(),
        "constraints": {"min": float(r.price.min()), "max": float(r.price.max()),
                        "mean": float(np.mean(r.price))},
    }
    if settings.expectation == "qae":
        doc["qae"] = {"oracle_queries": r.oracle_queries, "estimates": r.estimates,
                      "skipped_estimates": r.skipped_estimates,
                      "seconds": round(r.qae_seconds, 3)}
    text = (f"price descent ({settings.expectation}, {op.scenarios} scenarios): C* "
            f"{r.start['objective']:.6g} -> {r.best['objective']:.6g} {op.objective_unit} "
            f"(surrogate responses) after {r.iterations} iterations"
            f"{' (converged)' if r.converged else ''}; price {r.price.min():.4g} .. "
            f"{r.price.max():.4g}, mean {np.mean(r.price):.6g} {op.price_unit}")
    if communities:
        from qgridlang.datasets.response import prepare

        text_src = read_source(args.file)
        models = {}
        for p, file in communities.items():
            m = prepare(file, "price", None, mean, "auto", allow)
            if m.periods != op.periods:
                raise UsageError(f"community {file} has {m.periods} periods, the operator "
                                 f"model {op.periods}")
            models[p] = m
        before = reevaluate(op, text_src, models, flat, overrides, allow)
        after = reevaluate(op, text_src, models, r.price, overrides, allow)
        pred = {p: float(np.mean((r.responses[i] - np.asarray(after["responses"])[i]) ** 2))
                for i, p in enumerate(op.responses)} if "responses" in after else {}
        doc["reevaluation"] = {"flat": _short(before), "final": _short(after),
                               "surrogate_mse_at_final": pred}
        if after.get("status") != "optimal":
            doc["status"] = "error"
        text += (f"\n  true MILP responses: flat {before.get('objective', math.nan):.6g} -> "
                 f"final {after.get('objective', math.nan):.6g} {op.objective_unit}")
    if args.output is not None:
        from qgridlang.datasets.store import write_text

        write_text(args.output, json.dumps({**doc, "history": r.history}, indent=1,
                                           default=float))
        text += f"\n  history in {args.output}"
    return doc, text


def _hours_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--blocks expects hours such as 8,16, got '{text}'") from None


def _blocks(hours: list[float], step_hours: float | None) -> list[int]:
    if step_hours is None:
        raise UsageError("the operator's price is not indexed by a time set with a step: "
                         "--blocks cannot place hours")
    out = []
    for h in hours:
        k = h / step_hours
        if abs(k - round(k)) > 1e-9:
            raise UsageError(f"block boundary {h:g} h is not a whole number of {step_hours:g} h "
                             "periods")
        out.append(int(round(k)))
    return out


def _short(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: ev.get(k) for k in ("status", "objective", "expressions", "communities")
            } | {"evaluator_objective": (ev.get("evaluator") or {}).get("objective")}
