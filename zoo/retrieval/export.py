"""A trained two-tower model as one top-K SavedModel, servable by ``zoo serve`` or TF Serving.

Signatures (inputs are the model's features as named tensors, as Transform emits them):

- ``serving_default``: query features -> ``ids [batch, k]`` (int64 item ids) and ``scores [batch, k]``,
  a brute-force index: the corpus' candidate embeddings are a variable of the graph, scored by one
  matmul and ``top_k``. (ScaNN is not installed for this TensorFlow, so there is no ANN index.)
- ``query_embedding``: query features -> ``embedding [batch, d]`` (already divided by the temperature).
- ``candidate_embedding``: candidate features -> ``embedding [batch, d]``, to rebuild the index
  outside (the exported ``candidate_ids`` / ``candidate_embeddings`` variables are that index).
"""
from __future__ import annotations

from zoo.backend import tf
from zoo.features import NUMERIC, SEQUENCE


def _input_specs(model, names) -> dict:
    specs = {}
    for f in model.features.features:
        if f.name in names:
            shape = [None, f.max_len] if f.kind == SEQUENCE else [None]
            specs[f.name] = tf.TensorSpec(shape, tf.float32 if f.kind == NUMERIC else tf.int64, name=f.name)
    return specs


def best_of(scores, candidate_ids, k: int) -> dict:
    """The ``k`` best of ``scores [batch, n]`` (scores of the corpus items ``candidate_ids [n]``), best
    first: ``{"ids": [batch, k], "scores": [batch, k]}``, what a top-K ``serving_default`` returns."""
    best = tf.math.top_k(scores, k=k)
    return {"ids": tf.gather(candidate_ids, best.indices), "scores": best.values}


class RetrievalModule(tf.Module):
    """The model's towers plus a brute-force index over its corpus (``model.set_corpus``)."""

    def __init__(self, model, k: int = 100):
        super().__init__()
        if model.corpus is None:
            raise ValueError("the model has no corpus to index: call model.set_corpus(...) first")
        self.model = model
        self.k = min(int(k), model.corpus.size)
        self.candidate_ids = tf.Variable(model.corpus.ids, trainable=False, name="candidate_ids")
        self.candidate_embeddings = tf.Variable(model.embed_corpus(), trainable=False, name="candidate_embeddings")

    def embed_query(self, features):
        return self.model.encoder.embed_query(features, training=False)

    def top_k(self, features):
        return best_of(tf.matmul(self.embed_query(features), self.candidate_embeddings, transpose_b=True),
                       self.candidate_ids, self.k)

    def signatures(self) -> dict:
        encoder = self.model.encoder
        query = _input_specs(self.model, encoder.query_features)
        candidate = _input_specs(self.model, encoder.candidate_features)
        return {
            "serving_default": tf.function(self.top_k).get_concrete_function(query),
            "query_embedding": tf.function(lambda f: {"embedding": self.embed_query(f)}).get_concrete_function(query),
            "candidate_embedding": tf.function(
                lambda f: {"embedding": encoder.embed_candidates(f, training=False)}).get_concrete_function(candidate),
        }


def export_retrieval_model(model, path: str, k: int = 100) -> str:
    """Writes the top-``k`` SavedModel of ``model`` (with its corpus) to ``path``; returns ``path``."""
    module = RetrievalModule(model, k)
    tf.saved_model.save(module, str(path), signatures=module.signatures())
    return str(path)
