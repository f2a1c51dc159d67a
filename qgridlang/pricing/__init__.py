"""Pricing the energy communities through their surrogates (DN-EC eq. 4): the operator's
scenario costs as a JAX function of the price and the responses (:mod:`.operator`), projected
Adam on expected cost + λ CVaR with the responses predicted by trained surrogates, the scenario
expectations computed exactly or by amplitude estimation (:mod:`.descent`), and the final price
re-evaluated with the communities' true MILPs."""
