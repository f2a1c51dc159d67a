"""A synchronous driver for ``qglc lsp`` over its real protocol (JSON-RPC on the server
process's stdin/stdout), built on pygls's LanguageClient; used by tests/test_lsp.py and
benchmarks/lsp_latency.py."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def uri(path: Path) -> str:
    return from_fs_path(str(path.resolve())) or str(path)


def timed_check(text: str, file: Path) -> tuple[float, float]:
    """Check ``text`` in this process as the server does (an error is a result, not a failure):
    its wall-clock and CPU seconds."""
    from qgridlang.checker import check_text
    from qgridlang.errors import QglError

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        check_text(text, str(file))
    except QglError:
        pass
    return time.perf_counter() - t0, time.process_time() - c0


class Session:
    """One server process and a client speaking to it from a background event loop."""

    def __init__(self, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = LanguageClient("qgl-test", "1")
        self.diagnostics: dict[str, list[tuple[float, lsp.PublishDiagnosticsParams]]] = {}
        self.cond = threading.Condition()

        @self.client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _publish(params: lsp.PublishDiagnosticsParams) -> None:
            with self.cond:
                self.diagnostics.setdefault(params.uri, []).append(
                    (time.perf_counter(), params))
                self.cond.notify_all()

        full_env = {**os.environ, **(env or {})}
        self.run(self.client.start_io(sys.executable, "-m", "qgridlang.cli", "lsp",
                                      cwd=str(cwd), env=full_env))
        self.versions: dict[str, int] = {}

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., Coroutine[Any, Any, T]], params: Any,
             timeout: float = 60) -> T:
        return self.run(fn(params), timeout)

    # ---- lifecycle ----------------------------------------------------------------------
    def initialize(self) -> lsp.InitializeResult:
        result = self.call(self.client.initialize_async, lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(), root_uri=uri(ROOT)))
        self.client.initialized(lsp.InitializedParams())
        return result

    def close(self) -> int | None:
        """shutdown, exit, and the server process's exit status."""
        try:
            self.call(self.client.shutdown_async, None, timeout=30)
            self.client.exit(None)
            server = self.client._server
            deadline = time.monotonic() + 20
            while server is not None and server.returncode is None and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            code = server.returncode if server is not None else None
            self.run(self.client.stop(), timeout=30)
            return code
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)

    # ---- documents ----------------------------------------------------------------------
    def open(self, path: Path, text: str | None = None) -> str:
        u = uri(path)
        self.versions[u] = 1
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            lsp.TextDocumentItem(u, "qgl", 1, text if text is not None
                                 else path.read_text(encoding="utf-8"))))
        return u

    def change(self, u: str, text: str) -> float:
        """Replace the whole text; returns the time it was sent."""
        self.versions[u] += 1
        sent = time.perf_counter()
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(version=self.versions[u], uri=u),
            [lsp.TextDocumentContentChangeWholeDocument(text)]))
        return sent

    def wait_diagnostics(self, u: str, after: float = 0.0, timeout: float = 60,
                         version: int | None = None) -> tuple[float, list[lsp.Diagnostic]]:
        """The first diagnostics for ``u`` published after ``after`` (and for ``version``)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for at, p in self.diagnostics.get(u, []):
                    if at > after and (version is None or p.version in (None, version)):
                        return at, list(p.diagnostics)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no diagnostics for {u} after {after}")
                self.cond.wait(left)

    def position(self, u: str, line: int, character: int) -> lsp.TextDocumentPositionParams:
        return lsp.TextDocumentPositionParams(lsp.TextDocumentIdentifier(u),
                                              lsp.Position(line, character))
