"""Registered lowering targets: one module per ``--target`` name.

Each module wraps the pure passes of :mod:`qgridlang.compilers` (``apply(flat) -> (artifact,
inverse)``, ``invert(x, inverse)``) in a :class:`~qgridlang.registry.Target`: its options,
exports, report and, where a backend's raw samples need the model, ``refine``. The registry
imports these modules to list them, so they load their compilers and vendor SDKs lazily
(:mod:`qgridlang.lazy`); this package imports nothing itself.
"""
