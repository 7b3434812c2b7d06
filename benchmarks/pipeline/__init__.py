"""Pipeline benchmarks: run one as ``.venv/bin/python -m benchmarks.pipeline.<module>``."""
