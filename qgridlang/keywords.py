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


# Builtin functions and data sources (tests/test_highlight.py checks these against
# qgridlang.semantics.evaluate.BUILTINS / DISTRIBUTIONS and the data sources the checker knows;
# listed here so that highlighting does not import the checker and numpy).
BUILTINS = ("first", "last", "prev", "next", "ord", "card", "min", "max", "abs", "sqrt", "exp",
            "log", "floor", "ceil", "round", "expected", "cvar", "sum", "dt", "pos")
DISTRIBUTIONS = ("normal", "uniform", "lognormal", "triangular", "exponential", "beta", "gamma",
                 "poisson", "bernoulli")
SOURCES = ("csv", "sample", "equal", "weights")

# Statement keywords (declarations), shown apart from the other keywords.
DECLARATIONS = frozenset({
    "model", "import", "use", "time", "set", "param", "var", "expr", "constraint", "component",
    "scenarios", "quantum", "network", "surrogate", "policy", "system", "controller",
    "simulate", "port", "node", "ignore", "state", "input", "output", "disturbance", "der",
    "encode"})
WORD_OPERATORS = frozenset({"and", "or", "not", "in"})
