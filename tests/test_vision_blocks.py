"""Vision building blocks and segmentation losses against values computed by hand; UNet++ wiring,
pruning and deep supervision."""
from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.backend import keras, tf
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
