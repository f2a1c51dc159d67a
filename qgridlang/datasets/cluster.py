"""Run independent tasks on dask.distributed: an embedded LocalCluster by default (one
single-threaded worker process per core, or ``workers``), or an existing cluster's scheduler.

Each task's result is handed to ``on_result`` in the client as soon as it completes (that is
where results are saved), so an interrupted run loses only the tasks in flight. The embedded
cluster's processes are always closed, on errors and Ctrl-C too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from qgridlang.errors import BackendError, UsageError

Progress = Callable[[int, int], None]  # (done, total)


@contextmanager
def client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A dask ``Client``: connected to ``scheduler``, or to a new LocalCluster."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("running on dask needs dask.distributed",
                         hint="pip install 'dask[distributed]' (the classical extra)") from None
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be >= 1, got {workers}")
    cluster = None
    if scheduler:
        if workers is not None:
            raise UsageError("--workers sizes the embedded cluster; an existing cluster "
                             "(--scheduler) has the workers it has", hint="drop --workers")
        try:
            c = Client(scheduler, timeout=60)
        except (OSError, TimeoutError) as exc:
            raise BackendError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
    else:
        n = workers or os.cpu_count() or 1
        # processes, one thread each: HiGHS runs one thread per solve, and the checker holds
        # the GIL; a worker's memory limit is left to the machine
        # on the loopback interface only; no dashboard, and the scheduler's own HTTP routes
        # on a free port (its default, 8787, is taken by any other cluster running here)
        # (its log: errors only; a worker killed while the cluster closes is not news)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None, memory_limit=0,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                               silence_logs=logging.ERROR)
        c = Client(cluster)
    try:
        yield c
    finally:
        c.close()
        if cluster is not None:
            cluster.close()


def run(c: Any, fn: Callable[..., Any], shared: Any, tasks: Sequence[tuple[Any, ...]],
        on_result: Callable[[Any], None], progress: Progress | None = None,
        weights: Sequence[int] | None = None) -> None:
    """``fn(shared, *task)`` for every task on the cluster; ``shared`` is sent to each worker
    once. Results reach ``on_result`` in completion order; ``progress`` counts tasks, or the
    tasks' ``weights`` (samples per chunk)."""
    from dask.distributed import as_completed

    size = list(weights) if weights is not None else [1] * len(tasks)
    total = sum(size)
    if progress:
        progress(0, total)
    if not tasks:
        return
    # a list around it: dask would otherwise scatter a dict's or a dataclass's parts
    big = c.scatter([shared], broadcast=True)[0]
    futures = [c.submit(fn, big, *task, pure=False) for task in tasks]
    weight = {fut.key: w for fut, w in zip(futures, size, strict=True)}
    done = 0
    try:
        for fut in as_completed(futures):
            on_result(fut.result())
            done += weight[fut.key]
            if progress:
                progress(done, total)
    finally:
        for fut in futures:  # an error or Ctrl-C: nothing keeps running for nobody
            fut.cancel()
