"""The VS Code extension in editors/vscode/: its manifest, and its TextMate grammar run on
every example by a small TextMate interpreter (CI has no node modules): the subset the grammar
uses (match, begin/end, captures, include of #repository and $self, patterns), line by line
as an editor does."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qgridlang.keywords import (
    BUILTINS,
    DECLARATIONS,
    DISTRIBUTIONS,
    SOURCES,
    WORD_OPERATORS,
    grammar_keywords,
)

ROOT = Path(__file__).resolve().parent.parent
EXT = ROOT / "editors" / "vscode"
GRAMMAR = json.loads((EXT / "syntaxes" / "qgl.tmLanguage.json").read_text(encoding="utf-8"))
MODELS = sorted([*(ROOT / "examples").rglob("*.qgl"), *(ROOT / "models").glob("*.qgl")])


# ---- a TextMate interpreter (the subset this grammar uses) ------------------------------------

@dataclass
class Rule:
    raw: dict[str, Any]
    regex: re.Pattern[str] | None = None  # match or begin
    end: re.Pattern[str] | None = None


_SUPPORTED = {"name", "match", "begin", "end", "captures", "beginCaptures", "endCaptures",
              "patterns", "include"}


class TextMate:
    def __init__(self, grammar: dict[str, Any]) -> None:
        self.grammar = grammar
        self.repo = grammar["repository"]
        self.cache: dict[int, Rule] = {}

    def rule(self, raw: dict[str, Any]) -> Rule:
        key = id(raw)
        if key not in self.cache:
            assert set(raw) <= _SUPPORTED, f"unsupported keys {set(raw) - _SUPPORTED}"
            pattern = raw.get("match") or raw.get("begin")
            self.cache[key] = Rule(raw, re.compile(pattern) if pattern else None,
                                   re.compile(raw["end"]) if "end" in raw else None)
        return self.cache[key]

    def expand(self, patterns: list[dict[str, Any]]) -> list[Rule]:
        """Patterns with includes resolved (depth first, in order)."""
        out: list[Rule] = []
        for p in patterns:
            if "include" in p:
                inc = p["include"]
                target = self.grammar if inc == "$self" else self.repo[inc.removeprefix("#")]
                out += self.expand([target] if "patterns" not in target or "begin" in target
                                   else target["patterns"])
            elif "patterns" in p and "begin" not in p:
                out += self.expand(p["patterns"])
            else:
                out.append(self.rule(p))
        return out

    def tokenize(self, text: str) -> list[tuple[str, list[str]]]:
        """(text, scopes) pieces of the whole text; scopes exclude the root scope."""
        stack: list[tuple[Rule, list[str]]] = []
        out: list[tuple[str, list[str]]] = []
        for line in text.split("\n"):
            pos = 0
            while pos <= len(line):
                scopes = stack[-1][1] if stack else []
                patterns = self.expand(stack[-1][0].raw.get("patterns", []) if stack
                                       else self.grammar["patterns"])
                best: tuple[int, int, Rule | None, re.Match[str]] | None = None
                if stack:  # the end pattern wins a tie
                    m = stack[-1][0].end.search(line, pos)  # type: ignore[union-attr]
                    if m:
                        best = (m.start(), 0, None, m)
                for i, r in enumerate(patterns):
                    assert r.regex is not None
                    m = r.regex.search(line, pos)
                    if m and (best is None or m.start() < best[0]):
                        best = (m.start(), i + 1, r, m)
                if best is None:
                    out.append((line[pos:], scopes))
                    break
                start, _, r, m = best
                if start > pos:
                    out.append((line[pos:start], scopes))
                if r is None:  # end of the current begin/end rule
                    rule, inner = stack.pop()
                    self._emit(out, m, rule.raw.get("endCaptures", {}), inner)
                elif "begin" in r.raw:
                    inner = scopes + ([r.raw["name"]] if "name" in r.raw else [])
                    self._emit(out, m, r.raw.get("beginCaptures", {}), inner)
                    stack.append((r, inner))
                else:
                    inner = scopes + ([r.raw["name"]] if "name" in r.raw else [])
                    self._emit(out, m, r.raw.get("captures", {}), inner)
                if m.end() == pos and r is not None and "begin" not in r.raw:
                    pos += 1  # an empty match must not stop the line
                else:
                    pos = m.end()
                if pos >= len(line):
                    break
            out.append(("\n", stack[-1][1] if stack else []))
        return out

    @staticmethod
    def _emit(out: list[tuple[str, list[str]]], m: re.Match[str],
              captures: dict[str, Any], scopes: list[str]) -> None:
        if not captures:
            out.append((m.group(0), scopes))
            return
        if "0" in captures:
            out.append((m.group(0), scopes + [captures["0"]["name"]]))
            return
        pos = m.start()
        for g in range(1, (m.re.groups or 0) + 1):
            if m.start(g) < 0:
                continue
            if m.start(g) > pos:
                out.append((m.string[pos:m.start(g)], scopes))
            name = captures.get(str(g), {}).get("name")
            out.append((m.group(g), scopes + ([name] if name else [])))
            pos = m.end(g)
        if m.end() > pos:
            out.append((m.string[pos:m.end()], scopes))


TM = TextMate(GRAMMAR)


def _scoped(text: str) -> list[tuple[str, str]]:
    """(piece, innermost scope) of every non-whitespace piece."""
    return [(t, s[-1] if s else "") for t, s in TM.tokenize(text) if t.strip()]


# ---- the grammar on every example ---------------------------------------------------------------

@pytest.mark.parametrize("path", MODELS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_tokenises_without_invalid_text(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    pieces = TM.tokenize(text)
    assert "".join(t for t, _ in pieces) == text + "\n"  # nothing lost, nothing doubled
    bad = [(t, s) for t, s in pieces if t.strip() and (not s or "invalid.illegal.qgl" in s)]
    assert bad == []


def test_scopes() -> None:
    code = ('component battery(energy: kWh, eff = 95 %) over T {  # storage\n'
            '  var soc[T]: kWh in 0 .. 0.9 * energy\n'
            '}\n'
            'param demand[T]: MW = csv("load.csv", key = "t")\n'
            'minimize cost: sum(t in T) 5 $/MWh * demand[t] * dt + inf\n')
    got = _scoped(code)
    assert ("component", "storage.type.qgl") in got
    assert ("battery", "entity.name.type.component.qgl") in got
    assert ("# storage", "comment.line.number-sign.qgl") in got
    assert ('"load.csv"', "string.quoted.double.qgl") in got
    assert ("95", "constant.numeric.qgl") in got and ("%", "keyword.other.unit.qgl") in got
    assert ("5", "constant.numeric.qgl") in got and ("$/MWh", "keyword.other.unit.qgl") in got
    assert ("over", "keyword.control.qgl") in got and ("in", "keyword.operator.word.qgl") in got
    assert ("minimize", "keyword.control.qgl") in got and ("inf", "constant.language.qgl") in got
    assert ("csv", "support.function.builtin.qgl") in got
    assert ("sum", "keyword.control.qgl") in got  # a grammar keyword first
    assert ("{", "punctuation.section.braces.begin.qgl") in got
    assert ("}", "punctuation.section.braces.end.qgl") in got
    assert ("demand", "variable.other.qgl") in got
    assert ("'", "invalid.illegal.qgl") in _scoped("param x = 'a'\n")


def _words(pattern: str) -> set[str]:
    m = re.fullmatch(r"\\b\(\?:([a-z_|]+)\)\\b(?:\(\?=.*\))?", pattern)
    assert m, pattern
    return set(m.group(1).split("|"))


def test_keywords_equal_the_parsers_and_the_lexers() -> None:
    repo = GRAMMAR["repository"]
    words = (_words(repo["declaration"]["match"]) | _words(repo["keyword"]["match"])
             | _words(repo["operator-word"]["match"]) | {"inf"})
    assert words == set(grammar_keywords())
    assert _words(repo["declaration"]["match"]) == DECLARATIONS & set(grammar_keywords())
    assert _words(repo["operator-word"]["match"]) == WORD_OPERATORS
    assert _words(repo["builtin"]["match"]) == {*BUILTINS, *DISTRIBUTIONS, *SOURCES}
    # the Pygments lexer highlights the same words as keywords
    from pygments.token import Keyword, Operator

    from qgridlang.highlight import QglLexer

    for w in words:
        kind = next(t for t, v in QglLexer().get_tokens(f"{w} x") if v == w)
        assert kind in Keyword or kind in Operator.Word, w


def test_regexes_mean_the_same_in_oniguruma() -> None:
    """Only constructs Oniguruma and Python's re read alike: no possessive quantifiers, atomic
    groups, \\h, \\G, \\A, \\z, named or conditional groups, inline flags."""
    patterns = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("match", "begin", "end"):
                    patterns.append(v)
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    collect(GRAMMAR)
    assert len(patterns) > 10
    for p in patterns:
        re.compile(p)
        assert not re.search(r"[*+?}]\+|\(\?>|\\[hHGAzZ]|\(\?<?[A-Za-z]|\(\?\(|\(\?[imsx]", p), p


# ---- the manifest -----------------------------------------------------------------------------

def test_package_json() -> None:
    pkg = json.loads((EXT / "package.json").read_text(encoding="utf-8"))
    assert (EXT / pkg["main"]).is_file()
    assert "onLanguage:qgl" in pkg["activationEvents"]
    [lang] = pkg["contributes"]["languages"]
    assert lang["id"] == "qgl" and ".qgl" in lang["extensions"]
    assert (EXT / lang["configuration"]).is_file()
    [gram] = pkg["contributes"]["grammars"]
    assert gram["language"] == "qgl" and gram["scopeName"] == GRAMMAR["scopeName"]
    assert (EXT / gram["path"]).resolve() == (EXT / "syntaxes" / "qgl.tmLanguage.json")
    props = pkg["contributes"]["configuration"]["properties"]
    assert props["qgl.server.path"]["default"] == "qglc"
    assert props["qgl.server.args"]["default"] == ["lsp"]
    assert "vscode-languageclient" in pkg["dependencies"]
    assert pkg["engines"]["vscode"].startswith("^")
    conf = json.loads((EXT / "language-configuration.json").read_text(encoding="utf-8"))
    assert conf["comments"]["lineComment"] == "#"
    assert ["{", "}"] in conf["brackets"]
    js = (EXT / pkg["main"]).read_text(encoding="utf-8")
    assert "vscode-languageclient/node" in js
    assert '"server.path", "qglc"' in js and "TransportKind.stdio" in js
    assert not (EXT / "node_modules").exists()
