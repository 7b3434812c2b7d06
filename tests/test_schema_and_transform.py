"""The schema -> Transform -> FeatureSpec chain: roles from tags, ids, padding, scaling."""
from __future__ import annotations

import numpy as np
import pytest

import zoo
from pipelines.transform import raw_serving_spec
from zoo.backend import tf
from zoo.data.from_schema import to_example
from zoo.features import FeatureError, FeatureSpec
from zoo.schema import SchemaError, parse_schema, schema_features


def test_schema_features_kinds_from_types_and_tags(contract_schema):
    kinds = {f.name: f.kind for f in schema_features(contract_schema)}
    assert kinds == {"user": "categorical", "item": "categorical", "city": "categorical", "tags": "sequence",
                     "history": "sequence", "history_gaps": "sequence", "price": "numeric", "age": "numeric", "ts": "passthrough",
                     "label": "label"}
    by_name = {f.name: f for f in schema_features(contract_schema)}
    assert by_name["city"].hashed and by_name["tags"].delimiter == "|" and by_name["history"].max_len == 5
    assert by_name["price"].bucket_feature == "price_bucket" and not by_name["price"].required


@pytest.mark.parametrize("text, message", [
    ('feature { name: "s" type: BYTES annotation { tag: "zoo.delimiter=|" } }', "needs a zoo.max_len"),
    ('feature { name: "s" type: BYTES annotation { tag: "zoo.colour=red" } }', "bad tag"),
    ('feature { name: "s" type: BYTES annotation { tag: "zoo.role=target" } }', "zoo.role must be"),
    ('feature { name: "s" type: BYTES annotation { tag: "zoo.max_len=-3" } }', "positive integer"),
    ('feature { name: "s" type: BYTES annotation { tag: "zoo.kind=numeric" } }', "cannot be numeric"),
    ('feature { name: "s" type: BYTES annotation { tag: "zoo.kind=image" } }', "an image is one BYTES value"),
    ('feature { name: "s" type: INT annotation { tag: "zoo.kind=image" tag: "zoo.image_shape=8x8x1" } }',
     "an image is one BYTES value"),
    ('feature { name: "s" type: BYTES annotation { tag: "zoo.image_shape=8x8x1" } }', "only images and mask labels"),
    ('feature { name: "s" type: INT annotation { tag: "zoo.role=label" tag: "zoo.image_shape=8x8x1" } }',
     "only images and mask labels"),
    ('feature { name: "s" type: BYTES annotation { tag: "zoo.role=label" tag: "zoo.image_shape=8x8x3" } }',
     "a mask label has one channel"),
    ('feature { name: "s" type: BYTES annotation { tag: "zoo.kind=image" tag: "zoo.image_shape=8x8x2" } }',
     "HxWxC with C 1, 3 or 4"),
    ('feature { name: "s" type: BYTES annotation { tag: "zoo.kind=image" tag: "zoo.image_shape=8x8" } }',
     "HxWxC with C 1, 3 or 4"),
    ('feature { name: "s" type: INT int_domain { min: 1 max: 3 } annotation { tag: "zoo.role=label" '
     'tag: "zoo.class_names=a,b,c" } }', "names the classes of a class-index label"),
    ('feature { name: "s" type: INT int_domain { min: 0 max: 2 } annotation { tag: "zoo.class_names=a,b,c" } }',
     "names the classes of a class-index label"),
    ('feature { name: "s" type: INT int_domain { min: 0 max: 2 } annotation { tag: "zoo.role=label" '
     'tag: "zoo.class_names=a,b" } }', "needs 3 distinct non-empty names"),
    ('feature { name: "s" type: INT int_domain { min: 0 max: 2 } annotation { tag: "zoo.role=label" '
     'tag: "zoo.class_names=a,b,a" } }', "needs 3 distinct non-empty names"),
    ('feature { name: "s" type: INT int_domain { min: 0 max: 2 } annotation { tag: "zoo.role=label" '
     'tag: "zoo.class_names=a,,c" } }', "needs 3 distinct non-empty names"),
])
def test_schema_errors_name_the_feature_and_the_problem(text, message):
    with pytest.raises(SchemaError, match=message):
        schema_features(parse_schema(text))


def test_a_multi_task_schema_lists_its_labels_in_order_and_serving_parses_none():
    from zoo.schema import label_name, label_names

    schema = parse_schema('feature { name: "x" type: FLOAT }'
                          'feature { name: "b" type: INT annotation { tag: "zoo.role=label" } }'
                          'feature { name: "a" type: INT annotation { tag: "zoo.role=label" } }')
    features = schema_features(schema)
    assert label_names(features) == ["b", "a"] and label_name(features) == "b"
    assert set(raw_serving_spec(schema)) == {"x"}


