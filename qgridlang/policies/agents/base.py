"""The agent registry, options, the interface every agent keeps, and the agent file format.

The registry is data (names, defaults, the module that holds the class), so listing agents or
checking a ``.qgl`` declaration's options imports neither JAX nor PennyLane; :func:`make_agent`
imports the agent's module when an agent is built.

An agent file (``save``) is one msgpack blob (flax.serialization): ``meta`` (JSON: the agent's
name, options, seed, observation and action spaces, step counters, the numpy generator's state
and the caller's ``extra``), ``state`` (the parameters, target parameters, optimiser states and
the JAX key as a flax state dict) and, in training checkpoints, ``buffer`` (the replay buffer).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from qgridlang.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    import gymnasium as gym

FORMAT = "qgridlang-agent/1"


class AgentError(UsageError):
    """A request no agent can serve: an unknown agent or option, a bad option value, an action or
    observation space the agent cannot handle, or a file that is not an agent."""


@runtime_checkable
class Agent(Protocol):
    """What the Env code and the benchmarks call (see :func:`make_agent`, :func:`train`)."""

    name: str
    options: dict[str, Any]

    def act(self, obs: np.ndarray, explore: bool = False) -> np.ndarray | int: ...

    def save(self, path: Path, extra: dict[str, Any] | None = None) -> None: ...

    def parameter_count(self) -> int: ...


@dataclass(frozen=True)
class AgentInfo:
    """One registered agent: where its class lives and every option's default."""

    name: str
    module: str  # inside qgridlang.policies.agents
    cls: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)


_DQN = {
    "learning_rate": 1e-3,  # Adam (SPECS §B5)
    "gamma": 0.99,
    "buffer_size": 10_000,
    "batch_size": 32,
    "target_sync": 100,  # env steps between copies of the online network into the target
    "train_frequency": 1,  # env steps between gradient steps
    "learning_starts": 200,  # env steps before the first gradient step
    "epsilon_start": 1.0,
    "epsilon_end": 0.01,
    # epsilon decays linearly over this fraction of the episodes (SPECS: 200 of 300)
    "exploration_fraction": 2 / 3,
}
_SAC = {
    "learning_rate": 3e-4,  # actor (SPECS §B5)
    "critic_learning_rate": 3e-4,  # critics and the entropy coefficient
    "gamma": 0.99,
    "tau": 0.005,  # Polyak averaging of the target critics, every step
    "buffer_size": 10_000,
    "batch_size": 64,
    "learning_starts": 500,  # env steps of uniform random actions before learning
    "policy_frequency": 2,  # actor updated every 2 steps, twice (CleanRL's delayed update)
    "alpha": 1.0,  # initial (autotune) or fixed entropy coefficient
    "autotune": True,
}
_MLP = {"hidden": 64, "hidden_layers": 2}  # SPECS §B5: the classical baseline is 2 x 64 ReLU
_CIRCUIT = {"qubits": 8, "layers": 4}  # SPECS §B5 [NG->s]

AGENTS: dict[str, AgentInfo] = {
    "dqn": AgentInfo("dqn", "dqn", "DQNAgent",
                     "double DQN, MLP Q-network (ReLU), branching heads for multi-dimensional "
                     "discrete actions", {**_MLP, **_DQN}),
    "qdqn": AgentInfo("qdqn", "dqn", "DQNAgent",
                      "double DQN, Q-network = the SPECS B5 circuit + affine readout of <Z>",
                      {**_CIRCUIT, **_DQN}),
    "sac": AgentInfo("sac", "sac", "SACAgent",
                     "SAC, tanh-squashed Gaussian MLP actor, twin MLP critics", {**_MLP, **_SAC}),
    "qsac": AgentInfo("qsac", "sac", "SACAgent",
                      "SAC, circuit actor (Gaussian mean from <Z_n> per action, trainable "
                      "log-std), twin MLP critics", {**_CIRCUIT, **_MLP, **_SAC}),
}

# closed ranges (lo, hi) beyond "positive" for the options that have them
_RANGES: dict[str, tuple[float, float]] = {
    "gamma": (0.0, 1.0), "tau": (0.0, 1.0), "epsilon_start": (0.0, 1.0),
    "epsilon_end": (0.0, 1.0), "exploration_fraction": (0.0, 1.0), "alpha": (0.0, math.inf),
    "learning_starts": (0, math.inf),
}


def _info(name: str) -> AgentInfo:
    info = AGENTS.get(name)
    if info is None:
        raise AgentError(f"unknown agent '{name}'",
                         hint=did_you_mean(name, AGENTS) or f"agents: {', '.join(AGENTS)}")
    return info


def agent_keywords(name: str) -> tuple[str, ...]:
    """The options a declaration ``agent = name(key = value, ...)`` may give."""
    return tuple(_info(name).defaults)


