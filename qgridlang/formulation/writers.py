"""A :class:`~qgridlang.formulation.document.Formulation` as LaTeX or as Markdown.

LaTeX: a fragment (sections, tables of symbols, one display equation per constraint) to paste
into a paper, or with ``standalone`` a whole ``article`` that pdflatex compiles. Markdown: the
same, with the math in ``$…$`` and ``$$…$$`` (GitHub, mkdocs' arithmatex and Jupyter render it).
"""

from __future__ import annotations

from qgridlang.formulation.document import Formulation, Item, Section
from qgridlang.formulation.mathexpr import escape_text, unit_tex

PREAMBLE = r"""\documentclass{article}
\usepackage[margin=2cm,landscape]{geometry}
\usepackage{amsmath,amssymb}
\usepackage[utf8]{inputenc}
\usepackage{longtable}
\allowdisplaybreaks
\begin{document}
"""


# characters of titles and comments that pdflatex's default set-up cannot print as text
_UNICODE = {"→": r"$\to$", "−": "-", "α": r"$\alpha$", "≤": r"$\leq$", "≥": r"$\geq$",
            "²": r"$^2$", "³": r"$^3$", "µ": r"$\mu$", "μ": r"$\mu$", "Ω": r"$\Omega$",
            "×": r"$\times$", "·": r"$\cdot$", "°": r"$^\circ$", "±": r"$\pm$",
            "≈": r"$\approx$", "∈": r"$\in$", "Σ": r"$\Sigma$", "’": "'", "“": "``",
            "”": "''"}


def latex_text(text: str) -> str:
    """Prose for LaTeX: special characters escaped, the few non-ASCII ones as commands."""
    out = escape_text(text).replace("…", r"\dots{}").replace("–", "--").replace("—", "---")
    out = out.replace("η", r"$\eta$").replace("∀", r"$\forall$").replace("~", r"\textasciitilde{}")
    out = out.replace("^", r"\textasciicircum{}").replace("|", r"\textbar{}")
    out = out.replace("<", r"\textless{}").replace(">", r"\textgreater{}")
    for ch, tex in _UNICODE.items():
        out = out.replace(ch, tex)
    # anything else outside Latin-1 has no glyph in pdflatex's default fonts: not silently lost
    out = "".join(c if ord(c) < 0x250 else f"[U+{ord(c):04X}]" for c in out)
    return out


def to_latex(f: Formulation, standalone: bool = False) -> str:
    out = [PREAMBLE] if standalone else []
    out.append(r"\section*{Model \texttt{" + escape_text(f.name) + "}}")
    if f.title:
        out.append(r"\emph{" + latex_text(f.title) + "}")
    out.append("")
    for sec in f.sections:
        out.append(r"\subsection*{" + latex_text(sec.title) + "}")
        if sec.intro:
            out.append(latex_text(sec.intro))
            out.append("")
        rows = [i for i in sec.items if not i.display]
        if rows:
            out.append(r"\begin{longtable}{p{0.45\linewidth}p{0.1\linewidth}p{0.35\linewidth}r}")
            out.append(" & ".join(r"\textbf{" + c + "}" for c in sec.columns) + r" \\")
            for i in rows:
                out.append(f"${i.math}$ & {_unit_latex(i.unit)} & {latex_text(i.text)} & "
                           f"{latex_text(str(i.line or ''))}" + r" \\")
            out.append(r"\end{longtable}")
        for i in sec.items:
            if i.display:
                out.append(_display_latex(i))
        out.append("")
    if standalone:
        out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def _unit_latex(unit: str) -> str:
    return f"${unit_tex(unit)}$" if unit else ""


def _display_latex(i: Item) -> str:
    head = []
    if i.label:
        head.append(r"\texttt{" + escape_text(i.label) + "}")
    if i.unit:
        head.append("[" + _unit_latex(i.unit) + "]")
    if i.text:
        head.append(latex_text(i.text))
    if i.line:
        head.append(f"(line {i.line})" if isinstance(i.line, int) else f"({i.line})")
    return r"\noindent " + " ".join(head) + "\n" + r"\[ " + i.math + r" \]"


def to_markdown(f: Formulation) -> str:
    out = [f"# Model `{f.name}`", ""]
    if f.title:
        out += [f"*{f.title}*", ""]
    out += [f"Formulation of `{f.file}` as checked by `qglc`: the model's own names, index "
            "sets and units.", ""]
    for sec in f.sections:
        out += [f"## {sec.title}", ""]
        if sec.intro:
            out += [sec.intro.strip(), ""]
        rows = [i for i in sec.items if not i.display]
        if rows:
            out.append("| " + " | ".join(sec.columns) + " |")
            out.append("|" + "---|" * len(sec.columns))
            for i in rows:
                cells = [f"${_cell(i.math)}$", _unit_md(i.unit), _cell(i.text),
                         str(i.line or "")]
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
        for i in sec.items:
            if i.display:
                out += _display_markdown(i)
    return "\n".join(out).rstrip() + "\n"


def _cell(text: str) -> str:
    """A table cell: ``|`` would end it."""
    return text.replace("|", r"\vert ")


def _unit_md(unit: str) -> str:
    return f"${unit_tex(unit)}$" if unit else ""


def _display_markdown(i: Item) -> list[str]:
    head = []
    if i.label:
        head.append(f"**{i.label}**")
    if i.unit:
        head.append(f"[{_unit_md(i.unit)}]")
    if i.text:
        head.append(i.text)
    if i.line:
        head.append(f"(line {i.line})" if isinstance(i.line, int) else f"({i.line})")
    return [" ".join(head), "", "$$", i.math, "$$", ""]


def sections_math(f: Formulation) -> list[str]:
    """Every formula of a formulation (what the tests give to a TeX engine or mathtext)."""
    out = []
    for sec in f.sections:
        for i in sec.items:
            out.append(i.math)
            if i.unit:
                out.append(unit_tex(i.unit))
    return out


__all__ = ["Section", "sections_math", "to_latex", "to_markdown"]
