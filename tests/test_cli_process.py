"""The real ``qglc`` process: one JSON document on stdout (errors too), exit codes, atomic
writes of artifacts (missing folder, a folder, a path under a file, /proc, SIGTERM mid-write),
option validation, --version / --help / targets --json, python -m qgridlang, GCS-Q's and the
penalty retune's JSON, a closed pipe.

Each defect here was in the process (stdout contents, exit statuses, signals), so the tests run
``python -m qgridlang`` in a subprocess rather than calling ``main`` under capsys.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qgridlang.strategies.gcsq import read_weights, structure_value

ROOT = Path(__file__).resolve().parent.parent
MICROGRID = ROOT / "examples/microgrid/microgrid.qgl"
QUBO = ROOT / "examples/microgrid_qubo/microgrid_qubo.qgl"
COALITION = ROOT / "examples/coalition/bipartition.qgl"
ERROR_KEYS = {"kind", "message", "file", "line", "column", "end_line", "end_column", "hint"}

SMALL = """model small
var x integer in 0 .. 10
var y in 0 .. 10
constraint c: x + y <= 7.5
maximize f: 3 * x + 2 * y
"""
BROKEN = """model broken
var x in 0 .. 10
constraint c: x + nope <= 7.5
minimize f: x + alsonope
"""


def qglc(*args: str | Path, cwd: Path | None = None, timeout: float = 300
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qgridlang", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def one_document(proc: subprocess.CompletedProcess[str]) -> Any:
    """stdout must be exactly one JSON document (json.loads refuses anything around it)."""
    return json.loads(proc.stdout)


def error_doc(proc: subprocess.CompletedProcess[str], code: int) -> dict[str, Any]:
    assert proc.returncode == code, proc.stderr
    doc = one_document(proc)
    assert doc["status"] == "error" and doc["exit_code"] == code
    assert doc["count"] == len(doc["errors"]) >= 1
    for err in doc["errors"]:
        assert set(err) == ERROR_KEYS
    assert "Traceback" not in proc.stderr
    return doc


@pytest.fixture
def models(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "small.qgl").write_text(SMALL, encoding="utf-8")
    (tmp_path / "broken.qgl").write_text(BROKEN, encoding="utf-8")
    return {"small": tmp_path / "small.qgl", "broken": tmp_path / "broken.qgl"}


# --------------------------------------------------------------------------- --json errors


def test_model_errors_are_one_json_document(models: dict[str, Path]) -> None:
    doc = error_doc(qglc("solve", models["broken"], "--backend", "sa", "--json"), 1)
    assert doc["count"] == 2
    first = doc["errors"][0]
    assert first["kind"] == "unknown_name" and "nope" in first["message"]
    assert (first["file"], first["line"], first["column"]) == (str(models["broken"]), 3, 19)


def test_check_of_several_files_prints_one_document(models: dict[str, Path]) -> None:
    proc = qglc("check", models["small"], models["broken"], "--json")
    assert proc.returncode == 1
    doc = one_document(proc)
    assert [f["ok"] for f in doc["files"]] == [True, False]
    assert doc["files"][0]["model"]["name"] == "small" and doc["files"][0]["variables"] == 2
    assert len(doc["files"][1]["errors"]) == 2 and doc["count"] == 2
    ok = qglc("check", models["small"], models["small"], "--json")
    assert ok.returncode == 0 and one_document(ok)["status"] == "ok"
    missing = qglc("check", models["small"], models["small"].with_name("gone.qgl"), "--json")
    assert error_doc(missing, 2)["errors"][0]["kind"] == "usage_error"


@pytest.mark.parametrize("argv", [
    ["solve", "--json"],                                   # FILE missing
    ["solve", "MODEL", "--json", "--no-such-flag"],        # unknown flag
    ["solve", "MODEL", "--json", "--reads", "many"],       # not an integer
    ["solve", "MODEL", "--json", "--strategy", "greedy"],  # not a choice
])
def test_argparse_usage_errors_are_json_too(models: dict[str, Path], argv: list[str]) -> None:
    argv = [str(models["small"]) if a == "MODEL" else a for a in argv]
    doc = error_doc(qglc(*argv), 2)
    assert doc["errors"][0]["kind"] == "usage_error"


def test_backend_error_is_json_with_exit_3(models: dict[str, Path]) -> None:
    env_free = {k: v for k, v in os.environ.items() if not k.startswith("DWAVE")}
    proc = subprocess.run([sys.executable, "-m", "qgridlang", "solve", str(models["small"]),
                           "--backend", "hybrid_cqm", "--json"], capture_output=True, text=True,
                          env={**env_free, "DWAVE_CONFIG_FILE": os.devnull}, timeout=300)
    doc = error_doc(proc, 3)
    assert doc["errors"][0]["kind"] == "backend_error"


# --------------------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("where", ["nodir/sub/out.mps", "folder", "afile.txt/out.mps",
                                   "/proc/out.mps"])
def test_a_write_that_cannot_happen_is_a_usage_error(tmp_path: Path, where: str) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile.txt").write_text("not a folder\n")
    proc = qglc("compile", MICROGRID, "--target", "milp", "-o", where, "--json", cwd=tmp_path)
    doc = error_doc(proc, 2)
    assert doc["errors"][0]["kind"] == "usage_error" and "cannot write" in \
        doc["errors"][0]["message"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt", "folder"]
    assert not any((tmp_path / "folder").iterdir())


def test_qubo_output_into_a_missing_folder_exits_2(tmp_path: Path) -> None:
    proc = qglc("compile", QUBO, "--target", "qubo", "-o", "nodir/m.bqm.json", cwd=tmp_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert not (tmp_path / "nodir").exists()


SLOW_EXPORT = """
import sys, time
from pathlib import Path
from qgridlang.targets.milp import MilpTarget

