"""QUBO lowering: exact optima, energies, encodings, penalties, report, exports, errors."""

from __future__ import annotations

import json
import math

import dimod
import flat_fixtures as ff
import numpy as np
import pytest
from pyqubo import Binary, Constraint, Placeholder

from qgridlang.compilers import qubo
from qgridlang.errors import QglErrors, UnknownName, UnsupportedConstruct, UsageError
from qgridlang.flat import FlatModel

# checked both ways: with arrays and element by element (qgridlang.semantics.vector)
pytestmark = pytest.mark.usefixtures("both_expansions")


def ground(bqm: dimod.BinaryQuadraticModel) -> tuple[np.ndarray, float]:
    assert bqm.num_variables <= 16
    best = dimod.ExactSolver().sample(bqm).first
    return np.array([best.sample[v] for v in range(bqm.num_variables)]), float(best.energy)


def energies(bqm: dimod.BinaryQuadraticModel, bits: np.ndarray) -> np.ndarray:
    return bqm.energies((np.atleast_2d(bits), range(bqm.num_variables)))


def sign(flat: FlatModel) -> float:
    return 1.0 if flat.sense == "min" else -1.0


@pytest.mark.parametrize("name", sorted(ff.ALL))
def test_ground_state_decodes_to_brute_force_optimum(name: str) -> None:
    flat = ff.ALL[name]()
    bqm, inverse = qubo.apply(flat)
    best, optima, _ = ff.brute_force(flat)
    bits, energy = ground(bqm)
    x = qubo.invert(bits, inverse)
    assert energy == pytest.approx(best, abs=1e-9)
    assert any(np.allclose(x, o) for o in optima)


@pytest.mark.parametrize("name", sorted(ff.ALL))
def test_energy_equals_objective_on_every_feasible_point(name: str) -> None:
    flat = ff.ALL[name]()
    bqm, inverse = qubo.apply(flat)
    _, _, points = ff.brute_force(flat)
    bits = qubo.encode_point(points, inverse)
    np.testing.assert_allclose(qubo.invert(bits, inverse), points, atol=1e-12)
    np.testing.assert_allclose(energies(bqm, bits), sign(flat) * ff.objective(flat, points),
                               atol=1e-9)


def test_knapsack_report_and_auto_weight() -> None:
    flat = ff.knapsack()
    bqm, inverse = qubo.apply(flat)
    rep = qubo.report(inverse)
    assert rep.n_bits == bqm.num_variables == 4 + 3
    assert rep.decision_bits == {"take": 4} and rep.encoding_bits == {}
    assert rep.slack_bits == {"capacity": 3}  # activity 0..7 on lattice 1
    f_lo, f_hi = rep.objective_range
    assert (f_lo, f_hi) == (-28.0, 0.0)  # minimisation form: -(6 + 5 + 8 + 9) .. 0
    cap = rep.penalties["capacity"]
    assert cap.min_violation == 1.0 and cap.bound == 28.0
    assert cap.weight == pytest.approx(1.1 * 28.0) and cap.guaranteed and cap.source == "auto"
    assert rep.n_quadratic == bqm.num_interactions
    lin, (_, _, quad), _ = bqm.to_numpy_vectors()
    mags = np.abs(np.concatenate([lin, quad]))
    assert rep.dynamic_range == pytest.approx(mags.max() / mags[mags > 0].min())
    json.dumps(rep.to_dict())
    bits = qubo.encode_point(np.array([1.0, 0, 0, 1]), inverse)
    assert qubo.slack_values(bits, inverse).tolist() == [[7.0]]  # slack = activity - 0


def test_fractional_coefficients_use_their_lattice() -> None:
    flat = ff.fractional()
    _, inverse = qubo.apply(flat)
    assert inverse.slacks.step.tolist() == pytest.approx([0.05])  # gcd of 0.1, 0.25, 0.3, 0.1
    cap = qubo.report(inverse).penalties["cap"]
    assert cap.min_violation == pytest.approx(0.05**2) and cap.residual == 0.0 and cap.guaranteed


def test_real_grid_and_discretisation_bound() -> None:
    _, inverse = qubo.apply(ff.real_with_step())
    assert qubo.report(inverse).discretisation == {"p": (0.25, "MW")}
    assert inverse.columns.kmax.tolist() == [5, 1]
    for ub, bound in ((2.7, 0.25), (2.9, 0.4), (0.3, 0.3)):
        flat = ff.build("r", [ff.Var("p", "real", 0, ub, unit="MW")], [], c=[1.0],
                        encodings=[("p", "integer", 0.5)])
        assert qubo.report(qubo.apply(flat)[1]).discretisation["p"][0] == pytest.approx(bound)


