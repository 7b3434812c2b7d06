"""A multi-task model through the real pipeline: UCI Adult with three labels, one MMoE head each:
two binary (income over $50K, never married) and one regression target (years of education).

The Evaluator measures every head, the binary ones by AUC and log loss, the regression one by its
errors, and blesses on the headline (first) label's AUC; the pushed model serves every head from
serving_default, classify_<head> per binary head and regress_<head> per head.
"""
from __future__ import annotations

import base64
import dataclasses
import pathlib

import numpy as np
import pytest

from pipelines.config import load_config
from pipelines.run import run_pipeline
from zoo.backend import tf

pytestmark = pytest.mark.slow
REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED_ADULT = REPO.parent / "shared" / "data" / "uci-adult"
HEADS = ("income_over_50k", "never_married")  # binary
REGRESSION_HEAD = "education_num"  # 1 to 16 years


@pytest.fixture(scope="module")
def config(tmp_path_factory, adult_regression_schema):
    if not (SHARED_ADULT / "adult.data").exists():
        pytest.fail(f"the shared UCI Adult copy is missing at {SHARED_ADULT}; see ../shared/data/README.md")
    config = load_config(REPO / "configs" / "adult_multitask.yaml", output_dir=str(tmp_path_factory.mktemp("mtl")))
    # The regression head's type comes from its label's domain; its squared error (~100 at first) is
    # weighted down to the binary heads' log loss.
    tasks = [{"name": head} for head in HEADS] + [{"name": REGRESSION_HEAD, "weight": 0.01}]
    return config.replace(
        schema=str(adult_regression_schema),
        model=dataclasses.replace(config.model, hparams={**config.model.hparams, "tasks": tasks}),
        data=dataclasses.replace(config.data, path=str(SHARED_ADULT), download=False, fallback_to_synthetic=False,
                                 max_rows=4000),
        training=dataclasses.replace(config.training, train_steps=60, eval_steps=4, batch_size=128),
        evaluation=dataclasses.replace(config.evaluation, min_auc=0.6),
    )


def test_every_head_is_evaluated_and_the_headline_head_decides(summary):
    from pipelines.run import print_summary

    lines = []
    print_summary(summary, echo=lines.append)
    for head in HEADS:
        assert 0.6 < summary.metrics[f"{head}/auc"] <= 1.0, head
        assert 0 < summary.metrics[f"{head}/binary_crossentropy"] < 1.0, head
        assert any(line.strip().startswith(f"held-out {head}/auc") for line in lines), head
    assert not any(name.startswith(f"{REGRESSION_HEAD}/") and "auc" in name for name in summary.metrics)
    assert any(line.strip().startswith(f"held-out {REGRESSION_HEAD}/mean_squared_error") for line in lines)
    assert summary.blessed and summary.pushed_path


def test_the_regression_heads_evaluator_numbers_are_those_of_the_pushed_model(summary, config, read_eval_split):
    """Recomputed here from the pushed model's answers on the held-out split: the Evaluator measured the
    regression head against its own label, on every held-out example."""
    held_out = read_eval_split(config, "CsvExampleGen")
    labels = np.array([tf.train.Example.FromString(e).features.feature[REGRESSION_HEAD].int64_list.value[0]
                       for e in held_out], dtype=np.float64)
    serve = tf.saved_model.load(summary.pushed_path).signatures["serving_default"]
    predicted = np.concatenate([serve(examples=tf.constant(held_out[i:i + 256]))[REGRESSION_HEAD].numpy()[:, 0]
                                for i in range(0, len(held_out), 256)]).astype(np.float64)
    metrics = {name.partition("/")[2]: value for name, value in summary.metrics.items()
               if name.startswith(f"{REGRESSION_HEAD}/")}
    assert metrics["example_count"] == len(held_out)
    assert metrics["mean_squared_error"] == pytest.approx(np.mean((predicted - labels) ** 2), rel=1e-4)
    assert metrics["mean_absolute_error"] == pytest.approx(np.mean(np.abs(predicted - labels)), rel=1e-4)
    assert metrics["mean_label"] == pytest.approx(labels.mean(), rel=1e-5)
    assert metrics["squared_pearson_correlation"] == pytest.approx(np.corrcoef(predicted, labels)[0, 1] ** 2,
                                                                   rel=1e-3)


def test_a_head_below_the_threshold_refuses_the_model(summary, config):
    strict = config.replace(evaluation=dataclasses.replace(config.evaluation, min_auc=0.9999))
    refused = run_pipeline(strict, echo=lambda line: None)
    assert not refused.blessed and refused.pushed_path is None
    (failure,) = refused.models[0].failures
    assert failure.startswith("income_over_50k/auc is ")  # only the headline head is gated


def _examples(count: int = 6) -> list[bytes]:
    from zoo.data import adult
    from zoo.data.from_schema import to_example

    frame = adult.load(SHARED_ADULT, "test").head(count)
    rows = [{k: int(v) if isinstance(v, np.integer) else v for k, v in record.items() if k not in (*HEADS, REGRESSION_HEAD) and v == v}
            for record in frame.to_dict("records")]
    return [to_example(row).SerializeToString() for row in rows]


def test_the_pushed_model_serves_every_head(summary, config):
    from pipelines.demo import http_json
    from serving.codec import example_to_json
    from serving.server import start_server

    examples = _examples()
    signatures = tf.saved_model.load(summary.pushed_path).signatures
    expected = {head: value.numpy()[:, 0]
                for head, value in signatures["serving_default"](examples=tf.constant(examples)).items()}
    assert set(expected) == {*HEADS, REGRESSION_HEAD}
    name = config.serving_model_name
    with start_server(name, str(pathlib.Path(summary.pushed_path).parent)) as server:
        url = f"{server.url}/v1/models/{name}"
        body = {"instances": [{"b64": base64.b64encode(e).decode()} for e in examples]}
        predictions = http_json(f"{url}:predict", body)["predictions"]
        json_examples = [example_to_json(e) for e in examples]
        for head in (*HEADS, REGRESSION_HEAD):
            np.testing.assert_allclose([row[head][0] for row in predictions], expected[head], rtol=1e-6)
            regressed = http_json(f"{url}:regress", {"signature_name": f"regress_{head}", "examples": json_examples})
            np.testing.assert_allclose(regressed["results"], expected[head], rtol=1e-6)
        for head in HEADS:
            classified = http_json(f"{url}:classify", {"signature_name": f"classify_{head}", "examples": json_examples})
            np.testing.assert_allclose([r[1][1] for r in classified["results"]], expected[head], atol=1e-6)
    assert f"classify_{REGRESSION_HEAD}" not in signatures  # a value has no classes
