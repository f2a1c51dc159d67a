"""``qglc``: check, compile and solve qgl models. The only module that prints.

Exit status: 0 success, 1 model errors (or no feasible plan), 2 usage errors, 3 backend errors,
70 an internal error (a bug), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). With
``--json`` every outcome, errors included, is ONE JSON document on stdout (:func:`error_document`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qgridlang.errors import BackendError, QglError, QglErrors, Span, UsageError
from qgridlang.strategies import STRATEGIES, get_strategy

EXIT_OK, EXIT_MODEL, EXIT_USAGE, EXIT_BACKEND, EXIT_INTERNAL = 0, 1, 2, 3, 70
EXIT_INTERRUPT, EXIT_TERMINATED, EXIT_BROKEN_PIPE = 130, 143, 141


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so ``finally``/cleanup code runs (an artifact being
    written is not left half-done). A BaseException: ``except Exception`` must not swallow it."""


class _ArgumentError(UsageError):
    """argparse's own usage error, with the parser whose usage line to show."""

    def __init__(self, message: str, parser: argparse.ArgumentParser) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # reported by main(): text or JSON, exit 2
        raise _ArgumentError(message, self)

    def format_help(self) -> str:
        # the registry's names are listed only when help is asked for (loading it imports
        # every target module, which `qglc check` does not need)
        for action in self._actions:
            if action.help and "{" in action.help:
                action.help = _fill_names(action.help)
        return super().format_help()


def _fill_names(text: str) -> str:
    from qgridlang.registry import BACKENDS, TARGETS, _load

    _load()
    return text.replace("{backends}", ", ".join(sorted(BACKENDS))).replace(
        "{targets}", ", ".join(sorted(TARGETS)))


_EXIT_HELP = ("exit status: 0 ok, 1 model errors or no feasible plan, 2 usage errors, "
              "3 backend errors, 70 internal error, 130 interrupted, 143 terminated")


def build_parser() -> argparse.ArgumentParser:
    from qgridlang import __version__

    p = _Parser(prog="qglc", description="The qgridlang compiler: check, compile and solve "
                "qgl models.", epilog=_EXIT_HELP)
    p.add_argument("--version", action="version", version=f"qglc {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser,
                           metavar="{check,compile,solve,estimate,sample-responses,price-search,"
                                   "price-descent,train,evaluate,import,validate,targets,"
                                   "fmt,lsp,show,plot}")
    c = sub.add_parser("check", help="check models and report every error",
                       description="Check models and report every error of every file.",
                       epilog=_EXIT_HELP)
    c.add_argument("files", nargs="+", type=Path, metavar="FILE", help="model files (.qgl)")
    c.add_argument("--json", action="store_true",
                   help="print one JSON document: every file's IR summary or errors "
                        "(default: text)")
    _limit_options(c)
    k = sub.add_parser("compile", help="lower a model for a target (and write it with -o)",
                       description="Lower a model for a target and report its size; -o writes "
                       "the artifact (atomically).", epilog=_EXIT_HELP)
    k.add_argument("file", type=Path, metavar="FILE", help="the model (.qgl)")
    k.add_argument("--target", "-t", required=True, metavar="T",
                   help="the target (required; choices: {targets})")
    k.add_argument("-o", "--output", type=Path, metavar="OUT",
                   help="write the artifact; its suffix picks the format (milp: .lp .mps; "
                        "qubo: .bqm.json .coo .lp; qaoa: .qasm .json; dwave: .embedding.json "
                        "…; cqm: .lp .cqm) (default: write nothing)")
    k.add_argument("--json", action="store_true", help="print one JSON document (default: a "
                   "table)")
    k.add_argument("--measure", "-m", metavar="M",
                   help="qae target: the risk measure whose oracle to build, e.g. "
                        "\"cvar(cost, alpha = 95 %%)\" (default: none; required there)")
    k.add_argument("--plan", type=Path, metavar="PLAN",
                   help="qae target: the plan, a solve's .json or .csv output (default: solve "
                        "with highs)")
    _common(k)
    _limit_options(k)
    s = sub.add_parser("solve", help="solve a model with a backend",
                       description="Solve a model with a backend; the plan is keyed by model "
                       "names. Options a backend does not use are refused.", epilog=_EXIT_HELP)
    s.add_argument("file", type=Path, metavar="FILE", help="the model (.qgl)")
    s.add_argument("--backend", "-b", default="highs", metavar="B",
                   help="the backend (default: %(default)s; choices: {backends})")
    s.add_argument("--json", action="store_true", help="print one JSON document (default: a "
                   "table)")
    s.add_argument("--time-limit", type=float, metavar="S",
                   help="wall-clock limit in seconds, > 0 (default: none; highs, sa, tabu, "
                        "qaoa, ibm, hybrid, hybrid_cqm)")
    s.add_argument("--mip-gap", type=float, metavar="G",
                   help="relative MIP gap, >= 0 (default: HiGHS's 1e-4; highs)")
    s.add_argument("--threads", type=int, metavar="N",
                   help="solver threads, >= 1 (default: the solver's choice; highs, qaoa, ibm)")
    s.add_argument("--reads", type=int, metavar="N",
                   help="samples / shots, >= 1 (default: 100, tabu 10, qaoa 1024; QUBO "
                        "backends except exact)")
    s.add_argument("--sweeps", type=int, metavar="N",
                   help="sweeps per read, >= 1 (default: 1000; sa, dwave mock)")
    s.add_argument("--penalty-retune", type=int, metavar="N",
                   help="QUBO backends: up to N >= 0 re-lowerings that raise the weights of "
                        "the constraints the best sample violates (default: 0)")
    s.add_argument("--strategy", choices=sorted(STRATEGIES),
                   help="a solve strategy (choices: %(choices)s; default: none): gcsq = "
                        "recursive bipartition (coalition formation)")
    s.add_argument("--output", "-o", type=Path, metavar="PLAN",
                   help="also write every value with its unit to PLAN.csv or PLAN.parquet "
                        "(parquet needs pyarrow), or the result document to PLAN.json (what "
                        "qglc plot reads; default: write none)")
    s.add_argument("--verbose", "-v", action="store_true",
                   help="show progress and the solver's log on stderr (default: only when "
                        "stderr is a terminal, and without the solver's log)")
    _common(s)
    _limit_options(s)
    e = sub.add_parser("estimate", help="estimate a risk measure of a plan (expected, VaR, "
                       "CVaR, a tail probability)",
                       description="Estimate a risk measure of a plan over the model's "
                       "scenarios: quantum amplitude estimation (qae), Monte Carlo (mc) or "
                       "exact. The plan comes from --plan, or from solving with HiGHS.",
                       epilog=_EXIT_HELP)
    e.add_argument("file", type=Path, metavar="FILE", help="the model (.qgl)")
    e.add_argument("--measure", "-m", required=True, metavar="M",
                   help="required: expected(e), var(e, alpha = 95 %%), cvar(e, alpha = 0.9) "
                        "or probability(e > x), e an expression indexed over a scenario set")
    e.add_argument("--backend", "-b", default="qae", choices=["qae", "mc", "exact"],
                   help="the estimator (default: %(default)s)")
    e.add_argument("--plan", type=Path, metavar="PLAN",
                   help="the plan: qglc solve --json output (.json) or --output plan (.csv) "
                        "(default: solve the model with highs first)")
    e.add_argument("--json", action="store_true", help="print one JSON document (default: a "
                   "table)")
    _common(e)
    _limit_options(e)
    _datasets_parsers(sub)
    _network_parsers(sub)
    _train_parser(sub)
    _evaluate_parser(sub)
    _simulate_parser(sub)
    _price_descent_parser(sub)
    _editor_parsers(sub)
    _view_parsers(sub)
    t = sub.add_parser("targets", help="list targets and backends and whether each is available",
                       description="List targets and backends, their options and whether "
                       "each is available here.")
    t.add_argument("--json", action="store_true", help="print one JSON document (default: a "
                   "table)")
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, metavar="N",
                   help="random seed, 0 .. 2**32-1 (default: none; every backend accepts it)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a scalar parameter; the value may carry a unit: 5MW, "
                        "'5 MW' (repeatable; default: none)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a target's or backend's own option; unknown keys are refused "
                        "(repeatable; `qglc targets` lists them; default: none)")


