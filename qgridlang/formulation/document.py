"""The checked model as the formulation a paper would print: sections of formulas.

:func:`build` walks the model's own statements (not the flat rows): sets, parameters with their
units and sources, scenarios, variables with domains, the objective, each indexed constraint as
one formula with its ``∀`` domain and ``where`` condition, expressions, the risk measures written
out (CVaR in its Rockafellar–Uryasev form) and the component instances, folded (the instance,
and each component's formulation once, in its own names) or expanded (each instance's rows in
the instance's names, parameters replaced by what the instance binds). Units come from the
checker (the unit the user wrote, resolved), sizes from the IR. The writers
(:mod:`qgridlang.formulation.writers`) turn the sections into LaTeX or Markdown.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sympy

from qgridlang import ast
from qgridlang.checker import CheckedModel
from qgridlang.errors import ErrorCollector, Span
from qgridlang.formulation.mathexpr import (
    MathWriter,
    Tex,
    escape_text,
    index_vars,
    name_tex,
)
from qgridlang.program import load_statements
from qgridlang.resources import data_file

_LIBRARY_DIR = data_file("models", "stdlib.qgl").resolve().parent


@dataclass
class Item:
    """One formula: ``math`` is LaTeX math without delimiters; ``text`` is plain prose."""

    math: str
    label: str | None = None
    unit: str = ""  # as the user wrote it ("$/MWh"); the writers typeset it
    text: str = ""
    line: int | str | None = None  # a line of the model; "stdlib.qgl:28" in another file
    display: bool = False  # a display equation rather than a row of a table


@dataclass
class Section:
    title: str
    items: list[Item] = field(default_factory=list)
    intro: str = ""
    columns: tuple[str, ...] = ("symbol", "unit", "definition", "line")


@dataclass
class Formulation:
    name: str
    title: str | None
    file: str
    sections: list[Section]


def build(model: CheckedModel, expand: bool = False) -> Formulation:
    """The formulation of a checked model (``expand``: component instances written out)."""
    errors = ErrorCollector()
    statements = load_statements(model.source, model.file, errors)
    errors.raise_if_any()
    return _Builder(model, statements, expand).run()


class _Builder:
    def __init__(self, model: CheckedModel, statements: list[ast.Statement],
                 expand: bool) -> None:
        self.model = model
        self.expand = expand
        self.all = statements
        self.own = [s for s in statements if not _library(s.span.file)]
        self.w = MathWriter()
        self.texts = {model.file: model.source}
        self.ir_sets = {s.name: s for s in model.ir.sets}
        self.ir_params = {p.name: p for p in model.ir.params}
        self.ir_vars = {v.name: v for v in model.ir.variables}
        self.ir_exprs = {e.name: e for e in model.ir.expressions}
        flow = next((s.value for s in statements if isinstance(s, ast.NetworkDecl)
                     and s.option == "flow"), "transport")
        self.components: dict[str, ast.ComponentDecl] = {}
        for s in statements:
            if isinstance(s, ast.ComponentDecl) and s.variant in (None, flow):
                if s.variant == flow or s.name not in self.components:
                    self.components[s.name] = s

    def run(self) -> Formulation:
        name = next((s.name for s in self.own if isinstance(s, ast.ModelDecl)),
                    Path(self.model.file).stem)
        title = next((s.title for s in self.own if isinstance(s, ast.ModelDecl)), None)
        sections = [self._sets(), self._params(), self._scenarios(), self._variables(),
                    self._objective(), self._constraints(), self._expressions(), self._risk(),
                    *self._components(), self._learned(), self._quantum(), self._systems()]
        out = [s for s in sections if s.items]
        flow = next((s for s in self.all if isinstance(s, ast.NetworkDecl)), None)
        if flow is not None:
            for sec in out:
                if sec.title == "Bus balances":
                    sec.intro += (f" Power flow: network {flow.option} = {flow.value} (the "
                                  "components' variants for it are written below).")
        return Formulation(name, title, self.model.file, out)

    def _of(self, kind: type) -> Iterator:
        return (s for s in self.own if isinstance(s, kind))

    # ---- sets and data ----------------------------------------------------------------------
    def _sets(self) -> Section:
        sec = Section("Sets", columns=("set", "elements", "definition", "line"))
        for s in self._of(ast.SetDecl):
            ir = self.ir_sets.get(s.name)
            size = ir.size if ir else None
            if isinstance(s.value, ast.RangeExpr | ast.LabelSet):
                math = f"{name_tex(s.name)} = {self.w.set_tex(s.value)}"
            else:
                math = name_tex(s.name)
            text = _source(s.value) or ("" if isinstance(s.value, ast.RangeExpr | ast.LabelSet)
                                        else f"= {_plain(s.value, self.texts)}")
            if ir is not None and ir.first is not None and \
                    not isinstance(s.value, ast.RangeExpr | ast.LabelSet):
                text = (text + "; " if text else "") + f"{ir.first} … {ir.last}"
            if s.step is not None:
                text = (text + "; " if text else "") + f"time, step {_num(s.step.value)} " \
                    f"{s.step.unit}"
            sec.items.append(Item(math, s.name, "", text + (f" ({size} elements)"
                                                            if size is not None else ""),
                                  s.span.line))
        return sec

    def _params(self) -> Section:
        sec = Section("Parameters", columns=("parameter", "unit", "value", "line"))
        for p in self._of(ast.ParamDecl):
            for head in p.heads:
                ir = self.ir_params.get(head.name)
                unit = ir.unit if ir else (head.unit.text if head.unit else "")
                math = name_tex(head.name) + self.w.indices(head.index)
                dom = self.w.domain(head.index)
                if dom:
                    math += r",\ " + dom.removeprefix(r"\forall ")
                bounds = []
                if head.low is not None:
                    bounds.append(r"\geq " + self.w.tex(head.low))
                if head.high is not None:
                    bounds.append(r"\leq " + self.w.tex(head.high))
                if bounds:
                    math += r"\quad " + ", ".join(bounds)
                text = self._value_text(p)
                if isinstance(p.value, ast.Expr) and not _source(p.value) and \
                        not isinstance(p.value, ast.Table):
                    math += " = " + self.w.tex(p.value)
                    text = ""
                sec.items.append(Item(math, head.name, unit, text, p.span.line))
        return sec

    def _value_text(self, p: ast.ParamDecl) -> str:
        if isinstance(p.value, ast.Table):
            text = f"table of {len(p.value.entries)} entries"
        elif p.value is not None:
            text = _source(p.value) or ""
        else:
            text = ""
        if p.default is not None:
            text += ("; " if text else "") + "default " + _plain(p.default, self.texts)
        return text

    def _scenarios(self) -> Section:
        sec = Section("Scenarios", columns=("quantity", "unit", "distribution", "line"))
        for sc in self._of(ast.ScenariosDecl):
            var = _iter_name(sc.set_name)
            how = _plain(sc.source, self.texts)
            sec.intro += (f"Scenario set {sc.set_name}: {how}; each scenario {var} has "
                          f"probability p_{var} (p_{var} = 1/|{sc.set_name}| when sampled). ")
            for smp in sc.samples:
                subs = [name_tex(var)] + [name_tex(it.var) if it.var else
                                          self.w.set_tex(it.domain)
                                          for it in (smp.index.items if smp.index else ())]
                math = name_tex(smp.name) + "_{" + ",".join(subs) + r"} \sim " + \
                    self.w.tex(smp.value)
                dom = self.w.domain(smp.index)
                math += (r"\quad " + dom) if dom else ""
                ir = self.ir_params.get(smp.name)
                sec.items.append(Item(math, smp.name, ir.unit if ir else "", "",
                                      smp.span.line))
        return sec

    # ---- decisions, objective, rows ---------------------------------------------------------
    def _variables(self) -> Section:
        sec = Section("Variables", columns=("variable", "unit", "domain", "line"))
        for v in self._of(ast.VarDecl):
            ir = self.ir_vars.get(v.name)
            math = name_tex(v.name) + self.w.indices(v.index) + " " + _domain(v, self.w)
            dom = self.w.domain(v.index)
            sec.items.append(Item(math + ((r"\quad " + dom) if dom else ""), v.name,
                                  ir.unit if ir else (v.unit.text if v.unit else ""),
                                  v.kind, v.span.line))
        return sec

    def _objective(self) -> Section:
        sec = Section("Objective")
        for o in self._of(ast.Objective):
            ir = self.model.ir.objective
            head = r"\min\ " if o.sense == "min" else r"\max\ "
            sec.items.append(Item(head + self.w.tex(o.value), o.name, ir.unit if ir else "",
                                  "", o.span.line, display=True))
        return sec

    def _constraints(self) -> Section:
        sec = Section("Constraints")
        for c in self._of(ast.ConstraintDecl):
            sec.items.append(self._row(self.w, c.body, c.index, c.name, c.span.line))
        return sec

    def _row(self, w: MathWriter, body: ast.Expr, index: ast.IndexSpec | None,
             label: str | None, line: int | None, unit: str = "") -> Item:
        dom = w.domain(index)
        math = w.tex(body) + ((r"\qquad " + dom) if dom else "")
        return Item(math, label, unit, "", line, display=True)

    def _expressions(self) -> Section:
        sec = Section("Expressions")
        for e in self._of(ast.ExprDecl):
            ir = self.ir_exprs.get(e.name)
            dom = self.w.domain(e.index)
            math = name_tex(e.name) + self.w.indices(e.index) + " := " + self.w.tex(e.value)
            sec.items.append(Item(math + ((r"\qquad " + dom) if dom else ""), e.name,
                                  ir.unit if ir else (e.unit.text if e.unit else ""), "",
                                  e.span.line, display=True))
        return sec

    # ---- risk measures ----------------------------------------------------------------------
    def _risk(self) -> Section:
        sec = Section("Risk measures", intro=(
            "Each risk measure as the solver sees it: the expectation over the scenario "
            "probabilities, and CVaR in the Rockafellar–Uryasev form, a free variable η (the "
            "value at risk at the optimum) and one excess variable per scenario."))
        seen: set[str] = set()
        for st in self.own:
            for call in _calls(st):
                if call.name not in ("expected", "cvar") or not call.args:
                    continue
                key = call.name + _plain(call, self.texts)
                if key in seen:
                    continue
                seen.add(key)
                sec.items.extend(self._risk_items(call, st.span.line))
        return sec

    def _risk_items(self, call: ast.Call, line: int) -> list[Item]:
        x = call.args[0]
        xname = x.parts[0].name if isinstance(x, ast.Ref) and x.parts[0].index is None else None
        decl = next((e for e in self.all if isinstance(e, ast.ExprDecl) and e.name == xname),
                    None)
        it = decl.index.items[-1] if decl is not None and decl.index else None
        sset = self.w.set_tex(it.domain) if it is not None else "S"
        s = name_tex(it.var) if it is not None and it.var else "s"
        xs = (self.w.tex(x) + "_{" + s + "}") if xname else r"\left(" + self.w.tex(x) + \
            r"\right)_{" + s + "}"
        unit = self.ir_exprs[xname].unit if xname in self.ir_exprs else ""
        ps = "p_{" + s + "}"
        if call.name == "expected":
            return [Item(self.w.tex(call) + r" = \sum_{" + s + r" \in " + sset + "} " + ps +
                         r" \cdot " + xs, "expected", unit, "", line, display=True)]
        alpha_e = call.kwarg("alpha") or (call.args[1] if len(call.args) > 1 else None)
        alpha = self.w.tex(alpha_e) if alpha_e is not None else r"\alpha"
        lhs = self.w.tex(call)
        form = (lhs + r" = \min_{\eta \in \mathbb{R}}\ \eta + \frac{1}{1 - " + alpha +
                r"} \sum_{" + s + r" \in " + sset + "} " + ps + r" \cdot \left(" + xs +
                r" - \eta\right)^{+}")
        lp = (lhs + r" = \min\ \eta + \frac{1}{1 - " + alpha + r"} \sum_{" + s + r" \in " +
              sset + "} " + ps + r" \cdot z_{" + s + r"}\quad \text{s.t.}\ z_{" + s +
              r"} \geq " + xs + r" - \eta,\ z_{" + s + r"} \geq 0\quad \forall " + s +
              r" \in " + sset)
        return [Item(form, "cvar", unit, "Rockafellar–Uryasev", line, display=True),
                Item(lp, "cvar", unit, "as lowered (a linear program)", line, display=True)]

    # ---- components ---------------------------------------------------------------------------
    def _components(self) -> list[Section]:
        inst = Section("Component instances", columns=("instance", "at", "bindings", "line"))
        instances = list(self._of(ast.Instance))
        for i in instances:
            head = name_tex(i.name) + self.w.indices(i.index) + r" : \mathrm{" + \
                escape_text(i.type_name) + "}"
            dom = self.w.domain(i.index)
            binds = ", ".join(f"{b.name} = {_plain(b.value, self.texts)}"
                              for b in i.bindings)
            at = ", ".join(_plain(b, self.texts) for b in i.buses)
            inst.items.append(Item(head + ((r"\quad " + dom) if dom else ""), i.name, "",
                                   (f"at {at}; " if at else "") + binds, i.span.line))
        if not instances:
            return []
        parts = self._folded(instances) if not self.expand else self._expanded(instances)
        return [inst, self._balances(instances), *parts]

    def _balances(self, instances: list[ast.Instance]) -> Section:
        """Each bus node's row: the ports of the components at the bus sum to zero. For an
        indexed bus (``b[i in B]``) a component at ``b[from_bus[k]]`` enters the sum of bus
        ``i`` where ``from_bus[k] = i``."""
        sec = Section("Bus balances", intro=(
            "Each node of a bus balances the ports (injections) of the components standing at "
            "it; the row's dual is the nodal price."))
        time = self._tvar()
        for bus in instances:
            comp = self.components.get(bus.type_name)
            nodes = [st for st in comp.body if isinstance(st, ast.NodeDecl)] if comp else []
            if not nodes:
                continue
            ignored = {n for st in comp.body if isinstance(st, ast.IgnoreDecl) for n in st.names}
            collected = {n.collects for n in nodes if n.collects}
            bus_var = index_vars(bus.index)[0] if bus.index is not None and \
                len(bus.index.items) == 1 else None
            if bus.index is not None and bus_var is None:
                continue  # a bus indexed by two sets: described by its component only
            for node in nodes:
                terms = []
                for i in instances:
                    terms += self._ports_at(i, bus.name, bus_var, node, ignored, collected)
                if not terms:
                    continue
                dom = self.w.domain(bus.index)
                dom = (dom + ", " + time + r" \in " + name_tex(bus.over or self._time_set())) \
                    if dom else r"\forall " + time + r" \in " + name_tex(
                        bus.over or self._time_set())
                math = " + ".join(terms) + r" = 0\qquad " + dom
                sec.items.append(Item(math, f"{bus.name}.{node.name}", "", "", bus.span.line,
                                      display=True))
        return sec

    def _time_set(self) -> str:
        return next((s.name for s in self._of(ast.SetDecl) if s.step is not None), "T")

    def _loc(self, span: Span) -> int | str:
        """Where a declaration is: its line in the model, ``file:line`` elsewhere."""
        if span.file == self.model.file:
            return span.line
        return f"{Path(span.file).name}:{span.line}"

    def _tvar(self) -> str:
        """The time iterator a balance row is written with (``t`` for ``T``)."""
        name = self._time_set()
        return name.lower() if len(name) == 1 else "t"

    def _ports_at(self, i: ast.Instance, bus: str, bus_var: str | None, node: ast.NodeDecl,
                  ignored: set[str], collected: set[str]) -> list[str]:
        comp = self.components.get(i.type_name)
        if comp is None:
            return []
        out = []
        t = self._tvar()
        for st in comp.body:
            if not isinstance(st, ast.PortDecl):
                continue
            want = st.name == node.collects if node.collects else (
                st.name not in ignored and st.name not in collected)
            if not want:
                continue
            if st.terminal is not None:
                k = comp.terminals.index(st.terminal) if st.terminal in comp.terminals else -1
                at = i.buses[k] if 0 <= k < len(i.buses) else None
            else:
                at = i.buses[0] if i.buses else None
            if at is None or at.parts[0].name != bus:
                continue
            cond = None
            if at.parts[0].index is not None:
                if bus_var is None or len(at.parts[0].index) != 1:
                    continue
                cond = self.w.tex(at.parts[0].index[0]) + " = " + name_tex(bus_var)
            elif bus_var is not None:
                continue
            ref = name_tex(i.name) + self.w.indices(i.index) + "." + \
                (name_tex(st.terminal) + "." if st.terminal else "") + name_tex(st.name) + \
                "_{" + t + "}"
            iters = [self.w.iterator(it) for it in i.index.items] \
                if i.index is not None and i.index.items else []
            if iters:
                ref = r"\sum_{" + ", ".join(iters) + (" : " + cond if cond else "") + "} " + ref
            elif cond:
                ref = r"\left[" + cond + r"\right] \cdot " + ref
            out.append(ref)
        return out

    def _folded(self, instances: list[ast.Instance]) -> list[Section]:
        out = []
        for name in dict.fromkeys(i.type_name for i in instances):
            comp = self.components.get(name)
            if comp is None:
                continue
            sec = Section(f"Component {name}" + (f" (for {comp.variant})" if comp.variant else ""),
                          intro=_doc(comp))
            for cp in comp.params:
                math = name_tex(cp.name) + self.w.indices(cp.index)
                text = ("default " + _plain(cp.default, self.texts)
                        if cp.default is not None else "required")
                sec.items.append(Item(math, cp.name, cp.unit.text if cp.unit else "",
                                      "parameter; " + text, self._loc(cp.span)))
            sec.items.extend(self._body(comp, self.w, None))
            out.append(sec)
        return out

    def _expanded(self, instances: list[ast.Instance]) -> list[Section]:
        out = []
        for i in instances:
            comp = self.components.get(i.type_name)
            if comp is None:
                continue
            w = _InstanceWriter(i, comp, self.w).writer
            sec = Section(f"Instance {i.name}: {i.type_name}", intro=_doc(comp))
            sec.items.extend(self._body(comp, w, i.index))
            out.append(sec)
        return out

    def _body(self, comp: ast.ComponentDecl, w: MathWriter,
              outer: ast.IndexSpec | None) -> list[Item]:
        items: list[Item] = []
        for st in comp.body:
            index = _join(outer, getattr(st, "index", None))
            if isinstance(st, ast.VarDecl):
                math = w.tex(_ref(st.name, st.index)) + " " + _domain(st, w)
                dom = w.domain(index)
                items.append(Item(math + ((r"\quad " + dom) if dom else ""), st.name,
                                  st.unit.text if st.unit else "", st.kind, self._loc(st.span)))
            elif isinstance(st, ast.ConstraintDecl):
                items.append(self._row(w, st.body, index, st.name, self._loc(st.span)))
            elif isinstance(st, ast.ExprDecl | ast.PortDecl):
                lhs = w.tex(_ref(st.name, st.index))
                if isinstance(st, ast.PortDecl):
                    lhs = r"\mathrm{port}\ " + (name_tex(st.terminal) + "." if st.terminal
                                                else "") + lhs
                dom = w.domain(index)
                items.append(Item(lhs + " := " + w.tex(st.value) +
                                  ((r"\qquad " + dom) if dom else ""), st.name,
                                  st.unit.text if isinstance(st, ast.ExprDecl) and st.unit
                                  else "", "", self._loc(st.span), display=True))
            elif isinstance(st, ast.ParamDecl):
                for head in st.heads:
                    if isinstance(st.value, ast.Expr) and not isinstance(st.value, ast.Table):
                        items.append(Item(w.tex(_ref(head.name, head.index)) + " := " +
                                          w.tex(st.value), head.name,
                                          head.unit.text if head.unit else "", "",
                                          self._loc(st.span), display=True))
            elif isinstance(st, ast.NodeDecl):
                port = st.collects or "p"
                what = f"the ports named {st.collects}" if st.collects else "the ports"
                items.append(Item(r"\sum_{c\ \mathrm{at\ the\ bus}} c." + name_tex(port) +
                                  r"_{t} = 0\qquad \forall t \in T", st.name, "",
                                  f"node {st.name}: {what} of the components at the bus "
                                  "balance (its row's dual is the nodal price)",
                                  self._loc(st.span), display=True))
        return items

    def _learned(self) -> Section:
        """Surrogates (learned functions of a signal) and policies (learned decision rules)."""
        sec = Section("Surrogates and policies", columns=("symbol", "unit", "definition",
                                                          "line"))
        for sd in self._of(ast.SurrogateDecl):
            i, o = sd.input, sd.output
            math = (r"\hat{f}_{" + name_tex(sd.name) + r"} : " + name_tex(i.name) + "_{" +
                    name_tex(i.index.lower() if len(i.index) == 1 else "t") + r"} \mapsto " +
                    name_tex(o.name) + "_{" + name_tex(o.index.lower() if len(o.index) == 1
                                                       else "t") + "}")
            units = " → ".join(u for u in ((i.unit.text if i.unit else "1"),
                                             (o.unit.text if o.unit else "1")))
            settings = ", ".join(f"{st.key} = {_plain(st.value, self.texts)}"
                                 for st in sd.settings)
            sec.items.append(Item(math, sd.name, "", f"surrogate ({units}); {settings}",
                                  sd.span.line))
        for pd in self._of(ast.PolicyDecl):
            obs = ", ".join(self.w.tex(e) for e in pd.observe)
            dec = ", ".join(self.w.tex(e) for e in pd.decide)
            dom = self.w.domain(pd.index)
            math = (r"\pi_{" + name_tex(pd.name) + r"} : \left(" + obs + r"\right) \mapsto "
                    + r"\left(" + dec + r"\right)" + ((r"\quad " + dom) if dom else ""))
            settings = ", ".join(f"{st.key} = {_plain(st.value, self.texts)}"
                                 for st in pd.settings)
            sec.items.append(Item(math, pd.name, "", f"policy; {settings}", pd.span.line))
        return sec

    # ---- the rest ----------------------------------------------------------------------------
    def _quantum(self) -> Section:
        sec = Section("Quantum block", columns=("statement", "unit", "meaning", "line"))
        for q in self._of(ast.QuantumBlock):
            for st in q.statements:
                if isinstance(st, ast.EncodeStmt):
                    args = ", ".join((f"{k} = " if k else "") + _plain(v, self.texts)
                                     for k, v in st.args)
                    sec.items.append(Item(self.w.tex(st.target), None, "",
                                          f"encoded {st.method}" + (f" ({args})" if args else ""),
                                          st.span.line))
                else:
                    sec.items.append(Item(r"\rho = " + self.w.tex(st.value), st.constraint, "",
                                          "penalty weight" + (f" of {st.constraint}"
                                                              if st.constraint else ""),
                                          st.span.line))
        return sec

    def _systems(self) -> Section:
        sec = Section("Dynamics")
        for sysd in self._of(ast.SystemDecl):
            for st in sysd.body:
                if isinstance(st, ast.DerDecl):
                    sec.items.append(Item(r"\dot{" + name_tex(st.name) + "} = " +
                                          self.w.tex(st.value), f"{sysd.name}.{st.name}", "",
                                          "", st.span.line, display=True))
                elif isinstance(st, ast.SignalDecl):
                    for item in st.items:
                        if item.value is not None and st.kind == "output":
                            sec.items.append(Item(name_tex(item.name) + " = " +
                                                  self.w.tex(item.value),
                                                  f"{sysd.name}.{item.name}",
                                                  item.unit.text if item.unit else "",
                                                  st.kind, item.span.line, display=True))
        for c in self._of(ast.ControllerDecl):
            if c.objective is not None:
                k = name_tex(c.objective.stage) if c.objective.stage else ""
                head = (r"\min" if c.objective.sense == "min" else r"\max") + r"\ "
                body = self.w.tex(c.objective.value)
                math = head + (r"\sum_{" + k + "} " + r"\left(" + body + r"\right)" if k
                               else body)
                sec.items.append(Item(math, c.name, "", f"controller for {c.system}",
                                      c.span.line, display=True))
            for b in c.bounds:
                sec.items.append(Item(self.w.tex(b.low) + r" \leq " + self.w.tex(b.value) +
                                      r" \leq " + self.w.tex(b.high), c.name, "",
                                      "subject to", b.span.line, display=True))
        return sec


class _InstanceWriter:
    """A writer for one instance's rows: members as ``\\mathit{gen}_{u}.\\mathit{p}``, scalar
    parameters as what the instance binds (or their default), terminals as the buses."""

    def __init__(self, inst: ast.Instance, comp: ast.ComponentDecl, outer: MathWriter) -> None:
        self.prefix = name_tex(inst.name) + outer.indices(inst.index)
        members = {getattr(s, "name", None) for s in comp.body}
        members |= {h.name for s in comp.body if isinstance(s, ast.ParamDecl) for h in s.heads}
        binds = {b.name: b for b in inst.bindings}
        table: dict[str, sympy.Basic] = {}
        for cp in comp.params:
            b = binds.get(cp.name)
            if b is not None and b.index is None:
                table[cp.name] = outer.sym(b.value)
            elif b is None and cp.default is not None and cp.index is None:
                table[cp.name] = outer.sym(cp.default)
            else:  # an indexed parameter: the instance's own table
                table[cp.name] = Tex(self.prefix + "." + name_tex(cp.name))
        for m in members:
            if m:
                table[m] = Tex(self.prefix + "." + name_tex(m))
        for term, bus in zip(comp.terminals, inst.buses, strict=False):
            table[term] = Tex(outer.tex(bus))
        self.writer = MathWriter(table.get)


# ---- helpers ----------------------------------------------------------------------------------
def _library(file: str) -> bool:
    try:
        return Path(file).resolve().parent == _LIBRARY_DIR
    except OSError:
        return False


def _text_of(file: str) -> str:
    try:
        return Path(file).read_text(encoding="utf-8")
    except OSError:
        return ""


def _plain(node: ast.Node, texts: dict[str, str]) -> str:
    """The node's own source text on one line (``texts``: file -> text, filled as read)."""
    span = node.span
    if span.file not in texts:
        texts[span.file] = _text_of(span.file)
    lines = texts[span.file].splitlines()
    if not lines or span.line < 1 or span.end_line < span.line or span.end_line > len(lines):
        return ""
    if span.line == span.end_line:
        out = lines[span.line - 1][span.column - 1:span.end_column - 1]
    else:
        chunk = [lines[span.line - 1][span.column - 1:]]
        chunk += lines[span.line:span.end_line - 1]
        chunk.append(lines[span.end_line - 1][:span.end_column - 1])
        out = " ".join(x.strip() for x in chunk)
    return " ".join(out.split())


