"""The pipeline factory without running it: task selection, several models, the baseline resolver,
slices, input formats and splits, and the config checks that guard them."""
from __future__ import annotations

import json
import pathlib

import pandas as pd
import pytest

from pipelines.config import ConfigError, load_config

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text, message", [
    ("task: ranknig\n", "task 'ranknig' is not a task; pipelines support: "
                       "\\['image_classification', 'multitask', 'ranking', 'retrieval', 'segmentation'\\]"),
    ("models: [{name: deepfm}, {name: dcm}]\n", "closest: dcn"),
    ("models: [{name: fm}, {name: fm}]\n", "distinct names"),
    ("model: {name: fm}\nmodels: [{name: deepfm}]\n", "either model or models"),
    ("models: [{name: fm, hparms: {}}]\n", r"models\[0\]: unknown key\(s\) \['hparms'\]"),
    ("models: [{name: fm}, {name: deepfm}]\nevaluation: {baseline: true}\n", "baseline needs a single model"),
    ("evaluation: {slices: [wekday]}\n", r"slices \['wekday'\] are not features"),
    ("data: {source: adult, split: time}\n", "needs a time feature"),
    ("data: {split: random}\n", "data.split must be one of"),
    ("data: {source: parquet}\n", "needs data.path"),
    ("warmup_examples: -1\n", "warmup_examples must be 0 \\(none\\) or more"),
    ("training: {batch_norm_statistics_batches: -2}\n", "batch_norm_statistics_batches must be 0"),
    ("models: [{name: fm}, {name: deepfm, hparams: {embeding_dim: 4}}]\n",
     r"deepfm: unknown hyper-parameter\(s\) \['embeding_dim'\]; accepted: .*'embedding_dim'"),
    ("data: {source: movielens_history}\n", "needs a schema with history features"),
    ("data: {source: digits}\n", "data.source 'digits' holds images, for task image_classification, not 'ranking'"),
    ("task: image_classification\nmodel: {name: densenet_bc_100}\n",
     "task image_classification reads images: data.source must be one of .*, got 'movielens'"),
    ("data: {source: image_folder}\n", "needs data.path"),
])
def test_config_errors_are_specific(text, message, config_file):
    with pytest.raises(ConfigError, match=message):
        load_config(config_file(text))


def test_every_model_task_has_a_pipeline():
    from pipelines.tasks import TASKS
    from zoo.registry import TASKS as MODEL_TASKS

    assert set(TASKS) == set(MODEL_TASKS)


def test_a_model_of_another_task_is_refused(config_file):
    import zoo

    other = next(name for name in zoo.list_models() if zoo.get_card(name).task != "ranking")
    with pytest.raises(ConfigError, match=f"model '{other}' is a .* model but the pipeline's task is 'ranking'"):
        load_config(config_file(f"model: {{name: {other}}}\n"))


def test_shipped_configs_load():
    config = load_config(REPO / "configs" / "movielens_ranking_models.yaml")
    assert config.trained_models()[0] == ("_logistic_regression", config.models[0], "movielens_logistic_regression")
    for path in (REPO / "configs").glob("*.yaml"):
        load_config(path)


def _pipeline(config_path):
    from pipelines.pipeline import create_pipeline

    config = load_config(config_path)
    return config, create_pipeline(config, str(config_path.parent / "input"), pathlib.Path(config.schema).read_text())


def _ids(pipeline):
    return [component.id for component in pipeline.components]


