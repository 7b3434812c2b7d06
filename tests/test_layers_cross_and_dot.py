"""CrossV1, CrossMix (DCN-Mix) and DotInteraction against values computed by hand from their formulas."""
from __future__ import annotations

import numpy as np

from zoo.backend import tf
from zoo.layers.cross import CrossMix, CrossV1
from zoo.layers.dot_interaction import DotInteraction


def test_cross_v1_is_x0_times_projection_plus_bias_plus_xl():
    x0 = tf.constant([[1.0, 2.0], [-1.0, 0.5]])
    xl = tf.constant([[3.0, 4.0], [2.0, -2.0]])
    layer = CrossV1()
    layer(x0, xl)
    layer.kernel.assign([0.5, -1.0])
    layer.bias.assign([0.1, 0.2])
    # row 0: xl.w = 1.5 - 4 = -2.5 -> [1, 2] * -2.5 + [0.1, 0.2] + [3, 4] = [0.6, -0.8]
    # row 1: xl.w = 1 + 2 = 3      -> [-1, 0.5] * 3 + [0.1, 0.2] + [2, -2] = [-0.9, -0.3]
    np.testing.assert_allclose(layer(x0, xl).numpy(), [[0.6, -0.8], [-0.9, -0.3]], rtol=1e-6)
    assert layer.kernel.shape == (2,) and layer.bias.shape == (2,)  # a vector per layer, not a matrix


def test_cross_mix_is_the_gated_sum_of_low_rank_experts_plus_xl():
    x0, xl = tf.constant([[1.0, 2.0]]), tf.constant([[1.0, -1.0]])
    layer = CrossMix(num_experts=2, low_rank=1, activation="linear")
    layer(x0, xl)
    layer.v.assign([[[1.0], [0.0]], [[0.0], [1.0]]])  # V_1^T x_l = 1, V_2^T x_l = -1
    layer.c.assign([[[2.0]], [[1.0]]])  # -> 2 and -1
    layer.u.assign([[[1.0, 1.0]], [[1.0, 0.0]]])  # -> [2, 2] and [-1, 0]
    layer.bias.assign([[0.0, 0.0], [1.0, 1.0]])  # E_1 = x0 * [2, 2] = [2, 4]; E_2 = x0 * [0, 1] = [0, 2]
    layer.gate.assign([[1.0, 0.0], [0.0, 0.0]])  # gate logits [1, 0] -> softmax [e/(e+1), 1/(e+1)]
    g1 = np.e / (np.e + 1)
    expected = g1 * np.array([2.0, 4.0]) + (1 - g1) * np.array([0.0, 2.0]) + np.array([1.0, -1.0])
    np.testing.assert_allclose(layer(x0, xl).numpy(), [expected], rtol=1e-6)


def test_dot_interaction_returns_strictly_upper_triangle_row_major():
    vectors = tf.constant([
        [[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]],
        [[1.0, 1.0], [2.0, -1.0], [0.5, 0.5]],
    ])
    # pairs (0,1), (0,2), (1,2); no self products
    expected = [[0.0, 3.0, 8.0], [1.0, 1.0, 0.5]]
    np.testing.assert_allclose(DotInteraction()(vectors).numpy(), expected)


def test_dot_interaction_output_size_is_n_choose_2():
    assert DotInteraction()(tf.ones([3, 5, 4])).shape == (3, 10)
