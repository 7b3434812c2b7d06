"""``create_pipeline``: a pure function from a validated config to a TFX pipeline.

ExampleGen (CSV, TFRecord or Parquet) -> StatisticsGen -> ImportSchemaGen -> ExampleValidator -> AnomaliesGate ->
Transform -> [LatestBlessedModelResolver] -> Trainer -> Evaluator -> [ServingWarmup] -> Pusher (atomic), with
one Trainer, Evaluator, ServingWarmup and Pusher per model when the config lists several. The config's task
(``pipelines.tasks``) supplies Transform's and Trainer's functions and the Evaluator's metrics.
Nothing here touches the file system or runs anything; the caller prepares the input CSV
directory and picks the runner.
"""
from __future__ import annotations

import os

from tfx import v1 as tfx

from pipelines.config import IMAGE_SOURCES, ModelConfig, PipelineConfig, history_length
from pipelines.gates import AnomaliesGate
from pipelines.push import ServingWarmup, atomic_pusher
from pipelines.tasks import get_task
from pipelines.transform import SCHEMA_KEY
from zoo import schema as schema_lib

RESOLVER_ID = "LatestBlessedModelResolver"


def create_pipeline(config: PipelineConfig, csv_dir: str, schema_text: str) -> tfx.dsl.Pipeline:
    """The pipeline for ``config`` reading the CSV files in ``csv_dir``.

    ``schema_text`` is the schema file's content: Transform receives it through
    ``custom_config`` so remote workers need no access to the file.
    """
    task = get_task(config.task)
    features = schema_lib.schema_features(schema_lib.parse_schema(schema_text))
    example_gen = example_gen_for(config, csv_dir, features)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.ImportSchemaGen(schema_file=config.schema)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    # Fails the run on any anomaly, so Transform, Trainer and Pusher never see bad data.
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=task.preprocessing_fn,
        custom_config={SCHEMA_KEY: schema_text},
        disable_statistics=not config.transform_statistics,
    )
    transform.add_upstream_node(anomalies_gate)
    components = [example_gen, statistics_gen, schema_gen, example_validator, anomalies_gate, transform]
    baseline = None
    if config.evaluation.baseline:
        resolver = tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
            model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
            model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
        ).with_id(RESOLVER_ID)
        components.append(resolver)
        baseline = resolver.outputs["model"]
    for suffix, model, serving_name in config.trained_models():
        trainer = tfx.components.Trainer(
            run_fn=task.run_fn,
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema_gen.outputs["schema"],
            train_args=tfx.proto.TrainArgs(num_steps=config.training.train_steps),
            eval_args=tfx.proto.EvalArgs(num_steps=config.training.eval_steps),
            custom_config=trainer_config(config, model),
        ).with_id(f"Trainer{suffix}")
        components.append(trainer)
        blessing = None
        if config.evaluation.enabled:
            evaluator = tfx.components.Evaluator(
                examples=example_gen.outputs["examples"],
                model=trainer.outputs["model"],
                baseline_model=baseline,
                eval_config=task.eval_config(config.evaluation, task.heads(model, features)),
                example_splits=["eval"],
            ).with_id(f"Evaluator{suffix}")
            components.append(evaluator)
            blessing = evaluator.outputs["blessing"]
        pushed = trainer.outputs["model"]
        if config.warmup_examples:
            warmup = ServingWarmup(model=pushed, examples=example_gen.outputs["examples"],
                                   num_examples=config.warmup_examples).with_id(f"ServingWarmup{suffix}")
            components.append(warmup)
            pushed = warmup.outputs["warmed_model"]
        # blessing None: pushed unconditionally (evaluation.enabled is false)
        components.append(atomic_pusher(pushed, blessing, os.path.join(config.serving_root, serving_name)
                                        ).with_id(f"Pusher{suffix}"))
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        # Kubeflow and Vertex keep their own metadata; a SQLite config would also make its directory here,
        # a local "gs:" folder for a gs:// output_dir.
        metadata_connection_config=None if config.runner == "kubeflow_v2"
        else tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
        enable_cache=True,
        beam_pipeline_args=list(config.beam_pipeline_args),
    )


def example_gen_for(config: PipelineConfig, input_dir: str, features: list):
    """The ExampleGen for the input's format (CSV, TFRecord of tf.Examples, Parquet) and split;
    ``features`` are the schema's (``zoo.schema.schema_features``)."""
    if config.data.split == "time":  # already split: the input directory holds train/ and eval/
        splits = {"input_config": tfx.proto.Input(splits=[
            tfx.proto.Input.Split(name=name, pattern=f"{name}/*") for name in ("train", "eval")])}
    else:
        splits = {"output_config": tfx.proto.Output(split_config=tfx.proto.SplitConfig(splits=[
            tfx.proto.SplitConfig.Split(name="train", hash_buckets=config.data.train_buckets),
            tfx.proto.SplitConfig.Split(name="eval", hash_buckets=config.data.eval_buckets),
        ]))}
    if config.data.source == "movielens_history":
        from pipelines.history_example_gen import history_example_gen

        patterns = [split.pattern for split in splits["input_config"].splits] if "input_config" in splits else None
        return history_example_gen(input_dir, history_length(features), patterns, **splits)
    if config.data.source in ("tfrecord", *IMAGE_SOURCES):  # zoo writes image folders as tf.Example TFRecords
        return tfx.components.ImportExampleGen(input_base=input_dir, **splits)
    if config.data.source == "parquet":
        from tfx.components.example_gen.component import FileBasedExampleGen
        from tfx.components.example_gen.custom_executors import parquet_executor
        from tfx.dsl.components.base import executor_spec

        return FileBasedExampleGen(
            input_base=input_dir, custom_executor_spec=executor_spec.BeamExecutorSpec(parquet_executor.Executor),
            **splits,
        ).with_id("ParquetExampleGen")
    return tfx.components.CsvExampleGen(input_base=input_dir, **splits)


def trainer_config(config: PipelineConfig, model: ModelConfig) -> dict:
    """The Trainer's ``custom_config``: what ``run_fn`` reads."""
    return {
        "model_name": model.name,
        "hparams": dict(model.hparams),
        "batch_size": config.training.batch_size,
        "learning_rate": config.training.learning_rate,
        "seed": config.training.seed,
        "strategy": config.training.strategy,
        "batch_norm_momentum": config.training.batch_norm_momentum,
        "batch_norm_statistics_batches": config.training.batch_norm_statistics_batches,
    }
