"""The vision model contract: every registered image-classification and segmentation model, in a tiny
configuration, plus the parameter counts of the ImageNet configurations against their papers."""
from __future__ import annotations

import json

import numpy as np
import pytest

import zoo
from zoo.backend import keras, tf
from zoo.losses import BCEDiceLoss

_TINY_DENSENET = dict(block_config=(1, 1, 1, 1), growth_rate=4, init_features=8, num_classes=3)
TINY = {  # per-model overrides that keep the contract fast; every code path of the family stays in
    "densenet121": _TINY_DENSENET, "densenet169": _TINY_DENSENET, "densenet201": _TINY_DENSENET,
    "densenet264": {**_TINY_DENSENET, "dropout": 0.2},
    # the registered CIFAR network is fixed at 32x32; the same class takes any size
    "densenet_bc_100": dict(block_config=(2, 1, 1), growth_rate=4, init_features=8, num_classes=3,
                            input_shape=(None, None, 3)),
    "res2net50": dict(stage_blocks=(2, 1, 1, 1), base_width=4, num_classes=3),
    "dpn68": dict(init_features=8, bottleneck_base=16, groups=4, stage_blocks=(2, 1, 1, 1), increments=(4, 4, 4, 4),
                  num_classes=3),
    "dpn92": dict(init_features=8, bottleneck_base=8, groups=4, stage_blocks=(1, 1, 2, 1), increments=(4, 4, 4, 4),
                  width_factor=1, num_classes=3),
    "hardnet68": dict(growth_rates=(4, 6), block_layers=(4, 3), transition_channels=(8, 16), downsample=(True, False),
                      num_classes=3),
    "vovnet39": dict(stage_channels=(8, 8, 8, 8), concat_channels=(16, 16, 16, 16), stage_modules=(1, 1, 2, 1),
                     module_layers=2, num_classes=3),
    # softmax over 3 classes on the paper's encoder
    "unet": dict(depth=2, base_filters=4, num_classes=3),
    # a zoo backbone as encoder, deep supervision on
    "unet_plus_plus": dict(depth=3, base_filters=4, encoder="densenet121", input_shape=(None, None, 3),
                           encoder_hparams=dict(block_config=(1, 1, 1, 1), growth_rate=4, init_features=8)),
}
MODELS = zoo.list_models(task="image_classification") + zoo.list_models(task="segmentation")
BATCH, SIZE = 4, 32


def _tiny_network(name: str) -> tuple[str, str]:
    """What ``zoo.create(name, **TINY[name])`` builds: its class and its defaults with the overrides."""
    card = zoo.get_card(name)
    return card.model_class, json.dumps({**card.defaults, **TINY[name]}, sort_keys=True)


# One model per distinct tiny network: densenet121/169/201 differ only in the block_config TINY replaces,
# so the contract below runs once for the three (test_variants_with_one_tiny_network_build_the_same_model).
TESTED_AS = {name: next(other for other in MODELS if _tiny_network(other) == _tiny_network(name)) for name in MODELS}
CONTRACT = sorted(set(TESTED_AS.values()), key=MODELS.index)


def test_every_vision_model_has_a_tiny_configuration():
    assert sorted(TINY) == sorted(MODELS)


@pytest.mark.parametrize("name", [name for name, tested in TESTED_AS.items() if name != tested])
def test_variants_with_one_tiny_network_build_the_same_model(name):
    model, tested = zoo.create(name, **TINY[name]), zoo.create(TESTED_AS[name], **TINY[TESTED_AS[name]])
    config, tested_config = model.get_config(), tested.get_config()
    for each in (config, tested_config):
        del each["name"]  # Keras names each instance apart
    assert type(model) is type(tested) and config == tested_config
    assert model.count_params() == tested.count_params()


