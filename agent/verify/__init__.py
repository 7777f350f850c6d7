"""Predicted-vs-observed verification: divergence measures, calibrated thresholds, the verifier."""
