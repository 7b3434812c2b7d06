"""Vision building blocks and segmentation losses against values computed by hand; UNet++ wiring,
pruning and deep supervision."""
from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.backend import keras, tf
from zoo.layers import GroupedConv2D
from zoo.losses import BCEDiceLoss, DiceLoss
from zoo.models.hardnet import harmonic_channels, harmonic_links


def test_harmonic_links_are_powers_of_two_back():
    assert harmonic_links(1) == [0]
    assert harmonic_links(4) == [3, 2, 0]
    assert harmonic_links(6) == [5, 4]
    assert harmonic_links(8) == [7, 6, 4, 0]


def test_harmonic_channels_grow_with_links_and_are_even():
    # k * 1.7**(links - 1), rounded to even: 14, 23.8 -> 24, 40.46 -> 40, 68.78 -> 68
    assert [harmonic_channels(layer, 14, 1.7) for layer in (1, 2, 4, 8)] == [14, 24, 40, 68]


def test_grouped_conv_by_hand():
    # 4 input channels in 2 groups, 1x1 kernel: outputs 0-1 read inputs 0-1 only, outputs 2-3 inputs 2-3.
    layer = GroupedConv2D(4, 1, groups=2, use_bias=False)
    layer.build((None, 1, 1, 4))
    layer.kernel.assign(np.array([[[[1, 0, 10, 0], [0, 1, 0, 10]]]], dtype=np.float32))  # [1, 1, 2, 4]
    x = tf.constant([[[[1.0, 2.0, 3.0, 4.0]]]])
    # group 0: [1, 2] @ [[1, 0], [0, 1]] = [1, 2]; group 1: [3, 4] @ [[10, 0], [0, 10]] = [30, 40]
    np.testing.assert_allclose(layer(x).numpy().ravel(), [1, 2, 30, 40])


@pytest.mark.parametrize("strides, use_bias, activation", [(1, False, None), (2, True, "relu")])
def test_grouped_conv_equals_keras_grouped_conv_and_its_gradients(strides, use_bias, activation):
    args = dict(filters=8, kernel_size=3, strides=strides, padding="same", groups=4, use_bias=use_bias,
                activation=activation)
    ours, keras_conv = GroupedConv2D(**args), keras.layers.Conv2D(**args)
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 6, 6, 12)).astype(np.float32))
    ours(x), keras_conv(x)
    assert ours.kernel.shape == keras_conv.kernel.shape == (3, 3, 3, 8)
    for weight, value in zip(ours.weights, keras_conv.get_weights()):
        weight.assign(value + (0.3 if "bias" in weight.name else 0.0))
    keras_conv.set_weights(ours.get_weights())
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_ours, y_keras = ours(x), keras_conv(x)
        loss_ours, loss_keras = tf.reduce_sum(y_ours ** 2), tf.reduce_sum(y_keras ** 2)
    np.testing.assert_allclose(y_ours.numpy(), y_keras.numpy(), rtol=1e-5, atol=1e-5)
    for ours_grad, keras_grad in zip(tape.gradient(loss_ours, [x, *ours.weights]),
                                     tape.gradient(loss_keras, [x, *keras_conv.weights])):
        np.testing.assert_allclose(ours_grad.numpy(), keras_grad.numpy(), rtol=1e-4, atol=1e-4)


def test_grouped_conv_is_keras_grouped_conv_where_a_gpu_is(monkeypatch):
    layer = GroupedConv2D(8, 3, groups=4, padding="same")
    x = tf.ones((1, 4, 4, 8))
    layer(x)
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    graph = tf.function(layer.call).get_concrete_function(x).graph
    assert not [op for op in graph.get_operations() if op.type == "Split"]  # Keras' one grouped convolution
    monkeypatch.undo()
    graph = tf.function(layer.call).get_concrete_function(x).graph
    assert len([op for op in graph.get_operations() if op.type == "Conv2D"]) == 4  # one per group


def test_grouped_conv_serializes_without_custom_objects():
    layer = GroupedConv2D(8, 3, groups=4, padding="same", name="g")
    rebuilt = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(rebuilt) is GroupedConv2D and rebuilt.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="channels_last"):
        GroupedConv2D(8, 3, groups=4, data_format="channels_first")


