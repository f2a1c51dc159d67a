"""Estimate a risk measure of a fixed plan: expectation, VaR, CVaR or a tail probability.

The measured expression is one the model indexes over a scenario set (``expr cost[s in S]``);
for a plan (read from a solve's output, or found by solving with HiGHS) its value in every
scenario and the scenarios' probabilities form a discrete loss distribution
(:mod:`.loss`). Three estimators read it with one interface: ``exact`` (numpy on the
distribution and on its 2**n-bin discretisation), ``mc`` (Monte Carlo samples) and ``qae``
(quantum amplitude estimation on a state-preparation oracle built from the discretisation,
:mod:`qgridlang.compilers.qae`). :func:`.run.estimate` is what ``qglc estimate`` and
``qg.estimate`` call.
"""