def _data(name, model):
    rng = np.random.default_rng(0)
    images = rng.random((BATCH, SIZE, SIZE, model.input_shape[-1]), dtype=np.float32)
    classes = model.output_shape[-1]
    if zoo.get_card(name).task == "image_classification":
        return images, rng.integers(0, classes, BATCH), keras.losses.SparseCategoricalCrossentropy()
    shape = (BATCH, SIZE, SIZE, 1)
    labels = rng.integers(0, 2, shape).astype(np.float32) if classes == 1 else rng.integers(0, classes, shape)
    return images, labels, BCEDiceLoss()


@pytest.fixture(scope="module", params=CONTRACT)
def trained(request):
    """Each model, tiny, after one training step."""
    keras.utils.set_random_seed(0)
    model = zoo.create(request.param, **TINY[request.param])
    images, labels, loss = _data(request.param, model)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    history = model.fit(images, labels, batch_size=BATCH, epochs=1, verbose=0)
    return request.param, model, images, labels, loss, history.history["loss"][0]


def _predict(model, images):
    return model(images, training=False).numpy()


def test_forward_shape_and_probabilities(trained):
    name, model, images, _, _, _ = trained
    probabilities = _predict(model, images)
    classes = TINY[name].get("num_classes", 1)
    task = zoo.get_card(name).task
    expected = (BATCH, classes) if task == "image_classification" else (BATCH, SIZE, SIZE, classes)
    assert probabilities.shape == expected
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    if classes > 1:
        np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
    assert probabilities.std() > 0, "the model ignores its input"
    # any size the strides allow: 64x96 is a multiple of every tiny model's total stride
    other = model(np.zeros((1, 64, 96, images.shape[-1]), np.float32), training=False)
    assert tuple(other.shape) == ((1, classes) if task == "image_classification" else (1, 64, 96, classes))


def test_fit_step_loss_finite_and_gradients_reach_every_variable(trained):
    _, model, images, labels, loss, fit_loss = trained
    assert np.isfinite(fit_loss)
    with tf.GradientTape() as tape:
        value = loss(labels, model(images, training=True))
    gradients = tape.gradient(value, model.trainable_variables)
    assert model.trainable_variables
    for variable, gradient in zip(model.trainable_variables, gradients):
        assert gradient is not None, f"no gradient reaches {variable.name}"
        assert np.all(np.isfinite(gradient.numpy())), variable.name
        assert np.any(gradient.numpy() != 0), f"zero gradient for {variable.name}"


def test_json_config_round_trip(trained):
    _, model, images, _, _, _ = trained
    config = json.loads(json.dumps(model.get_config()))
    rebuilt = type(model).from_config(config)
    assert rebuilt.get_config() == model.get_config()
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(_predict(rebuilt, images), _predict(model, images), atol=1e-5)


def test_keras_format_save_and_load(trained, tmp_path):
    _, model, images, _, _, _ = trained
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")  # no custom_objects: registration is enough
    assert type(loaded) is type(model)
    np.testing.assert_allclose(_predict(loaded, images), _predict(model, images), atol=1e-5)


def test_saved_model_gives_same_predictions(trained, tmp_path):
    _, model, images, _, _, _ = trained
    # As pipelines.export saves: explicit signatures, no per-layer traces (Keras rebuilds from the config).
    (spec,) = model.inputs
    serve = tf.function(lambda image: {"output": model(image, training=False)},
                        input_signature=[tf.TensorSpec(spec.shape, spec.dtype, name="image")])
    model.save(tmp_path / "saved", save_format="tf", save_traces=False,
               signatures={"serving_default": serve.get_concrete_function()})
    serving = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    (output,) = serving(image=tf.constant(images)).values()
    np.testing.assert_allclose(output.numpy(), _predict(model, images), atol=1e-5)


# Trainable parameters of the ImageNet configurations (1000 classes). DenseNet: the full count
# (batch-norm statistics included) of tf.keras.applications; the others: the papers' tables.
KERAS_APPLICATIONS_PARAMS = {"densenet121": 8_062_504, "densenet169": 14_307_880, "densenet201": 20_242_984}
PAPER_TRAINABLE_MILLIONS = {"res2net50": 25.70, "dpn68": 12.61, "dpn92": 37.67, "hardnet68": 17.6, "vovnet39": 22.6}


