"""Two-tower retrieval: a query tower and a candidate tower scored by a dot product."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from zoo.backend import keras, tf
from zoo.features import CATEGORICAL, NUMERIC, FeatureError, FeatureSpec
from zoo.layers import feature_inputs
from zoo.models.base import TABULAR_INPUTS, ZooModel
from zoo.registry import Paper, register_model
from zoo.retrieval.objectives import CORPUS_FREE, Corpus, make_objective
from zoo.retrieval.towers import DualEncoder


def resolve_towers(features: FeatureSpec, candidate_id, query_features, candidate_features):
    """Which features feed which tower.

    ``candidate_id`` defaults to the spec's last categorical feature, ``candidate_features`` to
    ``(candidate_id,)`` and ``query_features`` to every other feature.
    """
    categorical = [f.name for f in features.of_kind(CATEGORICAL)]
    if candidate_id is None:
        candidate_id = categorical[-1]
    if candidate_id not in categorical:
        raise FeatureError(f"candidate_id {candidate_id!r} must be a categorical feature; categorical: {categorical}")
    candidate_features = tuple(candidate_features or (candidate_id,))
    if candidate_id not in candidate_features:
        candidate_features = (candidate_id,) + candidate_features
    query_features = tuple(query_features or (n for n in features.names if n not in candidate_features))
    for side, names in (("query", query_features), ("candidate", candidate_features)):
        unknown = [n for n in names if n not in features.names]
        if unknown:
            raise FeatureError(f"{side} features {unknown} are not in the feature spec ({list(features.names)})")
        if not any(f.name in names and f.kind != NUMERIC for f in features.features):
            raise FeatureError(f"the {side} tower needs at least one id feature, got {list(names)}")
    return candidate_id, query_features, candidate_features


@keras.saving.register_keras_serializable(package="zoo")
class TwoTower(ZooModel):
    """A dual encoder for retrieval, as in "Dense Passage Retrieval for Open-Domain Question Answering"
    (Karpukhin et al., 2020, arXiv:2004.04906), applied to users and items.

    ``s(q, c) = <E_Q(q), E_C(c)> / tau`` with ``E_Q`` and ``E_C`` towers over schema features
    (``zoo.retrieval.towers.TOWERS``: "mlp", "embedding"), optionally L2-normalized ("cosine"),
    and a learnable temperature ``tau``. Training maximizes the softmax of the positive item over
    negatives chosen by ``objective`` (``zoo.retrieval.objectives``): in-batch, in-batch with the
    log-Q correction of Yi et al. (RecSys 2019), mixed in-batch + uniform negatives, MIDX
    (arXiv:2501.08563), or the full softmax. Objectives that draw from the corpus need
    ``set_corpus`` first; "midx" also wants ``CodebookRefresh`` among the callbacks.

    Outputs ``{"query_embedding", "candidate_embedding"}`` (the query one already divided by
    ``tau``); ``zoo.retrieval.export`` turns a trained model into a top-K SavedModel.

    Args:
      features: the ``FeatureSpec``.
      candidate_id: the item id feature (default: the last categorical feature).
      query_features, candidate_features: the features of each tower (see ``resolve_towers``).
      query_tower, candidate_tower: tower names.
      embedding_dim: feature embedding and output size; hidden_units, activation, dropout: "mlp" towers.
      scoring: "dot" or "cosine". temperature, learn_temperature: ``tau``'s initial value and
        whether it is trained.
      objective, num_negatives: the objective and its sampled negatives (per step for "mixed",
        per query for "midx"). num_codewords: MIDX codebook size ``K`` (``K^2`` cells).
        frequency_decay: ``alpha`` of the streaming frequency estimate.
    """

    def __init__(self, features, candidate_id=None, query_features=None, candidate_features=None,
                 query_tower="mlp", candidate_tower="mlp", embedding_dim=32, hidden_units=(64,), activation="relu",
                 dropout=0.0, scoring="cosine", temperature=0.1, learn_temperature=True, objective="in_batch_logq",
                 num_negatives=64, num_codewords=16, frequency_decay=0.01, **kwargs):
        features = FeatureSpec.coerce(features)
        candidate_id, towers_query, towers_candidate = resolve_towers(
            features, candidate_id, query_features, candidate_features)
        used = FeatureSpec(tuple(f for f in features.features if f.name in towers_query + towers_candidate),
                           features.label)
        inputs = feature_inputs(used)
        encoder = DualEncoder(used, towers_query, towers_candidate, query_tower, candidate_tower, embedding_dim,
                              hidden_units, activation, dropout, scoring, temperature, learn_temperature,
                              name="encoder")
        query, candidate = encoder(inputs)
        super().__init__(inputs=inputs, outputs={"query_embedding": query, "candidate_embedding": candidate},
                         **kwargs)
        self.features = features
        self.candidate_id = candidate_id
        self.query_features = None if query_features is None else tuple(query_features)
        self.candidate_features = None if candidate_features is None else tuple(candidate_features)
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.embedding_dim = embedding_dim
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.dropout = dropout
        self.scoring = scoring
        self.temperature = temperature
        self.learn_temperature = learn_temperature
        self.objective = objective
        self.num_negatives = num_negatives
        self.num_codewords = num_codewords
        self.frequency_decay = frequency_decay
        self.encoder = encoder
        self.candidate_vocab_size = next(f.vocab_size for f in features.features if f.name == candidate_id)
        self._untracked(_loss_tracker=keras.metrics.Mean(name="loss"), _corpus=None, _objective=self._objective_for(None))

    @tf.__internal__.tracking.no_automatic_dependency_tracking
    def _untracked(self, **attributes):
        """Sets training-only state (loss tracker, corpus, sampler statistics): not part of the saved model."""
        for name, value in attributes.items():
            setattr(self, name, value)

    def _objective_for(self, corpus):
        if corpus is None and self.objective not in CORPUS_FREE:
            return None  # set_corpus() builds it
        return make_objective(self.objective, corpus, vocab_size=self.candidate_vocab_size, dim=self.embedding_dim,
                              num_negatives=self.num_negatives, num_codewords=self.num_codewords,
                              frequency_decay=self.frequency_decay)

    def set_corpus(self, candidates: Mapping[str, np.ndarray]) -> None:
        """The item corpus: every candidate feature as an array with one row per item.

        Sampled and full-softmax objectives draw their negatives from it; MIDX fits its
        codebooks to the corpus' current embeddings.
        """
        missing = sorted(set(self.encoder.candidate_features) - set(candidates))
        if missing:
            raise ValueError(f"the corpus lacks candidate features {missing}")
        corpus = Corpus({n: candidates[n] for n in self.encoder.candidate_features}, self.candidate_id,
                        self.candidate_vocab_size)
        self._untracked(_corpus=corpus, _objective=self._objective_for(corpus))
        self.train_function = self.test_function = None  # retrace with the new corpus and sampler
        self.refresh_sampler()

    @property
    def corpus(self) -> Corpus | None:
        return self._corpus

    def embed_corpus(self, batch_size: int = 65_536) -> np.ndarray:
        """Candidate embeddings of every corpus row, ``[N, embedding_dim]``."""
        return np.concatenate([
            self.encoder.embed_candidates(self._corpus.gather(tf.range(start, min(start + batch_size, self._corpus.size))),
                                          training=False).numpy()
            for start in range(0, self._corpus.size, batch_size)])

    def refresh_sampler(self) -> None:
        """Re-fits an adaptive sampler (MIDX) to the current item embeddings; other objectives have none."""
        if hasattr(self._objective, "refresh"):
            self._objective.refresh(self.embed_corpus())

    def retrieval_loss(self, inputs, training=False):
        """Mean loss of the objective over a batch of (query, positive candidate) rows."""
        if self._objective is None:
            raise ValueError(f"objective {self.objective!r} draws from the item corpus: call set_corpus() first")
        query = self.encoder.embed_query(inputs, training=training)
        positive = self.encoder.embed_candidates(inputs, training=training)

        def embed_rows(rows):
            return self.encoder.embed_candidates(self._corpus.gather(rows), training=training)

        return tf.reduce_mean(self._objective.loss(query, positive, inputs[self.candidate_id], embed_rows))

    @property
    def metrics(self):
        return [self._loss_tracker]

    def train_step(self, data):
        inputs = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            loss = self.retrieval_loss(inputs, training=True)
            total = loss + tf.add_n(self.losses) if self.losses else loss
        self.optimizer.minimize(total, self.trainable_variables, tape=tape)
        self._loss_tracker.update_state(loss)
        return {"loss": self._loss_tracker.result()}

    def test_step(self, data):
        inputs = data[0] if isinstance(data, tuple) else data
        self._loss_tracker.update_state(self.retrieval_loss(inputs, training=False))
        return {"loss": self._loss_tracker.result()}


@keras.saving.register_keras_serializable(package="zoo")
class YouTubeDNN(TwoTower):
    """The candidate generation network of "Deep Neural Networks for YouTube Recommendations"
    (Covington et al., RecSys 2016), as a two-tower model.

    The user tower averages the embeddings of the watch history (a sequence feature among the
    query features; with ``shares`` it uses the candidate id's table) and concatenates the other
    user features before a ReLU tower; the candidate tower is the item's own embedding, the
    softmax's output vector. Trained with importance-corrected sampled negatives ("mixed"). The
    arguments are ``TwoTower``'s; only the defaults differ.
    """

    def __init__(self, features, candidate_id=None, query_features=None, candidate_features=None,
                 query_tower="mlp", candidate_tower="embedding", embedding_dim=32, hidden_units=(128, 64),
                 activation="relu", dropout=0.0, scoring="dot", temperature=1.0, learn_temperature=False,
                 objective="mixed", num_negatives=256, num_codewords=16, frequency_decay=0.01, **kwargs):
        super().__init__(features, candidate_id, query_features, candidate_features, query_tower, candidate_tower,
                         embedding_dim, hidden_units, activation, dropout, scoring, temperature, learn_temperature,
                         objective, num_negatives, num_codewords, frequency_decay, **kwargs)


_TWO_TOWER_DEFAULTS = dict(embedding_dim=32, hidden_units=(64,), scoring="cosine", temperature=0.1,
                           objective="in_batch_logq")


@register_model(
    family="two_tower", task="retrieval", model_class=TwoTower, inputs=TABULAR_INPUTS,
    paper=Paper("Dense Passage Retrieval for Open-Domain Question Answering", "2004.04906"),
    defaults=_TWO_TOWER_DEFAULTS,
)
def two_tower(features, **hparams):
    return TwoTower(features, **hparams)


@register_model(
    family="two_tower", task="retrieval", model_class=YouTubeDNN, inputs=TABULAR_INPUTS,
    paper=Paper("Deep Neural Networks for YouTube Recommendations", venue="RecSys 2016"),
    defaults=dict(embedding_dim=32, hidden_units=(128, 64), objective="mixed", num_negatives=256),
)
def youtube_dnn(features, **hparams):
    return YouTubeDNN(features, **hparams)
