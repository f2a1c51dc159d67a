"""Networks: `network flow = transport | dc | lindistflow`, component variants and terminals,
buses with several balances, the radial check, and the network record tools read back."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from qgridlang.checker import check_text
from qgridlang.dispatcher import solve_model
from qgridlang.errors import QglErrors
from qgridlang.results import Status

pytestmark = pytest.mark.usefixtures("both_expansions")

# A 3-bus feeder: r, x in ohm at 12.66 kV (the first two branches of IEEE 33-bus, scaled).
FEEDER = """
use stdlib
network flow = {flow}
time T = 1..2 step 1 h
bus b1 {{ vn = 12.66 kV; slack = 1; v_set = 1.02 }}
bus b2 {{ vn = 12.66 kV }}
bus b3 {{ vn = 12.66 kV }}
line l12 between b1, b2 {{ r = 0.0922 ohm; x = 0.047 ohm }}
line l23 between b2, b3 {{ r = 4.93 ohm; x = 2.511 ohm }}
substation sub at b1 {{ price = 50 $/MWh }}
load d2 at b2 {{ demand = 1000 kW; reactive = 600 kvar }}
load d3 at b3 {{ demand = 900 kW; power_factor = 90 % }}
pv roof at b3 {{ available[t] = if t == 1 then 0 kW else 300 kW; power_factor = 95 % }}
minimize cost: sub.cost
"""


def _solve(text: str) -> dict:  # type: ignore[type-arg]
    sol = solve_model(check_text(text), "highs")
    assert sol.status == Status.OPTIMAL and sol.feasible, sol.message
    return {**sol.variables, **sol.expressions, "objective": sol.objective}


def _errors(text: str) -> list:  # type: ignore[type-arg]
    with pytest.raises(QglErrors) as exc:
        check_text(text, "net.qgl")
    return exc.value.errors


def test_lindistflow_voltages_and_reactive_balance_by_hand() -> None:
    r = _solve(FEEDER.format(flow="lindistflow"))
    q3 = 900 * math.sqrt(1 - 0.81) / 0.9  # kvar drawn by d3 at pf 0.9
    qpv = 300 * math.sqrt(1 - 0.95**2) / 0.95  # kvar supplied by the PV at pf 0.95
    for t, pv in ((1, 0.0), (2, 300.0)):
        p23, q23 = (900 - pv) / 1e3, (q3 - (qpv if pv else 0.0)) / 1e3  # MW, Mvar
        p12, q12 = p23 + 1.0, q23 + 0.6
        assert r["l23.p"][str(t)] == pytest.approx(p23, abs=1e-7)
        assert r["l23.q"][str(t)] == pytest.approx(q23, abs=1e-7)
        assert r["l12.q"][str(t)] == pytest.approx(q12, abs=1e-7)
        assert r["sub.reactive"][str(t)] == pytest.approx(q12, abs=1e-7)
        v1 = 1.02**2
        v2 = v1 - 2 * (0.0922 * p12 + 0.047 * q12) / 12.66**2
        v3 = v2 - 2 * (4.93 * p23 + 2.511 * q23) / 12.66**2
        assert r["b1.v2"][str(t)] == pytest.approx(v1, abs=1e-9)
        assert r["b2.v2"][str(t)] == pytest.approx(v2, abs=1e-9)
        assert r["b3.v2"][str(t)] == pytest.approx(v3, abs=1e-9)
        # the linearised limit excess is zero exactly at the limit and tangent to |V| there
        assert r["b3.v_under"][str(t)] == pytest.approx((0.81 - v3) / 1.8, abs=1e-9)
    assert r["objective"] == pytest.approx(50 * (1.9 + 1.6), rel=1e-9)


def test_an_inverter_s_q_capability_supports_the_feeder_end() -> None:
    # reactive support at bus 3 takes over the reactive load there (up to its capability), so
    # the line carries less q and the feeder end sits higher
    text = FEEDER.format(flow="lindistflow").replace(
        "minimize cost: sub.cost", "reactive_source inv at b3 { q_max = 200 kvar }\n"
        "minimize cost: sub.cost + sum(t in T) 1000 $ * pos(0.99 - b3.v2[t])")
    base, r = _solve(FEEDER.format(flow="lindistflow")), _solve(text)
    assert r["inv.reactive"]["1"] == pytest.approx(200)  # all of it: the penalty binds
    assert r["l23.q"]["1"] == pytest.approx(base["l23.q"]["1"] - 0.2, abs=1e-7)
    assert r["b3.v2"]["1"] > base["b3.v2"]["1"]
    dc = _solve(FEEDER.format(flow="dc").replace(
        "minimize cost: sub.cost", "reactive_source inv at b3 { q_max = 200 kvar }\n"
        "minimize cost: sub.cost"))
    assert dc["objective"] == pytest.approx(_solve(FEEDER.format(flow="dc"))["objective"])


def test_the_same_network_under_dc_and_transport() -> None:
    dc = _solve(FEEDER.format(flow="dc"))
    assert dc["b1.theta"]["1"] == 0
    # p = (theta_a - theta_b) vn^2 / x: 1.9 MW over 0.047 ohm at 12.66 kV
    assert dc["b1.theta"]["1"] - dc["b2.theta"]["1"] == pytest.approx(1.9 * 0.047 / 12.66**2)
    assert "l12.q" not in dc and "b1.v2" not in dc
    tr = _solve(FEEDER.format(flow="transport"))
    assert tr["l12.p"]["2"] == pytest.approx(1.6) and "b1.theta" not in tr
    # without reactive balances the loads' q ports are dropped: no reactive rows
    rows = {r.name for r in check_text(FEEDER.format(flow="transport")).flat.rows}
    assert "b2.balance" in rows and not any("reactive" in n for n in rows)


def test_dc_flow_splits_by_reactance_on_a_meshed_network() -> None:
    r = _solve(MESH.format(flow="dc"))
    # path 1-2-3 (x = 1 + 1) and line 1-3 (x = 2) share the 300 MW equally; the cheap unit serves
    assert [r["l[1].p"]["1"], r["l[2].p"]["1"], r["l[3].p"]["1"]] == pytest.approx([150] * 3)
    assert r["g1.output"]["1"] == pytest.approx(300)
    assert r["objective"] == pytest.approx(3000)
    # rating 100 MW on the direct line: its flow is P1/2 + P2/4 (bus 2 sends 1/4 of its power
    # round through bus 1), so P1 <= 100 MW and the expensive unit makes the other 200 MW
    r = _solve(MESH.format(flow="dc").replace("3: 300}", "3: 100}"))
    assert r["l[3].p"]["1"] == pytest.approx(100)
    assert (r["g1.output"]["1"], r["g2.output"]["1"]) == pytest.approx((100, 200))
    assert r["objective"] == pytest.approx(100 * 10 + 200 * 30)


MESH = """
use stdlib
network flow = {flow}
time T = 1..1 step 1 h
set B = 1..3
set L = 1..3
param fb[L] = {{1: 1, 2: 2, 3: 1}}
param tb[L] = {{1: 2, 2: 3, 3: 3}}
param xl[L]: ohm = {{1: 1, 2: 1, 3: 2}}
param rl[L]: MW = {{1: 300, 2: 300, 3: 300}}
bus b[i in B] {{ vn = 100 kV; slack = if i == 1 then 1 else 0 }}
line l[k in L] between b[fb[k]], b[tb[k]] {{ x = xl[k]; rating = rl[k] }}
generator g1 at b[1] {{ pmax = 500 MW; c1 = 10 $/MWh }}
generator g2 at b[2] {{ pmax = 500 MW; c1 = 30 $/MWh }}
load d at b[3] {{ demand = 300 MW }}
minimize cost: g1.cost + g2.cost
"""


def test_lindistflow_refuses_a_meshed_network_naming_a_loop() -> None:
    (err,) = _errors(MESH.format(flow="lindistflow"))
    assert (err.span.line, err.span.column) == (12, 1)
    assert "radial" in err.message and "loop" in err.message
    for name in ("l[1]", "l[2]", "l[3]", "b[1]", "b[2]", "b[3]"):
        assert name in err.message
    assert "network flow = dc" in err.hint


def test_two_parallel_lines_are_a_loop() -> None:
    text = FEEDER.format(flow="lindistflow").replace(
        "line l23", "line l12b between b1, b2 { r = 1 ohm; x = 1 ohm }\nline l23")
    (err,) = _errors(text)
    assert "l12" in err.message and "l12b" in err.message and err.span.line == 9


def test_a_transformer_tap_at_the_from_side() -> None:
    # MATPOWER's convention: |V_a| / tap behind the impedance; b = 1 / (x tap) under dc
    text = FEEDER.format(flow="lindistflow").replace(
        "line l12 between b1, b2 { r = 0.0922 ohm; x = 0.047 ohm }",
        "line l12 between b1, b2 { r = 0.0922 ohm; x = 0.047 ohm; tap = 1.025 }")
    base, r = _solve(FEEDER.format(flow="lindistflow")), _solve(text)
    drop = base["b1.v2"]["1"] - base["b2.v2"]["1"]  # the same flows: the drop is unchanged
    assert r["b2.v2"]["1"] == pytest.approx(1.02**2 / 1.025**2 - drop, abs=1e-12)
    dc = _solve(FEEDER.format(flow="dc").replace("x = 0.047 ohm }", "x = 0.047 ohm; tap = 1.025 }"))
    assert dc["b1.theta"]["1"] - dc["b2.theta"]["1"] == pytest.approx(
        1.9 * 0.047 * 1.025 / 12.66**2)


def test_per_unit_impedance_equals_ohms() -> None:
    base = _solve(FEEDER.format(flow="lindistflow"))
    z = 12.66**2 / 10  # ohm per pu on 10 MVA
    pu = FEEDER.format(flow="lindistflow").replace(
        "r = 4.93 ohm; x = 2.511 ohm", f"r_pu = {4.93 / z!r}; x_pu = {2.511 / z!r}; "
        "base_power = 10 MVA")
    assert _solve(pu)["b3.v2"] == pytest.approx(base["b3.v2"], abs=1e-12)


def test_soft_voltage_limits_as_pos_penalties() -> None:
    # a feeder end below 0.9 pu: hard limits make it infeasible, a pos() penalty prices it
    text = FEEDER.format(flow="lindistflow").replace("demand = 900 kW", "demand = 9000 kW")
    r = _solve(text)
    assert math.sqrt(r["b3.v2"]["1"]) < 0.9
    hard = text.replace("bus b3 { vn = 12.66 kV }", "bus b3 { vn = 12.66 kV; hard_limits = 1 }")
    sol = solve_model(check_text(hard), "highs")
    assert sol.status == Status.INFEASIBLE
    soft = text.replace("minimize cost: sub.cost",
                        "minimize cost: sub.cost + sum(t in T) 1000 $ * pos(b3.v_under[t])")
    rs = _solve(soft)
    under = sum(max(0.0, (0.81 - rs["b3.v2"][t]) / 1.8) for t in ("1", "2"))
    assert under > 0
    assert rs["objective"] == pytest.approx(r["objective"] + 1000 * under, rel=1e-9)


def test_network_record() -> None:
    net = check_text(FEEDER.format(flow="lindistflow")).network
    assert net.formulation == "lindistflow"
    b1, b3 = net.bus("b1"), net.bus("b3")
    assert (b1.slack, b1.vn_kv, b1.v_set, b3.slack, b3.v_min) == (True, 12.66, 1.02, False, 0.9)
    assert b1.v2 == "b1.v2" and b3.injections == {"p": ("d3.p", "roof.p"),
                                                   "q": ("d3.q", "roof.q")}
    assert b1.injections == {"p": ("sub.p",), "q": ("sub.q",)}
    (l12, l23) = net.branches
    assert (l23.name, l23.from_bus, l23.to_bus, l23.p, l23.q) == ("l23", "b2", "b3", "l23.p",
                                                                  "l23.q")
    assert l23.r_ohm == pytest.approx(4.93) and l23.x_ohm == pytest.approx(2.511)
    assert l23.rating_mw == math.inf
    assert check_text(FEEDER.format(flow="dc")).network.bus("b2").theta == "b2.theta"


ERRORS = [
    ("network flow = dcc", "no component has a variant for `network flow = dcc`", "'dc'"),
    ("network voltage = dc", "unknown network option 'voltage'", "network flow ="),
]


@pytest.mark.parametrize(("line", "message", "hint"), ERRORS)
def test_network_statement_errors(line: str, message: str, hint: str) -> None:
    (err,) = _errors(FEEDER.format(flow="dc").replace("network flow = dc", line))
    assert (err.span.line, err.span.column) == (3, 1)
    assert message in err.message and hint in err.hint


def test_a_component_without_the_chosen_variant() -> None:
    text = """
