"""Penalty updates keep the certified weights' guarantee unless the report says so: retuning only
raises weights (so every auto weight stays above its bound), scaling below 1 is reported as
unguaranteed, and the tempering chain's penalty ratio never reaches the QUBO it returns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qgridlang.checker import check_text
from qgridlang.compilers import qubo
from qgridlang.dispatcher import compile_model, solve_model
from qgridlang.registry import Options
from qgridlang.targets.qubo import lower
from tests.test_qubo_agreement import KNAPSACK, UNIT_COMMITMENT

CHECKED = {"knapsack": check_text(KNAPSACK, "k.qgl"), "uc": check_text(UNIT_COMMITMENT, "uc.qgl")}


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(CHECKED)), factor=st.floats(1.01, 10.0),
       picks=st.lists(st.integers(0, 50), max_size=4), rounds=st.integers(1, 3))
def test_retuning_only_raises_weights_and_keeps_the_guarantee(
        name: str, factor: float, picks: list[int], rounds: int) -> None:
    flat = CHECKED[name].flat
    _, inverse = lower(flat, Options())
    base = qubo.report(inverse).penalties
    assert all(p.guaranteed for p in base.values())
    for _ in range(rounds):
        labels = list(inverse.penalty_labels)
        broken = [labels[i % len(labels)] for i in picks]
        weights = qubo.retune(inverse, broken, factor)
        _, inverse = lower(flat, Options(), weights)
        now = qubo.report(inverse).penalties
        for cname, p in now.items():
            assert p.weight >= base[cname].weight - 1e-12
            assert p.guaranteed, cname


@pytest.mark.parametrize("scale, guaranteed", [(0.01, False), (1.0, True), (3.0, True)])
def test_scaling_is_reported(scale: float, guaranteed: bool) -> None:
    compiled = compile_model(CHECKED["uc"], "qubo", Options(extra={"penalty_scale": scale}))
    flags = {p["guaranteed"] for p in compiled.report["penalties"].values()}
    assert flags == {guaranteed}


def test_retune_rounds_in_a_solve_report_their_weights_and_never_lower_them() -> None:
    sol = solve_model(CHECKED["uc"], "random",
                      Options(seed=2, reads=1, extra={"penalty_retune": 3}))
    base = {n: p["weight"] for n, p in compile_model(CHECKED["uc"], "qubo")
            .report["penalties"].items()}
    for rnd in sol.info.get("penalty_retune", []):
        for cname, weight in rnd["weights"].items():
            assert weight > base[cname]


def test_tempering_returns_states_of_the_qubo_as_lowered() -> None:
    """The chain sees scaled penalties; what it returns is ranked and decoded on the QUBO's own
    energies, and the report's weights are the certified ones."""
    sol = solve_model(CHECKED["uc"], "tempering", Options(seed=1, sweeps=100))
    compiled = compile_model(CHECKED["uc"], "qubo")
    assert sol.info["report"]["penalties"] == compiled.report["penalties"]
    # the sampler's own energy of its best state is the BQM's energy of the returned bits
    assert sol.info["best_energy"] == pytest.approx(sol.info["sampleset"]["energy_min"])
    assert 0 < sol.info["penalty_ratio"] <= 1.0
