"""Reads TensorFlow Metadata schemas and says what each raw feature becomes.

The schema is the single source of truth for features. Standard TFMD fields decide the kind
(BYTES or categorical INT -> categorical, FLOAT or plain INT -> numeric, several values ->
sequence); annotation tags ``zoo.<key>=<value>`` add what TFMD cannot express:

- ``zoo.role=label`` marks the label (several, in order, for a multi-task schema: one per head).
  An INT label with ``int_domain { min: 0 max: N-1 }`` is a class index: binary for N = 2, multiclass
  above; any other label (FLOAT, or INT with another domain) is a regression target.
  ``zoo.role=passthrough`` keeps a column out of the model.
- ``zoo.class_names=a,b,...`` names a class-index label's N classes, in index order: the exported
  ``classify`` signatures answer with these names instead of ``"0"`` to ``"N-1"``, and an image folder's
  sub-folders must be these names.
- ``zoo.max_len=N`` makes a sequence feature of N ids (padded/truncated); every sequence needs it.
- ``zoo.delimiter=|`` splits one string value into a sequence (e.g. MovieLens genres).
- ``zoo.num_buckets=N`` hashes a categorical into N buckets instead of learning a vocabulary,
  or, on a numeric feature, also emits ``<name>_bucket``: its quantile bucket as a categorical.
- ``zoo.embedding_dim=N`` gives this feature its own embedding size.
- ``zoo.shares=OTHER`` encodes a categorical or sequence feature with OTHER's vocabulary and
  embeds it with OTHER's table (e.g. a history of movie ids sharing ``movie_id``'s table).
- ``zoo.qr_collisions=M`` embeds the feature compositionally (quotient-remainder trick): two
  tables of ``ceil(V/M)`` and ``M`` rows instead of one of ``V`` rows.
- ``zoo.kind=image`` with ``zoo.image_shape=HxWxC`` on a BYTES feature: an encoded PNG, JPEG, GIF or BMP
  image, which Transform decodes to float32 ``[H, W, C]`` in [0, 1] (an image model's ``image`` input).
  On a BYTES label, ``zoo.image_shape=HxWx1`` makes it a mask: an encoded grey image whose pixels of 128
  and above are the foreground, decoded to float32 ``[H, W, 1]`` of 0 and 1 (a segmentation target).
- ``zoo.mask_classes=N`` (3 to 256) on a mask label makes it a class-index mask: an 8-bit grey PNG whose
  pixel values are the classes ``0`` to ``N-1``, decoded to float32 ``[H, W, 1]`` class ids. Not a palette
  PNG (TensorFlow decodes its indices to their colours) nor a 16-bit or lossy (JPEG) image. Without the
  tag a mask has 2 classes, background and foreground.
"""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Iterable

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

CATEGORICAL, NUMERIC, SEQUENCE, LABEL, PASSTHROUGH = "categorical", "numeric", "sequence", "label", "passthrough"
IMAGE = "image"
BINARY, MULTICLASS, REGRESSION, MASK = "binary", "multiclass", "regression", "mask"  # what a label is a target of
_TAG_KEYS = {"role", "kind", "max_len", "delimiter", "num_buckets", "embedding_dim", "shares", "qr_collisions",
             "image_shape", "class_names", "mask_classes"}


class SchemaError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class SchemaFeature:
    """One raw feature of the schema and the role zoo gives it."""

    name: str
    dtype: str  # "bytes" | "int" | "float"
    kind: str  # categorical | numeric | sequence | label | passthrough
    required: bool
    max_len: int | None = None
    delimiter: str | None = None
    num_buckets: int | None = None
    embedding_dim: int | None = None
    shares: str | None = None
    qr_collisions: int | None = None
    label_type: str | None = None  # a label's: BINARY, MULTICLASS, REGRESSION or MASK
    num_classes: int | None = None  # a class index label's (INT, int_domain {min: 0, max: N-1}) or a mask's: N
    class_names: tuple[str, ...] | None = None  # a class index label's names, by index (zoo.class_names)
    image_shape: tuple[int, int, int] | None = None  # an image's or mask's (height, width, channels) decoded

    @property
    def hashed(self) -> bool:
        return self.kind in (CATEGORICAL, SEQUENCE) and self.num_buckets is not None

    @property
    def bucket_feature(self) -> str | None:
        """Name of the quantile-bucket feature a numeric feature also produces, if any."""
        return f"{self.name}_bucket" if self.kind == NUMERIC and self.num_buckets else None