def agent_defaults(name: str) -> dict[str, Any]:
    """Every option of agent ``name`` with its default."""
    return dict(_info(name).defaults)


def resolve_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The defaults updated by ``options``, each checked and converted to its default's type
    (an integer given for a float option becomes a float; 0/1 are accepted for booleans)."""
    defaults = _info(name).defaults
    out = dict(defaults)
    for key, value in options.items():
        if key not in defaults:
            raise AgentError(f"agent '{name}' has no option '{key}'",
                             hint=did_you_mean(key, defaults) or
                             f"options: {', '.join(defaults)}")
        out[key] = _convert(name, key, value, defaults[key])
    return out


def _convert(agent: str, key: str, value: Any, default: Any) -> Any:
    where = f"agent '{agent}' option '{key}'"
    if isinstance(default, bool):
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise AgentError(f"{where} must be true or false, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise AgentError(f"{where} must be a number, got {value!r}")
    if isinstance(default, int):
        if float(value) != int(value):
            raise AgentError(f"{where} must be a whole number, got {value!r}")
        value = int(value)
    else:
        value = float(value)
    lo, hi = _RANGES.get(key, (None, math.inf))
    if lo is None:
        if not value > 0 or not math.isfinite(value):
            raise AgentError(f"{where} must be positive and finite, got {value!r}")
    elif not lo <= value <= hi:
        raise AgentError(f"{where} must lie in [{lo}, {hi}], got {value!r}")
    return value


def make_agent(name: str, observation_space: gym.Space[Any], action_space: gym.Space[Any],
               options: dict[str, Any], seed: int) -> Any:
    """A new agent ``name`` for the spaces, with ``options`` over the defaults, seeded."""
    import importlib

    info = _info(name)
    resolved = resolve_options(name, options)
    module = importlib.import_module(f"qgridlang.policies.agents.{info.module}")
    cls = getattr(module, info.cls)
    return cls(name, observation_space, action_space, resolved, int(seed))


# ---------------------------------------------------------------------------------------------
# spaces as JSON (an agent file rebuilds its agent without the Env)

def space_to_json(space: gym.Space[Any]) -> dict[str, Any]:
    import gymnasium as gym

    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(),
                "shape": list(space.shape), "dtype": str(space.dtype)}
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(),
                "start": space.start.tolist()}
    raise AgentError(f"cannot store a {type(space).__name__} space in an agent file")


def space_from_json(data: dict[str, Any]) -> gym.Space[Any]:
    import gymnasium as gym

    kind = data["type"]
    if kind == "Box":
        return gym.spaces.Box(np.asarray(data["low"], data["dtype"]),
                              np.asarray(data["high"], data["dtype"]),
                              tuple(data["shape"]), np.dtype(data["dtype"]))
    if kind == "Discrete":
        return gym.spaces.Discrete(data["n"], start=data["start"])
    if kind == "MultiBinary":
        return gym.spaces.MultiBinary(data["n"])
    if kind == "MultiDiscrete":
        return gym.spaces.MultiDiscrete(data["nvec"], start=data["start"])
    raise AgentError(f"unknown space type '{kind}' in an agent file")


def observation_size(space: gym.Space[Any]) -> int:
    """The length of the flat float observation (the agents take Box observations only)."""
    import gymnasium as gym

    if not isinstance(space, gym.spaces.Box):
        raise AgentError(f"the agents take Box (float vector) observations, not "
                         f"{type(space).__name__}")
    return int(np.prod(space.shape))


# ---------------------------------------------------------------------------------------------
# the replay buffer (numpy; stored in training checkpoints)

class ReplayBuffer:
    """A ring buffer of transitions (s, a, r, s', terminated) sampled uniformly."""

    def __init__(self, capacity: int, obs_size: int, action_shape: tuple[int, ...],
                 action_dtype: Any) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_size), np.float32)
        self.next_obs = np.zeros((capacity, obs_size), np.float32)
        self.actions = np.zeros((capacity, *action_shape), action_dtype)
        self.rewards = np.zeros(capacity, np.float32)
        self.dones = np.zeros(capacity, np.float32)
        self.pos = 0
        self.size = 0

    def add(self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray,
            terminated: bool) -> None:
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.dones[i] = next_obs, float(terminated)
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, ...]:
        idx = rng.integers(0, self.size, batch)
        return (self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx],
                self.dones[idx])

    def state(self) -> dict[str, Any]:
        n = self.size  # only the filled rows (the ring is full once size == capacity)
        return {"obs": self.obs[:n], "next_obs": self.next_obs[:n], "actions": self.actions[:n],
                "rewards": self.rewards[:n], "dones": self.dones[:n], "pos": self.pos}

    def restore(self, state: dict[str, Any]) -> None:
        n = int(np.asarray(state["rewards"]).shape[0])
        if n > self.capacity:
            raise AgentError(f"checkpoint buffer holds {n} transitions, capacity {self.capacity}")
        for key in ("obs", "next_obs", "actions", "rewards", "dones"):
            getattr(self, key)[:n] = np.asarray(state[key])
        self.size, self.pos = n, int(state["pos"])