def _source(expr: ast.Expr | ast.Table | None) -> str | None:
    """``from data/units.csv (column demand)`` for a ``csv(…)`` value."""
    if isinstance(expr, ast.Call) and expr.name == "csv" and expr.args and \
            isinstance(expr.args[0], ast.Str):
        col = expr.kwarg("column")
        key = expr.kwarg("key")
        extra = []
        if key is not None and isinstance(key, ast.Str):
            extra.append(f"key {key.value}")
        if col is not None and isinstance(col, ast.Str):
            extra.append(f"column {col.value}")
        return f"from {expr.args[0].value}" + (f" ({', '.join(extra)})" if extra else "")
    return None


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _domain(v: ast.VarDecl, w: MathWriter) -> str:
    low = w.tex(v.low) if v.low is not None else None
    high = w.tex(v.high) if v.high is not None else None
    if v.kind == "binary":
        return r"\in \{0, 1\}"
    base = r"\mathbb{Z}" if v.kind == "integer" else r"\mathbb{R}"
    if low is not None and high is not None:
        rng = f"[{low}, {high}]"
        return (r"\in " + base + r" \cap " + rng) if v.kind == "integer" else r"\in " + rng
    if low is not None:
        return (r"\in " + base + r",\ " if v.kind == "integer" else "") + r"\geq " + low
    if high is not None:
        return (r"\in " + base + r",\ " if v.kind == "integer" else "") + r"\leq " + high
    return r"\in " + base


