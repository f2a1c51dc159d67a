"""mkdocs hook: a docs page may link to a file of the repository outside ``docs/`` (an example
model, a benchmark plot) with the relative path that works on GitHub
(``../../benchmarks/results/microgrid_cost.png``); the site serves a copy of that file under
``repo/`` and the link is rewritten to it. Only files a page links to are copied (never a whole
folder), and a link to a file that does not exist is left alone, so ``--strict`` reports it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from mkdocs.structure.files import File, Files, InclusionLevel

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# [text](target) and ![alt](target), up to a title or the closing parenthesis
LINK = re.compile(r"(\]\()([^)\s#]+)([^)]*\))")
_served: dict[str, str] = {}  # page src_uri + "\0" + link target -> site uri of the copy


def repo_uri(path: Path) -> str:
    return "repo/" + path.relative_to(ROOT).as_posix()


def serve(files: Files, config: Any, path: Path) -> str:
    """Add the repository file ``path`` to the site (once) and return its site uri."""
    uri = repo_uri(path)
    if files.get_file_from_path(uri) is None:
        inclusion = InclusionLevel.NOT_IN_NAV if path.suffix == ".md" else InclusionLevel.INCLUDED
        files.append(File.generated(config, uri, abs_src_path=str(path), inclusion=inclusion))
    return uri


def _outside(page: Path, target: str) -> Path | None:
    if "://" in target or target.startswith(("/", "mailto:")):
        return None
    path = Path(os.path.normpath(page.parent / target))
    if path.is_relative_to(DOCS) or not path.is_relative_to(ROOT) or not path.is_file():
        return None
    return path


def on_files(files: Files, config: Any) -> Files:
    _served.clear()
    for f in list(files.documentation_pages()):
        if not f.abs_src_path or not Path(f.abs_src_path).is_relative_to(DOCS):
            continue
        page = Path(f.abs_src_path)
        for m in LINK.finditer(page.read_text(encoding="utf-8")):
            if (path := _outside(page, m.group(2))) is not None:
                _served[f.src_uri + "\0" + m.group(2)] = serve(files, config, path)
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    src = page.file.src_uri

    def rewrite(m: re.Match[str]) -> str:
        uri = _served.get(src + "\0" + m.group(2))
        if uri is None:
            return m.group(0)
        here = PurePosixPath(src).parent
        return m.group(1) + os.path.relpath(uri, here.as_posix() or ".") + m.group(3)

    return LINK.sub(rewrite, markdown)