use stdlib
component link for dc (x: ohm) over T between a, b {
  var p[T]: MW
  port a.p[t in T] = -p[t]
  port b.p[t in T] = p[t]
}
network flow = lindistflow
time T = 1..1 step 1 h
bus b1 { slack = 1 }
bus b2
link k between b1, b2 { x = 1 ohm }
"""
    (err,) = _errors(text)
    assert err.span.line == 12
    assert "'link' has no variant for `network flow = lindistflow` (it has: dc)" in err.message


def test_terminal_and_port_errors() -> None:
    # a line connected to one bus; a port naming a terminal the component does not have
    errs = _errors(FEEDER.format(flow="dc").replace("line l23 between b2, b3", "line l23 at b2"))
    assert "connects 2 buses (terminals a, b)" in errs[0].message and errs[0].span.line == 9
    text = """
use stdlib
component tie() over T between a, b {
  var p[T]: MW
  port c.p[t in T] = p[t]
}
time T = 1..1 step 1 h
bus b1
bus b2
tie k between b1, b2
"""
    (err,) = _errors(text)
    assert (err.span.line, err.message) == (5, "'c' is not a terminal of 'tie'")
    assert "a, b" in err.hint


def test_a_bus_without_a_reactive_balance_refuses_a_reactive_port() -> None:
    # a user's own bus with one balance: the load's p and q cannot both go into it
    text = """
use stdlib
component site() over T {
  node balance
}
time T = 1..1 step 1 h
site s
load d at s { demand = 5 kW }
grid utility at s { import_max = 10 kW; price = 1 $/kWh }
"""
    (err,) = _errors(text)
    assert err.span.line == 8 and "ports 'p' and 'q' of 'd'" in err.message
    assert "ignore" not in err.message and "node reactive of q" in err.hint
    (err,) = _errors(text.replace("node balance", "node balance of p"))
    assert "bus 's' has no balance for port 'q' of 'd'" in err.message
    assert "ignore q" in err.hint
    ok = text.replace("node balance", "node balance\n  ignore q")
    assert {r.name for r in check_text(ok).flat.rows} == {"s.balance"}


def test_cli_reports_the_loop_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "mesh.qgl"
    path.write_text(MESH.format(flow="lindistflow"), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "qgridlang", "check", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert f"{path}:12:1: error: `network flow = lindistflow` needs a radial network" in \
        proc.stderr
