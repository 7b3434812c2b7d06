"""Negative samplers for sampled-softmax retrieval and the proposal probabilities they correct for.

A sampled softmax over a corpus of ``N`` items estimates the full softmax from a few negatives
drawn from a proposal ``Q``; each sampled logit is corrected by ``- log Q(item)`` so that the
estimate is unbiased in the limit ("Sampling-Bias-Corrected Neural Modeling for Large Corpus Item
Recommendations", Yi et al., RecSys 2019). The samplers here give both the draws and ``log Q``:

- ``StreamingFrequency``: how often an item appears in a training batch (in-batch negatives follow
  the data's own item distribution), estimated online as in Yi et al.
- ``UniformSampler``: ``Q(i) = 1 / N``; ``mixed_proposal`` is the mixture of both (Mixed Negative
  Sampling, Yang et al., WWW 2020).
- ``MIDXSampler``: the query-dependent proposal of "Adaptive Sampled Softmax with Inverted
  Multi-Index" (arXiv:2501.08563), refreshed during training by ``CodebookRefresh``.
"""
from __future__ import annotations

import numpy as np

from zoo.backend import keras, tf


class StreamingFrequency:
    """Online estimate of ``p(y)``, the probability that item ``y`` appears in a training batch.

    Yi et al. (RecSys 2019, Algorithm 2) keep, per hash bucket ``h``, the step ``A[h]`` at which the
    item was last seen and a moving average ``B[h]`` of the number of steps between two sightings.
    At step ``t``, for every item ``y`` of the batch::

        B[h(y)] <- (1 - alpha) * B[h(y)] + alpha * (t - A[h(y)]);   A[h(y)] <- t

    and ``p(y) = 1 / B[h(y)]``. Ids are already small integers, so ``h(y) = y mod num_buckets``.
    On an item's first sighting we set ``B = t`` (the gap since the start) instead of averaging it
    with an undefined prior; an item never seen has ``p = 0``.
    """

    def __init__(self, num_buckets: int, alpha: float = 0.01):
        self.num_buckets = int(num_buckets)
        self.alpha = float(alpha)
        self.step = tf.Variable(0.0, trainable=False, name="frequency_step")
        self.last_seen = tf.Variable(tf.zeros([self.num_buckets]), trainable=False, name="last_seen")
        self.gap = tf.Variable(tf.zeros([self.num_buckets]), trainable=False, name="gap")

    def _buckets(self, ids):
        return tf.math.floormod(tf.cast(ids, tf.int64), self.num_buckets)

    def update(self, ids):
        """Records one training step whose batch holds ``ids`` (duplicates count once)."""
        step = self.step.assign_add(1.0)
        buckets = tf.unique(tf.reshape(self._buckets(ids), [-1])).y[:, tf.newaxis]
        last = tf.gather_nd(self.last_seen, buckets)
        averaged = (1.0 - self.alpha) * tf.gather_nd(self.gap, buckets) + self.alpha * (step - last)
        gap = tf.where(last > 0, averaged, step)
        self.gap.scatter_nd_update(buckets, gap)
        self.last_seen.scatter_nd_update(buckets, tf.fill(tf.shape(last), step))

    def probability(self, ids):
        buckets = self._buckets(ids)
        gap = tf.gather(self.gap, buckets)
        return tf.where(gap > 0, 1.0 / tf.maximum(gap, 1.0), 0.0)


class UniformSampler:
    """Draws corpus rows uniformly with replacement: ``Q(i) = 1 / N``."""

    def __init__(self, corpus_size: int):
        self.corpus_size = int(corpus_size)

    def sample(self, num: int, seed=None):
        return tf.random.uniform([num], maxval=self.corpus_size, dtype=tf.int64, seed=seed)

    def probabilities(self):
        return np.full(self.corpus_size, 1.0 / self.corpus_size)


