"""Every snippet of the README and of every documentation page (``docs/**/*.md``) runs: a
snippet a user copies must work as printed.

Fenced blocks are classified by their info string:

- ``qgl``: checked by the real checker, inside the context (declarations it relies on, data
  files) that ``QGL_CONTEXTS`` gives for it, keyed by the snippet's first line. A qgl snippet
  without a context fails, so a new snippet cannot go untested.
- ``bash``: every command is run as a real process from a copy of the examples. The set-up
  commands (install, test) are what ``.ci/run`` runs; cloud backends must fail clearly (exit 3)
  without credentials.
- ``python``: executed as a script in the same folder.
- ``text``: output, synopses and diagrams; ``json``: the solve document, whose keys are compared
  with a real ``qglc solve --json`` output. Any other (or no) info string is an error.

A bash or python snippet that appears word for word on two pages (the quick start is on the
README and on the site's home page) runs once.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import qgridlang as qg

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
# the README and every page of the documentation site (not the hooks that generate pages)
PAGES = [README, *sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)]
HERE = Path(__file__).resolve().parent / "readme"
KINDS = {"qgl", "bash", "python", "text", "json"}
CLOUD_BACKENDS = ("hybrid", "hybrid_cqm", "ibm")


@dataclass(frozen=True)
class Snippet:
    page: str  # the file, relative to the repository root
    kind: str
    line: int  # the line of the opening fence
    body: str

    @property
    def first(self) -> str:
        """The first line without its comment (the key of a qgl snippet's context)."""
        line = self.body.strip().splitlines()[0] if self.body.strip() else ""
        return re.sub(r"\s+#.*$", "", line).strip()

    def __str__(self) -> str:
        return f"{self.page}:{self.line} ({self.kind}: {self.first[:40]})"


def snippets(path: Path) -> list[Snippet]:
    text = path.read_text(encoding="utf-8")
    page = path.relative_to(ROOT).as_posix()
    out = []
    for m in re.finditer(r"^```([^\n]*)\n(.*?)^```[ \t]*$", text, re.S | re.M):
        out.append(Snippet(page, m.group(1).strip(), text[: m.start()].count("\n") + 1,
                           m.group(2)))
    return out


ALL = [s for page in PAGES for s in snippets(page)]


def _of(kind: str) -> list[Snippet]:
    """The snippets of one kind; a bash or python snippet repeated word for word runs once."""
    out, seen = [], set()
    for s in ALL:
        if s.kind != kind or (kind in ("bash", "python") and s.body in seen):
            continue
        seen.add(s.body)
        out.append(s)
    return out


def test_every_block_says_what_it_is() -> None:
    unknown = [str(s) for s in ALL if s.kind not in KINDS]
    assert not unknown, f"fenced blocks need one of {sorted(KINDS)} as info string: {unknown}"
    assert len(ALL) >= 10


def test_every_page_is_read() -> None:
    """The pages of the site are found (a moved docs/ folder would leave them untested)."""
    found = {s.page for s in ALL}
    assert "README.md" in found and len({p for p in found if p.startswith("docs/")}) >= 20


def test_the_readme_links_resolve() -> None:
    """The README's relative links (into docs/, read on GitHub) name files that exist; the
    site's own links are checked by ``mkdocs build --strict`` (tests/test_docs_build.py)."""
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in links if "://" not in t]
    assert len(local) >= 20
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_fences_pair_up() -> None:
    """A fence the pattern above cannot match (indented, or with ~~~) would hide a snippet."""
    for path in PAGES:
        text = path.read_text(encoding="utf-8")
        opened = len(re.findall(r"^[ \t]*(?:```|~~~)", text, re.M))
        assert opened == 2 * len(snippets(path)), (
            f"{path.relative_to(ROOT)}: a fenced block is indented or uses ~~~ (unchecked)")


# ---- qgl snippets ------------------------------------------------------------------------------

