"""Retrieval: samplers' proposal probabilities, the corrected softmax, metrics, two-tower models, export."""
from __future__ import annotations

import json
import math
import urllib.request

import numpy as np
import pytest
from scipy import stats

import zoo
from zoo.backend import keras, tf
from zoo.retrieval import metrics
from zoo.retrieval.export import export_retrieval_model
from zoo.retrieval.objectives import OBJECTIVES, corrected_softmax_loss
from zoo.retrieval.samplers import (
    CodebookRefresh, MIDXSampler, StreamingFrequency, UniformSampler, kmeans, mixed_proposal,
)
from zoo.retrieval.towers import Temperature


def _frequencies_match(draws, probabilities):
    """Chi-square goodness of fit of integer ``draws`` to ``probabilities`` (seeded, so deterministic)."""
    observed = np.bincount(np.asarray(draws).ravel(), minlength=len(probabilities))
    probabilities = np.asarray(probabilities, np.float64)
    expected = probabilities / probabilities.sum() * observed.sum()  # renormalized: float32 sums drift
    support = expected > 0
    assert observed[~support].sum() == 0, "drew an item of probability 0"
    return stats.chisquare(observed[support], expected[support]).pvalue > 1e-3


# --- small layers and the loss, by hand ---------------------------------------------------------


def test_corrected_softmax_loss_by_hand():
    query, positive = tf.constant([[1.0, 0.0]]), tf.constant([[2.0, 0.0]])
    negatives = tf.constant([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0]])
    ids, negative_ids = tf.constant([5]), tf.constant([7, 8, 5])  # the last negative is the positive itself
    loss = corrected_softmax_loss(query, positive, ids, tf.constant([math.log(2.0)]), negatives, negative_ids,
                                  tf.constant([0.0, math.log(0.5), 0.0]))
    # logits: positive 2 - log 2; negatives 0 - 0 and 1 - log 0.5; the accidental hit is masked out
    e = math.e
    expected = -math.log((e ** 2 / 2) / (e ** 2 / 2 + 1 + 2 * e))
    np.testing.assert_allclose(loss.numpy(), [expected], rtol=1e-6)
    per_query = corrected_softmax_loss(query, positive, ids, tf.constant([math.log(2.0)]), negatives[tf.newaxis],
                                       negative_ids[tf.newaxis], tf.constant([[0.0, math.log(0.5), 0.0]]))
    np.testing.assert_allclose(per_query.numpy(), [expected], rtol=1e-6)


def test_temperature_divides_by_tau():
    layer = Temperature(0.5)
    np.testing.assert_allclose(layer(tf.constant([[1.0, -2.0]])).numpy(), [[2.0, -4.0]], rtol=1e-6)
    assert layer.trainable_weights and not Temperature(0.5, learnable=False).trainable_weights


# --- samplers -----------------------------------------------------------------------------------


def test_streaming_frequency_follows_yi_et_al_by_hand():
    estimator = StreamingFrequency(num_buckets=16, alpha=0.5)
    stream = {1: [3, 5], 2: [3, 4], 3: [3], 4: [3, 4, 5], 5: [3, 5]}  # step -> ids in the batch
    for step in sorted(stream):
        estimator.update(tf.constant(stream[step], tf.int64))
    # item 3: every step, gap 1. item 4: steps 2, 4 -> B = 2 then .5*2 + .5*2 = 2.
    # item 5: steps 1, 4, 5 -> B = 1, then .5*1 + .5*3 = 2, then .5*2 + .5*1 = 1.5. item 9: never seen.
    np.testing.assert_allclose(estimator.probability(tf.constant([3, 4, 5, 9], tf.int64)).numpy(),
                               [1.0, 0.5, 1 / 1.5, 0.0], rtol=1e-6)


def test_uniform_proposal_enumerated_and_sampled():
    sampler = UniformSampler(7)
    np.testing.assert_allclose(sampler.probabilities(), np.full(7, 1 / 7))
    tf.random.set_seed(1)
    assert _frequencies_match(sampler.sample(14_000).numpy(), sampler.probabilities())


def test_mixed_proposal_enumerated_and_sampled():
    data_distribution, batch, uniform = np.array([0.5, 0.3, 0.2, 0.0]), 2, 2
    proposal = mixed_proposal(data_distribution, batch, uniform)
    np.testing.assert_allclose(proposal, [(2 * 0.5 + 0.5) / 4, (2 * 0.3 + 0.5) / 4, (2 * 0.2 + 0.5) / 4, 0.5 / 4])
    assert proposal.sum() == pytest.approx(1.0)
    # What the "mixed" objective scores each step: the batch's positives and M uniform corpus rows.
    rng, sampler = np.random.default_rng(0), UniformSampler(4)
    tf.random.set_seed(2)
    steps = 3000
    positives = rng.choice(4, size=(steps, batch), p=data_distribution)
    uniform_rows = sampler.sample(steps * uniform).numpy().reshape(steps, uniform)
    assert _frequencies_match(np.concatenate([positives, uniform_rows], axis=1), proposal)


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    centroids, assignment = kmeans(points, 2, seed=3)
    assert len(set(assignment[:20])) == 1 and len(set(assignment[20:])) == 1 and assignment[0] != assignment[20]
    np.testing.assert_allclose(np.sort(centroids[:, 0]), [points[:20, 0].mean(), points[20:, 0].mean()], rtol=1e-5)


