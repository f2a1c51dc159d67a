"""Property tests of the QUBO lowering on random small models (exhaustive over bits)."""

from __future__ import annotations

import flat_fixtures as ff
import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qgridlang.compilers import qubo
from qgridlang.compilers.qubo_encodings import decode_k, encode_k, make_registers
from qgridlang.flat import FlatModel

MAX_BITS = 14
METHODS = (None, "binary", "unary", "onehot", "domain_wall")


@st.composite
def small_models(draw: st.DrawFn) -> FlatModel:
    """2–5 binary/integer variables, 1–3 rows with integer or half-integer coefficients whose
    bounds sit around a random grid point (so most models are feasible), linear + quadratic
    objective of either sense."""
    n = draw(st.integers(2, 5))
    variables, encodings, point = [], [], []
    for k in range(n):
        if draw(st.booleans()):
            variables.append(ff.Var(f"b{k}"))
            point.append(draw(st.integers(0, 1)))
            continue
        lb = draw(st.integers(-1, 1))
        ub = lb + draw(st.integers(1, 3))
        variables.append(ff.Var(f"z{k}", "integer", lb, ub))
        point.append(draw(st.integers(lb, ub)))
        method = draw(st.sampled_from(METHODS))
        if method:
            encodings.append((f"z{k}", method, None))
    unit = draw(st.sampled_from([1.0, 0.5]))
    coeff = st.integers(-3, 3).map(lambda v: v * unit)
    rows = []
    for r in range(draw(st.integers(1, 3))):
        a = draw(st.lists(coeff, min_size=n, max_size=n))
        act = float(np.dot(a, point))
        below, above = (draw(st.integers(0, 2)) * unit for _ in range(2))
        lo, hi = draw(st.sampled_from([(act - below, np.inf), (-np.inf, act + above),
                                       (act, act), (act - below, act + above)]))
        rows.append(ff.Row(f"r{r}", a, lo, hi))
    c = draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(-3, 3))
    q = [(min(i, j), max(i, j), float(v)) for i, j, v in draw(st.lists(pairs, max_size=2))]
    return ff.build("random", variables, rows, c, q, sense=draw(st.sampled_from(["min", "max"])),
                    obj_const=draw(st.integers(-3, 3)), encodings=encodings)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(small_models())
def test_feasible_energy_is_objective_and_violations_cost_more(flat: FlatModel) -> None:
    bqm, inverse = qubo.apply(flat)
    assume(bqm.num_variables <= MAX_BITS)
    best, _, points = ff.brute_force(flat)
    sign = 1.0 if flat.sense == "min" else -1.0
    order = range(bqm.num_variables)
    if len(points):
        encoded = qubo.encode_point(points, inverse)
        np.testing.assert_allclose(bqm.energies((encoded, order)),
                                   sign * ff.objective(flat, points), atol=1e-7)
    every = ff.every_bit_string(bqm.num_variables)
    energy = bqm.energies((every, order))
    x = qubo.invert(every, inverse)
    good = ff.valid_structure(every, inverse) & ff.feasible(flat, x)
    assert (energy[good] >= sign * ff.objective(flat, x[good]) - 1e-7).all()
    if good.any():
        assert energy.min() == np.float64(best) or np.isclose(energy.min(), best, atol=1e-7)
        assert (energy[~good] > best + 1e-7).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40)), min_size=1, max_size=6),
       st.data())
def test_registers_round_trip(spec: list[tuple[int, int]], data: st.DataObject) -> None:
    method, kmax = (np.array(v) for v in zip(*spec, strict=True))
    regs = make_registers(method, kmax, np.ones(len(kmax)), np.zeros(len(kmax)), base=0)
    k = np.array([[data.draw(st.integers(0, int(m))) for m in kmax]])
    bits = encode_k(regs, k)
    np.testing.assert_array_equal(decode_k(regs, bits), k)
    top = encode_k(regs, np.ones((1, len(kmax))) * 10**6)  # clipped to kmax
    np.testing.assert_array_equal(decode_k(regs, top), kmax[None, :])
    ones = decode_k(regs, np.ones((1, regs.n_bits)))
    log = method == 0
    np.testing.assert_array_equal(ones[0, log], kmax[log])  # log strings never exceed kmax