def _ref(name: str, index: ast.IndexSpec | None) -> ast.Ref:
    from qgridlang.errors import NOWHERE

    idx = None
    if index is not None and index.items:
        idx = tuple(ast.Ref(span=NOWHERE, parts=(ast.Part(span=NOWHERE, name=v),))
                    for v in index_vars(index))
    return ast.Ref(span=NOWHERE, parts=(ast.Part(span=NOWHERE, name=name, index=idx),))


def _join(a: ast.IndexSpec | None, b: ast.IndexSpec | None) -> ast.IndexSpec | None:
    if a is None or not a.items:
        return b
    if b is None or not b.items:
        return a
    where = b.where if a.where is None else a.where if b.where is None else ast.BinOp(
        span=b.span, op="and", left=a.where, right=b.where)
    return ast.IndexSpec(span=b.span, items=a.items + b.items, where=where)


def _iter_name(set_name: str) -> str:
    return set_name.lower() if len(set_name) == 1 else "s"


def _doc(comp: ast.ComponentDecl) -> str:
    """The comment lines right above a component's declaration (its documentation)."""
    lines = _text_of(comp.span.file).splitlines()
    out: list[str] = []
    i = comp.span.line - 2
    while i >= 0 and lines[i].lstrip().startswith("#") and not lines[i].lstrip().startswith(
            "# ----"):
        out.insert(0, lines[i].lstrip()[1:].strip())
        i -= 1
    return " ".join(out)


def _calls(node: object) -> Iterator[ast.Call]:
    """Every call inside a node (depth first)."""
    if isinstance(node, ast.Call):
        yield node
    if isinstance(node, ast.Node):
        for name in type(node).model_fields:
            if name == "span":
                continue
            yield from _calls(getattr(node, name))
    elif isinstance(node, tuple | list):
        for x in node:
            yield from _calls(x)