def test_several_models_share_example_gen_and_transform(config_file):
    from pipelines.push import AtomicPusherExecutor

    config, pipeline = _pipeline(config_file("models: [{name: fm}, {name: dcn, hparams: {num_cross_layers: 1}}]\n"
                                           "evaluation: {enabled: false}\n"))
    assert sorted(_ids(pipeline)) == sorted([
        "CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomaliesGate", "Transform",
        "Trainer_fm", "ServingWarmup_fm", "Pusher_fm", "Trainer_dcn", "ServingWarmup_dcn", "Pusher_dcn"])
    by_id = {c.id: c for c in pipeline.components}
    assert json.loads(by_id["Trainer_dcn"].exec_properties["custom_config"])["hparams"] == {"num_cross_layers": 1}
    destination = by_id["Pusher_dcn"].exec_properties["push_destination"]
    assert '"base_directory": "' + str(pathlib.Path(config.serving_root) / "m_dcn") in destination
    assert by_id["Pusher_dcn"].inputs.get("model_blessing") is None  # pushed unconditionally
    # Pushed: the Trainer's model with warm-up requests from the raw examples, through atomic staging.
    assert by_id["Pusher_dcn"].inputs["model"].producer_component_id == "ServingWarmup_dcn"
    assert by_id["ServingWarmup_dcn"].inputs["model"].producer_component_id == "Trainer_dcn"
    assert by_id["ServingWarmup_dcn"].inputs["examples"].producer_component_id == "CsvExampleGen"
    assert by_id["Pusher_dcn"].executor_spec.executor_class is AtomicPusherExecutor


def test_no_warmup_examples_pushes_the_trainers_model(config_file):
    _, pipeline = _pipeline(config_file("warmup_examples: 0\n"))
    by_id = {c.id: c for c in pipeline.components}
    assert "ServingWarmup" not in by_id
    assert by_id["Pusher"].inputs["model"].producer_component_id == "Trainer"


@pytest.mark.parametrize("momentum", [0.9, None])
def test_every_trainer_sets_the_configured_batch_norm_momentum_before_fit(config_file, monkeypatch, tmp_path,
                                                                          momentum):
    from types import SimpleNamespace

    from pipelines.trainer import TrainingRun
    from zoo.backend import keras

    text = "models: [{name: fm}, {name: deepfm}]\n"
    if momentum:
        text += f"training: {{batch_norm_momentum: {momentum}}}\n"
    _, pipeline = _pipeline(config_file(text))
    trainers = [c for c in pipeline.components if c.id.startswith("Trainer")]
    assert [json.loads(t.exec_properties["custom_config"])["batch_norm_momentum"] for t in trainers] == [momentum] * 2
    # TrainingRun.fit, which every task's run_fn calls: the momentum is set before Keras' fit traces the update.
    run = TrainingRun.__new__(TrainingRun)  # the fit step alone: no Transform output needed
    run.config, run.run_dir = {"batch_norm_momentum": momentum}, str(tmp_path)
    run.fn_args = SimpleNamespace(train_files=[], eval_files=[], train_steps=1, eval_steps=1)
    monkeypatch.setattr(run, "dataset", lambda files, shuffle, element: None)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.BatchNormalization(name="norm")(inputs)))
    seen = []
    monkeypatch.setattr(model, "fit", lambda *args, **kwargs: seen.append(model.get_layer("norm").momentum)
                        or SimpleNamespace(history={}))
    run.fit(model, element=lambda batch: batch)
    assert seen == [momentum or 0.99]  # unset: Keras' own


def test_the_trainer_recomputes_batch_norm_statistics_on_unaugmented_train_batches(config_file, monkeypatch,
                                                                                  tmp_path):
    from types import SimpleNamespace

    import numpy as np

    from pipelines.trainer import TrainingRun
    from zoo.backend import keras, tf

    _, pipeline = _pipeline(config_file("training: {batch_norm_statistics_batches: 2}\n"))
    (trainer,) = [c for c in pipeline.components if c.id.startswith("Trainer")]
    assert json.loads(trainer.exec_properties["custom_config"])["batch_norm_statistics_batches"] == 2

    run = TrainingRun.__new__(TrainingRun)  # the steps after fit alone: no Transform output needed
    run.config, run.run_dir = {"batch_norm_statistics_batches": 2}, str(tmp_path)
    run.strategy = tf.distribute.get_strategy()
    run.fn_args = SimpleNamespace(train_files=["train"], eval_files=["eval"], train_steps=1, eval_steps=1)
    # Three train batches of one feature: means 1, 3, 100. Recomputing on 2 must read the first two, as
    # ``element`` maps them (x + 1; an augmentation would be training_element's, and must not be used).
    rows = {"train": [[0.0], [0.0], [2.0], [2.0], [99.0], [99.0]], "eval": [[0.0], [0.0]]}
    monkeypatch.setattr(run, "_batches", lambda files, shuffle, element: tf.data.Dataset.from_tensor_slices(
        {"x": rows[files[0]]}).batch(2).map(element))
    monkeypatch.setattr(run, "dataset", run._batches)
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="norm")(inputs))
    model.compile(optimizer="sgd", loss="mse")
    monkeypatch.setattr(model, "fit", lambda *args, **kwargs: SimpleNamespace(history={}))
    run.fit(model, element=lambda batch: (batch["x"] + 1, batch["x"]),
            training_element=lambda batch: (batch["x"] * 0, batch["x"]))
    np.testing.assert_allclose(model.get_layer("norm").moving_mean.numpy(), [2.0])


