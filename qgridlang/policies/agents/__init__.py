"""Reinforcement-learning agents for policies: double DQN and SAC, each with a classical MLP
("dqn", "sac") or the SPECS §B5 variational circuit ("qdqn", "qsac"), on JAX + optax + flax +
PennyLane.

Importing this package imports neither JAX nor PennyLane (the registry is data); building an
agent (:func:`make_agent`) or training one does.
"""

from __future__ import annotations

from qgridlang.policies.agents.base import (
    AGENTS,
    Agent,
    AgentError,
    AgentInfo,
    agent_defaults,
    agent_keywords,
    load_agent,
    make_agent,
    resolve_options,
)
from qgridlang.policies.agents.training import evaluate, train

__all__ = ["AGENTS", "Agent", "AgentError", "AgentInfo", "agent_defaults", "agent_keywords",
           "evaluate", "load_agent", "make_agent", "resolve_options", "train"]