@pytest.fixture(scope="module")
def midx():
    rng = np.random.default_rng(0)
    sampler = MIDXSampler(corpus_size=12, dim=4, num_codewords=3, seed=0)
    sampler.refresh(rng.normal(size=(12, 4)).astype(np.float32))
    return sampler, tf.constant(rng.normal(size=(2, 4)).astype(np.float32))


def test_midx_proposal_enumerated_equals_quantized_softmax(midx):
    sampler, query = midx
    probabilities = sampler.probabilities(query).numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), [1.0, 1.0], rtol=1e-6)
    c1, c2 = sampler.codebooks[0].numpy(), sampler.codebooks[1].numpy()
    codes = sampler.codes.numpy()
    z = query.numpy()
    # exp(<z1, C1[k1(i)]> + <z2, C2[k2(i)]>) normalized over items == the cell then uniform-in-cell product
    scores = z[:, :2] @ c1[codes[:, 0]].T + z[:, 2:] @ c2[codes[:, 1]].T
    expected = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5)
    sizes = np.bincount(codes[:, 0] * 3 + codes[:, 1], minlength=9)
    cell_probability = np.zeros(9)
    np.add.at(cell_probability, codes[:, 0] * 3 + codes[:, 1], expected[0])
    item = 0
    cell = codes[item, 0] * 3 + codes[item, 1]
    assert expected[0, item] == pytest.approx(cell_probability[cell] / sizes[cell])


def test_midx_samples_follow_the_proposal(midx):
    sampler, query = midx
    tf.random.set_seed(3)
    rows, log_q = sampler.sample(query, 6000)
    probabilities = sampler.probabilities(query).numpy()
    for b in range(2):
        assert _frequencies_match(rows[b].numpy(), probabilities[b])
        np.testing.assert_allclose(np.exp(log_q[b].numpy()), probabilities[b][rows[b].numpy()], rtol=1e-5)


# --- metrics --------------------------------------------------------------------------------------


def test_recall_and_ndcg_by_hand():
    ranked, relevant = [10, 3, 7, 1], {7, 1, 99}
    assert [metrics.recall_at_k(ranked, relevant, k) for k in (2, 3, 4)] == [0.0, 1 / 3, 2 / 3]
    dcg = 1 / math.log2(4) + 1 / math.log2(5)  # hits at ranks 3 and 4
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # three relevant items at ranks 1..3
    assert metrics.ndcg_at_k(ranked, relevant, 4) == pytest.approx(dcg / idcg)
    assert metrics.ndcg_at_k([7, 1], {7, 1}, 10) == pytest.approx(1.0)
    summary = metrics.ranking_metrics([ranked, [1, 7, 3, 10]], [relevant, {3}], ks=(2,))
    assert summary == pytest.approx({"recall@2": 0.0, "ndcg@2": 0.0})


def test_top_k_over_the_corpus_excludes_seen_items():
    candidates = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]])
    ids, scores = metrics.top_k([[1.0, 0.1]], candidates, [20, 21, 22, 23], k=3, exclude=[[20]])
    np.testing.assert_array_equal(ids, [[22, 21, 23]])
    np.testing.assert_allclose(scores, [[0.77, 0.1, -1.0]], rtol=1e-6)
    result = metrics.full_corpus_metrics([[1.0, 0.1]], candidates, [20, 21, 22, 23], [[22]], ks=(1, 2))  # 20 first
    assert result == pytest.approx({"recall@1": 0.0, "ndcg@1": 0.0, "recall@2": 1.0,
                                    "ndcg@2": 1 / math.log2(3)})


# --- models ---------------------------------------------------------------------------------------

SPEC = zoo.FeatureSpec((
    zoo.CategoricalFeature("user_id", 42),
    zoo.SequenceFeature("history", 22, 3, shares="item_id"),
    zoo.CategoricalFeature("item_id", 22),
    zoo.SequenceFeature("tags", 6, 2),
))
TOWERS = dict(candidate_id="item_id", query_features=("user_id", "history"), candidate_features=("item_id", "tags"))
TINY = dict(embedding_dim=8, hidden_units=(16,), num_negatives=8, num_codewords=3)