def test_a_label_is_a_class_index_when_its_domain_is_0_to_n_minus_1_and_otherwise_a_regression_target():
    from zoo.schema import BINARY, MULTICLASS, REGRESSION, label_types

    labelled = 'annotation { tag: "zoo.role=label" } }'
    schema = parse_schema(f'feature {{ name: "clicked" type: INT int_domain {{ min: 0 max: 1 }} {labelled}'
                          f'feature {{ name: "grade" type: INT int_domain {{ min: 1 max: 16 }} {labelled}'
                          f'feature {{ name: "count" type: INT int_domain {{ min: 0 }} {labelled}'
                          f'feature {{ name: "rating" type: FLOAT float_domain {{ min: 0 max: 1 }} {labelled}'
                          f'feature {{ name: "plain" type: INT {labelled}'
                          f'feature {{ name: "digit" type: INT int_domain {{ min: 0 max: 9 }} {labelled}'
                          'feature { name: "x" type: INT int_domain { min: 0 max: 1 } }')
    assert label_types(schema_features(schema)) == {
        "clicked": BINARY, "grade": REGRESSION, "count": REGRESSION, "rating": REGRESSION, "plain": REGRESSION,
        "digit": MULTICLASS}
    assert [f.num_classes for f in schema_features(schema)] == [2, None, None, None, None, 10, None]
    assert schema_features(schema)[-1].label_type is None


def test_an_image_feature_and_a_class_index_label():
    schema = parse_schema('feature { name: "photo" type: BYTES '
                          'annotation { tag: "zoo.kind=image" tag: "zoo.image_shape=24x32x3" } }'
                          'feature { name: "label" type: INT int_domain { min: 0 max: 9 } '
                          'annotation { tag: "zoo.role=label" } }'
                          'feature { name: "score" type: INT int_domain { min: 1 max: 5 } '
                          'annotation { tag: "zoo.role=label" } }')
    photo, label, score = schema_features(schema)
    assert (photo.kind, photo.image_shape) == ("image", (24, 32, 3))
    assert (label.num_classes, label.label_type) == (10, "multiclass") and score.num_classes is None
    assert label.class_names is None
    named = parse_schema('feature { name: "clicked" type: INT int_domain { min: 0 max: 1 } '
                         'annotation { tag: "zoo.role=label" tag: "zoo.class_names=skipped,clicked" } }')
    assert schema_features(named)[0].class_names == ("skipped", "clicked")
    from zoo.schema import class_names

    assert class_names(schema_features(named)) == ("skipped", "clicked")  # the first label's, by default
    assert class_names(schema_features(schema), "score") is None and class_names(schema_features(schema)) is None