def _limit_options(p: argparse.ArgumentParser) -> None:
    """File access and size limits (see qgridlang.limits and docs/guide/hostile-input.md)."""
    from qgridlang.limits import DEFAULT_MAX_ERRORS, DEFAULT_MAX_READ_MB, DEFAULT_MAX_SIZE

    p.add_argument("--allow-read", action="append", default=[], metavar="DIR",
                   help="a folder whose files csv(…) and import may read besides the model's "
                        "own (repeatable; default: only the model's folder)")
    p.add_argument("--max-size", type=int, metavar="N",
                   help="most set elements, columns, rows, terms, index combinations and "
                        f"QUBO bits a model may have (default: {DEFAULT_MAX_SIZE:.0e})")
    p.add_argument("--max-read-mb", type=float, metavar="MB",
                   help="largest data or imported file read, in MiB (default: "
                        f"{DEFAULT_MAX_READ_MB}, or QGL_MAX_READ_MB)")
    p.add_argument("--max-errors", type=int, metavar="N",
                   help=f"errors printed before the rest are counted (default: "
                        f"{DEFAULT_MAX_ERRORS}; 0 prints all)")


@contextlib.contextmanager
def _limits(args: argparse.Namespace) -> Iterator[None]:
    """Run a command under the limits its options set (UsageError for bad values)."""
    from qgridlang import limits

    global _max_errors
    n = getattr(args, "max_errors", None)
    if n is not None and n < 0:
        raise UsageError(f"--max-errors must be >= 0, got {n}")
    _max_errors = limits.DEFAULT_MAX_ERRORS if n is None else n
    lim = limits.make(getattr(args, "max_size", None), getattr(args, "allow_read", None),
                      getattr(args, "max_read_mb", None))
    with limits.using(lim):
        yield