def _task_config(tmp_path, task: str, schema: pathlib.Path, source: str, model: str, hparams: str) -> pathlib.Path:
    path = tmp_path / f"{task}.yaml"
    path.write_text(f"pipeline_name: p\ntask: {task}\nschema: {schema}\n"
                    f"output_dir: out\nserving_model_name: m\ndata: {{source: {source}}}\n"
                    f"model: {{name: {model}, hparams: {hparams}}}\n")
    return path


def _multitask_config(tmp_path, tasks: str, schema: pathlib.Path = REPO / "schemas" / "adult_multitask.pbtxt"):
    return _task_config(tmp_path, "multitask", schema, "adult", "mmoe", f"{{tasks: {tasks}}}")


def test_a_multitask_head_must_be_a_schema_label(tmp_path):
    with pytest.raises(ConfigError, match=r"tasks \['income'\] of mmoe are not labels of the schema"):
        load_config(_multitask_config(tmp_path, "[{name: income}]"))


def test_the_evaluator_measures_the_heads_the_model_has(tmp_path):
    """A model trained on a subset of the schema's labels is evaluated, and blessed, on that subset."""
    _, pipeline = _pipeline(_multitask_config(tmp_path, "[{name: never_married}]"))
    (evaluator,) = [c for c in pipeline.components if c.id == "Evaluator"]
    eval_config = json.loads(evaluator.exec_properties["eval_config"])
    assert eval_config["model_specs"][0]["label_keys"] == {"never_married": "never_married"}
    assert [spec["output_names"] for spec in eval_config["metrics_specs"]] == [["never_married"]]


def test_a_regression_label_gets_a_regression_head_measured_by_error_not_auc(tmp_path, adult_regression_schema):
    """Heads left untyped take their label's type from the schema; only the first head's AUC gates."""
    _, pipeline = _pipeline(_multitask_config(
        tmp_path, "[{name: income_over_50k}, {name: education_num, weight: 0.01}]", adult_regression_schema))
    by_id = {c.id: c for c in pipeline.components}
    eval_config = json.loads(by_id["Evaluator"].exec_properties["eval_config"])
    metrics = {spec["output_names"][0]: [m["class_name"] for m in spec["metrics"]] for spec in eval_config["metrics_specs"]}
    assert "AUC" in metrics["income_over_50k"]
    assert metrics["education_num"] == ["ExampleCount", "MeanSquaredError", "MeanAbsoluteError",
                                        "SquaredPearsonCorrelation", "MeanLabel", "MeanPrediction"]
    gated = [spec["output_names"][0] for spec in eval_config["metrics_specs"]
             for m in spec["metrics"] if m.get("per_slice_thresholds")]
    assert gated == ["income_over_50k"]


@pytest.mark.parametrize("tasks, message", [
    ("[{name: income_over_50k}, {name: education_num, type: binary}]",
     r"tasks \['education_num'\] of mmoe are binary, but their labels are regression targets"),
    ("[{name: education_num}, {name: income_over_50k}]",
     "the first head of 'mmoe', 'education_num', decides the blessing by its AUC, so it must be binary"),
])
def test_a_regression_label_is_not_trained_as_binary_nor_gates_by_auc(tmp_path, adult_regression_schema, tasks,
                                                                        message):
    with pytest.raises(ConfigError, match=message):
        load_config(_multitask_config(tmp_path, tasks, adult_regression_schema))


