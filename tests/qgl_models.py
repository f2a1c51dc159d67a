"""qgl models and golden-file helpers shared by several test modules."""

from __future__ import annotations

import json
import os
from pathlib import Path

# 4 item bits + a 2-bit integer + 4 slack bits: one inequality, one equality, maximised.
# Its optimum is 15 with x = (0, 0, 1, 1) and k = 1.
KNAPSACK_WITH_COUNT = """
model tiny "pick items under a capacity; k counts the first three and costs 2 each"
set I = 1..4
param value[I] = {1: 6, 2: 5, 3: 8, 4: 9}
param weight[I] = {1: 2, 2: 3, 3: 4, 4: 5}
var x[I] binary
var k integer in 0 .. 3
constraint capacity: sum(i in I) weight[i] * x[i] <= 9
constraint link: x[1] + x[2] + x[3] == k
maximize value: sum(i in I) value[i] * x[i] - 2 * k
"""

# two units, three hours, quadratic fuel cost and commitment binaries: a convex MIQP
DISPATCH = """
model dispatch
time T = 1..3 step 1 h
set G = {a, b}
param demand[T]: MW = {1: 90, 2: 160, 3: 120}
param pmax[G]: MW = {a: 100, b: 120}
param pmin[G]: MW = {a: 20, b: 30}
param fixed[G]: $/h = {a: 80, b: 20}
param lin[G]: $/MWh = {a: 10, b: 14}
param quad[G]: $/MW^2/h = {a: 0.05, b: 0.02}
var u[G, T] binary
var p[g in G, t in T]: MW in 0 .. pmax[g]
constraint balance[t in T]: sum(g in G) p[g, t] == demand[t]
constraint limits[g in G, t in T]: pmin[g] * u[g, t] <= p[g, t] <= pmax[g] * u[g, t]
minimize cost: sum(g in G, t in T) (fixed[g] * u[g, t] + lin[g] * p[g, t]
                                    + quad[g] * p[g, t]^2) * dt
"""

# an equality (exactly two units on), an inequality with slack bits and a 0..3 integer
# register: optimum 4 + 1 = 5 with a and b on and k = 0 (b and d with k = 1 cost 6)
PICK_TWO = """
model pick "commit two of four units, and at least one step of a small integer"
set G = {a, b, c, d}
param cost[G] = {a: 4, b: 1, c: 3, d: 2}
var on[G] binary
var k integer in 0 .. 3
constraint two: sum(g in G) on[g] == 2
constraint some: k + on[a] >= 1
minimize total: sum(g in G) cost[g] * on[g] + 3 * k
"""

UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"


def assert_matches_golden(got: str, fixture: Path) -> None:
    """Compare a JSON dump with the fixture's ``.json`` golden (``UPDATE_GOLDEN=1`` rewrites)."""
    expected_path = fixture.with_suffix(".json")
    if UPDATE_GOLDEN:
        expected_path.write_text(got, encoding="utf-8")
    assert expected_path.is_file(), f"no golden {expected_path.name}; run with UPDATE_GOLDEN=1"
    assert json.loads(got) == json.loads(expected_path.read_text(encoding="utf-8"))
