"""mkdocs hook: every example as mathematics. For each folder of ``examples/`` a page
``formulations/<folder>.md`` holds the formulation of each of its models, rendered at build time
by ``qgridlang.formulation.render(path, style="markdown")`` (what ``qglc show MODEL --markdown``
prints), so the page is the model as it is checked today. A model that does not check or
render fails the build, naming the model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


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


def formulation_page(folder: str, models: list[Path]) -> str:
    from qgridlang.formulation import render

    out = [f"# Formulations: `examples/{folder}/`", "",
           "Rendered when the site was built by `qglc show MODEL --markdown` (the Python API: "
           "`qgridlang.formulation.render(MODEL, style=\"markdown\")`): the checked model's sets, "
           "parameters with their units, variables with their domains, each indexed constraint "
           "with its domain, the objective and the risk measures written out. Component "
           "instances are folded (each component's formulation once, in its own names); "
           "`--expand` writes every instance's rows. The walk-through: "
           f"[the tutorial](../tutorials/{folder}.md).", ""]
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
        files.append(File.generated(config, f"formulations/{folder}.md",
                                    content=formulation_page(folder, models)))
    return files
