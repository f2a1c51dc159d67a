"""A checked model's `policy` as a gymnasium environment.

- **State**: the observed expressions at period t, each an affine map of parameters and of
  columns realised in earlier periods; scaled to about [-1, 1] by each feature's range over all
  episodes and periods (from parameter values and variable bounds) unless ``normalize=False``.
- **Action**: the decided variables at t. Binary ones are a ``MultiBinary``, integer ones a
  ``MultiDiscrete`` (offset by their lower bounds), real ones a ``Box`` within their bounds.
- **Transition**: the model's own rows. The rest of period t (e.g. dispatch given commitment) is
  solved exactly by HiGHS given the action and the realised earlier periods
  (:mod:`qgridlang.policies.stages`); its values are realised and later periods read them.
- **Reward**: minus the stage cost of t (the objective terms of period t; plus its value for a
  maximised objective), minus ``penalty`` times the violation: the slack each row of t needed.
  ``info`` carries ``cost``, ``violation``, ``violations`` (row, amount, unit) and
  ``period``; ``solve_seconds`` accumulates the stage solves' time.
- **Episodes**: one per element of the policy's episode sets (a scenario set draws with its
  probabilities); ``reset(options={"episode": i})`` picks one.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from qgridlang.flat import FlatModel
from qgridlang.policies.spec import PolicySpec
from qgridlang.policies.stages import StageResult, StageSolver, analyse


class ModelEnv(gym.Env[np.ndarray, np.ndarray]):
    """The decision process of one `policy` declaration of a checked model."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, flat: FlatModel, spec: PolicySpec, normalize: bool = True) -> None:
        super().__init__()
        self.flat, self.policy = flat, spec
        self.plan = analyse(flat, spec)
        self.solver = StageSolver(flat, spec, self.plan)
        n = flat.n
        self._M = [[_padded(M, n) for M in row] for row in spec.obs_lin]
        self.center, self.scale = _feature_scale(flat, spec, self._M) if normalize else (
            np.zeros(len(spec.features)), np.ones(len(spec.features)))
        cols = spec.decide_cols[0, 0]
        self.low = flat.lb[cols].copy()
        self.high = flat.ub[cols].copy()
        if spec.discrete:
            span = np.rint(self.high - self.low).astype(np.int64) + 1
            binary = bool(np.all(self.low == 0) and np.all(span == 2))
            self.action_space: spaces.Space[Any] = (
                spaces.MultiBinary(len(cols)) if binary else spaces.MultiDiscrete(span))
        else:
            self.action_space = spaces.Box(self.low.astype(np.float32),
                                           self.high.astype(np.float32), dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, (len(spec.features),), np.float32)
        self.episode = 0
        self.k = 0
        self.x = np.zeros(n)
        self.penalty = self.plan.penalty
        self.solve_seconds = 0.0

    # ---- gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        E = len(self.policy.episode_keys)
        if options and "episode" in options:
            self.episode = int(options["episode"]) % E
        else:
            self.episode = int(self.np_random.choice(E, p=self.policy.episode_probs))
        self.k = 0
        self.x = np.zeros(self.flat.n)
        return self._observe(), {"episode": self.episode_label, "period": self.period}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.k >= self.policy.horizon:
            raise RuntimeError("the episode has ended: call reset()")
        values = self.decision(action)
        res = self.solver.solve(self.episode, self.k, values, self.x)
        reward = self.reward(res)
        info = {"period": self.period, "cost": res.cost, "violation": res.violation,
                "violations": res.violations}
        self.solve_seconds += res.seconds  # not in info: a step must be deterministic
        self.k += 1
        done = self.k >= self.policy.horizon
        obs = np.zeros(len(self.policy.features), np.float32) if done else self._observe()
        return obs, reward, done, False, info

    # ---- helpers ---------------------------------------------------------------------------
    @property
    def period(self) -> Any:
        return self.policy.periods[min(self.k, self.policy.horizon - 1)]

    @property
    def episode_label(self) -> tuple[Any, ...]:
        return self.policy.episode_keys[self.episode]

    def decision(self, action: Any) -> np.ndarray:
        """The action as values of the decided columns (in their units)."""
        a = np.asarray(action, float).reshape(-1)
        if a.shape[0] != len(self.low):
            raise ValueError(f"expected {len(self.low)} decisions, got {a.shape[0]}")
        if self.policy.discrete:
            return np.clip(self.low + np.rint(a), self.low, self.high)
        return np.clip(a, self.low, self.high)

    def reward(self, res: StageResult) -> float:
        gain = -res.cost if self.flat.sense == "min" else res.cost
        return float(gain - self.penalty * res.violation)

    def raw_observation(self) -> np.ndarray:
        e, k = self.episode, self.k
        return np.asarray(self._M[e][k] @ self.x).ravel() + self.policy.obs_const[e, k]

    def _observe(self) -> np.ndarray:
        return ((self.raw_observation() - self.center) / self.scale).astype(np.float32)


def _padded(M: Any, n: int) -> Any:
    """An observation map built before later columns existed, widened to the model's ``n``."""
    M = M.tocsr()
    if M.shape[1] != n:
        M = M.copy()
        M.resize((M.shape[0], n))
    return M


def _feature_scale(flat: FlatModel, spec: PolicySpec, Ms: list[list[Any]]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's centre and half-range over all episodes and periods: parameters by their
    values, variables by their bounds (a feature whose variables are unbounded is scaled by its
    parameter part alone)."""
    F = len(spec.features)
    lo = np.full(F, np.inf)
    hi = np.full(F, -np.inf)
    lb, ub = flat.lb, flat.ub
    for e, row in enumerate(Ms):
        for k, M in enumerate(row):
            const = spec.obs_const[e, k]
            pos = M.maximum(0)
            neg = M.minimum(0)
            with np.errstate(invalid="ignore"):
                a = np.asarray(pos @ np.where(np.isfinite(lb), lb, 0.0)).ravel() + \
                    np.asarray(neg @ np.where(np.isfinite(ub), ub, 0.0)).ravel()
                b = np.asarray(pos @ np.where(np.isfinite(ub), ub, 0.0)).ravel() + \
                    np.asarray(neg @ np.where(np.isfinite(lb), lb, 0.0)).ravel()
            lo = np.minimum(lo, const + a)
            hi = np.maximum(hi, const + b)
    center = (lo + hi) / 2.0
    half = (hi - lo) / 2.0
    scale = np.where(half > 1e-12, half, np.maximum(np.abs(center), 1.0))
    center = np.where(half > 1e-12, center, 0.0)
    return center, scale
