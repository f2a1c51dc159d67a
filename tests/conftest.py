"""Shared test helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(params=["auto", "element"])
def both_expansions(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with the array expansion (``auto``) and with the per-element path; modules
    opt in with ``pytestmark = pytest.mark.usefixtures("both_expansions")``."""
    from qgridlang.semantics.vector import expansion

    with expansion(request.param):
        yield request.param
