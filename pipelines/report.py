"""The run report: one self-contained HTML file per pipeline run, readable offline.

It shows the config, data statistics highlights, anomalies, training curves (from the Trainer's
TensorBoard logs), evaluation metrics overall and per slice, the ROC and calibration plots (a
classifier's confusion matrix), the
blessing decision with the baseline comparison and the failed thresholds, and the pushed path.
Everything is read back from ML Metadata and the artifacts it points to, so
``zoo pipeline report CONFIG [RUN]`` regenerates the report of any past run.

Plots are inline SVG drawn here: matplotlib is not among the project's locked dependencies, and
SVG keeps the file self-contained and small.
"""
from __future__ import annotations

import glob
import html
import os
import pathlib

from pipelines.config import PipelineConfig, dump_config
from pipelines.runs import ModelResult, RunRecord, read_evaluation

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; }
.ok { color: #0a7a2f; font-weight: bold; } .bad { color: #b00020; font-weight: bold; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
svg { margin: 0 1em 1em 0; }
"""


def report_path(config: PipelineConfig, run_id: str) -> str:
    return str(pathlib.Path(config.output_dir) / "reports" / f"{run_id.replace(':', '-')}.html")


def write_report(config: PipelineConfig, run: RunRecord, data: str | None = None, error: str | None = None) -> str:
    """Writes the report of ``run`` and returns its path. ``error``: why the run stopped, if it did."""
    body = [f"<h1>Pipeline {_e(config.pipeline_name)}: run {_e(run.run_id)}</h1>"]
    if data:
        body.append(f"<p>Data: {_e(data)}</p>")
    if error:
        body.append(f"<h2>The run stopped</h2><pre class='bad'>{_e(error)}</pre>")
    body.append(_components(run))
    body.append(_statistics(run))
    body.append(_anomalies(run))
    for model in run.models:
        body.append(_model_section(model, several=len(run.models) > 1))
    body.append(f"<h2>Config</h2><pre>{_e(dump_config(config))}</pre>")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_e(config.pipeline_name)} "
            f"{_e(run.run_id)}</title><style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")
    path = pathlib.Path(report_path(config, run.run_id))
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    staging.write_text(page)
    staging.replace(path)  # a reader never sees half a report
    return str(path)


def _e(text) -> str:
    return html.escape(str(text))


def _table(header, rows) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    lines = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{lines}</table>"


def _components(run: RunRecord) -> str:
    rows = [(_e(node), _e(c.state.lower())) for node, c in run.components.items()]
    return "<h2>Components</h2>" + _table(("component", "state (cached: reused from an earlier run)"), rows)


def _statistics(run: RunRecord) -> str:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    component = run.components.get("StatisticsGen")
    artifacts = component.outputs.get("statistics", []) if component else []
    if not artifacts:
        return ""
    parts = ["<h2>Data statistics</h2>"]
    for path in sorted(glob.glob(os.path.join(artifacts[0].uri, "Split-*", "FeatureStats.pb"))):
        split = pathlib.Path(path).parent.name[len("Split-"):]
        stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(pathlib.Path(path).read_bytes())
        for dataset in stats.datasets:
            rows = [_feature_row(feature, dataset.num_examples) for feature in dataset.features]
            parts.append(f"<h3>{_e(split)}: {dataset.num_examples:,} examples</h3>")
            parts.append(_table(("feature", "type", "missing", "distinct", "mean", "std", "min", "max"), rows))
    return "".join(parts)


def _feature_row(feature, num_examples: int) -> tuple:
    name = ".".join(feature.path.step)
    kind = feature.WhichOneof("stats")
    stats = getattr(feature, kind)
    common = stats.common_stats
    missing = common.num_missing / num_examples if num_examples else 0.0
    if kind == "num_stats":
        numbers = [f"{stats.mean:.4g}", f"{stats.std_dev:.4g}", f"{stats.min:.4g}", f"{stats.max:.4g}"]
        distinct = "-"
    else:
        numbers, distinct = ["-"] * 4, f"{stats.unique:,}"
    return (_e(name), _e(feature.Type.Name(feature.type).lower()), f"{missing:.1%}", distinct, *numbers)


def _anomalies(run: RunRecord) -> str:
    from tfx.types.standard_artifacts import ExampleAnomalies

    from pipelines.gates import anomalies_report

    component = run.components.get("ExampleValidator")
    artifacts = component.outputs.get("anomalies", []) if component else []
    if not artifacts:
        return ""
    anomalies = ExampleAnomalies()
    anomalies.uri = artifacts[0].uri
    anomalies.split_names = artifacts[0].properties["split_names"].string_value
    found = anomalies_report(anomalies)
    if not found:
        return "<h2>Anomalies</h2><p class='ok'>none: every split matches the schema</p>"
    return f"<h2>Anomalies</h2><pre class='bad'>{_e(found)}</pre>"


def _model_section(model: ModelResult, several: bool) -> str:
    title = f"Model {model.model_name}" if several else f"Model: {model.model_name}"
    parts = [f"<h2>{_e(title)}</h2>", _training_curves(model.model_run_uri)]
    if model.evaluation_uri:
        parts.append(_evaluation(model))
    elif model.evaluator is None:
        parts.append("<p>Not evaluated: evaluation.enabled is false, so the model was pushed unconditionally.</p>")
    blessed = model.blessed
    if blessed is not None:
        verdict = "<span class='ok'>blessed</span>" if blessed else "<span class='bad'>not blessed</span>"
        parts.append(f"<p>Decision: {verdict}</p>")
    pushed = model.pushed_path
    parts.append(f"<p>Pushed: {_e(pushed) if pushed else 'nothing (the serving directory is unchanged)'}</p>")
    return "".join(parts)


def _evaluation(model: ModelResult) -> str:
    evaluation = read_evaluation(model.evaluation_uri)
    overall = evaluation.metrics.get("", {})
    parts = ["<h3>Held-out evaluation</h3>"]
    if evaluation.baseline_metrics:
        rows = [(_e(name), f"{value:.4f}", _cell(evaluation.baseline_metrics.get(name)),
                 _cell(value - evaluation.baseline_metrics[name], "+.4f") if name in evaluation.baseline_metrics
                 else "-") for name, value in sorted(overall.items())]
        parts.append(f"<p>Baseline (the latest blessed model): {_e(model.baseline_uri or '?')}</p>")
        parts.append(_table(("metric", "candidate", "baseline", "change"), rows))
    else:
        parts.append("<p>No baseline: no blessed model to compare with (or no resolver in the config).</p>")
        parts.append(_table(("metric", "value"), [(_e(k), f"{v:.4f}") for k, v in sorted(overall.items())]))
    slices = {k: v for k, v in evaluation.metrics.items() if k}
    if slices:
        names = sorted({name for values in slices.values() for name in values})
        rows = [(_e(where), *(_cell(values.get(name)) for name in names)) for where, values in sorted(slices.items())]
        parts.append("<h3>Per slice</h3>" + _table(("slice", *names), rows))
    if evaluation.failures:
        parts.append("<h3>Why it was not blessed</h3><ul>"
                     + "".join(f"<li>{_e(f)}</li>" for f in evaluation.failures) + "</ul>")
    plots = []
    if evaluation.roc:
        plots.append(svg_plot("ROC", "false positive rate", "true positive rate",
                              {"model": evaluation.roc}, bounds=(0, 1, 0, 1), diagonal=True))
    if evaluation.calibration:
        points = [(prediction, label) for prediction, label, _ in evaluation.calibration]
        plots.append(svg_plot("Calibration", "mean prediction (bucket)", "mean label", {"model": points},
                              bounds=(0, 1, 0, 1), diagonal=True, markers=True))
    if evaluation.confusion:
        parts.append(_confusion_matrix(evaluation.confusion))
    return "".join(parts) + "".join(plots)


def _confusion_matrix(confusion: dict[tuple[int, int], float]) -> str:
    """A classifier's held-out examples by true class (rows) and predicted class (columns)."""
    classes = sorted({c for pair in confusion for c in pair})
    rows = [(str(true), *(f"{confusion.get((true, predicted), 0):.0f}" for predicted in classes)) for true in classes]
    return "<h3>Confusion matrix (rows: true class, columns: predicted)</h3>" + _table(("", *map(str, classes)), rows)


def _cell(value, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _training_curves(run_dir: str | None) -> str:
    curves = read_scalars(run_dir) if run_dir else {}
    if not curves:
        return "<p>No training curves (no TensorBoard logs).</p>"
    by_metric: dict[str, dict[str, list]] = {}
    for (subdir, tag), points in curves.items():
        # batch_auc, epoch_auc (train/) and evaluation_auc_vs_iterations (validation/) share one chart.
        metric = tag.removeprefix("epoch_").removeprefix("batch_").removeprefix("evaluation_")
        metric = metric.removesuffix("_vs_iterations")
        if metric.endswith("steps_per_second"):
            continue
        by_metric.setdefault(metric, {})[f"{subdir} {tag}"] = points
    plots = [svg_plot(metric, "step", metric, series) for metric, series in sorted(by_metric.items())]
    return f"<h3>Training curves</h3><p>TensorBoard logs: {_e(run_dir)}</p>" + "".join(plots)


def read_scalars(run_dir: str) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(subdirectory, tag) -> [(step, value)] of every scalar in the TensorBoard event files."""
    from zoo.backend import tf

    curves: dict[tuple[str, str], list] = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "**", "events.out.tfevents.*"), recursive=True)):
        subdir = os.path.relpath(os.path.dirname(path), run_dir)
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":  # TF2 tf.summary.scalar
                    number = float(tf.make_ndarray(value.tensor))
                elif value.HasField("simple_value"):  # TF1 summaries
                    number = value.simple_value
                else:  # the graph, the model config as text, histograms
                    continue
                curves.setdefault((subdir, value.tag), []).append((float(event.step), number))
    return {key: sorted(points) for key, points in curves.items()}


_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def svg_plot(title: str, x_label: str, y_label: str, series: dict[str, list[tuple[float, float]]],
             bounds: tuple[float, float, float, float] | None = None, diagonal: bool = False,
             markers: bool = False) -> str:
    """A line chart as inline SVG: ``series`` maps a legend label to (x, y) points.

    ``bounds`` (x0, x1, y0, y1) fixes the axes (default: the data's range); ``diagonal`` draws y = x.
    """
    width, height, left, bottom, top, right = 380, 280, 55, 40, 28, 10
    points = [p for values in series.values() for p in values]
    x0, x1, y0, y1 = bounds or (min(p[0] for p in points), max(p[0] for p in points),
                                min(p[1] for p in points), max(p[1] for p in points))
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def sx(x):
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y):
        return height - bottom - (y - y0) / (y1 - y0) * (height - bottom - top)

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-size='11'>",
           f"<text x='{width / 2}' y='16' text-anchor='middle' font-weight='bold'>{_e(title)}</text>",
           f"<rect x='{left}' y='{top}' width='{width - left - right}' height='{height - top - bottom}' "
           "fill='none' stroke='#999'/>"]
    for x in (x0, x1):
        out.append(f"<text x='{sx(x)}' y='{height - bottom + 14}' text-anchor='middle'>{x:.3g}</text>")
    for y in (y0, y1):
        out.append(f"<text x='{left - 4}' y='{sy(y) + 4}' text-anchor='end'>{y:.3g}</text>")
    out.append(f"<text x='{width / 2}' y='{height - 6}' text-anchor='middle'>{_e(x_label)}</text>")
    out.append(f"<text x='12' y='{height / 2}' text-anchor='middle' transform='rotate(-90 12 {height / 2})'>"
               f"{_e(y_label)}</text>")
    if diagonal:
        out.append(f"<line x1='{sx(x0)}' y1='{sy(y0)}' x2='{sx(x1)}' y2='{sy(y1)}' stroke='#bbb' "
                   "stroke-dasharray='4'/>")
    for i, (label, values) in enumerate(series.items()):
        color = _COLORS[i % len(_COLORS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        out.append(f"<polyline points='{path}' fill='none' stroke='{color}' stroke-width='1.5'/>")
        if markers or len(values) == 1:
            out.extend(f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='2.5' fill='{color}'/>" for x, y in values)
        out.append(f"<text x='{left + 6}' y='{top + 14 + 13 * i}' fill='{color}'>{_e(label)}</text>")
    out.append("</svg>")
    return "".join(out)
