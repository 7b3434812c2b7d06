"""Recall@K and NDCG@K over the full item corpus (binary relevance).

``full_corpus_metrics`` ranks every corpus item for every query by ``<query, candidate>`` and
scores the ranking with ``ranking_metrics``; both are pure numpy functions that the Trainer or a
TFMA custom metric can call on embeddings or on the ids a ``serving_default`` returned.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

DEFAULT_KS = (10, 50, 100)


def recall_at_k(ranked_ids: Sequence, relevant: Iterable, k: int) -> float:
    """``|top-k ∩ R| / |R|``: the share of the relevant items ``R`` found in the first ``k``."""
    relevant = set(np.asarray(list(relevant)).tolist())
    if not relevant:
        raise ValueError("recall is undefined for a query without relevant items")
    return len(relevant.intersection(np.asarray(ranked_ids[:k]).tolist())) / len(relevant)


def ndcg_at_k(ranked_ids: Sequence, relevant: Iterable, k: int) -> float:
    """``DCG@k / IDCG@k`` with ``DCG@k = sum_{r <= k, item_r in R} 1 / log2(r + 1)`` (rank ``r`` from 1)
    and ``IDCG@k`` the DCG of ``min(k, |R|)`` relevant items ranked first."""
    relevant = set(np.asarray(list(relevant)).tolist())
    if not relevant:
        raise ValueError("NDCG is undefined for a query without relevant items")
    gains = 1.0 / np.log2(np.arange(2, k + 2))
    hits = np.array([item in relevant for item in np.asarray(ranked_ids[:k]).tolist()], dtype=bool)
    return float(gains[:len(hits)][hits].sum() / gains[:min(k, len(relevant))].sum())


def ranking_metrics(ranked_ids, relevant: Sequence[Iterable], ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """Mean ``recall@k`` and ``ndcg@k`` for every ``k`` over queries; ``ranked_ids [queries, >= max(ks)]``."""
    result = {}
    for k in ks:
        result[f"recall@{k}"] = float(np.mean([recall_at_k(r, rel, k) for r, rel in zip(ranked_ids, relevant)]))
        result[f"ndcg@{k}"] = float(np.mean([ndcg_at_k(r, rel, k) for r, rel in zip(ranked_ids, relevant)]))
    return result


def top_k(query_embeddings, candidate_embeddings, candidate_ids, k: int, exclude: Sequence[Iterable] | None = None,
          chunk: int = 1024):
    """The ``k`` best candidate ids per query by ``<query, candidate>`` over the whole corpus.

    ``exclude[i]`` lists ids never returned to query ``i`` (e.g. items it already interacted with).
    Returns ``(ids [queries, k], scores [queries, k])``, best first.
    """
    query_embeddings = np.asarray(query_embeddings, np.float32)
    candidate_embeddings = np.asarray(candidate_embeddings, np.float32)
    candidate_ids = np.asarray(candidate_ids)
    row_of = {int(item): row for row, item in enumerate(candidate_ids.tolist())}
    k = min(k, len(candidate_ids))
    ids, scores = [], []
    for start in range(0, len(query_embeddings), chunk):
        block = query_embeddings[start:start + chunk] @ candidate_embeddings.T
        if exclude is not None:
            for offset, excluded in enumerate(exclude[start:start + chunk]):
                rows = [row_of[int(item)] for item in excluded if int(item) in row_of]
                block[offset, rows] = -np.inf
        best = np.argpartition(-block, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(block, best, axis=1), axis=1, kind="stable")
        best = np.take_along_axis(best, order, axis=1)
        ids.append(candidate_ids[best])
        scores.append(np.take_along_axis(block, best, axis=1))
    return np.concatenate(ids), np.concatenate(scores)


def full_corpus_metrics(query_embeddings, candidate_embeddings, candidate_ids, relevant: Sequence[Iterable],
                        ks: Sequence[int] = DEFAULT_KS, exclude: Sequence[Iterable] | None = None) -> dict[str, float]:
    """Recall@k and NDCG@k of ranking the whole corpus for each query (see ``top_k`` and ``ranking_metrics``)."""
    ranked, _ = top_k(query_embeddings, candidate_embeddings, candidate_ids, max(ks), exclude)
    return ranking_metrics(ranked, relevant, ks)
