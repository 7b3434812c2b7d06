"""Session-wide fixtures: one TensorFlow import, one Transform fit shared by all model tests."""
from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

import zoo  # noqa: F401  (selects Keras 2 before anything imports TensorFlow)

TESTS = pathlib.Path(__file__).parent
REPO = TESTS.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def contract_schema():
    from zoo.schema import load_schema

    return load_schema(TESTS / "schemas" / "contract.pbtxt")


@pytest.fixture(scope="session")
def contract_data(contract_schema, tmp_path_factory):
    """Synthetic raw rows for the contract schema, their Transform output and their tf.Examples."""
    from pipelines.transform import feature_spec, fit_in_memory, raw_serving_spec
    from zoo.backend import tf
    from zoo.data.from_schema import synthetic_rows, to_example

    rows = synthetic_rows(contract_schema, 256, seed=7)
    transform_output = fit_in_memory(rows, contract_schema, str(tmp_path_factory.mktemp("transform")))
    spec = feature_spec(contract_schema, transform_output)
    serialized = tf.constant([to_example(r).SerializeToString() for r in rows])
    raw = tf.io.parse_example(serialized, raw_serving_spec(contract_schema))
    transformed = transform_output.transform_raw_features(raw, drop_unused_features=True)
    inputs = {name: transformed[name] for name in spec.names}
    labels = np.array([r["label"] for r in rows], dtype=np.float32)
    return dict(rows=rows, spec=spec, transform_output=transform_output, serialized=serialized,
                inputs=inputs, labels=labels)


@pytest.fixture(scope="session")
def movielens_dir():
    path = SHARED_DATA / "movielens-latest-small"
    if not (path / "ratings.csv").exists():
        pytest.fail(f"the shared MovieLens copy is missing at {path}; see ../shared/data/README.md")
    return path


@pytest.fixture(scope="session")
def adult_regression_schema(tmp_path_factory) -> pathlib.Path:
    """schemas/adult_multitask.pbtxt with a third label, education_num (INT, 1 to 16): a regression target."""
    text = (REPO / "schemas" / "adult_multitask.pbtxt").read_text()
    declared = 'name: "education_num"\n  type: INT\n  int_domain { min: 1 max: 16 }\n'
    assert declared in text
    path = tmp_path_factory.mktemp("schemas") / "adult_regression.pbtxt"
    path.write_text(text.replace(declared, declared + '  annotation { tag: "zoo.role=label" }\n'))
    return path


@pytest.fixture(scope="module")
def summary(config):
    """The run of the requesting module's ``config``: one pipeline run that the module's tests share."""
    from pipelines.run import run_pipeline

    return run_pipeline(config, echo=lambda line: None)


@pytest.fixture(scope="session")
def read_eval_split():
    """``(config, ExampleGen's id)`` -> every serialized tf.Example of a pipeline run's eval split."""
    from pipelines.push import read_split

    def read(config, example_gen: str) -> list[bytes]:
        (split,) = pathlib.Path(config.pipeline_root, example_gen, "examples").glob("*/Split-eval")
        return read_split(str(split))

    return read


@pytest.fixture(scope="module")
def small_image_config(tmp_path_factory):
    """``(name, shape)`` -> the shipped ``configs/<name>.yaml`` with its schema's images (and masks) at
    ``shape``, e.g. "16x16x1", so that a test network is small; output in a fresh directory."""
    from pipelines.config import load_config

    def make(name: str, shape: str):
        out = tmp_path_factory.mktemp(name)
        config = load_config(REPO / "configs" / f"{name}.yaml", output_dir=str(out / "run"))
        text = pathlib.Path(config.schema).read_text()
        (declared,) = set(re.findall(r"zoo\.image_shape=([0-9x]+)", text))  # one shape for images and masks
        schema = out / f"{name}.pbtxt"
        schema.write_text(text.replace(f"zoo.image_shape={declared}", f"zoo.image_shape={shape}"))
        return config.replace(schema=str(schema))

    return make


@pytest.fixture
def config_file(tmp_path):
    """Writes a minimal pipeline config plus the given YAML text to ``tmp_path/c.yaml``; returns its path."""
    def write(text: str) -> pathlib.Path:
        path = tmp_path / "c.yaml"
        path.write_text(f"pipeline_name: p\nschema: {REPO}/schemas/movielens_ctr.pbtxt\n"
                        f"output_dir: out\nserving_model_name: m\n{text}")
        return path

    return write


def _worker_group(item) -> str:
    """The test's module, plus the parameters of the module-scoped fixtures it uses.

    `make test` runs two pytest-xdist workers with ``--dist loadgroup``: tests sharing an expensive
    module fixture (a pipeline run, a trained model of one kind) must stay on one worker, while
    different parameters of one module (the contract test's models) may go to either.
    """
    key = [item.nodeid.split("::")[0]]
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        for name in sorted(callspec.params):
            definitions = item._fixtureinfo.name2fixturedefs.get(name, ())
            if definitions and definitions[-1].scope != "function":
                key.append(str(callspec.params[name]))
    return "::".join(key)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    # The slow tests (pipelines, servers) go first so that the two workers finish together rather
    # than one of them starting a ten-minute pipeline while the other is idle.
    # Whole modules move, so that a module-scoped fixture is still built once per worker.
    slow_modules = {item.module for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module not in slow_modules)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_worker_group(item)))