def slow_export(self, artifact, path):
    with open(path, "w") as fh:
        fh.write("PARTIAL\\n")
        fh.flush()
        Path(sys.argv[1]).write_text("writing")  # tell the test the write has begun
        time.sleep(60)

MilpTarget.export = slow_export
from qgridlang.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_sigterm_mid_write_leaves_the_old_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "uc.mps"
    target.write_text("GOOD OLD CONTENT\n")
    marker = tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_EXPORT, str(marker), "compile",
                             str(MICROGRID), "--target", "milp", "-o", str(target), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [p for p in tmp_path.iterdir() if ".tmp." in p.name]  # mid-write: the temp exists
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert json.loads(out)["status"] == "terminated"
    assert target.read_text() == "GOOD OLD CONTENT\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["started", "uc.mps"]


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(("flags", "says"), [
    (["--reads", "0"], "reads"), (["--sweeps", "-5"], "sweeps"),
    (["--time-limit", "-1"], "time_limit"), (["--time-limit", "nan"], "time_limit"),
    (["--mip-gap", "-0.5"], "mip_gap"), (["--threads", "0"], "threads"),
    (["--penalty-retune", "-1"], "penalty_retune"), (["--seed", "-3"], "seed"),
    (["--option", "penalty_scal=0.5"], "did you mean 'penalty_scale'"),
    (["--option", "p=0"], "option 'p'"),
    (["--mip-gap", "0.01"], "does not use mip_gap"),
])
def test_bad_options_are_usage_errors(flags: list[str], says: str) -> None:
    proc = qglc("solve", COALITION, "--backend", "sa", *flags, "--json")
    doc = error_doc(proc, 2)
    text = doc["errors"][0]["message"] + " " + str(doc["errors"][0]["hint"])
    assert says in text


def test_misspelt_option_on_compile_and_exact_size_refusal(tmp_path: Path) -> None:
    proc = qglc("compile", QUBO, "--target", "qubo", "--option", "inequalty=unbalanced")
    assert proc.returncode == 2 and "did you mean 'inequality'" in proc.stderr
    proc = qglc("solve", QUBO, "--backend", "exact", "--json")
    assert "at most 24" in error_doc(proc, 2)["errors"][0]["message"]


# --------------------------------------------------------------------------- CLI surface