T4 = "time T = 1..4 step 1 h\n"
UNITS_PARAMS = (
    'set G = {u1, u2, u3}\n'
    'param pmax[G]: MW, pmin[G]: MW, b[G]: $/MWh, a[G]: $/h, ramp_up[G]: MW/h, up[G]'
    ' = csv("data/units.csv", key = "unit")\n'
)

# first line of a snippet -> (prelude, postlude): declarations it relies on, before and after it
QGL_CONTEXTS: dict[str, tuple[str, str]] = {
    'model unit_commitment "24-hour day-ahead commitment"': (
        "", T4 + "heat_pump hp { pmax = 5 kW }\nminimize sum(t in T) hp.power[t] * 1 $/kWh * dt\n"),
    "time T = 1..96 step 15 min": ("", ""),
    'model lfc_readme "single-area load-frequency control with 10 MW / 5 MWh of batteries"': (
        "", ""),
    'model two_day_commitment "a peaker committed hour by hour by a learned rule"': ("", ""),
    "param reserve = 10 %": (T4 + "set G = {u1, u2, u3}\nset A = 1..3\n", ""),
    "var u[G, T] binary": (T4 + UNITS_PARAMS + "param cap: MW = 100\n", ""),
    "expr fuel[t in T] = sum(g in G) (a[g] * u[g, t] * dt + b[g] * p[g, t] * dt)": (
        T4 + UNITS_PARAMS
        + 'param demand[T]: MW = csv("data/load.csv", key = "hour", column = "demand_mw")\n'
        + "var u[G, T] binary\nvar v[G, T] binary\nvar s[G, T] binary\n"
        + "var p[G, T]: MW in 0 .. 300\nvar shed[T]: MW in 0 .. 50\n", ""),
    "component battery(energy: kWh, power: kW, efficiency = 95 %, soc_min = 10 %,": (
        "", "time T = 1..3 step 1 h\nbus b0\nbattery ess at b0 { energy = 100 kWh; power = 50 kW }"
            "\nminimize ess.wear\n"),
    "bus ac": (
        "use stdlib\n" + T4 + "set PV = {a1, a2}\n"
        + "param rating[PV]: kW = {a1: 300, a2: 200}\n"
        + "param pv_pu[T] = {1: 0, 2: 0.4, 3: 0.8, 4: 0.2}\n"
        + "param demand[T]: kW = {1: 400, 2: 450, 3: 500, 4: 420}\n", ""),
    "network flow = lindistflow": (
        "use stdlib\n" + T4 + "set B = 1..3\nset L = 1..2\n"
        + "param fb[L] = {1: 1, 2: 2}\nparam tb[L] = {1: 2, 2: 3}\n"
        + "param r[L]: ohm = {1: 0.5, 2: 0.8}\nparam x[L]: ohm = {1: 0.3, 2: 0.5}\n"
        + "param pd[B]: kW = {1: 0, 2: 300, 3: 200}\nparam qd[B]: kvar = {1: 0, 2: 100, 3: 80}\n"
        + "param shape[T] = {1: 0.6, 2: 0.8, 3: 1, 4: 0.7}\n"
        + "param pv_profile[T]: kW = {1: 0, 2: 100, 3: 200, 4: 50}\n"
        + "param price[T]: $/MWh = {1: 40, 2: 60, 3: 80, 4: 50}\n", ""),
    "use communities": (
        T4 + "param price[T]: $/MWh = {1: 40, 2: 40, 3: 120, 4: 120}\n"
        + "param load[T]: MW = {1: 0.2, 2: 0.3, 3: 0.3, 4: 0.2}\n"
        + "param pv[T]: MW = {1: 0, 2: 0.1, 3: 0.1, 4: 0}\n", ""),
    "set S = 1..1000": (
        T4 + "param demand[T]: MW = {1: 100, 2: 120, 3: 130, 4: 110}\n"
        + "param pv_forecast[T]: MW = {1: 0, 2: 20, 3: 40, 4: 10}\n"
        + "param price[T]: $/MWh = {1: 30, 2: 35, 3: 50, 4: 40}\nparam lambda = 0.5\n", ""),
    'set S = csv("data/scenarios.csv", key = "s")': (
        T4 + "param price: $/MWh = 40\n", ""),
    "quantum {": (
        T4 + "set G = {u1, u2}\nvar p[G, T]: MW in 0 .. 100\nvar s integer in 0 .. 3\n"
        + "constraint balance[t in T]: sum(g in G) p[g, t] == 60 MW\n"
        + "minimize sum(g in G, t in T) 10 $/MWh * p[g, t] * dt + 1 $ * s\n", ""),
}


