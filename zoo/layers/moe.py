"""Mixture of experts: batched expert MLPs and a routed MoE block that can replace an MLP."""
from __future__ import annotations

from zoo.backend import keras, tf
from zoo.config import constructor_config


@keras.saving.register_keras_serializable(package="zoo")
class ExpertMLPs(keras.layers.Layer):
    """``num_experts`` independent MLPs on the same input, one batched einsum per layer.

    Expert ``e`` computes ``f_e(x) = act(W_e^L ... act(W_e^1 x + b_e^1) ... + b_e^L)`` (an activation
    after every layer, like ``MLP``). Input ``[batch, d]``, output ``[batch, num_experts, hidden_units[-1]]``.

    Args:
      num_experts: how many experts.
      hidden_units: each expert's layer widths, input side first.
      activation: Keras activation name.
      l2: L2 penalty on the kernels.
    """

    def __init__(self, num_experts=4, hidden_units=(64,), activation="relu", l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_experts = int(num_experts)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        self.l2 = float(l2)
        if self.num_experts < 1 or not self.hidden_units:
            raise ValueError("ExpertMLPs needs at least one expert and one layer")
        self._activation = keras.activations.get(activation)

    def build(self, input_shape):
        regularizer = keras.regularizers.l2(self.l2) if self.l2 else None
        self.kernels, self.biases = [], []
        previous = int(input_shape[-1])
        for k, units in enumerate(self.hidden_units):
            # A [E, d, u] kernel has Glorot fans E times too large; scale=E gives each expert its own Glorot range.
            initializer = keras.initializers.VarianceScaling(scale=float(self.num_experts), mode="fan_avg",
                                                             distribution="uniform")
            self.kernels.append(self.add_weight(name=f"kernel_{k}", shape=(self.num_experts, previous, units),
                                                initializer=initializer, regularizer=regularizer))
            self.biases.append(self.add_weight(name=f"bias_{k}", shape=(self.num_experts, units), initializer="zeros"))
            previous = units
        super().build(input_shape)

    def call(self, x):
        hidden = self._activation(tf.einsum("bd,edu->beu", x, self.kernels[0]) + self.biases[0])
        for kernel, bias in zip(self.kernels[1:], self.biases[1:]):
            hidden = self._activation(tf.einsum("bed,edu->beu", hidden, kernel) + bias)
        return hidden

    def get_config(self):
        return constructor_config(self, super().get_config())


BALANCING = (None, "aux_loss", "bias")


@keras.saving.register_keras_serializable(package="zoo")
class MoE(keras.layers.Layer):
    """A mixture-of-experts block with fine-grained routed experts and always-on shared experts.

    The DeepSeekMoE layout (DeepSeek-V3 Technical Report, arXiv:2412.19437): for a token ``u``
    (a row of the input; any leading dimensions are tokens), with ``N`` routed experts of
    centroids ``e_i`` and ``N_s`` shared experts::

        s_i = softmax_i(u^T e_i)                                  (affinity, softmax then top-k)
        g_i = s_i  if  s_i + b_i  is among the top_k of {s_j + b_j},  else 0
        h   = sum_{j<N_s} FFN^shared_j(u) + sum_{i<N} g_i FFN_i(u)

    Gates are not renormalized after top-k. "Fine-grained" means many small experts: set
    ``num_experts`` high and ``hidden_units`` small. Each expert is an ``MLP`` of
    ``hidden_units`` (activation after every layer), so ``MoE`` is a drop-in for
    ``MLP(hidden_units)``; experts are evaluated densely and unselected ones get gate 0.

    Load balancing (``balance``):

    - ``"bias"``: DeepSeek-V3's auxiliary-loss-free method. The bias ``b_i`` (not trained by
      gradients) enters only the top-k choice, never the gate value, and after every training
      step ``b_i += bias_update_rate * sign(mean_load - load_i)``.
    - ``"aux_loss"``: the expert-level balance loss ``L = alpha * sum_i f_i P_i`` with
      ``f_i = N / (K T) * #{tokens choosing i}`` and ``P_i = mean_t s_{i,t}`` (``alpha`` is
      ``aux_loss_weight``; ``L = alpha`` when the load is uniform).
    - ``None``: no balancing.

    ``load_i``, the share of the batch's ``T * top_k`` assignments that go to expert ``i``, is
    reported as the metric ``<layer name>_load_<i>`` (it shows in ``fit``'s history).

    Input ``[..., d]``, output ``[..., hidden_units[-1]]``.
    """

    def __init__(self, num_experts=8, top_k=2, num_shared_experts=1, hidden_units=(64,), activation="relu",
                 balance="bias", aux_loss_weight=0.01, bias_update_rate=1e-3, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_experts = int(num_experts)
        self.top_k = int(top_k)
        self.num_shared_experts = int(num_shared_experts)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        self.balance = balance
        self.aux_loss_weight = float(aux_loss_weight)
        self.bias_update_rate = float(bias_update_rate)
        self.l2 = float(l2)
        if not 1 <= self.top_k <= self.num_experts:
            raise ValueError(f"top_k must be in [1, num_experts={self.num_experts}], got {self.top_k}")
        if balance not in BALANCING:
            raise ValueError(f"balance must be one of {BALANCING}, got {balance!r}")
        self._routed = ExpertMLPs(self.num_experts, self.hidden_units, activation, l2, name="routed_experts")
        self._shared = (ExpertMLPs(self.num_shared_experts, self.hidden_units, activation, l2, name="shared_experts")
                        if self.num_shared_experts else None)

    def build(self, input_shape):
        self.centroids = self.add_weight(name="centroids", shape=(int(input_shape[-1]), self.num_experts),
                                         initializer="glorot_uniform")
        if self.balance == "bias":
            self.routing_bias = self.add_weight(name="routing_bias", shape=(self.num_experts,),
                                                initializer="zeros", trainable=False)
        super().build(input_shape)

    def route(self, tokens):
        """``(s, chosen)`` for ``tokens [T, d]``: affinities ``[T, N]`` and the 0/1 top-k mask ``[T, N]``."""
        scores = tf.nn.softmax(tf.matmul(tokens, self.centroids), axis=-1)
        ranked_by = scores + self.routing_bias if self.balance == "bias" else scores
        _, top = tf.math.top_k(ranked_by, k=self.top_k)
        chosen = tf.reduce_sum(tf.one_hot(top, self.num_experts, dtype=scores.dtype), axis=1)
        return scores, chosen

    def call(self, x, training=None):
        tokens = tf.reshape(x, [-1, x.shape[-1]])
        scores, chosen = self.route(tokens)
        output = tf.einsum("te,teu->tu", scores * chosen, self._routed(tokens))
        if self._shared is not None:
            output += tf.reduce_sum(self._shared(tokens), axis=1)
        load = tf.reduce_mean(chosen, axis=0) / self.top_k
        if self.balance == "aux_loss":
            self.add_loss(self.aux_loss_weight * self.num_experts
                          * tf.reduce_sum(tf.stop_gradient(load) * tf.reduce_mean(scores, axis=0)))
        elif self.balance == "bias" and training:
            self.routing_bias.assign_add(self.bias_update_rate * tf.sign(1.0 / self.num_experts - load))
        for i in range(self.num_experts):
            self.add_metric(load[i], name=f"{self.name}_load_{i}")
        return tf.reshape(output, tf.concat([tf.shape(x)[:-1], [self.hidden_units[-1]]], axis=0))

    def get_config(self):
        return constructor_config(self, super().get_config())
