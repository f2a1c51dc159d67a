"""qgridlang: a modelling language for energy problems and its compiler.

The front door has the CLI's verbs::

    import qgridlang as qg
    model = qg.check("model.qgl")                  # CheckedModel (IR + flat form)
    sol = qg.solve("model.qgl", backend="highs")   # Solution keyed by model names
    qg.compile("model.qgl", target="milp", output="model.lp")

``source`` is a path (``str`` ending in ``.qgl`` or a ``Path``) or the model's text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgridlang.errors import QglError, QglErrors, Span

__all__ = ["QglError", "QglErrors", "Span", "check", "compile", "parse", "solve", "targets"]
__version__ = "0.1.0"


def parse(text: str, file: str = "<string>") -> Any:
    """The syntax tree of one file's text (no imports resolved, nothing checked)."""
    from qgridlang.parser import parse as _parse

    return _parse(text, file)


def check(source: str | Path, overrides: dict[str, str] | None = None) -> Any:
    """Parse and check a model; raises :class:`QglErrors` listing every error found."""
    from qgridlang.checker import check_file, check_text

    if _is_path(source):
        return check_file(source, overrides)
    return check_text(str(source), "<string>", overrides)


def compile(source: str | Path | Any, target: str, output: str | Path | None = None,  # noqa: A001
            overrides: dict[str, str] | None = None, **options: Any) -> Any:
    """Lower a model for ``target``; writes ``output`` when given. Returns a ``Compiled``."""
    from qgridlang.dispatcher import compile_model

    checked = source if hasattr(source, "flat") else check(source, overrides)
    return compile_model(checked, target, _options(options),
                         Path(output) if output is not None else None)


def solve(source: str | Path | Any, backend: str = "highs",
          overrides: dict[str, str] | None = None, **options: Any) -> Any:
    """Solve a model with ``backend``; options: time_limit, seed, mip_gap, threads, reads,
    sweeps, and backend-specific keywords."""
    from qgridlang.dispatcher import solve_model

    checked = source if hasattr(source, "flat") else check(source, overrides)
    return solve_model(checked, backend, _options(options))


def targets() -> dict[str, list[dict[str, Any]]]:
    """Targets and backends with their availability (what ``qglc targets`` prints)."""
    from qgridlang.registry import listing

    return listing()


def _is_path(source: str | Path) -> bool:
    return isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                        and source.endswith(".qgl"))


def _options(kw: dict[str, Any]) -> Any:
    from qgridlang.registry import Options

    known = {k: kw.pop(k) for k in ("time_limit", "seed", "mip_gap", "threads", "reads",
                                    "sweeps") if k in kw}
    return Options(**known, extra=kw)
