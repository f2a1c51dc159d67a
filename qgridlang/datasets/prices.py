"""Price vectors for the energy communities: the feasible set of the DN-EC paper's pricing
problem (bounds (1i) and the mean-price constraint (1j)), the projection onto it, the sampling
rule of the training prices (SPECS §A6) and the time-of-use family of the price search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qgridlang.errors import UsageError

BISECTION_STEPS = 200  # halvings of the shift bracket; far more than a double's 52-bit mantissa


@dataclass(frozen=True)
class PriceSet:
    """``lower <= price <= upper`` per period (1i) and ``mean(price) == mean`` (1j), in the
    price parameter's unit."""

    mean: float
    lower: float
    upper: float

    def __post_init__(self) -> None:
        values = (self.mean, self.lower, self.upper)
        if not all(np.isfinite(v) for v in values):
            raise UsageError(f"the price set needs finite numbers, got mean {self.mean}, "
                             f"bounds {self.lower} .. {self.upper}")
        if not self.lower <= self.mean <= self.upper:
            raise UsageError(f"the mean price {self.mean:g} is outside the bounds "
                             f"{self.lower:g} .. {self.upper:g}: no price vector satisfies both",
                             hint="the default bounds are 0.5 and 1.5 times the mean price")

    def contains(self, price: np.ndarray, tol: float = 1e-9) -> bool:
        scale = max(1.0, abs(self.mean))
        return bool(np.all(price >= self.lower - tol * scale)
                    and np.all(price <= self.upper + tol * scale)
                    and abs(float(np.mean(price)) - self.mean) <= tol * scale)


def project(price: np.ndarray, prices: PriceSet) -> np.ndarray:
    """The Euclidean projection of ``price`` onto the box (1i) intersected with the mean
    hyperplane (1j).

    The projection is ``clip(price + c, lower, upper)`` for the one common shift ``c`` that
    gives the right mean (the KKT conditions of the projection: the hyperplane's multiplier
    shifts every free coordinate by the same amount). The mean of the clipped vector grows
    monotonically with ``c``, so ``c`` is found by bisection; the final ``c`` is then solved
    exactly on the set of coordinates the bisection left free, so the mean holds to rounding.
    """
    y = np.asarray(price, dtype=float)
    if y.ndim != 1 or y.size == 0 or not np.all(np.isfinite(y)):
        raise UsageError("a price vector is a non-empty 1-D array of finite numbers")
    lo, hi, target = prices.lower, prices.upper, prices.mean
    n = y.size

    def mean_at(c: float) -> float:
        return float(np.mean(np.clip(y + c, lo, hi)))

    a, b = lo - float(y.max()), hi - float(y.min())  # every coordinate at lower / at upper
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (a + b)
        if mid in (a, b):  # the bracket is as narrow as doubles allow
            break
        if mean_at(mid) < target:
            a = mid
        else:
            b = mid
    c = 0.5 * (a + b)
    x = np.clip(y + c, lo, hi)
    free = (y + c > lo) & (y + c < hi)
    if free.any():  # solve sum(x) == n * mean for c on the free coordinates
        fixed = float(x[~free].sum())
        c = (n * target - fixed - float(y[free].sum())) / int(free.sum())
        x = x.copy()
        x[free] = np.clip(y[free] + c, lo, hi)
    return x


@dataclass(frozen=True)
class Perturbation:
    """SPECS §A6's sampling rule [NG: the paper gives none]: ``mean * (1 + sigma * z)`` with
    ``z`` white Gaussian noise smoothed by a Gaussian kernel of standard deviation ``length``
    periods and scaled to unit variance per period, then projected onto the price set.

    Sample ``i`` of seed ``s`` depends only on ``(s, i)`` (numpy's generator seeded with the pair),
    so a data set grows or resumes without changing the samples it already has.
    """

    sigma: float = 0.25
    length: float = 8.0  # periods (2 h at 15 min)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.sigma) and self.sigma >= 0):
            raise UsageError(f"the perturbation size must be a number >= 0, got {self.sigma}")
        if not (np.isfinite(self.length) and self.length > 0):
            raise UsageError(f"the smoothing length must be > 0 periods, got {self.length}")

    def kernel(self) -> np.ndarray:
        half = int(np.ceil(4 * self.length))
        k = np.exp(-0.5 * (np.arange(-half, half + 1) / self.length) ** 2)
        return k / np.sqrt(np.sum(k * k))  # unit variance of the smoothed noise

    def raw(self, seed: int, index: int, periods: int) -> np.ndarray:
        """``mean``-free relative perturbation ``sigma * z`` of sample ``index``."""
        k = self.kernel()
        rng = np.random.default_rng([seed, index])
        noise = rng.standard_normal(periods + k.size - 1)
        return self.sigma * np.convolve(noise, k, mode="valid")


def sample_prices(seed: int, indices: np.ndarray | list[int], periods: int, prices: PriceSet,
                  rule: Perturbation | None = None) -> np.ndarray:
    """Price vectors ``(len(indices), periods)`` by the sampling rule, each in the price set."""
    rule = rule or Perturbation()
    if seed < 0 or seed >= 2**63:
        raise UsageError(f"the seed must be in 0 .. 2**63-1, got {seed}")
    out = np.empty((len(indices), periods))
    for row, i in enumerate(indices):
        out[row] = project(prices.mean * (1.0 + rule.raw(seed, int(i), periods)), prices)
    return out


def tou_family(periods: int, boundaries: list[int], prices: PriceSet, step: float
               ) -> list[np.ndarray]:
    """The time-of-use price vectors of the price search: one price per block (blocks end at
    the period ``boundaries``), every block price on the grid ``lower + k * step`` within the
    bounds, except the last block's, which the mean-price constraint (1j) fixes; vectors whose
    last block falls outside the bounds are left out.

    The family is low-dimensional (blocks - 1 free prices) and lies in the price set exactly.
    """
    if not step > 0 or not np.isfinite(step):
        raise UsageError(f"the price step must be > 0, got {step}")
    edges = [0, *boundaries, periods]
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise UsageError(f"block boundaries must increase strictly inside 1 .. {periods - 1}, "
                         f"got {boundaries}")
    lengths = np.diff(edges)
    grid = np.arange(prices.lower, prices.upper + 1e-9 * max(1.0, abs(prices.upper)), step)
    grid = grid[grid <= prices.upper + 1e-12]
    out: list[np.ndarray] = []
    free = len(lengths) - 1
    total = periods * prices.mean
    for values in np.array(np.meshgrid(*[grid] * free, indexing="ij")).reshape(free, -1).T:
        last = (total - float(np.dot(values, lengths[:-1]))) / lengths[-1]
        if last < prices.lower - 1e-9 or last > prices.upper + 1e-9:
            continue
        last = min(max(last, prices.lower), prices.upper)
        out.append(np.repeat(np.append(values, last), lengths))
    if not out:
        raise UsageError("no time-of-use price vector on this grid meets the mean price within "
                         "the bounds", hint="use a smaller --step")
    return out
