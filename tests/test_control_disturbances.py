"""Disturbance profiles on the time grid: deterministic per seed, held as declared."""

from __future__ import annotations

import numpy as np
import pytest

from qgridlang.control.disturbances import onset, profile_values
from qgridlang.control.spec import DisturbanceProfile
from qgridlang.errors import Span, TypeMismatch

DT = 0.1
T = np.arange(101) * DT  # 0 .. 10 s; t[3] = 0.30000000000000004, t[7] = 0.7000000000000001


def test_step_starts_on_the_grid_point_at_its_time() -> None:
    for at, first in ((2.0, 20), (0.3, 3), (0.7, 7), (0.25, 3)):  # 0.25 s: the next grid point
        W = profile_values([DisturbanceProfile(0, "step", {"at": at, "size": 0.01})], 1, T, 0,
                           DT)
        assert np.all(W[:first, 0] == 0.0) and np.all(W[first:, 0] == 0.01)


def test_normal_is_the_seeded_draw_held_per_period() -> None:
    pr = DisturbanceProfile(0, "normal", {"sigma": 0.005, "mean": 0.001, "hold": 1.0,
                                          "start": 2.0})
    W = profile_values([pr], 1, T, 7, DT)[:, 0]
    draws = np.random.default_rng(7).normal(0.001, 0.005, 9)  # periods from 2 s to 10 s
    assert np.all(W[:20] == 0.0)
    for j in range(8):
        assert np.all(W[20 + 10 * j:30 + 10 * j] == draws[j])
    assert W[100] == draws[8]
    again = profile_values([pr], 1, T, 7, DT)[:, 0]
    other = profile_values([pr], 1, T, 8, DT)[:, 0]
    assert np.array_equal(W, again) and not np.array_equal(W, other)


def test_normal_without_hold_draws_every_step_and_profiles_add() -> None:
    W = profile_values([DisturbanceProfile(0, "normal", {"sigma": 1.0}),
                        DisturbanceProfile(0, "constant", {"value": 2.0}),
                        DisturbanceProfile(1, "series", {"hold": 2.5}, (1.0, -1.0))], 2, T, 1,
                       DT)
    assert np.allclose(W[:, 0], np.random.default_rng(1).normal(0.0, 1.0, 101) + 2.0)
    assert np.all(W[:25, 1] == 1.0) and np.all(W[25:, 1] == -1.0)  # the last value is held


def test_bad_profiles_are_located() -> None:
    span = Span("m.qgl", 4, 9)
    with pytest.raises(TypeMismatch, match="sigma") as err:
        profile_values([DisturbanceProfile(0, "normal", {}, span=span)], 1, T, 0, DT)
    assert err.value.span == span
    with pytest.raises(TypeMismatch, match="hold"):
        profile_values([DisturbanceProfile(0, "normal", {"sigma": 1.0, "hold": 0.0})], 1, T, 0,
                       DT)
    with pytest.raises(TypeMismatch, match="2 disturbance"):
        profile_values([DisturbanceProfile(2, "constant", {"value": 1.0})], 2, T, 0, DT)


def test_onset_is_the_earliest_event() -> None:
    assert onset([DisturbanceProfile(0, "step", {"at": 2.0}),
                  DisturbanceProfile(0, "normal", {"sigma": 1.0, "start": 5.0})]) == 2.0
    assert onset([]) == 0.0
