"""The mixture-of-experts layers against hand-computed values, and load balancing on a skewed router."""
from __future__ import annotations

import numpy as np
import pytest

from zoo.backend import keras, tf
from zoo.layers.moe import ExpertMLPs, MoE


def _set(layer, name, value):
    (variable,) = [w for w in layer.weights if w.name.split("/")[-1].startswith(name)]
    variable.assign(np.asarray(value, np.float32))


def test_expert_mlps_are_independent_mlps():
    layer = ExpertMLPs(num_experts=2, hidden_units=(2, 1), activation="relu")
    x = tf.constant([[1.0, -1.0]])
    layer(x)
    _set(layer, "kernel_0", [[[1, 0], [0, 1]], [[2, 1], [1, 1]]])
    _set(layer, "bias_0", [[0, 0], [0, 0.5]])
    _set(layer, "kernel_1", [[[1], [1]], [[2], [-1]]])
    # expert 0: relu([1, -1]) = [1, 0] -> 1 ; expert 1: relu([2 - 1, 1 - 1] + [0, .5]) = [1, .5] -> 2 - .5
    np.testing.assert_allclose(layer(x).numpy(), [[[1.0], [1.5]]])


def _hand_moe(**kwargs):
    """3 routed experts and 1 shared expert, each a linear unit, on d = 2.

    Token [1, 0] has logits log [1, 2, 3] (s = [1, 2, 3] / 6), token [0, 1] log [3, 1, 2];
    routed expert e outputs w_e . u and the shared expert [100, 1000] . u.
    """
    layer = MoE(num_experts=3, top_k=2, num_shared_experts=1, hidden_units=(1,), activation="linear", **kwargs)
    tokens = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    layer(tokens)
    _set(layer, "centroids", np.log([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]]))
    _set(layer._routed, "kernel_0", [[[10], [1]], [[20], [2]], [[30], [3]]])
    _set(layer._shared, "kernel_0", [[[100], [1000]]])
    return layer, tokens


def test_moe_softmax_then_top_k_gates_plus_shared_expert():
    layer, tokens = _hand_moe(balance=None)
    # token 0: top-2 = experts 1, 2 -> 2/6 * 20 + 3/6 * 30 + 100 ; token 1: experts 0, 2 -> 3/6 * 1 + 2/6 * 3 + 1000
    expected = [[20 / 3 + 15 + 100], [0.5 + 1 + 1000]]
    np.testing.assert_allclose(layer(tokens).numpy(), expected, rtol=1e-5)
    # leading dimensions are tokens too
    np.testing.assert_allclose(layer(tokens[tf.newaxis]).numpy(), [expected], rtol=1e-5)


def test_moe_bias_changes_only_the_choice_and_follows_the_sign_rule():
    layer, tokens = _hand_moe(balance="bias", bias_update_rate=0.25)
    _set(layer, "routing_bias", [1.0, 0.0, 0.0])
    # token 0 now ranks s + b = [7/6, 2/6, 3/6]: experts 0, 2 with their unbiased gates 1/6, 3/6
    # token 1 ranks [3/6 + 1, 1/6, 2/6]: experts 0, 2 as before
    expected = [[10 / 6 + 15 + 100], [0.5 + 1 + 1000]]
    np.testing.assert_allclose(layer(tokens, training=True).numpy(), expected, rtol=1e-5)
    # load = [2, 0, 2] / 4 against the mean 1/3: b += 0.25 * sign(1/3 - load)
    np.testing.assert_allclose(layer.routing_bias.numpy(), [1.0 - 0.25, 0.25, -0.25])
    layer(tokens)  # inference never moves the bias
    np.testing.assert_allclose(layer.routing_bias.numpy(), [0.75, 0.25, -0.25])


def test_moe_auxiliary_loss_value():
    layer, tokens = _hand_moe(balance="aux_loss", aux_loss_weight=0.1)
    layer(tokens)
    # chosen: token 0 -> {1, 2}, token 1 -> {0, 2}: load = [1, 1, 2] / 4; P = mean s = [4, 3, 5] / 12
    # L = 0.1 * 3 * (1/4 * 4/12 + 1/4 * 3/12 + 2/4 * 5/12)
    (loss,) = layer.losses
    np.testing.assert_allclose(loss.numpy(), 0.1 * 3 * (4 + 3 + 10) / 48, rtol=1e-5)


def test_moe_rejects_bad_config():
    with pytest.raises(ValueError, match="top_k"):
        MoE(num_experts=2, top_k=3)
    with pytest.raises(ValueError, match="balance"):
        MoE(balance="capacity")


def test_per_expert_load_is_a_fit_metric():
    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Dense(1)(MoE(num_experts=3, top_k=1, hidden_units=(4,), name="moe")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    history = model.fit(x, x[:, :1], batch_size=16, epochs=1, verbose=0).history
    loads = [history[f"moe_load_{i}"][0] for i in range(3)]
    assert sum(loads) == pytest.approx(1.0, abs=1e-5)  # each batch's assignments are shared out in full


def _skewed_router(balance, **kwargs):
    """4 experts, top-1; tokens lean on dimension 0, which only expert 0's centroid reads."""
    rng = np.random.default_rng(0)
    tokens = tf.constant(rng.normal(size=(512, 4)) + [2.0, 0, 0, 0], tf.float32)
    layer = MoE(num_experts=4, top_k=1, num_shared_experts=0, hidden_units=(1,), balance=balance, **kwargs)
    layer(tokens)
    centroids = rng.normal(scale=0.3, size=(4, 4))
    centroids[0, 0] = 2.0
    _set(layer, "centroids", centroids)
    return layer, tokens


def _imbalance(layer, tokens):
    _, chosen = layer.route(tokens)
    counts = tf.reduce_sum(chosen, axis=0).numpy()
    return counts.max() / max(counts.min(), 1.0)


def test_bias_balancing_evens_a_skewed_router():
    layer, tokens = _skewed_router("bias", bias_update_rate=0.002)
    before = _imbalance(layer, tokens)
    step = tf.function(lambda: layer(tokens, training=True))
    for _ in range(300):
        step()
    after = _imbalance(layer, tokens)
    assert before > 20, f"the toy router is not skewed enough: {before}"
    # sign steps leave the bias cycling within about one step of balance, hence not ~1
    assert after < 3, f"max/min load {before:.1f} -> {after:.2f}"


def test_auxiliary_loss_reduces_imbalance_of_a_skewed_router():
    layer, tokens = _skewed_router("aux_loss", aux_loss_weight=1.0)
    before = _imbalance(layer, tokens)
    optimizer = keras.optimizers.SGD(1.0)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            layer(tokens, training=True)
            loss = tf.add_n(layer.losses)
        optimizer.apply_gradients([(tape.gradient(loss, layer.centroids), layer.centroids)])

    for _ in range(200):
        step()
    after = _imbalance(layer, tokens)
    assert after < before / 4, f"max/min load {before:.1f} -> {after:.2f}"