def load_schema(path: str | pathlib.Path) -> schema_pb2.Schema:
    return parse_schema(pathlib.Path(path).read_text())


def parse_schema(text: str) -> schema_pb2.Schema:
    return text_format.Parse(text, schema_pb2.Schema())


def schema_features(schema: schema_pb2.Schema) -> list[SchemaFeature]:
    """Every feature of ``schema`` with its zoo role, in schema order."""
    features = [_schema_feature(f) for f in schema.feature]
    by_name = {f.name: f for f in features}
    for f in features:
        if f.shares is None:
            continue
        owner = by_name.get(f.shares)
        if owner is None or owner.kind not in (CATEGORICAL, SEQUENCE) or owner.shares is not None:
            raise SchemaError(f"feature {f.name!r}: zoo.shares={f.shares} must name a categorical or sequence "
                              "feature that does not itself share")
        if f.kind not in (CATEGORICAL, SEQUENCE) or f.num_buckets or f.qr_collisions or f.embedding_dim:
            raise SchemaError(f"feature {f.name!r}: a sharing feature is categorical or sequence and takes its "
                              "vocabulary, buckets and embedding from the feature it shares")
        if owner.dtype != f.dtype:
            raise SchemaError(f"feature {f.name!r} ({f.dtype}) cannot share {owner.name!r} ({owner.dtype})")
    return features


def label_names(features: Iterable[SchemaFeature]) -> list[str]:
    """The labels in schema order: one for most tasks, one per head for multi-task models."""
    return list(label_types(features))


def label_types(features: Iterable[SchemaFeature]) -> dict[str, str]:
    """Each label's type (``BINARY``, ``MULTICLASS``, ``REGRESSION`` or ``MASK``), in schema order."""
    return {f.name: f.label_type for f in features if f.kind == LABEL}


def label_name(features: Iterable[SchemaFeature]) -> str | None:
    """The first label: the only one, or a multi-task schema's headline task."""
    return next(iter(label_names(features)), None)


def class_names(features: Iterable[SchemaFeature], label: str | None = None) -> tuple[str, ...] | None:
    """The ``zoo.class_names`` of ``label`` (by default the first label), if it has them."""
    features = list(features)
    label = label or label_name(features)
    return next((f.class_names for f in features if f.kind == LABEL and f.name == label), None)


def _tags(feature: schema_pb2.Feature) -> dict[str, str]:
    tags = {}
    for tag in feature.annotation.tag:
        if not tag.startswith("zoo."):
            continue
        key, sep, value = tag[len("zoo."):].partition("=")
        if not sep or key not in _TAG_KEYS:
            raise SchemaError(f"feature {feature.name!r}: bad tag {tag!r}; use zoo.<key>=<value>, key in {sorted(_TAG_KEYS)}")
        tags[key] = value
    return tags


def _positive_int(feature: str, key: str, value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) <= 0:
        raise SchemaError(f"feature {feature!r}: zoo.{key} must be a positive integer, got {value!r}")
    return int(value)


