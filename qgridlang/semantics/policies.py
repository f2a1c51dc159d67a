"""The `policy` declaration: a time-indexed model read as a decision process.

``policy commit[d in D, t in T]: observe(…) -> decide(…) { … }`` is checked here into a
:class:`~qgridlang.policies.spec.PolicySpec`: its settings (located errors, did-you-mean), its
index (the last set is the time set stepped through, earlier ones are drawn per episode), and,
for every episode and period, the observed expressions as affine maps of the model's columns and
the decided columns. A set name inside a subscript observes or decides the whole vector
(``u[G, prev(t)]`` is one feature per element of G). Whether the rest of the model decomposes
into per-period stages is checked once the model is flat (:mod:`qgridlang.policies.stages`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang import ast
from qgridlang.errors import Span, TypeMismatch, UnknownName, did_you_mean
from qgridlang.policies.spec import AGENT_KINDS, Feature, PolicySpec
from qgridlang.semantics import units as U
from qgridlang.semantics.evaluate import Env
from qgridlang.semantics.values import Affine, Elem, Scalar, SetValue

SETTINGS = ("agent", "episodes", "seed", "penalty", "trained")


def declare(b: Any, st: ast.PolicyDecl, env: Env) -> None:
    """Check a declaration and record its spec on the builder."""
    import scipy.sparse as sp

    if st.name in b.policies:
        raise TypeMismatch(f"policy '{st.name}' is already declared at line "
                           f"{b.policies[st.name].span.line}", st.span)
    given: dict[str, ast.SurrogateSetting] = {}
    for s in st.settings:
        if s.key not in SETTINGS:
            from qgridlang.policies.agents import AGENTS

            hint = (f"'{s.key}' is an option of the agent: agent = qdqn({s.key} = …)"
                    if any(s.key in a.defaults for a in AGENTS.values()) else None)
            raise UnknownName(f"policy '{st.name}' has no setting '{s.key}'", s.span,
                              hint or did_you_mean(s.key, SETTINGS) or
                              f"settings: {', '.join(SETTINGS)}")
        if s.key in given:
            raise TypeMismatch(f"setting '{s.key}' is given twice", s.span,
                               f"the first is at line {given[s.key].span.line}")
        given[s.key] = s
    if "agent" not in given:
        raise TypeMismatch(f"policy '{st.name}' needs an agent", st.span,
                           "e.g. agent = qdqn(qubits = 8, layers = 4) (discrete decisions) or "
                           "agent = qsac(qubits = 8, layers = 4) (continuous ones)")
    agent, options = _agent(b, given["agent"].value, env)
    numbers = _numbers(b, given, env)
    trained = None
    if "trained" in given:
        node = given["trained"].value
        if not isinstance(node, ast.Str) or not node.value.endswith(".qglp"):
            raise TypeMismatch("trained = \"file.qglp\": the trained agent's file name",
                               node.span)
        trained = node.value

    items, time_set, episode_sets = _index(b, st, env)
    combos = list(b.ev.iterate(items, None, env, (f"policy {st.name}", "periods", st.span)))
    by_episode: dict[tuple[Any, ...], list[Env]] = {}
    for e, key, _ in combos:
        by_episode.setdefault(tuple(key[:-1]), []).append(e)
    episode_keys = tuple(by_episode)
    K = len(time_set.elements)

    features: list[Feature] = []
    feature_item: list[int] = []
    actions: list[str] = []
    action_spans: list[Span] = []
    obs_const = np.zeros((len(episode_keys), K, 0))
    obs_lin: list[list[Any]] = []
    decide: list[list[list[int]]] = []
    for ei, ek in enumerate(episode_keys):
        lin_e: list[Any] = []
        dec_e: list[list[int]] = []
        consts: list[list[float]] = []
        for k, e in enumerate(by_episode[ek]):
            rows: list[int] = []
            cols: list[int] = []
            vals: list[float] = []
            const: list[float] = []
            for i, item in enumerate(st.observe):
                for bound, label in _expanded(item, e):
                    v = b.ev.value(item, bound)
                    r = len(const)
                    c, unit = _affine(v, item.span, "observe")
                    const.append(c)
                    if isinstance(v, Affine):
                        for col, a in v.lin.items():
                            rows.append(r)
                            cols.append(int(col))
                            vals.append(float(a))
                    if ei == 0 and k == 0:
                        features.append(Feature(_text(b, item, bound, names_of(item, e)), unit,
                                                item.span))
                        feature_item.append(i)
            if len(const) != len(features):
                raise TypeMismatch(f"policy '{st.name}' observes {len(const)} numbers at "
                                   f"{_show(e, time_set)} but {len(features)} at the first "
                                   "period: the observation must have one length",
                                   st.observe[0].span)
            lin_e.append(sp.csr_matrix((vals, (rows, cols)), shape=(len(const), len(b.lb))))
            consts.append(const)
            dcols: list[int] = []
            for item in st.decide:
                for bound, label in _expanded(item, e):
                    col = _column(b.ev.value(item, bound), item.span)
                    if col in dcols:
                        raise TypeMismatch(f"decide(…) names the column {label or 'it'} twice",
                                           item.span)
                    dcols.append(col)
                    if ei == 0 and k == 0:
                        actions.append(_text(b, item, bound, names_of(item, e)))
                        action_spans.append(item.span)
            if len(dcols) != len(actions):
                raise TypeMismatch(f"policy '{st.name}' decides {len(dcols)} variables at "
                                   f"{_show(e, time_set)} but {len(actions)} at the first "
                                   "period", st.decide[0].span)
            dec_e.append(dcols)
        obs_lin.append(lin_e)
        decide.append(dec_e)
        if ei == 0:
            obs_const = np.zeros((len(episode_keys), K, len(features)))
        obs_const[ei] = np.asarray(consts, float).reshape(K, len(features))
    decide_cols = np.asarray(decide, np.int64).reshape(len(episode_keys), K, len(actions))
    discrete = _kinds(b, decide_cols, st, agent, given["agent"].span)
    probs = _probabilities(b, episode_sets, episode_keys)
    b.policies[st.name] = PolicySpec(
        name=st.name, agent=agent, options=options, time_set=time_set.name,
        periods=tuple(time_set.elements), episode_sets=tuple(s.name for s in episode_sets),
        episode_keys=episode_keys, episode_probs=probs, features=tuple(features),
        actions=tuple(actions), action_spans=tuple(action_spans), discrete=discrete,
        obs_const=obs_const, obs_lin=obs_lin, decide_cols=decide_cols,
        feature_item=np.asarray(feature_item, np.int64),
        item_spans=tuple(x.span for x in st.observe), trained=trained, span=st.span,
        **numbers)


def _agent(b: Any, node: ast.Expr, env: Env) -> tuple[str, dict[str, Any]]:
    from qgridlang.policies.agents import agent_keywords
    from qgridlang.semantics.surrogates import named_options

    return named_options(b, node, env, "agent", list(AGENT_KINDS), agent_keywords,
                         "layers = 4")


def _numbers(b: Any, given: dict[str, ast.SurrogateSetting], env: Env) -> dict[str, Any]:
    from qgridlang.semantics.surrogates import _number

    out: dict[str, Any] = {}
    for key in ("episodes", "seed"):
        if key in given:
            out[key] = _number(b, given[key].value, env, key, int)
    if "penalty" in given:
        node = given["penalty"].value
        v = b.ev.constant(node, env, "setting 'penalty'")
        x = float(v.value)
        if not (math.isfinite(x) and x > 0):
            raise TypeMismatch(f"'penalty' must be positive, got {x:g}", node.span,
                               "objective units per unit of a broken constraint")
        if v.unit is not None and U.unit_text(v.unit):
            raise TypeMismatch(f"'penalty' is a plain number, got {U.describe(v.unit)}",
                               node.span, "objective units per unit of a broken constraint "
                               "(in that constraint's own unit)")
        out["penalty"] = x
    return out


def _index(b: Any, st: ast.PolicyDecl, env: Env
           ) -> tuple[tuple[ast.Iterator, ...], SetValue, list[SetValue]]:
    """The policy's iterators; the time set (the last) and the episode sets (the others)."""
    if st.index is None:
        times = [n for n in env.scope.names()
                 if isinstance(env.scope.lookup(n), SetValue) and env.scope.lookup(n).is_time]
        if len(times) != 1:
            raise TypeMismatch(
                f"policy '{st.name}' needs its time set named: the model has "
                f"{len(times)} time sets", st.span,
                f"write policy {st.name}[t in T]: … (and [s in S, t in T] to draw episodes "
                "from S)")
        if env.scope.lookup("t") is not None:
            raise TypeMismatch(f"'t' is a name of the model, so policy '{st.name}' cannot bind "
                               "it to the time set", st.span,
                               f"write policy {st.name}[k in {times[0]}]: … with your own name")
        tref = ast.Ref(span=st.span, parts=(ast.Part(span=st.span, name=times[0]),))
        items: tuple[ast.Iterator, ...] = (ast.Iterator(span=st.span, var="t", domain=tref),)
    else:
        if st.index.where is not None:
            raise TypeMismatch("a policy steps through every period of its time set",
                               st.index.where.span, "drop the `where`: constrain the model "
                               "instead")
        items = st.index.items
    sets: list[SetValue] = []
    for it in items:
        if it.var is None:
            raise TypeMismatch("name each index of a policy, e.g. [d in D, t in T]", it.span)
        sets.append(b.ev.domain(it.domain, env))
    if not sets[-1].is_time:
        raise TypeMismatch(f"the last index of policy '{st.name}' must run over a time set; "
                           f"{sets[-1].name} is not one", items[-1].span,
                           "the sets before it are drawn per episode: [s in S, t in T]")
    for s, it in zip(sets[:-1], items[:-1], strict=True):
        if s.is_time:
            raise TypeMismatch(f"policy '{st.name}' steps through one time set; {s.name} is "
                               "another", it.span)
    return items, sets[-1], sets[:-1]


