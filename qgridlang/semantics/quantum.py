"""The model's ``quantum { … }`` block: encodings and penalty weights for QUBO targets."""

from __future__ import annotations

import re

from qgridlang import ast
from qgridlang.errors import TypeMismatch, UnknownName, did_you_mean
from qgridlang.flat import EncodeSpec, QuantumSpec
from qgridlang.semantics import units as U
from qgridlang.semantics.context import Context
from qgridlang.semantics.evaluate import Env

METHODS = ("binary", "unary", "onehot", "domain_wall", "integer")
_KEYS = re.compile(r"\[[^\]]*\]")


def quantum_spec(b: Context) -> QuantumSpec:
    """Resolve the block against the declared variables (empty spec when there is none)."""
    block = b.quantum
    if block is None:
        return QuantumSpec()
    env = Env(b.model)
    encodings: list[EncodeSpec] = []
    penalty: float | None = None
    penalties: list[tuple[str, float]] = []
    row_names = {r.name for r in b.rows}
    for st in block.statements:
        if isinstance(st, ast.EncodeStmt):
            encodings.extend(_encode(b, st, env))
        elif st.constraint is None:
            penalty = _penalty(b, st, env)
        else:
            if st.constraint not in row_names:
                raise UnknownName(f"penalty for unknown constraint '{st.constraint}'", st.span,
                                  did_you_mean(st.constraint, row_names))
            value = _penalty(b, st, env)
            if value is None:
                continue
            penalties.append((st.constraint, value))
    return QuantumSpec(tuple(encodings), penalty, tuple(penalties), block.span)


def _penalty(b: Context, st: ast.PenaltyStmt, env: Env) -> float | None:
    if isinstance(st.value, ast.Ref) and st.value.dotted == "auto":
        return None
    v = float(b.ev.constant(st.value, env, "a penalty").value)
    if v <= 0:
        raise TypeMismatch(f"a penalty weight must be positive, got {v:g}", st.value.span)
    return v


def _encode(b: Context, st: ast.EncodeStmt, env: Env) -> list[EncodeSpec]:
    if st.method not in METHODS:
        raise UnknownName(f"unknown encoding '{st.method}'", st.span,
                          did_you_mean(st.method, METHODS) or f"use one of {', '.join(METHODS)}")
    target = st.target.dotted
    blocks = [blk for blk in b.blocks if _KEYS.sub("", blk.name) == target]
    if not blocks:
        raise UnknownName(f"encode: no variable '{target}'", st.target.span,
                          did_you_mean(target, [_KEYS.sub("", blk.name) for blk in b.blocks]))
    step_node = next((v for k, v in st.args if k == "step"), None)
    for k, v in st.args:
        if k not in (None, "step"):
            raise UnknownName(f"encode: unknown option '{k}'", v.span, "the option is `step`")
    out = []
    for blk in blocks:
        if blk.kind == "real" and st.method != "integer":
            raise TypeMismatch(f"real variable '{blk.name}' needs `as integer(step = …)`",
                               st.span)
        step = None
        if step_node is not None:
            s = b.ev.constant(step_node, env, "a step")
            step = float(s.value) * U.convert(s.unit, U.parse_unit(blk.unit) if blk.unit else
                                              None, step_node.span, f"step of '{blk.name}'")
            if step <= 0:
                raise TypeMismatch("a step must be positive", step_node.span)
        out.append(EncodeSpec(blk.name, st.method, step, st.span))
    return out
