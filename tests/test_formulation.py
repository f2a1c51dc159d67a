"""``qglc show --latex|--markdown``: the checked model as the formulation a paper prints.

Every example renders in both styles, folded and expanded; every formula is read by
matplotlib's mathtext (no LaTeX engine needed), and where pdflatex is installed every example's
standalone document compiles. Golden files pin two examples' Markdown.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qgridlang.checker import check_file, check_text
from qgridlang.formulation import build, render, sections_math

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "formulation"
EXAMPLES = sorted([*(ROOT / "examples").glob("*/*.qgl"),
                   *(ROOT / "examples").glob("networks/*/*.qgl")])
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
# examples checked at a smaller size (the formulation does not depend on it)
SMALL = {"operator.qgl": {"n_scenarios": "2"}, "surrogate_pricing.qgl": {"n_scenarios": "2"},
         "surrogate_pricing_tou.qgl": {"n_scenarios": "2"}, "rt_vpp.qgl": {"n_scenarios": "2"},
         "uc_week.qgl": {"hours": "24"}, "uc_da.qgl": {"day_to": "1"}}


def _mathtext_ok(math: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.mathtext import MathTextParser

    MathTextParser("path").parse("$" + math + "$")


@pytest.fixture(scope="module")
def checked_examples() -> dict[Path, object]:
    return {p: check_file(p, SMALL.get(p.name)) for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name + "/" + p.name)
def test_every_formula_of_every_example_is_valid_math(path: Path,
                                                      checked_examples: dict) -> None:
    checked = checked_examples[path]
    for expand in (False, True):
        f = build(checked, expand=expand)
        assert f.sections, path
        maths = sections_math(f)
        assert maths
        for m in maths:
            try:
                _mathtext_ok(m)
            except ValueError as exc:  # mathtext's parse error
                pytest.fail(f"{path.name} (expand={expand}): mathtext cannot read {m!r}: {exc}")
        md = render(checked, "markdown", expand=expand)
        tex = render(checked, "latex", expand=expand)
        assert md.startswith("# Model `") and r"\section*{Model" in tex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex installed (the "
                    "mathtext test above reads every formula instead)")
def test_every_example_compiles_with_pdflatex(tmp_path: Path, checked_examples: dict) -> None:
    for path, checked in checked_examples.items():
        for expand in (False, True):
            tex = tmp_path / f"{path.stem}_{int(expand)}.tex"
            tex.write_text(render(checked, "latex", expand=expand, standalone=True),
                           encoding="utf-8")
            proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                                   tex.name], cwd=tmp_path, capture_output=True, text=True,
                                  timeout=120)
            errors = [ln for ln in proc.stdout.splitlines() if ln.startswith("!")]
            assert proc.returncode == 0, f"{path.name} expand={expand}: {errors[:3]}"
            assert tex.with_suffix(".pdf").stat().st_size > 1000


@pytest.mark.parametrize("name", ["risk/risk.qgl", "microgrid_qubo/microgrid_qubo.qgl"])
def test_markdown_golden(name: str) -> None:
    got = render(ROOT / "examples" / name, "markdown")
    got = got.replace(str(ROOT) + "/", "")
    golden = GOLDEN / (Path(name).stem + ".md")
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(got, encoding="utf-8")
    assert golden.is_file(), f"no golden {golden.name}; run with UPDATE_GOLDEN=1"
    assert got == golden.read_text(encoding="utf-8")


def test_risk_measures_are_written_out() -> None:
    md = render(ROOT / "examples/risk/risk.qgl", "markdown")
    # the expectation over the scenario probabilities
    assert r"\mathbb{E}\left[\mathit{cost}\right] = \sum_{s \in S} p_{s} \cdot " \
           r"\mathit{cost}_{s}" in md
    # CVaR in its Rockafellar–Uryasev form, with the model's alpha and scenario set
    assert (r"\mathrm{CVaR}_{0.9}\left[\mathit{cost}\right] = \min_{\eta \in \mathbb{R}}\ "
            r"\eta + \frac{1}{1 - 0.9} \sum_{s \in S} p_{s} \cdot \left(\mathit{cost}_{s} - "
            r"\eta\right)^{+}") in md
    # and as lowered: one excess variable per scenario
    assert r"z_{s} \geq \mathit{cost}_{s} - \eta" in md


def test_constraints_keep_names_index_sets_units_and_where() -> None:
    src = """model m
