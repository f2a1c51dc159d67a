"""Parse ``.qgl`` text into the AST: one cached Lark LALR parser; Lark errors converted here."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from qgridlang import ast
from qgridlang.errors import QglSyntaxError, Span
from qgridlang.transformer import ToAst

_TOKEN_NAMES = {
    "NAME": "a name", "NUMBER": "a number", "SIGNED_INT": "an integer", "STRING": "a string",
    "UNIT": "a unit", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'",
    "LBRACE": "'{'", "RBRACE": "'}'", "COMMA": "','", "COLON": "':'", "EQUAL": "'='",
    "SEMICOLON": "';'", "DOT": "'.'", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'",
    "SLASH": "'/'", "CIRCUMFLEX": "'^'", "TILDE": "'~'", "DOLLAR": "'$'", "PERCENT": "'%'",
    "__ANON_0": "'..'",
}


def grammar_text() -> str:
    """The grammar shipped with the package (``qgridlang/grammar/qgl.lark`` once installed)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "grammar" / "qgl.lark", here.parent / "grammar" / "qgl.lark"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return resources.files("qgridlang").joinpath("grammar/qgl.lark").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=False,
                cache=True)


def parse(text: str, file: str = "<string>") -> ast.Program:
    """Parse one file's text. Raises :class:`QglSyntaxError` pointing at the offending token."""
    try:
        tree = _parser().parse(text)
        return ToAst(file, text).transform_program(tree)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, file) from None
    except RecursionError:
        raise QglSyntaxError("the model is nested too deeply to parse", Span(file, 1, 1)) \
            from None


def _syntax_error(exc: UnexpectedInput, text: str, file: str) -> QglSyntaxError:
    line, column = getattr(exc, "line", 0) or 0, getattr(exc, "column", 0) or 0
    if isinstance(exc, UnexpectedEOF) or line <= 0:
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
        return QglSyntaxError("unexpected end of file", Span(file, line, column, line, column))
    span = Span(file, line, column, line, column + 1)
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(text) else "?"
        return QglSyntaxError(f"unexpected character {ch!r}", span)
    assert isinstance(exc, UnexpectedToken)
    tok: Token = exc.token
    expected = sorted({_TOKEN_NAMES.get(t, _keyword(t)) for t in exc.expected})
    shown = ", ".join(expected[:8]) + (", …" if len(expected) > 8 else "")
    if tok.type == "$END":
        # Lark gives the end-of-input token the start of the last token; the input ends just
        # past that token, which is where the missing text belongs.
        line, column = _end_of_last_token(tok, text)
        return QglSyntaxError(f"unexpected end of file; expected {shown}",
                              Span(file, line, column, line, column))
    span = Span(file, line, column, line, column + max(1, len(str(tok))))
    return QglSyntaxError(f"unexpected {str(tok).strip()!r}; expected {shown}", span)


def _end_of_last_token(tok: Token, text: str) -> tuple[int, int]:
    """Line and column just past the last token (the end of the text when that is unknown)."""
    end_line, end_column = getattr(tok, "end_line", None), getattr(tok, "end_column", None)
    if end_line and end_column:
        return end_line, end_column
    lines = text.splitlines() or [""]
    return len(lines), len(lines[-1]) + 1


def _keyword(terminal: str) -> str:
    return f"'{terminal.lower()}'" if terminal.isupper() else terminal