def test_segmentation_scores_by_hand():
    from pipelines.segmentation_metrics import _confusion, _scores

    # 2 classes, 8 pixels. True 1 1 1 0 0 0 0 0, predicted 1 1 0 1 0 0 0 0: rows true, columns predicted.
    confusion = _confusion(np.array([1, 1, 0, 1, 0, 0, 0, 0]), np.array([1, 1, 1, 0, 0, 0, 0, 0]), 2)
    np.testing.assert_array_equal(confusion, [[4, 1], [1, 2]])
    # foreground: 2 hits, 3 predicted, 3 true; background: 4 hits, 5 predicted, 5 true
    scores = _scores(confusion)
    assert scores["dice"] == pytest.approx(4 / 6) and scores["iou"] == pytest.approx(2 / 4)
    assert scores["mean_iou"] == pytest.approx((2 / 4 + 4 / 6) / 2) and scores["pixel_accuracy"] == pytest.approx(6 / 8)
    # 3 classes. Class 0: 3 hits, 4 predicted, 4 true: iou 3/5. Class 1: 3 hits, 4 predicted, 3 true:
    # dice 6/7, iou 3/4. Class 2: 1 hit, 1 predicted, 2 true: dice 2/3, iou 1/2.
    scores = _scores(np.array([[3, 1, 0], [0, 3, 0], [1, 0, 1]]))
    assert scores["dice"] == pytest.approx((6 / 7 + 2 / 3) / 2)
    assert scores["iou"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert scores["mean_iou"] == pytest.approx((3 / 5 + 3 / 4 + 1 / 2) / 3)
    assert scores["pixel_accuracy"] == pytest.approx(7 / 9)
    # a class neither true nor predicted has no score and is left out of the means
    scores = _scores(np.array([[4, 0, 0], [0, 2, 0], [0, 0, 0]]))
    assert scores["dice"] == 1.0 and scores["mean_iou"] == 1.0
    assert np.isnan(_scores(np.zeros((2, 2), dtype=np.int64))["dice"])


def test_segmentation_combiner_merges_confusions_of_any_class_count():
    from pipelines.segmentation_metrics import _ConfusionCombiner

    combiner = _ConfusionCombiner(None)  # the key only names the output
    merged = combiner.merge_accumulators([combiner.create_accumulator(), np.array([[4, 1], [1, 2]]),
                                          np.array([[3, 1, 0], [0, 3, 0], [1, 0, 1]])])
    np.testing.assert_array_equal(merged, [[7, 2, 0], [1, 5, 0], [1, 0, 1]])
    assert combiner.extract_output(merged) == {None: merged}
    assert combiner.merge_accumulators([combiner.create_accumulator()]).shape == (0, 0)


def test_the_four_segmentation_scores_share_one_confusion_matrix_computation():
    """TFMA runs identical computations once: the four metrics must ask for the same one, then derive."""
    from tensorflow_model_analysis.metrics import metric_types

    from pipelines.segmentation_metrics import CONFUSION, Dice, IoU, MeanIoU, PixelAccuracy, _scores

    computations = [c for metric in (Dice(), IoU(), MeanIoU(), PixelAccuracy())
                    for c in metric.computations(model_names=[""], output_names=[""])]
    combined = {c for c in computations if isinstance(c, metric_types.MetricComputation)}
    (confusion,) = {key for c in combined for key in c.keys}
    assert len(combined) == 1 and confusion.name == CONFUSION
    matrix = np.array([[3, 1, 0], [0, 3, 0], [1, 0, 1]])
    derived = {}
    for c in computations:
        if isinstance(c, metric_types.DerivedMetricComputation):
            derived.update(c.result({confusion: matrix}))
    assert {key.name: value for key, value in derived.items()} == _scores(matrix)


def test_dice_loss_binary_by_hand():
    y_pred = tf.constant([[[[0.5], [1.0]], [[0.0], [0.5]]]])
    y_true = tf.constant([[[[1.0], [1.0]], [[0.0], [0.0]]]])
    # intersection 1.5, |y| = 2, |p| = 2: Dice = (3 + 1) / (4 + 1) = 0.8
    np.testing.assert_allclose(DiceLoss()(y_true, y_pred).numpy(), 0.2, atol=1e-6)


def test_dice_loss_softmax_with_class_ids_by_hand():
    y_pred = tf.constant([[[[0.8, 0.2], [0.4, 0.6]]]])  # [1, 1, 2, 2]
    y_true = tf.constant([[[0, 1]]])
    # class 0: (1.6 + 1) / (1 + 1.2 + 1); class 1: (1.2 + 1) / (1 + 0.8 + 1)
    expected = 1 - (2.6 / 3.2 + 2.2 / 2.8) / 2
    np.testing.assert_allclose(DiceLoss()(y_true, y_pred).numpy(), expected, atol=1e-6)


def test_bce_dice_is_pixel_mean_cross_entropy_plus_dice():
    y_pred = tf.constant([[[[0.5], [1.0]], [[0.0], [0.5]]]])
    y_true = tf.constant([[[[1.0], [1.0]], [[0.0], [0.0]]]])
    # two pixels at p = 0.5 cost ln 2 each, the two certain ones ~0: mean 2 ln2 / 4; Dice loss 0.2
    np.testing.assert_allclose(BCEDiceLoss()(y_true, y_pred).numpy(), np.log(2) / 2 + 0.2, atol=1e-5)


def test_losses_serialize_by_name():
    loss = keras.losses.deserialize(keras.losses.serialize(BCEDiceLoss(smooth=2.0)))
    assert isinstance(loss, BCEDiceLoss) and loss.smooth == 2.0


def _nodes(model):
    return sorted((int(n.split("_")[1]), int(n.split("_")[2])) for n in (layer.name for layer in model.layers)
                  if n.startswith("x_") and n.endswith("_1_conv") and not n.startswith("x_0_0") and n.split("_")[2] != "0")


@pytest.fixture(scope="module")
def nested():
    keras.utils.set_random_seed(0)
    return zoo.create("unet_plus_plus", depth=3, base_filters=2)


def test_unet_decoder_is_the_outer_path_and_unet_plus_plus_is_nested(nested):
    plain = zoo.create("unet", depth=3, base_filters=2)
    assert _nodes(plain) == [(0, 3), (1, 2), (2, 1)]
    assert _nodes(nested) == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (2, 1)]
    # X^{0,3} = H([X^{0,0}, X^{0,1}, X^{0,2}, Up(X^{1,2})]); U-Net's X^{0,3} sees X^{0,0} and Up(X^{1,2})
    assert len(nested.get_layer("skip_0_3").input) == 4
    assert len(plain.get_layer("skip_0_3").input) == 2


