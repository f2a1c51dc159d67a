"""What a checked `policy` declaration holds, independent of JAX and gymnasium (the checker
builds it without importing the learning stack; the Env, `qglc train --policy` and
`qglc evaluate` read it).

    policy commit[d in D, t in T]: observe(load[d, t], u[G, d, prev(t)]) -> decide(u[G, d, t]) {
      agent = qdqn(qubits = 8, layers = 4, gamma = 0.99); episodes = 300; seed = 1
      penalty = 10000                      # objective units per unit of a broken row
      trained = "commit.qglp"              # where the trained agent lives (not hashed)
    }

The index's last set is the time set the policy steps through; the sets before it are drawn
once per episode (a scenario set with its probabilities, any other set uniformly). At each
period the observation is the observed expressions, each an affine map of the model's columns
realised in earlier periods (``obs = M x + m``), and the action sets the decided columns.

The declaration's hash covers what changes what training produces (the agent and its options,
the training settings, the features and actions by name) and not where the agent is stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from qgridlang.errors import Span

HASH_VERSION = "qgridlang-policy-declaration/1"
# agent -> the kind of decision it takes (the agents themselves: qgridlang.policies.agents)
AGENT_KINDS = {"dqn": "discrete", "qdqn": "discrete", "sac": "continuous", "qsac": "continuous"}


@dataclass(frozen=True)
class Feature:
    """One observed number: ``u[G, d, prev(t)]`` with ``G = g2`` is ``u[g2, d, prev(t)]``."""

    label: str
    unit: str
    span: Span


@dataclass
class PolicySpec:
    """One checked `policy` declaration and its observation/decision maps."""

    name: str
    agent: str  # qgridlang.policies.agents registry name
    options: dict[str, Any]  # the agent's keyword arguments as written
    time_set: str
    periods: tuple[Any, ...]  # the time set's labels, in order
    episode_sets: tuple[str, ...]  # the sets drawn per episode ("" none)
    episode_keys: tuple[tuple[Any, ...], ...]  # one per episode ((),) without episode sets
    episode_probs: np.ndarray  # the draw's probabilities, one per episode
    features: tuple[Feature, ...]
    actions: tuple[str, ...]  # decided column labels at the first period ("u[g1,1]")
    action_spans: tuple[Span, ...]
    discrete: bool  # binary/integer decisions (else real)
    # obs = obs_lin[e][k] @ x + obs_const[e, k]: per episode e and period k
    obs_const: np.ndarray  # (E, K, F)
    obs_lin: list[list[Any]]  # scipy.sparse csr (F, n) per episode and period
    decide_cols: np.ndarray  # (E, K, A) column indices
    feature_item: np.ndarray  # (F,) which observe item each feature comes from
    item_spans: tuple[Span, ...]
    episodes: int = 300
    seed: int = 1
    penalty: float | None = None  # None: 10 x the largest objective coefficient (reported)
    trained: str | None = None  # artifact path as written (relative to the model's folder)
    span: Span | None = None

    @property
    def horizon(self) -> int:
        return len(self.periods)

    def hashed(self) -> dict[str, Any]:
        """The fields the declaration's hash covers."""
        return {
            "version": HASH_VERSION,
            "agent": self.agent,
            "options": dict(sorted(self.options.items())),
            "train": {"episodes": self.episodes, "seed": self.seed, "penalty": self.penalty},
            "time": [self.time_set, len(self.periods)],
            "episodes": [list(self.episode_sets), len(self.episode_keys)],
            "features": [f.label for f in self.features],
            "actions": list(self.actions),
        }

    def digest(self) -> str:
        text = json.dumps(self.hashed(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def changed(self, other: dict[str, Any]) -> str | None:
        """What differs between this declaration and a hashed one (None: nothing)."""
        mine = self.hashed()
        for key in ("agent", "options", "train", "time", "episodes", "features", "actions"):
            if mine.get(key) != other.get(key):
                return f"{key}: trained with {other.get(key)}, declared {mine.get(key)}"
        return None