_max_errors = 50  # set per command by _limits (--max-errors)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # decided before parsing, so argparse's own usage errors are JSON documents too
    as_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
    except _ArgumentError as exc:  # SystemExit(2), as argparse itself does
        if as_json:
            _print_json(error_document([exc], EXIT_USAGE))
        else:
            exc.parser.print_usage(sys.stderr)
            print(f"qglc: error: {exc.message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    previous = _catch_sigterm()
    try:
        with _limits(args):
            return int(_dispatch(args))
    except QglErrors as exc:  # only usage mistakes (a --set name): a usage error
        usage = all(isinstance(e, UsageError) for e in exc.errors)
        return _fail(exc.errors, EXIT_USAGE if usage else EXIT_MODEL, as_json)
    except UsageError as exc:
        return _fail([exc], EXIT_USAGE, as_json)
    except BackendError as exc:
        return _fail([exc], EXIT_BACKEND, as_json)
    except QglError as exc:
        return _fail([exc], EXIT_MODEL, as_json)
    except KeyboardInterrupt:
        return _fail([QglError("interrupted")], EXIT_INTERRUPT, as_json, "interrupted")
    except Terminated:
        return _fail([QglError("terminated (SIGTERM)")], EXIT_TERMINATED, as_json, "terminated")
    except BrokenPipeError:  # `qglc … | head`: the reader left; say nothing more
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug in qglc, never a model's fault: no traceback for users
        message = (f"internal error ({type(exc).__name__}: {exc}); this is a bug in qglc, "
                   "please report it with the model (QGLC_DEBUG=1 shows the traceback)")
        _fail([QglError(message)], EXIT_INTERNAL, as_json, "internal_error")
        if os.environ.get("QGLC_DEBUG"):
            raise
        return EXIT_INTERNAL
    finally:
        _restore_sigterm(previous)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


_NO_HANDLER = object()


def _catch_sigterm() -> Any:
    """Turn SIGTERM into :class:`Terminated` while a command runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return _NO_HANDLER

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        return _NO_HANDLER


def _restore_sigterm(previous: Any) -> None:
    if previous is not _NO_HANDLER:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _fail(errors: list[QglError], code: int, as_json: bool, kind: str | None = None) -> int:
    """Report ``errors`` (text on stderr, or one JSON document on stdout) and return ``code``."""
    if as_json:
        _print_json(error_document(errors, code, kind))
    elif kind in ("interrupted", "terminated"):
        print(f"qglc: {errors[0].message}", file=sys.stderr)
    elif kind == "internal_error" or code == EXIT_USAGE:
        for err in errors:
            print(f"qglc: error: {err.message}" + (f" ({err.hint})" if err.hint else ""),
                  file=sys.stderr)
    else:
        _print_errors(errors)
    return code


def error_document(errors: list[QglError], code: int, kind: str | None = None
                   ) -> dict[str, Any]:
    """The ``--json`` form of a failed run: ``status``, ``exit_code``, ``count`` and
    ``errors``, each with ``kind``, ``message``, ``file``, ``line``, ``column``, ``end_line``,
    ``end_column`` and ``hint`` (null where unknown)."""
    status = kind if kind in ("interrupted", "terminated") else "error"
    return {"status": status, "exit_code": code, "count": len(errors),
            "errors": [error_json(e, kind) for e in errors]}


def error_json(err: QglError, kind: str | None = None) -> dict[str, Any]:
    """One error as a JSON object (see :func:`error_document`)."""
    span = err.span
    out: dict[str, Any] = {"kind": kind or error_kind(err), "message": err.message,
                           "file": span.file if span is not None and span.file else None,
                           "line": None, "column": None, "end_line": None,
                           "end_column": None, "hint": err.hint}
    if span is not None and span.line > 0:
        out.update(line=span.line, column=span.column, end_line=span.end_line or None,
                   end_column=span.end_column or None)
    return out


def error_kind(err: QglError) -> str:
    """``UnknownName`` -> ``unknown_name``, ``QglSyntaxError`` -> ``syntax_error``."""
    if isinstance(err, _ArgumentError):
        return "usage_error"
    name = type(err).__name__
    if name == "QglError":
        return "error"
    name = name.removeprefix("Qgl")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _print_json(doc: Any, indent: int | None = 2) -> None:
    """The one document of a ``--json`` run: strict JSON (NaN and infinities become null)."""
    from qgridlang.jsondoc import dumps

    print(dumps(doc, indent))


def _overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set expects NAME=VALUE, got '{item}'")
        name, value = item.split("=", 1)
        out[name.strip()] = value.strip()
    return out


def _options(args: argparse.Namespace) -> Any:
    from qgridlang.registry import Options

    extra: dict[str, Any] = {}
    for item in getattr(args, "option", []):
        if "=" not in item:
            raise UsageError(f"--option expects KEY=VALUE, got '{item}'")
        key, value = item.split("=", 1)
        extra[key.strip()] = _literal(value.strip())
    if getattr(args, "penalty_retune", None) is not None:
        extra["penalty_retune"] = args.penalty_retune
    return Options(time_limit=getattr(args, "time_limit", None), seed=args.seed,
                   mip_gap=getattr(args, "mip_gap", None), threads=getattr(args, "threads", None),
                   reads=getattr(args, "reads", None), sweeps=getattr(args, "sweeps", None),
                   extra=extra, verbose=bool(getattr(args, "verbose", False)))


def _literal(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _dispatch(args: argparse.Namespace) -> int:
    # each verb imports what it needs: `targets` never loads the checker (qglc start-up)
    if args.command == "targets":
        return _targets(args)
    if args.command == "check":
        return _check(args)
    if args.command in ("fmt", "lsp"):
        return _fmt(args) if args.command == "fmt" else _lsp(args)
    if args.command in ("show", "plot"):
        return _show(args) if args.command == "show" else _plot(args)
    if args.command in ("sample-responses", "price-search"):
        return _datasets(args)
    if args.command == "train":
        return _train_policy(args) if args.policy else _train(args)
    if args.command == "evaluate":
        return _evaluate(args)
    if args.command == "simulate":
        return _simulate(args)
    if args.command == "price-descent":
        return _price_descent(args)
    if args.command == "import":
        return _import(args)
    from qgridlang.checker import check_file

    checked = check_file(args.file, _overrides(args.set))
    _print_warnings(checked.warnings)
    if args.command == "compile":
        return _compile(args, checked)
    if args.command == "estimate":
        return _estimate(args, checked)
    if args.command == "validate":
        return _validate(args, checked)
    return _solve(args, checked)


def _estimate(args: argparse.Namespace, checked: Any) -> int:
    from qgridlang.estimation.run import estimate

    opts = _options(args)
    extra = dict(opts.extra)
    if opts.seed is not None:  # --seed or --option seed (refused by the exact estimator)
        extra["seed"] = opts.seed
    est = estimate(checked, args.measure, args.backend, args.plan, extra)
    if args.json:
        _print_json(est.to_dict(), indent=None)
    else:
        from qgridlang.render import estimate_view

        _console().print(estimate_view(est))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    """Every file, every error; with ``--json`` one document for all files."""
    from qgridlang.checker import check_file

    files: list[dict[str, Any]] = []
    errors: list[QglError] = []
    code = EXIT_OK
    for f in args.files:
        try:
            m = check_file(f)
        except QglError as exc:
            found = exc.errors if isinstance(exc, QglErrors) else [exc]
            errors.extend(found)
            files.append({"file": str(f), "ok": False, "errors": [error_json(e) for e in found]})
            code = max(code, _exit_code(exc))
            continue
        files.append({"file": str(f), "ok": True, "variables": m.flat.n,
                      "constraints": m.flat.m, "model": json.loads(m.ir.model_dump_json()),
                      "warnings": [w.to_json() for w in m.warnings]})
        _print_warnings(m.warnings)
        if m.flat.surrogate_links:
            from qgridlang.registry import differentiable_targets

            accepting = differentiable_targets()
            links = m.flat.surrogate_links
            files[-1]["differentiable"] = {
                "calls": [f"{k.surrogate}({k.input_name})" for k in links],
                "targets": accepting}
        if m.flat.policies:
            files[-1]["policies"] = [_policy_json(m.flat, p) for p in m.flat.policies.values()]
        dyn_lines: list[tuple[int, str]] = []
        if m.flat.systems:
            from qgridlang.control.frontend import summary, summary_lines

            files[-1]["dynamics"] = summary(m.flat)
            dyn_lines = summary_lines(files[-1]["dynamics"])
        if not args.json:
            print(f"{f}: ok ({m.flat.n} variables, {m.flat.m} constraints)")
            for line, note in dyn_lines:
                print(f"{f}:{line}:1: note: {note}")
            for p in files[-1].get("policies", []):
                draws = (f"{p['episodes']} episodes drawn from {', '.join(p['episode_sets'])}"
                         if p["episode_sets"] else "one episode")
                how = " (default)" if p["penalty_default"] else ""
                print(f"{f}:{p['line']}:1: note: policy {p['name']}: {p['observed']} observed "
                      f"numbers, {p['decided']} {p['kind']} decisions per period, "
                      f"{p['periods']} periods, {draws}; broken rows priced at "
                      f"{p['penalty']:.6g} per unit{how}; agent {p['agent']}")
            if m.flat.surrogate_links:
                k = m.flat.surrogate_links[0]
                print(f"{f}:{k.span.line}:{k.span.column}: note: {k.surrogate}({k.input_name}) "
                      f"of variable '{k.input_name}' makes this model a differentiable "
                      "program: MILP, QUBO and QAOA targets refuse it; targets that take it: "
                      f"{', '.join(accepting)}")
    if args.json:
        _print_json({"status": "ok" if code == EXIT_OK else "error", "exit_code": code,
                     "files": files, "count": len(errors),
                     "errors": [error_json(e) for e in errors]})
    elif errors:
        usage = [e for e in errors if isinstance(e, UsageError)]
        for err in usage:
            print(f"qglc: error: {err.message}" + (f" ({err.hint})" if err.hint else ""),
                  file=sys.stderr)
        if len(usage) < len(errors):
            _print_errors([e for e in errors if not isinstance(e, UsageError)])
    return code


def _view_parsers(sub: Any) -> None:
    """``qglc show`` (the model as mathematics) and ``qglc plot`` (a solve's result)."""
    s = sub.add_parser("show", help="print a checked model as the formulation a paper prints",
                       description="Check a model and print it as mathematics: sets, "
                       "parameters with units, variables with domains, each indexed constraint "
                       "with its domain, the objective and the risk measures written out.",
                       epilog=_EXIT_HELP)
    s.add_argument("file", type=Path, metavar="FILE", help="the model (.qgl)")
    style = s.add_mutually_exclusive_group()
    style.add_argument("--latex", dest="style", action="store_const", const="latex",
                       help="LaTeX (default: Markdown with LaTeX math)")
    style.add_argument("--markdown", dest="style", action="store_const", const="markdown",
                       help="Markdown with $…$ math (the default)")
    s.add_argument("--expand", action="store_true",
                   help="write each component instance's rows in the instance's names "
                        "(default: folded, each component's formulation once)")
    s.add_argument("--standalone", action="store_true",
                   help="with --latex: a whole document pdflatex compiles (default: a "
                        "fragment)")
    s.add_argument("-o", "--output", type=Path, metavar="OUT",
                   help="write to OUT (atomically) instead of stdout (default: stdout)")
    s.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a scalar parameter (repeatable; default: none)")
    _limit_options(s)
    pl = sub.add_parser("plot", help="plot a solve's result (.json from qglc solve --json)",
                        description="Plot a result of `qglc solve --json`: dispatch stacks per "
                        "bus, state of charge, commitment, nodal prices and scenario cost fans "
                        "with VaR and CVaR, each axis in the model's units.",
                        epilog=_EXIT_HELP)
    pl.add_argument("result", type=Path, metavar="RESULT",
                    help="a result document (qglc solve MODEL --json > RESULT)")
    pl.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                    help="the image; its suffix picks the format: .png .svg .pdf (required)")
    pl.add_argument("--model", type=Path, metavar="FILE",
                    help="the model, for its buses and scenario costs (default: the result's "
                         "own `model` entry)")
    pl.add_argument("--panels", metavar="LIST",
                    help="comma-separated panels: dispatch, soc, commitment, prices, "
                         "scenarios, values (default: every one the result has data for; "
                         "values, the decisions themselves, where there is no time series)")
    pl.add_argument("--dpi", type=int, default=110, metavar="N",
                    help="resolution of a .png (default: 110)")


def _show(args: argparse.Namespace) -> int:
    from qgridlang.checker import check_file
    from qgridlang.formulation import render

    if args.standalone and args.style != "latex":
        raise UsageError("--standalone is for --latex (a LaTeX document)")
    checked = check_file(args.file, _overrides(args.set))
    _print_warnings(checked.warnings)
    text = render(checked, style=args.style or "markdown", expand=args.expand,
                  standalone=args.standalone)
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    from qgridlang.atomic import write_atomically

    write_atomically(args.output, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    sys.stderr.write(f"wrote {args.output}\n")
    return EXIT_OK


def _plot(args: argparse.Namespace) -> int:
    from qgridlang.plotting import plot_result_file

    panels = [p.strip() for p in args.panels.split(",")] if args.panels else None
    layout = None
    if args.model is not None:
        from qgridlang.checker import check_file
        from qgridlang.plotting.layout import model_layout

        layout = model_layout(check_file(args.model))
    drawn = plot_result_file(args.result, args.output, layout=layout, panels=panels,
                             dpi=args.dpi)
    sys.stderr.write(f"wrote {args.output} ({', '.join(drawn)})\n")
    return EXIT_OK


def _editor_parsers(sub: Any) -> None:
    """``qglc fmt`` (the canonical layout) and ``qglc lsp`` (the language server)."""
    f = sub.add_parser("fmt", help="format .qgl files in the canonical style",
                       description="Rewrite .qgl files in the canonical layout (comments "
                       "kept; the model's meaning is checked to be unchanged). '-' reads stdin "
                       "and writes stdout.", epilog=_EXIT_HELP)
    f.add_argument("files", nargs="+", metavar="FILE", help="model files (.qgl), or - for stdin")
    f.add_argument("--check", action="store_true",
                   help="write nothing; list the files that would change and exit 1 if any "
                        "(default: rewrite them in place)")
    f.add_argument("--diff", action="store_true",
                   help="print a unified diff of the changes on stdout and write nothing "
                        "(default: rewrite in place)")
    s = sub.add_parser("lsp", help="run the qgl language server (for editors)",
                       description="Run the language server (LSP) for .qgl files: "
                       "diagnostics, hover, definitions, references, completion, outline, "
                       "formatting.", epilog=_EXIT_HELP)
    s.add_argument("--tcp", metavar="HOST:PORT",
                   help="listen on a TCP socket instead of stdio (default: stdio)")


def _fmt(args: argparse.Namespace) -> int:
    """Format every file; with --check/--diff nothing is written."""
    import difflib

    from qgridlang.checker import read_source
    from qgridlang.formatter import format_text

    code = EXIT_OK
    errors: list[QglError] = []
    for name in args.files:
        if name == "-":
            text = sys.stdin.read()
        else:
            text = read_source(name)
        try:
            out = format_text(text, "<stdin>" if name == "-" else name)
        except QglError as exc:
            errors.append(exc)
            code = max(code, _exit_code(exc))
            continue
        if name == "-" and not (args.check or args.diff):
            sys.stdout.write(out)
            continue
        if out == text:
            continue
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), out.splitlines(keepends=True),
                f"{name}", f"{name} (formatted)"))
        if args.check:
            print(f"{name}: would be reformatted")
            code = max(code, EXIT_MODEL)
        elif not args.diff:
            from qgridlang.atomic import write_atomically

            write_atomically(Path(name), lambda tmp: tmp.write_text(out, encoding="utf-8"))
            print(f"{name}: reformatted", file=sys.stderr)
    if errors:
        _print_errors(errors)
    return code


