"""``qglc``: check, compile and solve qgl models. The only module that prints.

Exit status: 0 success, 1 model errors (or no feasible plan), 2 usage errors, 3 backend errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from qgridlang.errors import BackendError, QglError, QglErrors, Span, UsageError

EXIT_OK, EXIT_MODEL, EXIT_USAGE, EXIT_BACKEND, EXIT_INTERNAL = 0, 1, 2, 3, 70


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 on usage errors; keep that
        self.print_usage(sys.stderr)
        print(f"qglc: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="qglc", description="The qgridlang compiler.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    c = sub.add_parser("check", help="check models and report every error")
    c.add_argument("files", nargs="+", type=Path)
    c.add_argument("--json", action="store_true", help="print the IR summary as JSON")
    k = sub.add_parser("compile", help="lower a model for a target (and write it with -o)")
    k.add_argument("file", type=Path)
    k.add_argument("--target", "-t", required=True)
    k.add_argument("-o", "--output", type=Path)
    k.add_argument("--json", action="store_true")
    _common(k)
    s = sub.add_parser("solve", help="solve a model with a backend")
    s.add_argument("file", type=Path)
    s.add_argument("--backend", "-b", default="highs")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument("--time-limit", type=float)
    s.add_argument("--mip-gap", type=float)
    s.add_argument("--threads", type=int)
    s.add_argument("--reads", type=int, help="samples / shots (QUBO backends)")
    s.add_argument("--sweeps", type=int, help="sweeps per read (sa, dwave mock)")
    s.add_argument("--penalty-retune", type=int, metavar="N",
                   help="QUBO backends: up to N re-lowerings that raise the weights of the "
                        "constraints the best sample violates")
    s.add_argument("--strategy", choices=["gcsq"],
                   help="a solve strategy: gcsq = recursive bipartition (coalition formation)")
    _common(s)
    sub.add_parser("targets", help="list targets and backends and whether each is available")
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a scalar parameter (value may carry a unit: 5MW, '5 MW')")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a backend-specific option")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(_dispatch(args))
    except QglErrors as exc:
        _print_errors(exc.errors)
        return EXIT_MODEL
    except UsageError as exc:
        print(f"qglc: error: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""),
              file=sys.stderr)
        return EXIT_USAGE
    except BackendError as exc:
        _print_errors([exc])
        return EXIT_BACKEND
    except QglError as exc:
        _print_errors([exc])
        return EXIT_MODEL
    except KeyboardInterrupt:
        print("qglc: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in qglc, never a model's fault: no traceback for users
        print(f"qglc: internal error ({type(exc).__name__}: {exc}); this is a bug in qglc, "
              "please report it with the model (QGLC_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        if os.environ.get("QGLC_DEBUG"):
            raise
        return EXIT_INTERNAL


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
                   extra=extra)


def _literal(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _dispatch(args: argparse.Namespace) -> int:
    from qgridlang.checker import check_file

    if args.command == "targets":
        return _targets()
    if args.command == "check":
        errors: list[QglError] = []
        for f in args.files:
            try:
                m = check_file(f)
                if args.json:
                    print(m.ir.model_dump_json(indent=2))
                else:
                    print(f"{f}: ok ({m.flat.n} variables, {m.flat.m} constraints)")
            except QglErrors as exc:
                errors.extend(exc.errors)
        if errors:
            _print_errors(errors)
            return EXIT_MODEL
        return EXIT_OK
    checked = check_file(args.file, _overrides(args.set))
    if args.command == "compile":
        return _compile(args, checked)
    return _solve(args, checked)


def _compile(args: argparse.Namespace, checked: Any) -> int:
    from qgridlang.dispatcher import compile_model

    compiled = compile_model(checked, args.target, _options(args), args.output)
    payload = {"target": compiled.target, "report": compiled.report,
               "timings": {k: round(v, 6) for k, v in compiled.timings.items()},
               "output": str(args.output) if args.output else None}
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        from qgridlang.render import report_view

        _console().print(report_view(payload))
    return EXIT_OK


def _solve(args: argparse.Namespace, checked: Any) -> int:
    from qgridlang.dispatcher import solve_model
    from qgridlang.results import Status

    if args.strategy:
        return _strategy(args)
    sol = solve_model(checked, args.backend, _options(args))
    if args.json:
        print(json.dumps(sol.to_json(), default=str))
    else:
        from qgridlang.render import solution_view

        _console().print(solution_view(sol))
    ok = sol.status in (Status.OPTIMAL, Status.FEASIBLE) and sol.feasible
    return EXIT_OK if ok else EXIT_MODEL


def _strategy(args: argparse.Namespace) -> int:
    from qgridlang.coalition import STRATEGIES

    res = STRATEGIES[args.strategy](args.file, args.backend, _options(args))
    payload = {"strategy": args.strategy, "backend": args.backend,
               "coalitions": res.coalitions, "gain": res.gain, "solves": res.solves,
               "failed_solves": res.infeasible_solves, "seconds": round(res.seconds, 6)}
    if args.json:
        print(json.dumps(payload, default=str))
    else:
        from rich.table import Table

        t = Table(title=f"qglc solve --strategy {args.strategy} --backend {args.backend}")
        t.add_column("coalition")
        t.add_column("members")
        for k, c in enumerate(res.coalitions, start=1):
            t.add_row(str(k), ", ".join(map(str, c)))
        _console().print(t)
        _console().print(f"gain over the grand coalition {res.gain:.6g} in {res.solves} solves "
                         f"({res.seconds:.2f} s)")
    return EXIT_OK if res.infeasible_solves == 0 else EXIT_MODEL


def _targets() -> int:
    from qgridlang.registry import listing
    from qgridlang.render import targets_view

    _console().print(targets_view(listing()))
    return EXIT_OK


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _print_errors(errors: list[QglError]) -> None:
    cache: dict[str, list[str]] = {}
    for err in errors:
        print(render_error(err, cache), file=sys.stderr)
    n = len(errors)
    print(f"{n} error{'s' if n != 1 else ''}", file=sys.stderr)


def render_error(err: QglError, cache: dict[str, list[str]] | None = None) -> str:
    """``path:LINE:COL: error: message``, the source line and a caret under the column."""
    cache = cache if cache is not None else {}
    span: Span | None = err.span
    head = f"{span}: error: {err.message}" if span and span.line else f"error: {err.message}"
    lines = [head]
    if span and span.line and span.file:
        if span.file not in cache:
            try:
                cache[span.file] = Path(span.file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                cache[span.file] = []
        src = cache[span.file]
        if 0 < span.line <= len(src):
            text = src[span.line - 1].expandtabs(1)
            width = 1
            if span.end_line == span.line and span.end_column > span.column:
                width = span.end_column - span.column
            lines.append(f"  {span.line:>4} | {text}")
            lines.append("       | " + " " * (span.column - 1) + "^" + "~" * (width - 1))
    if err.hint:
        lines.append(f"       = help: {err.hint}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