# ---------------------------------------------------------------------------------------------
# the common part of the agents: spaces, random state, counters, saving and loading

class BaseAgent:
    """State and file handling shared by :class:`~.dqn.DQNAgent` and :class:`~.sac.SACAgent`.

    A subclass sets ``self.buffer`` and implements ``act``, ``observe``, ``parameter_count``,
    ``_arrays`` (its JAX state as a pytree of arrays) and ``_set_arrays``.
    """

    buffer: ReplayBuffer

    def __init__(self, name: str, observation_space: gym.Space[Any],
                 action_space: gym.Space[Any], options: dict[str, Any], seed: int) -> None:
        self.name = name
        self.options = dict(options)
        self.seed = seed
        self.observation_space = observation_space
        self.action_space = action_space
        self.obs_size = observation_size(observation_space)
        self.rng = np.random.default_rng(seed)
        self.step = 0  # environment steps seen by observe()
        self.updates = 0  # gradient steps taken

    # --- the training loop's hooks
    def begin_episode(self, episode: int, episodes: int) -> None:
        """Called by :func:`train` before each episode (schedules that run by episode)."""

    def observe(self, obs: np.ndarray, action: Any, reward: float, next_obs: np.ndarray,
                terminated: bool) -> None:
        raise NotImplementedError

    def _arrays(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_arrays(self, arrays: dict[str, Any]) -> None:
        raise NotImplementedError

    def _flat_obs(self, obs: Any) -> np.ndarray:
        return np.asarray(obs, np.float32).reshape(-1)

    # --- files
    def meta(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"agent": self.name, "options": self.options, "seed": self.seed,
                "observation_space": space_to_json(self.observation_space),
                "action_space": space_to_json(self.action_space),
                "step": self.step, "updates": self.updates,
                "np_rng": self.rng.bit_generator.state, "extra": extra or {}}

    def save(self, path: Path, extra: dict[str, Any] | None = None, *,
             with_buffer: bool = False) -> None:
        """Write the agent (and with ``with_buffer`` its replay buffer) to ``path``, atomically:
        a crash mid-write leaves the previous file."""
        from flax import serialization

        blob: dict[str, Any] = {
            "format": FORMAT,
            "meta": json.dumps(self.meta(extra), sort_keys=True),
            "state": serialization.to_state_dict(self._arrays()),
        }
        if with_buffer:
            blob["buffer"] = self.buffer.state()
        from qgridlang.atomic import write_atomically

        data = serialization.msgpack_serialize(blob)
        write_atomically(Path(path), lambda tmp: tmp.write_bytes(data))

    def restore(self, blob: dict[str, Any], meta: dict[str, Any]) -> None:
        """Take over the state of a read file (``blob``, ``meta`` from :func:`read_agent_file`)
        whose agent, options and spaces are this agent's."""
        from flax import serialization

        mine = self.meta()
        for key in ("agent", "options", "observation_space", "action_space"):
            if json.loads(json.dumps(mine[key])) != meta[key]:
                raise AgentError(f"the checkpoint's {key.replace('_', ' ')} differs from this "
                                 f"agent's: {meta[key]} vs {mine[key]}")
        self._set_arrays(serialization.from_state_dict(self._arrays(), blob["state"]))
        self.step, self.updates = int(meta["step"]), int(meta["updates"])
        self.rng.bit_generator.state = meta["np_rng"]
        if "buffer" in blob:
            self.buffer.restore(blob["buffer"])

    @classmethod
    def load(cls, path: Path) -> tuple[Any, dict[str, Any]]:
        return load_agent(path)


def read_agent_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The raw blob and its decoded ``meta`` of an agent file."""
    from flax import serialization

    try:
        blob = serialization.msgpack_restore(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise AgentError(f"{path}: cannot read agent file: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise AgentError(f"{path}: not a qgridlang agent file")
    return blob, json.loads(blob["meta"])


def load_agent(path: Path) -> tuple[Any, dict[str, Any]]:
    """The agent saved at ``path`` and the ``extra`` metadata saved with it."""
    blob, meta = read_agent_file(path)
    agent = make_agent(meta["agent"], space_from_json(meta["observation_space"]),
                       space_from_json(meta["action_space"]), meta["options"], meta["seed"])
    agent.restore(blob, meta)
    return agent, meta["extra"]


EpisodeCallback = Callable[[dict[str, Any]], None]