def _lsp(args: argparse.Namespace) -> int:
    from qgridlang.lsp.server import serve

    host, port = None, None
    if args.tcp:
        host, _, port_text = args.tcp.rpartition(":")
        if not host or not port_text.isdigit():
            raise UsageError(f"--tcp expects HOST:PORT, got '{args.tcp}'")
        port = int(port_text)
    serve(host, port)
    return EXIT_OK


def _policy_json(flat: Any, spec: Any) -> dict[str, Any]:
    from qgridlang.policies.stages import analyse

    plan = analyse(flat, spec)
    return {"name": spec.name, "line": spec.span.line if spec.span else 0,
            "agent": spec.agent, "options": spec.options, "observed": len(spec.features),
            "features": [f.label for f in spec.features], "decided": len(spec.actions),
            "actions": list(spec.actions), "kind": "discrete" if spec.discrete else "real",
            "periods": spec.horizon, "time_set": spec.time_set,
            "episode_sets": list(spec.episode_sets), "episodes": len(spec.episode_keys),
            "penalty": plan.penalty, "penalty_default": plan.penalty_default,
            "train_episodes": spec.episodes, "seed": spec.seed, "trained": spec.trained}


def _exit_code(err: QglError) -> int:
    if isinstance(err, UsageError):
        return EXIT_USAGE
    if isinstance(err, BackendError):
        return EXIT_BACKEND
    return EXIT_MODEL


def _compile(args: argparse.Namespace, checked: Any) -> int:
    from qgridlang.dispatcher import compile_model

    options = _options(args)
    if args.measure is not None:  # the qae target's; any other target refuses the option
        options.extra["measure"] = args.measure
    if args.plan is not None:
        options.extra["plan"] = str(args.plan)
    compiled = compile_model(checked, args.target, options, args.output)
    payload = {"target": compiled.target, "report": compiled.report,
               "timings": {k: round(v, 6) for k, v in compiled.timings.items()},
               "output": str(args.output) if args.output else None}
    if args.json:
        _print_json(payload)
    else:
        from qgridlang.render import report_view

        _console().print(report_view(payload))
    return EXIT_OK


def _solve(args: argparse.Namespace, checked: Any) -> int:
    from qgridlang.dispatcher import solve_model
    from qgridlang.results import Status

    if args.strategy:
        if args.output:
            raise UsageError("--output writes one plan; --strategy runs many solves",
                             hint="leave out --output, or --strategy")
        return _strategy(args)
    if args.output:
        from qgridlang.results import check_plan_path

        check_plan_path(args.output)  # before solving: a long solve must not end in a refusal
    sol = solve_model(checked, args.backend, _options(args))
    if args.json:
        _print_json(sol.to_json(), indent=None)
    else:
        from qgridlang.render import solution_view

        _console().print(solution_view(sol))
    if args.output:
        if sol.x is None:
            print(f"qglc: no plan written to '{args.output}': the solve found none",
                  file=sys.stderr)
        else:
            sol.write(args.output)
    if sol.status == Status.INTERRUPTED:  # Ctrl-C: the plan so far is printed, exit 130
        return EXIT_INTERRUPT
    if sol.status == Status.ERROR and sol.x is None:  # the solver failed: a backend error
        return EXIT_BACKEND
    ok = sol.status in (Status.OPTIMAL, Status.FEASIBLE) and sol.feasible
    return EXIT_OK if ok else EXIT_MODEL


def _strategy(args: argparse.Namespace) -> int:
    from qgridlang.registry import get_backend

    target = get_backend(args.backend).target
    res = get_strategy(args.strategy)(args.file, args.backend, _options(args),
                                      overrides=_overrides(args.set))
    if args.json:
        _print_json(res.to_json(args.strategy, args.backend, target), indent=None)
    else:
        from rich.table import Table

        t = Table(title=f"qglc solve --strategy {args.strategy} --backend {args.backend}")
        t.add_column("coalition")
        t.add_column("members")
        for k, c in enumerate(res.coalitions, start=1):
            t.add_row(str(k), ", ".join(map(str, c)))
        _console().print(t)
        if res.value is not None:
            _console().print(f"structure value {res.value:.6g} {res.value_unit}".rstrip())
        _console().print(f"gain over the grand coalition {res.gain:.6g} in {res.solves} solves "
                         f"({res.seconds:.2f} s)")
    return EXIT_OK if res.infeasible_solves == 0 else EXIT_MODEL


