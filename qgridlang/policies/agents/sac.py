"""SAC for Box actions ("sac": MLP actor; "qsac": the SPECS §B5 circuit as actor), after CleanRL's
``sac_continuous_action.py`` (twin critics with Polyak-averaged targets, delayed actor updates,
automatic entropy tuning) written in the JAX structure of its ``td3_continuous_action_jax.py``
(parameter pytrees, optax, jitted update functions).

Actions live in u-space: the actor's Gaussian gives u, the action in [-1, 1]^A is tanh(u) and the
Env gets ``low + (tanh(u) + 1) (high - low) / 2`` (the Box must be bounded). The replay buffer
and the critics take the squashed action tanh(u) in [-1, 1]^A, so the critics' inputs and the
entropy target (-A) do not depend on the Box's units (CleanRL feeds raw actions and adds
log(scale) to log pi; for a Box of MW that would shift the entropy target by the units).

    log pi(a|s) = sum_n [log N(u_n; mu_n, sigma_n) - log(1 - tanh(u_n)^2 + 1e-6)]
    critic target y = r + gamma (1 - d) (min_i Q'_i(s', a') - alpha log pi(a'|s')), a' ~ pi(s')
    actor loss  = E[alpha log pi(a|s) - min_i Q_i(s, a)],  alpha loss = E[-alpha (log pi + target)]

Actor ``sac``: ReLU MLP obs -> ``hidden`` x ``hidden_layers`` -> mean and log-std heads, the
log-std squashed into [-5, 2] (CleanRL). Actor ``qsac``: the circuit's <Z_n> on the first A
qubits, mean mu_n = w_n <Z_n> + b_n (so the greedy action is tanh(w_n <Z_n> + b_n) rescaled) and
one trainable log-std per action dimension (state-independent, clipped to [-5, 2]); it needs
``qubits`` >= A. Critics (both agents): two ReLU MLPs (obs, action) -> ``hidden`` x
``hidden_layers`` -> 1, with target copies updated by Polyak averaging (``tau``) every step.
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
from qgridlang.policies.agents.circuit import Circuit
from qgridlang.policies.agents.networks import count, hidden_sizes, mlp, mlp_init

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class SACAgent(BaseAgent):
    """Soft actor-critic with an MLP (``sac``) or circuit (``qsac``) actor."""

    def __init__(self, name: str, observation_space: gym.Space[Any],
                 action_space: gym.Space[Any], options: dict[str, Any], seed: int) -> None:
        super().__init__(name, observation_space, action_space, options, seed)
        o = self.options
        if not isinstance(action_space, gym.spaces.Box):
            raise AgentError(f"SAC agents take Box actions, not {type(action_space).__name__} "
                             "(use dqn or qdqn)")
        low = np.asarray(action_space.low, np.float64).reshape(-1)
        high = np.asarray(action_space.high, np.float64).reshape(-1)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise AgentError("SAC agents need a bounded Box action space (finite low and high)")
        self.low, self.high = low, high
        a_dim = self.a_dim = low.size
        key, k_actor, k_q1, k_q2 = jax.random.split(jax.random.PRNGKey(seed), 4)
        hidden = hidden_sizes(o)

        self.circuit: Circuit | None = None
        if name == "qsac":
            circuit = self.circuit = Circuit(self.obs_size, int(o["qubits"]), int(o["layers"]))
            if circuit.qubits < a_dim:
                raise AgentError(f"qsac reads one qubit per action dimension: {a_dim} actions "
                                 f"need qubits >= {a_dim}, got {circuit.qubits}")
            actor_params: Any = {"circuit": circuit.init(k_actor),
                                 "w": jnp.ones(a_dim), "b": jnp.zeros(a_dim),
                                 "log_std": jnp.zeros(a_dim)}

            def actor(p: Any, x: jax.Array) -> tuple[jax.Array, jax.Array]:
                z = circuit.expvals(p["circuit"], x)[..., :a_dim]
                mean = p["w"] * z + p["b"]
                log_std = jnp.clip(p["log_std"], LOG_STD_MIN, LOG_STD_MAX)
                return mean, jnp.broadcast_to(log_std, mean.shape)
        else:
            actor_params = mlp_init(k_actor, [self.obs_size, *hidden, 2 * a_dim])

            def actor(p: Any, x: jax.Array) -> tuple[jax.Array, jax.Array]:
                out = mlp(p, x)
                mean, log_std = out[..., :a_dim], jnp.tanh(out[..., a_dim:])
                return mean, LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)

        critic_sizes = [self.obs_size + a_dim, *hidden, 1]
        critic_params = {"q1": mlp_init(k_q1, critic_sizes), "q2": mlp_init(k_q2, critic_sizes)}

        def critics(p: Any, x: jax.Array, a: jax.Array) -> tuple[jax.Array, jax.Array]:
            xa = jnp.concatenate([x, a], axis=-1)
            return mlp(p["q1"], xa)[..., 0], mlp(p["q2"], xa)[..., 0]

        def sample(p: Any, x: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
            """a = tanh(u), u ~ N(mean, std) (reparameterised) and log pi(a|s)."""
            mean, log_std = actor(p, x)
            std = jnp.exp(log_std)
            u = mean + std * jax.random.normal(key, mean.shape)
            a = jnp.tanh(u)
            log_n = -0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
            return a, jnp.sum(log_n - jnp.log(1.0 - a**2 + 1e-6), axis=-1)

        gamma, tau = float(o["gamma"]), float(o["tau"])
        target_entropy = -float(a_dim)
        autotune = bool(o["autotune"])
        self.actor_tx = optax.adam(float(o["learning_rate"]))
        self.critic_tx = optax.adam(float(o["critic_learning_rate"]))
        self.alpha_tx = optax.adam(float(o["critic_learning_rate"]))

        def critic_step(cp: Any, ct: Any, c_opt: Any, ap: Any, log_alpha: jax.Array,
                        key: jax.Array, obs: jax.Array, act: jax.Array, rew: jax.Array,
                        nxt: jax.Array, done: jax.Array) -> Any:
            a_next, logp_next = sample(ap, nxt, key)
            q1_t, q2_t = critics(ct, nxt, a_next)
            soft = jnp.minimum(q1_t, q2_t) - jnp.exp(log_alpha) * logp_next
            y = jax.lax.stop_gradient(rew + gamma * (1.0 - done) * soft)

            def loss(cp: Any) -> jax.Array:
                q1, q2 = critics(cp, obs, act)
                return jnp.mean((q1 - y) ** 2) + jnp.mean((q2 - y) ** 2)

            value, grads = jax.value_and_grad(loss)(cp)
            updates, c_opt = self.critic_tx.update(grads, c_opt, cp)
            cp = optax.apply_updates(cp, updates)
            ct = optax.incremental_update(cp, ct, tau)
            return cp, ct, c_opt, value

        def actor_step(ap: Any, a_opt: Any, log_alpha: jax.Array, al_opt: Any, cp: Any,
                       key: jax.Array, obs: jax.Array) -> Any:
            alpha = jnp.exp(log_alpha)

            def loss(ap: Any) -> tuple[jax.Array, jax.Array]:
                a, logp = sample(ap, obs, key)
                q1, q2 = critics(cp, obs, a)
                return jnp.mean(alpha * logp - jnp.minimum(q1, q2)), logp

            (value, logp), grads = jax.value_and_grad(loss, has_aux=True)(ap)
            updates, a_opt = self.actor_tx.update(grads, a_opt, ap)
            ap = optax.apply_updates(ap, updates)
            if autotune:
                logp = jax.lax.stop_gradient(logp)

                def alpha_loss(la: jax.Array) -> jax.Array:
                    return jnp.mean(-jnp.exp(la) * (logp + target_entropy))

                g = jax.grad(alpha_loss)(log_alpha)
                upd, al_opt = self.alpha_tx.update(g, al_opt, log_alpha)
                log_alpha = optax.apply_updates(log_alpha, upd)
            return ap, a_opt, log_alpha, al_opt, value

        self._actor = jax.jit(actor)
        self._sample = jax.jit(sample)
        self._critic_step = jax.jit(critic_step)
        self._actor_step = jax.jit(actor_step)
        self.actor_params = actor_params
        self.critic_params = critic_params
        self.critic_target = jax.tree_util.tree_map(jnp.array, critic_params)
        self.actor_opt = self.actor_tx.init(actor_params)
        self.critic_opt = self.critic_tx.init(critic_params)
        self.log_alpha = jnp.asarray(math.log(max(float(o["alpha"]), 1e-12)), jnp.float32)
        self.alpha_opt = self.alpha_tx.init(self.log_alpha)
        self.key = key
        self.last_loss = math.nan
        self.buffer = ReplayBuffer(int(o["buffer_size"]), self.obs_size, (a_dim,), np.float32)

    # --- acting
    def _to_env(self, squashed: np.ndarray) -> np.ndarray:
        action = self.low + (np.asarray(squashed, np.float64) + 1.0) * 0.5 * (self.high - self.low)
        action = np.clip(action, self.low, self.high)  # float rounding at the bounds
        return action.astype(self.action_space.dtype).reshape(self.action_space.shape)

    def _to_squashed(self, action: Any) -> np.ndarray:
        a = np.asarray(action, np.float64).reshape(-1)
        span = np.where(self.high > self.low, self.high - self.low, 1.0)
        return np.clip(2.0 * (a - self.low) / span - 1.0, -1.0, 1.0).astype(np.float32)

    def act(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        x = self._flat_obs(obs)[None, :]
        if explore and self.step < self.options["learning_starts"]:
            squashed = self.rng.uniform(-1.0, 1.0, self.a_dim)
        elif explore:
            self.key, sub = jax.random.split(self.key)
            squashed = np.asarray(self._sample(self.actor_params, x, sub)[0])[0]
        else:
            squashed = np.tanh(np.asarray(self._actor(self.actor_params, x)[0])[0])
        return self._to_env(squashed)

    # --- learning
    def observe(self, obs: np.ndarray, action: Any, reward: float, next_obs: np.ndarray,
                terminated: bool) -> None:
        o = self.options
        self.buffer.add(self._flat_obs(obs), self._to_squashed(action), reward,
                        self._flat_obs(next_obs), terminated)
        self.step += 1
        if self.step <= o["learning_starts"]:
            return
        obs_b, act_b, rew_b, next_b, done_b = self.buffer.sample(self.rng, o["batch_size"])
        self.key, k_critic = jax.random.split(self.key)
        self.critic_params, self.critic_target, self.critic_opt, loss = self._critic_step(
            self.critic_params, self.critic_target, self.critic_opt, self.actor_params,
            self.log_alpha, k_critic, obs_b, act_b, rew_b, next_b, done_b)
        self.last_loss = float(loss)
        self.updates += 1
        if self.step % o["policy_frequency"] == 0:
            # CleanRL's delayed actor update, repeated to keep one actor step per env step
            for _ in range(o["policy_frequency"]):
                self.key, k_actor = jax.random.split(self.key)
                (self.actor_params, self.actor_opt, self.log_alpha, self.alpha_opt,
                 _) = self._actor_step(self.actor_params, self.actor_opt, self.log_alpha,
                                       self.alpha_opt, self.critic_params, k_actor, obs_b)

    @property
    def alpha(self) -> float:
        return float(jnp.exp(self.log_alpha))

    # --- state
    def parameter_count(self) -> int:
        """Trainable parameters of the actor and both critics (targets not counted)."""
        return count(self.actor_params) + count(self.critic_params)

    def _arrays(self) -> dict[str, Any]:
        return {"actor": self.actor_params, "critic": self.critic_params,
                "critic_target": self.critic_target, "actor_opt": self.actor_opt,
                "critic_opt": self.critic_opt, "log_alpha": self.log_alpha,
                "alpha_opt": self.alpha_opt, "key": self.key}

    def _set_arrays(self, arrays: dict[str, Any]) -> None:
        a = jax.tree_util.tree_map(jnp.asarray, arrays)
        self.actor_params, self.critic_params = a["actor"], a["critic"]
        self.critic_target, self.actor_opt = a["critic_target"], a["actor_opt"]
        self.critic_opt, self.log_alpha = a["critic_opt"], a["log_alpha"]
        self.alpha_opt, self.key = a["alpha_opt"], a["key"]
