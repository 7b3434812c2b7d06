"""Behavior Sequence Transformer."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers.sequence import TransformerBlock
from zoo.models.base import ZooModel
from zoo.models.din import HISTORY_INPUTS, behaviours, top
from zoo.registry import Paper, register_model

SEQUENCE_OUTPUTS = ("target", "flatten")


@keras.saving.register_keras_serializable(package="zoo")
class BST(ZooModel):
    """Behavior Sequence Transformer for E-commerce Recommendation in Alibaba (Chen et al., 2019,
    arXiv:1905.06874).

    The behaviours and the candidate form one sequence; each behaviour's embedding is added to its
    "position", an embedding of its time before the candidate (the paper's ``t(v_t) - t(v_i)``;
    MovieLens: ``hist_gaps``). Transformer blocks (multi-head self-attention and a LeakyReLU
    feed-forward, post-norm; padding masked) mix it, and its output joins the other fields in a
    LeakyReLU MLP (paper: 1024-512-256).

    Which output: the paper concatenates the outputs at every position (``sequence_output="flatten"``).
    With histories of different lengths, right-padded, a flattened slot holds a different behaviour for
    each user (or padding), and on MovieLens that model trails the no-history baselines (AUC 0.7465
    against deepfm's 0.7599; ``benchmarks/sequence/ctr.py``). The default, ``sequence_output="target"``,
    takes the candidate's own output, which has attended over the whole history: AUC 0.790.

    Args:
      features: the ``FeatureSpec``.
      history_feature, candidate_feature: the behaviour sequence and the candidate it shares a table with.
      time_feature: the sequence of each behaviour's time before the candidate (its own table).
      embedding_dim: the size of every embedding (divisible by ``num_heads``).
      num_blocks, num_heads, dropout: the Transformer (paper: 1 block, 8 heads).
      hidden_units, activation: the top MLP.
      sequence_output: ``"target"`` (the candidate's output) or ``"flatten"`` (every position's, as in the paper).
    """

    def __init__(self, features, history_feature="hist_movie_ids", candidate_feature="movie_id",
                 time_feature="hist_gaps", embedding_dim=16, num_blocks=1, num_heads=8, dropout=0.1,
                 hidden_units=(1024, 512, 256), activation="leaky_relu", sequence_output="target", **kwargs):
        if sequence_output not in SEQUENCE_OUTPUTS:
            raise ValueError(f"sequence_output must be one of {SEQUENCE_OUTPUTS}, got {sequence_output!r}")
        features = FeatureSpec.coerce(features)
        b = behaviours(features, history_feature, candidate_feature, embedding_dim)
        history = keras.layers.Add(name="add_time")([b.history, b.lookup(time_feature)])
        # The candidate goes last, after the padding: attention ignores order and masks padding.
        sequence = keras.layers.Concatenate(axis=1, name="sequence")(
            [history, keras.layers.Reshape((1, embedding_dim))(b.target)])
        ids = keras.layers.Concatenate(axis=1, name="sequence_ids")(
            [b.ids, keras.layers.Reshape((1,))(b.inputs[candidate_feature])])
        for i in range(num_blocks):
            sequence = TransformerBlock(num_heads, 4 * embedding_dim, activation, dropout,
                                        name=f"transformer_{i}")(sequence, ids)
        if sequence_output == "target":  # the last position: crop the history's
            sequence = keras.layers.Cropping1D((int(b.ids.shape[1]), 0), name="candidate_output")(sequence)
        outputs = top(b, [keras.layers.Flatten()(sequence)], hidden_units, activation)
        super().__init__(inputs=b.inputs, outputs=outputs, **kwargs)
        self.features = features
        self.history_feature = history_feature
        self.candidate_feature = candidate_feature
        self.time_feature = time_feature
        self.embedding_dim = embedding_dim
        self.num_blocks = num_blocks
        self.num_heads = num_heads
        self.dropout = dropout
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.sequence_output = sequence_output


@register_model(
    family="bst", task="ranking", model_class=BST, inputs=HISTORY_INPUTS,
    paper=Paper("Behavior Sequence Transformer for E-commerce Recommendation in Alibaba", "1905.06874"),
    defaults=dict(history_feature="hist_movie_ids", candidate_feature="movie_id", time_feature="hist_gaps",
                  embedding_dim=16, num_blocks=1, num_heads=8, dropout=0.1, hidden_units=(1024, 512, 256),
                  activation="leaky_relu", sequence_output="target"),
)
def bst(features, **hparams):
    return BST(features, **hparams)
