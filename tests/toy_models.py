"""Small SavedModels with known outputs for the serving tests: y = x / 2 + offset and friends."""
from pathlib import Path

import serving  # noqa: F401  (sets up the environment before TensorFlow loads)
from zoo.backend import tf

_EXAMPLE_SPEC = tf.TensorSpec([None], tf.string)


class Toy(tf.Module):
    """y = x / 2 + offset, in the shapes the REST API has to handle; ``offset`` tells versions apart."""

    def __init__(self, offset: float):
        super().__init__()
        self.offset = tf.Variable(offset)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def half_plus(self, x):
        return {"y": x / 2 + self.offset}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([None, 2], tf.int64)])
    def multi(self, a, b):
        return {"total": a + tf.cast(tf.reduce_sum(b, axis=1), tf.float32), "doubled": b * 2}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def strings(self, text):
        return {"upper": tf.strings.upper(text), "echo_bytes": text, "length": tf.strings.length(text)}

    @tf.function(input_signature=[_EXAMPLE_SPEC])
    def regress(self, examples):
        features = tf.io.parse_example(
            examples,
            {
                "x": tf.io.FixedLenFeature([], tf.float32),
                "w": tf.io.FixedLenFeature([], tf.float32, default_value=1.0),
            },
        )
        return {"prediction": features["w"] * features["x"] / 2 + self.offset}

    @tf.function(input_signature=[_EXAMPLE_SPEC])
    def classify(self, examples):
        x = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([], tf.float32)})["x"]
        classes = tf.tile(tf.constant([["pos", "neg"]]), [tf.shape(x)[0], 1])
        return {"scores": tf.stack([x / 10, 1 - x / 10], axis=1), "classes": classes}


def export_toy(path: Path, offset: float) -> None:
    toy = Toy(offset)
    signatures = {
        "serving_default": toy.half_plus,
        "multi": toy.multi,
        "strings": toy.strings,
        "regress_x": toy.regress,
        "classify_x": toy.classify,
    }
    tf.saved_model.save(toy, str(path), signatures=signatures)