def test_onehot_and_domain_wall_are_recorded_as_constraints() -> None:
    rep = qubo.report(qubo.apply(ff.max_sense_onehot())[1])
    assert rep.encoding_bits == {"s": 5} and rep.penalties["onehot(s)"].kinds == ("onehot",)
    rep = qubo.report(qubo.apply(ff.domain_wall())[1])
    assert rep.encoding_bits == {"s": 3} and rep.penalties["domain_wall(s)"].min_violation == 1


@pytest.mark.parametrize("name", ["max_sense_onehot", "domain_wall"])
def test_broken_structure_costs_more_than_the_optimum(name: str) -> None:
    flat = ff.ALL[name]()
    bqm, inverse = qubo.apply(flat)
    every = ff.every_bit_string(bqm.num_variables)
    broken = ~ff.valid_structure(every, inverse)
    best, _, _ = ff.brute_force(flat)
    assert broken.any() and (energies(bqm, every[broken]) > best + 1e-9).all()


def test_structural_labels_and_retune_by_label() -> None:
    flat = ff.build("keyed", [ff.Var("s", "integer", 0, 2, size=2)],
                    [ff.Row("sum", [1, 1], hi=3)], c=[-1, -1], encodings=[("s", "onehot", None)])
    bqm, inverse = qubo.apply(flat)
    assert inverse.penalty_labels[-2:] == ("onehot(s)[1]", "onehot(s)[2]")
    weight = qubo.report(inverse).penalties["onehot(s)"].weight
    assert qubo.retune(inverse, ["onehot(s)[2]"]) == {"onehot(s)": 2 * weight}
    best, _, _ = ff.brute_force(flat)
    assert ground(bqm)[1] == pytest.approx(best)


def test_integer_with_coarse_step() -> None:
    flat = ff.build("coarse", [ff.Var("z", "integer", 0, 7)], [ff.Row("low", [1], hi=5)],
                    c=[-1], encodings=[("z", "integer", 2)])
    bqm, inverse = qubo.apply(flat)
    assert qubo.report(inverse).discretisation == {"z": (1.0, "")}
    assert qubo.invert(ground(bqm)[0], inverse).tolist() == [4.0]


def test_ranged_row_uses_one_slack() -> None:
    rep = qubo.report(qubo.apply(ff.ranged_row())[1])
    assert rep.slack_bits == {"band": 1}  # activity 2..3: one bit of step 1


def test_rows_never_violated_are_dropped_and_infeasible_rows_reported() -> None:
    flat = ff.build("d", [ff.Var("x", size=2)],
                    [ff.Row("loose", [1, 1], hi=5), ff.Row("never", [1, 1], lo=3, key=(7,))],
                    c=[1, 1])
    _, inverse = qubo.apply(flat)
    rep = qubo.report(inverse)
    assert rep.rows_dropped == 1 and rep.rows_infeasible == ("never[7]",)
    assert "loose" not in rep.penalties


def test_equality_off_lattice_is_infeasible() -> None:
    flat = ff.build("e", [ff.Var("k", "integer", 0, 5)], [ff.Row("odd", [2], lo=3, hi=3)], c=[1])
    assert qubo.report(qubo.apply(flat)[1]).rows_infeasible == ("odd",)


def test_incommensurate_coefficients_record_a_residual() -> None:
    flat = ff.build("irr", [ff.Var("x", size=3)],
                    [ff.Row("cap", [1.0, math.sqrt(2), math.pi], hi=3.5)], c=[-1, -1, -1])
    bqm, inverse = qubo.apply(flat, qubo.QuboOptions(nongrid_bits=6))
    cap = qubo.report(inverse).penalties["cap"]
    sigma = (1 + math.sqrt(2) + math.pi) / 63
    assert not cap.guaranteed and cap.min_violation == pytest.approx(sigma**2)
    assert 0 < cap.residual <= sigma**2
    bits, _ = ground(bqm)
    assert not qubo.invert(bits, inverse).tolist() == [1, 1, 1]  # 5.56 > 3.5