def _tiny_data(rows=640, seed=0):
    """Each user always picks the same item (item = 2 + user mod 20): learnable, so training must help."""
    rng = np.random.default_rng(seed)
    users = rng.integers(2, 42, rows)
    items = 2 + users % 20
    tags = np.stack([2 + items % 4, np.zeros_like(items)], axis=1)
    data = {"user_id": users, "history": rng.integers(0, 22, (rows, 3)), "item_id": items, "tags": tags}
    corpus_items = np.arange(2, 22)
    corpus = {"item_id": corpus_items, "tags": np.stack([2 + corpus_items % 4, 0 * corpus_items], axis=1)}
    return data, corpus


def _recall(model, data, corpus, k=3):
    first = np.unique(data["user_id"], return_index=True)[1]
    queries = {name: data[name][first] for name in ("user_id", "history")}
    query = model.encoder.embed_query(queries).numpy()
    return metrics.full_corpus_metrics(query, model.embed_corpus(), corpus["item_id"],
                                       [[i] for i in data["item_id"][first]], ks=(k,))[f"recall@{k}"]


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_objective_trains_the_towers(objective):
    keras.utils.set_random_seed(0)
    data, corpus = _tiny_data()
    model = zoo.create("two_tower", SPEC, objective=objective, **TOWERS, **TINY)
    model.set_corpus(corpus)
    before = _recall(model, data, corpus)
    model.compile(optimizer=keras.optimizers.Adam(0.03))
    history = model.fit(data, batch_size=64, epochs=4, verbose=0, callbacks=[CodebookRefresh(every_n_steps=5)])
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert _recall(model, data, corpus) > max(before, 0.5)  # chance: 3 of 20 items
    with tf.GradientTape() as tape:
        loss = model.retrieval_loss({k: tf.constant(v[:64]) for k, v in data.items()}, training=True)
    for variable, gradient in zip(model.trainable_variables, tape.gradient(loss, model.trainable_variables)):
        assert gradient is not None, f"no gradient reaches {variable.name}"


def test_midx_codebooks_are_refreshed_during_training():
    keras.utils.set_random_seed(0)
    data, corpus = _tiny_data(rows=256)
    model = zoo.create("two_tower", SPEC, objective="midx", **TOWERS, **TINY)
    model.set_corpus(corpus)
    sampler = model._objective.sampler
    model.compile(optimizer=keras.optimizers.Adam(0.03))
    model.fit(data, batch_size=64, epochs=2, verbose=0, callbacks=[CodebookRefresh(every_n_steps=4)])
    assert sampler.refreshes == 1 + 2  # set_corpus, then steps 4 and 8
    _, assignment = kmeans(model.embed_corpus()[:, :4], 3, seed=sampler.seed + 2)
    np.testing.assert_array_equal(sampler.codes.numpy()[:, 0], assignment)


def test_objectives_that_sample_the_corpus_need_it():
    model = zoo.create("two_tower", SPEC, objective="mixed", **TOWERS, **TINY)
    model.compile(optimizer="adam")
    data, _ = _tiny_data(rows=64)
    with pytest.raises(ValueError, match="set_corpus"):
        model.fit(data, batch_size=64, epochs=1, verbose=0)


def test_youtube_dnn_shares_the_item_table_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    data, corpus = _tiny_data(rows=128)
    model = zoo.create("youtube_dnn", SPEC, candidate_id="item_id", **TINY)
    assert model.encoder.query_features == ("user_id", "history", "tags")
    assert model.encoder.candidate_features == ("item_id",)
    tables = [w.name for w in model.weights if "embedding_" in w.name]
    assert not any("history" in name for name in tables), tables  # the history reads item_id's table
    model.set_corpus({"item_id": corpus["item_id"]})
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    model.fit(data, batch_size=64, epochs=1, verbose=0)
    config = json.loads(json.dumps(model.get_config()))
    assert type(model).from_config(config).get_config() == model.get_config()
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded) is type(model)
    for key, value in model(data).items():
        np.testing.assert_allclose(loaded(data)[key].numpy(), value.numpy(), atol=1e-6)


# --- export and serving ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    data, corpus = _tiny_data(rows=256)
    model = zoo.create("two_tower", SPEC, objective="in_batch", **TOWERS, **TINY)
    model.set_corpus(corpus)
    model.compile(optimizer=keras.optimizers.Adam(0.03))
    model.fit(data, batch_size=64, epochs=1, verbose=0)
    base = tmp_path_factory.mktemp("retrieval")
    export_retrieval_model(model, str(base / "1"), k=5)
    return model, data, corpus, base


