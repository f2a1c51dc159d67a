"""The LFC plant of SPECS §C1 built by hand as a SystemSpec (for the engine's tests, which must not
depend on the language front end)."""

from __future__ import annotations

import numpy as np

from qgridlang.control.linear import linear_system
from qgridlang.control.spec import Signal, SystemSpec

# Table 1 of the paper, as read in SPECS §C1
KR, TR, TT, TG, D_DAMP, M_INERTIA, INV_R, TB = 0.5, 10.0, 0.3, 0.05, 1.0, 10.0, 20.0, 0.1
BIAS = D_DAMP + INV_R  # B = D + 1/R = 21
SOC_RATE = 500.0 / (5.0 * 3600.0)  # SOC per s per pu of battery power (500 MW base, 5 MWh)


def lfc_plant(ki: float = 0.2, kp: float = 0.0, M: float = M_INERTIA, D: float = D_DAMP,
              soc0: float = 0.6, u_limit: float = 0.02, name: str = "lfc") -> SystemSpec:
    """States [df, pv, pt, pg, pb, ace, soc], input ub (|ub| <= u_limit), disturbance dpl,
    output df_hz = 50 df (Hz)."""
    states = (Signal("df", "state", "pu"), Signal("pv", "state", "pu"),
              Signal("pt", "state", "pu"), Signal("pg", "state", "pu"),
              Signal("pb", "state", "pu"), Signal("ace", "state", "pu*s"),
              Signal("soc", "state", "", 0.1, 0.9, initial=soc0))
    inputs = (Signal("ub", "input", "pu", -u_limit, u_limit),)
    dists = (Signal("dpl", "disturbance", "pu"),)
    outputs = (Signal("df_hz", "output", "Hz"),)
    A = np.zeros((7, 7))
    A[0, [0, 3, 4]] = [-D / M, 1 / M, 1 / M]
    # dpv/dt = (dPc - (1/R) df - pv)/Tg with dPc = -(kp ACE + ki ∫ACE), ACE = B df
    A[1, [0, 1, 5]] = [(-kp * BIAS - INV_R) / TG, -1 / TG, -ki / TG]
    A[2, [1, 2]] = [1 / TT, -1 / TT]
    A[3, [1, 2, 3]] = [KR / TT, 1 / TR - KR / TT, -1 / TR]
    A[4, 4] = -1 / TB
    A[5, 0] = BIAS
    A[6, 4] = -SOC_RATE
    B = np.zeros((7, 1))
    B[4, 0] = 1 / TB
    E = np.zeros((7, 1))
    E[0, 0] = -1 / M
    C = np.zeros((1, 7))
    C[0, 0] = 50.0
    return linear_system(name, states, inputs, dists, outputs, A, B, E, C=C)
