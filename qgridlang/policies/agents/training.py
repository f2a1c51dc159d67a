"""The training loop every agent shares: episodes on a gymnasium Env, resumable checkpoints.

Episode e (0-based) starts with ``env.reset(seed=s_e)``, s_e drawn from ``SeedSequence([seed,
e])``: each episode's scenario depends on (seed, e) only, so a resumed run sees the episodes an
uninterrupted run would. A step that ends by truncation (a time limit) still bootstraps from the
next state; only termination cuts the return.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.policies.agents.base import AgentError, EpisodeCallback, read_agent_file


def episode_seed(seed: int, episode: int) -> int:
    return int(np.random.SeedSequence([seed, episode]).generate_state(1)[0])


def train(agent: Any, env: Any, episodes: int, seed: int, checkpoint: Path | None = None,
          every: int = 10, on_episode: EpisodeCallback | None = None,
          reward_scale: float = 1.0) -> list[dict[str, Any]]:
    """Train ``agent`` on ``env`` for ``episodes`` episodes (in all, counting those a checkpoint
    already holds) and return one record per episode: ``episode`` (1-based), ``reward`` (the
    unscaled sum), ``cost`` and ``violation`` (sums of ``info["cost"]`` / ``info["violation"]``,
    0 where the Env gives none), ``steps``, ``seconds``.

    With ``checkpoint``: if the file exists, the agent's state, replay buffer, history and
    episode counter are restored from it and training continues; it is written every ``every``
    episodes and at the end. ``reward_scale`` multiplies the rewards the agent learns from (the
    records keep the Env's rewards).
    """
    if episodes < 0 or every < 1:
        raise AgentError(f"train needs episodes >= 0 and every >= 1, got {episodes}, {every}")
    history: list[dict[str, Any]] = []
    if checkpoint is not None and Path(checkpoint).exists():
        blob, meta = read_agent_file(Path(checkpoint))
        agent.restore(blob, meta)
        history = list(meta["extra"].get("history", []))
        if meta["extra"].get("seed", seed) != seed:
            raise AgentError(f"{checkpoint}: written by a run with seed "
                             f"{meta['extra']['seed']}, not {seed}")
    for episode in range(len(history), episodes):
        agent.begin_episode(episode, episodes)
        start = time.perf_counter()
        obs, _ = env.reset(seed=episode_seed(seed, episode))
        total = cost = violation = 0.0
        steps = 0
        done = False
        while not done:
            action = agent.act(obs, explore=True)
            next_obs, reward, terminated, truncated, info = env.step(action)
            agent.observe(obs, action, float(reward) * reward_scale, next_obs, bool(terminated))
            total += float(reward)
            cost += float(info.get("cost", 0.0))
            violation += float(info.get("violation", 0.0))
            steps += 1
            obs = next_obs
            done = bool(terminated or truncated)
        record = {"episode": episode + 1, "reward": total, "cost": cost,
                  "violation": violation, "steps": steps,
                  "seconds": time.perf_counter() - start}
        history.append(record)
        # the checkpoint first: a callback that raises (an interrupt) finds it written
        if checkpoint is not None and ((episode + 1) % every == 0 or episode + 1 == episodes):
            save_checkpoint(agent, Path(checkpoint), history, seed)
        if on_episode is not None:
            on_episode(record)
    return history


def save_checkpoint(agent: Any, path: Path, history: list[dict[str, Any]], seed: int) -> None:
    agent.save(path, {"history": history, "episode": len(history), "seed": seed},
               with_buffer=True)


def evaluate(agent: Any, env: Any, episodes: int, seed: int) -> list[float]:
    """Returns of ``episodes`` greedy episodes (seeds from ``seed + 10**6``, away from the
    training seeds' stream)."""
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode_seed(seed + 10**6, episode))
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
            total += float(reward)
            done = bool(terminated or truncated)
        returns.append(total)
    return returns
