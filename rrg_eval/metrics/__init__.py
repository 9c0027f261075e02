"""Metrics: one module per metric, registered in :mod:`rrg_eval.metrics.registry`."""
