"""The Trainer's one generic ``run_fn``: builds the configured zoo model and exports it.

Referenced by dotted path (``pipelines.trainer.run_fn``), so TFX needs no module file.
``fn_args.custom_config`` carries the model name, its hyper-parameter overrides, the
optimizer settings and the ``tf.distribute`` strategy's name (see ``pipelines.pipeline`` and
``pipelines.distribute``). A multi-task model gets one head per schema label (``zoo.role=label``, in
schema order) unless its ``tasks`` hyper-parameter names them, and trains on all of them.
"""
from __future__ import annotations

import tempfile

import tensorflow_transform as tft
from absl import logging
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

import zoo
from pipelines import distribute
from pipelines.export import export_serving_model
from pipelines.tasks import model_heads
from pipelines.transform import feature_spec
from zoo.backend import keras, tf
from zoo.models.multitask import compile_multitask
from zoo.schema import label_names, load_schema, schema_features


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    config = fn_args.custom_config
    strategy_name = config.get("strategy", "default")
    distribute.serve_unless_coordinator(strategy_name)
    keras.utils.set_random_seed(config["seed"])
    transform_output = tft.TFTransformOutput(fn_args.transform_output)
    schema = load_schema(fn_args.schema_path)
    spec = feature_spec(schema, transform_output)
    card = zoo.get_card(config["model_name"])
    hparams, heads = model_heads(config["model_name"], config["hparams"], label_names(schema_features(schema)))
    strategy = distribute.make_strategy(strategy_name)
    logging.info("training with %s", distribute.describe(strategy))

    def dataset(files, shuffle):
        def build(input_context=None):
            options = tfxio.TensorFlowDatasetOptions(  # labels stay among the features: one or several heads
                batch_size=config["batch_size"], shuffle=shuffle, shuffle_seed=config["seed"])
            data = fn_args.data_accessor.tf_dataset_factory(
                files, options, transform_output.transformed_metadata.schema
            )
            return data.map(lambda features: ({name: features[name] for name in spec.names},
                                               {head: features[head] for head in heads} if heads
                                               else features[spec.label]))

        if isinstance(strategy, tf.distribute.ParameterServerStrategy):
            return keras.utils.experimental.DatasetCreator(build)  # each worker builds its own input pipeline
        return build()

    with strategy.scope():  # variables (and their placement or sharding) belong to the strategy
        model = zoo.create(config["model_name"], spec, **hparams)
        optimizer = keras.optimizers.Adam(config["learning_rate"])
        if heads:
            compile_multitask(model, optimizer)
        else:
            model.compile(optimizer=optimizer, loss=card.loss,
                          metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryCrossentropy(name="log_loss")])
    chief = distribute.is_chief()
    # Non-chief workers hold the same model; they write to scratch space so that files never collide.
    run_dir = fn_args.model_run_dir if chief else tempfile.mkdtemp()
    history = model.fit(
        dataset(fn_args.train_files, shuffle=True),
        steps_per_epoch=fn_args.train_steps,
        validation_data=dataset(fn_args.eval_files, shuffle=False),
        validation_steps=fn_args.eval_steps,
        # About 50 points per training curve (batch_* scalars) for TensorBoard and the run report; Keras
        # calls the batch hooks that write them only when write_steps_per_second is on.
        callbacks=[keras.callbacks.TensorBoard(log_dir=run_dir, update_freq=max(1, fn_args.train_steps // 50),
                                               write_steps_per_second=True)],
        verbose=0,
    )
    logging.info("training metrics: %s", {k: round(v[-1], 4) for k, v in history.history.items()})
    export_serving_model(model, transform_output, schema, fn_args.serving_model_dir if chief else tempfile.mkdtemp(),
                         card=card)
    tf.keras.backend.clear_session()
