"""Beasley's unconstrained binary quadratic instances (OR-Library, via BiqMac) as qgl models.

A ``bqpN-k.sparse`` file starts with ``n m``, then ``i j w`` lines (1-based, ``i <= j``, each
off-diagonal pair listed once). The instance minimises ``x'Qx`` with ``Q`` symmetric, that is
``sum_i w_ii x_i + sum_(i<j) 2 w_ij x_i x_j``; ``optimal_energy.txt`` holds the known optima.

``write_model`` writes the weights as a CSV (``i,j,w``) and a qgl model that reads them with
``param w[N, N] = csv(…, key = (i, j), column = "w", default = 0)``. Run as a script to solve
instances with a backend: ``python benchmarks/beasley.py bqp50-1 bqp100-1 --backend sa``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "benchdata" / "qubo" / "biqmac_beasley"

MODEL = """model {name} "Beasley {label}: minimise x'Qx over binaries (OR-Library / BiqMac)"
set N = 1..{n}
param w[N, N] = csv("{csv}", key = (i, j), column = "w", default = 0)
var x[N] binary
minimize energy: sum(i in N) w[i, i] * x[i]
                 + sum(i in N, j in N where i < j) 2 * w[i, j] * x[i] * x[j]
"""


def read_sparse(path: Path) -> tuple[int, np.ndarray]:
    """The size and the ``(i, j, w)`` rows (``i <= j``, 1-based) of a ``.sparse`` file."""
    with path.open(encoding="utf-8") as fh:
        n = int(fh.readline().split()[0])
        rows = np.loadtxt(fh, dtype=np.int64, ndmin=2)
    i, j = np.minimum(rows[:, 0], rows[:, 1]), np.maximum(rows[:, 0], rows[:, 1])
    return n, np.column_stack([i, j, rows[:, 2]])


def write_model(label: str, out_dir: Path, folder: Path = FOLDER) -> Path:
    """Write ``<label>.qgl`` and its weights CSV into ``out_dir``; return the model's path."""
    n, rows = read_sparse(folder / f"{label}.sparse")
    name = label.replace("-", "_")
    csv = out_dir / f"{name}_w.csv"
    body = "\n".join(f"{i},{j},{w}" for i, j, w in rows.tolist())
    csv.write_text(f"i,j,w\n{body}\n", encoding="utf-8")
    model = out_dir / f"{name}.qgl"
    model.write_text(MODEL.format(name=name, label=label, n=n, csv=csv.name), encoding="utf-8")
    return model


def optimal_energies(folder: Path = FOLDER) -> dict[str, float]:
    """``{"bqp50-1": -2098.0, …}`` from the folder's ``optimal_energy.txt``."""
    lines = (folder / "optimal_energy.txt").read_text(encoding="utf-8").split("\n")
    return {p[0]: float(p[1]) for p in (ln.split() for ln in lines) if len(p) == 2}


def main() -> None:
    from tempfile import TemporaryDirectory

    from qgridlang.checker import check_file
    from qgridlang.dispatcher import solve_model
    from qgridlang.registry import Options

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("labels", nargs="+")
    p.add_argument("--backend", default="sa")
    p.add_argument("--reads", type=int, default=100)
    p.add_argument("--sweeps", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    known = optimal_energies()
    with TemporaryDirectory() as tmp:
        for label in args.labels:
            start = time.perf_counter()
            checked = check_file(write_model(label, Path(tmp)))
            sol = solve_model(checked, args.backend,
                              Options(reads=args.reads, sweeps=args.sweeps, seed=args.seed))
            print(f"{label:10s} {sol.objective:10.0f}  known {known.get(label, float('nan')):10.0f}"
                  f"  {time.perf_counter() - start:6.2f} s")


if __name__ == "__main__":
    main()