def test_penalty_number_and_overrides() -> None:
    flat = ff.build("k", [ff.Var("take", size=4)], [ff.Row("capacity", [2, 3, 4, 5], hi=7)],
                    c=[6, 5, 8, 9], sense="max", penalty=50.0)
    pen = qubo.report(qubo.apply(flat)[1]).penalties["capacity"]
    assert (pen.weight, pen.source, pen.guaranteed) == (50.0, "global", True)
    opts = qubo.QuboOptions(penalties=(("capacity", 3.0),))
    pen = qubo.report(qubo.apply(flat, opts)[1]).penalties["capacity"]
    assert (pen.weight, pen.source, pen.guaranteed) == (3.0, "override", False)


def test_unknown_penalty_name_suggests_the_close_one() -> None:
    flat = ff.build("k", [ff.Var("x", size=2)], [ff.Row("capacity", [1, 1], hi=1)], c=[1, 1],
                    penalties=[("capacty", 2.0)])
    with pytest.raises(UnknownName) as err:
        qubo.apply(flat)
    assert err.value.span == ff.span(300) and err.value.hint == "did you mean 'capacity'?"
    with pytest.raises(UsageError):
        qubo.apply(ff.knapsack(), qubo.QuboOptions(penalties=(("nope", 1.0),)))


def test_retune_multiplies_violated_weights() -> None:
    flat = ff.build("two", [ff.Var("x", size=3)],
                    [ff.Row("a", [1, 1, 0], hi=1, key=(1,)), ff.Row("a", [0, 1, 1], hi=1, key=(2,)),
                     ff.Row("b", [1, 0, 1], lo=1, hi=1)], c=[-1, -2, -1])
    _, inverse = qubo.apply(flat, qubo.QuboOptions(penalties=(("b", 9.0),)))
    weights = qubo.report(inverse).penalties
    new = qubo.retune(inverse, ["a[2]", "x[1]"], factor=3.0)
    assert new == {"a": 3.0 * weights["a"].weight, "b": 9.0}
    assert qubo.retune(inverse, ["b"]) == {"b": 18.0}


def test_unbalanced_knapsack_matches_dimod_and_needs_no_slack() -> None:
    weights, values, cap = [3, 11, 14, 19, 5], [8, 47, 10, 5, 16], 26
    flat = ff.build("kp", [ff.Var("x", size=5)], [ff.Row("w", weights, hi=cap)], c=values,
                    sense="max")
    bqm, inverse = qubo.apply(flat, qubo.QuboOptions(inequality="unbalanced"))
    assert bqm.num_variables == 5 and qubo.report(inverse).penalties["w"].source == (
        "unbalanced default")
    ref = dimod.BinaryQuadraticModel({i: -v for i, v in enumerate(values)}, {}, 0.0, "BINARY")
    ref.add_linear_inequality_constraint(list(enumerate(weights)), [0.96, 0.0371], "w", ub=cap,
                                         penalization_method="unbalanced")
    every = ff.every_bit_string(5)
    diff = energies(bqm, every) - energies(ref, every)
    np.testing.assert_allclose(diff, diff[0], atol=1e-9)  # dimod drops part of the constant
    bits, _ = ground(bqm)
    assert qubo.invert(bits, inverse).tolist() == [1, 1, 0, 0, 1]  # the optimum, value 71


def test_pyqubo_builds_the_same_coefficients() -> None:
    flat = ff.build("mix", [ff.Var("take", size=3), ff.Var("n", "integer", 0, 5)],
                    [ff.Row("capacity", [2, 3, 4, 1], hi=8), ff.Row("link", [1, 1, 0, -1],
                                                                  lo=0, hi=0)],
                    c=[-3, -4, -5, 1], q=[(0, 3, 0.5)])
    bqm, inverse = qubo.apply(flat)
    b = [Binary(f"b{k}") for k in range(bqm.num_variables)]
    n = b[3] + 2 * b[4] + 2 * b[5]  # bounded-coefficient log encoding of 0..5
    take = b[:3]
    slack = inverse.slacks
    s = sum(float(w) * slack.step[0] * b[slack.base + k] for k, w in enumerate(slack.bit_weight))
    objective = -3 * take[0] - 4 * take[1] - 5 * take[2] + n + 0.5 * take[0] * n
    capacity = 2 * take[0] + 3 * take[1] + 4 * take[2] + n - s  # slack origin is activity 0
    link = take[0] + take[1] - n
    h = (objective + Placeholder("capacity") * Constraint(capacity**2, "capacity")
         + Placeholder("link") * Constraint(link**2, "link"))
    pens = qubo.report(inverse).penalties
    ref = h.compile().to_bqm(feed_dict={k: pens[k].weight for k in ("capacity", "link")})
    ref.relabel_variables({f"b{k}": k for k in range(bqm.num_variables)})
    assert ref.num_variables == bqm.num_variables
    for v in bqm.variables:
        assert bqm.get_linear(v) == pytest.approx(ref.get_linear(v), abs=1e-9)
    for (u, v), bias in {**dict(bqm.quadratic), **dict(ref.quadratic)}.items():
        assert bqm.get_quadratic(u, v, default=0) == pytest.approx(
            ref.get_quadratic(u, v, default=0), abs=1e-9)
    assert bqm.offset == pytest.approx(ref.offset, abs=1e-9)


