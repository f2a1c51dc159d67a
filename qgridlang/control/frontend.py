"""From a ``.qgl`` file to the control specs, and one simulation run (``qglc simulate``).

``load_dynamics(path)`` checks the model and returns its systems, controllers and simulations
as :mod:`qgridlang.control.spec` objects; ``run_simulation`` picks one simulation, optionally
another controller or seed, and runs it with :func:`qgridlang.control.simulate.simulate`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qgridlang.control.spec import ControllerSpec, SimulationResult, SimulationSpec, SystemSpec
from qgridlang.errors import UsageError, did_you_mean


@dataclass(frozen=True)
class Dynamics:
    """A checked model's dynamics, by name."""

    checked: Any  # qgridlang.checker.CheckedModel
    systems: dict[str, SystemSpec]
    controllers: dict[str, ControllerSpec]
    simulations: dict[str, SimulationSpec]


def dynamics_of(checked: Any) -> Dynamics:
    flat = checked.flat
    return Dynamics(checked, {k: v.spec for k, v in flat.systems.items()},
                    {k: v.spec for k, v in flat.controllers.items()}, dict(flat.simulations))


def load_dynamics(path: str | Path, overrides: dict[str, str] | None = None) -> Dynamics:
    """Check the model at ``path`` (``overrides``: ``--set`` values such as ``{"M": "12 s"}``)."""
    from qgridlang.checker import check_file

    return dynamics_of(check_file(path, overrides))


def pick_simulation(dyn: Dynamics, name: str | None) -> tuple[str, SimulationSpec]:
    if not dyn.simulations:
        raise UsageError("the model has no `simulate` declaration",
                         hint="add one: simulate SYSTEM for 60 s with CONTROLLER { … }")
    if name is None:
        if len(dyn.simulations) > 1:
            raise UsageError(f"the model has {len(dyn.simulations)} simulations: say which with "
                             "--simulation", hint=f"simulations: {', '.join(dyn.simulations)}")
        name = next(iter(dyn.simulations))
    if name not in dyn.simulations:
        raise UsageError(f"--simulation {name}: no such simulation",
                         hint=did_you_mean(name, dyn.simulations) or
                         f"simulations: {', '.join(dyn.simulations)}")
    return name, dyn.simulations[name]


def pick_controller(dyn: Dynamics, sim: SimulationSpec, name: str | None
                    ) -> ControllerSpec | None:
    """``--controller NAME`` (``none``: open loop), else the simulation's ``with``."""
    if name == "none":
        return None
    chosen = name if name is not None else sim.controller
    if chosen is None:
        return None
    if chosen not in dyn.controllers:
        raise UsageError(f"--controller {chosen}: no such controller",
                         hint=did_you_mean(chosen, dyn.controllers) or
                         f"controllers: {', '.join(dyn.controllers) or 'none'}")
    ctrl = dyn.controllers[chosen]
    if ctrl.system != sim.system:
        raise UsageError(f"--controller {chosen} is for system '{ctrl.system}', not "
                         f"'{sim.system}'")
    return ctrl


def run_simulation(dyn: Dynamics, simulation: str | None = None, controller: str | None = None,
                   seed: int | None = None, model: Dynamics | None = None) -> SimulationResult:
    """Run one simulation. ``model``: the dynamics the controller believes (robustness runs
    check the same file twice, the plant with changed parameters); default: the plant's."""
    from qgridlang.control.simulate import simulate

    _, sim = pick_simulation(dyn, simulation)
    if seed is not None:
        if seed < 0:
            raise UsageError(f"--seed must be >= 0, got {seed}")
        sim = dataclasses.replace(sim, seed=seed)
    ctrl = pick_controller(dyn, sim, controller)
    plant = dyn.systems[sim.system]
    believed = (model or dyn).systems[sim.system]
    if ctrl is not None and model is not None:
        ctrl = model.controllers[ctrl.name]  # its weights and model from the nominal file
    return simulate(plant, ctrl, sim, believed if model is not None else None)


def summary(flat: Any) -> dict[str, list[dict[str, Any]]]:
    """What ``qglc check`` says about a model's systems, controllers and simulations."""
    from qgridlang.control.spec import MPCSpec

    def line(span: Any) -> int:
        return span.line if span is not None else 0

    systems = []
    for name, data in flat.systems.items():
        s: SystemSpec = data.spec
        systems.append({
            "name": name, "line": line(s.span), "linear": s.linear is not None,
            **{kind: [{"name": x.name, "unit": x.unit} for x in group] for kind, group in
               (("states", s.states), ("inputs", s.inputs), ("disturbances", s.disturbances),
                ("outputs", s.outputs))}})
    controllers = []
    for name, data in flat.controllers.items():
        c = data.spec
        doc: dict[str, Any] = {"name": name, "line": line(c.span), "system": c.system,
                               "step_s": c.step}
        if isinstance(c, MPCSpec):
            doc.update(kind="mpc", horizon=c.horizon, control_horizon=c.control_horizon,
                       terminal=c.terminal, observer=c.observer,
                       predictor={"kind": c.predictor.kind, "options": c.predictor.options},
                       constraints=len(c.bounds))
        else:
            doc.update(kind="pid", kp=c.kp, ki=c.ki, kd=c.kd, filter=c.filter)
        controllers.append(doc)
    simulations = [{"name": name, "line": line(sim.span), "system": sim.system,
                    "duration_s": sim.duration, "controller": sim.controller,
                    "dt_s": sim.dt, "seed": sim.seed, "measure": sim.measure,
                    "disturbances": [p.kind for p in sim.profiles]}
                   for name, sim in flat.simulations.items()]
    return {"systems": systems, "controllers": controllers, "simulations": simulations}


def summary_lines(doc: dict[str, list[dict[str, Any]]]) -> list[tuple[int, str]]:
    """``(line, text)`` notes for ``qglc check``'s text output."""
    out: list[tuple[int, str]] = []
    for s in doc["systems"]:
        counts = ", ".join(_plural(len(s[k]), k[:-1]) for k in
                           ("states", "inputs", "disturbances", "outputs"))
        out.append((s["line"], f"system {s['name']}: {counts}; " +
                    ("linear (state space)" if s["linear"] else "nonlinear (solve_ivp)")))
    for c in doc["controllers"]:
        if c["kind"] == "mpc":
            what = (f"MPC, step {c['step_s']:g} s, horizon {c['horizon']}, predictor "
                    f"{c['predictor']['kind']}, {c['constraints']} constraints, terminal "
                    f"{c['terminal']}, observer {c['observer']}")
        else:
            what = (f"PID, step {c['step_s']:g} s, kp {c['kp']:g}, ki {c['ki']:g} /s, "
                    f"kd {c['kd']:g} s (input unit per measured unit), filter "
                    f"{c['filter']:g} /s")
        out.append((c["line"], f"controller {c['name']} for {c['system']}: {what}"))
    for s in doc["simulations"]:
        out.append((s["line"], f"simulate {s['name']}: {s['system']} for {s['duration_s']:g} s "
                    f"with {s['controller'] or 'no controller'}, dt {s['dt_s']:g} s, seed "
                    f"{s['seed']}, metrics on {s['measure']}"))
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