def _slices(node: Any, env: Env, out: list[str]) -> None:
    """Set names written where an index goes (``u[G, t]``): each is a vector to expand."""
    if isinstance(node, ast.Ref):
        for part in node.parts:
            for x in part.index or ():
                if (isinstance(x, ast.Ref) and len(x.parts) == 1 and x.parts[0].index is None
                        and x.parts[0].name not in env.bind
                        and isinstance(env.scope.lookup(x.parts[0].name), SetValue)):
                    if x.parts[0].name not in out:
                        out.append(x.parts[0].name)
                else:
                    _slices(x, env, out)
        return
    if isinstance(node, ast.Node):
        for value in vars(node).values():
            if isinstance(value, ast.Node):
                _slices(value, env, out)
            elif isinstance(value, tuple | list):
                for v in value:
                    if isinstance(v, ast.Node):
                        _slices(v, env, out)
                    elif isinstance(v, tuple):
                        for w in v:
                            if isinstance(w, ast.Node):
                                _slices(w, env, out)


def _expanded(item: ast.Expr, env: Env) -> list[tuple[Env, str]]:
    """``item`` with every set-name subscript bound to each of its elements, in order, with
    the bindings as text (``"G=g1"``)."""
    names: list[str] = []
    _slices(item, env, names)
    out: list[tuple[Env, str]] = [(env, "")]
    for name in names:
        dom = env.scope.lookup(name)
        assert isinstance(dom, SetValue)
        out = [(e.with_(name, Elem(lab, dom)), f"{text}, {name}={lab}" if text else
                f"{name}={lab}") for e, text in out for lab in dom.elements]
    return out


