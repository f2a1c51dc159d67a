"""Backends: one module per solver or device, each registered under its CLI name."""
