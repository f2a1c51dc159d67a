"""Hostile input: what a model may read, how big it may get, how deep it may nest, and what of
it reaches the terminal.

Each defect was seen in the real ``qglc`` process (a file echoed to stderr, a FIFO that blocks
forever, exit 70, 20 MB of stderr, minutes for 8,000 errors), so those cases run
``python -m qgridlang.cli`` in a subprocess; the rest call the checker directly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import qgridlang as qg
from qgridlang import limits
from qgridlang.checker import check_text
from qgridlang.cli import excerpt, render_error
from qgridlang.errors import ErrorCollector, QglError, QglErrors, Span, did_you_mean, hint_budget

SECRET = "qgl-secret-token-8d1f"


def qglc(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 120, memory_mb: int | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m qgridlang.cli …``; ``memory_mb`` caps its address space (a plain check maps
    about 300 MB), so an input that takes more ends in a MemoryError: exit 70."""
    def cap() -> None:
        if memory_mb is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))

    return subprocess.run([sys.executable, "-m", "qgridlang.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, preexec_fn=cap)


def errors_of(text: str, file: str = "m.qgl", **kw: object) -> list[QglError]:
    """The errors of ``text``; an absolute ``file`` is written, so data resolve beside it."""
    if os.path.isabs(file):
        Path(file).write_text(text, encoding="utf-8")
    with pytest.raises(QglErrors) as info:
        check_text(text, file, limits=limits.make(**kw))  # type: ignore[arg-type]
    return info.value.errors


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "units.csv").write_text("unit,cap\nu1,5\nu2,7\n", encoding="utf-8")
    return d


# ---- file access: csv() and import ------------------------------------------------------------
def test_csv_of_etc_passwd_is_refused_and_not_echoed(model_dir: Path) -> None:
    (model_dir / "m.qgl").write_text('set U = csv("/etc/passwd", key = "x")\n')
    proc = qglc("check", "m.qgl", cwd=model_dir)
    no_traceback(proc)
    assert proc.returncode == 1
    assert "m.qgl:1:9: error: data file '/etc/passwd' is outside the folders a model may " \
           "read" in proc.stderr
    assert "root:" not in proc.stderr and "/bin/" not in proc.stderr


def test_import_of_etc_passwd_is_refused_and_not_echoed(model_dir: Path) -> None:
    (model_dir / "m.qgl").write_text('import "/etc/passwd"\n')
    proc = qglc("check", "m.qgl", cwd=model_dir)
    no_traceback(proc)
    assert proc.returncode == 1
    assert "m.qgl:1:1: error: imported file '/etc/passwd' is outside" in proc.stderr
    assert "root:" not in proc.stderr


def test_proc_self_environ_is_refused_without_printing_the_environment(model_dir: Path
                                                                       ) -> None:
    (model_dir / "m.qgl").write_text(
        'set U = csv("/proc/self/environ", key = "x")\nimport "/proc/self/environ"\n')
    proc = qglc("check", "m.qgl", "--allow-read", "/", cwd=model_dir,
                env={"DWAVE_API_TOKEN": SECRET})
    no_traceback(proc)
    assert proc.returncode == 1
    # refused even when the user allows every folder: /proc is never a model's to read
    assert "is a system file; a model may not read it" in proc.stderr
    assert SECRET not in proc.stderr and SECRET not in proc.stdout


def test_dev_zero_is_refused_at_once(model_dir: Path) -> None:
    (model_dir / "m.qgl").write_text('set U = csv("/dev/zero", key = "x")\n')
    t0 = time.perf_counter()
    proc = qglc("check", "m.qgl", "--allow-read", "/dev", cwd=model_dir, timeout=60)
    assert time.perf_counter() - t0 < 60
    no_traceback(proc)
    assert proc.returncode == 1
    assert "data file '/dev/zero' is a system file" in proc.stderr


def test_a_fifo_is_refused_without_blocking(model_dir: Path) -> None:
    os.mkfifo(model_dir / "pipe.csv")
    os.mkfifo(model_dir / "pipe.qgl")
    (model_dir / "m.qgl").write_text('set U = csv("pipe.csv", key = "x")\n')
    (model_dir / "i.qgl").write_text('import "pipe.qgl"\n')
    for name, what in (("m.qgl", "data file"), ("i.qgl", "imported file")):
        proc = qglc("check", name, cwd=model_dir, timeout=60)  # TimeoutExpired if it blocks
        no_traceback(proc)
        assert proc.returncode == 1
        assert f"{what} 'pipe." in proc.stderr and "is a FIFO (named pipe)" in proc.stderr


def test_a_fifo_is_refused_in_process(model_dir: Path) -> None:
    os.mkfifo(model_dir / "pipe.csv")
    (err,) = errors_of('set U = csv("pipe.csv", key = "x")\n', str(model_dir / "m.qgl"))
    assert "is a FIFO" in err.message and (err.span.line, err.span.column) == (1, 9)


def test_a_symlink_escaping_the_folder_is_refused(model_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("unit,cap\nsecret_unit,1\n", encoding="utf-8")
    (model_dir / "link.csv").symlink_to(outside)
    (model_dir / "inside.csv").symlink_to(model_dir / "units.csv")
    file = str(model_dir / "m.qgl")
    (err,) = errors_of('set U = csv("link.csv", key = "unit")\n', file)
    assert "outside the folders a model may read" in err.message
    assert "it resolves to" in err.message and "secret_unit" not in err.message
    # a link that stays inside the folder is fine
    Path(file).write_text('set U = csv("inside.csv", key = "unit")\n', encoding="utf-8")
    assert check_text(Path(file).read_text(), file).flat.n == 0
    # a relative path that climbs out is refused
    (err,) = errors_of('set U = csv("../outside.csv", key = "unit")\n', file)
    assert "outside the folders" in err.message


def test_allow_read_admits_another_folder(model_dir: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "units.csv").write_text("unit,cap\na,1\nb,2\n", encoding="utf-8")
    (shared / "lib.qgl").write_text("param k = 3\n", encoding="utf-8")
    text = (f'set U = csv("{shared}/units.csv", key = "unit")\nimport "../shared/lib.qgl"\n'
            "param c[U] = k\n")
    (model_dir / "m.qgl").write_text(text, encoding="utf-8")
    refused = qglc("check", "m.qgl", cwd=model_dir)
    assert refused.returncode == 1 and "outside the folders" in refused.stderr
    allowed = qglc("check", "m.qgl", "--allow-read", shared, cwd=model_dir)
    assert allowed.returncode == 0, allowed.stderr
    # the API: allow_read=[...] on check, compile and solve
    with pytest.raises(QglErrors):
        qg.check(model_dir / "m.qgl")
    assert qg.check(model_dir / "m.qgl", allow_read=[shared]).flat.n == 0
    assert qg.compile(model_dir / "m.qgl", target="milp", allow_read=[str(shared)])


def test_model_text_uses_the_current_directory(model_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    text = 'set U = csv("units.csv", key = "unit")\nparam cap[U] = csv("units.csv", key = "unit")\n'
    monkeypatch.chdir(model_dir)
    assert qg.check(text).flat.n == 0
    monkeypatch.chdir(model_dir.parent)
    with pytest.raises(QglErrors) as info:
        qg.check(text.replace('"units.csv"', '"model/../../x.csv"'))
    assert "outside the folders" in info.value.errors[0].message


def test_the_standard_library_stays_readable(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # far from the package's folder
    m = qg.check("use stdlib\ntime T = 1..2 step 1 h\nbus b\n")
    assert m.flat.n == 0


def test_read_limit_refuses_a_file_just_over_it(model_dir: Path) -> None:
    mb = 1024 / 2**20  # a 1 KiB limit, given in MiB
    rows = "unit,cap\n" + "".join(f"u{i},1\n" for i in range(100))
    head = rows.encode()[:1000]
    head = head[:head.rfind(b"\n") + 1]
    (model_dir / "at.csv").write_bytes(head + b"#" * (1024 - len(head)))  # exactly the limit
    (model_dir / "over.csv").write_bytes(head + b"#" * (1025 - len(head)))  # one byte over
    file = str(model_dir / "m.qgl")
    (err,) = errors_of('set U = csv("over.csv", key = "unit")\n', file, max_read_mb=mb)
    assert err.message.endswith("over.csv' is 1025 bytes; the read limit is 1024 bytes")
    assert "--max-read-mb" in (err.hint or "") and "QGL_MAX_READ_MB" in (err.hint or "")
    Path(file).write_text('set U = csv("at.csv", key = "unit")\n', encoding="utf-8")
    m = check_text(Path(file).read_text(), file, limits=limits.make(max_read_mb=mb))
    assert m.flat.n == 0
    (model_dir / "m.qgl").write_text('set U = csv("over.csv", key = "unit")\n')
    proc = qglc("check", "m.qgl", cwd=model_dir, env={"QGL_MAX_READ_MB": str(mb)})
    assert proc.returncode == 1 and "is 1025 bytes; the read limit is 1024 bytes" in proc.stderr
    proc = qglc("check", "m.qgl", "--max-read-mb", "1", cwd=model_dir,
                env={"QGL_MAX_READ_MB": str(mb)})
    assert proc.returncode == 0, proc.stderr


def test_the_model_file_itself_is_read_up_to_the_limit() -> None:
    proc = qglc("check", "/dev/zero", "--max-read-mb", "1", timeout=60)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "'/dev/zero' is larger than 1 MiB; the read limit is 1 MiB" in proc.stderr


def test_non_utf8_csv_and_import_are_located_errors(model_dir: Path) -> None:
    (model_dir / "bad.csv").write_bytes(b"unit,cap\nu1,5\nu\xff2,7\n")
    (model_dir / "bad.qgl").write_bytes(b"param k = 1\n# caf\xe9\n")
    (model_dir / "m.qgl").write_text('set U = csv("bad.csv", key = "unit")\n'
                                     'import "bad.qgl"\n')
    proc = qglc("check", "m.qgl", cwd=model_dir)
    no_traceback(proc)
    assert proc.returncode == 1
    assert "m.qgl:2:1: error: imported file " in proc.stderr
    assert "bad.qgl' is not UTF-8 text (byte 0xe9 at line 2, column 6)" in proc.stderr
    (model_dir / "m.qgl").write_text('set U = csv("bad.csv", key = "unit")\n')
    proc = qglc("check", "m.qgl", cwd=model_dir)
    assert proc.returncode == 1, proc.stderr
    assert "m.qgl:1:9: error: data file " in proc.stderr
    assert "bad.csv' is not UTF-8 text (byte 0xff at line 3, column 2)" in proc.stderr


def test_messages_show_cells_and_headers_of_allowed_files_only_clipped(model_dir: Path) -> None:
    long = "h" * 500
    (model_dir / "wide.csv").write_text(f"unit,{long},\x1b[31mred\nu1,1,2\n", encoding="utf-8")
    file = str(model_dir / "m.qgl")
    (err,) = errors_of('set U = csv("wide.csv", key = "x")\n', file)
    assert err.message.startswith("wide.csv: no column 'x' (columns: unit, hhhh")
    assert long not in err.message and "\x1b" not in err.message and "\\x1b[31mred" in \
        err.message


# ---- size limits --------------------------------------------------------------------------------
def test_a_billion_element_range_is_refused_at_once() -> None:
    t0 = time.perf_counter()
    (err,) = errors_of("set S = 1..1000000000\n")
    assert time.perf_counter() - t0 < 5
    assert err.message == ("the range 1..1000000000 would have 1e9 elements; the limit is 1e7")
    assert (err.span.line, err.span.column) == (1, 9) and "--max-size" in (err.hint or "")


def test_a_cube_of_columns_is_refused_at_the_declaration() -> None:
    (err,) = errors_of("set A = 1..2000\nvar x[A, A, A] binary\n")
    assert err.message == "var x[A, A, A] would have 8.0e9 columns; the limit is 1e7"
    assert (err.span.line, err.span.column) == (2, 1)


def test_a_sum_over_1e5_by_1e5_is_refused() -> None:
    (err,) = errors_of("set B = 1..100000\nvar y[B] in 0 .. 1\n"
                       "minimize sum(i in B, j in B) y[i]\n")
    assert err.message == "the sum over [B, B] would have 1e10 terms; the limit is 1e7"
    assert (err.span.line, err.span.column) == (3, 10)


def test_the_running_count_of_evaluated_combinations_is_limited() -> None:
    # each sum alone is small; together they evaluate 100 x 100 = 1e4 bindings
    text = ("set A = 1..100\nvar x[A] in 0 .. 1\n"
            "constraint c[i in A]: sum(j in A) x[j] <= i\n")
    assert check_text(text, "m.qgl").flat.m == 100
    (err,) = errors_of(text, max_size=5000)
    assert err.message.startswith("the model would evaluate more than 5000 index combinations")
    assert (err.span.line, err.span.column) == (3, 23)


def test_a_product_of_two_long_sums_is_refused() -> None:
    (err,) = errors_of("set A = 1..5000\nvar x[A] in 0 .. 1\n"
                       "minimize (sum(i in A) x[i]) * (sum(i in A) x[i])\n")
    assert err.message == "this product would have 2.5e7 quadratic terms; the limit is 1e7"


def test_max_size_raises_the_limit() -> None:
    text = "set A = 1..400\nvar x[A, A] binary\n"
    (err,) = errors_of(text, max_size=100_000)
    assert err.message == "var x[A, A] would have 1.6e5 columns; the limit is 1e5"
    assert check_text(text, "m.qgl", limits=limits.make(max_size=160_000)).flat.n == 160_000
    with pytest.raises(QglErrors):
        qg.check("set S = 1..20\n", max_size=10)
    assert qg.check("set S = 1..20\n", max_size=20).flat.n == 0
    with pytest.raises(qg.UsageError):
        qg.check("set S = 1..20\n", max_size=0)


def test_unary_encoding_of_a_billion_values_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "enc.qgl"
    path.write_text("var s integer in 0 .. 1e9\nminimize s\nquantum {\n"
                    "  encode s as unary\n}\n", encoding="utf-8")
    t0 = time.perf_counter()
    proc = qglc("compile", path, "--target", "qubo", timeout=120)
    assert time.perf_counter() - t0 < 120
    no_traceback(proc)
    assert proc.returncode == 1
    assert (f"{path}:4:3: error: the QUBO encoding of 's' (as unary) would have 1e9 bits; the "
            "limit is 1e7") in proc.stderr
    # the default binary encoding of the same variable is 30 bits
    assert qg.compile(path.read_text().replace("unary", "binary"), target="qubo")


def test_a_dense_qubo_penalty_is_refused() -> None:
    text = ("set S = 1..5000\nvar x[S] binary\nconstraint c: sum(i in S) x[i] <= 3\n"
            "minimize sum(i in S) x[i]\n")
    with pytest.raises(QglError) as info:
        qg.compile(text, target="qubo")
    assert info.value.message == ("the QUBO penalty of constraint c would have 1.2e7 quadratic "
                                  "terms; the limit is 1e7")
    assert info.value.span is not None and info.value.span.line == 3
    assert qg.compile(text, target="qubo", max_size=20_000_000)


def test_size_errors_exit_1_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "big.qgl"
    path.write_text("set S = 1..1000000000\nset A = 1..2000\nvar x[A, A, A] binary\n")
    proc = qglc("check", path)
    no_traceback(proc)
    assert proc.returncode == 1
    assert f"{path}:1:9: error: the range 1..1000000000 would have 1e9 elements" in proc.stderr
    assert f"{path}:3:1: error: var x[A, A, A] would have 8.0e9 columns" in proc.stderr
    assert "raise it with --max-size N" in proc.stderr
    bad = qglc("check", path, "--max-size", "0")
    assert bad.returncode == 2 and "--max-size" in bad.stderr


def test_sci_formats_sizes() -> None:
    assert [limits.sci(x) for x in (12, 99_999, 1e7, 8e9, 2.5e7, 99.96e6, 1.2e6)] == \
        ["12", "99999", "1e7", "8.0e9", "2.5e7", "1.0e8", "1.2e6"]


# ---- flat long sums, deep nesting ---------------------------------------------------------------
def test_ten_thousand_term_sums_check_fine_and_fast() -> None:
    n = 10_000
    text = ("param a = " + " + ".join(["1"] * n) + "\n"
            "param b = " + " - ".join(["2"] * n) + "\n"
            f"set S = 1..{n}\nvar x[S] in 0 .. 1\n"
            "minimize " + " + ".join(f"{i % 5 + 1} * x[{i}]" for i in range(1, n + 1)) + "\n"
            "constraint c: " + " + ".join(f"x[{i}]" for i in range(1, n + 1)) + " <= 5\n"
            "param p = " + " * ".join(["1.0001"] * n) + "\n"
            "param q = if " + " and ".join(["a > 0"] * n) + " then 1 else 0\n")
    t0 = time.perf_counter()
    m = check_text(text, "long.qgl")
    elapsed = time.perf_counter() - t0
    assert elapsed < 60, elapsed  # about 5 s on the development machine
    assert m.flat.n == n and m.flat.m == 1
    assert m.flat.A.nnz == n and m.flat.c.sum() == sum(i % 5 + 1 for i in range(1, n + 1))


def test_a_long_sum_costs_linear_time() -> None:
    """A sum of n variables costs O(n), not O(n^2) (copying the running total per term)."""
    def seconds(n: int) -> float:
        text = (f"set S = 1..{n}\nvar x[S] in 0 .. 1\n"
                "minimize " + " + ".join(f"x[{i}]" for i in range(1, n + 1)) + "\n")
        from qgridlang.parser import parse

        statements = parse(text, "sum.qgl")  # warm, and not what is measured
        assert statements
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            check_text(text, "sum.qgl")
            best = min(best, time.perf_counter() - t0)
        return best

    small, large = seconds(1_500), seconds(12_000)
    assert large < 20 * small, (small, large)  # 8x the terms: ~8x the time; O(n^2) is ~64x


def test_long_sums_keep_their_units_and_locations() -> None:
    n = 3000
    text = "param a = " + " + ".join(["1 MW"] * n) + " + 2 h\n"
    (err,) = errors_of(text)
    assert err.message.startswith("cannot add")
    assert (err.span.line, err.span.column) == (1, 11)  # the whole sum up to the bad term
    assert err.span.end_column == len(text)  # ends after `2 h`
    text = "param a = " + " + ".join(["1e300"] * n) + " * 1e300\n"
    (err,) = errors_of(text)
    assert "overflows" in err.message


def test_a_long_else_if_chain_checks() -> None:
    n = 2000
    text = "param k = 7\nparam a = " + "".join(f"if k == {i} then {i} else " for i in range(n)) \
        + "-1\n"
    m = check_text(text, "chain.qgl")
    assert m.flat.n == 0


DEEP = {
    "power": lambda n: "1^" * n + "1",
    "negation": lambda n: "-(" * n + "1" + ")" * n,
    "if": lambda n: "(if 1 > 0 then " * n + "1" + " else 0)" * n,
    "call": lambda n: "abs(" * n + "1" + ")" * n,
    "parentheses": lambda n: "(1 + " * n + "1" + ")" * n,
}


def test_a_model_of_too_many_tokens_is_refused_before_parsing(tmp_path: Path) -> None:
    """Parsing takes about 1 KB per token: 5 million tokens (a 10 MB file) would be 5 GB."""
    path = tmp_path / "tokens.qgl"
    path.write_text("param k = 1\nparam a = " + "1 + " * 2_500_000 + "1\n", encoding="utf-8")
    t0 = time.perf_counter()
    proc = qglc("check", path, timeout=120, memory_mb=1024)
    assert time.perf_counter() - t0 < 120
    no_traceback(proc)
    assert proc.returncode == 1
    assert re.search(r"tokens\.qgl:2:\d+: error: the model text has more than 5\.0e5 tokens "
                     r"\(names, numbers, symbols\); the limit is 5\.0e5", proc.stderr)
    # the limit is a twentieth of --max-size; comments do not count
    text = "# " + "word " * 10_000 + "\nparam a = " + " + ".join(["1"] * 2000) + "\n"
    (err,) = errors_of(text, max_size=20_000)
    assert err.message.startswith("the model text has more than 1000 tokens")
    assert check_text(text, "m.qgl", limits=limits.make(max_size=100_000)).flat.n == 0


@pytest.mark.parametrize("kind", sorted(DEEP))
def test_500_deep_nesting_is_a_located_error(kind: str) -> None:
    text = "param a = " + DEEP[kind](500) + "\n"
    (err,) = errors_of(text)
    assert err.message == f"expression nested more than {limits.MAX_DEPTH} levels deep"
    assert err.span.line == 1 and 11 < err.span.column < len(text)


@pytest.mark.parametrize("kind", sorted(DEEP))
def test_nesting_just_under_the_limit_checks_here_and_in_a_thread(kind: str) -> None:
    """No RecursionError at the deepest accepted nesting, even with pytest's deeper stack."""
    n = 90
    text = "param a = " + DEEP[kind](n) + "\n"
    assert check_text(text, "deep.qgl").flat.n == 0
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(check_text(text, "deep.qgl")))
    t.start()
    t.join()
    assert len(out) == 1


def test_500_deep_nesting_exits_1_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "deep.qgl"
    path.write_text("param a = " + DEEP["power"](500) + "\nparam b = " + DEEP["if"](500) + "\n")
    proc = qglc("check", path)
    no_traceback(proc)
    assert proc.returncode == 1
    assert proc.stderr.count("nested more than 100 levels deep") == 1  # parsing stops there


# ---- error output: escaped, clipped, capped, linear ---------------------------------------------
def test_control_characters_are_escaped_on_the_terminal(tmp_path: Path) -> None:
    path = tmp_path / "esc.qgl"
    path.write_bytes(b'set S = {"a\x1b[2Jb"}\nparam p[S] = {x: 1}\nparam q = 1 \x00 2\n')
    proc = qglc("check", path)
    no_traceback(proc)
    assert proc.returncode == 1
    assert "\x1b" not in proc.stderr and "\x00" not in proc.stderr
    assert "unexpected character '\\x00'" in proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("     3 |"))
    caret = proc.stderr.splitlines()[proc.stderr.splitlines().index(line) + 1]
    assert line[caret.index("^"):].startswith("\\x00")  # the caret under the escape


def test_bidi_overrides_are_escaped() -> None:
    err = QglError("unknown name 'a\u202eb'", None)
    assert "\u202e" not in render_error(err) and "\\u202e" in render_error(err)


def test_a_ten_megabyte_line_gives_a_short_excerpt(tmp_path: Path) -> None:
    long = "b" * 10_000_000
    for text, column in ((f"param a = {long} @ 1\n", 10_000_012),
                         (f"param a = @ {long}\n", 11)):
        path = tmp_path / "long.qgl"
        path.write_text(text, encoding="utf-8")
        proc = qglc("check", path, timeout=300, memory_mb=1024)  # 1.3 GB before
        no_traceback(proc)
        assert proc.returncode == 1
        assert len(proc.stderr) < 1000, len(proc.stderr)  # 20 MB before
        assert f"long.qgl:1:{column}: error: unexpected character '@'" in proc.stderr
        lines = proc.stderr.splitlines()
        src = next(ln for ln in lines if ln.startswith("     1 | "))
        caret = lines[lines.index(src) + 1]
        assert src[caret.index("^")] == "@"
        assert ("…" in src[:10]) == (column > 100) and src.endswith("…") == (column < 100)


@pytest.mark.parametrize(("line", "column", "width"), [
    ("x" * 50, 10, 3), ("y" * 1000 + "TARGET" + "z" * 1000, 1001, 6), ("q" * 300, 301, 1),
    ("数据\t+ \x1b\x00 oops", 9, 4), ("a" * 10_000 + "😀" * 200 + "HERE", 10_201, 4),
])
def test_excerpt_keeps_the_caret_under_its_column(line: str, column: int, width: int) -> None:
    import unicodedata

    text, caret = excerpt(line, column, width)

    def cols(s: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)

    assert cols(text) <= 122
    at = caret.index("^")
    # the display column of the caret is the display width of the text before the target
    target = line[column - 1:column - 1 + width].replace("\t", " ")
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode()
                    for c in target) if target else ""
    prefix_width, i = 0, 0
    while prefix_width < at and i < len(text):
        prefix_width += cols(text[i])
        i += 1
    assert prefix_width == at and text[i:].startswith(shown[:5])


def test_eight_thousand_errors_are_capped_and_fast(tmp_path: Path) -> None:
    path = tmp_path / "many.qgl"
    path.write_text("".join(f"param p{i} = undefined{i} + 1\n" for i in range(8000)))
    t0 = time.perf_counter()
    proc = qglc("check", path)
    elapsed = time.perf_counter() - t0
    no_traceback(proc)
    assert proc.returncode == 1 and elapsed < 60, elapsed  # 78 s before; about 11 s now
    assert proc.stderr.count(": error: unknown name") == 50
    assert "… and 7950 more errors (--max-errors 8000 shows them all)" in proc.stderr
    assert proc.stderr.rstrip().endswith("8000 errors")
    few = qglc("check", path, "--max-errors", "3")
    assert few.stderr.count(": error: ") == 3 and "and 7997 more errors" in few.stderr


def test_error_collection_is_linear() -> None:
    from qgridlang.gcpause import paused

    def collect(n: int) -> float:
        # the algorithm's cost, best of 3 with the cyclic GC paused: its passes over 100k live
        # error objects (and a loaded CI machine) made this flaky, not the collector's lookups
        best = float("inf")
        for _ in range(3):
            c = ErrorCollector()
            with paused():
                t0 = time.perf_counter()
                for i in range(n):
                    c.add(QglError(f"e{i}", Span("f", i + 1, 1)))
                    c.add(QglError(f"e{i}", Span("f", i + 1, 1)))  # a duplicate is dropped
                best = min(best, time.perf_counter() - t0)
            assert len(c.errors) == n
        return best

    small, large = collect(5_000), collect(50_000)
    assert large < 2.0 and large < 40 * max(small, 1e-3)  # 10x the errors, not 100x the time
    c = ErrorCollector()
    c.errors.append(QglError("direct", None))  # callers may extend the list themselves
    c.add(QglError("direct", None))
    assert len(c.errors) == 1


def test_hints_are_budgeted_per_check() -> None:
    names = [f"name{i}" for i in range(20_000)]
    with hint_budget():
        hints = [did_you_mean("name1x", names) for _ in range(100)]
    assert hints[0] == "did you mean 'name1'?"
    assert hints[-1] is None  # 100 x 20,000 comparisons exceed the budget
    assert did_you_mean("name1x", names) == "did you mean 'name1'?"  # outside a check: always


# ---- a few dozen hostile inputs through the real process ----------------------------------------
HOSTILE = [
    "set S = 1..1e12\n", "var x[1..100000, 1..100000]\n", "param a = 1e400\n",
    "param a = " + "(" * 5000 + "1" + ")" * 5000 + "\n", "param a = " + "-" * 3000 + "1\n",
    'import "/dev/zero"\n', 'import "/proc/self/environ"\n', 'import "."\n', 'import ""\n',
    'set U = csv("/dev/null", key = "x")\n', 'set U = csv("", key = "x")\n',
    'set U = csv("/", key = "x")\n', 'set U = csv("\x1b", key = "x")\n',
    "param a = 1 \x1b[2J\x07 + 2\n", "\x00" * 100, "param a = " + "1 + " * 20000 + "\n",
    "time T = 1..1000000 step 1 s\nvar x[T, T]\n", "var x: " + "MW*" * 2000 + "MW\n",
    "set A = 1..3000\nparam p[i in A, j in A] = i * j\n",
    "var x integer in 0 .. 1e300\nquantum { encode x as onehot }\n",
    "param a = " + "if 1 > 0 then " * 300 + "1" + " else 0" * 300 + "\n",
    "set S = 1..3\nscenarios S = sample(seed = 1) { d[i in 1..10000000] ~ normal(0, 1) }\n",
    "expr e = " + "e + " * 100 + "1\n", "param a = 2 ^ 2 ^ 2 ^ 2 ^ 2 ^ 2 ^ 2\n",
    "\ufeff\u202eparam a = 1\n", "param a = sum(i in 1..10000000) sum(j in 1..10) i\n",
]


def test_hostile_inputs_through_the_cli(tmp_path: Path) -> None:
    """One process checks them all (each file reported, none crashes the run)."""
    paths = []
    for i, text in enumerate(HOSTILE):
        paths.append(tmp_path / f"h{i}.qgl")
        paths[-1].write_text(text, encoding="utf-8")
    t0 = time.perf_counter()
    proc = qglc("check", *paths, "--max-size", "2000000", timeout=300, memory_mb=1024)
    assert time.perf_counter() - t0 < 300
    no_traceback(proc)
    assert proc.returncode == 1
    for p in paths:
        assert f"{p}: ok" in proc.stdout or f"{p}:" in proc.stderr, p.read_text()[:80]
    assert len(proc.stderr) < 50_000, len(proc.stderr)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", proc.stderr)
    # a unit of 2,000 factors is refused by the parser, not by Python's stack
    assert re.search(rf"{re.escape(str(paths[17]))}:1:\d+: error: expression nested more than",
                     proc.stderr)
