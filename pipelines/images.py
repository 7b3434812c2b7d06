"""The image tasks: their inputs (image folders as tf.Examples) and their Trainers.

An image folder holds one sub-folder per class, ``<folder>/<class>/<image>``, with PNG, JPEG, GIF or
BMP files; classes are numbered in sorted order of their folder names (as Keras'
``image_dataset_from_directory`` does), or in the order of the schema's ``zoo.class_names`` where the
label has them (``image_folder_classes`` lists them, and the run prints them).
Each image becomes a tf.Example ``{image: encoded bytes, label: class index}``, so ExampleGen reads
TFRecords and Transform decodes (``pipelines.transform.decode_images``); the pushed model takes the
encoded bytes. A mask folder, for segmentation, holds ``<folder>/image/<name>`` and the grey mask
``<folder>/mask/<name>`` of each image (pixels of 128 and above are the foreground, or, for a
``zoo.mask_classes=N`` label, pixel values are the class ids); its tf.Examples are ``{image, mask}``.
"""
from __future__ import annotations

import pathlib
from typing import Sequence

from tfx import v1 as tfx

from zoo.data.from_schema import to_record

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
RECORDS_FILE = "images.tfrecord"


def image_folder_classes(folder: str | pathlib.Path, class_names: Sequence[str] | None = None) -> list[str]:
    """The class names of an image folder, in label order: ``class_names`` (the schema's, which must be
    the sub-folders' names), else the sub-folders' names sorted. Raises ``ValueError`` when it holds no
    class, or other classes than ``class_names``."""
    found = sorted(path.name for path in pathlib.Path(folder).iterdir() if path.is_dir())
    if not found:
        raise ValueError(f"image folder {folder} has no class sub-folders (<folder>/<class>/<image>)")
    if class_names is None:
        return found
    if set(found) != set(class_names):
        raise ValueError(f"image folder {folder}: its class sub-folders must be the schema's class names "
                         f"{list(class_names)}; missing: {sorted(set(class_names) - set(found))}, "
                         f"not in the schema: {sorted(set(found) - set(class_names))}")
    return list(class_names)


def write_image_records(folder: str | pathlib.Path, out_dir: pathlib.Path,
                        class_names: Sequence[str] | None = None) -> pathlib.Path:
    """Writes every image of ``folder`` as a tf.Example to ``out_dir/images.tfrecord``, labelled as
    ``image_folder_classes(folder, class_names)`` orders the classes, in a fixed order (class, then file
    name) so that equal folders give equal files; returns the records' path."""
    from zoo.backend import tf

    classes = image_folder_classes(folder, class_names)
    path = out_dir / RECORDS_FILE
    with tf.io.TFRecordWriter(str(path)) as writer:
        for label, name in enumerate(classes):
            for image in sorted(pathlib.Path(folder, name).iterdir()):
                if image.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                writer.write(to_record({"image": image.read_bytes(), "label": label}))
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


def write_mask_records(folder: str | pathlib.Path, out_dir: pathlib.Path) -> pathlib.Path:
    """Writes each ``<folder>/image/<name>`` with its ``<folder>/mask/<name>`` as a tf.Example ``{image,
    mask}`` of encoded bytes to ``out_dir/images.tfrecord``, in name order; returns the records' path."""
    from zoo.backend import tf

    images = sorted(path for path in pathlib.Path(folder, "image").iterdir()
                    if path.suffix.lower() in IMAGE_SUFFIXES)
    unmatched = [path.name for path in images if not pathlib.Path(folder, "mask", path.name).is_file()]
    if not images or unmatched:
        raise ValueError(f"a mask folder holds image/<name> and mask/<name> pairs; {folder} has {len(images)} "
                         f"images, these without a mask: {unmatched[:5]}")
    path = out_dir / RECORDS_FILE
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image in images:
            mask = pathlib.Path(folder, "mask", image.name)
            writer.write(to_record({"image": image.read_bytes(), "mask": mask.read_bytes()}))
    return path


