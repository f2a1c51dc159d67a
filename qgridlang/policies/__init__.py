"""Learned policies: a time-indexed model as a decision process, and the agents that learn it."""
