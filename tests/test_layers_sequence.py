"""Behaviour-sequence layers against values computed by hand from their formulas."""
from __future__ import annotations

import math

import numpy as np

import zoo  # noqa: F401  (Keras 2 before TensorFlow)
from zoo.backend import tf
from zoo.layers import (
    AUGRUCell, Dice, FrequencyFilter, InterestExtractor, LocalActivationUnit, MiniBatchAwareL2, NextItemEncoder,
    SimHashAttention, TemporalTargetAttention, TransformerBlock,
)


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def _set(layer, name, value):
    (variable,) = [w for w in layer.weights if w.name.split("/")[-1].split(":")[0] == name]
    variable.assign(np.asarray(value, np.float32))


def test_dice_uses_batch_statistics_in_training_and_moving_ones_at_inference():
    layer = Dice(epsilon=1e-8)
    x = tf.constant([[1.0], [3.0]])
    layer(x)
    # Fresh moving statistics (mean 0, variance 1) and alpha = 0: f(s) = s * sigmoid(s).
    np.testing.assert_allclose(layer(x, training=False).numpy(), [[1 * _sigmoid(1)], [3 * _sigmoid(3)]], rtol=1e-5)
    _set(layer, "alpha", [0.25])
    # Batch mean 2, variance 1: p = sigmoid(-1), sigmoid(1); f = p s + (1 - p) alpha s.
    expected = [[_sigmoid(-1) * 1 + _sigmoid(1) * 0.25 * 1], [_sigmoid(1) * 3 + _sigmoid(-1) * 0.25 * 3]]
    np.testing.assert_allclose(layer(x, training=True).numpy(), expected, rtol=1e-5)


def test_local_activation_unit_sums_unnormalized_weights_and_skips_padding():
    layer = LocalActivationUnit(hidden_units=())
    query, keys, ids = tf.constant([[2.0]]), tf.constant([[[1.0], [3.0], [5.0]]]), tf.constant([[7, 8, 0]], tf.int64)
    layer(query, keys, ids)
    # a(e, q) = w . [e, q, e - q, e * q] with w = (1, 0, 0, 1): a = e + 2 e -> 3 and 9; padding -> 0.
    _set(layer, "kernel", [[1.0], [0.0], [0.0], [1.0]])
    np.testing.assert_allclose(layer.weights_of(query, keys, ids).numpy(), [[3.0, 9.0, 0.0]])
    np.testing.assert_allclose(layer(query, keys, ids).numpy(), [[3 * 1 + 9 * 3]])


def test_mini_batch_aware_l2_counts_each_id_in_the_batch_once_and_never_padding():
    table = {0: [5.0, 5.0], 1: [1.0, 1.0], 2: [0.0, 3.0]}
    ids = [tf.constant([1, 2], tf.int64), tf.constant([[2, 0]], tf.int64)]
    vectors = [tf.constant([table[1], table[2]]), tf.constant([[table[2], table[0]]])]
    layer = MiniBatchAwareL2(l2=0.5)
    out = layer(ids, vectors)
    np.testing.assert_allclose(out[1].numpy(), vectors[1].numpy())
    np.testing.assert_allclose(float(sum(layer.losses)), 0.5 * (2.0 + 9.0), rtol=1e-6)  # ||w_1||^2 + ||w_2||^2


def test_augru_cell_scales_the_update_gate_by_attention():
    cell = AUGRUCell(1)
    x, h = tf.constant([[1.0]]), tf.constant([[0.5]])
    cell(tf.concat([x, [[0.5]]], 1), [h])
    _set(cell, "recurrent_kernel", [[0.5, -1.0, 1.0]])  # U_u, U_r, U_h
    _set(cell, "kernel", [[1.0, 0.5, 2.0]])  # W_u, W_r, W_h; bias 0
    update = _sigmoid(1.0 + 0.25) * 0.5
    candidate = math.tanh(2.0 + _sigmoid(0.5 - 0.5) * 0.5)
    out, _ = cell(tf.concat([x, [[0.5]]], 1), [h])
    np.testing.assert_allclose(out.numpy(), [[(1 - update) * 0.5 + update * candidate]], rtol=1e-5)
    unchanged, _ = cell(tf.concat([x, [[0.0]]], 1), [h])  # attention 0: the interest does not move
    np.testing.assert_allclose(unchanged.numpy(), [[0.5]], rtol=1e-6)


