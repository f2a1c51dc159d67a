"""Files shipped with the package: the grammar and the standard library of components."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def data_file(package: str, name: str) -> Path:
    """``data_file("models", "stdlib.qgl")``: the installed copy, else the source tree's."""
    local = _REPO / package / name
    if local.is_file():
        return local
    try:
        found = resources.files(f"qgridlang.{package}").joinpath(name)
    except ModuleNotFoundError:
        return local
    return Path(str(found))


def library_names() -> list[str]:
    """Names usable with ``use NAME`` (the .qgl files of the standard library)."""
    folder = data_file("models", "stdlib.qgl").parent
    return sorted(p.stem for p in folder.glob("*.qgl"))