@pytest.mark.parametrize("name", sorted(KERAS_APPLICATIONS_PARAMS))
def test_densenet_parameter_count_equals_keras_applications(name):
    assert zoo.create(name).count_params() == KERAS_APPLICATIONS_PARAMS[name]


@pytest.mark.parametrize("name", sorted(PAPER_TRAINABLE_MILLIONS))
def test_backbone_parameter_count_matches_paper(name):
    model = zoo.create(name)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables) / 1e6
    digits = len(str(PAPER_TRAINABLE_MILLIONS[name]).split(".")[1])
    assert round(trainable, digits) == PAPER_TRAINABLE_MILLIONS[name]


def test_densenet_bc_100_is_the_papers_08m_cifar_network():
    model = zoo.create("densenet_bc_100")
    assert model.output_shape == (None, 10)
    assert round(model.count_params() / 1e6, 1) == 0.8  # Table 2 of the paper: 0.8M
    assert model.get_layer("final_relu").output.shape[1:3] == (8, 8)  # 32 -> 8 after two transitions


def test_batch_norm_momentum_sets_every_moving_average_update():
    from zoo.batch_norm import set_batch_norm_momentum

    inputs = keras.Input((2,))
    inner = keras.Sequential([keras.layers.BatchNormalization(name="inner_bn")])
    model = keras.Model(inputs, inner(keras.layers.BatchNormalization(name="outer_bn")(inputs)))
    assert set_batch_norm_momentum(model, 0.9) == 2
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x = np.array([[1.0, 4.0], [3.0, 8.0]], np.float32)
    model.fit(x, np.zeros_like(x), batch_size=2, epochs=1, verbose=0)
    # moving = 0.9 * initial + 0.1 * batch statistic; means start at 0, variances at 1, and Keras updates
    # with the biased batch variance: columns [1, 3] and [4, 8] have means 2 and 6, variances 1 and 4.
    outer = model.get_layer("outer_bn")
    np.testing.assert_allclose(outer.moving_mean.numpy(), [0.2, 0.6], rtol=1e-5)
    np.testing.assert_allclose(outer.moving_variance.numpy(), [0.9 + 0.1 * 1.0, 0.9 + 0.1 * 4.0], rtol=1e-5)
    # The inner layer sees the outer one's training-mode output, x / sqrt(1 + epsilon) standardized: mean 0,
    # variance var / (var + 0.001).
    inner_variance = [0.9 + 0.1 * v / (v + 1e-3) for v in (1.0, 4.0)]
    np.testing.assert_allclose(inner.layers[0].moving_mean.numpy(), [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(inner.layers[0].moving_variance.numpy(), inner_variance, rtol=1e-5)


@pytest.mark.parametrize("image", [False, True], ids=["dense", "fused_4d"])
def test_recomputed_batch_norm_statistics_are_the_plain_mean_of_the_batch_statistics(image):
    from zoo.batch_norm import recompute_batch_norm_statistics

    shape = (1, 1, 2) if image else (2,)  # 4-D inputs take Keras' fused kernel, 2-D ones the plain one
    inputs = keras.Input(shape)
    norm = keras.layers.BatchNormalization(momentum=0.9, name="norm")
    model = keras.Model(inputs, norm(inputs))
    norm.moving_mean.assign([5.0, 5.0])  # stale statistics, which the first batch must replace
    batches = [np.array(b, np.float32).reshape((2, *shape)) for b in ([[1.0, 4.0], [3.0, 8.0]],
                                                                       [[5.0, 0.0], [9.0, 0.0]],
                                                                       [[0.0, 2.0], [0.0, 2.0]])]
    assert recompute_batch_norm_statistics(model, iter(batches)) == 3
    # Per batch, column means: [2, 6], [7, 0], [0, 2]; biased variances: [1, 4], [4, 0], [0, 0].
    # The fused kernel (like PyTorch) keeps the unbiased variance, n / (n - 1) = 2 times the biased one.
    np.testing.assert_allclose(norm.moving_mean.numpy(), [3.0, 8 / 3], rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), np.array([5 / 3, 4 / 3]) * (2 if image else 1), rtol=1e-5)
    assert norm.momentum == 0.9  # restored


def test_a_model_without_batch_norm_is_not_run_in_training_mode_for_statistics():
    from zoo.batch_norm import recompute_batch_norm_statistics

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    batches = iter([np.ones((2, 2), np.float32)])
    assert recompute_batch_norm_statistics(model, batches) == 0
    assert next(batches, None) is not None  # nothing read, so nothing ran


def _plain_names(model) -> dict[str, list]:
    """Each layer's weights under its name in the plain DenseNet: a ``RecomputedBottleneckInput`` named
    ``<layer>_a`` holds what the plain model's ``<layer>_a_bn`` and ``<layer>_a_conv`` hold."""
    named = {}
    for layer in model.layers:
        if isinstance(layer, zoo.layers.RecomputedBottleneckInput):
            named[f"{layer.name}_bn"], named[f"{layer.name}_conv"] = layer.norm.weights, layer.conv.weights
        elif layer.weights:
            named[layer.name] = layer.weights
    return named


def test_memory_efficient_densenet_computes_the_same_function_gradients_and_statistics():
    """The recomputed concatenation/batch norm changes what is stored, not what is computed: same
    parameters, outputs, gradients and moving statistics after a training step (to float tolerance)."""
    hparams = dict(block_config=(3, 2), growth_rate=4, init_features=8, stem="cifar", input_shape=(8, 8, 3),
                   num_classes=5)
    plain = zoo.create("densenet_bc_100", **hparams)
    efficient = zoo.create("densenet_bc_100", memory_efficient=True, **hparams)
    assert efficient.count_params() == plain.count_params()
    assert sum(isinstance(layer, zoo.layers.RecomputedBottleneckInput) for layer in efficient.layers) == 5
    plain_weights, efficient_weights = _plain_names(plain), _plain_names(efficient)
    assert plain_weights.keys() == efficient_weights.keys()
    for name, weights in efficient_weights.items():
        for target, source in zip(weights, plain_weights[name]):
            target.assign(source)
    rng = np.random.default_rng(0)
    images, labels = rng.random((6, 8, 8, 3), dtype=np.float32), rng.integers(0, 5, 6)
    np.testing.assert_allclose(efficient(images, training=False), plain(images, training=False), atol=1e-5)
    gradients = []
    for model, named in ((plain, plain_weights), (efficient, efficient_weights)):
        trainable = {f"{name}/{i}": w for name, weights in named.items() for i, w in enumerate(weights) if w.trainable}
        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(labels, model(images, training=True))
        gradients.append(tape.gradient(loss, trainable))
    assert gradients[0].keys() == gradients[1].keys()
    for name, expected in gradients[0].items():
        np.testing.assert_allclose(gradients[1][name], expected, atol=1e-5, err_msg=name)
    layer = efficient.get_layer("block1_layer3_a")  # its moving statistics took one step, like the plain one's
    np.testing.assert_allclose(layer.norm.moving_mean, plain.get_layer("block1_layer3_a_bn").moving_mean, atol=1e-5)
    np.testing.assert_allclose(layer.norm.moving_variance, plain.get_layer("block1_layer3_a_bn").moving_variance,
                               atol=1e-5)
    assert not np.allclose(layer.norm.moving_mean, 0.0)


def test_memory_efficient_densenet_round_trips_and_trains_in_fit(tmp_path):
    model = zoo.create("densenet_bc_100", block_config=(2,), growth_rate=4, init_features=8, input_shape=(8, 8, 1),
                       num_classes=3, memory_efficient=True)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images = np.random.default_rng(1).random((4, 8, 8, 1), dtype=np.float32)
    history = model.fit(images, np.array([0, 1, 2, 0]), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.get_config()["memory_efficient"] is True
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
