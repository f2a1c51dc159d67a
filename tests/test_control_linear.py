"""The LFC plant's state space against its transfer functions, ZOH discretisation, and the DARE
terminal cost (qgridlang.control.linear)."""

from __future__ import annotations

import control
import numpy as np
import pytest
from control_lfc import BIAS, INV_R, KR, SOC_RATE, TB, TG, TR, TT, lfc_plant
from scipy.linalg import expm

from qgridlang.control.linear import (
    _regularised_dare,
    discretise,
    require_linear,
    state_space,
    step_response,
    terminal_cost,
)
from qgridlang.control.spec import SystemSpec
from qgridlang.errors import UnsupportedConstruct


def _blocks(ki: float, M: float = 10.0, D: float = 1.0) -> dict[str, control.TransferFunction]:
    """SPECS §C1's blocks as transfer functions, and the closed loops from dpl and ub."""
    s = control.tf("s")
    grid = 1 / (M * s + D)
    governor = 1 / (TG * s + 1)
    turbine = 1 / (TT * s + 1)
    reheater = (1 + KR * TR * s) / (1 + TR * s)
    battery = 1 / (TB * s + 1)
    # the unit's response to df: droop 1/R plus the secondary integral ki B / s (kp = 0)
    unit = control.series(INV_R + ki * BIAS / s, governor, turbine, reheater) if ki else \
        control.series(INV_R, governor, turbine, reheater)
    df_per_power = control.feedback(grid, unit)  # df per pu of (pb - dpl), negative feedback
    return {
        "df_dpl": -df_per_power,
        "df_ub": control.series(battery, df_per_power),
        "pg_dpl": control.series(-df_per_power, -unit),
        "pb_ub": battery,
        "soc_ub": control.series(battery, -SOC_RATE / s),
    }


@pytest.mark.parametrize("ki", [0.0, 0.2])
def test_state_space_steps_equal_the_transfer_function_interconnection(ki: float) -> None:
    plant = lfc_plant(ki=ki)
    T = np.linspace(0.0, 30.0, 3001)
    tf = _blocks(ki)
    from_dpl = step_response(plant, T, "dpl")
    from_ub = step_response(plant, T, "ub")
    pairs = [(from_dpl["df"], tf["df_dpl"]), (from_ub["df"], tf["df_ub"]),
             (from_dpl["pg"], tf["pg_dpl"]), (from_ub["pb"], tf["pb_ub"]),
             (from_ub["soc"], tf["soc_ub"])]
    for ss_y, g in pairs:
        tf_y = np.asarray(control.step_response(g, T).outputs).reshape(-1)
        assert np.max(np.abs(ss_y - tf_y)) < 1e-6
    # the output df_hz is 50 df, in Hz
    assert np.max(np.abs(from_dpl["df_hz"] - 50 * from_dpl["df"])) < 1e-12
    # and the responses are not trivially small: a unit load step's nadir is -0.080 to -0.086 pu
    assert from_dpl["df"].min() < -0.07


def test_state_space_names_inputs_and_outputs() -> None:
    sys = state_space(lfc_plant())
    assert sys.ninputs == 2 and sys.noutputs == 8 and sys.nstates == 7
    assert sys.input_labels == ["ub", "dpl"]
    assert sys.output_labels[-1] == "df_hz"


def test_zoh_discretisation_is_exact_with_the_affine_constant() -> None:
    plant = lfc_plant()
    lin = plant.linear
    assert lin is not None
    c = np.arange(1.0, 8.0) * 1e-3  # a constant the LFC does not have, to exercise cd
    lin = type(lin)(lin.A, lin.B, lin.E, c, lin.C, lin.D, lin.F, lin.g)
    d = discretise(lin, 0.1)
    # exact ZOH through the matrix exponential of [[A, [B E c]], [0, 0]]
    n = 7
    big = np.zeros((n + 3, n + 3))
    big[:n, :n] = lin.A
    big[:n, n:] = np.hstack([lin.B, lin.E, c.reshape(n, 1)])
    ex = expm(big * 0.1)
    assert np.allclose(d.Ad, ex[:n, :n], atol=1e-12)
    assert np.allclose(d.Bd, ex[:n, n:n + 1], atol=1e-12)
    assert np.allclose(d.Ed, ex[:n, n + 1:n + 2], atol=1e-12)
    assert np.allclose(d.cd, ex[:n, n + 2], atol=1e-12)


def _dare_residual(A: np.ndarray, B: np.ndarray, Q: np.ndarray, R: np.ndarray,
                   P: np.ndarray) -> float:
    K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
    return float(np.abs(A.T @ P @ A - A.T @ P @ B @ K + Q - P).max())


def test_terminal_cost_solves_the_dare_and_ignores_the_soc_integrator() -> None:
    plant = lfc_plant()
    assert plant.linear is not None
    d = discretise(plant.linear, 0.1)
    H = np.zeros((8, 8))
    H[0, 0], H[7, 7] = 1e4, 1.0  # q df^2 + r ub^2: SOC (an integrator) is unseen
    P, regularised = terminal_cost(d, H)
    assert not regularised
    assert np.allclose(P, P.T) and np.linalg.eigvalsh(P).min() > -1e-9
    assert np.abs(P[6]).max() < 1e-9  # zero along SOC: the cost never depends on it
    assert _dare_residual(d.Ad, d.Bd, H[:7, :7], H[7:, 7:], P) < 1e-6 * np.abs(P).max()
    # it is the limit of the regularised DARE as the weight on SOC goes to zero
    Q = H[:7, :7].copy()
    Q[6, 6] = 1e-12
    P_eps, _, _ = control.dare(d.Ad, d.Bd, Q, H[7:, 7:])
    keep = np.r_[0:6]
    assert np.allclose(P_eps[np.ix_(keep, keep)], P[np.ix_(keep, keep)],
                       rtol=1e-4, atol=1e-6 * np.abs(P).max())
    # the fallback (a tiny weight on the undetectable unit-circle modes only) agrees too
    P_reg, _, _ = _regularised_dare(d.Ad, d.Bd, H[:7, :7], H[7:, 7:], np.zeros((7, 1)), 1e-12,
                                    None)
    assert np.allclose(P_reg[np.ix_(keep, keep)], P[np.ix_(keep, keep)],
                       rtol=1e-4, atol=1e-6 * np.abs(P).max())
    assert abs(P_reg[6, 6]) < 1e-3  # the regularised SOC weight stays tiny


def test_nonlinear_system_refused_where_a_linear_one_is_needed() -> None:
    plant = lfc_plant()
    nonlinear = SystemSpec("pend", plant.states, plant.inputs, plant.disturbances,
                           plant.outputs, plant.rhs, plant.output_map, None)
    with pytest.raises(UnsupportedConstruct, match="MPC needs a linear system"):
        require_linear(nonlinear, "MPC")