def test_images_decode_to_the_schema_shape_in_0_to_1_resized_bilinearly():
    from pipelines.transform import decode_images

    # A 1x2 grey PNG, black then white; resized to 1x4 with half-pixel centers, the new pixels sit at
    # x = -0.25, 0.25, 0.75, 1.25 of the old grid (clamped at the edges): 0, 0.25, 0.75, 1.
    png = tf.io.encode_png(tf.constant([[[0], [255]]], tf.uint8))
    grey = decode_images(tf.stack([png, png]), (1, 4, 1)).numpy()
    assert grey.shape == (2, 1, 4, 1) and grey.dtype == np.float32
    np.testing.assert_allclose(grey[0, 0, :, 0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    rgb = decode_images(tf.stack([png]), (1, 2, 3)).numpy()  # grey to three equal channels
    np.testing.assert_allclose(rgb[0, 0], [[0.0] * 3, [1.0] * 3], atol=1e-6)


def test_a_mask_label_decodes_to_0_and_1_at_128_and_above_without_new_grey_levels():
    from pipelines.transform import decode_masks
    from zoo.schema import MASK, label_types

    schema = parse_schema('feature { name: "image" type: BYTES '
                          'annotation { tag: "zoo.kind=image" tag: "zoo.image_shape=4x4x1" } }'
                          'feature { name: "mask" type: BYTES '
                          'annotation { tag: "zoo.role=label" tag: "zoo.image_shape=4x4x1" } }')
    features = schema_features(schema)
    assert label_types(features) == {"mask": MASK} and features[1].image_shape == (4, 4, 1)
    # 1x2 grey: 127 is background, 128 foreground; upsampled to 1x4 each pixel is repeated, never blended.
    png = tf.io.encode_png(tf.constant([[[127], [128]]], tf.uint8))
    mask = decode_masks(tf.stack([png]), (1, 4, 1)).numpy()
    np.testing.assert_array_equal(mask[0, 0, :, 0], [0.0, 0.0, 1.0, 1.0])


_MASK_SCHEMA = ('feature { name: "image" type: BYTES annotation { tag: "zoo.kind=image" tag: "zoo.image_shape=4x4x1" } }'
                'feature { name: "mask" type: BYTES annotation { tag: "zoo.role=label" tag: "zoo.image_shape=4x4x1" '
                'TAGS } }')


def test_a_mask_of_n_classes_decodes_its_pixel_values_as_class_ids():
    from pipelines.transform import check_class_ids, decode_masks

    features = schema_features(parse_schema(_MASK_SCHEMA.replace("TAGS", 'tag: "zoo.mask_classes=3"')))
    assert features[1].num_classes == 3
    assert schema_features(parse_schema(_MASK_SCHEMA.replace("TAGS", "")))[1].num_classes == 2  # foreground/background
    png = tf.io.encode_png(tf.constant([[[0], [2], [1]]], tf.uint8))  # 1x3 class ids
    mask = decode_masks(tf.stack([png]), (1, 6, 1), classes=3).numpy()
    np.testing.assert_array_equal(mask[0, 0, :, 0], [0, 0, 2, 2, 1, 1])  # nearest: no blended ids
    beyond = decode_masks(tf.stack([tf.io.encode_png(tf.constant([[[3]]], tf.uint8))]), (1, 1, 1), classes=3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a class id 0-2"):
        check_class_ids(beyond, 3)
    np.testing.assert_array_equal(check_class_ids(tf.constant(mask), 3).numpy(), mask)


@pytest.mark.parametrize("tags, message", [
    ('tag: "zoo.mask_classes=2"', "must be 3 to 256"),  # 2 is a mask's default meaning: 128 and above
    ('tag: "zoo.mask_classes=257"', "must be 3 to 256"),
    ('tag: "zoo.mask_classes=x"', "positive integer"),
])
def test_mask_classes_errors(tags, message):
    with pytest.raises(SchemaError, match=message):
        schema_features(parse_schema(_MASK_SCHEMA.replace("TAGS", tags)))


def test_mask_classes_belong_to_mask_labels():
    with pytest.raises(SchemaError, match="counts the classes of a mask label"):
        schema_features(parse_schema('feature { name: "y" type: INT int_domain { min: 0 max: 2 } '
                                     'annotation { tag: "zoo.role=label" tag: "zoo.mask_classes=3" } }'))


def test_every_shipped_schema_traces_its_transform_in_one_process():
    """Several pipelines in one process (a notebook, this test run) trace their Transforms one after
    another; TFT's lookup tables must not clash by name across schemas (MovieLens' third vocabulary is
    int64 where Adult's is string)."""
    import pathlib

    from google.protobuf import text_format
    from tensorflow_transform import impl_helper, inspect_preprocessing_fn
    from tensorflow_transform.tf_metadata import schema_utils

    from pipelines.transform import SCHEMA_KEY, preprocessing_fn
    from zoo.schema import load_schema

    paths = sorted((pathlib.Path(__file__).parents[1] / "schemas").glob("*.pbtxt"))
    assert len(paths) >= 5
    for path in paths:
        schema = load_schema(path)
        config = {SCHEMA_KEY: text_format.MessageToString(schema)}
        specs = impl_helper.get_type_specs_from_feature_specs(schema_utils.schema_as_feature_spec(schema).feature_spec)
        def transform(inputs, config=config):
            return preprocessing_fn(inputs, config)

        analyzed = inspect_preprocessing_fn.get_analyze_input_columns(transform, specs)
        used = inspect_preprocessing_fn.get_transform_input_columns(transform, specs)
        assert used and set(analyzed) <= set(used), path.name  # an image schema has nothing to analyze


def test_feature_spec_sizes_reserve_missing_and_oov_ids(contract_schema, contract_data):
    spec = contract_data["spec"]
    vocab = contract_data["transform_output"].vocabulary_size_by_name
    sizes = {f.name: getattr(f, "vocab_size", None) for f in spec.features}
    assert sizes["user"] == vocab("user") + 2 and sizes["tags"] == vocab("tags") + 2
    assert sizes["city"] == 16 + 1 and sizes["price_bucket"] == 4 + 1
    assert spec.label == "label" and "ts" not in spec.names
    assert FeatureSpec.from_config(spec.to_config()) == spec


def test_feature_spec_rejects_duplicates_and_missing_vocabularies(contract_schema):
    with pytest.raises(FeatureError, match="duplicate"):
        FeatureSpec((zoo.NumericFeature("a"), zoo.NumericFeature("a")))
    with pytest.raises(FeatureError, match="no vocabulary size"):
        FeatureSpec.from_schema(contract_schema, {})


@pytest.fixture(scope="module")
def transform(contract_data, contract_schema):
    def apply(rows):
        serialized = tf.constant([to_example(r).SerializeToString() for r in rows])
        raw = tf.io.parse_example(serialized, raw_serving_spec(contract_schema))
        out = contract_data["transform_output"].transform_raw_features(raw, drop_unused_features=True)
        return {k: v.numpy() for k, v in out.items()}
    return apply


BASE = {"user": "user_1", "item": 3, "age": 40, "ts": 0}


def test_categorical_ids_known_unknown_and_missing(transform, contract_data):
    sizes = {f.name: getattr(f, "vocab_size", None) for f in contract_data["spec"].features}
    out = transform([BASE, {**BASE, "user": "never-seen", "city": "anywhere"}])
    assert 1 <= out["user"][0] < sizes["user"] - 1
    assert out["user"][1] == sizes["user"] - 1  # the out-of-vocabulary id
    assert out["city"][0] == 0  # missing
    assert 1 <= out["city"][1] <= 16  # hashed


def test_sequences_split_drop_empty_truncate_and_pad(transform, contract_data):
    sizes = {f.name: getattr(f, "vocab_size", None) for f in contract_data["spec"].features}
    out = transform([
        {**BASE, "tags": "tags_1||tags_2", "history": [1, 2, 3, 4, 5, 6, 7]},
        {**BASE, "tags": "tags_1|tags_2|tags_3|tags_4|tags_5|zzz"},
        BASE,
    ])
    assert out["tags"].shape == (3, 4) and out["history"].shape == (3, 5)
    assert np.all(out["tags"][0][:2] > 0) and np.all(out["tags"][0][2:] == 0)  # empty token dropped, padded
    assert np.all(out["tags"][1] > 0) and sizes["tags"] - 1 not in out["tags"][1]  # truncated before 'zzz'
    assert np.all(out["history"][0] > 0)  # 7 values truncated to 5
    assert np.all(out["tags"][2] == 0) and np.all(out["history"][2] == 0)  # missing -> all padding


def test_shared_vocabulary_gives_equal_values_equal_ids(transform, contract_data):
    by_name = {f.name: f for f in contract_data["spec"].features}
    assert by_name["history"].shares == "item" and by_name["history"].vocab_size == by_name["item"].vocab_size
    out = transform([{**BASE, "item": 3, "history": [3, 7, 999]}, {**BASE, "item": 7}])
    assert out["history"][0][0] == out["item"][0] and out["history"][0][1] == out["item"][1]
    assert out["history"][0][2] == by_name["item"].vocab_size - 1  # unseen by item's vocabulary: OOV


@pytest.mark.parametrize("text, message", [
    ('feature { name: "a" type: INT int_domain { is_categorical: true } }'
     'feature { name: "b" type: INT annotation { tag: "zoo.shares=c" tag: "zoo.max_len=2" } }', "must name"),
    ('feature { name: "a" type: BYTES }'
     'feature { name: "b" type: INT annotation { tag: "zoo.shares=a" tag: "zoo.max_len=2" } }', "cannot share"),
    ('feature { name: "a" type: BYTES }'
     'feature { name: "b" type: BYTES annotation { tag: "zoo.shares=a" tag: "zoo.qr_collisions=4" } }',
     "takes its vocabulary"),
])
def test_schema_sharing_errors(text, message):
    with pytest.raises(SchemaError, match=message):
        schema_features(parse_schema(text))


def test_numeric_z_score_mean_fill_and_buckets(transform, contract_data):
    ages = np.array([r["age"] for r in contract_data["rows"]], np.float64)
    prices = np.array([r["price"][0] for r in contract_data["rows"] if "price" in r], np.float64)
    out = transform([{**BASE, "age": 50, "price": [float(prices.mean())]}, BASE])
    np.testing.assert_allclose(out["age"][0], (50 - ages.mean()) / ages.std(), rtol=1e-4)
    np.testing.assert_allclose(out["price"], [0.0, 0.0], atol=1e-4)  # the mean, given or filled in
    assert 1 <= out["price_bucket"][0] <= 4 and out["price_bucket"][1] == 0  # 0 = missing