def _targets(args: argparse.Namespace) -> int:
    from qgridlang.registry import listing

    if args.json:
        _print_json(listing())
        return EXIT_OK
    from qgridlang.render import targets_view

    _console().print(targets_view(listing()))
    return EXIT_OK


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _print_warnings(warnings: list[Any]) -> None:
    """``path:LINE:COL: warning: message`` on stderr (a QglWarning never stops a run)."""
    for w in warnings:
        where = f"{terminal_text(str(w.span))}: " if w.span and w.span.line else ""
        print(f"{where}warning: {clip_message(w.message)}"
              + (f"\n       = help: {clip_message(w.hint)}" if w.hint else ""), file=sys.stderr)


def _print_errors(errors: list[QglError]) -> None:
    """Each error rendered, the first ``--max-errors`` of them, then how many there were."""
    cache: dict[str, list[str]] = {}
    n = len(errors)
    shown = errors if _max_errors == 0 else errors[:_max_errors]
    # one write: thousands of small writes to a terminal cost more than rendering them
    out = [render_error(err, cache) for err in shown]
    if len(shown) < n:
        more = n - len(shown)
        out.append(f"… and {more} more error{'s' if more != 1 else ''} "
                   f"(--max-errors {n} shows them all)")
    out.append(f"{n} error{'s' if n != 1 else ''}")
    print("\n".join(out), file=sys.stderr)


# Shown around the caret when a source line is longer (display columns).
EXCERPT_WIDTH = 120
MESSAGE_WIDTH = 1000


def render_error(err: QglError, cache: dict[str, list[str]] | None = None) -> str:
    """``path:LINE:COL: error: message``, the source line and a caret under the column.

    Nothing from the model reaches the terminal raw: control characters (ESC, NUL …) and
    invisible format characters (bidi overrides) are shown escaped (``\\x1b``), a long line
    is clipped to a window around the caret (``…`` marks the cut) and a long message is
    clipped; the caret stays under its column.
    """
    cache = cache if cache is not None else {}
    span: Span | None = err.span
    message = clip_message(err.message)
    head = f"{terminal_text(str(span))}: error: {message}" if span and span.line else \
        f"error: {message}"
    lines = [head]
    if span and span.line and span.file:
        src = _source_lines(span.file, cache)
        if 0 < span.line <= len(src):
            width = 1
            if span.end_line == span.line and span.end_column > span.column:
                width = span.end_column - span.column
            text, caret = excerpt(src[span.line - 1], span.column, width)
            lines.append(f"  {span.line:>4} | {text}")
            lines.append("       | " + caret)
    if err.hint:
        lines.append(f"       = help: {clip_message(err.hint)}")
    return "\n".join(lines)


def terminal_text(text: str) -> str:
    """``text`` with every character a terminal would act on, or not show, escaped."""
    if text.isprintable():  # the common case, at C speed
        return text
    return "".join(_shown(c) for c in text)


def clip_message(text: str, width: int = MESSAGE_WIDTH) -> str:
    text = text if len(text) <= 4 * width else text[:4 * width]  # escaping at most quadruples
    shown = terminal_text(text)
    return shown if len(shown) <= width else shown[:width - 1] + "…"


def excerpt(line: str, column: int, width: int = 1,
            window: int = EXCERPT_WIDTH) -> tuple[str, str]:
    """The part of ``line`` to show around 1-based ``column``, and the caret line under it.

    Tabs count as one column (as the parser counts them) and are shown as one space; escaped
    characters and wide (East Asian, emoji) characters take their real width, so the caret
    lines up in a terminal. At most ``window`` columns are shown.
    """
    i = max(0, column - 1)  # the caret's character
    # Only a slice near the caret is looked at: a 10 MB line costs no more than a short one.
    lo = max(0, i - 2 * window)
    hi = min(len(line), i + max(width, 1) + 2 * window)
    cells = [_shown(c) if c != "\t" else " " for c in line[lo:hi]]
    pos = [0]
    for c in cells:
        pos.append(pos[-1] + _width(c))
    n = len(cells)

    def col(j: int) -> int:  # display column of character j of the slice (one per char past it)
        return pos[min(j, n)] + max(0, j - n)

    at, end_at = col(i - lo), max(col(i - lo) + 1, col(i - lo + width))
    total = pos[n]
    if lo == 0 and hi == len(line) and total <= window:
        start, stop = 0, total
    else:
        start = max(0, at - window // 3)
        stop = start + window
        if stop > total:
            stop, start = total, max(0, min(start, total - window))
    first = next(j for j in range(n + 1) if pos[j] >= start)
    last = max(j for j in range(n + 1) if pos[j] <= stop)
    left = "…" if lo + first > 0 else ""
    right = "…" if lo + last < len(line) else ""
    under = end_at - at if not right else max(1, min(end_at - at, pos[last] - at))
    return (left + "".join(cells[first:last]) + right,
            " " * (len(left) + at - pos[first]) + "^" + "~" * (under - 1))


def _shown(c: str) -> str:
    if c.isprintable() or c == " ":
        return c
    return c.encode("unicode_escape").decode("ascii") if c not in "\t" else "\\t"


def _width(cell: str) -> int:
    if len(cell) != 1:
        return len(cell)  # an escape: ASCII
    if unicodedata.combining(cell):
        return 0
    return 2 if unicodedata.east_asian_width(cell) in ("W", "F") else 1


def _source_lines(file: str, cache: dict[str, list[str]]) -> list[str]:
    """The lines of a model file, for excerpts; only regular files, at most the read limit
    (re-opening a FIFO the model came from would block)."""
    if file not in cache:
        cache[file] = []
        try:
            import stat as _stat

            from qgridlang.limits import current

            if _stat.S_ISREG(os.stat(file).st_mode):
                with open(file, "rb") as f:
                    data = f.read(current().max_read_bytes)
                cache[file] = data.decode("utf-8-sig", errors="replace").splitlines()
        except OSError:
            pass
    return cache[file]


# ---- data sets over community models (qgridlang.datasets): sample-responses, price-search ----


def _datasets_parsers(sub: Any) -> None:
    r = sub.add_parser("sample-responses", help="solve a community model for N sampled price "
                       "vectors (dask) and write the data set",
                       description="Draw N price vectors (the mean price times one plus a "
                       "smooth random perturbation, projected onto the price bounds and the "
                       "mean price), solve the community's MILP for each on dask, and write "
                       "prices, responses, statuses, objectives and units as .npz or .parquet. "
                       "Results are saved as they complete; rerunning continues.",
                       epilog=_EXIT_HELP)
    r.add_argument("file", type=Path, metavar="MODEL", help="the community model (.qgl)")
    r.add_argument("--n", type=int, required=True, metavar="N", help="samples (required)")
    r.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed; sample i depends only on (S, i) (default: %(default)s)")
    r.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                   help="FILE.npz or FILE.parquet (required); FILE.parts/ holds the chunks "
                        "while it runs")
    r.add_argument("--price-param", default="price", metavar="NAME",
                   help="the model's indexed price parameter (default: %(default)s)")
    r.add_argument("--output-expr", metavar="NAME",
                   help="the response expression (default: the one named exchange)")
    r.add_argument("--sigma", type=float, default=0.25, metavar="X",
                   help="relative size of the perturbation (default: %(default)s)")
    r.add_argument("--length", type=float, default=8.0, metavar="PERIODS",
                   help="smoothing length in periods (default: %(default)s)")
    r.add_argument("--method", choices=("auto", "update", "recheck"), default="auto",
                   help="update: check once, change only the objective per sample (verified "
                        "exact); recheck: check the model for every sample; auto: update where "
                        "verified (default: %(default)s)")
    r.add_argument("--chunk", type=int, default=16, metavar="K",
                   help="samples per dask task (default: %(default)s)")
    _datasets_common(r)
    q = sub.add_parser("price-search", help="search time-of-use community prices for the "
                       "operator's least cost (dask)",
                       description="For every time-of-use price vector on a grid (block "
                       "prices within the bounds, the mean price met exactly), solve each "
                       "community's MILP for it and the operator's model with the price and "
                       "the responses written in; report the cheapest. Results are appended to "
                       "the CSV as they complete; rerunning continues.", epilog=_EXIT_HELP)
    q.add_argument("file", type=Path, metavar="OPERATOR", help="the operator model (.qgl)")
    q.add_argument("--community", action="append", default=[], metavar="PARAM=MODEL",
                   help="the operator's response parameter PARAM is filled by community "
                        "MODEL's response (required: at least one; repeatable)")
    q.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.csv",
                   help="one row per candidate (required)")
    q.add_argument("--price-param", default="price", metavar="NAME",
                   help="the operator's community-price parameter (default: %(default)s)")
    q.add_argument("--blocks", default="8,16", metavar="H1,H2,…",
                   help="block boundaries in hours (default: %(default)s: 0-8, 8-16, 16-24 h)")
    q.add_argument("--step", type=float, default=5.0, metavar="X",
                   help="grid step of the block prices, in the price's unit (default: "
                        "%(default)s)")
    _datasets_common(q)