def _affine(v: Any, span: Span, what: str) -> tuple[float, str]:
    if isinstance(v, Scalar):
        if np.ndim(v.value):
            raise TypeMismatch(f"{what}(…) takes numbers; this has one value per scenario",
                               span, "index it by the policy's scenario index, e.g. x[s, t]")
        return float(v.value), U.unit_text(v.unit) if v.unit else ""
    if isinstance(v, Affine):
        if v.quad:
            raise TypeMismatch(f"{what}(…) takes expressions affine in the variables; this "
                               "has a product of variables", span)
        return float(v.const), U.unit_text(v.unit) if v.unit else ""
    if isinstance(v, bool):
        return float(v), ""
    raise TypeMismatch(f"{what}(…) takes numbers or expressions, got {type(v).__name__}", span)


def _column(v: Any, span: Span) -> int:
    if (isinstance(v, Affine) and len(v.lin) == 1 and not v.quad and v.const == 0.0
            and next(iter(v.lin.values())) == 1.0):
        return int(next(iter(v.lin)))
    raise TypeMismatch("decide(…) lists the variables decided at each period, e.g. u[G, t]",
                       span, "an expression or a parameter cannot be decided")


def _kinds(b: Any, cols: np.ndarray, st: ast.PolicyDecl, agent: str, agent_span: Span) -> bool:
    kinds = np.asarray(b.kind, np.int8)[cols.ravel()]
    discrete = bool(kinds[0] > 0)
    if np.any((kinds > 0) != discrete):
        raise TypeMismatch("a policy decides either discrete (binary, integer) or real "
                           "variables, not both", st.decide[0].span,
                           "declare two policies, or make the rest part of each period's "
                           "exact stage problem")
    lb = np.asarray(b.lb, float)[cols.ravel()]
    ub = np.asarray(b.ub, float)[cols.ravel()]
    if not (np.all(np.isfinite(lb)) and np.all(np.isfinite(ub))):
        raise TypeMismatch("decided variables need finite bounds (the action space)",
                           st.decide[0].span, "declare them `in lo .. hi`")
    if discrete and np.any(ub - lb > 64):
        raise TypeMismatch("a decided integer variable spans more than 65 values",
                           st.decide[0].span, "a discrete agent picks one of its values")
    want = AGENT_KINDS[agent]
    if (want == "discrete") != discrete:
        kind = "discrete" if discrete else "real"
        fit = [a for a, k in AGENT_KINDS.items() if k == ("discrete" if discrete else
                                                          "continuous")]
        raise TypeMismatch(f"agent '{agent}' takes {want} decisions; this policy decides "
                           f"{kind} variables", agent_span, f"use {' or '.join(fit)}")
    return discrete


