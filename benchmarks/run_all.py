"""Runs every benchmark (each module under benchmarks/ that runs as a script), one process each.

    .venv/bin/python -m benchmarks.run_all [--only ranking serving]

Each writes its results to benchmarks/results/ and regenerates benchmarks/README.md. Expect hours
on a 2-core machine; run one area with ``--only``.
"""
from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent


def scripts(only=None) -> list[str]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(("benchmarks", *path.relative_to(ROOT).with_suffix("").parts))
        area = path.relative_to(ROOT).parts[0].removesuffix(".py")
        if path.name != "run_all.py" and 'if __name__ == "__main__"' in path.read_text() and (
                not only or area in only):
            found.append(module)
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", help="areas (folders) to run, e.g. ranking serving")
    args = parser.parse_args()
    failed = []
    for module in scripts(args.only):
        print(f"== {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module]).returncode != 0:
            failed.append(module)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
