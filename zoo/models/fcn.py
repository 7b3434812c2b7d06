"""FCN: an exponential and a linear cross network, no MLP, each with its own supervision."""
from __future__ import annotations

from zoo.backend import keras, tf
from zoo.features import FeatureSpec
from zoo.layers import FeatureEmbedding, feature_inputs
from zoo.layers.self_mask_cross import SelfMaskCross
from zoo.models.base import TABULAR_INPUTS, ZooModel, probability_head
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class FCN(ZooModel):
    """FCN: Fusing Exponential and Linear Cross Network for Click-Through Rate Prediction
    (Li et al., 2024, arXiv:2407.13349). This is the paper's Self-Mask version (first titled DCNv3);
    later revisions replace the Self-Mask by a low-cost aggregation.

    Every field embedding is cut in halves ``e_i = [e_i,a; e_i,b]`` and the input is
    ``x_1 = [e_1,a, ..., e_f,a, e_1,b, ..., e_f,b]`` (the paper's chunk reshape, one head). Two
    cross networks of ``SelfMaskCross`` layers, ``c_l = W_l x_l + b_l`` and
    ``Mask(c_l) = c_l * max(0, LN(c_l))``, run on it in parallel::

        LCN: x_{l+1} = x_1 * [c_l || Mask(c_l)] + x_l            order l + 1
        ECN: x_{2^l} = x_{2^(l-1)} * [c_l || Mask(c_l)] + x_{2^(l-1)}    order 2^l

    with dropout after each layer. Each network has its own logit, ``z_D = w_D^T x_{2^L} + b_D``
    (ECN) and ``z_S = w_S^T x_{L+1} + b_S`` (LCN), and ``y = sigmoid((z_D + z_S) / 2)``: the
    paper's ``Mean`` fusion, taken over the logits as in the authors' code.

    Training uses Tri-BCE (``tri_bce``): with ``L``, ``L_D``, ``L_S`` the log losses of ``y``,
    ``y_D = sigmoid(z_D)`` and ``y_S = sigmoid(z_S)``::

        L_Tri = L + w_D L_D + w_S L_S,    w_D = max(0, L_D - L),  w_S = max(0, L_S - L)

    so a branch that predicts worse than the fusion gets its own, proportionally stronger
    supervision signal. The weights are not detached from the graph, as in the authors' code. The
    model serves only ``y``; the branch predictions exist in the training step.

    Defaults follow the authors' DCNv3 implementation (FuxiCTR): embeddings of 16, 4 layers per
    network, dropout 0.1 (ECN) and 0.3 (LCN).

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: field embedding size; even, for the chunk reshape.
      num_exponential_layers: ECN depth L (highest order ``2^L``).
      num_linear_layers: LCN depth (highest order L + 1).
      exponential_dropout, linear_dropout: dropout after each layer of each network.
      tri_bce: train with Tri-BCE; otherwise with the compiled loss on ``y`` alone.
      l2: L2 penalty on the embeddings.
    """

    def __init__(self, features, embedding_dim=16, num_exponential_layers=4, num_linear_layers=4,
                 exponential_dropout=0.1, linear_dropout=0.3, tri_bce=True, l2=0.0, **kwargs):
        if embedding_dim % 2:
            raise ValueError(f"FCN cuts every embedding in halves: embedding_dim must be even, got {embedding_dim}")
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        embedding = FeatureEmbedding(features, embedding_dim, numeric_as_fields=True, l2=l2, name="embedding")
        fields, _ = embedding(inputs)
        halves = keras.layers.Reshape((embedding.num_fields, 2, embedding_dim // 2))(fields)
        x1 = keras.layers.Flatten(name="chunked")(keras.layers.Permute((2, 1, 3))(halves))
        exponential = x1
        for i in range(num_exponential_layers):
            exponential = SelfMaskCross(name=f"exponential_cross_{i}")(exponential, exponential)
            exponential = keras.layers.Dropout(exponential_dropout)(exponential)
        linear = x1
        for i in range(num_linear_layers):
            linear = SelfMaskCross(name=f"linear_cross_{i}")(x1, linear)
            linear = keras.layers.Dropout(linear_dropout)(linear)
        exponential_logit = keras.layers.Dense(1, name="exponential_logit")(exponential)
        linear_logit = keras.layers.Dense(1, name="linear_logit")(linear)
        outputs = probability_head(keras.layers.Average(name="logit")([exponential_logit, linear_logit]))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.num_exponential_layers = num_exponential_layers
        self.num_linear_layers = num_linear_layers
        self.exponential_dropout = exponential_dropout
        self.linear_dropout = linear_dropout
        self.tri_bce = tri_bce
        self.l2 = l2
        # The training view: the same layers, with the branch predictions as extra outputs.
        self._tri_outputs = keras.Model(inputs, [
            outputs,
            keras.layers.Activation("sigmoid", name="exponential_probabilities")(exponential_logit),
            keras.layers.Activation("sigmoid", name="linear_probabilities")(linear_logit),
        ]) if tri_bce else None

    def train_step(self, data):
        """One step on Tri-BCE: the compiled loss on ``y`` plus ``w_D L_D + w_S L_S``."""
        if not self.tri_bce:
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        log_loss = keras.losses.BinaryCrossentropy()
        with tf.GradientTape() as tape:
            y_pred, *branches = self._tri_outputs(x, training=True)
            main = log_loss(y, y_pred, sample_weight)
            auxiliary = []
            for branch in branches:
                branch_loss = log_loss(y, branch, sample_weight)
                auxiliary.append(tf.nn.relu(branch_loss - main) * branch_loss)
            # The auxiliary terms ride along with the regularization losses, so that the reported
            # "loss" is the whole Tri-BCE objective.
            loss = self.compiled_loss(y, y_pred, sample_weight, regularization_losses=self.losses + auxiliary)
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        return self.compute_metrics(x, y, y_pred, sample_weight)


@register_model(
    family="fcn", task="ranking", model_class=FCN,
    inputs=TABULAR_INPUTS,
    paper=Paper("FCN: Fusing Exponential and Linear Cross Network for Click-Through Rate Prediction", "2407.13349"),
    defaults=dict(embedding_dim=16, num_exponential_layers=4, num_linear_layers=4, exponential_dropout=0.1,
                  linear_dropout=0.3, tri_bce=True),
)
def fcn(features, **hparams):
    return FCN(features, **hparams)
