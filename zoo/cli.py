"""The ``zoo`` command: list and inspect models, run pipelines, serve SavedModels, run the demo.

    zoo models list [PATTERN] [--task T] [--family F]
    zoo models show NAME
    zoo pipeline run CONFIG [--output_dir DIR]
    zoo serve --model_name NAME --model_base_path DIR --rest_api_port PORT
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

    from serving.server import build_arg_parser

    serve = commands.add_parser("serve", help="serve SavedModels over TF Serving's REST API")
    build_arg_parser(serve)
    serve.set_defaults(handler=_serve)

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


def _serve(args) -> int:
    import logging

    from serving.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(args)


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