def test_a_class_index_label_is_not_a_multitask_head(tmp_path):
    schema = tmp_path / "s.pbtxt"
    schema.write_text((REPO / "schemas" / "adult_multitask.pbtxt").read_text() +
                      'feature { name: "digit" type: INT int_domain { min: 0 max: 9 } '
                      'annotation { tag: "zoo.role=label" } }\n')
    with pytest.raises(ConfigError, match=r"tasks \['digit'\] of mmoe are class indices"):
        load_config(_multitask_config(tmp_path, "[{name: income_over_50k}, {name: digit}]", schema))


def test_a_ranking_model_needs_a_binary_label(tmp_path):
    schema = tmp_path / "s.pbtxt"
    schema.write_text('feature { name: "x" type: FLOAT }\n'
                      'feature { name: "rating" type: FLOAT annotation { tag: "zoo.role=label" } }\n')
    with pytest.raises(ConfigError, match="label 'rating' is a regression target, but a ranking model predicts"):
        load_config(_task_config(tmp_path, "ranking", schema, "criteo_synthetic", "deepfm", "{}"))


def _retrieval_config(tmp_path, hparams: str) -> pathlib.Path:
    return _task_config(tmp_path, "retrieval", REPO / "schemas" / "movielens_history.pbtxt", "movielens_history",
                        "two_tower", hparams)


@pytest.mark.parametrize("hparams, message", [
    ("{}", "needs hparams candidate_id .* and query_features"),
    ("{candidate_id: genres, query_features: [user_id]}", "candidate_id 'genres' must be a categorical feature"),
    ("{candidate_id: hist_movie_ids, query_features: [user_id]}", "candidate_id 'hist_movie_ids' must be"),
    ("{candidate_id: movie_id, query_features: [user_id, movie_id]}", "other than the candidate 'movie_id'"),
    ("{candidate_id: movie_id, query_features: [user_idd]}", r"unknown: \['user_idd'\]"),
    ("{candidate_id: movie_id, query_features: [user_id], candidate_features: [movie_id, genres]}",
     "the candidate tower reads candidate_id only"),
])
def test_a_retrieval_model_must_name_towers_the_pipeline_can_serve(tmp_path, hparams, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_retrieval_config(tmp_path, hparams))


# Added to the MovieLens history schema: the 5 latest genres, encoded with hist_genres' vocabulary, so a
# sequence whose shared vocabulary belongs to another sequence, not to an item feature.
RECENT_GENRES = ('feature { name: "recent_genres" type: BYTES presence { min_count: 0 } '
                 'annotation { tag: "zoo.max_len=5" tag: "zoo.shares=hist_genres" } }\n')


@pytest.mark.parametrize("model, hparams, schema_edit, message", [
    ("sasrec", "{sequence_feature: hist_genres}", None, "sequence_feature 'hist_genres' of 'sasrec' must be a "
                                                        "sequence feature of the schema that shares the vocabulary"),
    ("fmlp_rec", "{sequence_feature: movie_id}", None, "sequence_feature 'movie_id' of 'fmlp_rec' must be a sequence"),
    ("sasrec", "{sequence_feature: hist_movies}", None, "sequence_feature 'hist_movies'"),
    ("sasrec", "{sequence_feature: recent_genres}", lambda text: text + RECENT_GENRES,
     "sequence_feature 'recent_genres' .* a categorical feature: each interaction's one item"),
    ("sasrec", "{}", lambda text: text.replace('name: "movie_id"\n', 'name: "movie_id"\n  annotation { tag: '
                                                                        '"zoo.num_buckets=1000" }\n', 1),
     "neither it nor 'movie_id' can be hashed"),
    ("sasrec", "{candidate_id: movie_id}", None, r"sasrec: unknown hyper-parameter\(s\) \['candidate_id'\]"),
])
def test_a_next_item_model_must_read_a_history_of_the_items_it_retrieves(tmp_path, model, hparams, schema_edit,
                                                                          message):
    schema = REPO / "schemas" / "movielens_history.pbtxt"
    if schema_edit:
        text = schema.read_text()
        edited = schema_edit(text)
        assert edited != text
        schema = tmp_path / "history.pbtxt"
        schema.write_text(edited)
    with pytest.raises(ConfigError, match=message):
        load_config(_task_config(tmp_path, "retrieval", schema, "movielens_history", model, hparams))