def _probabilities(b: Any, sets: list[SetValue], keys: tuple[tuple[Any, ...], ...]
                   ) -> np.ndarray:
    """A scenario set draws with its probabilities; any other set uniformly."""
    p = np.ones(len(keys))
    for pos, s in enumerate(sets):
        probs = b.scenarios.get(s.name)
        if probs is None:
            continue
        w = np.asarray(probs, float)
        p *= np.array([w[s.position[k[pos]]] for k in keys])
    return p / p.sum()


def _show(env: Env, time_set: SetValue) -> str:
    for name, el in env.bind.items():
        if el.set is time_set:
            return f"{name} = {el.value}"
    return "a later period"


def names_of(item: ast.Expr, env: Env) -> list[str]:
    out: list[str] = []
    _slices(item, env, out)
    return out


def _text(b: Any, node: ast.Node, env: Env, names: list[str]) -> str:
    """The item as written (from the source), each expanded set name replaced by its element:
    ``u[G, prev(t)]`` -> ``u[g1, prev(t)]``."""
    import re

    text = _source(b, node.span)
    for name in names:
        text = re.sub(rf"\b{re.escape(name)}\b", str(env.bind[name].value), text)
    return text


def _source(b: Any, span: Span) -> str:
    lines = b.texts.get(span.file) if span.file else None
    if lines is None and span.file and Path(span.file).is_file():
        lines = Path(span.file).read_text(encoding="utf-8").splitlines()
        b.texts[span.file] = lines
    if not lines or span.end_line != span.line or span.end_column is None:
        return f"line {span.line}:{span.column}"
    return str(lines[span.line - 1][span.column - 1:span.end_column - 1])