def mixed_expected_count(batch_probability, num_uniform: int, corpus_size: int):
    """Expected number of times an item is among a step's mixed negatives.

    Mixed negatives are the batch's own items (an item is in the batch with probability
    ``p(y)``) plus ``num_uniform`` uniform draws from the corpus, so the count is
    ``p(y) + num_uniform / N``; the logit correction is its log.
    """
    return batch_probability + num_uniform / corpus_size


def mixed_proposal(item_distribution, batch_size: int, num_uniform: int):
    """The mixed proposal of one negative slot: ``(B * P(i) + M / N) / (B + M)``.

    ``item_distribution`` ``P`` is the data's item distribution, from which the ``B`` positives
    of a batch are drawn; the other ``M`` slots are uniform over the ``N`` items.
    """
    item_distribution = np.asarray(item_distribution, dtype=np.float64)
    size = len(item_distribution)
    return (batch_size * item_distribution + num_uniform / size) / (batch_size + num_uniform)


def kmeans(points: np.ndarray, k: int, iterations: int = 10, seed: int = 0):
    """Lloyd's k-means from ``k`` distinct random points; returns (centroids [k, d], assignment [n]).

    A cluster that loses all its points keeps its previous centroid.
    """
    points = np.asarray(points, dtype=np.float32)
    rng = np.random.default_rng(seed)
    k = min(k, len(points))
    centroids = points[rng.choice(len(points), size=k, replace=False)].copy()
    for _ in range(iterations):
        assignment = _nearest(points, centroids)
        counts = np.bincount(assignment, minlength=k)
        sums = np.stack([np.bincount(assignment, weights=points[:, j], minlength=k) for j in range(points.shape[1])],
                        axis=1)
        filled = counts > 0
        centroids[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
    return centroids, _nearest(points, centroids)


def _nearest(points, centroids, chunk=131_072):
    squared = (centroids ** 2).sum(axis=1)
    return np.concatenate([np.argmin(squared - 2.0 * points[i:i + chunk] @ centroids.T, axis=1)
                           for i in range(0, len(points), chunk)])


class MIDXSampler:
    """The MIDX proposal (Chen et al., "Adaptive Sampled Softmax with Inverted Multi-Index",
    arXiv:2501.08563), with product quantization.

    Item embeddings are split into two halves, and each half is quantized by its own k-means
    codebook of ``K`` codewords, so item ``i`` falls in the inverted-multi-index cell
    ``(k1(i), k2(i))`` with ``|cell|`` items. For a query ``z = [z1, z2]`` the codeword scores are
    ``s1[k] = <z1, C1[k]>`` and ``s2[k] = <z2, C2[k]>``. A cell is drawn with probability
    ``P(k1, k2) = |cell(k1, k2)| exp(s1[k1] + s2[k2]) / Z``, then an item uniformly inside it, so::

        Q(i | z) = exp(s1[k1(i)] + s2[k2(i)]) / Z,    Z = sum_{k1,k2} |cell(k1, k2)| exp(s1[k1] + s2[k2])

    i.e. the softmax over the quantized embeddings: close to the model's own softmax, and
    therefore hard negatives, at a cost of ``O(K^2)`` per query instead of ``O(N)``. The joint
    over the ``K^2`` cells is sampled directly (same distribution as the paper's two stages).
    ``refresh`` re-fits the codebooks to the current item embeddings.
    """

    def __init__(self, corpus_size: int, dim: int, num_codewords: int = 16, kmeans_iterations: int = 10,
                 seed: int = 0):
        self.corpus_size = int(corpus_size)
        self.num_codewords = min(int(num_codewords), self.corpus_size)
        self.kmeans_iterations = int(kmeans_iterations)
        self.seed = int(seed)
        self.split = int(dim) // 2
        k, cells = self.num_codewords, self.num_codewords ** 2
        self.codebooks = [tf.Variable(tf.zeros([k, self.split]), trainable=False, name="codebook_1"),
                          tf.Variable(tf.zeros([k, int(dim) - self.split]), trainable=False, name="codebook_2")]
        self.codes = tf.Variable(tf.zeros([self.corpus_size, 2], tf.int64), trainable=False, name="codes")
        self.cell_rows = tf.Variable(tf.range(self.corpus_size, dtype=tf.int64), trainable=False, name="cell_rows")
        self.cell_start = tf.Variable(tf.zeros([cells], tf.int64), trainable=False, name="cell_start")
        self.cell_size = tf.Variable(tf.zeros([cells], tf.int64), trainable=False, name="cell_size")
        self.refreshes = 0

    def refresh(self, item_embeddings) -> None:
        """Fits both codebooks to ``item_embeddings [N, dim]`` and rebuilds the inverted index."""
        item_embeddings = np.asarray(item_embeddings, dtype=np.float32)
        k = self.num_codewords
        halves = (item_embeddings[:, :self.split], item_embeddings[:, self.split:])
        codes = []
        for codebook, half in zip(self.codebooks, halves):
            centroids, assignment = kmeans(half, k, self.kmeans_iterations, seed=self.seed + self.refreshes)
            codebook.assign(centroids)
            codes.append(assignment)
        cell = codes[0] * k + codes[1]
        size = np.bincount(cell, minlength=k * k)
        self.codes.assign(np.stack(codes, axis=1).astype(np.int64))
        self.cell_rows.assign(np.argsort(cell, kind="stable").astype(np.int64))
        self.cell_size.assign(size.astype(np.int64))
        self.cell_start.assign((np.cumsum(size) - size).astype(np.int64))
        self.refreshes += 1

    def _codeword_scores(self, query):
        return (tf.matmul(query[:, :self.split], self.codebooks[0], transpose_b=True),
                tf.matmul(query[:, self.split:], self.codebooks[1], transpose_b=True))

    def _cell_logits(self, s1, s2):
        """``log P(k1, k2) + log Z`` for every cell, ``[batch, K * K]``; empty cells are -inf."""
        log_size = tf.math.log(tf.cast(self.cell_size, tf.float32))
        return tf.reshape(s1[:, :, tf.newaxis] + s2[:, tf.newaxis, :], [-1, self.num_codewords ** 2]) + log_size

    def log_probability(self, query, rows):
        """``log Q(row | query)`` for ``rows [batch, m]`` (one row of draws per query)."""
        s1, s2 = self._codeword_scores(query)
        log_z = tf.reduce_logsumexp(self._cell_logits(s1, s2), axis=1, keepdims=True)
        codes = tf.gather(self.codes, rows)
        return (tf.gather(s1, codes[..., 0], batch_dims=1) + tf.gather(s2, codes[..., 1], batch_dims=1)) - log_z

    def sample(self, query, num: int, seed=None):
        """Draws ``num`` rows per query: ``(rows [batch, num], log Q(rows | query) [batch, num])``."""
        query = tf.stop_gradient(query)
        s1, s2 = self._codeword_scores(query)
        cells = tf.random.categorical(self._cell_logits(s1, s2), num, dtype=tf.int64, seed=seed)
        size = tf.gather(self.cell_size, cells)
        uniform = tf.random.uniform(tf.shape(cells), seed=seed)
        offset = tf.minimum(tf.cast(uniform * tf.cast(size, tf.float32), tf.int64), size - 1)
        rows = tf.gather(self.cell_rows, tf.gather(self.cell_start, cells) + offset)
        return rows, self.log_probability(query, rows)

    def probabilities(self, query):
        """The proposal over the whole corpus, ``[batch, N]`` (enumerated: for tests and small corpora)."""
        rows = tf.tile(tf.range(self.corpus_size, dtype=tf.int64)[tf.newaxis], [tf.shape(query)[0], 1])
        return tf.exp(self.log_probability(query, rows))


class CodebookRefresh(keras.callbacks.Callback):
    """Re-fits a retrieval model's MIDX codebooks to its current item embeddings every ``every_n_steps``.

    The sampler's variables keep their shapes, so the compiled training step is not retraced.
    """

    def __init__(self, every_n_steps: int = 200):
        super().__init__()
        self.every_n_steps = int(every_n_steps)
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if self._steps % self.every_n_steps == 0:
            self.model.refresh_sampler()