def test_dien_auxiliary_loss_uses_the_next_behaviour_and_another_rows_as_negative():
    states = tf.constant([[[1.0], [0.0]], [[2.0], [0.0]]])
    behaviours = tf.constant([[[0.0], [1.0]], [[0.0], [-1.0]]])
    mask = tf.constant([[True, True], [True, True]])
    # row 0: positive <1, 1>, negative (row 1's next) <1, -1>; row 1: positive <2, -1>, negative <2, 1>
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    expected = ((softplus(-1) + softplus(-1)) + (softplus(2) + softplus(2))) / 2
    loss = InterestExtractor.auxiliary_loss(states, behaviours, mask)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
    padded = InterestExtractor.auxiliary_loss(states, behaviours, tf.constant([[True, True], [True, False]]))
    assert float(padded) == 0.0  # no step has a real next behaviour in both rows


def test_frequency_filter_matches_numpy_fft_filtering():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 3)).astype(np.float32)
    layer = FrequencyFilter(dropout=0.0)
    layer(x)
    real, imag = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    _set(layer, "filter_real", real)
    _set(layer, "filter_imag", imag)
    expected = np.fft.irfft(np.fft.rfft(x, axis=1) * (real + 1j * imag), n=6, axis=1)
    np.testing.assert_allclose(layer.filtered(tf.constant(x)).numpy(), expected, atol=1e-5)
    _set(layer, "filter_real", np.ones((4, 3)))
    _set(layer, "filter_imag", np.zeros((4, 3)))
    np.testing.assert_allclose(layer.filtered(tf.constant(x)).numpy(), x, atol=1e-5)  # the all-pass filter


def test_temporal_target_attention_weights_by_scaled_dot_and_multiplies_by_target():
    layer = TemporalTargetAttention()
    target = tf.constant([[1.0, 0.0]])
    behaviours = tf.constant([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])
    temporal = tf.zeros_like(behaviours)
    ids = tf.constant([[3, 4, 0]], tf.int64)
    w = math.exp(1 / math.sqrt(2)) / (math.exp(1 / math.sqrt(2)) + 1)  # softmax(1/sqrt(2), 0)
    np.testing.assert_allclose(layer(target, behaviours, temporal, ids).numpy(), [[w * 1.0, 0.0]], rtol=1e-5)
    # A temporal embedding shifts the key: behaviour 2 + (1, -1) now aligns with the target as well.
    shifted = tf.constant([[[0.0, 0.0], [1.0, -1.0], [0.0, 0.0]]])
    np.testing.assert_allclose(layer(target, behaviours, shifted, ids).numpy(), [[1.0, 0.0]], rtol=1e-5)


def test_simhash_attention_averages_normalized_buckets_sharing_the_targets_signature():
    layer = SimHashAttention(num_hashes=2, hash_bits=1)
    target = tf.constant([[1.0, 1.0]])
    behaviours = tf.constant([[[2.0, 1.0], [1.0, -1.0], [-1.0, 3.0], [4.0, 4.0]]])
    ids = tf.constant([[1, 2, 3, 0]], tf.int64)
    layer(target, behaviours, ids)
    _set(layer, "projection", np.eye(2))  # hash 1: sign of x, hash 2: sign of y
    # hash 1 matches behaviours 1, 2 -> (3, 0) -> (1, 0); hash 2 matches 1, 3 -> (1, 4) / sqrt(17)
    expected = (np.array([1.0, 0.0]) + np.array([1.0, 4.0]) / math.sqrt(17)) / 2
    np.testing.assert_allclose(layer(target, behaviours, ids).numpy(), [expected], rtol=1e-5)


def test_causal_transformer_block_ignores_later_positions_and_padding():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 4, 4)).astype(np.float32)
    ids = tf.constant([[5, 6, 7, 0]], tf.int64)
    block = TransformerBlock(num_heads=2, ff_units=8, dropout=0.0, causal=True, norm_first=True)
    base = block(x, ids).numpy()
    later = x.copy()
    later[0, 2:] += 3.0  # change position 2 and the padding position 3
    changed = block(later, ids).numpy()
    np.testing.assert_allclose(changed[0, :2], base[0, :2], atol=1e-5)
    assert not np.allclose(changed[0, 2], base[0, 2])


def test_next_item_encoder_scores_every_item_from_the_last_real_position():
    encoder = NextItemEncoder(9, 4, embedding_dim=4, block="transformer", num_blocks=1, dropout=0.0)
    ids = tf.constant([[3, 5, 0, 0], [3, 5, 8, 0]], tf.int64)
    scores = encoder(ids).numpy()
    assert scores.shape == (2, 9)
    assert np.all(scores[:, 0] <= -1e8)  # padding is never recommended
    # The prediction reads the last real position: one more item changes the scores.
    assert not np.allclose(scores[0], scores[1])
    # r_i = <h_n, E_i>: with d = 4 < 8 items, the scores must lie in the span of the item table.
    table = encoder.items.embeddings.numpy()[1:]
    hidden, *_ = np.linalg.lstsq(table, scores[:, 1:].T, rcond=None)
    np.testing.assert_allclose(table @ hidden, scores[:, 1:].T, atol=1e-4)
