"""A Pygments lexer for qgl, registered as the entry point ``qgl`` (``pygments.lexers``), so
that ``pygmentize -l qgl``, the documentation site and ``rich.syntax.Syntax(code, "qgl")``
highlight models. Its keywords are the grammar's (:func:`qgridlang.keywords.grammar_keywords`).
"""

from __future__ import annotations

from typing import ClassVar

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from qgridlang.keywords import (
    BUILTINS,
    DECLARATIONS,
    DISTRIBUTIONS,
    SOURCES,
    WORD_OPERATORS,
    grammar_keywords,
)

_KEYWORDS = tuple(k for k in grammar_keywords()
                  if k not in DECLARATIONS and k not in WORD_OPERATORS and k != "inf")
_DECLARATIONS = tuple(k for k in grammar_keywords() if k in DECLARATIONS)
# a unit right after a number on the same line: `600 kWh`, `5 $/MWh`, `10 %`, `2 MW^2`
_UNIT = r"(?:[$€%]|[A-Za-z_µΩ°][A-Za-z_0-9µΩ]*)(?:\^-?[0-9]+)?"
_NUMBER = r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
# words that may follow a number without being its unit (the grammar's UNIT look-ahead)
_NOT_UNIT = ("then", "else", "and", "or", "in", "where", "step", "at", "over", "default", "not",
             "between", "as", "with", "for", "subject", "to", "like")


class QglLexer(RegexLexer):
    """qgl, the qgridlang modelling language (``.qgl``)."""

    name = "qgl"
    aliases: ClassVar[list[str]] = ["qgl", "qgridlang"]
    filenames: ClassVar[list[str]] = ["*.qgl"]
    mimetypes: ClassVar[list[str]] = ["text/x-qgl"]
    url = "https://github.com/qgridlang/qgridlang"

    tokens: ClassVar[dict[str, list[object]]] = {
        "root": [
            (r"[ \t\r\n]+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"[^"\n]*"', String.Double),
            # `component battery(`, `param demand[`, `var p[`: the declared name
            (r"(component)([ \t]+)([A-Za-z_]\w*)", bygroups(Keyword.Declaration, Whitespace,
                                                           Name.Class)),
            (words(_DECLARATIONS, suffix=r"\b"), Keyword.Declaration),
            (words(tuple(WORD_OPERATORS), suffix=r"\b"), Operator.Word),
            (r"inf\b", Keyword.Constant),
            (words(_KEYWORDS, suffix=r"\b"), Keyword),
            (words(BUILTINS + DISTRIBUTIONS + SOURCES, suffix=r"\b(?=\s*\()"), Name.Builtin),
            (r"dt\b", Name.Builtin),
            (rf"({_NUMBER})([ \t]*)(?!(?:{'|'.join(_NOT_UNIT)})\b)"
             rf"({_UNIT}(?:[/*]{_UNIT})*)", bygroups(Number, Whitespace, Keyword.Type)),
            (_NUMBER, Number),
            (r"[A-Za-z_]\w*", Name),
            (r"\.\.|->|<=|>=|==|!=|[-+*/^<>=~]", Operator),
            (r"[$€%]", Keyword.Type),  # units in declarations: `: $/MWh`, `= 10 %`
            (r"[()\[\]{},;:.]", Punctuation),
        ],
    }
