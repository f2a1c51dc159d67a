"""Double DQN ("dqn": MLP Q-network; "qdqn": the SPECS §B5 circuit), after CleanRL's single-file
``dqn_jax.py`` (replay buffer, target network, epsilon-greedy, one jitted update), with the
double-DQN target and branching heads for multi-dimensional discrete actions.

Actions. ``Discrete(n)``: one head of n Q-values. ``MultiBinary(k)`` / ``MultiDiscrete(nvec)``:
one head per decision dimension d (Tavakoli et al. 2018, "Action Branching Architectures"),
Q_d(s, a_d) for a_d in 0..n_d-1; heads of unequal size are padded and the padding masked out.
The greedy action takes the argmax of every head separately.

Target (per transition; N heads, N = 1 for Discrete; d = terminated, truncation bootstraps):

    y = r + gamma (1 - d) (1/N) sum_d Q'_d(s', argmax_a Q_d(s', a))

(Q online, Q' target network): the double-DQN target of each head, averaged over the heads into
one shared target (Tavakoli et al.'s mean operator; their dueling state-value stream is not
used). Loss = mean over the batch and the heads of (y - Q_d(s, a_d))^2.

Networks. ``dqn``: ReLU MLP obs -> ``hidden`` x ``hidden_layers`` -> N * n_max values.
``qdqn``: circuit <Z> (``qubits`` values) -> trainable affine map -> N * n_max values; with 8
qubits and MultiBinary(11) that map is 8 -> 22 (11 heads x {off, on}), 198 weights + biases.

Exploration: epsilon decays linearly with the episode from ``epsilon_start`` to ``epsilon_end``
over ``exploration_fraction`` of the episodes :func:`~.training.train` runs (SPECS: 1 -> 0.01
over 200 of 300 episodes), then stays. Learning starts after ``learning_starts`` env steps, one
Adam step every ``train_frequency`` steps, the target copied every ``target_sync`` steps.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax

from qgridlang.policies.agents.base import AgentError, BaseAgent, ReplayBuffer
from qgridlang.policies.agents.circuit import Circuit, affine, affine_init
from qgridlang.policies.agents.networks import count, hidden_sizes, mlp, mlp_init


class Heads:
    """The discrete decision dimensions of an action space."""

    def __init__(self, space: gym.Space[Any]) -> None:
        if isinstance(space, gym.spaces.Discrete):
            sizes, starts, self.kind = [int(space.n)], [int(space.start)], "discrete"
        elif isinstance(space, gym.spaces.MultiBinary):
            k = int(np.prod(space.shape))
            sizes, starts, self.kind = [2] * k, [0] * k, "multibinary"
        elif isinstance(space, gym.spaces.MultiDiscrete):
            sizes = [int(n) for n in space.nvec.reshape(-1)]
            starts = [int(s) for s in space.start.reshape(-1)]
            self.kind = "multidiscrete"
        else:
            raise AgentError(f"DQN agents take Discrete, MultiBinary or MultiDiscrete actions, "
                             f"not {type(space).__name__} (use sac or qsac)")
        self.space = space
        self.sizes = sizes
        self.starts = np.asarray(starts, np.int64)
        self.count = len(sizes)
        self.width = max(sizes)
        self.mask = np.arange(self.width)[None, :] < np.asarray(sizes)[:, None]  # (N, n_max)

    def to_action(self, index: np.ndarray) -> np.ndarray | int:
        """Per-head indices (N,) -> an element of the action space."""
        if self.kind == "discrete":
            return int(index[0] + self.starts[0])
        if self.kind == "multibinary":
            return index.astype(np.int8).reshape(self.space.shape)
        return (index + self.starts).astype(self.space.dtype).reshape(self.space.shape)

    def to_index(self, action: Any) -> np.ndarray:
        return np.asarray(action, np.int64).reshape(-1) - self.starts


class DQNAgent(BaseAgent):
    """Double DQN with an MLP (``dqn``) or circuit (``qdqn``) Q-network."""

    def __init__(self, name: str, observation_space: gym.Space[Any],
                 action_space: gym.Space[Any], options: dict[str, Any], seed: int) -> None:
        super().__init__(name, observation_space, action_space, options, seed)
        o = self.options
        self.heads = Heads(action_space)
        outputs = self.heads.count * self.heads.width
        key, init_key = jax.random.split(jax.random.PRNGKey(seed))
        self.circuit: Circuit | None = None
        if name == "qdqn":
            circuit = self.circuit = Circuit(self.obs_size, int(o["qubits"]), int(o["layers"]))
            k1, k2 = jax.random.split(init_key)
            params = {"circuit": circuit.init(k1), "out": affine_init(k2, circuit.qubits, outputs)}

            def body(p: Any, x: jax.Array) -> jax.Array:
                return affine(p["out"], circuit.expvals(p["circuit"], x))
        else:
            params = mlp_init(init_key, [self.obs_size, *hidden_sizes(o), outputs])

            def body(p: Any, x: jax.Array) -> jax.Array:
                return mlp(p, x)
        n, width = self.heads.count, self.heads.width
        mask = jnp.asarray(self.heads.mask)

        def q_values(p: Any, x: jax.Array) -> jax.Array:
            return body(p, x).reshape(x.shape[0], n, width)  # (B, N, n_max)

        def greedy(p: Any, x: jax.Array) -> jax.Array:
            return jnp.argmax(jnp.where(mask, q_values(p, x), -jnp.inf), axis=-1)  # (B, N)

        gamma = float(o["gamma"])
        self.tx = optax.adam(float(o["learning_rate"]))

        def update(p: Any, target: Any, opt_state: Any, obs: jax.Array, actions: jax.Array,
                   rewards: jax.Array, next_obs: jax.Array, dones: jax.Array) -> Any:
            best = greedy(p, next_obs)  # the online network picks (double DQN) ...
            q_next = jnp.take_along_axis(q_values(target, next_obs), best[..., None], -1)[..., 0]
            y = rewards + gamma * (1.0 - dones) * q_next.mean(axis=-1)  # ... the target values
            y = jax.lax.stop_gradient(y)

            def loss(p: Any) -> jax.Array:
                q = jnp.take_along_axis(q_values(p, obs), actions[..., None], -1)[..., 0]
                return jnp.mean((q - y[:, None]) ** 2)

            value, grads = jax.value_and_grad(loss)(p)
            updates, opt_state = self.tx.update(grads, opt_state, p)
            return optax.apply_updates(p, updates), opt_state, value

        self._greedy = jax.jit(greedy)
        self._q_values = jax.jit(q_values)
        self._update = jax.jit(update)
        self.params = params
        self.target = jax.tree_util.tree_map(jnp.array, params)
        self.opt_state = self.tx.init(params)
        self.key = key  # unused by DQN's updates; kept so every agent file has the same fields
        self.epsilon = float(o["epsilon_start"])
        self.last_loss = math.nan
        self.buffer = ReplayBuffer(int(o["buffer_size"]), self.obs_size, (n,), np.int32)

    # --- acting
    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values (N heads, n_max) of one observation (padding entries are meaningless)."""
        return np.asarray(self._q_values(self.params, self._flat_obs(obs)[None, :]))[0]

    def act(self, obs: np.ndarray, explore: bool = False) -> np.ndarray | int:
        if explore and self.rng.random() < self.epsilon:
            index = np.asarray([self.rng.integers(0, s) for s in self.heads.sizes])
        else:
            index = np.asarray(self._greedy(self.params, self._flat_obs(obs)[None, :]))[0]
        return self.heads.to_action(index)

    # --- learning
    def begin_episode(self, episode: int, episodes: int) -> None:
        o = self.options
        span = max(float(o["exploration_fraction"]) * episodes, 1.0)
        frac = min(episode / span, 1.0)
        self.epsilon = o["epsilon_start"] + frac * (o["epsilon_end"] - o["epsilon_start"])

    def observe(self, obs: np.ndarray, action: Any, reward: float, next_obs: np.ndarray,
                terminated: bool) -> None:
        o = self.options
        self.buffer.add(self._flat_obs(obs), self.heads.to_index(action), reward,
                        self._flat_obs(next_obs), terminated)
        self.step += 1
        if self.step > o["learning_starts"] and self.step % o["train_frequency"] == 0:
            obs_b, act_b, rew_b, next_b, done_b = self.buffer.sample(self.rng, o["batch_size"])
            self.params, self.opt_state, loss = self._update(
                self.params, self.target, self.opt_state, obs_b, act_b, rew_b, next_b, done_b)
            self.last_loss = float(loss)
            self.updates += 1
        if self.step % o["target_sync"] == 0:
            self.target = jax.tree_util.tree_map(jnp.array, self.params)

    # --- state
    def parameter_count(self) -> int:
        return count(self.params)

    def _arrays(self) -> dict[str, Any]:
        return {"params": self.params, "target": self.target, "opt_state": self.opt_state,
                "key": self.key, "epsilon": np.float32(self.epsilon)}

    def _set_arrays(self, arrays: dict[str, Any]) -> None:
        as_jax = jax.tree_util.tree_map(jnp.asarray, arrays)
        self.params, self.target = as_jax["params"], as_jax["target"]
        self.opt_state, self.key = as_jax["opt_state"], as_jax["key"]
        self.epsilon = float(arrays["epsilon"])
