"""mkdocs hook: ``$`` is a currency in the prose (``12 $/MWh``, ``283.00 $``) and a math
delimiter on the formulation pages. pymdownx.arithmatex would pair two dollars of one paragraph
("a ($/h), b ($/MWh)") into math, so on every other page a ``$`` outside code is escaped
(``\\$``, which arithmatex prints as a plain dollar). Math pages: the generated
``formulations/*`` pages, and any page whose front matter says ``math: true``.
"""

from __future__ import annotations

import re
from typing import Any

CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)


def _escape(text: str) -> str:
    """``$`` -> ``\\$`` outside inline code spans (already-escaped dollars are kept)."""
    out, last = [], 0
    for m in CODE_SPAN.finditer(text):
        out.append(re.sub(r"(?<!\\)\$", r"\\$", text[last:m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(re.sub(r"(?<!\\)\$", r"\\$", text[last:]))
    return "".join(out)


def escape_dollars(markdown: str) -> str:
    """Escape the dollars of ``markdown`` outside fenced blocks and code spans."""
    out, block, fence = [], [], False
    for line in markdown.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            if not fence and block:
                out.append(_escape("\n".join(block)))
                block = []
            out.append(line)
            fence = not fence
        elif fence:
            out.append(line)
        else:
            block.append(line)
    if block:
        out.append(_escape("\n".join(block)))
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri.startswith("formulations/") or page.meta.get("math"):
        return markdown
    return escape_dollars(markdown)
