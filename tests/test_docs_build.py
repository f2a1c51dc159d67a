"""The documentation site builds with ``mkdocs build --strict`` (what CI publishes): every page
of the nav, every link and anchor resolved, and the pages generated from the code at build time
(docs/hooks/) are complete: the standard library page lists every component of
``models/stdlib.qgl`` and ``models/communities.qgl``, the targets page every registered target
and backend, the CLI page every subcommand, one formulation page per example folder, every
benchmark plot. The build takes about 75 s on this machine (most of it rendering the DN-EC
formulations)."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qgridlang import ast
from qgridlang.cli import build_parser
from qgridlang.parser import parse
from qgridlang.registry import BACKENDS, TARGETS, _load

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "hooks"))

from dollars import escape_dollars  # noqa: E402 - the hooks' folder is on the path just above
from formulations import PLOTTED, example_models, formulation_page  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-5000:]}"
    assert "WARNING" not in proc.stderr, proc.stderr[-5000:]
    return out


def _page(site: Path, uri: str) -> str:
    path = site / uri
    assert path.is_file(), f"{uri} was not built"
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def test_every_docs_page_is_built(site: Path) -> None:
    for md in DOCS.rglob("*.md"):
        uri = md.relative_to(DOCS).with_suffix(".html")
        assert (site / uri).is_file(), f"docs/{md.relative_to(DOCS)} has no page"


@pytest.mark.parametrize("library", ["stdlib", "communities"])
def test_the_standard_library_page_lists_every_component(site: Path, library: str) -> None:
    path = ROOT / "models" / f"{library}.qgl"
    tree = parse(path.read_text(encoding="utf-8"), str(path))
    comps = [s for s in tree.statements if isinstance(s, ast.ComponentDecl)]
    assert comps
    text = _page(site, "reference/stdlib.html")
    assert f"use {library}" in text
    for comp in comps:
        assert comp.name in text
        for p in comp.params:  # every parameter, with its unit where it has one
            assert p.name in text, f"{comp.name}.{p.name}"
            if p.unit is not None:
                assert p.unit.text in text


def test_the_targets_page_lists_every_target_and_backend(site: Path) -> None:
    _load()
    text = _page(site, "reference/targets.html")
    for name, cls in [*TARGETS.items(), *BACKENDS.items()]:
        assert f"target {name}" in text or f"backend {name}" in text, name
        for key in cls.OPTIONS:
            assert key in text, f"{name}: option {key}"


def test_the_cli_page_lists_every_subcommand(site: Path) -> None:
    import argparse

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    text = _page(site, "reference/cli.html")
    for name, p in sub.choices.items():
        assert f"qglc {name}" in text, name
        for action in p._actions:
            for flag in action.option_strings:
                assert flag in text, f"qglc {name} {flag}"


def test_every_example_has_its_formulation_page(site: Path) -> None:
    for folder, models in example_models().items():
        page = (site / "formulations" / f"{folder}.html").read_text(encoding="utf-8")
        assert 'class="arithmatex"' in page  # the math is marked for KaTeX
        for model in models:
            assert f"examples/{folder}/" in page and model.name in page


def test_qgl_blocks_are_highlighted(site: Path) -> None:
    """The qgl Pygments lexer (entry point ``qgl``) colours the language pages' snippets."""
    page = (site / "language" / "sets.html").read_text(encoding="utf-8")
    assert re.search(r'<span class="k[a-z]?">(set|time)</span>', page), "no qgl highlighting"


def test_the_quick_examples_show_their_solved_plan(site: Path) -> None:
    for folder in PLOTTED:
        png = site / "formulations" / f"{folder}.png"
        assert png.read_bytes().startswith(b"\x89PNG"), folder
        assert f'src="{folder}.png"' in (site / "formulations" / f"{folder}.html").read_text()


def test_the_python_api_is_documented(site: Path) -> None:
    import qgridlang

    page = (site / "reference" / "api.html").read_text(encoding="utf-8")
    # `targets` is described in prose: mkdocstrings (like Python, once the registry has loaded)
    # resolves qgridlang.targets to the subpackage of that name, not to the function
    for name in set(qgridlang.__all__) - {"targets"}:
        assert f'id="qgridlang.{name}"' in page, name
    assert "qgridlang.targets()" in page
    assert 'id="qgridlang.results.Solution"' in page


def test_every_benchmark_plot_is_shown(site: Path) -> None:
    text = (site / "benchmarks" / "results.html").read_text(encoding="utf-8")
    plots = sorted((ROOT / "benchmarks" / "results").glob("*.png"))
    assert plots
    for plot in plots:
        assert f"repo/benchmarks/results/{plot.name}" in text
        assert (site / "repo" / "benchmarks" / "results" / plot.name).is_file()


def test_prose_dollars_are_not_math(site: Path) -> None:
    """`12 $/MWh … 30 $` must not become math outside the math pages."""
    for page in site.rglob("*.html"):
        rel = page.relative_to(site).as_posix()
        md = DOCS / Path(rel).with_suffix(".md")
        opted_in = md.is_file() and re.match(r"---\n(.*\n)*?math: true\n", md.read_text())
        if rel.startswith("formulations/") or opted_in:
            continue
        assert 'class="arithmatex"' not in page.read_text(encoding="utf-8"), rel


def test_dollar_escaping_keeps_code() -> None:
    text = "a ($/h), b ($/MWh)\n```text\n12 $\n```\n`$x` and \\$ kept"
    assert escape_dollars(text) == "a (\\$/h), b (\\$/MWh)\n```text\n12 $\n```\n`$x` and \\$ kept"


def test_a_model_that_does_not_render_fails_the_build_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.qgl"
    bad.write_text("model bad\nvar x in 0 .. nope\nminimize x\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="bad.qgl"):
        formulation_page("bad", [bad])
