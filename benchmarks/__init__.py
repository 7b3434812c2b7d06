"""Benchmarks: each script writes results/<name>.json and regenerates README.md's tables."""
