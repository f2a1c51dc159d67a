"""Networks in and out of qgl: ``qglc import pandapower`` (a pandapower network as CSV tables
and a ready-to-edit ``.qgl`` model) and ``qglc validate --ac`` (pandapower's AC power flow on a
solved plan, next to the model's linearised voltages and flows).

pandapower is an optional dependency (``pip install 'qgridlang[classical]'``); it is imported
only when one of these verbs runs.
"""

from __future__ import annotations

from typing import Any

from qgridlang.errors import UsageError


def pandapower() -> Any:
    """The pandapower module, or a usage error that says how to install it."""
    try:
        import pandapower as pp
    except ImportError:
        raise UsageError("pandapower is not installed",
                         hint="pip install 'qgridlang[classical]' (or pip install pandapower)"
                         ) from None
    return pp
