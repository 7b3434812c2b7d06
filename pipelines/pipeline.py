"""``create_pipeline``: a pure function from a validated config to a TFX pipeline.

CsvExampleGen -> StatisticsGen -> ImportSchemaGen -> ExampleValidator -> AnomaliesGate ->
Transform -> Trainer -> Evaluator -> Pusher. Nothing here touches the file system or runs anything; the caller
prepares the input CSV directory and picks the runner.
"""
from __future__ import annotations

import pathlib

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from pipelines.config import PipelineConfig
from pipelines.gates import AnomaliesGate
from pipelines.transform import SCHEMA_KEY
from zoo import schema as schema_lib


def create_pipeline(config: PipelineConfig, csv_dir: str, schema_text: str) -> tfx.dsl.Pipeline:
    """The pipeline for ``config`` reading the CSV files in ``csv_dir``.

    ``schema_text`` is the schema file's content: Transform receives it through
    ``custom_config`` so remote workers need no access to the file.
    """
    label = schema_lib.label_name(schema_lib.schema_features(schema_lib.parse_schema(schema_text)))
    output = tfx.proto.Output(split_config=tfx.proto.SplitConfig(splits=[
        tfx.proto.SplitConfig.Split(name="train", hash_buckets=config.data.train_buckets),
        tfx.proto.SplitConfig.Split(name="eval", hash_buckets=config.data.eval_buckets),
    ]))
    example_gen = tfx.components.CsvExampleGen(input_base=csv_dir, output_config=output)
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
        preprocessing_fn="pipelines.transform.preprocessing_fn",
        custom_config={SCHEMA_KEY: schema_text},
    )
    transform.add_upstream_node(anomalies_gate)
    trainer = tfx.components.Trainer(
        run_fn="pipelines.trainer.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=config.training.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=config.training.eval_steps),
        custom_config={
            "model_name": config.model.name,
            "hparams": dict(config.model.hparams),
            "batch_size": config.training.batch_size,
            "learning_rate": config.training.learning_rate,
            "seed": config.training.seed,
        },
    )
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        eval_config=eval_config(label, config.evaluation.min_auc),
        example_splits=["eval"],
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(
            base_directory=str(pathlib.Path(config.serving_root) / config.serving_model_name)
        )),
    )
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=[example_gen, statistics_gen, schema_gen, example_validator, anomalies_gate, transform, trainer,
                    evaluator, pusher],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
        enable_cache=True,
    )


def eval_config(label_key: str, min_auc: float) -> tfma.EvalConfig:
    """AUC (with the blessing threshold), log loss, calibration and example count on raw examples."""
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key=label_key)],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(class_name="AUC", threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_auc}))),
            tfma.MetricConfig(class_name="BinaryCrossentropy"),  # log loss
            tfma.MetricConfig(class_name="Calibration"),
            tfma.MetricConfig(class_name="MeanLabel"),
            tfma.MetricConfig(class_name="MeanPrediction"),
        ])],
    )