def write_isbi_mask_folder(source: str | None, folder: pathlib.Path) -> pathlib.Path:
    """The ISBI 2012 EM slices (``zoo.data.isbi``: ``source``, else ``$ZOO_ISBI_DIR``, else the cache) as
    a mask folder at full size: the grey images as they are, and masks white on the membranes (the
    challenge's labels are black there)."""
    from zoo.backend import tf
    from zoo.data import isbi

    directory = isbi.locate(source)
    for sub in ("image", "mask"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i in range(isbi.NUM_IMAGES):
        (folder / "image" / f"{i:02d}.png").write_bytes((directory / "image" / f"{i}.png").read_bytes())
        label = tf.io.decode_image((directory / "label" / f"{i}.png").read_bytes(), channels=1)
        membrane = tf.cast(label < 128, tf.uint8) * 255
        (folder / "mask" / f"{i:02d}.png").write_bytes(tf.io.encode_png(membrane).numpy())
    return folder


def _train_and_export(fn_args, head) -> None:
    """Trains the configured image model on the schema's image and first label, and exports it with the
    decoding inside, so serving takes encoded images. ``head(label)`` (the label's ``zoo.schema.SchemaFeature``)
    gives the model's number of classes, its loss, its metrics, and ``augment(image, target)``, applied to
    training batches only."""
    import zoo
    from pipelines.export import export_serving_model
    from pipelines.trainer import TrainingRun
    from zoo.backend import tf
    from zoo.schema import IMAGE, LABEL, schema_features

    run = TrainingRun(fn_args)
    features = schema_features(run.schema)
    (image,) = [f for f in features if f.kind == IMAGE]
    label = next(f for f in features if f.kind == LABEL)

    def element(batch):
        return batch[image.name], batch[label.name]

    with run.strategy.scope():  # the metrics too belong to the strategy
        num_classes, loss, metrics, augment = head(label)
        model = zoo.create(run.config["model_name"], input_shape=image.image_shape, num_classes=num_classes,
                           **run.config["hparams"])
        model.compile(optimizer=run.optimizer(), loss=loss, metrics=metrics)
    run.fit(model, element, training_element=lambda batch: augment(*element(batch)))
    export_serving_model(model, run.transform_output, run.schema, run.export_dir, card=run.card,
                         inputs={"image": image.name})
    tf.keras.backend.clear_session()


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Image classifiers: sparse categorical cross-entropy on the class index, with random shifts of up
    to an eighth of the image at training."""
    from zoo.backend import keras

    shift = keras.layers.RandomTranslation(1 / 8, 1 / 8, fill_mode="constant", seed=fn_args.custom_config["seed"])
    _train_and_export(fn_args, lambda label: (label.num_classes, "sparse_categorical_crossentropy",
                                              [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                                              lambda image, target: (shift(image, training=True), target)))


def segmentation_run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Segmentation: cross-entropy + Dice on the mask (``zoo.losses.BCEDiceLoss``), with the same random
    horizontal and vertical flips of image and mask at training. A 2-class mask is learnt as one sigmoid
    channel (binary cross-entropy, foreground IoU); a mask of ``zoo.mask_classes=N`` classes as N softmax
    channels (categorical cross-entropy and Dice averaged over the classes, mean IoU)."""
    from pipelines.transform import check_class_ids
    from zoo.backend import keras, tf
    from zoo.losses import BCEDiceLoss

    seed = fn_args.custom_config["seed"]

    def head(mask):
        classes = mask.num_classes

        def flip(image, target):
            target = check_class_ids(target, classes)  # a pixel value beyond the classes is bad data: stop
            both = tf.concat([image, target], axis=-1)
            both = tf.image.random_flip_up_down(tf.image.random_flip_left_right(both, seed=seed), seed=seed + 1)
            return both[..., :-1], both[..., -1:]

        binary = classes == 2
        iou = (keras.metrics.BinaryIoU(target_class_ids=[1], name="iou") if binary
               else keras.metrics.MeanIoU(classes, sparse_y_pred=False, name="mean_iou"))
        return 1 if binary else classes, BCEDiceLoss(), [iou], flip

    _train_and_export(fn_args, head)
