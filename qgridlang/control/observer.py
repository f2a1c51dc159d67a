"""The disturbance observer shared by MPC and QMPC (SPECS §C2 "feedback correction").

A steady-state Kalman filter on the controller's discretised model augmented with an
integrating disturbance on one disturbance channel (the predictor's signal):

    x[k+1] = Ad x[k] + Bd u[k] + Ed[:, j] d[k] + cd + v_x,    d[k+1] = d[k] + v_d,
    y[k]   = x[k] + n                              (every state is measured)

Noise levels (standard deviations, in each state's and the disturbance's unit, per sample):
measurement ``1e-5``, state process ``1e-5``, disturbance random walk ``1e-3``. They are
small because the simulation has no sensor noise: the filter then trusts the states and reads
the disturbance off the innovation within a few samples (for the LFC, a 0.01 pu load step is
estimated to within 1 % in well under a second), while the ratio ``1e-3 / 1e-5`` keeps ``d̂``
from jumping on every rounding-level innovation. Other disturbance channels are taken as 0.
"""

from __future__ import annotations

import control
import numpy as np

from qgridlang.control.linear import Discrete
from qgridlang.errors import BackendError

MEASUREMENT_STD = 1e-5
STATE_STD = 1e-5
DISTURBANCE_STD = 1e-3


class DisturbanceObserver:
    """``update(y, u_prev) -> (x̂, d̂)``: the filtered state and disturbance after measuring y."""

    def __init__(self, model: Discrete, signal: int, x0: np.ndarray,
                 measurement_std: float = MEASUREMENT_STD, state_std: float = STATE_STD,
                 disturbance_std: float = DISTURBANCE_STD) -> None:
        n = model.Ad.shape[0]
        self.n = n
        has_d = model.Ed.shape[1] > 0
        ed = model.Ed[:, signal] if has_d else np.zeros(n)
        self.A = np.block([[model.Ad, ed.reshape(n, 1)], [np.zeros((1, n)), np.ones((1, 1))]])
        self.B = np.vstack([model.Bd, np.zeros((1, model.Bd.shape[1]))])
        self.c = np.concatenate([model.cd, [0.0]])
        self.C = np.hstack([np.eye(n), np.zeros((n, 1))])
        Qn = np.diag([state_std ** 2] * n + [disturbance_std ** 2])
        Rn = measurement_std ** 2 * np.eye(n)
        try:
            # the filter's prior covariance is the DARE of the dual (estimation) problem
            P, _, _ = control.dare(self.A.T, self.C.T, Qn, Rn)
        except Exception as exc:  # noqa: BLE001 - python-control raises several kinds
            raise BackendError(f"the disturbance observer has no steady-state gain ({exc})",
                               None) from exc
        P = np.asarray(P)
        self.gain = P @ self.C.T @ np.linalg.inv(self.C @ P @ self.C.T + Rn)
        self.x0 = np.asarray(x0, dtype=float)
        self.reset()

    def reset(self) -> None:
        self.z = np.concatenate([self.x0, [0.0]])
        self.started = False

    def update(self, y: np.ndarray, u_prev: np.ndarray) -> tuple[np.ndarray, float]:
        """Predict one sample ahead with the input applied since the last call, then correct."""
        if self.started:
            prior = self.A @ self.z + self.B @ u_prev + self.c
        else:  # the first measurement: nothing to predict from
            prior = self.z
            self.started = True
        self.z = prior + self.gain @ (y - self.C @ prior)
        return self.z[:self.n].copy(), float(self.z[self.n])
