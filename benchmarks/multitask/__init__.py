"""Multi-task benchmarks (UCI Adult)."""
