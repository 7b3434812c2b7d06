"""Sequential next-item recommenders: SASRec and FMLP-Rec.

Both read one sequence feature (the user's items so far, right-padded) and output the score of
every item of its vocabulary as the next one (logits ``[batch, vocab_size]``; train with a
softmax cross-entropy over the full item set). They share ``NextItemEncoder`` and differ in
its block: self-attention or learnable frequency-domain filters.
"""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import SEQUENCE, FeatureSpec
from zoo.layers.sequence import NextItemEncoder
from zoo.models.base import ZooModel
from zoo.models.din import check_feature
from zoo.registry import Paper, register_model

NEXT_ITEM_INPUTS = {"sequence": "required"}


class _NextItemModel(ZooModel):
    def __init__(self, features, sequence_feature, block, embedding_dim, num_blocks, num_heads, dropout, **kwargs):
        features = FeatureSpec.coerce(features)
        check_feature(features, sequence_feature, SEQUENCE, role="item sequence")
        feature = next(f for f in features.features if f.name == sequence_feature)
        ids = keras.Input(shape=(feature.max_len,), dtype="int64", name=sequence_feature)
        encoder = NextItemEncoder(feature.vocab_size, feature.max_len, embedding_dim, block, num_blocks, num_heads,
                                  dropout, name="encoder")
        scores = keras.layers.Activation("linear", name="scores")(encoder(ids))
        super().__init__(inputs={sequence_feature: ids}, outputs=scores, **kwargs)
        self.features = features
        self.sequence_feature = sequence_feature
        self.embedding_dim = embedding_dim
        self.num_blocks = num_blocks
        self.dropout = dropout


@keras.saving.register_keras_serializable(package="zoo")
class SASRec(_NextItemModel):
    """Self-Attentive Sequential Recommendation (Kang & McAuley, 2018, arXiv:1808.09781).

    Items plus learned positions go through causal self-attention blocks (pre-norm, ReLU
    feed-forward); the last position's output scores every item by inner product with the shared
    item embeddings (``NextItemEncoder(block="transformer")``).

    Args:
      features: the ``FeatureSpec``; only ``sequence_feature`` is used.
      sequence_feature: the item sequence.
      embedding_dim, num_blocks, num_heads, dropout: paper (MovieLens-1M): 50, 2, 1, 0.2.
    """

    def __init__(self, features, sequence_feature="hist_movie_ids", embedding_dim=64, num_blocks=2, num_heads=1,
                 dropout=0.2, **kwargs):
        super().__init__(features, sequence_feature, "transformer", embedding_dim, num_blocks, num_heads, dropout,
                         **kwargs)
        self.num_heads = num_heads


@keras.saving.register_keras_serializable(package="zoo")
class FMLPRec(_NextItemModel):
    """Filter-enhanced MLP is All You Need for Sequential Recommendation (Zhou et al., 2022,
    arXiv:2202.13556).

    Self-attention is replaced by learnable filters in the frequency domain (``FrequencyFilter``:
    FFT along the sequence, element-wise complex weights, inverse FFT), each followed by a GELU
    feed-forward, post-norm (``NextItemEncoder(block="filter")``).

    Args:
      features: the ``FeatureSpec``; only ``sequence_feature`` is used.
      sequence_feature: the item sequence.
      embedding_dim, num_blocks, dropout: paper: 64, 2, 0.5 (hidden dropout).
    """

    def __init__(self, features, sequence_feature="hist_movie_ids", embedding_dim=64, num_blocks=2, dropout=0.5,
                 **kwargs):
        super().__init__(features, sequence_feature, "filter", embedding_dim, num_blocks, 1, dropout, **kwargs)


@register_model(
    family="sasrec", task="retrieval", model_class=SASRec, inputs=NEXT_ITEM_INPUTS,
    paper=Paper("Self-Attentive Sequential Recommendation", "1808.09781"),
    defaults=dict(sequence_feature="hist_movie_ids", embedding_dim=64, num_blocks=2, num_heads=1, dropout=0.2),
)
def sasrec(features, **hparams):
    return SASRec(features, **hparams)


@register_model(
    family="fmlp_rec", task="retrieval", model_class=FMLPRec, inputs=NEXT_ITEM_INPUTS,
    paper=Paper("Filter-enhanced MLP is All You Need for Sequential Recommendation", "2202.13556"),
    defaults=dict(sequence_feature="hist_movie_ids", embedding_dim=64, num_blocks=2, dropout=0.5),
)
def fmlp_rec(features, **hparams):
    return FMLPRec(features, **hparams)
