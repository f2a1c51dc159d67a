"""Lowering targets of qgridlang (installed as ``qgridlang.compilers``)."""
