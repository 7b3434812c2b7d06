"""The ``zoo`` command: list and inspect models, run pipelines, serve SavedModels, run the demo.

    zoo models list [PATTERN] [--task T] [--family F]
    zoo models show NAME
    zoo pipeline run CONFIG [--output_dir DIR]
    zoo pipeline runs CONFIG [--output_dir DIR]
    zoo pipeline report CONFIG [RUN] [--output_dir DIR]
    zoo serve --model_name NAME --model_base_path DIR --rest_api_port PORT [--port GRPC_PORT]
    zoo serve --model_config_file models.config [--enable_batching ...]
    zoo export-config SERVING_ROOT [--output FILE] [--base_path_prefix /models]
    zoo demo [--config CONFIG] [--output_dir DIR]

Each subcommand only parses flags and calls the library.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings

from zoo import _env  # noqa: F401  (first: must precede any TensorFlow import)


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=FutureWarning)  # Google client libraries nag about Python 3.10
    args = _parser().parse_args(argv)
    return args.handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    models = commands.add_parser("models", help="list and inspect registered models").add_subparsers(
        dest="models_command", required=True)
    listing = models.add_parser("list", help="a table of registered models")
    listing.add_argument("pattern", nargs="?", default=None, help="shell-style name pattern, e.g. 'dcn*'")
    listing.add_argument("--task")
    listing.add_argument("--family")
    listing.set_defaults(handler=_models_list)
    show = models.add_parser("show", help="a model's card and default hyper-parameters")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print the card as JSON")
    show.set_defaults(handler=_models_show)

    pipeline = commands.add_parser("pipeline", help="TFX pipelines").add_subparsers(dest="pipeline_command", required=True)
    run = pipeline.add_parser("run", help="run a pipeline from a YAML config")
    run.add_argument("config")
    run.add_argument("--output_dir", help="override the config's output_dir")
    run.set_defaults(handler=_pipeline_run)
    runs = pipeline.add_parser("runs", help="past runs with their metrics, blessing and pushed version")
    runs.add_argument("config")
    runs.add_argument("--output_dir", help="override the config's output_dir")
    runs.set_defaults(handler=_pipeline_runs)
    report = pipeline.add_parser("report", help="(re)write a run's HTML report")
    report.add_argument("config")
    report.add_argument("run", nargs="?", default=None, help="run id from `zoo pipeline runs` (default: the latest)")
    report.add_argument("--output_dir", help="override the config's output_dir")
    report.set_defaults(handler=_pipeline_report)

    from serving.server import build_arg_parser

    serve = commands.add_parser("serve", help="serve SavedModels over TF Serving's REST and gRPC APIs")
    build_arg_parser(serve)
    serve.set_defaults(handler=_serve)

    export_config = commands.add_parser("export-config", help="write a TF Serving models.config for a serving root")
    export_config.add_argument("serving_root", help="directory of NAME/<version>/saved_model.pb models")
    export_config.add_argument("--output", default=None, help="file to write (default: SERVING_ROOT/models.config)")
    export_config.add_argument("--model_version_policy", default="latest",
                               help="latest[:N], all or specific:V1,V2 (default: latest)")
    export_config.add_argument("--base_path_prefix", default=None,
                               help="write base paths under this prefix, e.g. /models inside a container")
    export_config.set_defaults(handler=_export_config)

    demo = commands.add_parser("demo", help="the main job: run the MovieLens pipeline, then serve and query it")
    demo.add_argument("--config", default=None, help="pipeline config (default: configs/movielens_ctr.yaml)")
    demo.add_argument("--output_dir", help="override the config's output_dir")
    demo.set_defaults(handler=_demo)
    return parser


def _models_list(args) -> int:
    import zoo

    names = zoo.list_models(args.pattern, task=args.task, family=args.family)
    rows = [(n, (c := zoo.get_card(n)).family, c.task, str(c.paper)) for n in names]
    _print_table(("name", "family", "task", "paper"), rows)
    return 0


def _models_show(args) -> int:
    import zoo

    try:
        card = zoo.get_card(args.name)
    except zoo.UnknownModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(card.to_dict(), indent=2, default=list))
        return 0
    print(f"{card.name}  ({card.family} family, {card.task})")
    link = f"https://arxiv.org/abs/{card.paper.arxiv_id}" if card.paper.arxiv_id else card.paper.venue
    print(f"paper:    {card.paper.title}  {link}")
    print(f"class:    {card.model_class}")
    print("inputs:   " + ", ".join(f"{kind} ({need})" for kind, need in card.inputs.items()))
    print(f"outputs:  {card.outputs}")
    print(f"loss:     {card.loss}")
    print(f"metrics:  {', '.join(card.metrics)}")
    print("default hyper-parameters:")
    for key, value in card.defaults.items():
        print(f"  {key} = {value!r}")
    return 0


def _load(args):
    from pipelines.config import load_config

    overrides = {"output_dir": args.output_dir} if args.output_dir else {}
    return load_config(args.config, **overrides)


def _pipeline_run(args) -> int:
    from pipelines.gates import DataAnomaliesError
    from pipelines.run import print_summary, run_pipeline

    try:
        summary = run_pipeline(_load(args))
    except DataAnomaliesError as error:
        print(f"stopped: {error}", file=sys.stderr)
        return 2
    print_summary(summary)
    return 0 if summary.pushed_path else 3


def _pipeline_runs(args) -> int:
    from pipelines.runs import format_runs, list_runs
    from pipelines.tasks import get_task

    config = _load(args)
    runs = list_runs(config.metadata_path, config.pipeline_name)
    if not runs:
        print(f"no runs of {config.pipeline_name} recorded in {config.metadata_path}", file=sys.stderr)
        return 1
    from zoo.schema import load_schema, schema_features

    task = get_task(config.task)
    header, *rows = format_runs(runs, task.headline(task.heads(config.trained_models()[0][1],
                                                               schema_features(load_schema(config.schema)))))
    _print_table(header, rows)
    return 0


def _pipeline_report(args) -> int:
    from pipelines.report import write_report
    from pipelines.runs import list_runs

    config = _load(args)
    runs = {run.run_id: run for run in list_runs(config.metadata_path, config.pipeline_name)}
    run_id = args.run or (list(runs)[-1] if runs else None)
    if run_id not in runs:
        print(f"error: no run {run_id!r} of {config.pipeline_name}; `zoo pipeline runs` lists them", file=sys.stderr)
        return 2
    print(write_report(config, runs[run_id]))
    return 0


def _serve(args) -> int:
    import logging

    from serving.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(args)


def _export_config(args) -> int:
    import os

    from serving.config import MODEL_CONFIG_FILE, VersionPolicy, discover_models, models_config_text
    from serving.errors import ModelLoadError

    try:
        specs = discover_models(args.serving_root, VersionPolicy.parse(args.model_version_policy), args.base_path_prefix)
    except (ModelLoadError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output = args.output or os.path.join(args.serving_root, MODEL_CONFIG_FILE)
    with open(output, "w", encoding="utf-8") as stream:
        stream.write(models_config_text(specs))
    print(f"wrote {output}: {', '.join(spec.name for spec in specs)}")
    return 0


def _demo(args) -> int:
    from pipelines.demo import DEFAULT_CONFIG, run_demo

    args.config = args.config or str(DEFAULT_CONFIG)
    return run_demo(_load(args))


def _print_table(header, rows) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
