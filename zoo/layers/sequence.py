"""Layers over behaviour sequences: target attention (DIN, TIN), interest evolution (DIEN),
self-attention (BST, SASRec), frequency filters (FMLP-Rec) and hashing (SDIM).

Sequences arrive as Transform emits them: ids ``[batch, T]`` right-padded with 0, embedded to
``[batch, T, d]``. Layers that need the padding mask take the ids and use ``ids != 0``.
"""
from __future__ import annotations

import math

from zoo.backend import keras, tf
from zoo.config import constructor_config

_NEG = -1e9  # a logit that softmax turns into 0 without the NaNs of -inf


def _mask(ids, dtype=tf.float32):
    return tf.cast(tf.not_equal(ids, 0), dtype)


def masked_softmax(logits, mask):
    """Softmax over the last axis restricted to ``mask``; an all-padding row gets all-zero weights."""
    weights = tf.nn.softmax(tf.where(mask > 0, logits, _NEG), axis=-1)
    return weights * mask


class _ConfigLayer(keras.layers.Layer):
    def get_config(self):
        return constructor_config(self, super().get_config())


@keras.saving.register_keras_serializable(package="zoo")
class Dice(_ConfigLayer):
    """Data-adaptive activation of DIN ("Deep Interest Network for Click-Through Rate Prediction",
    arXiv:1706.06978, eq. 9)::

        f(s) = p(s) * s + (1 - p(s)) * alpha * s,   p(s) = sigmoid((s - E[s]) / sqrt(Var[s] + eps))

    ``E[s]`` and ``Var[s]`` are the mini-batch statistics in training and their moving averages at
    inference (a batch normalization without scale and offset); ``alpha`` is learned per channel.
    With ``E = 0, Var = 1`` and ``alpha = 0`` it is ``s * sigmoid(s)``.
    """

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.normalize = keras.layers.BatchNormalization(center=False, scale=False, epsilon=self.epsilon)

    def build(self, input_shape):
        self.alpha = self.add_weight(name="alpha", shape=(int(input_shape[-1]),), initializer="zeros")
        super().build(input_shape)

    def call(self, x, training=None):
        p = tf.sigmoid(self.normalize(x, training=training))
        return p * x + (1.0 - p) * self.alpha * x


