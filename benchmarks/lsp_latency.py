"""Diagnostics latency of ``qglc lsp`` on the RTS-24 unit commitment example.

Starts the server as a subprocess (stdio JSON-RPC, pygls's client: tests/lsp_client.py), opens
examples/unit_commitment/uc.qgl, then edits it N times (each edit changes the reserve
parameter, alternating with one that breaks the model) and measures the time from sending
``didChange`` to receiving ``publishDiagnostics`` for that version. The server's debounce
(QGL_LSP_DEBOUNCE_MS, default 25 ms) is included. For comparison it also times
``check_text`` of the same edits in this process (parse + check, no protocol, no debounce),
wall-clock and CPU time (the CPU time is what a check costs on a machine shared with other
work; the wall-clock time is what a user waits).

    python benchmarks/lsp_latency.py [--edits 20] [--debounce-ms 25]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lsp_client import Session, timed_check  # noqa: E402

UC = ROOT / "examples" / "unit_commitment" / "uc.qgl"


def _edits(text: str, n: int) -> list[tuple[str, bool]]:
    """(text, breaks the model) for n edits: every fourth one is a unit error."""
    out = []
    for i in range(n):
        if i % 4 == 3:
            out.append((text.replace("reserve * demand[t]", "reserve * demand[t] * 1 MW"),
                        True))
        else:
            out.append((text.replace("param reserve = 10 %", f"param reserve = {11 + i} %"),
                        False))
    return out


def _summary(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    return (f"{name}: median {statistics.median(ms):.0f} ms, p90 {p90:.0f} ms, "
            f"min {ms[0]:.0f} ms, max {ms[-1]:.0f} ms over {len(ms)} edits")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=20, help="edits to time (default: 20)")
    ap.add_argument("--debounce-ms", type=float, default=None,
                    help="the server's debounce (default: its own, 25 ms)")
    args = ap.parse_args()
    text = UC.read_text(encoding="utf-8")
    edits = _edits(text, args.edits)

    env = {} if args.debounce_ms is None else {"QGL_LSP_DEBOUNCE_MS": str(args.debounce_ms)}
    session = Session(env=env)
    session.initialize()
    u = session.open(UC, text)
    session.wait_diagnostics(u, version=1, timeout=120)
    lsp_times = []
    for edited, breaks in edits:
        sent = session.change(u, edited)
        at, diags = session.wait_diagnostics(u, after=sent, version=session.versions[u])
        assert bool(diags) == breaks, diags
        lsp_times.append(at - sent)
    session.close()

    timed_check(text, UC)  # warm: the grammar, the standard library, numpy
    direct, cpu = [], []
    for edited, _ in edits:
        wall, used = timed_check(edited, UC)
        direct.append(wall)
        cpu.append(used)
    debounce = args.debounce_ms if args.debounce_ms is not None else 25
    print(f"RTS-24 UC ({UC.relative_to(ROOT)}), server debounce {debounce:.0f} ms")
    print(_summary("didChange -> publishDiagnostics", lsp_times))
    print(_summary("check_text in-process (parse + check)", direct))
    # CPU time: what the check costs without the other processes of a shared machine
    print(_summary("check_text in-process, CPU time", cpu))


if __name__ == "__main__":
    main()
