"""Benchmarks: truto-stream side by side with its baselines (see README)."""