def test_the_shipped_next_item_config_retrieves_the_movie_its_history_shares_a_vocabulary_with():
    config, pipeline = _pipeline(REPO / "configs" / "movielens_next_item.yaml")
    by_id = {c.id: c for c in pipeline.components}
    assert config.model.name == "sasrec"
    assert by_id["Trainer"].exec_properties["run_fn"] == "pipelines.retrieval.run_fn"
    eval_config = json.loads(by_id["Evaluator"].exec_properties["eval_config"])
    assert eval_config["model_specs"][0]["label_key"] == "movie_id"
    gated = [m["class_name"] for m in eval_config["metrics_specs"][0]["metrics"] if m.get("per_slice_thresholds")]
    assert gated == ["RecallAtK"]


def test_the_retrieval_evaluator_ranks_the_interactions_item_and_gates_recall_at_100(tmp_path):
    _, pipeline = _pipeline(_retrieval_config(
        tmp_path, "{candidate_id: movie_id, query_features: [user_id, hist_movie_ids, release_year_bucket]}"))
    by_id = {c.id: c for c in pipeline.components}
    assert by_id["Trainer"].exec_properties["run_fn"] == "pipelines.retrieval.run_fn"
    eval_config = json.loads(by_id["Evaluator"].exec_properties["eval_config"])
    assert eval_config["model_specs"][0]["label_key"] == "movie_id"
    metrics = eval_config["metrics_specs"][0]["metrics"]
    assert [(m["class_name"], json.loads(m.get("config", "{}")).get("k")) for m in metrics] == [
        ("ExampleCount", None), ("RecallAtK", 10), ("NdcgAtK", 10), ("RecallAtK", 50), ("NdcgAtK", 50),
        ("RecallAtK", 100), ("NdcgAtK", 100)]
    gated = [(m["class_name"], m["config"]) for m in metrics if m.get("per_slice_thresholds")]
    assert gated == [("RecallAtK", '{"k": 100}')]


def test_baseline_resolver_feeds_the_evaluator_and_sets_a_change_threshold(config_file):
    _, pipeline = _pipeline(config_file("evaluation: {baseline: true, change_threshold: 0.01, slices: [weekday]}\n"))
    by_id = {c.id: c for c in pipeline.components}
    assert "LatestBlessedModelResolver" in by_id
    assert "baseline_model" in by_id["Evaluator"].inputs
    eval_config = by_id["Evaluator"].exec_properties["eval_config"]
    assert '"absolute": -0.01' in eval_config and '"direction": "HIGHER_IS_BETTER"' in eval_config
    assert '"feature_keys": [\n        "weekday"' in eval_config


def test_the_blessing_is_decided_on_the_overall_slice_and_without_a_baseline_by_min_auc_only():
    from pipelines.config import EvaluationConfig
    from pipelines.tasks import ranking_eval_config

    evaluation = EvaluationConfig(min_auc=0.6, slices=("hour",))
    (auc,) = [m for m in ranking_eval_config(evaluation, ["clicked"]).metrics_specs[0].metrics if m.class_name == "AUC"]
    (per_slice,) = auc.per_slice_thresholds
    assert list(per_slice.slicing_specs) == [type(per_slice.slicing_specs[0])()]  # the overall slice only
    assert per_slice.threshold.value_threshold.lower_bound.value == 0.6
    assert not per_slice.threshold.HasField("change_threshold")


@pytest.mark.parametrize("source, example_gen", [
    ("tfrecord", "ImportExampleGen"), ("parquet", "ParquetExampleGen"), ("csv", "CsvExampleGen")])
