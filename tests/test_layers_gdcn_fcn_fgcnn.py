"""GatedCross, SelfMaskCross and ConvFeatureGeneration against values computed by hand from their
formulas, and FCN's Tri-BCE training loss against the paper's formula."""
from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.backend import keras, tf
from zoo.layers.feature_generation import ConvFeatureGeneration
from zoo.layers.gated_cross import GatedCross
from zoo.layers.self_mask_cross import SelfMaskCross


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_gated_cross_is_x0_times_cross_times_gate_plus_xl():
    x0 = np.array([[1.0, 2.0], [-1.0, 0.5]], np.float32)
    xl = np.array([[3.0, 4.0], [2.0, -2.0]], np.float32)
    kernel = np.array([[0.5, -1.0], [0.25, 0.0]], np.float32)
    gate_kernel = np.array([[0.1, 0.2], [-0.3, 0.4]], np.float32)
    bias = np.array([0.1, -0.2], np.float32)
    layer = GatedCross()
    layer(x0, xl)
    layer.kernel.assign(kernel)
    layer.gate_kernel.assign(gate_kernel)
    layer.bias.assign(bias)
    expected = x0 * (xl @ kernel + bias) * _sigmoid(xl @ gate_kernel) + xl
    np.testing.assert_allclose(layer(x0, xl).numpy(), expected, rtol=1e-6)
    # row 0, first element by hand: cross = 3*0.5 + 4*0.25 + 0.1 = 2.6, gate = sigmoid(0.3 - 1.2)
    np.testing.assert_allclose(layer(x0, xl).numpy()[0, 0], 1.0 * 2.6 * _sigmoid(-0.9) + 3.0, rtol=1e-6)


def _self_mask_cross_by_hand(layer, anchor, xl):
    cross = xl @ layer.kernel.numpy() + layer.bias.numpy()
    mean = cross.mean(axis=-1, keepdims=True)
    variance = cross.var(axis=-1, keepdims=True)
    normalized = (cross - mean) / np.sqrt(variance + layer.epsilon)
    gamma, beta = layer.layer_norm.gamma.numpy(), layer.layer_norm.beta.numpy()
    masked = cross * np.maximum(0.0, gamma * normalized + beta)
    return anchor * np.concatenate([cross, masked], axis=-1) + xl


@pytest.mark.parametrize("exponential", [False, True], ids=["linear_anchor_x1", "exponential_anchor_xl"])
def test_self_mask_cross_concatenates_the_cross_and_its_self_mask(exponential):
    x1 = np.array([[1.0, 2.0, -1.0, 0.5], [0.5, -0.5, 2.0, 1.0]], np.float32)
    xl = np.array([[0.5, 1.0, 1.5, -2.0], [1.0, 0.0, -1.0, 2.0]], np.float32)
    anchor = xl if exponential else x1
    layer = SelfMaskCross()
    layer(anchor, xl)
    assert layer.kernel.shape == (4, 2) and layer.bias.shape == (2,)  # half width: D -> D/2
    layer.kernel.assign([[0.5, -0.5], [0.25, 1.0], [-1.0, 0.5], [0.0, 0.25]])
    layer.bias.assign([0.1, -0.2])
    layer.layer_norm.gamma.assign([1.5, 0.5])
    layer.layer_norm.beta.assign([0.2, -0.1])
    out = layer(anchor, xl).numpy()
    np.testing.assert_allclose(out, _self_mask_cross_by_hand(layer, anchor, xl), rtol=1e-5, atol=1e-6)
    # with gamma 1, beta 0 the normalized pair is (+-1, -+1): the mask keeps exactly one of two
    layer.layer_norm.gamma.assign([1.0, 1.0])
    layer.layer_norm.beta.assign([0.0, 0.0])
    crossed = tf.matmul(xl, layer.kernel) + layer.bias
    masked_half = (layer(anchor, xl).numpy() - xl)[:, 2:] / anchor[:, 2:]
    np.testing.assert_allclose(np.count_nonzero(np.abs(masked_half) > 1e-6, axis=1), [1, 1])
    np.testing.assert_allclose((layer(anchor, xl).numpy() - xl)[:, :2], anchor[:, :2] * crossed.numpy(), rtol=1e-5)


def test_self_mask_cross_rejects_an_odd_width():
    with pytest.raises(ValueError, match="even"):
        SelfMaskCross()(tf.ones([2, 3]), tf.ones([2, 3]))