@keras.saving.register_keras_serializable(package="zoo")
class DenseStack(_ConfigLayer):
    """``Dense -> activation`` per entry of ``hidden_units``, where ``activation`` may be ``"dice"``
    (DIN's MLPs) or any Keras activation; ``output_units`` adds a final linear ``Dense``.
    """

    def __init__(self, hidden_units=(80, 40), activation="dice", output_units=None, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        self.output_units = output_units
        self._stack = []  # flat: the .keras saver does not descend into nested containers
        for units in self.hidden_units:
            self._stack.append(keras.layers.Dense(units))
            self._stack.append(Dice() if activation == "dice" else keras.layers.Activation(activation))
        if output_units:
            self._stack.append(keras.layers.Dense(int(output_units)))

    def call(self, x, training=None):
        for layer in self._stack:
            x = layer(x, training=training)
        return x


@keras.saving.register_keras_serializable(package="zoo")
class LocalActivationUnit(_ConfigLayer):
    """DIN's attention pooling of a behaviour sequence w.r.t. the candidate (arXiv:1706.06978, eq. 3)::

        v_U(A) = sum_j a(e_j, v_A) e_j,   a(e_j, v_A) = MLP([e_j, v_A, e_j - v_A, e_j * v_A])

    The weights are *not* normalized by a softmax, so the pooled vector's size reflects how much
    of the history is relevant (the paper keeps "intensity" this way). The out-product of the
    paper's figure is the element-wise product and difference, as in the authors' released code.
    Padding positions (``ids == 0``) get weight 0.

    Call with ``(query [b, d], keys [b, T, d], ids [b, T])``; returns ``[b, d]``.
    """

    def __init__(self, hidden_units=(80, 40), activation="dice", **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        self.score = DenseStack(self.hidden_units, activation, output_units=1)

    def weights_of(self, query, keys, ids, training=None):
        """The attention weights ``[b, T]`` (0 at padding)."""
        queries = tf.broadcast_to(query[:, tf.newaxis, :], tf.shape(keys))
        features = tf.concat([keys, queries, keys - queries, keys * queries], axis=-1)
        return tf.squeeze(self.score(features, training=training), -1) * _mask(ids, keys.dtype)

    def call(self, query, keys, ids, training=None):
        return tf.einsum("bt,btd->bd", self.weights_of(query, keys, ids, training), keys)


@keras.saving.register_keras_serializable(package="zoo")
class MiniBatchAwareL2(_ConfigLayer):
    """DIN's mini-batch aware regularization (arXiv:1706.06978, eq. 11), as a pass-through layer.

    Only the embedding rows of ids that occur in the mini-batch are penalized,
    ``l2 * sum_{j in batch} ||w_j||^2`` (each distinct non-padding id once), instead of the whole
    table on every step. The paper also divides by each id's global frequency ``n_j``; a model
    built from a ``FeatureSpec`` does not know the frequencies, so ``n_j = 1`` here.

    Call with ``(ids, vectors)``, two lists of the same length: id tensors ``[b, ...]`` and their
    vectors ``[b, ..., d]`` from one table (e.g. the candidate and its history); returns the
    vectors unchanged and adds the penalty with ``add_loss``.
    """

    def __init__(self, l2=0.01, **kwargs):
        super().__init__(**kwargs)
        self.l2 = float(l2)

    def call(self, ids, vectors):
        flat_ids = tf.concat([tf.reshape(i, [-1]) for i in ids], axis=0)
        flat = tf.concat([tf.reshape(v, [-1, tf.shape(v)[-1]]) for v in vectors], axis=0)
        unique, index = tf.unique(flat_ids)
        counts = tf.math.unsorted_segment_sum(tf.ones_like(flat_ids, flat.dtype), index, tf.size(unique))
        # Each occurrence carries 1/count of its id's squared norm, so every distinct id counts once.
        share = tf.gather(1.0 / counts, index) * tf.cast(tf.not_equal(flat_ids, 0), flat.dtype)
        self.add_loss(self.l2 * tf.reduce_sum(share * tf.reduce_sum(tf.square(flat), axis=-1)))
        return vectors


@keras.saving.register_keras_serializable(package="zoo")
class AUGRUCell(_ConfigLayer):
    """GRU with attentional update gate, DIEN's interest evolving cell (arXiv:1809.03672, eqs. 2-5, 14)::

        u_t = sigmoid(W_u i_t + U_u h_{t-1} + b_u)      r_t = sigmoid(W_r i_t + U_r h_{t-1} + b_r)
        h~_t = tanh(W_h i_t + r_t * (U_h h_{t-1}) + b_h)
        u'_t = a_t * u_t
        h_t = (1 - u'_t) * h_{t-1} + u'_t * h~_t

    The attention score ``a_t`` travels as the last channel of the step input, so the cell runs
    inside ``keras.layers.RNN`` (with its mask) like any other: input ``[b, d + 1]`` per step.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.state_size = self.units

    def build(self, input_shape):
        features = int(input_shape[-1]) - 1
        self.kernel = self.add_weight(name="kernel", shape=(features, 3 * self.units), initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, 3 * self.units),
                                                initializer="orthogonal")
        self.bias = self.add_weight(name="bias", shape=(3 * self.units,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs, states):
        (h,) = states if isinstance(states, (list, tuple)) else (states,)
        x, attention = inputs[:, :-1], inputs[:, -1:]
        x_u, x_r, x_h = tf.split(tf.matmul(x, self.kernel) + self.bias, 3, axis=-1)
        h_u, h_r, h_h = tf.split(tf.matmul(h, self.recurrent_kernel), 3, axis=-1)
        update = tf.sigmoid(x_u + h_u) * attention
        reset = tf.sigmoid(x_r + h_r)
        candidate = tf.tanh(x_h + reset * h_h)
        h = (1.0 - update) * h + update * candidate
        return h, [h]


@keras.saving.register_keras_serializable(package="zoo")
class InterestExtractor(_ConfigLayer):
    """DIEN's interest extractor: a GRU over the behaviours plus the auxiliary loss
    (arXiv:1809.03672, eq. 6)::

        L_aux = -mean_t [ log sigmoid(<h_t, e_{t+1}>) + log(1 - sigmoid(<h_t, e^_{t+1}>)) ]

    which makes each hidden state predict the next behaviour against a negative ``e^_{t+1}``.
    Negatives are the next behaviours of another row of the mini-batch (the batch rolled by one),
    i.e. sampled from the behaviour distribution; this needs no vocabulary access and no
    randomness, so ``fit`` trains it and inference is deterministic. Only steps where ``t + 1``
    is a real behaviour in both rows count. The loss, weighted by ``aux_weight``, is added with
    ``add_loss``.

    Call with ``(behaviours [b, T, d], ids [b, T])``; returns the hidden states ``[b, T, units]``
    (``units`` must equal ``d`` for the inner products).
    """

    def __init__(self, units, aux_weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.aux_weight = float(aux_weight)
        self.gru = keras.layers.GRU(self.units, return_sequences=True)

    def call(self, behaviours, ids):
        mask = tf.not_equal(ids, 0)
        states = self.gru(behaviours, mask=mask)
        if self.aux_weight:
            self.add_loss(self.aux_weight * self.auxiliary_loss(states, behaviours, mask))
        return states

    @staticmethod
    def auxiliary_loss(states, behaviours, mask):
        hidden, positive = states[:, :-1], behaviours[:, 1:]
        negative = tf.roll(positive, shift=1, axis=0)
        valid = tf.cast(mask[:, 1:] & tf.roll(mask[:, 1:], shift=1, axis=0), states.dtype)
        pos_logit = tf.reduce_sum(hidden * positive, -1)
        neg_logit = tf.reduce_sum(hidden * negative, -1)
        # -log sigmoid(x) = softplus(-x); -log(1 - sigmoid(x)) = softplus(x)
        per_step = tf.nn.softplus(-pos_logit) + tf.nn.softplus(neg_logit)
        return tf.reduce_sum(per_step * valid) / tf.maximum(tf.reduce_sum(valid), 1.0)


@keras.saving.register_keras_serializable(package="zoo")
class InterestEvolution(_ConfigLayer):
    """DIEN's interest evolving layer (arXiv:1809.03672, eq. 13 and AUGRU)::

        a_t = softmax_t(h_t W e_a)        (attention of each extracted interest to the target ad)
        h'_t = AUGRU(h_t, h'_{t-1}, a_t)

    Returns the final evolved interest ``h'_T`` (at the last real behaviour: padding steps are
    masked, so they keep the state).

    Call with ``(interests [b, T, h], target [b, d], ids [b, T])``; returns ``[b, units]``.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.augru = keras.layers.RNN(AUGRUCell(self.units))

    def build(self, input_shape):
        self.bilinear = self.add_weight(name="bilinear", shape=(int(input_shape[-1]), int(input_shape[-1])),
                                        initializer="glorot_uniform")
        super().build(input_shape)

    def call(self, interests, target, ids):
        if target.shape[-1] != interests.shape[-1]:
            raise ValueError(f"target size {target.shape[-1]} must equal the interest size {interests.shape[-1]}")
        logits = tf.einsum("bth,hk,bk->bt", interests, self.bilinear, target)
        attention = masked_softmax(logits, _mask(ids, interests.dtype))
        steps = tf.concat([interests, attention[..., tf.newaxis]], axis=-1)
        return self.augru(steps, mask=tf.not_equal(ids, 0))


