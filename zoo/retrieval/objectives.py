"""Training objectives of a two-tower retrieval model: a softmax over the corpus, full or sampled.

Every objective is the same corrected softmax (``corrected_softmax_loss``); they differ in the
negatives they score and the proposal ``Q`` they correct for:

===================  ==========================================  =====================================
objective            negatives                                   ``log Q`` subtracted from each logit
===================  ==========================================  =====================================
``in_batch``         the batch's other candidates                0 (no correction)
``in_batch_logq``    the batch's other candidates                ``log p(y)``, streaming estimate
``mixed``            the batch's + ``M`` uniform corpus draws    ``log(p(y) + M / N)``
``midx``             ``M`` MIDX draws per query                  ``log Q_MIDX(y | query)``
``full_softmax``     every corpus item                           0 (exact)
===================  ==========================================  =====================================
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from zoo.backend import tf
from zoo.retrieval.samplers import MIDXSampler, StreamingFrequency, UniformSampler, mixed_expected_count

OBJECTIVES = ("in_batch", "in_batch_logq", "mixed", "midx", "full_softmax")
CORPUS_FREE = ("in_batch", "in_batch_logq")  # the others draw negatives from the item corpus
_MASKED = -1e9  # an accidental hit's logit: exp() underflows to 0 without inf - inf


def corrected_softmax_loss(query, positive, positive_ids, positive_log_q, negatives, negative_ids, negative_log_q):
    """Per-query ``-log softmax`` of the positive among its negatives, with log-Q correction.

    With ``s(q, c) = <q, c>`` the logits of query ``b`` are ``[s(q_b, p_b) - log Q(p_b)]`` followed by
    ``s(q_b, n_j) - log Q(n_j)`` for every negative ``j``; a negative with the positive's id (an
    accidental hit, e.g. the positive itself among in-batch negatives) is masked out. The loss is
    ``-log(exp(l_0) / sum_j exp(l_j))``.

    Shapes: ``query, positive [B, d]``, ``positive_ids, positive_log_q [B]``; negatives shared by
    all queries ``[M, d]`` with ids and ``log Q`` ``[M]``, or per query ``[B, M, d]`` and ``[B, M]``.
    """
    positive_logit = tf.reduce_sum(query * positive, axis=1, keepdims=True) - positive_log_q[:, tf.newaxis]
    if negatives.shape.rank == 2:
        negative_logits = tf.matmul(query, negatives, transpose_b=True)
        negative_ids, negative_log_q = negative_ids[tf.newaxis], negative_log_q[tf.newaxis]
    else:
        negative_logits = tf.einsum("bd,bmd->bm", query, negatives)
    hit = tf.equal(tf.cast(negative_ids, tf.int64), tf.cast(positive_ids, tf.int64)[:, tf.newaxis])
    negative_logits = tf.where(hit, _MASKED, negative_logits - negative_log_q)
    logits = tf.concat([positive_logit, negative_logits], axis=1)
    return -tf.nn.log_softmax(logits, axis=1)[:, 0]


class Corpus:
    """The candidate items, one row each: their features as constant tensors, and id -> row."""

    def __init__(self, features: Mapping[str, np.ndarray], id_feature: str, vocab_size: int):
        self.features = {name: tf.constant(np.asarray(values)) for name, values in features.items()}
        ids = np.asarray(features[id_feature], dtype=np.int64)
        if len(np.unique(ids)) != len(ids) or ids.min() < 0 or ids.max() >= vocab_size:
            raise ValueError(f"corpus ids ({id_feature}) must be distinct and in [0, {vocab_size})")
        self.size = len(ids)
        self.ids = tf.constant(ids)
        row_of_id = np.zeros(vocab_size, np.int64)  # ids outside the corpus map to row 0
        row_of_id[ids] = np.arange(self.size)
        self.row_of_id = tf.constant(row_of_id)

    def gather(self, rows) -> dict:
        return {name: tf.gather(values, rows) for name, values in self.features.items()}


EmbedRows = Callable[[tf.Tensor], tf.Tensor]  # corpus rows [n] -> candidate embeddings [n, d]


class InBatch:
    """In-batch negatives, uncorrected (a softmax over the batch's candidates, as in DPR)."""


    def loss(self, query, positive, ids, embed_rows: EmbedRows):
        zeros = tf.zeros(tf.shape(ids), tf.float32)
        return corrected_softmax_loss(query, positive, ids, zeros, positive, ids, zeros)


class InBatchLogQ:
    """In-batch negatives corrected by the streaming estimate of their batch frequency (Yi et al.)."""


    def __init__(self, vocab_size: int, alpha: float):
        self.frequency = StreamingFrequency(vocab_size, alpha)

    def loss(self, query, positive, ids, embed_rows: EmbedRows):
        self.frequency.update(ids)
        log_q = tf.math.log(self.frequency.probability(ids))
        return corrected_softmax_loss(query, positive, ids, log_q, positive, ids, log_q)


class Mixed:
    """Mixed negatives: the batch's candidates plus ``num_negatives`` uniform corpus draws, each
    corrected by its expected count ``p(y) + M / N`` (``mixed_expected_count``)."""


    def __init__(self, corpus: Corpus, vocab_size: int, alpha: float, num_negatives: int):
        self.corpus = corpus
        self.frequency = StreamingFrequency(vocab_size, alpha)
        self.uniform = UniformSampler(corpus.size)
        self.num_negatives = int(num_negatives)

    def _log_q(self, ids):
        return tf.math.log(mixed_expected_count(self.frequency.probability(ids), self.num_negatives, self.corpus.size))

    def loss(self, query, positive, ids, embed_rows: EmbedRows):
        self.frequency.update(ids)
        rows = self.uniform.sample(self.num_negatives)
        negative_ids = tf.concat([tf.cast(ids, tf.int64), tf.gather(self.corpus.ids, rows)], axis=0)
        negatives = tf.concat([positive, embed_rows(rows)], axis=0)
        return corrected_softmax_loss(query, positive, ids, self._log_q(ids), negatives, negative_ids,
                                      self._log_q(negative_ids))


class MIDX:
    """``num_negatives`` negatives per query from the MIDX proposal, importance-corrected by ``log Q``."""


    def __init__(self, corpus: Corpus, dim: int, num_negatives: int, num_codewords: int, seed: int = 0):
        self.corpus = corpus
        self.sampler = MIDXSampler(corpus.size, dim, num_codewords, seed=seed)
        self.num_negatives = int(num_negatives)

    def loss(self, query, positive, ids, embed_rows: EmbedRows):
        rows, log_q = self.sampler.sample(query, self.num_negatives)
        negatives = tf.reshape(embed_rows(tf.reshape(rows, [-1])), [-1, self.num_negatives, query.shape[-1]])
        positive_rows = tf.gather(self.corpus.row_of_id, tf.cast(ids, tf.int64))[:, tf.newaxis]
        positive_log_q = tf.stop_gradient(self.sampler.log_probability(query, positive_rows))[:, 0]
        return corrected_softmax_loss(query, positive, ids, positive_log_q, negatives,
                                      tf.gather(self.corpus.ids, rows), log_q)

    def refresh(self, item_embeddings):
        self.sampler.refresh(item_embeddings)


class FullSoftmax:
    """The exact softmax over every corpus item (the reference the sampled objectives estimate)."""


    def __init__(self, corpus: Corpus):
        self.corpus = corpus

    def loss(self, query, positive, ids, embed_rows: EmbedRows):
        zeros = tf.zeros([self.corpus.size], tf.float32)
        every_item = embed_rows(tf.range(self.corpus.size, dtype=tf.int64))
        return corrected_softmax_loss(query, positive, ids, tf.zeros(tf.shape(ids), tf.float32), every_item,
                                      self.corpus.ids, zeros)


def make_objective(name: str, corpus: Corpus | None, *, vocab_size: int, dim: int, num_negatives: int,
                   num_codewords: int, frequency_decay: float, seed: int = 0):
    """The objective ``name``; those that draw from the corpus need ``corpus``."""
    if name not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {name!r}")
    if name == "in_batch":
        return InBatch()
    if name == "in_batch_logq":
        return InBatchLogQ(vocab_size, frequency_decay)
    if corpus is None:  # not in CORPUS_FREE
        raise ValueError(f"objective {name!r} draws from the item corpus: call model.set_corpus(...) before fit")
    if name == "mixed":
        return Mixed(corpus, vocab_size, frequency_decay, num_negatives)
    if name == "midx":
        return MIDX(corpus, dim, num_negatives, num_codewords, seed)
    return FullSoftmax(corpus)
