"""``qglc lsp`` over its real protocol: a server process spoken to with JSON-RPC on stdio
(pygls's LanguageClient, see tests/lsp_client.py): diagnostics (errors, warnings, imported
files, unsaved text), hover, definition, references, completion, outline, formatting,
shutdown/exit, and the diagnostics latency on the RTS-24 unit commitment example."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types as lsp

from qgridlang.formatter import format_text
from tests.lsp_client import ROOT, Session, timed_check, uri

LIB = """# Price of energy bought from the grid.
param price: $/MWh = 40 $/MWh
"""
MODEL = """model demo
use stdlib
import "lib.qgl"
# Hours of the day.
time T = 1..3 step 1 h
param demand[T]: MW = csv("load.csv", key = "hour", column = "mw")  # the forecast
var buy[t in T]: MW in 0 .. 100
bus hub
battery ess at hub { energy = 10 MWh; power = 5 MW }
constraint balance[t in T]: buy[t] + ess.p[t] >= demand[t]
minimize cost: sum(t in T) price * buy[t] * dt
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("lsp")
    (d / "lib.qgl").write_text(LIB, encoding="utf-8")
    (d / "load.csv").write_text("hour,mw\n1,3\n2,4\n3,5\n", encoding="utf-8")
    (d / "model.qgl").write_text(MODEL, encoding="utf-8")
    (d / "bad_lib.qgl").write_text("param price: $/MWh = 40 $/MWh + 1 MW\n", encoding="utf-8")
    (d / "uses_bad.qgl").write_text(MODEL.replace('"lib.qgl"', '"bad_lib.qgl"'),
                                    encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    s = Session()
    result = s.initialize()
    caps = result.capabilities
    assert caps.hover_provider and caps.definition_provider and caps.references_provider
    assert caps.document_symbol_provider and caps.document_formatting_provider
    assert caps.completion_provider is not None
    yield s
    if not getattr(s, "closed", False):
        s.close()


def _at(text: str, needle: str, nth: int = 0, offset: int = 0) -> tuple[int, int]:
    """0-based (line, character) of the nth occurrence of ``needle`` (plus ``offset``)."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += offset
    line = text.count("\n", 0, at)
    return line, at - (text.rfind("\n", 0, at) + 1)


def _check_json(path: Path) -> dict[str, object]:
    r = subprocess.run([sys.executable, "-m", "qgridlang.cli", "check", "--json", str(path)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    return json.loads(r.stdout)


# ---- diagnostics ------------------------------------------------------------------------------

def test_an_error_has_the_checkers_range_and_a_fix_clears_it(session: Session, folder: Path
                                                              ) -> None:
    path = folder / "model.qgl"
    broken = MODEL.replace(">= demand[t]", ">= demnd[t]")
    path_broken = folder / "broken_on_disk.qgl"
    path_broken.write_text(broken, encoding="utf-8")
    expected = _check_json(path_broken)["errors"][0]  # what `qglc check` says
    u = session.open(path, broken)  # the buffer, not the (correct) file on disk
    _, diags = session.wait_diagnostics(u, version=1)
    assert len(diags) == 1
    d = diags[0]
    assert d.severity == lsp.DiagnosticSeverity.Error and d.source == "qglc"
    assert (d.range.start.line + 1, d.range.start.character + 1) == (
        expected["line"], expected["column"])
    assert (d.range.end.line + 1, d.range.end.character + 1) == (
        expected["end_line"], expected["end_column"])
    assert expected["message"] in d.message and "did you mean 'demand'" in d.message
    assert _at(broken, "demnd") == (d.range.start.line, d.range.start.character)
    sent = session.change(u, MODEL)
    _, diags = session.wait_diagnostics(u, after=sent, version=2)
    assert diags == []


def test_warnings_are_reported(session: Session, folder: Path) -> None:
    text = MODEL.replace("price * buy[t] * dt", "price * buy[t]")  # $/h: not an amount
    (folder / "warn.qgl").write_text(text, encoding="utf-8")  # imports resolve next to it
    u = session.open(folder / "warn.qgl", text)
    _, diags = session.wait_diagnostics(u, version=1)
    assert [d.severity for d in diags] == [lsp.DiagnosticSeverity.Warning]
    assert "not a currency amount" in diags[0].message
    assert diags[0].range.start.line == _at(text, "minimize")[0]


def test_an_error_in_an_imported_file_is_shown_there_and_at_the_import(
        session: Session, folder: Path) -> None:
    main = folder / "uses_bad.qgl"
    u = session.open(main)
    _, diags = session.wait_diagnostics(u, version=1)
    at_import = [d for d in diags if d.range.start.line == 2]
    assert at_import and "bad_lib.qgl:1:" in at_import[0].message
    _, lib_diags = session.wait_diagnostics(uri(folder / "bad_lib.qgl"))
    assert lib_diags and lib_diags[0].range.start.line == 0
    assert "MW" in lib_diags[0].message


# ---- hover, definition, references --------------------------------------------------------------

def _hover(session: Session, u: str, pos: tuple[int, int]) -> str:
    h = session.run(session.client.text_document_hover_async(
        lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(u),
                        position=lsp.Position(*pos))))
    assert h is not None
    return h.contents.value


def test_hover(session: Session, folder: Path) -> None:
    u = session.open(folder / "model.qgl")
    text = _hover(session, u, _at(MODEL, "demand[t]", offset=2))
    assert "**param** `demand`" in text and "`T`" in text and "unit: `MW`" in text
    assert "model.qgl:6" in text and "the forecast" in text
    text = _hover(session, u, _at(MODEL, "price *"))
    assert "Price of energy bought from the grid" in text and "lib.qgl:2" in text
    text = _hover(session, u, _at(MODEL, "battery"))
    assert "**component** `battery`" in text and "stdlib.qgl" in text
    assert "- `soc_min` = `10 %`" in text and "- `energy`: kWh (required)" in text
    text = _hover(session, u, _at(MODEL, "ess.p", offset=4))
    assert "port of component `battery`" in text
    text = _hover(session, u, _at(MODEL, "buy[t] +", offset=4))
    assert "**index** `t` in `T`" in text


def _definition(session: Session, u: str, pos: tuple[int, int]) -> list[lsp.Location]:
    return session.run(session.client.text_document_definition_async(
        lsp.DefinitionParams(text_document=lsp.TextDocumentIdentifier(u),
                             position=lsp.Position(*pos))))


def test_definition(session: Session, folder: Path) -> None:
    u = session.open(folder / "model.qgl")
    [loc] = _definition(session, u, _at(MODEL, "price *"))
    assert loc.uri == uri(folder / "lib.qgl") and loc.range.start.line == 1
    locs = _definition(session, u, _at(MODEL, "battery"))
    stdlib = (ROOT / "models" / "stdlib.qgl").read_text(encoding="utf-8")
    assert [(x.uri, x.range.start.line) for x in locs] == [
        (uri(ROOT / "models" / "stdlib.qgl"), _at(stdlib, "component battery(")[0])]
    [port] = _definition(session, u, _at(MODEL, "ess.p", offset=4))
    assert port.uri == uri(ROOT / "models" / "stdlib.qgl")
    assert "port p" in stdlib.splitlines()[port.range.start.line]
    [csv] = _definition(session, u, _at(MODEL, "load.csv", offset=2))
    assert csv.uri == uri(folder / "load.csv")
    [hub] = _definition(session, u, _at(MODEL, "at hub", offset=3))
    assert hub.range.start.line == _at(MODEL, "bus hub")[0]


def test_references(session: Session, folder: Path) -> None:
    u = session.open(folder / "model.qgl")
    refs = session.run(session.client.text_document_references_async(lsp.ReferenceParams(
        text_document=lsp.TextDocumentIdentifier(u), position=lsp.Position(*_at(MODEL, "buy")),
        context=lsp.ReferenceContext(include_declaration=True))))
    assert sorted((r.range.start.line, r.range.start.character) for r in refs) == [
        _at(MODEL, "buy", n) for n in range(3)]


# ---- completion, outline, formatting ------------------------------------------------------------

def _complete(session: Session, folder: Path, text: str, pos: tuple[int, int]) -> list[str]:
    u = session.open(folder / "complete.qgl", text)
    result = session.run(session.client.text_document_completion_async(lsp.CompletionParams(
        text_document=lsp.TextDocumentIdentifier(u), position=lsp.Position(*pos))))
    items = result.items if isinstance(result, lsp.CompletionList) else result
    return [i.label for i in items]


def test_completion(session: Session, folder: Path) -> None:
    # component parameters inside an instance (the text need not parse while typing)
    text = MODEL.replace("{ energy = 10 MWh; power = 5 MW }", "{ energy = 10 MWh; so")
    labels = _complete(session, folder, text, _at(text, "; so", offset=4))
    assert {"soc_min", "soc_max", "power", "efficiency"} <= set(labels)
    assert "balance" not in labels
    # members after a dot
    labels = _complete(session, folder, MODEL, _at(MODEL, "ess.p", offset=4))
    assert {"charge", "discharge", "soc", "p"} <= set(labels)
    # names in scope and keywords
    labels = _complete(session, folder, MODEL, _at(MODEL, "buy[t] +", offset=0))
    assert {"demand", "buy", "price", "t", "T", "sum", "param"} <= set(labels)
    # units after a number
    labels = _complete(session, folder, MODEL, _at(MODEL, "10 MWh", offset=3))
    assert labels[:3] == ["kW", "MW", "GW"] and "MWh" in labels


def test_document_symbols(session: Session, folder: Path) -> None:
    u = session.open(folder / "model.qgl")
    syms = session.run(session.client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(lsp.TextDocumentIdentifier(u))))
    names = [(s.name, s.detail) for s in syms]
    assert names == [("T", "time set"), ("demand", "param [T]"), ("buy", "var (real) [t in T]"),
                     ("hub", "instance"), ("ess", "instance"),
                     ("balance", "constraint [t in T]"), ("cost", "objective")]
    ess = syms[4]
    assert (ess.selection_range.start.line, ess.selection_range.start.character) == \
        _at(MODEL, "ess")


def test_formatting(session: Session, folder: Path) -> None:
    messy = MODEL.replace("var buy[t in T]: MW in 0 .. 100", "var buy[t in T] :MW in 0..100")
    u = session.open(folder / "messy.qgl", messy)
    edits = session.run(session.client.text_document_formatting_async(
        lsp.DocumentFormattingParams(
            text_document=lsp.TextDocumentIdentifier(u),
            options=lsp.FormattingOptions(tab_size=2, insert_spaces=True))))
    assert len(edits) == 1 and edits[0].new_text == format_text(messy)
    assert "var buy[t in T]: MW in 0 .. 100" in edits[0].new_text


# ---- speed: the RTS-24 unit commitment example ------------------------------------------------

UC = ROOT / "examples" / "unit_commitment" / "uc.qgl"
# The issue asks for diagnostics within 300 ms of an edit. The check itself is held to that in
# CPU time (what it costs, whatever else shares the machine: the development machine measures
# a median of 0.12 s; benchmarks/lsp_latency.py prints the numbers). What the server adds
# (debounce 25 ms, JSON-RPC, publishing) is bounded against the same check run in this process,
# interleaved with the edits so both see the same machine load; the absolute wall-clock median
# allows for CI machines whose 2 cores are shared with other jobs.
CHECK_CPU_S = 0.3
OVERHEAD_S = 0.15
BUDGET_S = 2.0


def test_diagnostics_latency_on_the_uc_example(session: Session) -> None:
    text = UC.read_text(encoding="utf-8")
    u = session.open(UC, text)
    session.wait_diagnostics(u, version=1, timeout=120)
    timed_check(text, UC)  # warm: the grammar, the standard library, numpy
    times, direct, cpu = [], [], []
    edits = [(text.replace("param reserve = 10 %", f"param reserve = {11 + i} %"), False)
             for i in range(10)]
    edits.append((text.replace("reserve * demand[t]", "reserve * demand[t] * 1 MW"), True))
    for edited, breaks in edits:
        sent = session.change(u, edited)
        at, diags = session.wait_diagnostics(u, after=sent, version=session.versions[u])
        assert bool(diags) == breaks, diags
        if breaks:
            assert diags[0].severity == lsp.DiagnosticSeverity.Error
        times.append(at - sent)
        wall, used = timed_check(edited, UC)
        direct.append(wall)
        cpu.append(used)
    assert statistics.median(cpu) < CHECK_CPU_S, cpu
    lsp_median, check_median = statistics.median(times), statistics.median(direct)
    assert lsp_median < 1.5 * check_median + OVERHEAD_S, (times, direct)
    assert lsp_median < BUDGET_S, times


def test_an_untitled_buffer_is_checked(session: Session) -> None:
    u = "untitled:Untitled-1"
    session.versions[u] = 1
    session.client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(
        u, "qgl", 1, "time T = 1..3 step 1 h\nvar x[T] in 0 .. 1\nminimize sum(t in T) y[t]\n")))
    _, diags = session.wait_diagnostics(u, version=1)
    assert [(d.range.start.line, d.range.start.character, d.message) for d in diags] == [
        (2, 21, "unknown name 'y'")]


def test_shutdown_and_exit(session: Session) -> None:
    assert session.close() == 0
    session.closed = True  # type: ignore[attr-defined]


# ---- TCP ----------------------------------------------------------------------------------------

def test_tcp_transport() -> None:
    import asyncio
    import socket

    from pygls.lsp.client import LanguageClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "qgridlang.cli", "lsp", "--tcp",
                             f"127.0.0.1:{port}"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)

    async def talk() -> str:
        client = LanguageClient("qgl-test", "1")
        for _ in range(200):  # the server is listening once Python and pygls are loaded
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        result = await client.initialize_async(lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities()))
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
        return result.server_info.name

    try:
        assert asyncio.run(talk()) == "qglc-lsp"
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_a_bad_tcp_address_is_a_usage_error() -> None:
    r = subprocess.run([sys.executable, "-m", "qgridlang.cli", "lsp", "--tcp", "nowhere"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and "--tcp expects HOST:PORT" in r.stderr
