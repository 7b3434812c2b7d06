"""The retrieval task in the pipeline: a retrieval model trained on interactions, pushed as a top-K model.

Every example of the train split is one (query, item) interaction: the query features the model
reads and the item it interacted with (the candidate); labels are not used. The corpus is the
candidate's Transform vocabulary, so it holds every item seen in training, and an item first seen in
the eval split can never be retrieved (it counts as a miss). Two kinds of model train here:

- two-tower models (``two_tower``, ``youtube_dnn``) name the candidate (``candidate_id``) and the
  query tower's features (``query_features``), and learn from sampled negatives;
- next-item models (``sasrec``, ``fmlp_rec``) read one item sequence (``sequence_feature``, the items
  before the interaction, oldest first) whose vocabulary is the candidate's (``zoo.shares``), score
  every item of it, and learn with a softmax cross-entropy over the whole corpus.

The exported SavedModel, like every zoo export, applies parsing and Transform in its graph:

- ``serving_default``: serialized raw ``tf.Example``s (input ``examples``; only the query
  features are read, so a query needs no item) -> ``ids [batch, k]``, the items' raw values as in
  the data, and their ``scores``, best first. Items in the query's history (a sequence feature
  sharing the candidate's vocabulary) are not returned: they were already interacted with.
- two-tower models also export ``query_embedding``: examples -> ``embedding [batch, d]`` (already
  divided by the temperature), and ``candidate_embedding``: raw item values (input named after the
  candidate feature) -> ``embedding [batch, d]``; with the exported ``candidate_values`` /
  ``candidate_embeddings`` variables, enough to rebuild the index outside (e.g. in an ANN service).

The Evaluator scores ``serving_default``'s ids against the eval example's own item
(``pipelines.retrieval_metrics``): Recall@K and NDCG@K over the whole corpus.
"""
from __future__ import annotations

import numpy as np
from tfx import v1 as tfx

import zoo
from pipelines.export import SERVING_INPUT, as_parsed, write_card
from pipelines.config import ModelConfig
from pipelines.tasks import RETRIEVAL_KS, is_next_item, next_item_heads
from pipelines.trainer import TrainingRun
from pipelines.transform import raw_serving_spec
from zoo import schema as schema_lib
from zoo.backend import keras, tf
from zoo.retrieval.export import best_of
from zoo.retrieval.samplers import CodebookRefresh

TOP_K = max(RETRIEVAL_KS)  # items serving_default returns: enough for every K the Evaluator measures
CODEBOOK_REFRESH_STEPS = 200


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Trains the retrieval model on the train split's interactions and exports its top-K model."""
    run = TrainingRun(fn_args)
    train = _train_next_item if is_next_item(run.config["model_name"]) else _train_two_tower
    module = train(run)
    tf.saved_model.save(module, run.export_dir, signatures=module.signatures())
    write_card(run.export_dir, run.card)
    tf.keras.backend.clear_session()


def _train_two_tower(run: TrainingRun) -> "TopKModel":
    vocabulary_size = len(run.transform_output.vocabulary_by_name(run.config["hparams"]["candidate_id"]))
    with run.strategy.scope():
        model = zoo.create(run.config["model_name"], run.spec, **run.config["hparams"])
        # Transform's ids of the vocabulary: 1..n (0 is missing, n + 1 out of vocabulary).
        model.set_corpus({model.candidate_id: np.arange(1, vocabulary_size + 1)})
        model.compile(optimizer=run.optimizer())
    names = model.encoder.query_features + model.encoder.candidate_features
    run.fit(model, lambda features: {name: features[name] for name in names},
            callbacks=[CodebookRefresh(CODEBOOK_REFRESH_STEPS)] if model.objective == "midx" else [])
    return TwoTowerTopKModel(model, run.transform_output, run.schema)


