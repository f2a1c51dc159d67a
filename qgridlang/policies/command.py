"""`qglc train --policy` and `qglc evaluate`: learn a declared policy on the model's own decision
process and roll it out.

The trained agent file (``.qglp``) is the agent's checkpoint format (flax msgpack) plus what the
policy needs to refuse a stale file: the declaration's hash and hashed fields, the reward scale
the agent learnt with, the violation penalty, and the training history. A model whose
declaration changed since training refuses the file at the declaration, naming what changed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.errors import TypeMismatch, UsageError, did_you_mean


def spec_of(checked: Any, name: str | None) -> Any:
    """The policy ``name`` of a checked model (its only one when ``name`` is None)."""
    policies = checked.flat.policies
    if not policies:
        raise UsageError(f"{checked.file}: the model declares no policy",
                         hint="declare one: policy NAME[t in T]: observe(…) -> decide(…) "
                              "{ agent = qdqn(…) }")
    if name is None:
        if len(policies) > 1:
            raise UsageError(f"{checked.file} declares {len(policies)} policies: name one",
                             hint=f"--policy {' | '.join(policies)}")
        return next(iter(policies.values()))
    if name not in policies:
        raise UsageError(f"{checked.file} declares no policy '{name}'",
                         hint=did_you_mean(name, policies) or
                         f"policies: {', '.join(policies)}")
    return policies[name]


def reward_scale(env: Any, seed: int, episodes: int = 2) -> float:
    """1 / the mean magnitude of a step's stage cost under uniformly random actions: the scale
    the agent learns rewards in (the records and reports keep the model's units). The cost, not
    the reward: random actions break rows, and a scale set by the penalties would shrink the
    differences between feasible decisions below what the agent can resolve."""
    env.action_space.seed(seed)
    total, steps = 0.0, 0
    for i in range(episodes):
        env.reset(seed=seed + i)
        done = False
        while not done:
            _, _, term, trunc, info = env.step(env.action_space.sample())
            total += abs(float(info["cost"]))
            steps += 1
            done = term or trunc
    mean = total / max(steps, 1)
    return 1.0 / mean if mean > 0 else 1.0


@dataclass
class TrainSummary:
    output: str
    policy: str
    agent: str
    parameters: int
    episodes: int
    seconds: float
    reward_scale: float
    penalty: float
    penalty_default: bool
    last: dict[str, float]  # mean reward, cost, violation over the last 10 episodes
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_policy(model_file: str | Path, name: str | None, output: str | Path, *,
                 overrides: dict[str, str] | None = None, resume: bool = True,
                 on_episode: Any = None) -> TrainSummary:
    """Train policy ``name`` of ``model_file`` with its declared agent; write ``output``."""
    from qgridlang.atomic import check_writable
    from qgridlang.checker import check_file
    from qgridlang.policies.agents import AgentError, make_agent, train
    from qgridlang.policies.env import ModelEnv

    output = Path(output)
    if output.suffix != ".qglp":
        raise UsageError(f"a trained policy is written as FILE.qglp, not '{output.name}'")
    check_writable(output)
    checked = check_file(model_file, overrides)
    spec = spec_of(checked, name)
    env = ModelEnv(checked.flat, spec)
    scale = reward_scale(env, spec.seed)
    ckpt = output.with_name(output.name + ".ckpt")
    if not resume and ckpt.exists():
        ckpt.unlink()
    t0 = time.perf_counter()
    try:
        agent = make_agent(spec.agent, env.observation_space, env.action_space, spec.options,
                           spec.seed)
        history = train(agent, env, spec.episodes, spec.seed, checkpoint=ckpt,
                        on_episode=on_episode, reward_scale=scale)
    except AgentError as exc:
        raise TypeMismatch(f"policy '{spec.name}': {exc.message}", spec.span) from None
    seconds = time.perf_counter() - t0
    extra = {"policy": spec.name, "digest": spec.digest(), "hashed": spec.hashed(),
             "reward_scale": scale, "penalty": env.penalty, "history": history,
             "train_seconds": seconds}
    agent.save(output, extra)
    tail = history[-10:]
    last = {k: float(np.mean([h[k] for h in tail])) if tail else 0.0
            for k in ("reward", "cost", "violation")}
    return TrainSummary(str(output), spec.name, spec.agent, int(agent.parameter_count()),
                        len(history), seconds, scale, env.penalty, env.plan.penalty_default,
                        last, history)


def load_policy_agent(path: Path, spec: Any) -> tuple[Any, dict[str, Any]]:
    """The trained agent at ``path`` for ``spec``; refused (at the declaration) when the
    declaration changed since it was trained."""
    from qgridlang.policies.agents import AgentError, load_agent

    if not path.exists():
        raise TypeMismatch(f"policy '{spec.name}' has no trained agent at {path}", spec.span,
                           f"train it: qglc train MODEL --policy {spec.name} -o {path.name}")
    try:
        agent, extra = load_agent(path)
    except AgentError as exc:
        raise TypeMismatch(f"{path.name}: {exc.message}", spec.span) from None
    if extra.get("digest") != spec.digest():
        what = spec.changed(extra.get("hashed", {})) or "its hash differs"
        raise TypeMismatch(f"policy '{spec.name}' changed since '{path.name}' was trained "
                           f"({what})", spec.span, "retrain it with qglc train --policy")
    return agent, extra


@dataclass
class EpisodeReport:
    episode: list[Any]
    reward: float
    cost: float
    violation: float
    violations: dict[str, float]  # total slack per row unit
    decisions: int
    act_ms: float  # mean time per decision of the agent
    stage_ms: float  # mean time per exact stage solve
    actions: list[list[float]]


@dataclass
class EvaluationReport:
    model: str
    policy: str
    agent: str
    agent_file: str
    objective_unit: str
    penalty: float
    penalty_default: bool
    episodes: list[EpisodeReport]
    train_seconds: float | None

    def totals(self) -> dict[str, float]:
        eps = self.episodes
        return {"reward": float(sum(e.reward for e in eps)),
                "cost": float(sum(e.cost for e in eps)),
                "violation": float(sum(e.violation for e in eps)),
                "act_ms": float(np.mean([e.act_ms for e in eps])) if eps else 0.0,
                "stage_ms": float(np.mean([e.stage_ms for e in eps])) if eps else 0.0}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["totals"] = self.totals()
        return out


def evaluate_policy(model_file: str | Path, name: str | None, agent_file: str | Path | None,
                    episodes: int, *, overrides: dict[str, str] | None = None
                    ) -> EvaluationReport:
    """Roll the trained policy out greedily over ``episodes`` episodes, in the order of the
    policy's episode set (cycling), and report cost, violation and time per decision."""
    from qgridlang.checker import check_file
    from qgridlang.policies.env import ModelEnv

    if episodes < 1:
        raise UsageError(f"--episodes must be at least 1, got {episodes}")
    checked = check_file(model_file, overrides)
    spec = spec_of(checked, name)
    if agent_file is None:
        if spec.trained is None:
            raise TypeMismatch(f"policy '{spec.name}' names no trained agent", spec.span,
                               "pass --agent FILE.qglp or add trained = \"FILE.qglp\"")
        agent_file = Path(model_file).parent / spec.trained
    path = Path(agent_file)
    agent, extra = load_policy_agent(path, spec)
    env = ModelEnv(checked.flat, spec)
    reports = []
    E = len(spec.episode_keys)
    for i in range(episodes):
        obs, _ = env.reset(seed=i, options={"episode": i % E})
        env.solve_seconds = 0.0
        rep = EpisodeReport(list(env.episode_label), 0.0, 0.0, 0.0, {}, 0, 0.0, 0.0, [])
        act_s = 0.0
        done = False
        while not done:
            t0 = time.perf_counter()
            action = agent.act(obs, explore=False)
            act_s += time.perf_counter() - t0
            rep.actions.append(env.decision(action).tolist())
            obs, r, term, trunc, info = env.step(action)
            rep.reward += float(r)
            rep.cost += float(info["cost"])
            rep.violation += float(info["violation"])
            for _, amount, unit in info["violations"]:
                rep.violations[unit or "1"] = rep.violations.get(unit or "1", 0.0) + amount
            rep.decisions += 1
            done = term or trunc
        rep.act_ms = 1000.0 * act_s / max(rep.decisions, 1)
        rep.stage_ms = 1000.0 * env.solve_seconds / max(rep.decisions, 1)
        reports.append(rep)
    return EvaluationReport(str(model_file), spec.name, spec.agent, str(path),
                            checked.flat.obj_unit, env.penalty, env.plan.penalty_default,
                            reports, extra.get("train_seconds"))