def test_exported_top_k_is_a_brute_force_over_the_exported_index(exported):
    model, data, corpus, base = exported
    loaded = tf.saved_model.load(str(base / "1"))
    queries = {name: tf.constant(data[name][:16]) for name in ("user_id", "history")}
    top = loaded.signatures["serving_default"](**queries)
    query = loaded.signatures["query_embedding"](**queries)["embedding"].numpy()
    index = loaded.candidate_embeddings.numpy()
    np.testing.assert_array_equal(loaded.candidate_ids.numpy(), corpus["item_id"])
    expected_ids, expected_scores = metrics.top_k(query, index, corpus["item_id"], k=5)
    np.testing.assert_array_equal(top["ids"].numpy(), expected_ids)
    np.testing.assert_allclose(top["scores"].numpy(), expected_scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(query, model.encoder.embed_query(queries).numpy(), atol=1e-5)
    rebuilt = loaded.signatures["candidate_embedding"](**{k: tf.constant(v) for k, v in corpus.items()})
    np.testing.assert_allclose(rebuilt["embedding"].numpy(), index, atol=1e-5)


def test_served_over_rest_like_any_model(exported):
    from serving import server

    model, data, corpus, base = exported
    instance = {"user_id": int(data["user_id"][0]), "history": data["history"][0].tolist()}
    with server.start_server("retrieval", str(base)) as handle:
        request = urllib.request.Request(f"{handle.url}/v1/models/retrieval:predict",
                                         data=json.dumps({"instances": [instance]}).encode())
        with urllib.request.urlopen(request, timeout=60) as response:
            (prediction,) = json.loads(response.read())["predictions"]
    query = model.encoder.embed_query({k: tf.constant([v]) for k, v in instance.items()}).numpy()
    expected_ids, _ = metrics.top_k(query, model.embed_corpus(), corpus["item_id"], k=5)
    assert prediction["ids"] == expected_ids[0].tolist() and len(prediction["scores"]) == 5


# --- data -----------------------------------------------------------------------------------------


def test_movielens_time_split_for_retrieval(movielens_dir):
    from zoo.data import movielens_retrieval

    split = movielens_retrieval.load(movielens_dir, history_len=5)
    assert len(split.corpus["movie_id"]) == 9742 and split.spec.names == ("user_id", "history", "movie_id", "genres")
    train = split.train
    assert not np.any(train["history"] == train["movie_id"][:, None])  # the target is never in its own history
    for user in np.unique(train["user_id"])[:20]:  # a history holds only that user's own training movies
        rows = train["user_id"] == user
        assert set(train["history"][rows].ravel()) - {0} <= set(train["movie_id"][rows])
    assert len(split.test_relevant) == len(split.test_queries["user_id"]) > 50
    for relevant, seen in zip(split.test_relevant, split.test_seen):
        assert len(relevant) and not set(relevant) & set(seen)
    assert split.train_counts.sum() == len(train["movie_id"])


def _tfma_mean(metric, examples) -> float:
    """``metric`` (a TFMA metric) computed as the Evaluator's Beam combiner would, on (item, ids) examples."""
    from tensorflow_model_analysis.metrics import metric_types

    (computation,) = metric.computations()
    combiner = computation.combiner
    accumulator = combiner.create_accumulator()
    for item, ids in examples:
        accumulator = combiner.add_input(accumulator, metric_types.StandardMetricInputs(
            labels=np.array([item]), predictions={"ids": np.array(ids), "scores": np.zeros(len(ids))}))
    (value,) = combiner.extract_output(combiner.merge_accumulators([accumulator, combiner.create_accumulator()])).values()
    return value


def test_evaluator_recall_and_ndcg_at_k_match_hand_computed_values():
    from pipelines.retrieval_metrics import NdcgAtK, RecallAtK

    # Ranks of the interaction's item: 2, absent, 1, 4.
    examples = [(5, [3, 5, 7, 8]), (9, [3, 5, 7, 8]), (3, [3, 5, 7, 8]), (8, [3, 5, 7, 8])]
    assert _tfma_mean(RecallAtK(k=1), examples) == pytest.approx(1 / 4)
    assert _tfma_mean(RecallAtK(k=3), examples) == pytest.approx(2 / 4)
    assert _tfma_mean(RecallAtK(k=4), examples) == pytest.approx(3 / 4)
    assert _tfma_mean(NdcgAtK(k=3), examples) == pytest.approx((1 / np.log2(3) + 1) / 4)
    assert _tfma_mean(NdcgAtK(k=4), examples) == pytest.approx((1 / np.log2(3) + 1 + 1 / np.log2(5)) / 4)
    assert RecallAtK(k=50).name == "recall@50" and NdcgAtK(k=10).name == "ndcg@10"
    # String items (a BYTES candidate feature) compare with the decoded ids the model returns.
    assert _tfma_mean(RecallAtK(k=2), [(b"b", ["a", "b"]), (b"c", ["a", "b"])]) == pytest.approx(1 / 2)