def _workdir(tmp_path: Path) -> Path:
    shutil.copytree(HERE / "data", tmp_path / "data")
    shutil.copytree(HERE / "components", tmp_path / "components")
    return tmp_path


@pytest.mark.parametrize("snippet", _of("qgl"), ids=str)
def test_qgl_snippet_checks(snippet: Snippet, tmp_path: Path) -> None:
    assert snippet.first in QGL_CONTEXTS, (
        f"{snippet}: no context in tests/test_readme.py QGL_CONTEXTS; add the declarations it "
        "relies on so the snippet is checked")
    prelude, postlude = QGL_CONTEXTS[snippet.first]
    model = _workdir(tmp_path) / "snippet.qgl"
    model.write_text(prelude + snippet.body + postlude, encoding="utf-8")
    try:
        qg.check(model)
    except qg.QglErrors as exc:
        pytest.fail(f"{snippet} does not check:\n{exc}")


# ---- shell and Python snippets -----------------------------------------------------------------



def _commands(body: str) -> list[str]:
    """One command per line; backslash continuations joined; comments dropped."""
    out, pending = [], ""
    for raw in body.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _strip_comment(cmd: str) -> str:
    return shlex.join(shlex.split(cmd, comments=True))


def _env(home: Path) -> dict[str, str]:
    """The user's environment without vendor credentials (a cloud line must fail clearly)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DWAVE_", "QISKIT_IBM", "IBM_QUANTUM"))}
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture(scope="module")
def examples_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder like the repository root for a user: examples/ and benchmarks/ (copies)."""
    base = tmp_path_factory.mktemp("readme_run")
    shutil.copytree(ROOT / "examples", base / "examples")
    (base / "home").mkdir()
    return base


def _is_what_ci_runs(argv: list[str]) -> None:
    """The set-up commands are not run here (the suite would run itself): .ci/run runs them."""
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()
          if ln.strip() and not ln.lstrip().startswith("#")]
    if argv[0] == "pip":
        assert '-e ".[dev]"' in shlex.join(argv).replace("'", '"')
        assert "-c" in argv and argv[argv.index("-c") + 1] == "constraints.txt"
        assert any(ln.endswith('pip install -e ".[dev]"') for ln in ci)
        assert any("PIP_CONSTRAINT" in ln and "constraints.txt" in ln for ln in ci)
    else:
        assert ci[-1] == "python3 -m pytest", "the README's test command is .ci/run's last step"


def _needs_the_cloud(argv: list[str]) -> bool:
    """A Leap or IBM Quantum run: without credentials it must fail clearly (exit 3)."""
    if "--backend" not in argv:
        return False
    backend = argv[argv.index("--backend") + 1]
    return backend in CLOUD_BACKENDS or (backend == "dwave" and "mock=true" not in argv)