time T = 1..4 step 1 h
set G = {a, b}
param cap[G]: MW = {a: 10, b: 5}
param price: $/MWh = 30
var p[g in G, t in T]: MW in 0 .. cap[g]
constraint ramp[g in G, t in T where t > first(T)]: p[g, t] - p[g, prev(t)] <= 2 MW
constraint total[t in T]: sum(g in G) p[g, t] >= 8 MW
minimize cost: sum(g in G, t in T) price * p[g, t] * dt
"""
    checked = check_text(src, "m.qgl")
    md = render(checked, "markdown")
    assert (r"p_{g,t} - p_{g,\operatorname{prev}\left(t\right)} \leq "
            r"2\,\mathrm{MW}\qquad \forall g \in G, t \in T : t > \operatorname{first}"
            r"\left(T\right)") in md.replace("$$\n", "")
    assert r"\sum_{g \in G} p_{g,t} \geq 8\,\mathrm{MW}" in md
    assert r"\min\ \sum_{g \in G, t \in T} \mathit{price} \cdot p_{g,t} \cdot " \
           r"\Delta t" in md
    # parameters and variables with their units and domains
    assert r"| $\mathit{cap}_{g},\ g \in G$ | $\mathrm{MW}$ |" in md
    assert r"$p_{g,t} \in [0, \mathit{cap}_{g}]\quad \forall g \in G, t \in T$" in md
    assert r"$\$/\mathrm{MWh}$" in md
    assert r"G = \{\mathrm{a}, \mathrm{b}\}" in md


def test_folded_and_expanded_components() -> None:
    uc = check_file(ROOT / "examples/unit_commitment/uc.qgl", subsets={"T": [1, 2, 3]})
    folded = render(uc, "markdown")
    expanded = render(uc, "markdown", expand=True)
    # folded: the component's formulation once, in its own names
    assert "## Component thermal_unit" in folded
    assert r"\mathit{output}_{t} \geq \mathit{pmin} \cdot u_{t}\qquad \forall t \in T" in folded
    # expanded: in the instance's names, parameters replaced by what the instance binds
    assert "## Instance gen: thermal_unit" in expanded
    assert (r"\mathit{gen}_{u}.\mathit{output}_{t} \geq \mathit{pmin}_{u} \cdot "
            r"\mathit{gen}_{u}.u_{t}\qquad \forall u \in U, t \in T") in expanded
    # the bus balance collects the ports of what stands at the bus (both views)
    for text in (folded, expanded):
        assert r"\mathit{consumers}.p_{t} + \sum_{u \in U} \mathit{gen}_{u}.p_{t} = 0" in text


def test_dynamics_are_written_as_derivatives() -> None:
    md = render(ROOT / "examples/lfc/lfc.qgl", "markdown")
    assert r"\dot{" in md and "## Dynamics" in md


def _qglc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qgridlang", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_cli_show(tmp_path: Path) -> None:
    model = ROOT / "examples/risk/risk.qgl"
    md = _qglc("show", str(model))
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# Model `risk_averse_purchase`")
    tex = _qglc("show", str(model), "--latex", "--standalone", "-o", str(tmp_path / "r.tex"))
    assert tex.returncode == 0, tex.stderr
    body = (tmp_path / "r.tex").read_text(encoding="utf-8")
    assert body.startswith(r"\documentclass") and body.rstrip().endswith(r"\end{document}")
    # --standalone is a LaTeX document: a usage error with Markdown
    bad = _qglc("show", str(model), "--standalone")
    assert bad.returncode == 2 and "--standalone is for --latex" in bad.stderr
    # a model with an error: located, exit 1, no traceback
    broken = tmp_path / "broken.qgl"
    broken.write_text("model b\nvar x in 0 .. 1\nminimize c: x + y\n", encoding="utf-8")
    err = _qglc("show", str(broken))
    assert err.returncode == 1 and "Traceback" not in err.stderr
    assert re.search(r"broken\.qgl:3:17", err.stderr), err.stderr


def test_indexed_bus_balance_sums_what_stands_at_each_bus() -> None:
    """case33bw: lines, loads and the grid stand at b[from_bus[k]] etc.; bus i's balance sums
    those whose bus index equals i, and library declarations are located in their own file."""
    md = render(ROOT / "examples/networks/case33bw/case33bw.qgl", "markdown")
    assert (r"\sum_{k \in L : \mathit{from\_bus}_{k} = i} l_{k}.a.p_{t} + "
            r"\sum_{k \in L : \mathit{to\_bus}_{k} = i} l_{k}.b.p_{t}") in md
    assert r"= 0\qquad \forall i \in B, t \in T" in md
    assert "| parameter; default 1 kV | stdlib.qgl:" in md


def test_latex_prose_is_escaped() -> None:
    from qgridlang.formulation.writers import latex_text

    assert latex_text("cost_$ 5 % #1 & {x} a^2 |y| → ≤ 3 °C 中") == (
        r"cost\_\$ 5 \% \#1 \& \{x\} a\textasciicircum{}2 \textbar{}y\textbar{} $\to$ "
        r"$\leq$ 3 $^\circ$C [U+4E2D]")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex installed")
def test_unicode_title_and_surrogates_compile(tmp_path: Path) -> None:
    src = ('model m "Wärme → Strom ≤ 5 °C: 50 % & $ #1 {x}"\n'
           "time T = 1..2 step 1 h\nvar x[T]: kW in 0 .. 1\n"
           "minimize c: sum(t in T) x[t]\n")
    tex = tmp_path / "m.tex"
    tex.write_text(render(check_text(src, str(tmp_path / "m.qgl")), "latex", standalone=True),
                   encoding="utf-8")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "m.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, [ln for ln in proc.stdout.splitlines() if ln.startswith("!")]