def test_conv_feature_generation_convolves_pools_and_recombines():
    fields = np.array([[[1.0, -1.0], [2.0, 0.5], [-0.5, 3.0]]], np.float32)  # 1 row, 3 fields, k = 2
    layer = ConvFeatureGeneration(channels=(1,), kernel_heights=(3,), pooling_sizes=(2,), recombined_channels=(1,))
    assert layer(fields).shape == (1, 2, 2)  # ceil(3 / 2) = 2 pooled rows, 1 new feature each
    conv, dense = layer._convolutions[0], layer._recombinations[0]
    w = np.array([0.5, 1.0, -0.25], np.float32)
    conv.kernel.assign(w.reshape(3, 1, 1, 1))
    conv.bias.assign([0.1])
    dense_kernel = np.arange(16, dtype=np.float32).reshape(4, 4) / 20 - 0.4
    dense.kernel.assign(dense_kernel)
    dense.bias.assign([0.0, 0.1, -0.1, 0.2])
    # (3, 1) convolution along the field axis, zero padding of one field on each side
    padded = np.pad(fields[0], ((1, 1), (0, 0)))
    conv_out = np.tanh(np.stack([w @ padded[i:i + 3] for i in range(3)]) + 0.1)  # [3 fields, 2 dims]
    pooled = np.stack([np.maximum(conv_out[0], conv_out[1]), conv_out[2]])  # "same" pooling: last row alone
    new = np.tanh(pooled.reshape(1, 4) @ dense_kernel + [0.0, 0.1, -0.1, 0.2]).reshape(1, 2, 2)
    np.testing.assert_allclose(layer(fields).numpy(), new, rtol=1e-5, atol=1e-6)


def test_conv_feature_generation_never_pools_two_fields_away():
    layer = ConvFeatureGeneration()  # four layers, pooling 2 each
    assert layer.pooled_heights(2) == [1, 1, 1, 1]
    assert layer(tf.ones([3, 2, 4])).shape == (3, 4 * 3, 4)


def test_fgcnn_runs_on_two_fields():
    spec = zoo.FeatureSpec((zoo.CategoricalFeature("a", 3), zoo.CategoricalFeature("b", 4)))
    model = zoo.create("fgcnn", spec, hidden_units=(4,))
    inputs = {"a": tf.constant([1, 2], tf.int64), "b": tf.constant([3, 0], tf.int64)}
    assert model(inputs).shape == (2, 1)


FCN_SPEC = zoo.FeatureSpec((zoo.CategoricalFeature("a", 4), zoo.CategoricalFeature("b", 5), zoo.NumericFeature("n")))
FCN_INPUTS = {
    "a": tf.constant([1, 2, 3, 1], tf.int64),
    "b": tf.constant([4, 0, 2, 1], tf.int64),
    "n": tf.constant([0.5, -1.0, 2.0, 0.0]),
}
FCN_LABELS = np.array([1.0, 0.0, 1.0, 0.0], np.float32)


def _fcn(tri_bce):
    tf.keras.utils.set_random_seed(3)
    model = zoo.create("fcn", FCN_SPEC, embedding_dim=4, num_exponential_layers=2, num_linear_layers=1,
                       exponential_dropout=0.0, linear_dropout=0.0, tri_bce=tri_bce)
    # Branches leaning opposite ways, each worse than their fusion, so that both Tri-BCE weights matter.
    for name, bias in (("exponential_logit", 1.5), ("linear_logit", -1.5)):
        head = model.get_layer(name)
        head.kernel.assign(head.kernel * 0.1)
        head.bias.assign([bias])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    branches = keras.Model(model.inputs, [model.get_layer("exponential_logit").output,
                                          model.get_layer("linear_logit").output])
    z_d, z_s = (z.numpy()[:, 0] for z in branches(FCN_INPUTS))
    return model, z_d, z_s


def _log_loss(logits):
    return np.mean(np.logaddexp(0.0, logits) - FCN_LABELS * logits)  # BCE of sigmoid(logits), stably


def test_fcn_train_step_loss_is_tri_bce():
    model, z_d, z_s = _fcn(tri_bce=True)
    main, loss_d, loss_s = _log_loss((z_d + z_s) / 2), _log_loss(z_d), _log_loss(z_s)
    w_d, w_s = max(0.0, loss_d - main), max(0.0, loss_s - main)
    assert w_d > 0.05 and w_s > 0.05  # both auxiliary terms are present in this example
    expected = main + w_d * loss_d + w_s * loss_s
    loss = model.train_on_batch(FCN_INPUTS, FCN_LABELS, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_fcn_without_tri_bce_trains_on_the_fused_prediction_only():
    model, z_d, z_s = _fcn(tri_bce=False)
    loss = model.train_on_batch(FCN_INPUTS, FCN_LABELS, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, _log_loss((z_d + z_s) / 2), rtol=1e-5)


def test_fcn_input_puts_the_first_halves_of_all_fields_before_the_second_halves():
    model, _, _ = _fcn(tri_bce=True)
    fields, _ = model.get_layer("embedding")(FCN_INPUTS)
    chunked = keras.Model(model.inputs, model.get_layer("chunked").output)(FCN_INPUTS).numpy()
    fields = fields.numpy()
    expected = np.concatenate([fields[:, :, :2].reshape(4, -1), fields[:, :, 2:].reshape(4, -1)], axis=1)
    np.testing.assert_allclose(chunked, expected)
