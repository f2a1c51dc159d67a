"""The Python front door and the shared machinery behind the CLI: source and override
arguments, option validation (Options, OPTIONS declarations, did-you-mean), atomic artifact
writes through every target's exporter, the import cache, and the CLI's error documents for
interrupts and internal errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import qgridlang as qg
from qgridlang import checker
from qgridlang.atomic import write_atomically
from qgridlang.cli import build_parser, main
from qgridlang.errors import BackendError, UsageError
from qgridlang.registry import BACKENDS, TARGETS, Options, _load

ROOT = Path(__file__).resolve().parent.parent
COALITION = ROOT / "examples/coalition/bipartition.qgl"
TEXT = """model api
param cap = 10
var x integer in 0 .. cap
var y in 0 .. 10
constraint c: x + y <= 7.5
maximize f: 3 * x + 2 * y
"""


# --------------------------------------------------------------------------- sources


@pytest.mark.parametrize("source", [None, 42, 3.5, b"model m", ["model m"]])
def test_a_source_that_is_not_text_or_a_path_is_refused(source: Any) -> None:
    with pytest.raises(qg.SourceTypeError) as err:
        qg.check(source)
    assert isinstance(err.value, TypeError) and isinstance(err.value, UsageError)
    assert type(source).__name__ in err.value.message


@pytest.mark.parametrize("source", ["x/RISK.QGL", "missing.qgl", "data/model_v2", "MODEL.Qgl"])
def test_a_path_like_string_that_does_not_exist_is_a_missing_file(source: str) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        qg.check(source)


def test_path_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "model.txt"  # an existing file is a path whatever its suffix
    model.write_text(TEXT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert qg.check("model.txt").flat.n == 2
    assert qg.check(model).file == str(model)
    with pytest.raises(qg.QglErrors):  # one line with spaces: model text, parsed as such
        qg.check("model m var x in 0 ..")


# --------------------------------------------------------------------------- overrides


def test_overrides_take_numbers_and_strings() -> None:
    import numpy as np

    # x <= cap binds: the optimum is 3 cap + 2 (7.5 - cap) = 15 + cap
    for cap in (2, 2.0, "3", np.int64(4), np.float32(1.0)):
        sol = qg.solve(TEXT, overrides={"cap": cap})
        assert sol.objective == pytest.approx(15 + float(cap))


@pytest.mark.parametrize("bad", [{"cap": [1]}, {"cap": True}, {"cap": None}, {1: 2}, [("cap", 1)]])
def test_bad_overrides_are_usage_errors(bad: Any) -> None:
    with pytest.raises(UsageError):
        qg.check(TEXT, overrides=bad)


# --------------------------------------------------------------------------- options


def test_api_keyword_options_are_checked() -> None:
    with pytest.raises(UsageError) as err:
        qg.solve(TEXT, time_limt=5)
    assert "did you mean 'time_limit'" in str(err.value)
    with pytest.raises(UsageError) as err:
        qg.solve(COALITION, "sa", penalty_retnue=2)
    assert "did you mean 'penalty_retune'" in str(err.value)
    with pytest.raises(UsageError, match="does not use reads"):
        qg.solve(TEXT, "highs", reads=10)
    with pytest.raises(UsageError, match="unknown option 'duals' for target 'qubo'"):
        qg.compile(COALITION, "qubo", duals=False)
    # a common option given as a backend option lands in its field (one place to read it)
    opts = Options(extra={"reads": "7", "p": 2})
    assert opts.reads == 7 and opts.extra == {"p": 2}
    with pytest.raises(UsageError, match="given twice"):
        Options(reads=5, extra={"reads": 6})
    # yes/no options are booleans: `duals=no` used to be a truthy string
    assert Options(extra={"duals": "no", "mock": "ON"}).extra == {"duals": False, "mock": True}
    assert "duals" not in qg.solve(TEXT, duals="no").info
    # the feasibility loop's knobs act when solving: compile refuses them
    with pytest.raises(UsageError, match="applies when solving"):
        qg.compile(COALITION, "qubo", penalty_retune=2)
    with pytest.raises(UsageError, match="unknown option 'penalty_retune' for target 'qaoa'"):
        qg.compile(COALITION, "qaoa", penalty_retune=2)


@pytest.mark.parametrize("kw", [
    {"reads": 0}, {"sweeps": -5}, {"time_limit": -1}, {"time_limit": float("nan")},
    {"time_limit": float("inf")}, {"mip_gap": -1e-3}, {"threads": 0}, {"seed": 2**32},
    {"reads": 2.5}, {"reads": True}, {"extra": {"penalty_retune": -1}},
    {"extra": {"penalty_factor": 1.0}}, {"extra": {"cvar_alpha": "abc"}},
    {"extra": {"embedding_tries": 0}}, {"extra": {"duals": "maybe"}}, {"extra": {"mock": 2}},
])
def test_bad_numbers_are_usage_errors(kw: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        Options(**kw)


def test_every_option_a_module_reads_is_declared() -> None:
    """Each ``options.extra.get("key")`` in a target or backend module is in the OPTIONS of a
    class of that module (a key read but not declared would be refused by the dispatcher)."""
    import re

    _load()
    declared = {k for c in [*TARGETS.values(), *BACKENDS.values()] for k in c.OPTIONS}
    modules = sorted((ROOT / "qgridlang" / "targets").glob("*.py"))
    modules += sorted((ROOT / "qgridlang" / "backends").glob("*.py"))
    read = set()
    for path in modules:
        text = path.read_text(encoding="utf-8")
        read |= set(re.findall(r"(?:extra|\bx)\.get\(\s*\"(\w+)\"", text))
        read |= set(re.findall(r"(?:extra|\bx)\[\s*\"(\w+)\"\s*\]", text))
    common = {"reads", "seed", "sweeps", "time_limit"}  # moved to Options' fields
    assert read - common - declared == set()
    assert {"penalty_retune", "chain_strength", "device", "duals", "noise"} <= declared


# --------------------------------------------------------------------------- atomic writes


@pytest.mark.parametrize(("target", "name"), [
    ("milp", "m.lp"), ("milp", "m.mps"), ("qubo", "m.bqm.json"), ("qubo", "m.coo"),
    ("qubo", "m.lp"), ("qaoa", "m.qasm"), ("qaoa", "m.json"), ("cqm", "m.lp"),
    ("cqm", "m.cqm"), ("dwave", "m.embedding.json"), ("dwave", "m.coo")])
def test_every_export_goes_through_the_atomic_writer(tmp_path: Path, target: str, name: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import qgridlang.atomic as atomic

    calls: list[Path] = []
    real = atomic.write_atomically

    def spy(path: Path, write: Any) -> None:
        calls.append(Path(path))
        real(path, write)

    monkeypatch.setattr("qgridlang.dispatcher.write_atomically", spy)
    options = {"topology": "chimera4"} if target == "dwave" else {}
    out = tmp_path / name
    out.write_text("old")  # replaced as a whole
    qg.compile(COALITION, target, output=out, **options)
    assert calls == [out]
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert out.stat().st_size > 3 and out.read_bytes() != b"old"


def test_api_compile_into_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        qg.compile(TEXT, "milp", output=tmp_path / "nodir" / "m.lp")
    with pytest.raises(UsageError, match="writes .lp or .mps files"):
        qg.compile(TEXT, "milp", output=tmp_path / "m.txt")
    assert list(tmp_path.iterdir()) == []


def test_a_writer_that_writes_nothing_fails_and_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "m.mps"
    out.write_text("GOOD")
    with pytest.raises(BackendError, match="wrote nothing"):
        write_atomically(out, lambda tmp: None)  # HiGHS's writeModel failing silently
    with pytest.raises(KeyboardInterrupt):
        def interrupted(tmp: Path) -> None:
            tmp.write_text("PART")
            raise KeyboardInterrupt

        write_atomically(out, interrupted)
    assert out.read_text() == "GOOD" and [p.name for p in tmp_path.iterdir()] == ["m.mps"]


# --------------------------------------------------------------------------- import cache


def test_editing_an_imported_file_is_seen(tmp_path: Path) -> None:
    lib = tmp_path / "lib.qgl"
    main_file = tmp_path / "main.qgl"
    lib.write_text("param cap = 4\n", encoding="utf-8")
    main_file.write_text('model m\nimport "lib.qgl"\nvar x in 0 .. cap\nmaximize f: x\n',
                         encoding="utf-8")
    first = qg.check(main_file)
    assert first.flat.ub[0] == 4.0
    again = qg.check(main_file)  # unchanged: the cached statements are reused
    assert again.flat.ub[0] == 4.0
    text = main_file.read_text(encoding="utf-8")
    errors = checker.ErrorCollector()
    with checker.using(checker.current().with_model_dir(tmp_path)):
        assert checker._load_cached(text, str(main_file), errors) is \
            checker._load_cached(text, str(main_file), errors)
    lib.write_text("param cap = 7\n", encoding="utf-8")  # same size, maybe the same mtime
    assert qg.check(main_file).flat.ub[0] == 7.0


# --------------------------------------------------------------------------- CLI documents


def test_interrupt_and_internal_error_documents(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("qgridlang.checker.check_file", interrupted)
    assert main(["solve", str(COALITION), "--json"]) == 130
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "interrupted" and doc["exit_code"] == 130

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("qgridlang.checker.check_file", broken)
    assert main(["solve", str(COALITION), "--json"]) == 70
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"][0]["kind"] == "internal_error" and "boom" in doc["errors"][0]["message"]


def test_every_option_of_every_subcommand_has_help_with_a_default() -> None:
    import argparse

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subs.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            help_text = sub.format_help()
            assert action.help and ("default" in action.help or "required" in action.help), \
                (name, action.option_strings)
            assert action.option_strings[-1] in help_text
