"""The one way a model reads a file (``csv(…)``, ``import``): only allowed, regular, small files.

A model is text from anywhere; the files it names must not leak what the user did not mean to
share, block the compiler, or exhaust memory. So a file is read only if

* its real path (symlinks resolved) lies under the model's folder, a folder the user allowed
  (``--allow-read DIR`` / ``allow_read=[…]``) or the standard library, and not under ``/proc``
  (or ``/sys`` and ``/dev``), whose "regular files" are views of the process and machine;
* it is a regular file (not a device such as ``/dev/zero``, a FIFO or a socket), checked before
  it is opened and again on the open descriptor, which is opened non-blocking so a FIFO swapped
  in between cannot hang the check;
* it is no larger than the read limit (64 MiB unless raised), and at most that much is read;
* it is UTF-8 text.

A refusal never shows the file's contents, only its name and the rule it broke.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from qgridlang.errors import FileAccessError, QglError, Span, UsageError
from qgridlang.limits import Limits, current

_SYSTEM = (Path("/proc"), Path("/sys"), Path("/dev"))


def read_text(path: Path, span: Span | None, what: str, encoding: str = "utf-8",
              limits: Limits | None = None) -> str:
    """The text of ``path`` (UTF-8) under the rules of :func:`read_bytes`."""
    return decode(read_bytes(path, span, what, limits), path, span, what, encoding)


def read_bytes(path: Path, span: Span | None, what: str, limits: Limits | None = None) -> bytes:
    """The bytes of ``path`` if the active :class:`Limits` allow reading it.

    Args:
        path: The file as the model names it (joined to the folder it is relative to).
        span: Where the model names it (the ``csv(…)`` call or the ``import``).
        what: How messages call the file ("data file", "imported file").
        limits: The limits to apply (default: the active ones).

    Raises:
        FileAccessError: The file is outside the allowed folders, not a regular file, too
            large or unreadable; located at ``span``.
    """
    lim = limits or current()
    real = _real_path(path, span, what)
    roots = lim.roots()
    if any(_under(real, s) for s in _SYSTEM):
        raise FileAccessError(f"{what} '{path}' is a system file; a model may not read it", span,
                              "files under /proc, /sys and /dev are never readable by a model")
    if not any(_under(real, r) for r in roots):
        allowed = ", ".join(str(r) for r in roots[:-1])  # the library is not the user's concern
        via = f" (it resolves to '{real}')" if str(real) != os.path.normpath(path.absolute()) \
            else ""
        raise FileAccessError(
            f"{what} '{path}' is outside the folders a model may read ({allowed}){via}", span,
            "copy the file into the model's folder, or allow its folder with --allow-read DIR "
            "(allow_read=[...] in the Python API)")
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise FileAccessError(f"{what} '{path}' not found", span) from None
    except OSError as exc:
        raise FileAccessError(f"cannot read {what} '{path}': {exc.strerror}", span) from None
    _check_stat(st, path, span, what, lim)
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise FileAccessError(f"cannot read {what} '{path}': {exc.strerror}", span) from None
    try:
        _check_stat(os.fstat(fd), path, span, what, lim)  # the file opened is the one checked
        data = _read_at_most(fd, lim.max_read_bytes + 1)
    except OSError as exc:
        raise FileAccessError(f"cannot read {what} '{path}': {exc.strerror}", span) from None
    finally:
        os.close(fd)
    if len(data) > lim.max_read_bytes:  # it grew after the check
        raise _too_large(path, None, span, what, lim)
    return data


def decode(data: bytes, path: Path | str, span: Span | None, what: str,
           encoding: str = "utf-8") -> str:
    """``data`` as text; a non-UTF-8 file is an error naming the line and column of the byte."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise FileAccessError(
            f"{what} '{path}' is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, "
            f"column {column})", span, "save the file as UTF-8") from None


def read_capped(path: Path, limits: Limits | None = None) -> bytes:
    """The bytes of a file the user named (the model itself), at most the read limit.

    Unlike :func:`read_text`, any kind of file is accepted (``qglc check /dev/stdin`` reads a
    pipe), but never more than the limit, so ``qglc check /dev/zero`` stops.

    Raises:
        OSError: The file cannot be opened or read.
        FileAccessError: The file is larger than the limit.
    """
    lim = limits or current()
    with open(path, "rb") as f:
        data = f.read(lim.max_read_bytes + 1)
    if len(data) > lim.max_read_bytes:
        raise _too_large(path, None, None, "the model", lim)
    return data


def _real_path(path: Path, span: Span | None, what: str) -> Path:
    # Not strict: whether a file exists outside the allowed folders is not the model's to
    # learn, so containment is judged first and existence after (by os.stat).
    try:
        return path.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # a symlink loop, a path component not a folder
        reason = getattr(exc, "strerror", None) or "a symbolic link loop"
        raise FileAccessError(f"cannot read {what} '{path}': {reason}", span) from None


def _check_stat(st: os.stat_result, path: Path, span: Span | None, what: str,
                lim: Limits) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else
                "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise FileAccessError(f"{what} '{path}' is {kind}; a model reads regular files only",
                              span)
    if st.st_size > lim.max_read_bytes:
        raise _too_large(path, st.st_size, span, what, lim)


def _too_large(path: Path | str, size: int | None, span: Span | None, what: str,
               lim: Limits) -> QglError:
    """``size`` None: more than the limit was read (the file's size is not known)."""
    cap = lim.max_read_bytes
    limit = f"{cap / 2**20:g} MiB" if cap >= 2**20 else f"{cap} bytes"
    shown = (f"larger than {limit}" if size is None else
             f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size} bytes")
    return FileAccessError(
        f"{what} '{path}' is {shown}; the read limit is {limit}", span,
        "raise it with --max-read-mb N, the environment variable QGL_MAX_READ_MB, or "
        "max_read_mb=N in the Python API")


def _read_at_most(fd: int, n: int) -> bytes:
    chunks: list[bytes] = []
    left = n
    while left > 0:
        try:
            chunk = os.read(fd, min(left, 1 << 20))
        except BlockingIOError:  # a non-blocking special file with nothing to read
            break
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def read_source(path: str | Path) -> str:
    """A file the user named (a model, a result document): at most the read limit, UTF-8 (a
    byte order mark dropped); a usage error, with no contents shown, where it cannot be read."""
    try:
        # at most the read limit (`qglc check /dev/zero` stops); a pipe is fine, the user named it
        data = read_capped(Path(path))
        # utf-8-sig: a byte order mark (written by some Windows editors) is not model text
        return data.decode("utf-8-sig")
    except QglError as exc:  # larger than the read limit
        raise UsageError(exc.message, hint=exc.hint) from None
    except OSError as exc:
        raise UsageError(f"cannot read '{path}': {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"'{path}' is not UTF-8 text") from None
