"""The Pygments lexer: found through its entry point, keywords from the grammar, no error
tokens on any example, and used by rich."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String

from qgridlang import keywords
from qgridlang.highlight import QglLexer

ROOT = Path(__file__).resolve().parent.parent
MODELS = sorted([*(ROOT / "examples").rglob("*.qgl"), *(ROOT / "models").glob("*.qgl")])


def test_the_entry_point_finds_the_lexer() -> None:
    assert type(get_lexer_by_name("qgl")).__name__ == "QglLexer"
    assert type(get_lexer_for_filename("model.qgl")).__name__ == "QglLexer"
    assert type(get_lexer_by_name("qgridlang")).__name__ == "QglLexer"


def test_keywords_come_from_the_grammar() -> None:
    grammar = (ROOT / "grammar" / "qgl.lark").read_text(encoding="utf-8")
    assert {"param", "var", "minimize", "subject", "where", "nonnegative"} <= set(
        keywords.grammar_keywords())
    for word in keywords.grammar_keywords():
        assert f'"{word}"' in grammar
        kinds = [t for t, v in QglLexer().get_tokens(f"{word} x") if v == word]
        assert kinds and (kinds[0] in Keyword or kinds[0] in Operator.Word), (word, kinds)


def test_builtins_match_the_checker() -> None:
    from qgridlang.semantics import evaluate, unresolved

    assert keywords.BUILTINS == evaluate.BUILTINS
    assert keywords.DISTRIBUTIONS == evaluate.DISTRIBUTIONS
    assert keywords.SOURCES == unresolved._SOURCES


@pytest.mark.parametrize("path", MODELS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_error_tokens(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tokens = list(QglLexer().get_tokens(text))
    assert [v for t, v in tokens if t in Error] == []
    # nothing lost (Pygments ends the text with a newline)
    assert "".join(v for _, v in tokens) == (text if text.endswith("\n") else text + "\n")


def test_token_kinds() -> None:
    code = ('param price[T]: $/MWh = csv("p.csv", key = "t")  # prices\n'
            "var p[t in T]: MW in 0 .. 600 kWh / 1 h\n")
    toks = [(t, v) for t, v in QglLexer().get_tokens(code) if v.strip()]
    assert (Keyword.Declaration, "param") in toks
    assert (Comment.Single, "# prices") in toks
    assert (String.Double, '"p.csv"') in toks
    assert (Name.Builtin, "csv") in toks
    assert (Number, "600") in toks and (Keyword.Type, "kWh") in toks
    assert (Operator.Word, "in") in toks and (Operator, "..") in toks


def test_rich_uses_it() -> None:
    from rich.console import Console
    from rich.syntax import Syntax

    syntax = Syntax("param x = 5 MW  # five\n", "qgl")
    assert type(syntax.lexer).__name__ == "QglLexer"
    console = Console(record=True, color_system="truecolor", width=60)
    console.print(syntax)
    assert "\x1b[" in console.export_text(styles=True)
