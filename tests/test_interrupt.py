"""Ctrl-C during a long solve: the solver stops within moments and `qglc` prints the best plan
found so far with status 'interrupted', exiting 130. Real processes, a real SIGINT, on a model
that takes minutes to prove optimal (a 200-item, 20-constraint knapsack)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qgridlang import interrupt
from qgridlang.checker import check_file
from qgridlang.dispatcher import solve_model
from qgridlang.registry import Options
from qgridlang.results import Status

KNAPSACK = """model knap "multidimensional knapsack: an incumbent at once, a proof takes minutes"
set I = csv("items.csv", key = "item")
set K = csv("dims.csv", key = "dim")
param value[I] = csv("items.csv", key = "item", column = "value")
param cap[K] = csv("dims.csv", key = "dim", column = "cap")
param w[I, K] = csv("weights.csv", key = (item, dim), column = "w")
var x[I] binary
constraint fit[k in K]: sum(i in I) w[i, k] * x[i] <= cap[k]
maximize total: sum(i in I) value[i] * x[i]
"""


def write_knapsack(folder: Path, n: int = 200, m: int = 20) -> Path:
    rng = np.random.default_rng(7)
    weight = rng.integers(10, 100, size=(m, n))
    value = rng.integers(10, 100, size=n) + weight.mean(axis=0).round().astype(int)
    cap = weight.sum(axis=1) // 2
    (folder / "items.csv").write_text(
        "item,value\n" + "".join(f"i{j},{value[j]}\n" for j in range(n)), encoding="utf-8")
    (folder / "dims.csv").write_text(
        "dim,cap\n" + "".join(f"k{k},{cap[k]}\n" for k in range(m)), encoding="utf-8")
    (folder / "weights.csv").write_text("item,dim,w\n" + "".join(
        f"i{j},k{k},{weight[k, j]}\n" for j in range(n) for k in range(m)), encoding="utf-8")
    model = folder / "knap.qgl"
    model.write_text(KNAPSACK, encoding="utf-8")
    return model


def interrupt_solve(model: Path, *args: str, running: str, settle: float = 2.0
                    ) -> tuple[int, str, list[str], float]:
    """Start ``qglc solve model --verbose …``; once stderr shows ``running`` (the solver has
    started) and ``settle`` seconds more have passed, send SIGINT. Returns the exit status,
    stdout, the stderr lines and the seconds from SIGINT to exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "qgridlang.cli", "solve", str(model), "--verbose", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=model.parent,
        # a shell may start background jobs with SIGINT ignored, and Python keeps that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if line.startswith(running):
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(180), f"the solver never started: {lines[-5:]}"
        time.sleep(settle)
        assert proc.poll() is None, "the solve finished before it could be interrupted"
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.wait(60)
        seconds = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    return proc.returncode, out, lines, seconds


@pytest.mark.parametrize("backend, args, running", [
    ("highs", [], "highs: "),
    ("sa", ["--reads", "100000"], "sa: sampling"),
])
def test_ctrl_c_prints_the_best_plan_so_far(tmp_path: Path, backend: str, args: list[str],
                                            running: str) -> None:
    model = write_knapsack(tmp_path)
    code, out, lines, seconds = interrupt_solve(model, "--backend", backend, "--json", *args,
                                                running=running)
    assert code == 130, lines[-5:]
    assert seconds < 5, f"took {seconds:.1f} s to stop"
    doc = json.loads(out)
    assert doc["status"] == "interrupted" and "interrupted (Ctrl-C)" in doc["message"]
    x = doc["variables"]["x"]
    assert doc["objective"] is not None and len(x.get("values", x)) == 200
    if backend == "highs":  # a MIP incumbent is feasible; a sample need not be
        assert doc["feasible"] and doc["objective"] > 0


def test_ctrl_c_table_output(tmp_path: Path) -> None:
    model = write_knapsack(tmp_path)
    code, out, lines, seconds = interrupt_solve(model, running="highs: ")
    assert code == 130 and seconds < 5
    assert "interrupted" in out and "best plan found so far" in out


def solve_interrupted_after(checked: Any, seconds: float, backend: str = "highs") -> Any:
    """A solve that interrupt.request() (what the first Ctrl-C does) stops after ``seconds``;
    it must return within 30 s."""
    timer = threading.Timer(seconds, interrupt.request)
    timer.start()
    started = time.perf_counter()
    try:
        sol = solve_model(checked, backend, Options(time_limit=120))
    finally:
        timer.cancel()
    assert time.perf_counter() - started < 30
    return sol


def test_requested_interrupt_stops_highs_in_process(tmp_path: Path) -> None:
    """interrupt.request() (what the first Ctrl-C does) stops a solve run from Python."""
    sol = solve_interrupted_after(check_file(write_knapsack(tmp_path)), 2.0)
    assert sol.status == Status.INTERRUPTED and sol.feasible and sol.objective is not None


def test_requested_interrupt_stops_outer_approximation(tmp_path: Path) -> None:
    """A convex MIQP (outer approximation): the round in progress stops, its incumbent is
    polished and returned."""
    model = write_knapsack(tmp_path)
    model.write_text(KNAPSACK.replace(
        "constraint fit[k in K]: sum(i in I) w[i, k] * x[i] <= cap[k]",
        "var over[K] in 0 .. 50\n"
        "constraint fit[k in K]: sum(i in I) w[i, k] * x[i] <= cap[k] + over[k]").replace(
        "maximize total: sum(i in I) value[i] * x[i]",
        "maximize total: sum(i in I) value[i] * x[i] - sum(k in K) 0.5 * over[k]^2"),
        encoding="utf-8")
    sol = solve_interrupted_after(check_file(model), 3.0)
    assert sol.status == Status.INTERRUPTED, sol.message
    assert "outer-approximation round" in sol.message and sol.feasible