def _train_next_item(run: TrainingRun) -> "TopKModel":
    with run.strategy.scope():
        model = zoo.create(run.config["model_name"], run.spec, **run.config["hparams"])
        # The model's scores are over Transform's ids, so the target is the candidate's id itself.
        model.compile(optimizer=run.optimizer(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    sequence = model.sequence_feature
    (candidate,) = next_item_heads(ModelConfig(run.config["model_name"], run.config["hparams"]),
                                   schema_lib.schema_features(run.schema))
    run.fit(model, lambda features: ({sequence: features[sequence]}, features[candidate]))
    return NextItemTopKModel(model, run.transform_output, run.schema, candidate)


class TopKModel(tf.Module):
    """A trained retrieval model with Transform, whose ``serving_default`` returns the best ``k`` items of
    the corpus (the candidate's vocabulary) for a query, leaving out the items of its history. Subclasses
    say how the model scores the corpus."""

    def __init__(self, model, transform_output, schema, candidate: str, query_features, k: int = TOP_K):
        super().__init__()
        self.model = model
        self.tft_layer = transform_output.transform_features_layer()
        parse_spec = raw_serving_spec(schema)
        features = schema_lib.schema_features(schema)
        query = set(query_features)
        self.query_spec = {f.name: parse_spec[f.name] for f in features if f.name in query or f.bucket_feature in query}
        self.candidate_spec = parse_spec[candidate]
        values = transform_output.vocabulary_by_name(candidate)
        if self.candidate_spec.dtype != tf.string:
            values = [int(value) for value in values]
        self.candidate_values = tf.Variable(tf.constant(values, self.candidate_spec.dtype), trainable=False,
                                            name="candidate_values")
        self.corpus_size = len(values)
        self.k = min(int(k), len(values))
        # Sequence features encoded with the candidate's vocabulary hold items the query already has.
        self.history_features = [f.name for f in features if f.shares == candidate and f.name in query]

    def _transformed(self, examples):
        return self.tft_layer(tf.io.parse_example(examples, self.query_spec))

    def scores(self, transformed):
        """``[batch, corpus_size]``: the model's score of every corpus item, in vocabulary order."""
        raise NotImplementedError

    def top_k(self, examples):
        transformed = self._transformed(examples)
        scores = self.scores(transformed)
        for name in self.history_features:
            scores = _exclude(scores, transformed[name])
        return best_of(scores, self.candidate_values, self.k)

    def signatures(self) -> dict:
        examples = tf.TensorSpec([None], tf.string, name=SERVING_INPUT)
        return {"serving_default": tf.function(self.top_k).get_concrete_function(examples)}


class TwoTowerTopKModel(TopKModel):
    """A two-tower model: the query tower's embedding against the candidate tower's embeddings of the
    corpus, computed once at export (``candidate_embeddings``), by inner product."""

    def __init__(self, model, transform_output, schema, k: int = TOP_K):
        super().__init__(model, transform_output, schema, model.candidate_id, model.encoder.query_features, k)
        self.candidate_embeddings = tf.Variable(model.embed_corpus(), trainable=False, name="candidate_embeddings")

    def _query(self, transformed):
        return self.model.encoder.embed_query(
            {name: transformed[name] for name in self.model.encoder.query_features}, training=False)

    def scores(self, transformed):
        return tf.matmul(self._query(transformed), self.candidate_embeddings, transpose_b=True)

    def embed_queries(self, examples):
        return {"embedding": self._query(self._transformed(examples))}

    def embed_candidates(self, values):
        name = self.model.candidate_id
        ids = self.tft_layer(as_parsed({name: self.candidate_spec}, {name: values}))[name]
        return self.model.encoder.embed_candidates({self.model.candidate_id: ids}, training=False)

    def signatures(self) -> dict:
        examples = tf.TensorSpec([None], tf.string, name=SERVING_INPUT)
        values = tf.TensorSpec([None], self.candidate_spec.dtype, name=self.model.candidate_id)
        return {
            **super().signatures(),
            "query_embedding": tf.function(self.embed_queries).get_concrete_function(examples),
            "candidate_embedding": tf.function(
                lambda values: {"embedding": self.embed_candidates(values)}).get_concrete_function(values),
        }


class NextItemTopKModel(TopKModel):
    """A next-item model (``sasrec``, ``fmlp_rec``): its scores of the corpus items, which are Transform ids
    1..n of its ``[batch, n + 2]`` output (0 is padding, n + 1 out of vocabulary, neither an item)."""

    def __init__(self, model, transform_output, schema, candidate: str, k: int = TOP_K):
        super().__init__(model, transform_output, schema, candidate, [model.sequence_feature], k)

    def scores(self, transformed):
        sequence = self.model.sequence_feature
        return self.model({sequence: transformed[sequence]}, training=False)[:, 1:self.corpus_size + 1]


def _exclude(scores, item_ids):
    """``scores [batch, n]`` with ``-inf`` for the corpus items among ``item_ids [batch, len]`` (Transform ids;
    0, missing, and ``n + 1``, out of vocabulary, are not in the corpus)."""
    n = tf.shape(scores, out_type=tf.int64)[1]
    rows = tf.broadcast_to(tf.range(tf.shape(item_ids, out_type=tf.int64)[0])[:, None], tf.shape(item_ids, tf.int64))
    in_corpus = (item_ids >= 1) & (item_ids <= n)
    indices = tf.stack([tf.boolean_mask(rows, in_corpus), tf.boolean_mask(item_ids, in_corpus) - 1], axis=1)
    return tf.tensor_scatter_nd_update(scores, indices, tf.fill([tf.shape(indices)[0]], -np.inf))
