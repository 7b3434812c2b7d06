"""The AutoInt, xDeepFM, FiBiNET and FinalMLP layers against values computed by hand from their formulas."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from zoo.backend import tf
from zoo.layers.attention import InteractingLayer
from zoo.layers.bilinear import BilinearInteraction
from zoo.layers.cin import CIN
from zoo.layers.finalmlp import FeatureGating, InteractionAggregation
from zoo.layers.senet import SENetLayer

RNG = np.random.default_rng(0)
FIELDS = RNG.normal(size=(2, 3, 2)).astype(np.float32)  # [batch, fields, dim]


def _assign(variable, value):
    variable.assign(np.asarray(value, np.float32))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _interacting_by_hand(e, wq, wk, wv, wres, heads, dim):
    """Per example, per head: softmax over k of <W_Q e_m, W_K e_k>, then the weighted values."""
    out = np.zeros((e.shape[0], e.shape[1], heads * dim), np.float32)
    for b in range(e.shape[0]):
        for h in range(heads):
            cols = slice(h * dim, (h + 1) * dim)
            q, k, v = e[b] @ wq[:, cols], e[b] @ wk[:, cols], e[b] @ wv[:, cols]
            out[b, :, cols] = _softmax(q @ k.T) @ v
        if wres is not None:
            out[b] += e[b] @ wres
    return np.maximum(out, 0.0)


@pytest.mark.parametrize("use_residual", [True, False])
def test_interacting_layer_is_multi_head_attention_plus_residual_then_relu(use_residual):
    layer = InteractingLayer(num_heads=2, attention_dim=2, use_residual=use_residual)
    layer(FIELDS)
    weights = {name: RNG.normal(size=(2, 4)).astype(np.float32) for name in ("query", "key", "value", "residual")}
    for name in ("query", "key", "value"):
        _assign(getattr(layer, name), weights[name])
    if use_residual:
        _assign(layer.residual, weights["residual"])
    else:
        assert len(layer.weights) == 3
    expected = _interacting_by_hand(FIELDS, weights["query"], weights["key"], weights["value"],
                                    weights["residual"] if use_residual else None, heads=2, dim=2)
    np.testing.assert_allclose(layer(tf.constant(FIELDS)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_interacting_layer_attention_is_unscaled_inner_product():
    # one head, identity projections, two fields: alpha_{0,k} = softmax([<e0,e0>, <e0,e1>])
    e = np.array([[[2.0, 0.0], [1.0, 1.0]]], np.float32)
    layer = InteractingLayer(num_heads=1, attention_dim=2, use_residual=False)
    layer(e)
    for name in ("query", "key", "value"):
        _assign(getattr(layer, name), np.eye(2))
    alpha = np.exp([4.0, 2.0]) / np.exp([4.0, 2.0]).sum()
    np.testing.assert_allclose(layer(tf.constant(e)).numpy()[0, 0], alpha @ e[0], rtol=1e-6)


def _cin_by_hand(x0, kernels, layer_sizes, split_half):
    """X^k_h = sum_{i,j} W^{k,h}_{ij} (X^{k-1}_i o X^0_j), then sum pooling over the embedding."""
    batch, m, _ = x0.shape
    hidden, pooled = x0, []
    for k, (kernel, size) in enumerate(zip(kernels, layer_sizes)):
        w = kernel.reshape(hidden.shape[1], m, size)  # W^{k,h}_{ij} = w[i, j, h]
        maps = np.zeros((batch, size, x0.shape[2]), np.float32)
        for h in range(size):
            for i in range(hidden.shape[1]):
                for j in range(m):
                    maps[:, h] += w[i, j, h] * hidden[:, i] * x0[:, j]
        if split_half and k < len(layer_sizes) - 1:
            hidden, out = maps[:, : size // 2], maps[:, size // 2:]
        else:
            hidden, out = maps, maps
        pooled.append(out.sum(axis=2))
    return np.concatenate(pooled, axis=1)


@pytest.mark.parametrize("split_half", [True, False])
def test_cin_compresses_outer_products_and_sum_pools_each_layer(split_half):
    sizes = (4, 3)
    layer = CIN(sizes, split_half=split_half)
    layer(FIELDS)
    kernels = [RNG.normal(size=tuple(v.shape)).astype(np.float32) for v in layer.kernels]
    for variable, value in zip(layer.kernels, kernels):
        _assign(variable, value)
    # with split_half layer 1 forwards 2 of its 4 maps: layer 2's kernel is [2 * 3, 3], else [4 * 3, 3]
    assert kernels[1].shape == ((2 if split_half else 4) * 3, 3)
    output = layer(tf.constant(FIELDS)).numpy()
    assert output.shape == (2, (2 if split_half else 4) + 3)
    np.testing.assert_allclose(output, _cin_by_hand(FIELDS, kernels, sizes, split_half), rtol=1e-5, atol=1e-5)


def test_cin_split_half_needs_even_sizes():
    with pytest.raises(ValueError, match="even"):
        CIN((3, 2), split_half=True)
    CIN((3, 2), split_half=False)  # fine without splitting


def test_senet_reweights_each_field_by_its_excitation():
    layer = SENetLayer(reduction_ratio=2)  # 3 fields -> bottleneck of 1
    layer(FIELDS)
    w1, w2 = np.array([[1.0], [-0.5], [2.0]]), np.array([[0.5, -1.0, 3.0]])
    _assign(layer.squeeze_kernel, w1)
    _assign(layer.excite_kernel, w2)
    z = FIELDS.mean(axis=2)
    a = np.maximum(np.maximum(z @ w1, 0.0) @ w2, 0.0)
    np.testing.assert_allclose(layer(tf.constant(FIELDS)).numpy(), FIELDS * a[:, :, None], rtol=1e-5, atol=1e-6)
    assert layer.squeeze_kernel.shape == (3, 1) and layer.excite_kernel.shape == (1, 3)


@pytest.mark.parametrize("bilinear_type, kernel_for_pair", [
    ("field_all", lambda w, p, i: w),
    ("field_each", lambda w, p, i: w[i]),
    ("field_interaction", lambda w, p, i: w[p]),
])
def test_bilinear_interaction_projects_left_field_then_hadamard(bilinear_type, kernel_for_pair):
    layer = BilinearInteraction(bilinear_type)
    layer(FIELDS)
    expected_shape = {"field_all": (2, 2), "field_each": (2, 2, 2), "field_interaction": (3, 2, 2)}[bilinear_type]
    assert tuple(layer.bilinear_kernel.shape) == expected_shape
    w = RNG.normal(size=expected_shape).astype(np.float32)
    _assign(layer.bilinear_kernel, w)
    pairs = list(itertools.combinations(range(3), 2))
    expected = np.stack([(FIELDS[:, i] @ kernel_for_pair(w, p, i)) * FIELDS[:, j] for p, (i, j) in enumerate(pairs)], axis=1)
    np.testing.assert_allclose(layer(tf.constant(FIELDS)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_bilinear_interaction_rejects_unknown_type():
    with pytest.raises(ValueError, match="bilinear_type"):
        BilinearInteraction("field_some")


def test_feature_gating_scales_inputs_by_twice_a_sigmoid_of_the_context():
    x = RNG.normal(size=(2, 3)).astype(np.float32)
    layer = FeatureGating(hidden_units=(2,), context_dim=2)
    layer(x)
    context, hidden, hidden_bias = np.array([[1.0, -2.0]]), np.array([[1.0, 0.5], [0.5, 1.0]]), np.array([0.1, 0.2])
    gate, gate_bias = np.array([[1.0, -1.0, 0.0], [2.0, 0.5, -0.3]]), np.array([0.0, 0.1, -0.2])
    _assign(layer.context, context)
    dense = layer._hidden._stack[0]
    _assign(dense.kernel, hidden)
    _assign(dense.bias, hidden_bias)
    _assign(layer._gate.kernel, gate)
    _assign(layer._gate.bias, gate_bias)
    g = 2.0 / (1.0 + np.exp(-(np.maximum(context @ hidden + hidden_bias, 0.0) @ gate + gate_bias)))
    np.testing.assert_allclose(layer(tf.constant(x)).numpy(), x * g, rtol=1e-5)


def test_interaction_aggregation_is_linear_plus_per_head_bilinear():
    o1, o2 = RNG.normal(size=(2, 4)).astype(np.float32), RNG.normal(size=(2, 6)).astype(np.float32)
    layer = InteractionAggregation(num_heads=2)
    layer([o1, o2])
    w1, w2 = RNG.normal(size=(4, 1)), RNG.normal(size=(6, 1))
    w3 = RNG.normal(size=(2, 2, 3))
    _assign(layer.first_kernel, w1)
    _assign(layer.second_kernel, w2)
    _assign(layer.bilinear_kernel, w3)
    _assign(layer.bias, [0.5])
    # head h pairs o1[:, 2h:2h+2] with o2[:, 3h:3h+3]
    bilinear = sum(np.einsum("bi,ij,bj->b", o1[:, 2 * h:2 * h + 2], w3[h], o2[:, 3 * h:3 * h + 3]) for h in range(2))
    expected = 0.5 + o1 @ w1 + o2 @ w2 + bilinear[:, None]
    np.testing.assert_allclose(layer([tf.constant(o1), tf.constant(o2)]).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_interaction_aggregation_heads_must_divide_both_widths():
    with pytest.raises(ValueError, match="must divide"):
        InteractionAggregation(num_heads=3)([tf.zeros((1, 6)), tf.zeros((1, 4))])