def test_input_formats_and_time_split(tmp_path, source, example_gen, config_file):
    for split in ("train", "eval"):
        (tmp_path / "files" / split).mkdir(parents=True, exist_ok=True)
    _, pipeline = _pipeline(config_file(f"data: {{source: {source}, path: files, split: time}}\n"))
    (component,) = [c for c in pipeline.components if c.id == example_gen]
    assert '"pattern": "train/*"' in component.exec_properties["input_config"]
    assert '"pattern": "eval/*"' in component.exec_properties["input_config"]


def test_time_split_keeps_every_eval_row_after_every_train_row():
    from pipelines.inputs import split_by_time

    frame = pd.DataFrame({"timestamp": [5, 1, 3, 2, 4, 4], "row": range(6)})
    train, held_out = split_by_time(frame, "timestamp", eval_share=0.34)
    # Sorted times 1 2 3 4 4 5; the cut is at index int(6 * 0.66) = 3, time 4: both 4s go to eval.
    assert sorted(train["timestamp"]) == [1, 2, 3] and sorted(held_out["timestamp"]) == [4, 4, 5]


def test_svg_plot_maps_points_into_the_frame():
    from pipelines.report import svg_plot

    svg = svg_plot("ROC", "fpr", "tpr", {"model": [(0.0, 0.0), (1.0, 1.0)]}, bounds=(0, 1, 0, 1))
    # 380 x 280 with margins left 55, right 10, top 28, bottom 40: (0, 0) -> (55, 240), (1, 1) -> (370, 28).
    assert "points='55.0,240.0 370.0,28.0'" in svg and svg.startswith("<svg") and svg.endswith("</svg>")


def test_dump_config_reads_back_equal(tmp_path, config_file):
    from pipelines.config import dump_config

    for text in ("evaluation: {baseline: true, slices: [weekday, hour]}\n",
                 "models: [{name: fm}, {name: dcn, hparams: {num_cross_layers: 1}}]\n"):
        config = load_config(config_file(text))
        (tmp_path / "dumped.yaml").write_text(dump_config(config))
        assert load_config(tmp_path / "dumped.yaml") == config


def test_transform_computes_its_own_statistics_only_when_asked(config_file):
    def disabled(text: str) -> int:
        _, pipeline = _pipeline(config_file(text))
        (transform,) = [c for c in pipeline.components if c.id == "Transform"]
        return transform.exec_properties["disable_statistics"]

    assert disabled("") == 0
    assert disabled("transform_statistics: false\n") == 1


def _image_config(tmp_path, hparams: str = "{}", schema: pathlib.Path = REPO / "schemas" / "digits_images.pbtxt"):
    return _task_config(tmp_path, "image_classification", schema, "digits", "densenet_bc_100", hparams)


def test_the_image_task_reads_tf_examples_decodes_in_transform_and_gates_on_accuracy(tmp_path):
    config, pipeline = _pipeline(_image_config(tmp_path))
    by_id = {c.id: c for c in pipeline.components}
    assert "ImportExampleGen" in by_id  # zoo writes the image folder as tf.Example TFRecords
    assert by_id["Transform"].exec_properties["preprocessing_fn"] == "pipelines.transform.preprocessing_fn"
    assert by_id["Trainer"].exec_properties["run_fn"] == "pipelines.images.run_fn"
    eval_config = json.loads(by_id["Evaluator"].exec_properties["eval_config"])
    assert eval_config["model_specs"][0]["label_key"] == "label"
    (spec,) = eval_config["metrics_specs"]
    gated = {m["class_name"]: m["per_slice_thresholds"][0]["threshold"]["value_threshold"]["lower_bound"]
             for m in spec["metrics"] if m.get("per_slice_thresholds")}
    assert gated == {"SparseCategoricalAccuracy": config.evaluation.min_accuracy}
    assert {m["class_name"] for m in spec["metrics"]} >= {"SparseTopKCategoricalAccuracy", "ExampleCount"}


def test_the_image_shape_and_classes_come_from_the_schema(tmp_path):
    with pytest.raises(ConfigError, match=r"hparams \['input_shape', 'num_classes'\] of 'densenet_bc_100' come "
                                          "from the schema"):
        load_config(_image_config(tmp_path, "{input_shape: [8, 8, 1], num_classes: 10}"))
    schema = tmp_path / "no_image.pbtxt"
    schema.write_text('feature { name: "pixels" type: BYTES }\n'
                      'feature { name: "label" type: INT int_domain { min: 0 max: 9 } '
                      'annotation { tag: "zoo.role=label" } }\n')
    with pytest.raises(ConfigError, match=r"needs one image feature .* it has images \[\] and labels \['label'\]"):
        load_config(_image_config(tmp_path, schema=schema))