def test_real_without_step_points_at_the_variable() -> None:
    flat = ff.real_without_step()
    with pytest.raises(UnsupportedConstruct) as err:
        qubo.apply(flat)
    assert err.value.span == flat.block_of("p").span
    assert "encode p as integer(step = … MW)" in err.value.message


def test_every_encoding_problem_is_reported_at_once() -> None:
    flat = ff.build("bad", [ff.Var("p", "real", 0, math.inf), ff.Var("k", "integer", 0, 3)], [],
                    c=[1, 1], encodings=[("k", "onehott", None), ("q", "binary", None)])
    with pytest.raises(QglErrors) as err:
        qubo.apply(flat)
    found = {(type(e).__name__, e.span.line if e.span else 0) for e in err.value.errors}
    assert found == {("UnsupportedConstruct", 1), ("UnsupportedConstruct", 200),
                     ("UnknownName", 201)}
    assert any(e.hint == "did you mean 'onehot'?" for e in err.value.errors)


def test_invert_checks_the_bit_count() -> None:
    _, inverse = qubo.apply(ff.knapsack())
    with pytest.raises(UsageError):
        qubo.invert(np.zeros((2, 3)), inverse)
    assert qubo.invert(np.zeros(7), inverse).shape == (4,)
    assert qubo.invert(np.zeros((2, 7)), inverse).shape == (2, 4)


def test_coo_text_round_trips() -> None:
    bqm, _ = qubo.apply(ff.quadratic_binary())
    lines = qubo.to_coo_text(bqm).splitlines()
    assert lines[0].startswith("#") and lines[1].split()[0] == "offset"
    back = dimod.BinaryQuadraticModel({}, {}, float(lines[1].split()[1]), "BINARY")
    for line in lines[2:]:
        i, j, v = line.split()
        if i == j:
            back.add_linear(int(i), float(v))
        else:
            back.add_quadratic(int(i), int(j), float(v))
    every = ff.every_bit_string(3)
    np.testing.assert_allclose(energies(back, every), energies(bqm, every))


def test_lp_text_reads_into_highs_with_the_same_energies(tmp_path: object) -> None:
    highspy = pytest.importorskip("highspy")
    bqm, _ = qubo.apply(ff.knapsack())
    path = f"{tmp_path}/knapsack.lp"
    with open(path, "w") as fh:
        fh.write(qubo.to_lp_text(bqm))
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(path) == highspy.HighsStatus.kOk
    model = h.getModel()
    lp, hessian = model.lp_, model.hessian_
    n = lp.num_col_
    lower = np.zeros((n, n))  # HiGHS keeps one triangle of the symmetric Hessian, by column
    for col in range(n):
        for p in range(hessian.start_[col], hessian.start_[col + 1]):
            lower[hessian.index_[p], col] = hessian.value_[p]
    hess = lower + lower.T - np.diag(np.diag(lower))
    order = [int(h.getColByName(f"b{k}")[1]) for k in range(n)]
    every = ff.every_bit_string(n)
    x = np.zeros_like(every, dtype=float)
    x[:, order] = every
    value = x @ np.array(lp.col_cost_) + 0.5 * np.einsum("si,ij,sj->s", x, hess, x) + lp.offset_
    np.testing.assert_allclose(value, energies(bqm, every), atol=1e-9)
    assert all(int(i) == 1 for i in lp.integrality_) and set(lp.col_upper_) == {1.0}
