"""Training machinery shared by every stage: optimisers, distribution, the loop, loss curves."""
