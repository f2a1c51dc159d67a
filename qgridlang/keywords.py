"""The words the grammar reserves or uses as keywords, read from ``grammar/qgl.lark``: one
source for the Pygments lexer, the editor's TextMate grammar (checked by a test) and the
language server's completion."""

from __future__ import annotations

import re
from functools import lru_cache

# Keywords that are also builtin functions written like calls (`sum(t in T) …`, `observe(…)`)
# are keywords all the same: the grammar spells them as literals.


@lru_cache(maxsize=1)
def grammar_keywords() -> tuple[str, ...]:
    """Every word literal of the grammar (``"param"``, ``"minimize"``, ``"in"`` …), sorted."""
    from qgridlang.parser import grammar_text

    words = set()
    for line in grammar_text().splitlines():
        code = line.split("//", 1)[0]
        words.update(re.findall(r'"([a-z_]+)"', code))
    return tuple(sorted(words))
