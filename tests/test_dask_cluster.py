"""The coalition sweep runs unchanged against an existing dask cluster (`--scheduler ADDRESS`).

A real ``dask scheduler`` process and two ``dask worker`` processes on the loopback interface,
started from the venv's console script; the benchmark script runs as a separate process, as a
user would run it, and its saved rows are checked. Everything is torn down with bounded waits.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent
DASK = Path(sys.executable).parent / "dask"
START_TIMEOUT = 60.0  # seconds for the scheduler to write its file and the workers to join


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate, wait (bounded), kill if it does not go."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _dask_command() -> list[str]:
    exe = DASK if DASK.exists() else shutil.which("dask")
    # dask[distributed] is a dev dependency: a missing console script is a broken install
    assert exe is not None, "the `dask` console script is not installed (pip install -e .[dev])"
    return [str(exe)]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    """A scheduler and two single-threaded workers on 127.0.0.1; yields the scheduler address."""
    dask = _dask_command()
    sched_file = tmp_path / "scheduler.json"
    env = dict(os.environ)
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        log = open(tmp_path / "scheduler.log", "wb")  # noqa: SIM115 (closed below)
        logs.append(log)
        procs.append(subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--dashboard-address", "127.0.0.1:0", "--no-show",
             "--scheduler-file", str(sched_file)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path))
        deadline = time.monotonic() + START_TIMEOUT
        while not sched_file.exists() or not sched_file.read_text().strip():
            if procs[0].poll() is not None or time.monotonic() > deadline:
                pytest.fail("the dask scheduler did not start:\n"
                            + (tmp_path / "scheduler.log").read_text())
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:"), address
        for i in range(2):
            log = open(tmp_path / f"worker{i}.log", "wb")  # noqa: SIM115
            logs.append(log)
            # the workers run in tmp_path, away from the repository: the benchmark must not
            # depend on a worker's working directory
            procs.append(subprocess.Popen(
                [*dask, "worker", address, "--nthreads", "1",
                 "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0",
                 "--no-nanny", "--local-directory", str(tmp_path / f"w{i}")],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path))
        _wait_for_workers(address, 2, deadline)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for log in logs:
            log.close()


def _wait_for_workers(address: str, n: int, deadline: float) -> None:
    from dask.distributed import Client

    with Client(address, timeout=START_TIMEOUT) as client:
        client.wait_for_workers(n, timeout=max(1.0, deadline - time.monotonic()))


def test_coalition_sweep_through_scheduler_address(cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "coalition.py"), "--scheduler", cluster,
         "--n", "4", "5", "--instances", "1", "--methods", "exact-milp", "gcsq-highs",
         "gcsq-random", "--reads", "5", "--exact-limit", "10", "--out", str(out)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
        env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads((out / "coalition_rows.json").read_text())
    assert sorted((r["n"], r["method"]) for r in rows) == [
        (n, m) for n in (4, 5) for m in ("exact-milp", "gcsq-highs", "gcsq-random")]
    assert all("error" not in r for r in rows), rows
    exact = {r["n"]: r["value"] for r in rows if r["method"] == "exact-milp"}
    for r in rows:
        assert r["seed"] == 0
        # GCS-Q's structure is feasible, so it never beats the exact clique partitioning
        assert r["value"] <= exact[r["n"]] + 1e-6, r
        if r["method"] == "exact-milp":
            assert r["optimal"] is True
        else:
            assert r["solves"] >= 1 and r["coalitions"] >= 1
    # the tasks ran on the cluster's workers, not in the client process
    hosts = {r["worker"] for r in rows}
    assert hosts and all(h.startswith("tcp://127.0.0.1:") for h in hosts), hosts
    assert (out / "coalition_quality.png").exists()
