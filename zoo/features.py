"""Feature specifications: what a model's inputs are, after Transform.

A model never sees raw data. It sees Transform's output, described here:

- ``CategoricalFeature``: int64 ids of shape ``[batch]`` in ``[0, vocab_size)``; id 0 means
  missing, so every table reserves it.
- ``NumericFeature``: float32 ``[batch]``, already normalized.
- ``SequenceFeature``: int64 ids ``[batch, max_len]``, right-padded with 0 (the mask is ``ids != 0``).

Id features may ``share`` another id feature's vocabulary and embedding table (a watch history
and the candidate movie), and may be embedded compositionally with ``qr_collisions`` (the
quotient-remainder trick of arXiv:1909.02107); both options reach every model through the spec.

``FeatureSpec.from_schema`` derives a spec from a TFMD schema plus the vocabulary sizes that
Transform computed, so the same model class runs on any data set whose schema provides the
feature kinds its card asks for.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

from zoo import schema as schema_lib

CATEGORICAL, NUMERIC, SEQUENCE = schema_lib.CATEGORICAL, schema_lib.NUMERIC, schema_lib.SEQUENCE
RESERVED_IDS = 2  # vocabulary ids also hold 0 (missing/padding) and one out-of-vocabulary id


class FeatureError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class CategoricalFeature:
    name: str
    vocab_size: int
    embedding_dim: int | None = None
    shares: str | None = None  # embed with this feature's table (same vocabulary)
    qr_collisions: int | None = None  # M: quotient table ceil(V/M) rows + remainder table M rows
    kind: str = dataclasses.field(default=CATEGORICAL, init=False)


@dataclasses.dataclass(frozen=True)
class NumericFeature:
    name: str
    kind: str = dataclasses.field(default=NUMERIC, init=False)


@dataclasses.dataclass(frozen=True)
class SequenceFeature:
    name: str
    vocab_size: int
    max_len: int
    embedding_dim: int | None = None
    shares: str | None = None
    qr_collisions: int | None = None
    kind: str = dataclasses.field(default=SEQUENCE, init=False)


Feature = CategoricalFeature | NumericFeature | SequenceFeature
_CLASSES = {CATEGORICAL: CategoricalFeature, NUMERIC: NumericFeature, SEQUENCE: SequenceFeature}


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """The ordered model inputs and the label name."""

    features: tuple[Feature, ...]
    label: str | None = None

    def __post_init__(self):
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise FeatureError(f"duplicate feature names: {duplicates}")
        for f in self.features:
            if getattr(f, "vocab_size", 1) < 1 or getattr(f, "max_len", 1) < 1:
                raise FeatureError(f"feature {f.name!r}: vocab_size and max_len must be positive")
            if (getattr(f, "qr_collisions", None) or 1) < 1:
                raise FeatureError(f"feature {f.name!r}: qr_collisions must be positive")
        by_name = {f.name: f for f in self.features}
        for f in self.features:
            if getattr(f, "shares", None) is None:
                continue
            owner = by_name.get(f.shares)
            if owner is None or owner.kind == NUMERIC or owner.shares is not None:
                raise FeatureError(f"feature {f.name!r} shares {f.shares!r}, which must be an id feature "
                                   "of this spec that does not itself share")
            if f.vocab_size != owner.vocab_size or f.embedding_dim or f.qr_collisions:
                raise FeatureError(f"feature {f.name!r} shares {owner.name!r}: it must have the same vocab_size "
                                   f"({owner.vocab_size}) and no embedding_dim or qr_collisions of its own")

    def of_kind(self, kind: str) -> tuple[Feature, ...]:
        return tuple(f for f in self.features if f.kind == kind)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def table_owner(self, name: str) -> str:
        """The feature whose embedding table ``name`` uses: itself unless it shares one."""
        return next(f for f in self.features if f.name == name).shares or name

    def with_compositional(self, collisions: int, min_vocab_size: int = 0) -> "FeatureSpec":
        """This spec with quotient-remainder embeddings (``collisions`` = M) for every table of at
        least ``min_vocab_size`` rows; sharing features follow their owner's table.
        """
        features = tuple(
            dataclasses.replace(f, qr_collisions=collisions)
            if f.kind != NUMERIC and f.shares is None and f.vocab_size >= max(min_vocab_size, 1) else f
            for f in self.features
        )
        return FeatureSpec(features, self.label)

    def require(self, needs: Mapping[str, str], model_name: str) -> None:
        """Raises a clear error when a feature kind that ``needs`` marks required is absent."""
        for kind, need in needs.items():
            if need == "required" and not self.of_kind(kind):
                raise FeatureError(
                    f"model {model_name!r} needs at least one {kind} feature, but the feature "
                    f"spec has none (it has: {', '.join(f'{f.name} ({f.kind})' for f in self.features) or 'nothing'})"
                )

    def to_config(self) -> dict[str, Any]:
        return {"features": [dataclasses.asdict(f) for f in self.features], "label": self.label}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "FeatureSpec":
        features = []
        for item in config["features"]:
            item = dict(item)
            kind = item.pop("kind")
            if kind not in _CLASSES:
                raise FeatureError(f"unknown feature kind {kind!r}")
            features.append(_CLASSES[kind](**item))
        return cls(tuple(features), config.get("label"))

    @classmethod
    def coerce(cls, value: "FeatureSpec | Mapping[str, Any]") -> "FeatureSpec":
        return value if isinstance(value, FeatureSpec) else cls.from_config(value)

    @classmethod
    def from_schema(cls, schema, vocabulary_sizes: Mapping[str, int]) -> "FeatureSpec":
        """Builds the spec of Transform's output for ``schema``.

        ``vocabulary_sizes`` maps each vocabulary-encoded feature to the number of distinct
        values Transform found (without the reserved ids).
        """
        return cls(tuple(_model_features(schema_lib.schema_features(schema), vocabulary_sizes)),
                   schema_lib.label_name(schema_lib.schema_features(schema)))


def _model_features(raw: Iterable[schema_lib.SchemaFeature], vocabulary_sizes: Mapping[str, int]):
    raw = list(raw)
    by_name = {f.name: f for f in raw}
    for f in raw:
        if f.kind in (CATEGORICAL, SEQUENCE):
            encoded = by_name[f.shares] if f.shares else f  # a sharing feature uses its owner's ids
            if encoded.hashed:
                size = encoded.num_buckets + 1
            elif f.name in vocabulary_sizes:
                size = vocabulary_sizes[f.name] + RESERVED_IDS
            else:
                raise FeatureError(f"no vocabulary size for categorical feature {f.name!r}")
            options = dict(embedding_dim=f.embedding_dim, shares=f.shares, qr_collisions=f.qr_collisions)
            if f.kind == CATEGORICAL:
                yield CategoricalFeature(f.name, size, **options)
            else:
                yield SequenceFeature(f.name, size, f.max_len, **options)
        elif f.kind == NUMERIC:
            yield NumericFeature(f.name)
            if f.bucket_feature:
                yield CategoricalFeature(f.bucket_feature, f.num_buckets + 1, f.embedding_dim)
