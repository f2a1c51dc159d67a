"""Dynamics and control: systems from `system` declarations, PID/MPC/QMPC, simulation, metrics."""
