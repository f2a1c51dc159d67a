"""mkdocs hook: every example as mathematics. For each folder of ``examples/`` a page
``formulations/<folder>.md`` holds the formulation of each of its models, rendered at build time
by ``qgridlang.formulation.render(path, style="markdown")`` (what ``qglc show MODEL --markdown``
prints), so the page is the model as it is checked today. For the examples that solve in a
second or two, the page also shows the plot of the solved plan (``Solution.plot()``, what
``qglc plot`` draws). A model that does not check, render, solve or plot fails the build,
naming the model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# folder -> the model solved (HiGHS) and plotted on its page: the examples that solve quickly
# (the unit commitment takes 20 s and the DN-EC operator 30 s: not at every build)
PLOTTED = {"microgrid": "microgrid.qgl", "microgrid_qubo": "microgrid_qubo.qgl",
           "risk": "risk.qgl", "communities": "residential.qgl",
           "networks": "case33bw/case33bw.qgl"}


def example_models() -> dict[str, list[Path]]:
    """Folder name -> its models (``examples/networks`` holds one model per sub-folder)."""
    out: dict[str, list[Path]] = {}
    for folder in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        models = sorted(folder.rglob("*.qgl"))
        if models:
            out[folder.name] = models
    return out


def _deeper(text: str) -> str:
    """Headings one level down (outside fenced and display-math blocks): each model's title
    nests under the page's."""
    out, fence = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and re.match(r"^#+ ", line):
            line = "#" + line
        out.append(line)
    return "\n".join(out)


def plot_png(model: Path) -> bytes:
    """The plot of ``model``'s HiGHS plan as PNG bytes."""
    import tempfile

    import qgridlang as qg

    try:
        sol = qg.solve(model, backend="highs")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "plan.png"
            sol.plot(out)
            return out.read_bytes()
    except Exception as exc:
        raise RuntimeError(f"docs: solving and plotting {model} failed: "
                           f"{type(exc).__name__}: {exc}") from exc


def plot_section(folder: str, uri: str) -> list[str]:
    return ["## The solved plan", "",
            f"`examples/{folder}/{PLOTTED[folder]}` solved by HiGHS and drawn by "
            "`Solution.plot()` when the site was built (`qglc plot RESULT.json -o plan.png` "
            "draws the same from `qglc solve MODEL --json`):", "",
            f"![the plan of {PLOTTED[folder]}]({uri})", ""]


def formulation_page(folder: str, models: list[Path], plot: str | None = None) -> str:
    from qgridlang.formulation import render

    out = [f"# Formulations: `examples/{folder}/`", "",
           "Rendered when the site was built by `qglc show MODEL --markdown` (the Python API: "
           "`qgridlang.formulation.render(MODEL, style=\"markdown\")`): the checked model's sets, "
           "parameters with their units, variables with their domains, each indexed constraint "
           "with its domain, the objective and the risk measures written out. Component "
           "instances are folded (each component's formulation once, in its own names); "
           "`--expand` writes every instance's rows. The walk-through: "
           f"[the tutorial](../tutorials/{folder}.md).", ""]
    if plot is not None:
        out += plot_section(folder, plot)
    for model in models:
        rel = model.relative_to(ROOT).as_posix() if model.is_relative_to(ROOT) else str(model)
        try:
            text = render(model, style="markdown")
        except Exception as exc:  # the build fails, naming the model that broke it
            raise RuntimeError(f"docs: rendering the formulation of {rel} failed: "
                               f"{type(exc).__name__}: {exc}") from exc
        out += [_deeper(text), ""]
    return "\n".join(out) + "\n"


def on_files(files: Files, config: Any) -> Files:
    for folder, models in example_models().items():
        plot = None
        if folder in PLOTTED:
            plot = f"{folder}.png"
            files.append(File.generated(config, f"formulations/{plot}",
                                        content=plot_png(EXAMPLES / folder / PLOTTED[folder])))
        files.append(File.generated(config, f"formulations/{folder}.md",
                                    content=formulation_page(folder, models, plot)))
    return files
