"""The Trainer's one generic ``run_fn``: builds the configured zoo model and exports it.

Referenced by dotted path (``pipelines.trainer.run_fn``), so TFX needs no module file.
``fn_args.custom_config`` carries the model name, its hyper-parameter overrides and the
optimizer settings (see ``pipelines.pipeline``).
"""
from __future__ import annotations

import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

import zoo
from pipelines.export import export_serving_model
from pipelines.transform import feature_spec
from zoo.backend import keras, tf
from zoo.schema import load_schema


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    config = fn_args.custom_config
    keras.utils.set_random_seed(config["seed"])
    transform_output = tft.TFTransformOutput(fn_args.transform_output)
    schema = load_schema(fn_args.schema_path)
    spec = feature_spec(schema, transform_output)

    def dataset(files, shuffle):
        options = tfxio.TensorFlowDatasetOptions(
            batch_size=config["batch_size"], label_key=spec.label, shuffle=shuffle, shuffle_seed=config["seed"]
        )
        data = fn_args.data_accessor.tf_dataset_factory(files, options, transform_output.transformed_metadata.schema)
        return data.map(lambda features, label: ({name: features[name] for name in spec.names}, label))

    model = zoo.create(config["model_name"], spec, **config["hparams"])
    card = zoo.get_card(config["model_name"])
    model.compile(
        optimizer=keras.optimizers.Adam(config["learning_rate"]),
        loss=card.loss,
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryCrossentropy(name="log_loss")],
    )
    model.fit(
        dataset(fn_args.train_files, shuffle=True),
        steps_per_epoch=fn_args.train_steps,
        validation_data=dataset(fn_args.eval_files, shuffle=False),
        validation_steps=fn_args.eval_steps,
        callbacks=[keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")],
        verbose=0,
    )
    export_serving_model(model, transform_output, schema, fn_args.serving_model_dir)
    tf.keras.backend.clear_session()
