"""A checked model as the mathematics a paper would print (``qglc show --latex|--markdown``).

>>> from qgridlang.formulation import render
>>> print(render("examples/risk/risk.qgl", style="markdown"))  # doctest: +SKIP

The model is checked first (a model with errors raises :class:`~qgridlang.errors.QglErrors`),
then written from its own declarations: see :mod:`qgridlang.formulation.document`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from qgridlang.checker import CheckedModel, check_file
from qgridlang.formulation.document import Formulation, Item, Section, build
from qgridlang.formulation.writers import sections_math, to_latex, to_markdown

Style = Literal["latex", "markdown"]


def render(model: str | Path | CheckedModel, style: Style = "markdown", expand: bool = False,
           standalone: bool = False) -> str:
    """The formulation of ``model`` (a path or a checked model) as LaTeX or Markdown.

    ``expand`` writes every component instance's rows in the instance's names (parameters
    replaced by what the instance binds); folded, each component's formulation is written once
    in its own names. ``standalone`` (LaTeX only) makes a whole document pdflatex compiles.
    """
    checked = model if isinstance(model, CheckedModel) else check_file(model)
    f = build(checked, expand=expand)
    if style == "latex":
        return to_latex(f, standalone=standalone)
    if style == "markdown":
        return to_markdown(f)
    raise ValueError(f"unknown style {style!r} (latex or markdown)")


__all__ = ["Formulation", "Item", "Section", "build", "render", "sections_math", "to_latex",
           "to_markdown"]