def test_version_help_targets_and_python_m(tmp_path: Path) -> None:
    from qgridlang import __version__

    proc = qglc("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"qglc {__version__}"
    for sub in ("check", "compile", "solve", "targets"):
        proc = qglc(sub, "--help")
        assert proc.returncode == 0 and "default" in proc.stdout, sub
    solve_help = qglc("solve", "--help").stdout
    assert "dwave, exact, highs, hybrid" in " ".join(solve_help.split())  # backends, listed
    doc = one_document(qglc("targets", "--json"))
    names = {b["name"]: b for b in doc["backends"]}
    assert "penalty_retune" in {t["name"]: t for t in doc["targets"]}["qubo"]["options"]
    assert names["highs"]["common_options"] == ["time_limit", "seed", "mip_gap", "threads"]
    assert "chain_strength" in names["dwave"]["options"]


def test_closed_pipe_exits_quietly(tmp_path: Path, models: dict[str, Path]) -> None:
    """`qglc … --json | head -c 100`: the reader leaves early; no traceback, exit 141."""
    files = [str(models["small"])] * 400  # a document far larger than a pipe's buffer
    proc = subprocess.Popen([sys.executable, "-m", "qgridlang", "check", *files, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100).startswith(b"{")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err and "Error" not in err


# --------------------------------------------------------------------------- solve JSON shapes


def test_gcsq_json_has_the_shape_of_a_solve_result(tmp_path: Path) -> None:
    proc = qglc("solve", COALITION, "--strategy", "gcsq", "--backend", "sa", "--seed", "1",
                "--json")
    assert proc.returncode == 0, proc.stderr
    doc = one_document(proc)
    plain = one_document(qglc("solve", COALITION, "--backend", "sa", "--seed", "1", "--json"))
    assert set(plain) <= set(doc)  # every key a solve result has
    assert doc["status"] == "feasible" and doc["feasible"] and doc["backend"] == "sa"
    labels, w = read_weights(COALITION.parent / "data")
    # the structure value, computed independently from the CSV weights
    assert doc["objective"] == pytest.approx(structure_value(doc["coalitions"], labels, w))
    assert doc["objective"] == pytest.approx(structure_value([labels], labels, w) + doc["gain"])
    assert sorted(a for c in doc["coalitions"] for a in c) == sorted(labels)


def test_retune_summary_describes_the_round_the_plan_came_from() -> None:
    proc = qglc("solve", QUBO, "--backend", "sa", "--seed", "1", "--option",
                "penalty_scale=0.001", "--penalty-retune", "4", "--json")
    doc = one_document(proc)
    info = doc["info"]
    rounds = info["penalty_retune"]
    assert doc["feasible"] and proc.returncode == 0
    summary = info["sampleset"]
    assert summary["round"] == len(rounds) >= 1  # retuning happened; the plan is its last round
    assert summary["feasible_rate"] > 0 and summary["objective"] == pytest.approx(
        doc["objective"])
    last = {k: v for k, v in rounds[-1].items() if k not in ("round", "weights")}
    assert {k: summary[k] for k in last} == last
    assert info["sampleset_initial"]["feasible_rate"] == 0.0


# --------------------------------------------------------------------------- threads


THREADS = """
import sys, threading
import qgridlang as qg
text = sys.argv[1]
out = []
def run():
    try:
        out.append(qg.solve(text, "exact").status.value)
    except Exception as exc:
        out.append(f"{type(exc).__name__}: {exc}")
threads = [threading.Thread(target=run) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(",".join(out))
"""


def test_threads_solving_in_a_fresh_process() -> None:
    """The registry loads once, completely, before any thread looks a backend up (it used to
    fail 4 runs in 5 with `unknown backend (backends: )`)."""
    text = textwrap.dedent("""
        model pick
        var x[1..3] binary
        constraint one: x[1] + x[2] + x[3] == 1
        maximize v: x[1] + 2 * x[2] + 3 * x[3]
    """)
    for _ in range(5):
        proc = subprocess.run([sys.executable, "-c", THREADS, text], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == ",".join(["optimal"] * 4), proc.stdout


def test_structure_value_helper_agrees_with_weights() -> None:
    """The pair weights read off the objective are the CSV's (sanity of the GCS-Q value)."""
    from qgridlang.checker import check_file
    from qgridlang.strategies.gcsq import pair_weights

    checked = check_file(COALITION)
    w, note = pair_weights(checked, "x")
    labels, csv_w = read_weights(COALITION.parent / "data")
    block = checked.flat.block_of("x")
    order = [labels.index(k[0]) for k in block.keys]
    assert w is not None and note == ""
    assert np.allclose(w, csv_w[np.ix_(order, order)])