def test_pruned_sub_networks_are_smaller_and_average_to_the_output(nested):
    images = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
    pruned = [nested.pruned(level) for level in (1, 2, 3)]
    sizes = [model.count_params() for model in pruned]
    # L3 is every node but not the shallower heads, which only the full (averaging) model has
    assert sizes[0] < sizes[1] < sizes[2] < nested.count_params()
    heads = [model(images, training=False).numpy() for model in pruned]
    np.testing.assert_allclose(np.mean(heads, axis=0), nested(images, training=False).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="deep_supervision"):
        zoo.create("unet_plus_plus", depth=1, base_filters=2, deep_supervision=False).pruned(1)


def test_deep_supervision_trains_on_the_mean_of_the_head_losses(nested):
    rng = np.random.default_rng(1)
    images = rng.random((2, 16, 16, 1), dtype=np.float32)
    masks = (rng.random((2, 16, 16, 1)) > 0.5).astype(np.float32)
    loss = BCEDiceLoss()
    heads = [nested.pruned(level)(images, training=True) for level in (1, 2, 3)]
    expected = np.mean([loss(masks, head).numpy() for head in heads])
    assert not np.isclose(expected, loss(masks, tf.add_n(heads) / 3).numpy(), atol=1e-4)  # the test can tell
    nested.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss)
    history = nested.fit(images, masks, batch_size=2, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)


def test_backbone_encoder_needs_enough_strides():
    with pytest.raises(ValueError, match="consecutive"):
        zoo.create("unet", depth=3, encoder="densenet_bc_100",
                   encoder_hparams=dict(block_config=(1, 1, 1), growth_rate=2, init_features=4))
