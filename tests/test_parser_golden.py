"""Golden parser fixtures: each ``tests/golden/parse/*.qgl`` parses to its stored ``.json``.

The JSON is a stable rendering of the pydantic AST: every node becomes an object with its class
name under ``"node"`` and its fields in declaration order, spans reduced to ``"line:col"`` and
the program's source text left out. Run with ``UPDATE_GOLDEN=1`` to rewrite the fixtures after
an intended change of the AST (then review the diff).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from qgl_models import assert_matches_golden

from qgridlang import ast
from qgridlang.errors import Span
from qgridlang.parser import parse

GOLDEN = Path(__file__).resolve().parent / "golden" / "parse"
FIXTURES = sorted(GOLDEN.glob("*.qgl"))


def span_text(span: Span) -> str:
    return f"{span.line}:{span.column}"


def render(value: Any) -> Any:
    """A JSON-ready rendering of an AST value (node, tuple of nodes, label, number…)."""
    if isinstance(value, ast.Node):
        out: dict[str, Any] = {"node": type(value).__name__}
        for name in type(value).model_fields:
            if name == "source" and isinstance(value, ast.Program):
                continue  # the program's text itself
            field = getattr(value, name)
            out[name] = span_text(field) if name == "span" else render(field)
        return out
    if isinstance(value, Span):
        return span_text(value)
    if isinstance(value, tuple | list):
        return [render(v) for v in value]
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    raise TypeError(f"unexpected value in the AST: {value!r}")


def pretty_json(value: Any, indent: int = 0, width: int = 100) -> str:
    """Indented JSON that keeps short objects and every list of scalars on one line."""
    flat = json.dumps(value, ensure_ascii=False)
    scalars = isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)
    if not isinstance(value, dict | list) or scalars or len(flat) + indent <= width:
        return flat
    pad = " " * (indent + 1)
    if isinstance(value, dict):
        body = [f"{pad}{json.dumps(k)}: {pretty_json(v, indent + 1, width)}"
                for k, v in value.items()]
        return "{\n" + ",\n".join(body) + "\n" + " " * indent + "}"
    body = [pad + pretty_json(v, indent + 1, width) for v in value]
    return "[\n" + ",\n".join(body) + "\n" + " " * indent + "]"


def dump(program: ast.Program) -> str:
    return pretty_json(render(program)) + "\n"


def _node_types(tree: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(tree, dict):
        if "node" in tree:
            found.add(tree["node"])
        for v in tree.values():
            found |= _node_types(v)
    elif isinstance(tree, list):
        for v in tree:
            found |= _node_types(v)
    return found


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_parse_matches_golden(path: Path) -> None:
    assert_matches_golden(dump(parse(path.read_text(encoding="utf-8"), path.name)), path)


def test_every_fixture_has_a_golden_and_no_orphans() -> None:
    assert len(FIXTURES) >= 9
    stems = {p.stem for p in FIXTURES}
    jsons = {p.stem for p in GOLDEN.glob("*.json")}
    assert jsons == stems


def test_fixtures_cover_every_ast_node_type() -> None:
    """Every concrete node class of the AST appears in at least one golden fixture."""
    seen: set[str] = set()
    for path in FIXTURES:
        seen |= _node_types(render(parse(path.read_text(encoding="utf-8"), path.name)))
    every = {cls.__name__ for cls in vars(ast).values()
             if isinstance(cls, type) and issubclass(cls, ast.Node) and cls is not ast.Node}
    assert every - seen == set()


def test_render_is_stable_and_ignores_file_name() -> None:
    path = GOLDEN / "components.qgl"
    text = path.read_text(encoding="utf-8")
    assert dump(parse(text, "a.qgl")) == dump(parse(text, "/elsewhere/b.qgl"))


def test_spans_point_at_the_source_text() -> None:
    """Spot checks of positions the golden files pin, against the text itself."""
    text = (GOLDEN / "components.qgl").read_text(encoding="utf-8")
    lines = text.splitlines()
    prog = parse(text, "components.qgl")
    for st in prog.statements:
        line = lines[st.span.line - 1]
        word = line[st.span.column - 1:].split()[0]
        first = {"ComponentDecl": "component", "Objective": "minimize"}.get(
            type(st).__name__, getattr(st, "type_name", None))
        assert word == first, (st.span, line)
    member = next(st for st in prog.statements if isinstance(st, ast.Objective))
    assert span_text(member.span) == "26:1"
    # `sum(…) term` binds one term: (sum(…) ess[3].soc[t]) + ess[k].wear_cost + ac.balance
    outer = member.value
    assert isinstance(outer, ast.BinOp) and isinstance(outer.left, ast.BinOp)
    total = outer.left.left
    assert isinstance(total, ast.Sum) and isinstance(total.body, ast.Ref)
    ref = total.body
    assert ref.dotted == "ess.soc"
    assert [span_text(p.span) for p in ref.parts] == ["26:34", "26:41"]
    assert lines[25][33:45] == "ess[3].soc[t"
    first_index = ref.parts[0].index
    assert first_index is not None and isinstance(first_index[0], ast.Num)
    assert first_index[0].value == 3.0


def _without_node_names(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_node_names(v) for k, v in value.items() if k != "node"}
    if isinstance(value, list):
        return [_without_node_names(v) for v in value]
    return value


def _reduced_model_dump(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"file", "line", "column", "end_line", "end_column"}:
            return f"{value['line']}:{value['column']}"
        return {k: _reduced_model_dump(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_reduced_model_dump(v) for v in value]
    return value


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_rendering_is_model_dump_plus_node_names(path: Path) -> None:
    """The golden rendering is pydantic's model_dump with spans reduced and class names added."""
    prog = parse(path.read_text(encoding="utf-8"), path.name)
    dumped = _reduced_model_dump(prog.model_dump(exclude={"source"}))
    assert _without_node_names(render(prog)) == dumped
