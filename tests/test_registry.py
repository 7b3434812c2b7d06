"""The registry, model cards and the CLI that shows them."""
from __future__ import annotations

import importlib
import inspect
import pathlib
import subprocess
import sys

import pytest

import zoo
from zoo.cli import main
from zoo.features import FeatureError

SPEC = zoo.FeatureSpec((zoo.CategoricalFeature("user", 10), zoo.CategoricalFeature("item", 12),
                        zoo.NumericFeature("age")), label="y")

# Behaviour-sequence models read a history of items (sharing item's table) and its time gaps.
HISTORY_SPEC = zoo.FeatureSpec(SPEC.features + (zoo.SequenceFeature("history", 12, max_len=3, shares="item"),
                                                zoo.SequenceFeature("gaps", 5, max_len=3)), label="y")
SMALL = {"hidden_units": (4,), "history_feature": "history", "sequence_feature": "history",
         "candidate_feature": "item", "time_feature": "gaps"}


def test_list_models_sorted_and_filtered():
    names = zoo.list_models()
    assert names == sorted(names) and {"wide_deep", "deepfm", "dcn_v2"} <= set(names)
    assert zoo.list_models("dcn*") == ["dcn", "dcn_mix", "dcn_v2"]
    assert zoo.list_models(family="deepfm") == ["deepfm"]
    ranking = zoo.list_models(task="ranking")
    assert {"wide_deep", "deepfm"} <= set(ranking) <= set(names)
    assert all(zoo.get_card(name).task == "ranking" for name in ranking)
    assert zoo.list_models(task="no-such-task") == []


@pytest.mark.parametrize("name", zoo.list_models())
def test_card_is_complete_and_cited_in_the_docstring(name):
    card = zoo.get_card(name)
    assert card.name == name and card.family and card.task and card.paper.title
    assert card.loss and card.metrics and card.outputs and card.inputs
    module_name, _, class_name = card.model_class.rpartition(".")
    model_class = getattr(importlib.import_module(module_name), class_name)
    if zoo.registry.TASKS[card.task].uses_features:
        small = {k: v for k, v in SMALL.items() if k in card.defaults}
        spec = HISTORY_SPEC if card.inputs.get("sequence") == "required" else SPEC
        assert type(zoo.create(name, spec, **small)) is model_class
    doc = inspect.getdoc(model_class)
    assert card.paper.citation in doc, "the docstring must cite the paper"
    accepted = inspect.signature(model_class.__init__).parameters
    assert set(card.defaults) <= set(accepted)


def test_unknown_name_lists_closest_matches():
    with pytest.raises(zoo.UnknownModelError, match="deepfm"):
        zoo.create("deepfn", SPEC)


def test_registering_a_name_twice_is_an_error():
    from zoo.models.deepfm import DeepFM

    def deepfm(features):  # the name of an already registered variant
        return DeepFM(features)

    register = zoo.register_model(family="deepfm", task="ranking", paper=zoo.Paper("t", "0"),
                                  model_class=DeepFM, defaults={}, inputs={})
    with pytest.raises(ValueError, match="already registered"):
        register(deepfm)


def test_unknown_hyper_parameter_is_rejected_with_the_accepted_ones():
    with pytest.raises(TypeError, match="embedding_dim"):
        zoo.create("deepfm", SPEC, embeding_dim=4)


def test_overrides_replace_defaults():
    model = zoo.create("dcn_v2", SPEC, num_cross_layers=1, hidden_units=(4,), structure="parallel")
    assert (model.num_cross_layers, model.hidden_units, model.structure) == (1, (4,), "parallel")
    assert model.embedding_dim == zoo.get_card("dcn_v2").defaults["embedding_dim"]


def test_missing_required_feature_kind_names_it():
    numeric_only = zoo.FeatureSpec((zoo.NumericFeature("age"),))
    with pytest.raises(FeatureError, match="needs at least one categorical feature"):
        zoo.create("deepfm", numeric_only)


@pytest.mark.parametrize("name, args", [("wide_deep", (SPEC,)), ("unet", ())])  # the two base classes
def test_compile_builds_the_optimizer_so_the_train_step_is_traced_once(name, args):
    import numpy as np

    from zoo.backend import keras

    model = zoo.create(name, *args, **({"hidden_units": (4,)} if args else {"depth": 1, "base_filters": 2}))
    model.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")
    slots = {v.name for v in model.optimizer.variables}  # Adam: a first and a second moment per variable
    assert len(slots) == 1 + 2 * len(model.trainable_variables)
    if args:
        data = {"user": np.array([1, 2]), "item": np.array([3, 4]), "age": np.array([0.5, -0.5])}, np.array([0, 1])
    else:
        data = np.zeros((2, 8, 8, 1), np.float32), np.ones((2, 8, 8, 1), np.float32)
    model.fit(*data, batch_size=2, epochs=2, verbose=0)
    assert model.train_function.experimental_get_tracing_count() == 1
    # A legacy optimizer has no build; Keras creates its slots in the first step, as before.
    legacy = zoo.create(name, *args, **({"hidden_units": (4,)} if args else {"depth": 1, "base_filters": 2}))
    legacy.compile(optimizer=keras.optimizers.legacy.Adam(), loss="binary_crossentropy")
    assert not legacy.optimizer.variables()
    assert np.isfinite(legacy.fit(*data, batch_size=2, epochs=1, verbose=0).history["loss"][0])


def test_create_accepts_a_feature_spec_config():
    model = zoo.create("wide_deep", SPEC.to_config(), hidden_units=(4,))
    assert model.features == SPEC


def test_cli_models_list_prints_a_table(capsys):
    assert main(["models", "list", "d*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "family", "task", "paper"]
    assert [line.split()[0] for line in lines[2:]] == zoo.list_models("d*")
    assert any("arXiv:1703.04247" in line for line in lines)


def test_cli_models_show_prints_card_and_defaults(capsys):
    assert main(["models", "show", "dcn_v2"]) == 0
    out = capsys.readouterr().out
    assert "2008.13535" in out and "num_cross_layers = 3" in out and "binary_crossentropy" in out
    assert main(["models", "show", "dcn_v3"]) == 2
    assert "dcn_v2" in capsys.readouterr().err


def test_console_script_is_installed():
    zoo_script = pathlib.Path(sys.executable).parent / "zoo"
    result = subprocess.run([str(zoo_script), "models", "list", "wide*"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "wide_deep" in result.stdout and "1606.07792" in result.stdout
