"""Parse ``.qgl`` text into the AST: one cached Lark LALR parser; Lark errors converted here."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from qgridlang import ast
from qgridlang.errors import QglSyntaxError, Span
from qgridlang.transformer import ToAst

_TOKEN_NAMES = {
    "NAME": "a name", "NUMBER": "a number", "SIGNED_INT": "an integer", "STRING": "a string",
    "UNIT": "a unit", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'",
    "LBRACE": "'{'", "RBRACE": "'}'", "COMMA": "','", "COLON": "':'", "EQUAL": "'='",
    "SEMICOLON": "';'", "DOT": "'.'", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'",
    "SLASH": "'/'", "CIRCUMFLEX": "'^'", "TILDE": "'~'", "DOLLAR": "'$'", "PERCENT": "'%'",
    "$END": "the end of the file",
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
    # A UTF-8 byte order mark (Windows editors write one) is not part of the model.
    text = text.removeprefix("\ufeff")
    if not _CODE.sub("", text).strip():
        raise QglSyntaxError("the model is empty: no declarations", Span(file, 1, 1, 1, 2),
                             "start with a declaration, e.g. `time T = 1..24 step 1 h`")
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
        line, column, _ = _code_before(text, None)
        return QglSyntaxError("unexpected end of file", Span(file, line, column, line, column))
    span = Span(file, line, column, line, column + 1)
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(text) else "?"
        return QglSyntaxError(f"unexpected character {ch!r}", span, _CHARACTER_HINTS.get(ch))
    assert isinstance(exc, UnexpectedToken)
    tok: Token = exc.token
    expected = sorted({_TOKEN_NAMES.get(t, _keyword(t)) for t in exc.expected})
    shown = ", ".join(expected[:8]) + (", …" if len(expected) > 8 else "")
    if tok.type == "$END":
        # The input ends just past the last token, which is where the missing text belongs.
        line, column, code = _code_before(text, None)
        return QglSyntaxError(f"unexpected end of file; expected {shown}",
                              Span(file, line, column, line, column),
                              _hint(set(exc.expected), code))
    if tok.type in _STATEMENT_STARTS:
        # A statement keyword on a later line than the last token: the previous statement is
        # incomplete at the end of its line, so the error goes there, not on the next line.
        end_line, end_column, code = _code_before(text, (line, column))
        if end_line < line:
            return QglSyntaxError(f"unexpected end of line; expected {shown}",
                                  Span(file, end_line, end_column, end_line, end_column),
                                  _hint(set(exc.expected), code) or
                                  f"the line ends inside a statement; line {line} starts the "
                                  f"next one ('{tok}')")
    span = Span(file, line, column, line, column + max(1, len(str(tok))))
    hint = None
    if "NAME" in exc.expected and str(tok) in _RESERVED:
        hint = f"'{tok}' begins a statement and cannot be a name; choose another name"
    return QglSyntaxError(f"unexpected {str(tok).strip()!r}; expected {shown}", span, hint)


# Statement keywords that the grammar's NAME excludes (see grammar/qgl.lark).
_RESERVED = frozenset({"set", "param", "var", "expr", "constraint", "minimize", "maximize",
                       "minimise", "maximise", "component", "scenarios", "quantum"})
# Characters pasted from papers and word processors, and what qgl writes instead.
_CHARACTER_HINTS = {
    "'": 'strings are written in double quotes: "…"', "≤": "write <=", "≥": "write >=",
    "≠": "write !=", "−": "write - (ASCII minus)", "–": "write - (ASCII minus)",
    "×": "write *", "·": "write *", "∑": "write sum(i in S) …", "“": 'write "',
    "”": 'write "', "∞": "write inf",
}


# Terminals that begin a statement (or close a block): seeing one of these unexpectedly at the
# start of a line means the text before it stopped short.
_STATEMENT_STARTS = frozenset({
    "MODEL", "IMPORT", "USE", "TIME", "SET", "PARAM", "VAR", "EXPR", "CONSTRAINT", "MINIMIZE",
    "MAXIMIZE", "MINIMISE", "MAXIMISE", "COMPONENT", "SCENARIOS", "QUANTUM", "PORT", "NODE",
    "RBRACE",
})
# The code part of a line: everything before a comment that is not inside a string.
_CODE = re.compile(r'#[^\n]*')
# (runs, not single characters, per repetition: on a 10 MB line the per-character form
# took 1.2 GB of backtracking state and 2 s)
_CODE_PREFIX = re.compile(r'(?:[^"#\n]+|"[^"\n]*")*')


def _code_before(text: str, at: tuple[int, int] | None) -> tuple[int, int, str]:
    """Line and column just past the last code (not blank, not comment) before ``at``.

    ``at`` is a 1-based (line, column); None is the end of the text. The third item is the
    code of that line (the statement text a hint can quote).
    """
    lines = [ln.removesuffix("\r") for ln in text.split("\n")]
    line = len(lines) if at is None else at[0]
    current = lines[line - 1] if at is None else lines[line - 1][:at[1] - 1]
    while True:
        m = _CODE_PREFIX.match(current)
        code = (m.group(0) if m else current).rstrip()
        if code or line == 1:
            return line, len(code) + 1, code
        line -= 1
        current = lines[line - 1]


def _hint(expected: set[str], code: str) -> str | None:
    """Help for the common incomplete statements (the code is the line they stop on)."""
    stmt = code.strip()
    if expected == {"STEP"}:
        return f"a time set needs its step: `{stmt} step 1 h`"
    if expected == {"UNIT"}:
        return f"the number needs a unit on the same line: `{stmt} h`"
    if stmt.endswith(".."):
        return "the range needs its upper end after '..' (a number, a parameter or `inf`)"
    return None


def _keyword(terminal: str) -> str:
    """How an expected terminal is shown: its literal text (`'<='`, `'step'`)."""
    literal = _literals().get(terminal)
    if literal is not None:
        return f"'{literal}'"
    return f"'{terminal.lower()}'" if terminal.isupper() else terminal


@lru_cache(maxsize=1)
def _literals() -> dict[str, str]:
    """Terminal name -> literal text for the grammar's fixed tokens (Lark names some __ANON_n)."""
    return {t.name: t.pattern.value for t in _parser().terminals
            if isinstance(t.pattern, PatternStr)}