def test_the_segmentation_task_gates_on_dice_of_the_probability_map(tmp_path):
    config_path = _task_config(tmp_path, "segmentation", REPO / "schemas" / "isbi_segmentation.pbtxt", "isbi", "unet",
                               "{depth: 2}")
    config, pipeline = _pipeline(config_path)
    by_id = {c.id: c for c in pipeline.components}
    assert by_id["Trainer"].exec_properties["run_fn"] == "pipelines.images.segmentation_run_fn"
    eval_config = json.loads(by_id["Evaluator"].exec_properties["eval_config"])
    assert eval_config["model_specs"][0]["label_key"] == "mask"
    (spec,) = eval_config["metrics_specs"]
    assert [m["class_name"] for m in spec["metrics"]] == ["ExampleCount", "Dice", "IoU", "MeanIoU", "PixelAccuracy"]
    assert [m["class_name"] for m in spec["metrics"] if m.get("per_slice_thresholds")] == ["Dice"]
    with pytest.raises(ConfigError, match="data.source 'isbi' holds images, for task segmentation, not "
                                          "'image_classification'"):
        load_config(_task_config(tmp_path, "image_classification", REPO / "schemas" / "digits_images.pbtxt", "isbi",
                                 "densenet_bc_100", "{}"))
    with pytest.raises(ConfigError, match="a label that is a mask"):
        load_config(_task_config(tmp_path, "segmentation", REPO / "schemas" / "digits_images.pbtxt", "isbi", "unet",
                                 "{}"))


def test_image_and_mask_folders_become_tf_examples_of_their_bytes(tmp_path):
    from pipelines.images import write_image_records, write_mask_records
    from zoo.backend import tf

    def read(path):
        return [{name: (f.bytes_list.value or f.int64_list.value)[0] for name, f in
                 tf.train.Example.FromString(record.numpy()).features.feature.items()}
                for record in tf.data.TFRecordDataset(str(path))]

    for relative, content in (("cat/b.png", b"png b"), ("cat/a.jpg", b"jpeg a"), ("ant/c.PNG", b"png c"),
                              ("cat/notes.txt", b"not an image")):
        (tmp_path / "folder" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "folder" / relative).write_bytes(content)
    assert read(write_image_records(tmp_path / "folder", tmp_path)) == [  # classes in name order: ant 0, cat 1
        {"image": b"png c", "label": 0}, {"image": b"jpeg a", "label": 1}, {"image": b"png b", "label": 1}]
    # the schema's class names (zoo.class_names) give the order instead, and must be the folders
    assert read(write_image_records(tmp_path / "folder", tmp_path, ("cat", "ant"))) == [
        {"image": b"jpeg a", "label": 0}, {"image": b"png b", "label": 0}, {"image": b"png c", "label": 1}]
    with pytest.raises(ValueError, match=r"must be the schema's class names \['cat', 'bee'\]; missing: \['bee'\], "
                                         r"not in the schema: \['ant'\]"):
        write_image_records(tmp_path / "folder", tmp_path, ("cat", "bee"))
    for relative, content in (("image/2.png", b"image 2"), ("mask/2.png", b"mask 2"), ("image/1.png", b"image 1"),
                              ("mask/1.png", b"mask 1")):
        (tmp_path / "masks" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "masks" / relative).write_bytes(content)
    assert read(write_mask_records(tmp_path / "masks", tmp_path)) == [
        {"image": b"image 1", "mask": b"mask 1"}, {"image": b"image 2", "mask": b"mask 2"}]
    (tmp_path / "masks" / "image" / "3.png").write_bytes(b"image 3")
    with pytest.raises(ValueError, match=r"these without a mask: \['3.png'\]"):
        write_mask_records(tmp_path / "masks", tmp_path)