def _schema_feature(feature: schema_pb2.Feature) -> SchemaFeature:
    dtype = {schema_pb2.BYTES: "bytes", schema_pb2.INT: "int", schema_pb2.FLOAT: "float"}.get(feature.type)
    if dtype is None:
        raise SchemaError(f"feature {feature.name!r}: type must be BYTES, INT or FLOAT")
    tags = _tags(feature)
    max_len = _positive_int(feature.name, "max_len", tags.get("max_len"))
    multi_valued = "delimiter" in tags or max_len is not None or (
        feature.HasField("value_count") and feature.value_count.max > 1
    )
    if "role" in tags:
        if tags["role"] not in (LABEL, PASSTHROUGH):
            raise SchemaError(f"feature {feature.name!r}: zoo.role must be label or passthrough")
        kind = tags["role"]
    elif "kind" in tags:
        kind = tags["kind"]
    elif multi_valued:
        kind = SEQUENCE
    elif dtype == "bytes" or (dtype == "int" and feature.int_domain.is_categorical):
        kind = CATEGORICAL
    else:
        kind = NUMERIC
    if kind not in (CATEGORICAL, NUMERIC, SEQUENCE, LABEL, PASSTHROUGH, IMAGE):
        raise SchemaError(f"feature {feature.name!r}: unknown zoo.kind {kind!r}")
    if kind == SEQUENCE and max_len is None:
        raise SchemaError(f"feature {feature.name!r}: a sequence feature needs a zoo.max_len=N tag")
    if kind == NUMERIC and dtype == "bytes":
        raise SchemaError(f"feature {feature.name!r}: a BYTES feature cannot be numeric")
    one_bytes_value = dtype == "bytes" and not multi_valued
    if kind == IMAGE and not ("image_shape" in tags and one_bytes_value):
        raise SchemaError(f"feature {feature.name!r}: an image is one BYTES value tagged zoo.kind=image and "
                          "zoo.image_shape=HxWxC")
    if "image_shape" in tags and not (kind in (IMAGE, LABEL) and one_bytes_value):
        raise SchemaError(f"feature {feature.name!r}: only images and mask labels (one BYTES value) take "
                          "zoo.image_shape")
    image_shape = _image_shape(feature.name, tags["image_shape"]) if "image_shape" in tags else None
    if kind == LABEL and image_shape and image_shape[2] != 1:
        raise SchemaError(f"feature {feature.name!r}: a mask label has one channel (HxWx1), got {image_shape}")
    label_type = (MASK if image_shape else _label_type(feature)) if kind == LABEL else None
    if "mask_classes" in tags and label_type != MASK:
        raise SchemaError(f"feature {feature.name!r}: zoo.mask_classes counts the classes of a mask label "
                          "(BYTES, zoo.role=label, zoo.image_shape=HxWx1)")
    mask_classes = _positive_int(feature.name, "mask_classes", tags.get("mask_classes")) or 2
    if "mask_classes" in tags and not 3 <= mask_classes <= 256:
        raise SchemaError(f"feature {feature.name!r}: zoo.mask_classes must be 3 to 256 (one 8-bit pixel value "
                          f"per class; a mask without the tag has 2, background and foreground), got {mask_classes}")
    class_names = _class_names(feature, label_type, tags["class_names"]) if "class_names" in tags else None
    return SchemaFeature(
        name=feature.name,
        dtype=dtype,
        kind=kind,
        required=feature.presence.min_fraction >= 1.0,
        max_len=max_len,
        delimiter=tags.get("delimiter"),
        num_buckets=_positive_int(feature.name, "num_buckets", tags.get("num_buckets")),
        embedding_dim=_positive_int(feature.name, "embedding_dim", tags.get("embedding_dim")),
        shares=tags.get("shares"),
        qr_collisions=_positive_int(feature.name, "qr_collisions", tags.get("qr_collisions")),
        label_type=label_type,
        num_classes=(mask_classes if label_type == MASK else _num_classes(feature)) if kind == LABEL else None,
        class_names=class_names,
        image_shape=image_shape,
    )


def _label_type(feature: schema_pb2.Feature) -> str:
    classes = _num_classes(feature)
    return REGRESSION if classes is None or classes < 2 else BINARY if classes == 2 else MULTICLASS


def _num_classes(feature: schema_pb2.Feature) -> int | None:
    domain = feature.int_domain
    if feature.type == schema_pb2.INT and domain.HasField("min") and domain.HasField("max") and domain.min == 0:
        return domain.max + 1
    return None


def _class_names(feature: schema_pb2.Feature, label_type: str | None, value: str) -> tuple[str, ...]:
    classes = _num_classes(feature)
    if label_type not in (BINARY, MULTICLASS):
        raise SchemaError(f"feature {feature.name!r}: zoo.class_names names the classes of a class-index label "
                          "(INT, zoo.role=label, int_domain { min: 0 max: N-1 })")
    names = tuple(value.split(","))
    if len(names) != classes or len(set(names)) != len(names) or not all(names):
        raise SchemaError(f"feature {feature.name!r}: zoo.class_names needs {classes} distinct non-empty names "
                          f"separated by commas (one per class, in index order), got {value!r}")
    return names


def _image_shape(feature: str, value: str) -> tuple[int, int, int]:
    sizes = value.split("x")
    if len(sizes) != 3 or not all(size.isdigit() and int(size) > 0 for size in sizes) or int(sizes[2]) not in (1, 3, 4):
        raise SchemaError(f"feature {feature!r}: zoo.image_shape must be HxWxC with C 1, 3 or 4, got {value!r}")
    return tuple(int(size) for size in sizes)