@keras.saving.register_keras_serializable(package="zoo")
class FeedForward(_ConfigLayer):
    """The position-wise sub-layer of a Transformer block with its residual connection:
    ``LN(x + Dropout(W_2 act(W_1 x)))`` (post-norm), or ``x + Dropout(W_2 act(W_1 LN(x)))`` (pre-norm).
    """

    def __init__(self, hidden_units, activation="gelu", dropout=0.0, norm_first=False, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = int(hidden_units)
        self.activation = activation
        self.dropout = float(dropout)
        self.norm_first = bool(norm_first)
        self.inner = keras.layers.Dense(self.hidden_units, activation=activation)
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6)
        self.drop = keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        self.outer = keras.layers.Dense(int(input_shape[-1]))
        super().build(input_shape)

    def call(self, x, training=None):
        return residual(x, lambda y: self.outer(self.inner(y)), self.norm, self.drop, self.norm_first, training)


def residual(x, sublayer, norm, dropout, norm_first, training):
    """``LN(x + Dropout(f(x)))`` or, pre-norm, ``x + Dropout(f(LN(x)))``."""
    if norm_first:
        return x + dropout(sublayer(norm(x)), training=training)
    return norm(x + dropout(sublayer(x), training=training))


@keras.saving.register_keras_serializable(package="zoo")
class TransformerBlock(_ConfigLayer):
    """A Transformer encoder block ("Attention Is All You Need", arXiv:1706.03762) over a padded
    sequence: multi-head self-attention and a feed-forward sub-layer, each with a residual.

    BST uses it post-norm with LeakyReLU (arXiv:1905.06874); SASRec pre-norm and ``causal``, so
    position ``t`` attends to positions ``<= t`` only (arXiv:1808.09781). Keys at padding are masked.

    Call with ``(x [b, T, d], ids [b, T])``; returns ``[b, T, d]``.
    """

    def __init__(self, num_heads=2, ff_units=None, activation="gelu", dropout=0.1, causal=False,
                 norm_first=False, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.ff_units = ff_units
        self.activation = activation
        self.dropout = float(dropout)
        self.causal = bool(causal)
        self.norm_first = bool(norm_first)
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6)
        self.drop = keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        if dim % self.num_heads:
            raise ValueError(f"the model size {dim} must be divisible by num_heads={self.num_heads}")
        self.attention = keras.layers.MultiHeadAttention(self.num_heads, dim // self.num_heads, dropout=self.dropout)
        self.feed_forward = FeedForward(self.ff_units or 4 * dim, self.activation, self.dropout, self.norm_first)
        super().build(input_shape)

    def call(self, x, ids, training=None):
        keys = tf.not_equal(ids, 0)[:, tf.newaxis, :]  # [b, 1, T]
        if self.causal:
            length = tf.shape(ids)[1]
            keys = keys & tf.cast(tf.linalg.band_part(tf.ones([length, length]), -1, 0), tf.bool)[tf.newaxis]
        def attend(y):
            return self.attention(y, y, attention_mask=keys, training=training)

        x = residual(x, attend, self.norm, self.drop, self.norm_first, training)
        return self.feed_forward(x, training=training)


@keras.saving.register_keras_serializable(package="zoo")
class FrequencyFilter(_ConfigLayer):
    """FMLP-Rec's learnable filter block ("Filter-enhanced MLP is All You Need for Sequential
    Recommendation", arXiv:2202.13556, eqs. 6-8)::

        X~ = IFFT(W * FFT(X))          (along the sequence axis; W complex [T/2 + 1, d], learned)
        H  = LayerNorm(X + Dropout(X~))

    A filter in the frequency domain is a circular convolution over the whole sequence in
    ``O(T log T)``; it replaces self-attention. Input and output ``[b, T, d]`` with ``T`` fixed.
    """

    def __init__(self, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.dropout = float(dropout)
        self.norm = keras.layers.LayerNormalization(epsilon=1e-12)
        self.drop = keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        self.length, dim = int(input_shape[1]), int(input_shape[2])
        shape = (self.length // 2 + 1, dim)
        self.filter_real = self.add_weight(name="filter_real", shape=shape,
                                           initializer=keras.initializers.RandomNormal(stddev=0.02))
        self.filter_imag = self.add_weight(name="filter_imag", shape=shape,
                                           initializer=keras.initializers.RandomNormal(stddev=0.02))
        super().build(input_shape)

    def filtered(self, x):
        """``IFFT(W * FFT(x))`` along axis 1, without dropout and residual."""
        spectrum = tf.signal.rfft(tf.transpose(x, [0, 2, 1]))  # [b, d, T/2 + 1]: rfft runs on the last axis
        weights = tf.transpose(tf.complex(self.filter_real, self.filter_imag))
        return tf.transpose(tf.signal.irfft(spectrum * weights, fft_length=[self.length]), [0, 2, 1])

    def call(self, x, training=None):
        return self.norm(x + self.drop(self.filtered(x), training=training))


@keras.saving.register_keras_serializable(package="zoo")
class TemporalTargetAttention(_ConfigLayer):
    """TIN's target-aware temporal encoding, attention and representation ("Temporal Interest
    Network for User Response Prediction", arXiv:2308.08487)::

        e~_i = e_i + p_i                 v~_t = v_t + p_t      (TTE: temporal embeddings added)
        alpha_i = softmax_i(<e~_i, v~_t> / sqrt(d))                     (TA)
        u = sum_i alpha_i (e~_i * v~_t) = (sum_i alpha_i e~_i) * v~_t   (TR)

    ``p_i`` embeds behaviour ``i``'s time before the target (the model looks it up); ``p_t``, the
    target's own temporal embedding, is a learned vector here. The element-wise product with the
    target in TR is what lets the representation carry behaviour-target correlation (the paper's
    argument for it over a plain weighted sum).

    Call with ``(target [b, d], behaviours [b, T, d], temporal [b, T, d], ids [b, T])``; returns ``[b, d]``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.target_position = self.add_weight(name="target_position", shape=(int(input_shape[-1]),),
                                               initializer="zeros")
        super().build(input_shape)

    def call(self, target, behaviours, temporal, ids):
        keys = behaviours + temporal
        query = target + self.target_position
        logits = tf.einsum("btd,bd->bt", keys, query) / math.sqrt(keys.shape[-1])
        weights = masked_softmax(logits, _mask(ids, keys.dtype))
        return tf.einsum("bt,btd->bd", weights, keys) * query


@keras.saving.register_keras_serializable(package="zoo")
class SimHashAttention(_ConfigLayer):
    """SDIM's hash-based sampling of behaviours ("Sampling Is All You Need on Modeling Long-Term
    User Behaviors for CTR Prediction", arXiv:2205.10249).

    ``num_hashes`` (m) SimHash functions of ``hash_bits`` (tau) bits each map a vector to
    signatures ``sign(x R_j)`` with fixed random Gaussian projections ``R_j``. For each function
    the behaviours whose signature equals the target's are summed and L2-normalized; the m results
    are averaged::

        u = mean_j  normalize( sum_{i : sig_j(e_i) = sig_j(v_t)} e_i )

    Two vectors collide with probability ``(1 - angle / pi) ^ tau`` under one function, so this
    approximates attention by angular similarity without scoring each behaviour: the cost is one
    projection per behaviour, ``O(T d m tau)``, which is what makes very long histories affordable.
    Padding never matches.

    Call with ``(target [b, d], behaviours [b, T, d], ids [b, T])``; returns ``[b, d]``.
    """

    def __init__(self, num_hashes=48, hash_bits=3, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.num_hashes = int(num_hashes)
        self.hash_bits = int(hash_bits)
        self.seed = int(seed)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.projection = self.add_weight(
            name="projection", shape=(dim, self.num_hashes * self.hash_bits), trainable=False,
            initializer=keras.initializers.RandomNormal(seed=self.seed))
        super().build(input_shape)

    def signatures(self, x):
        """Sign bits ``[..., m, tau]`` (bool) of ``x [..., d]``."""
        bits = tf.tensordot(x, self.projection, axes=1) > 0
        return tf.reshape(bits, tf.concat([tf.shape(x)[:-1], [self.num_hashes, self.hash_bits]], 0))

    def call(self, target, behaviours, ids):
        same = tf.equal(self.signatures(behaviours), self.signatures(target)[:, tf.newaxis])  # [b, T, m, tau]
        match = tf.cast(tf.reduce_all(same, axis=-1), behaviours.dtype) * _mask(ids, behaviours.dtype)[..., tf.newaxis]
        buckets = tf.einsum("btm,btd->bmd", match, behaviours)
        return tf.reduce_mean(tf.math.l2_normalize(buckets, axis=-1), axis=1)


@keras.saving.register_keras_serializable(package="zoo")
class NextItemEncoder(_ConfigLayer):
    """A sequential recommender's body: items plus learned positions, a stack of blocks, and the
    scores of every item as the next one, ``r = h_n E^T`` with the shared item table ``E``.

    ``block="transformer"``: SASRec ("Self-Attentive Sequential Recommendation", arXiv:1808.09781):
    ``E_i * sqrt(d) + P_t``, dropout, causal pre-norm self-attention blocks (ReLU feed-forward),
    a final LayerNorm. ``block="filter"``: FMLP-Rec (arXiv:2202.13556): ``LN(E_i + P_t)``,
    dropout, blocks of a ``FrequencyFilter`` and a GELU feed-forward, both post-norm.

    ``h_n`` is the output at the last real position (inputs are right-padded); padding positions
    are zeroed after embedding, as both papers do. Padding id 0 gets score ``-1e9`` so that it is
    never recommended.

    Input ids ``[b, max_len]``; output scores (logits) ``[b, vocab_size]``.
    """

    BLOCKS = ("transformer", "filter")

    def __init__(self, vocab_size, max_len, embedding_dim=64, block="transformer", num_blocks=2, num_heads=1,
                 dropout=0.2, **kwargs):
        super().__init__(**kwargs)
        if block not in self.BLOCKS:
            raise ValueError(f"block must be one of {self.BLOCKS}, got {block!r}")
        self.vocab_size, self.max_len, self.embedding_dim = int(vocab_size), int(max_len), int(embedding_dim)
        self.block, self.num_blocks, self.num_heads, self.dropout = block, int(num_blocks), int(num_heads), float(dropout)
        self.items = keras.layers.Embedding(self.vocab_size, self.embedding_dim, name="items")
        self.positions = keras.layers.Embedding(self.max_len, self.embedding_dim, name="positions")
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6)
        self.drop = keras.layers.Dropout(self.dropout)
        self._blocks = []
        for _ in range(self.num_blocks):
            if block == "transformer":
                self._blocks.append(TransformerBlock(self.num_heads, self.embedding_dim, "relu", self.dropout,
                                                     causal=True, norm_first=True))
            else:
                self._blocks += [FrequencyFilter(self.dropout), FeedForward(4 * self.embedding_dim, "gelu", self.dropout)]

    def call(self, ids, training=None):
        mask = _mask(ids)[..., tf.newaxis]
        x = self.items(ids)
        positions = self.positions(tf.range(self.max_len))[tf.newaxis]
        if self.block == "transformer":
            x = x * math.sqrt(self.embedding_dim) + positions
        else:
            x = self.norm(x + positions)
        x = self.drop(x, training=training) * mask
        for layer in self._blocks:
            x = (layer(x, ids, training=training) if isinstance(layer, TransformerBlock)
                 else layer(x, training=training)) * mask
        if self.block == "transformer":
            x = self.norm(x)
        last = tf.maximum(tf.reduce_sum(tf.cast(tf.not_equal(ids, 0), tf.int32), axis=1) - 1, 0)
        hidden = tf.gather(x, last, axis=1, batch_dims=1)
        scores = tf.matmul(hidden, self.items.embeddings, transpose_b=True)
        return tf.concat([tf.fill([tf.shape(scores)[0], 1], _NEG), scores[:, 1:]], axis=1)
