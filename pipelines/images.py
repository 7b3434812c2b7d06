"""The image classification task: its input (an image folder as tf.Examples) and its Trainer.

An image folder holds one sub-folder per class, ``<folder>/<class>/<image>``, with PNG, JPEG, GIF or
BMP files; classes are numbered in sorted order of their folder names (as Keras'
``image_dataset_from_directory`` does; ``image_folder_classes`` lists them, and the run prints them).
Each image becomes a tf.Example ``{image: encoded bytes, label: class index}``, so ExampleGen reads
TFRecords and Transform decodes (``pipelines.transform.decode_images``); the pushed model takes the
encoded bytes.
"""
from __future__ import annotations

import pathlib

from tfx import v1 as tfx

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
RECORDS_FILE = "images.tfrecord"


def image_folder_classes(folder: str | pathlib.Path) -> list[str]:
    """The class names of an image folder, in label order; raises ``ValueError`` when it holds none."""
    classes = sorted(path.name for path in pathlib.Path(folder).iterdir() if path.is_dir())
    if not classes:
        raise ValueError(f"image folder {folder} has no class sub-folders (<folder>/<class>/<image>)")
    return classes


def write_image_records(folder: str | pathlib.Path, out_dir: pathlib.Path) -> pathlib.Path:
    """Writes every image of ``folder`` as a tf.Example to ``out_dir/images.tfrecord``, in a fixed
    order (class, then file name) so that equal folders give equal files; returns the records' path."""
    from zoo.backend import tf

    classes = image_folder_classes(folder)
    path = out_dir / RECORDS_FILE
    with tf.io.TFRecordWriter(str(path)) as writer:
        for label, name in enumerate(classes):
            for image in sorted(pathlib.Path(folder, name).iterdir()):
                if image.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                writer.write(tf.train.Example(features=tf.train.Features(feature={
                    "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.read_bytes()])),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                })).SerializeToString())
    return path


def write_digits_folder(folder: pathlib.Path) -> pathlib.Path:
    """scikit-learn's handwritten digits (1,797 real 8x8 grey images) as an image folder of PNGs,
    ``<folder>/<digit>/<index>.png``, pixel values 0-16 scaled to 0-255."""
    import numpy as np
    from sklearn.datasets import load_digits

    from zoo.backend import tf

    digits = load_digits()
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]
    for index, (image, label) in enumerate(zip(pixels, digits.target)):
        path = folder / str(label) / f"{index:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tf.io.encode_png(image).numpy())
    return folder


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Image classifiers: trained with sparse categorical cross-entropy on the class index, with random
    shifts of up to an eighth of the image at training only, and exported by ``pipelines.export``
    with the decoding inside, so serving takes encoded images."""
    import zoo
    from pipelines.export import export_serving_model
    from pipelines.trainer import TrainingRun
    from zoo.backend import keras, tf
    from zoo.layers.vision import set_batch_norm_momentum
    from zoo.schema import IMAGE, LABEL, schema_features

    run = TrainingRun(fn_args)
    features = schema_features(run.schema)
    (image,) = [f for f in features if f.kind == IMAGE]
    label = next(f for f in features if f.kind == LABEL)
    shift = keras.layers.RandomTranslation(1 / 8, 1 / 8, fill_mode="constant", seed=run.config["seed"])

    def training_element(batch):
        return shift(batch[image.name], training=True), batch[label.name]

    def element(batch):
        return batch[image.name], batch[label.name]

    with run.strategy.scope():
        model = zoo.create(run.config["model_name"], input_shape=image.image_shape, num_classes=label.num_classes,
                           **run.config["hparams"])
        if run.config.get("batch_norm_momentum") is not None:
            set_batch_norm_momentum(model, run.config["batch_norm_momentum"])
        model.compile(optimizer=run.optimizer(), loss="sparse_categorical_crossentropy",
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    run.fit(model, element, training_element=training_element)
    export_serving_model(model, run.transform_output, run.schema, run.export_dir, card=run.card,
                         inputs={"image": image.name})
    tf.keras.backend.clear_session()
