"""Write files atomically: a reader (or a killed run) never sees half a file.

Every artifact qglc writes goes through :func:`write_atomically`: the target folder is checked
first (a clear :class:`UsageError` for a missing folder, a path that is a folder, a folder under
a regular file, a folder that cannot be written), the writer fills a temporary file in the SAME
folder (so ``os.replace`` is a rename on one file system), the temporary file must exist and be
non-empty (HiGHS's ``writeModel`` fails without raising), and only then replaces the target. On
any failure, including ``KeyboardInterrupt`` and the CLI's SIGTERM exception, the temporary file
is removed and an existing target is left as it was.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from qgridlang.errors import BackendError, UsageError


def check_writable(path: Path) -> None:
    """Raise a :class:`UsageError` unless ``path`` can be created or replaced as a file."""
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise UsageError(f"cannot write '{path}': it names a folder, not a file",
                         hint="give a file name, e.g. -o out/model.lp")
    if path.is_dir():
        raise UsageError(f"cannot write '{path}': it is a folder", None,
                         f"give a file name inside it: {path / 'NAME'}")
    folder = path.parent
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UsageError(f"cannot write '{path}': '{probe}' is a file, not a folder")
    if not folder.is_dir():
        raise UsageError(f"cannot write '{path}': the folder '{folder}' does not exist",
                         hint=f"create it first: mkdir -p {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write '{path}': no permission to write in '{folder}'")


def temporary_path(path: Path) -> Path:
    """A fresh name in ``path``'s folder that still ends with ``path``'s full name, so writers
    that choose the format by suffix (``.mps``, ``.embedding.json``) see the same suffix."""
    return path.with_name(f".{secrets.token_hex(6)}.tmp.{path.name}")


def final_path(tmp: Path) -> Path:
    """The path a :func:`temporary_path` stands for (an export that writes a second file next
    to its artifact names it after this one)."""
    name = tmp.name
    if name.startswith(".") and ".tmp." in name:
        head, _, rest = name.partition(".tmp.")
        if len(head) == 13:
            return tmp.with_name(rest)
    return tmp


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` and move ``tmp`` onto ``path`` (see the module docstring)."""
    path = Path(path)
    check_writable(path)
    tmp = temporary_path(path)
    try:
        try:
            # create it first: a folder the OS refuses (read-only file system, /proc) is an
            # OSError here, even for writers that fail silently
            with open(tmp, "xb"):
                pass
            write(tmp)
        except OSError as exc:  # a full disk, a read-only file system, /proc …
            raise UsageError(f"cannot write '{path}': {exc.strerror or exc}") from None
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise BackendError(f"writing '{path}' failed: the exporter wrote nothing",
                               hint="check the folder's free space and permissions")
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise UsageError(f"cannot write '{path}': {exc.strerror or exc}") from None
    except BaseException:
        # KeyboardInterrupt and the CLI's SIGTERM exception too: never leave the temporary file
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise
