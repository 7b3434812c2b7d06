"""The multi-task contract (every model of task "multitask") and the multi-task layers by hand."""
from __future__ import annotations

import json

import numpy as np
import pytest

import zoo
from zoo.backend import keras, tf
from zoo.layers.multitask import GatedMixture
from zoo.models.multitask import compile_multitask, parse_tasks

SPEC = zoo.FeatureSpec((
    zoo.CategoricalFeature("user", 12),
    zoo.CategoricalFeature("item", 9),
    zoo.SequenceFeature("tags", 6, max_len=3),
    zoo.NumericFeature("price"),
))
TASKS = ({"name": "click", "type": "binary"}, {"name": "like", "type": "binary", "weight": 0.5},
         {"name": "watch_time", "type": "regression", "weight": 2.0})
ESMM_TASKS = ({"name": "click"}, {"name": "buy"})
SMALL = {"embedding_dim": 4, "bottom_units": (8,), "expert_units": (8,), "tower_units": (4,), "num_experts": 3,
         "moe": {"num_experts": 4, "top_k": 2, "num_shared_experts": 1, "balance": "bias"}}


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {"user": rng.integers(0, 12, n), "item": rng.integers(0, 9, n), "tags": rng.integers(0, 6, (n, 3)),
              "price": rng.normal(size=n).astype(np.float32)}
    signal = (inputs["user"] % 3 == 0) ^ (inputs["price"] > 0)
    labels = {"click": signal.astype(np.float32), "like": (inputs["item"] > 4).astype(np.float32),
              "watch_time": (inputs["price"] + rng.normal(scale=0.1, size=n)).astype(np.float32)}
    labels["buy"] = labels["click"] * labels["like"]
    return {k: tf.constant(v) for k, v in inputs.items()}, labels


INPUTS, LABELS = _data()


def _tasks(name):
    return ESMM_TASKS if zoo.get_card(name).model_class.endswith(".ESMM") else TASKS


@pytest.fixture(scope="module", params=zoo.list_models(task="multitask"))
def trained(request):
    """Each registered multi-task model, compiled with its per-task losses, after one epoch."""
    tf.keras.utils.set_random_seed(0)
    card = zoo.get_card(request.param)
    model = zoo.create(request.param, SPEC, tasks=_tasks(request.param),
                       **{k: v for k, v in SMALL.items() if k in card.defaults})
    compile_multitask(model, keras.optimizers.Adam(1e-2))
    labels = {t["name"]: LABELS[t["name"]] for t in model.tasks}
    history = model.fit(INPUTS, labels, batch_size=64, epochs=1, verbose=0).history
    return request.param, model, history


def _predict(model):
    return {k: v.numpy() for k, v in model(INPUTS, training=False).items()}


def test_one_output_per_task_with_its_range(trained):
    _, model, history = trained
    predictions = _predict(model)
    for task in model.tasks:
        values = predictions[task["name"]]
        assert values.shape == (256, 1) and np.all(np.isfinite(values)), task
        assert values.std() > 0, f"{task['name']} ignores its inputs"
        if task["type"] == "binary":
            assert np.all((values >= 0) & (values <= 1)), task
        # per-task loss and metric in the training logs
        metric = "auc" if task["type"] == "binary" else "rmse"
        assert np.isfinite(history[f"{task['name']}_loss"][0]) and np.isfinite(history[f"{task['name']}_{metric}"][0])


def test_fit_step_loss_finite_and_gradients_reach_every_variable(trained):
    _, model, history = trained
    assert np.isfinite(history["loss"][0])
    losses = {"binary": keras.losses.BinaryCrossentropy(), "regression": keras.losses.MeanSquaredError()}
    with tf.GradientTape() as tape:
        outputs = model(INPUTS, training=True)
        total = tf.add_n([t["weight"] * losses[t["type"]](LABELS[t["name"]][:, None], outputs[t["name"]])
                          for t in model.tasks] + list(model.losses))
    gradients = tape.gradient(total, model.trainable_variables)
    assert model.trainable_variables
    for variable, gradient in zip(model.trainable_variables, gradients):
        assert gradient is not None, f"no gradient reaches {variable.name}"
        dense = tf.convert_to_tensor(gradient).numpy()
        assert np.all(np.isfinite(dense)) and np.any(dense != 0), variable.name


def test_total_loss_is_the_weighted_sum_of_task_losses(trained):
    _, model, _ = trained
    labels = {t["name"]: LABELS[t["name"]] for t in model.tasks}
    logs = model.evaluate(INPUTS, labels, batch_size=256, verbose=0, return_dict=True)
    expected = sum(t["weight"] * logs[f"{t['name']}_loss"] for t in model.tasks)
    assert logs["loss"] == pytest.approx(expected, rel=1e-4)


def test_json_config_round_trip(trained):
    _, model, _ = trained
    config = json.loads(json.dumps(model.get_config()))
    rebuilt = type(model).from_config(config)
    assert rebuilt.get_config() == model.get_config()
    rebuilt.set_weights(model.get_weights())
    for name, values in _predict(model).items():
        np.testing.assert_allclose(_predict(rebuilt)[name], values, atol=1e-6)


@pytest.mark.parametrize("path", ["model.keras", "saved_model"])
def test_save_and_load_gives_same_predictions(trained, tmp_path, path):
    _, model, _ = trained
    model.save(tmp_path / path)  # a name without ".keras" is a TensorFlow SavedModel
    loaded = keras.models.load_model(tmp_path / path)  # no custom_objects: registration is enough
    assert type(loaded) is type(model)
    expected = _predict(model)
    assert set(_predict(loaded)) == set(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(_predict(loaded)[name], values, atol=1e-5)


def test_gated_mixture_softmax_weights_the_experts():
    layer = GatedMixture()
    gate_input = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    experts = tf.constant([[[4.0, 8.0], [0.0, 4.0]], [[4.0, 8.0], [0.0, 4.0]]])
    layer([gate_input, experts])
    layer.kernel.assign(np.log([[1.0, 3.0], [1.0, 1.0]]).astype(np.float32))
    # row 0: g = softmax([0, log 3]) = [1/4, 3/4] -> [1, 2] + [0, 3]; row 1: g = [1/2, 1/2] -> [2, 6]
    np.testing.assert_allclose(layer([gate_input, experts]).numpy(), [[1.0, 5.0], [2.0, 6.0]], rtol=1e-6)


def test_mmoe_output_is_its_tower_on_the_gate_mixture():
    model = zoo.create("mmoe", SPEC, tasks=TASKS[:2], **{k: SMALL[k] for k in ("embedding_dim", "expert_units")},
                       num_experts=2, tower_units=())
    probe = keras.Model(model.inputs, model.get_layer("like_gate").input)  # [x_0, expert outputs]
    x, experts = (t.numpy() for t in probe(INPUTS))
    gate = model.get_layer("like_gate").kernel.numpy()
    logits = x @ gate
    weights = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    mixed = np.einsum("be,beu->bu", weights, experts)
    kernel, bias = model.get_layer("like_logit").get_weights()
    np.testing.assert_allclose(model(INPUTS)["like"].numpy(), 1 / (1 + np.exp(-(mixed @ kernel + bias))), rtol=1e-4)


def test_esmm_ctcvr_is_ctr_times_cvr():
    model = zoo.create("esmm", SPEC, tasks=ESMM_TASKS, embedding_dim=4, tower_units=(4,), cvr_output="cvr")
    out = _predict(model)
    assert set(out) == {"click", "buy", "cvr"}
    np.testing.assert_allclose(out["buy"], out["click"] * out["cvr"], rtol=1e-6)
    with pytest.raises(ValueError, match="binary"):
        zoo.create("esmm", SPEC, tasks=({"name": "a"}, {"name": "b", "type": "regression"}))


def test_moe_bottom_reports_load_and_moves_its_bias():
    model = zoo.create("shared_bottom_moe", SPEC, tasks=TASKS[:2], **{k: SMALL[k] for k in ("embedding_dim", "moe")})
    compile_multitask(model, keras.optimizers.Adam(1e-2))
    bottom, biases = model.get_layer("bottom"), []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda *_: biases.append(bottom.routing_bias.numpy()))
    history = model.fit(INPUTS, {t: LABELS[t] for t in ("click", "like")}, batch_size=128, epochs=1, verbose=0,
                        callbacks=[record]).history
    assert sum(history[f"bottom_load_{i}"][0] for i in range(4)) == pytest.approx(1.0, abs=1e-5)
    # each step moves every bias by +-rate unless that expert's load is exactly the mean
    steps = np.diff([np.zeros(4)] + biases, axis=0)
    assert np.all(np.isclose(np.abs(steps), 1e-3) | (steps == 0)) and np.any(steps != 0)


def test_parse_tasks_fills_defaults_and_rejects_bad_tasks():
    assert parse_tasks([{"name": "a"}]) == ({"name": "a", "type": "binary", "weight": 1.0},)
    assert parse_tasks(None, label="clicked") == ({"name": "clicked", "type": "binary", "weight": 1.0},)
    for bad in ([], [{"name": "a"}, {"name": "a"}], [{"name": "a", "type": "ranking"}], [{"name": "a", "loss": 1}]):
        with pytest.raises(ValueError):
            parse_tasks(bad)
