"""mkdocs hook: ``benchmarks/results.md``, every result table the benchmark scripts wrote
(``benchmarks/results/*.md``) and every plot beside them (``benchmarks/results/*.png``), read
at build time from the repository (the files are not copied into ``docs/``). A plot is shown
under the table whose name it starts with; the others under "More plots".
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parent))
from repo_files import serve  # noqa: E402 - the sibling hook, importable once the path is set

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PAGE = "benchmarks/results.md"


def _shift(text: str, by: int) -> str:
    """Headings one level deeper (outside fenced blocks), so a file's title nests in the page."""
    out, fence = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and re.match(r"^#+ ", line):
            line = "#" * by + line
        out.append(line)
    return "\n".join(out)


def results_page(files: Files, config: Any) -> str:
    tables = sorted(RESULTS.glob("*.md"))
    plots = sorted(RESULTS.glob("*.png"))
    if not tables or not plots:
        raise RuntimeError(f"no benchmark results in {RESULTS}")
    out = ["# Result files and plots", "",
           "Read at build time from `benchmarks/results/`: each table as the benchmark script "
           "wrote it, with its plots. How each run was made and what it shows is in the "
           "benchmark pages of this section.", ""]
    shown: set[Path] = set()
    for table in tables:
        stem = table.stem.split("_")[0]
        out += [_shift(table.read_text(encoding="utf-8"), 1), "",
                f"*File: `benchmarks/results/{table.name}`*", ""]
        for plot in plots:
            if plot.stem.split("_")[0] == stem:
                out += _figure(files, config, plot)
                shown.add(plot)
    rest = [p for p in plots if p not in shown]
    if rest:
        out += ["## More plots", ""]
        for plot in rest:
            out += _figure(files, config, plot)
    return "\n".join(out) + "\n"


def _figure(files: Files, config: Any, plot: Path) -> list[str]:
    uri = serve(files, config, plot)
    return [f"![{plot.stem}](../{uri})", "", f"*`benchmarks/results/{plot.name}`*", ""]


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, PAGE, content=results_page(files, config)))
    return files
