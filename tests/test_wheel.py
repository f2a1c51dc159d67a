"""Build the wheel, install it into a fresh venv and run `qglc solve` outside the source tree."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_installed_wheel_solves_an_example(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(dist)], check=True, cwd=tmp_path)
    wheel = next(dist.glob("qgridlang-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True)
    # dependencies come from this interpreter's site-packages (no .pth processing, so the
    # editable install of the source tree stays invisible)
    env = {"PYTHONPATH": ":".join(site.getsitepackages()), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    work = tmp_path / "elsewhere"
    shutil.copytree(ROOT / "examples" / "risk", work)
    where = subprocess.run([str(py), "-c", "import qgridlang; print(qgridlang.__file__)"],
                           check=True, capture_output=True, text=True, env=env, cwd=work)
    assert where.stdout.startswith(str(env_dir)), where.stdout
    out = subprocess.run([str(env_dir / "bin" / "qglc"), "solve", "risk.qgl", "--json"],
                         capture_output=True, text=True, env=env, cwd=work)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "optimal" and result["feasible"]
    # the stdlib and the grammar ship inside the wheel
    check = subprocess.run([str(env_dir / "bin" / "qglc"), "check",
                            str(ROOT / "examples/microgrid/microgrid.qgl")],
                           capture_output=True, text=True, env=env, cwd=work)
    assert check.returncode == 0, check.stderr
    # every package ships: the estimation verb runs from the wheel (exact: no quantum stack)
    est = subprocess.run([str(env_dir / "bin" / "qglc"), "estimate", "risk.qgl", "--measure",
                          "cvar(cost, alpha = 90 %)", "--backend", "exact", "--json"],
                         capture_output=True, text=True, env=env, cwd=work)
    assert est.returncode == 0, est.stderr
    assert json.loads(est.stdout)["unit"] == "$"