@pytest.mark.parametrize("snippet", _of("bash"), ids=str)
def test_bash_snippet_runs(snippet: Snippet, examples_copy: Path) -> None:
    cmds = [_strip_comment(c) for c in _commands(snippet.body)]
    assert cmds, f"{snippet} has no command"
    for cmd in cmds:
        argv = shlex.split(cmd)
        if argv[:2] == ["pip", "install"] or argv == ["python3", "-m", "pytest"]:
            _is_what_ci_runs(argv)
            continue
        assert argv[0] in ("qglc", "python"), f"{snippet}: unexpected command {cmd!r}"
        if argv[0] == "python":
            argv[0] = sys.executable
        cloud = _needs_the_cloud(argv)
        proc = subprocess.run(argv, cwd=examples_copy, env=_env(examples_copy / "home"),
                              capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        assert "Traceback" not in proc.stderr, f"{cmd}\n{proc.stderr}"
        if cloud:
            assert proc.returncode == 3, f"{cmd} without credentials: exit {proc.returncode}"
            assert "credential" in proc.stderr.lower() or "token" in proc.stderr.lower()
            continue
        assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
        if "--json" in argv:
            json.loads(proc.stdout)


@pytest.mark.parametrize("snippet", _of("python"), ids=str)
def test_python_snippet_runs(snippet: Snippet, examples_copy: Path) -> None:
    script = examples_copy / f"snippet_{snippet.line}.py"
    script.write_text(snippet.body, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=examples_copy,
                          env=_env(examples_copy / "home"), capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{snippet}: exit {proc.returncode}\n{proc.stderr[-3000:]}"


# ---- the JSON document -------------------------------------------------------------------------

def _shape(doc: object, depth: int = 0) -> object:
    """Keys of objects down to the entries of variables/expressions/duals (not their labels)."""
    if isinstance(doc, dict) and depth < 2:
        return {k: _shape(v, depth + 1) for k, v in doc.items()}
    return type(doc).__name__ if not isinstance(doc, int | float) or isinstance(doc, bool) \
        else "number"


@pytest.mark.parametrize("snippet", _of("json"), ids=str)
def test_json_snippet_has_the_shape_of_a_real_solve(snippet: Snippet, tmp_path: Path) -> None:
    shown = json.loads(re.sub(r"//[^\n]*", "", snippet.body))
    model = tmp_path / "tiny.qgl"
    model.write_text(
        "model tiny\ntime T = 1..2 step 1 h\nset G = {u1, u2}\n"
        "param demand[T]: MW = {1: 120, 2: 80}\nparam price[G]: $/MWh = {u1: 10, u2: 20}\n"
        "var p[G, T]: MW in 0 .. 100\n"
        "constraint balance[t in T]: sum(g in G) p[g, t] == demand[t]\n"
        "expr fuel[t in T] = sum(g in G) price[g] * p[g, t] * dt\n"
        "minimize cost: sum(t in T) fuel[t]\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "qgridlang", "solve", str(model), "--json"],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    real = json.loads(proc.stdout)
    assert set(shown) == set(real), f"{snippet}: JSON keys differ from qglc solve --json"
    for key in ("variables", "expressions", "duals"):
        for name, entry in shown[key].items():
            assert set(entry) == set(next(iter(real[key].values()))), f"{key}.{name}"
    assert set(shown["violations"][0]) <= {"constraint", "amount", "unit", "side", "message"}
    assert _shape(real["timings"]).keys() >= _shape(shown["timings"]).keys()


def test_the_error_shown_is_what_qglc_prints(tmp_path: Path) -> None:
    """The sample error shown (docs/guide/cli.md) is the checker's real output for such a
    model."""
    (shown,) = [s for s in _of("text") if s.first.startswith("bad.qgl:6:35: error:")]
    bad = tmp_path / "bad.qgl"
    bad.write_text("model bad\ntime T = 1..2 step 1 h\nset G = {u1, u2}\n"
                   "param pmax[G]: MW = {u1: 100, u2: 50}\n\n"
                   "var p[g in G, t in T]: MW in 0 .. pmx[g]\n"
                   "minimize sum(g in G, t in T) p[g, t]\n",
                   encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "qgridlang", "check", "bad.qgl"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    assert proc.stderr.startswith(shown.body), proc.stderr
