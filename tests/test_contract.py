"""The model contract: every registered model, on synthetic data from a small schema.

Registering a model is enough to put it through all of these checks.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import zoo
from pipelines.export import export_serving_model
from zoo.backend import keras, tf

# Applied where a model has the hyper-parameter: small MLPs keep the test fast; behaviour-sequence
# models read the contract schema's history (sharing item's table) and its time gaps.
SMALL = {"hidden_units": (16, 8), "history_feature": "history", "candidate_feature": "item",
         "time_feature": "history_gaps"}


@pytest.fixture(scope="module", params=zoo.list_models(task="ranking"))
def trained(request, contract_data):
    """A model of each registered kind, after one training step."""
    tf.keras.utils.set_random_seed(0)
    card = zoo.get_card(request.param)
    model = zoo.create(request.param, contract_data["spec"], **{k: v for k, v in SMALL.items() if k in card.defaults})
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=card.loss)
    history = model.fit(contract_data["inputs"], contract_data["labels"], batch_size=256, epochs=1, verbose=0)
    return request.param, model, history.history["loss"][0]


def _predict(model, inputs):
    return model(inputs, training=False).numpy()


def test_forward_pass_shape_and_range(trained, contract_data):
    _, model, _ = trained
    predictions = _predict(model, contract_data["inputs"])
    assert predictions.shape == (len(contract_data["labels"]), 1)
    assert np.all(np.isfinite(predictions))
    assert np.all((predictions >= 0) & (predictions <= 1))
    assert predictions.std() > 0, "the model ignores its inputs"


def test_fit_step_loss_finite_and_gradients_reach_every_variable(trained, contract_data):
    name, model, loss = trained
    assert np.isfinite(loss)
    loss_fn = keras.losses.get(zoo.get_card(name).loss)
    with tf.GradientTape() as tape:
        loss_value = loss_fn(contract_data["labels"][:, None], model(contract_data["inputs"], training=True))
    gradients = tape.gradient(loss_value, model.trainable_variables)
    assert model.trainable_variables
    for variable, gradient in zip(model.trainable_variables, gradients):
        assert gradient is not None, f"no gradient reaches {variable.name}"
        dense = tf.convert_to_tensor(gradient)
        assert np.all(np.isfinite(dense)), variable.name
        assert np.any(dense.numpy() != 0), f"zero gradient for {variable.name}"


def test_json_config_round_trip(trained, contract_data):
    _, model, _ = trained
    config = json.loads(json.dumps(model.get_config()))
    rebuilt = type(model).from_config(config)
    assert rebuilt.get_config() == model.get_config()
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(_predict(rebuilt, contract_data["inputs"]), _predict(model, contract_data["inputs"]), atol=1e-6)


@pytest.fixture(scope="module")
def exported(trained, contract_data, contract_schema, tmp_path_factory):
    """The model exported as the Trainer exports it: a SavedModel with the Transform graph inside."""
    _, model, _ = trained
    return export_serving_model(model, contract_data["transform_output"], contract_schema,
                                str(tmp_path_factory.mktemp("export")))


@pytest.fixture(scope="module")
def loaded(exported):
    """The export loaded back once by Keras, no custom_objects: registration is enough. Its ``signatures``
    are the SavedModel's, as ``tf.saved_model.load`` and TF Serving load them."""
    return keras.models.load_model(exported)


def _assert_same_model(loaded, model, inputs):
    assert type(loaded) is type(model)
    np.testing.assert_allclose(_predict(loaded, inputs), _predict(model, inputs), atol=1e-5)


def test_keras_format_save_and_load_gives_same_predictions(trained, contract_data, tmp_path):
    _, model, _ = trained
    model.save(tmp_path / "model.keras")
    _assert_same_model(keras.models.load_model(tmp_path / "model.keras"), model, contract_data["inputs"])


def test_saved_model_load_gives_same_predictions(trained, contract_data, loaded):
    _assert_same_model(loaded, trained[1], contract_data["inputs"])


def test_serving_signature_on_raw_examples_matches_model(trained, contract_data, loaded):
    _, model, _ = trained
    (output,) = loaded.signatures["serving_default"](examples=contract_data["serialized"]).values()
    np.testing.assert_allclose(output.numpy(), _predict(model, contract_data["inputs"]), atol=1e-5)
