"""Synthetic checkpoints in the official formats, for tests and benchmarks (offline)."""
