# The two commands a newcomer runs (see README): `make demo` and `make test`.
# Both first run scripts/setup.sh, which creates .venv with Python 3.10 from requirements.lock
# (a no-op when nothing changed).
PYTHON := .venv/bin/python

.PHONY: setup demo test lock benchmarks clean

setup:
	@scripts/setup.sh

demo: setup
	$(PYTHON) -m zoo.cli demo

test: setup
	$(PYTHON) -m pytest -p no:cacheprovider -ra -n auto --maxprocesses 2 --dist loadgroup --no-loadscope-reorder --durations 25 $(PYTEST_ARGS)

# Regenerates requirements.lock from pyproject.toml (needs network access to the package index).
lock: setup
	.tools/bin/uv pip compile pyproject.toml --extra test --extra bench --python-version 3.10 \
	  --python-platform x86_64-manylinux_2_28 -o requirements.lock

benchmarks: setup
	$(PYTHON) -m benchmarks.run_all

clean:
	rm -rf demo_output
