"""The Trainer's ``run_fn``s: build the configured zoo model, train it and export it.

Referenced by dotted path (``pipelines.trainer.run_fn``, ``pipelines.retrieval.run_fn``), so TFX
needs no module file. ``fn_args.custom_config`` carries the model name, its hyper-parameter
overrides, the optimizer settings and the ``tf.distribute`` strategy's name (see
``pipelines.pipeline`` and ``pipelines.distribute``). A multi-task model gets one head per schema
label (``zoo.role=label``, in schema order) unless its ``tasks`` hyper-parameter names them, and
trains on all of them. ``TrainingRun`` is what every task's ``run_fn`` shares.
"""
from __future__ import annotations

import tempfile
from typing import Callable

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
from zoo.batch_norm import recompute_batch_norm_statistics, set_batch_norm_momentum
from zoo.models.multitask import compile_multitask
from zoo.schema import label_types, load_schema, schema_features


class TrainingRun:
    """One Trainer execution: its config, Transform output, schema, feature spec and strategy."""

    def __init__(self, fn_args: tfx.components.FnArgs):
        self.fn_args = fn_args
        self.config = fn_args.custom_config
        strategy_name = self.config.get("strategy", "default")
        distribute.serve_unless_coordinator(strategy_name)
        keras.utils.set_random_seed(self.config["seed"])
        self.transform_output = tft.TFTransformOutput(fn_args.transform_output)
        self.schema = load_schema(fn_args.schema_path)
        self.spec = feature_spec(self.schema, self.transform_output)
        self.card = zoo.get_card(self.config["model_name"])
        self.strategy = distribute.make_strategy(strategy_name)
        logging.info("training with %s", distribute.describe(self.strategy))
        self.chief = distribute.is_chief()
        # Non-chief workers hold the same model; they write to scratch space so that files never collide.
        self.run_dir = fn_args.model_run_dir if self.chief else tempfile.mkdtemp()
        self.export_dir = fn_args.serving_model_dir if self.chief else tempfile.mkdtemp()

    def dataset(self, files, shuffle: bool, element: Callable[[dict], object]):
        """Batches of the transformed examples in ``files``, each mapped by ``element``, for ``fit``."""
        def build(input_context=None):
            return self._batches(files, shuffle, element)

        if isinstance(self.strategy, tf.distribute.ParameterServerStrategy):
            return keras.utils.experimental.DatasetCreator(build)  # each worker builds its own input pipeline
        return build()

    def _batches(self, files, shuffle: bool, element: Callable[[dict], object]):
        options = tfxio.TensorFlowDatasetOptions(
            batch_size=self.config["batch_size"], shuffle=shuffle, shuffle_seed=self.config["seed"])
        data = self.fn_args.data_accessor.tf_dataset_factory(
            files, options, self.transform_output.transformed_metadata.schema)
        return data.map(element)

    def optimizer(self):
        return keras.optimizers.Adam(self.config["learning_rate"])

    def fit(self, model, element: Callable[[dict], object], callbacks=(),
            training_element: Callable[[dict], object] | None = None) -> None:
        """Trains ``model`` for the Trainer's steps on ``element``-mapped batches (``training_element``'s
        for the train split, where it differs: augmentation), validating on eval. The config's
        ``batch_norm_momentum``, if set, applies to every batch norm of the model first (image models;
        Dice in the behaviour-sequence models), before ``fit`` traces their updates. With
        ``batch_norm_statistics_batches``, their moving statistics are then recomputed on that many train
        batches mapped by ``element`` (no augmentation), and the model validated again."""
        if self.config.get("batch_norm_momentum") is not None:
            set_batch_norm_momentum(model, self.config["batch_norm_momentum"])
        history = model.fit(
            self.dataset(self.fn_args.train_files, True, training_element or element),
            steps_per_epoch=self.fn_args.train_steps,
            validation_data=self.dataset(self.fn_args.eval_files, False, element),
            validation_steps=self.fn_args.eval_steps,
            # About 50 points per training curve (batch_* scalars) for TensorBoard and the run report; Keras
            # calls the batch hooks that write them only when write_steps_per_second is on.
            callbacks=[keras.callbacks.TensorBoard(log_dir=self.run_dir, update_freq=max(1, self.fn_args.train_steps // 50),
                                                   write_steps_per_second=True), *callbacks],
            verbose=0,
        )
        logging.info("training metrics: %s", {k: round(v[-1], 4) for k, v in history.history.items()})
        num_batches = self.config.get("batch_norm_statistics_batches", 0)
        if num_batches:
            self.recompute_batch_norm_statistics(model, element, num_batches)

    def recompute_batch_norm_statistics(self, model, element: Callable[[dict], object], num_batches: int) -> None:
        """Precise BN (``zoo.batch_norm.recompute_batch_norm_statistics``) over ``num_batches`` shuffled train
        batches, then validates again and logs it (``fit``'s ``val_*`` metrics were those before)."""
        inputs = self._batches(self.fn_args.train_files, True, element).map(lambda x, *_: x).take(num_batches)
        with self.strategy.scope():
            batches_read = recompute_batch_norm_statistics(model, inputs)
            if not batches_read:
                logging.info("batch_norm_statistics_batches: the model has no batch norm; nothing recomputed")
                return
            validation = model.evaluate(self.dataset(self.fn_args.eval_files, False, element),
                                        steps=self.fn_args.eval_steps, verbose=0, return_dict=True)
        logging.info("batch norm statistics recomputed on %d train batches; validation metrics now: %s",
                     batches_read, {k: round(v, 4) for k, v in validation.items()})


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Ranking and multi-task models: trained on the label (or each head's label), exported by
    ``pipelines.export``."""
    run = TrainingRun(fn_args)
    hparams, heads = model_heads(run.config["model_name"], run.config["hparams"],
                                 label_types(schema_features(run.schema)))
    spec = run.spec

    def element(features):  # labels stay among the features: one or several heads
        return ({name: features[name] for name in spec.names},
                {head: features[head] for head in heads} if heads else features[spec.label])

    with run.strategy.scope():  # variables (and their placement or sharding) belong to the strategy
        model = zoo.create(run.config["model_name"], spec, **hparams)
        if heads:
            compile_multitask(model, run.optimizer())
        else:
            model.compile(optimizer=run.optimizer(), loss=run.card.loss,
                          metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryCrossentropy(name="log_loss")])
    run.fit(model, element)
    export_serving_model(model, run.transform_output, run.schema, run.export_dir, card=run.card)
    tf.keras.backend.clear_session()
