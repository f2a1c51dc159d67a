"""Plots of a solve's result (``qglc plot result.json -o schedule.png``, ``Solution.plot()``).

A result document carries what the plots need from its model under ``"model"``
(:func:`qgridlang.plotting.layout.model_layout`); :mod:`qgridlang.plotting.figures` draws it with
matplotlib, headless.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qgridlang.errors import UsageError

FORMATS = (".png", ".svg", ".pdf")


def _matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("plots need matplotlib",
                         hint="pip install 'qgridlang[classical]'") from None


def figure(doc: dict[str, Any], panels: Sequence[str] | None = None) -> tuple[Any, list[str]]:
    """A matplotlib Figure of a result document and the panels it holds."""
    _matplotlib()
    from qgridlang.plotting.figures import draw

    return draw(doc, panels)


def save(fig: Any, output: str | Path, dpi: int = 110) -> None:
    """Write a figure atomically; the suffix picks the format (.png, .svg, .pdf)."""
    from qgridlang.atomic import write_atomically

    out = Path(output)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"cannot write a plot as '{out.suffix or out.name}'",
                         hint=f"use one of {', '.join(FORMATS)}")
    if dpi <= 0:
        raise UsageError(f"--dpi must be positive, got {dpi}")
    fmt = out.suffix.lower()[1:]
    write_atomically(out, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt))


def plot_result_file(result: str | Path, output: str | Path,
                     layout: dict[str, Any] | None = None, panels: Sequence[str] | None = None,
                     dpi: int = 110) -> list[str]:
    """``qglc plot``: read a result document, draw it, write ``output``; the panels drawn.
    ``layout`` (:func:`qgridlang.plotting.layout.model_layout` of the model) replaces the
    document's own ``model`` entry."""
    from qgridlang.fileaccess import read_source

    text = read_source(result)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"'{result}' is not a JSON result document: {exc.msg} at line "
                         f"{exc.lineno}", hint="write one with qglc solve MODEL --json > "
                         "result.json") from None
    if not isinstance(doc, dict) or "status" not in doc or "variables" not in doc:
        raise UsageError(f"'{result}' is not a result of qglc solve --json",
                         hint="it needs the keys status and variables")
    if layout is not None:
        doc["model"] = layout
    fig, drawn = figure(doc, panels)
    save(fig, output, dpi)
    return drawn


__all__ = ["FORMATS", "figure", "plot_result_file", "save"]
