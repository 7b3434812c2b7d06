"""Writes benchmark results as JSON and renders every results file as a markdown table."""
from __future__ import annotations

import json
import pathlib
import platform
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
README = pathlib.Path(__file__).resolve().parent / "README.md"


def machine() -> dict:
    import os

    # The load average tells a reader whether other work shared the CPUs during the run.
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d"), "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def saved_results(name: str) -> dict:
    """The saved results ``name``, or {} when there are none (for runs that add to earlier results)."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save(name: str, payload: dict) -> pathlib.Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    render_readme()
    return path


def render_readme() -> None:
    """README.md: an intro, then one section per results file (its 'title', 'notes' and 'table')."""
    sections = ["# Benchmarks\n",
                "Generated from `results/*.json` by `benchmarks/report.py`; rerun a benchmark with "
                "`.venv/bin/python -m benchmarks.<name>` (see each section).\n"]
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        m = result["machine"]
        sections.append(f"## {result['title']}\n")
        sections.append(f"`{path.name}` · {m['date']} · {m['cpus']} CPUs, Python {m['python']} · "
                        f"command: `{result['command']}`\n")
        sections.extend(f"- {note}" for note in result.get("notes", []))
        header, *rows = result["table"]
        sections.append("")
        sections.append("| " + " | ".join(header) + " |")
        sections.append("|" + "---|" * len(header))
        sections.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
        sections.append("")
    README.write_text("\n".join(sections))