def _datasets_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mean-price", type=float, metavar="X",
                   help="the mean price (1j), in the price's unit (default: the mean of the "
                        "model's own price)")
    p.add_argument("--bounds", type=float, nargs=2, default=(0.5, 1.5), metavar=("LO", "HI"),
                   help="price bounds (1i) as fractions of the mean price (default: 0.5 1.5)")
    p.add_argument("--mip-gap", type=float, metavar="G",
                   help="relative MIP gap of each solve (default: HiGHS's 1e-4)")
    p.add_argument("--time-limit", type=float, metavar="S",
                   help="seconds per solve (default: none)")
    p.add_argument("--workers", type=int, metavar="K",
                   help="worker processes of the embedded dask cluster (default: one per "
                        "core)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="an existing dask scheduler, e.g. tcp://10.0.0.5:8786 (default: an "
                        "embedded LocalCluster)")
    p.add_argument("--json", action="store_true", help="print one JSON document (default: "
                   "text)")
    _limit_options(p)


def _datasets(args: argparse.Namespace) -> int:
    from qgridlang.datasets.response import SolveSettings

    if args.mip_gap is not None and not (args.mip_gap >= 0 and args.mip_gap < float("inf")):
        raise UsageError(f"--mip-gap must be a finite number >= 0, got {args.mip_gap}")
    if args.time_limit is not None and not (0 < args.time_limit < float("inf")):
        raise UsageError(f"--time-limit must be a finite number > 0, got {args.time_limit}")
    solve = SolveSettings(mip_gap=args.mip_gap, time_limit=args.time_limit)
    allow = tuple(str(d) for d in args.allow_read)
    with _progress_bar("samples" if args.command == "sample-responses" else "candidates"
                       ) as progress:
        if args.command == "sample-responses":
            from qgridlang.datasets.sample import SampleSpec, sample_responses

            spec = SampleSpec(n=args.n, seed=args.seed, mean=args.mean_price,
                              lower=args.bounds[0], upper=args.bounds[1], sigma=args.sigma,
                              length=args.length, price_param=args.price_param,
                              output=args.output_expr, method=args.method, solve=solve)
            s = sample_responses(args.file, args.output, spec, workers=args.workers,
                                 scheduler=args.scheduler, chunk=args.chunk, allow_read=allow,
                                 progress=progress)
            doc: dict[str, Any] = {
                "status": "ok", "output": str(s.output), "samples": s.samples,
                "solved_now": s.solved_now, "statuses": s.statuses, "method": s.method,
                "why_recheck": s.why_recheck, "prepare_seconds": round(s.prepare_seconds, 3),
                "run_seconds": round(s.run_seconds, 3),
                "seconds_per_sample": (round(s.run_seconds / s.solved_now, 4)
                                       if s.solved_now else None),
                "units": s.meta.get("units", {})}
            text = (f"{s.output}: {s.samples} samples ({s.solved_now} solved now in "
                    f"{s.run_seconds:.1f} s after {s.prepare_seconds:.1f} s of preparation; "
                    f"method {s.method}); statuses "
                    + ", ".join(f"{k} {v}" for k, v in sorted(s.statuses.items())))
            if s.why_recheck:
                text += f"\n  rechecked every sample: {s.why_recheck}"
        else:
            from qgridlang.datasets.search import SearchSpec, price_search

            communities: dict[str, str | Path] = {}
            for item in args.community:
                name, sep, model = item.partition("=")
                if not sep or not name.strip() or not model.strip():
                    raise UsageError(f"--community expects PARAM=MODEL, got '{item}'")
                communities[name.strip()] = Path(model.strip())
            try:
                blocks = [float(x) for x in args.blocks.split(",") if x.strip()]
            except ValueError:
                raise UsageError(f"--blocks expects hours such as 8,16, got '{args.blocks}'"
                                 ) from None
            spec2 = SearchSpec(boundaries=blocks, step=args.step, mean=args.mean_price,
                               lower=args.bounds[0], upper=args.bounds[1],
                               price_param=args.price_param, solve=solve)
            r = price_search(args.file, communities, args.output, spec2, workers=args.workers,
                             scheduler=args.scheduler, allow_read=allow, progress=progress)
            doc = {"status": "ok" if r.best else "error", "output": str(r.output),
                   "candidates": r.candidates, "evaluated_now": r.evaluated_now,
                   "failed": r.failed, "best": r.best, "units": r.units,
                   "prepare_seconds": round(r.prepare_seconds, 3),
                   "run_seconds": round(r.run_seconds, 3)}
            if r.best:
                b = r.best
                blocks_text = ", ".join(f"periods {a}-{z}: {v:g}" for (a, z), v in
                                        zip(b["block_periods"], b["blocks"], strict=True))
                text = (f"best of {r.candidates} candidates: {b['objective']:.6g} "
                        f"{r.units['objective']} at {blocks_text} {r.units['price']} (mean "
                        f"{b['mean']:g}); {r.failed} failed; rows in {r.output}")
            else:
                text = f"no candidate was solved to optimality ({r.failed} failed); see {r.output}"
    if args.json:
        _print_json(doc)
    else:
        print(text)
    return EXIT_OK if doc["status"] == "ok" else EXIT_MODEL


@contextlib.contextmanager
def _progress_bar(what: str) -> Iterator[Any]:
    """Progress on stderr (stdout keeps only the result, a --json document too): a rich bar
    where stderr is a terminal, else one line per tenth of the work (a log of a long run)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        last = [-1]

        def lines(done: int, total: int) -> None:
            tenth = done * 10 // total if total else 10
            if tenth != last[0]:
                last[0] = tenth
                print(f"qglc: {done}/{total} {what}", file=sys.stderr, flush=True)

        yield lines
        return
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# ---- surrogates (qgridlang.surrogates): train ----


def _train_parser(sub: Any) -> None:
    r = sub.add_parser("train", help="train a model's surrogate (.qgls) or policy (.qglp) "
                       "declaration and write it",
                       description="Train the surrogate NAME declared in MODEL on its data "
                       "(an .npz of qglc sample-responses, or sample(model = …)) with its "
                       "ansatz and settings, and write the trained artifact: parameters, "
                       "normalisation and the declaration's hash. A checkpoint FILE.qgls.ckpt "
                       "is written after every epoch; rerunning resumes from it. With --policy, "
                       "train the declared agent on the policy's decision process (episodes "
                       "from the declaration) and write FILE.qglp; its checkpoint "
                       "FILE.qglp.ckpt is written every 10 episodes.",
                       epilog=_EXIT_HELP)
    r.add_argument("file", type=Path, metavar="MODEL", help="the model declaring it (.qgl)")
    which = r.add_mutually_exclusive_group()
    which.add_argument("--surrogate", metavar="NAME",
                       help="the surrogate to train (default: the model's only one)")
    which.add_argument("--policy", metavar="NAME",
                       help="train this policy instead of a surrogate (default: none)")
    r.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                   help="the trained artifact, FILE.qgls or FILE.qglp (required)")
    r.add_argument("--restart", action="store_true",
                   help="ignore an existing checkpoint and train from the start (default: "
                        "resume from FILE.ckpt when it exists)")
    r.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a scalar parameter of the model (repeatable; default: "
                        "none)")
    r.add_argument("--json", action="store_true", help="print one JSON document (default: "
                   "text)")
    _limit_options(r)


def _train(args: argparse.Namespace) -> int:
    from qgridlang.surrogates.fit import train_declared

    def epoch(r: Any, total: int) -> None:
        print(f"qglc: epoch {r.epoch}/{total}: train loss {r.train_loss:.5g}, validation "
              f"loss {r.val_loss:.5g} ({r.seconds:.1f} s)", file=sys.stderr, flush=True)

    with _progress_bar("samples") as progress:
        s = train_declared(args.file, args.surrogate, args.output,
                           overrides=_overrides(args.set), resume=not args.restart,
                           epoch_callback=epoch, progress=progress,
                           allow_read=tuple(str(d) for d in args.allow_read))
    if args.json:
        _print_json(s.to_dict())
    else:
        print(f"{s.output}: surrogate {s.surrogate} ({s.ansatz}, {s.parameters} parameters) "
              f"trained on {s.samples} samples, {s.epochs_run} epochs (best {s.best_epoch}"
              f"{', stopped early' if s.stopped_early else ''}) in {s.seconds:.1f} s; test MSE "
              f"{s.test_mse:.4g} normalised, {s.test_mse_physical:.4g} "
              f"({s.units['output'] or '1'})^2")
    return EXIT_OK


# ---- policies (qgridlang.policies): train --policy, evaluate ----


def _train_policy(args: argparse.Namespace) -> int:
    from qgridlang.policies.command import train_policy

    def episode(r: dict[str, Any]) -> None:
        print(f"qglc: episode {r['episode']}: reward {r['reward']:.6g}, cost {r['cost']:.6g}, "
              f"violation {r['violation']:.4g} ({r['seconds']:.2f} s)", file=sys.stderr,
              flush=True)

    s = train_policy(args.file, args.policy, args.output, overrides=_overrides(args.set),
                     resume=not args.restart, on_episode=None if args.json else episode)
    if args.json:
        _print_json(s.to_dict())
    else:
        how = " (default: 10 x the largest objective coefficient)" if s.penalty_default else ""
        print(f"{s.output}: policy {s.policy} ({s.agent}, {s.parameters} parameters) trained "
              f"for {s.episodes} episodes in {s.seconds:.1f} s; last 10 episodes: reward "
              f"{s.last['reward']:.6g}, cost {s.last['cost']:.6g}, violation "
              f"{s.last['violation']:.4g}; violations priced at {s.penalty:.6g} per unit"
              f"{how}; rewards learnt x {s.reward_scale:.3g}")
    return EXIT_OK


def _evaluate_parser(sub: Any) -> None:
    e = sub.add_parser("evaluate", help="roll a trained policy out over episodes of the model",
                       description="Roll the trained agent of the policy NAME declared in MODEL "
                       "out greedily over EPISODES episodes (in the order of the policy's "
                       "episode set, cycling) and report each episode's cost, violation and "
                       "the time per decision (the agent) and per exact stage solve.",
                       epilog=_EXIT_HELP)
    e.add_argument("file", type=Path, metavar="MODEL", help="the model declaring it (.qgl)")
    e.add_argument("--policy", metavar="NAME",
                   help="the policy (default: the model's only one)")
    e.add_argument("--agent", type=Path, metavar="FILE.qglp",
                   help="the trained agent (default: the declaration's trained = \"…\")")
    e.add_argument("--episodes", type=int, default=1, metavar="N",
                   help="episodes to roll out (default: 1)")
    e.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a scalar parameter of the model (repeatable; default: "
                        "none)")
    e.add_argument("--json", action="store_true", help="print one JSON document (default: "
                   "text)")
    _limit_options(e)


def _evaluate(args: argparse.Namespace) -> int:
    from qgridlang.policies.command import evaluate_policy

    rep = evaluate_policy(args.file, args.policy, args.agent, args.episodes,
                          overrides=_overrides(args.set))
    if args.json:
        _print_json(rep.to_dict())
        return EXIT_OK
    unit = f" {rep.objective_unit}" if rep.objective_unit else ""
    for ep in rep.episodes:
        label = ", ".join(map(str, ep.episode)) or "-"
        broken = "; ".join(f"{v:.4g} {u}" for u, v in ep.violations.items()) or "none"
        print(f"episode {label}: cost {ep.cost:,.2f}{unit}, violation {broken}, reward "
              f"{ep.reward:,.2f}; {ep.decisions} decisions, {ep.act_ms:.2f} ms per decision, "
              f"{ep.stage_ms:.2f} ms per stage solve")
    t = rep.totals()
    how = " (default)" if rep.penalty_default else ""
    print(f"policy {rep.policy} ({rep.agent}, {rep.agent_file}): {len(rep.episodes)} episodes, "
          f"cost {t['cost']:,.2f}{unit}, violation {t['violation']:.4g} (priced at "
          f"{rep.penalty:.6g}{unit} per unit{how}), reward {t['reward']:,.2f}")
    return EXIT_OK


# ---- dynamics and control (qgridlang.control): simulate ----


def _simulate_parser(sub: Any) -> None:
    s = sub.add_parser("simulate", help="simulate a system in closed loop with a controller "
                       "and report the regulation metrics",
                       description="Run one `simulate` declaration of MODEL: the system's "
                       "plant with the chosen controller (PID, MPC, or MPC with a predictor "
                       "such as the quantum walk) under the declared disturbances, and report "
                       "IAE, ISE, ITAE, ITSE, MAE, SD, maximum deviation and regulation time "
                       "of the measured signal, in its unit, and the controller's time per "
                       "step.", epilog=_EXIT_HELP)
    s.add_argument("file", type=Path, metavar="MODEL", help="the model (.qgl)")
    s.add_argument("--simulation", metavar="NAME",
                   help="the simulation (`simulate … as NAME`; default: the model's only one)")
    s.add_argument("--controller", metavar="NAME",
                   help="run with this controller instead of the declaration's `with` "
                        "(`none`: open loop; default: the declaration's)")
    s.add_argument("--seed", type=int, metavar="N",
                   help="the disturbances' random seed (default: the declaration's seed, or 0)")
    s.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a scalar parameter; the value may carry a unit: '12 s' "
                        "(repeatable; default: none)")
    s.add_argument("--json", action="store_true",
                   help="print one JSON document with the metrics and every trajectory "
                        "(default: text)")
    s.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="also write the trajectories: .csv (one row per sample, units in the "
                        "header), .png (plots) or .json (default: none)")
    s.add_argument("--plot", metavar="NAMES",
                   help="signals plotted in the .png, comma-separated (default: the measured "
                        "signal, the inputs and the disturbances)")
    s.add_argument("--circuit", type=Path, metavar="FILE.qasm",
                   help="write the quantum-walk predictor's circuit for one prediction as "
                        "OpenQASM 3 (default: none)")
    _limit_options(s)


def _simulate(args: argparse.Namespace) -> int:
    from qgridlang.control import report
    from qgridlang.control.frontend import load_dynamics, pick_simulation, run_simulation

    out = args.output
    if out is not None and out.suffix.lower() not in (".csv", ".png", ".json"):
        raise UsageError(f"-o {out}: write .csv, .png or .json")
    if args.circuit is not None and args.circuit.suffix.lower() != ".qasm":
        raise UsageError(f"--circuit {args.circuit}: write a .qasm file")
    dyn = load_dynamics(args.file, _overrides(args.set))
    _print_warnings(dyn.checked.warnings)
    name, sim = pick_simulation(dyn, args.simulation)
    names = None
    if args.plot:
        names = [n.strip() for n in args.plot.split(",") if n.strip()]
        known = dyn.systems[sim.system]
        for n in names:
            try:
                known.signal(n)
            except KeyError:
                raise UsageError(f"--plot {n}: system '{sim.system}' has no such signal") \
                    from None
    res = run_simulation(dyn, name, args.controller, args.seed)
    if args.circuit is not None:
        from qgridlang.control.circuits import export_walk

        export_walk(dyn, res, args.circuit)
    if out is not None:
        if out.suffix.lower() == ".csv":
            report.write_csv(res, out)
        elif out.suffix.lower() == ".png":
            report.write_png(res, out, dyn.systems[sim.system], names)
        else:
            from qgridlang.atomic import write_atomically

            body = json.dumps(report.document(res, name), indent=1) + "\n"
            write_atomically(out, lambda tmp: tmp.write_text(body, encoding="utf-8"))
    if args.json:
        _print_json(report.document(res, name))
    else:
        print(report.text(res, name))
        if out is not None:
            print(f"wrote {out}")
        if args.circuit is not None:
            print(f"wrote {args.circuit}")
    return EXIT_OK


# ---- pricing through surrogates (qgridlang.pricing): price-descent ----


def _price_descent_parser(sub: Any) -> None:
    from qgridlang.pricing.command import add_options

    q = sub.add_parser("price-descent", help="price the communities by projected gradient "
                       "descent on the operator's cost through their trained surrogates",
                       description="Minimise the operator model's expected cost + lambda CVaR "
                       "over the community price (bounds and mean price kept exactly), the "
                       "communities' responses predicted by trained surrogates (Adam, exact "
                       "projection after every step); with --community, re-evaluate the flat "
                       "and the final price with the communities' true MILPs.",
                       epilog=_EXIT_HELP)
    add_options(q)
    _limit_options(q)


def _price_descent(args: argparse.Namespace) -> int:
    from qgridlang.pricing.command import run

    with _progress_bar("iterations") as progress:
        doc, text = run(args, _overrides(args.set), progress)
    if args.json:
        _print_json(doc)
    else:
        print(text)
    return EXIT_OK if doc["status"] == "ok" else EXIT_MODEL


# ---- networks (qgridlang.network_io): import pandapower, validate --ac ----


def _network_parsers(sub: Any) -> None:
    i = sub.add_parser("import", help="import a pandapower network as CSV tables and a .qgl "
                       "model",
                       description="Write a pandapower network's buses, lines and "
                       "transformers, loads and generators as CSV files (units in the column "
                       "names) and a .qgl model over them: network flow = lindistflow for a "
                       "radial network, dc for a meshed one; one period; the objective the "
                       "generation cost.", epilog=_EXIT_HELP)
    i.add_argument("format", choices=["pandapower"], help="the source format")
    i.add_argument("source", metavar="NAME",
                   help="a pandapower.networks function (case33bw, case24_ieee_rts, case9 …) "
                        "or a pandapower JSON file (pandapower.to_json)")
    i.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                   help="the folder to write NAME.qgl and the CSV files into (created if "
                        "missing; required)")
    i.add_argument("--json", action="store_true", help="print one JSON document (default: "
                   "text)")
    i.add_argument("--max-read-mb", type=float, metavar="MB",
                   help="largest JSON file read, in MiB (default: 64, or QGL_MAX_READ_MB)")
    v = sub.add_parser("validate", help="run pandapower's AC power flow on a plan and compare "
                       "(--ac)",
                       description="Build a pandapower network from the model's buses and "
                       "lines, inject the plan's net power at every bus (the slack bus as an "
                       "external grid at v_set), run the AC power flow and report true "
                       "voltages, flows and losses next to the model's linearised ones.",
                       epilog=_EXIT_HELP)
    v.add_argument("file", type=Path, metavar="FILE", help="the model (.qgl)")
    v.add_argument("--ac", action="store_true",
                   help="the AC power-flow check (required: the only check so far)")
    v.add_argument("--plan", type=Path, metavar="PLAN",
                   help="the plan: qglc solve --json output (.json) or --output plan (.csv) "
                        "(default: solve the model with highs first)")
    v.add_argument("--period", metavar="T",
                   help="only this period (a label of the time set; default: every period)")
    v.add_argument("--json", action="store_true", help="print one JSON document (default: "
                   "tables)")
    v.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a scalar parameter (repeatable; default: none)")
    _limit_options(v)


def _import(args: argparse.Namespace) -> int:
    from qgridlang.network_io.pandapower_import import import_network

    res = import_network(args.source, args.output)
    imp = res.imported
    if args.json:
        _print_json({"status": "ok", "source": imp.source, "model": str(res.model),
                     "files": [str(f) for f in res.files], "formulation": imp.formulation,
                     "radial": imp.radial, "loop": imp.loop,
                     "counts": {t: len(getattr(imp, t)) for t in (
                         "buses", "lines", "loads", "ext_grids", "gens", "sgens")},
                     "skipped": imp.skipped, "notes": imp.notes})
        return EXIT_OK
    for note in imp.notes:
        print(f"warning: {note}", file=sys.stderr)
    why = "radial" if imp.radial else f"meshed: a loop runs through {', '.join(imp.loop)}"
    csvs = ", ".join(f.name for f in res.files if f.suffix == ".csv")
    print(f"wrote {terminal_text(str(res.model))} (network flow = {imp.formulation}, {why}) "
          f"and {terminal_text(csvs)}")
    skipped = sum(imp.skipped.values())
    sources = len(imp.ext_grids) + len(imp.gens) + len(imp.sgens)
    print(f"{len(imp.buses)} buses, {len(imp.lines)} lines and transformers, {len(imp.loads)} "
          f"loads, {sources} source{'s' if sources != 1 else ''}"
          + (f"; {skipped} out-of-service elements left out" if skipped else ""))
    return EXIT_OK


def _validate(args: argparse.Namespace, checked: Any) -> int:
    if not args.ac:
        raise UsageError("qglc validate: nothing to check", hint="give --ac (pandapower's AC "
                         "power flow on the plan)")
    from qgridlang.network_io.ac_validate import validate, validation_view

    if getattr(checked, "network", None) is None:
        raise UsageError(f"{args.file}: the model has no network to validate (no bus)",
                         hint="--ac runs an AC power flow over the model's buses and lines")
    if args.plan is not None:
        from qgridlang.estimation.plan import from_file

        x, plan = from_file(checked.flat, args.plan), str(args.plan)
    else:
        from qgridlang.dispatcher import solve_model
        from qgridlang.results import Status

        sol = solve_model(checked, "highs")
        if sol.x is None or sol.status not in (Status.OPTIMAL, Status.FEASIBLE):
            raise UsageError(f"no plan to validate: HiGHS says {sol.status} ({sol.message})",
                             hint="give one with --plan plan.json")
        x = sol.x
        plan = f"solved with highs ({sol.status}, objective {sol.objective:g} " \
            f"{sol.objective_unit})".replace(" )", ")")
    report = validate(checked, x, plan, args.period)
    if args.json:
        _print_json(report.to_dict(), indent=None)
    else:
        _console().print(validation_view(report))
    return EXIT_OK

if __name__ == "__main__":
    sys.exit(main())
