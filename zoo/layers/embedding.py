"""From Transform's output to vectors: per-feature embedding tables and first-order terms."""
from __future__ import annotations

import itertools

from zoo.backend import keras, tf
from zoo.config import constructor_config
from zoo.features import CATEGORICAL, NUMERIC, SEQUENCE, FeatureSpec


def feature_inputs(spec: FeatureSpec) -> dict[str, keras.Input]:
    """One named ``keras.Input`` per model feature, shaped as Transform emits it."""
    inputs = {}
    for f in spec.features:
        if f.kind == NUMERIC:
            inputs[f.name] = keras.Input(shape=(), dtype=tf.float32, name=f.name)
        elif f.kind == CATEGORICAL:
            inputs[f.name] = keras.Input(shape=(), dtype=tf.int64, name=f.name)
        else:
            inputs[f.name] = keras.Input(shape=(f.max_len,), dtype=tf.int64, name=f.name)
    return inputs


@keras.saving.register_keras_serializable(package="zoo")
class CompositionalEmbedding(keras.layers.Layer):
    """Quotient-remainder embeddings ("Compositional Embeddings Using Complementary Partitions for
    Memory-Efficient Recommendation Systems", arXiv:1909.02107).

    Id ``i`` of a vocabulary of ``V`` ids gets ``e_i = Q[i // M] * R[i mod M]`` ("mult") or
    ``Q[i // M] + R[i mod M]`` ("add"): tables of ``ceil(V/M) + M`` rows instead of ``V``. The two
    partitions are complementary, so no two ids share both rows and every id keeps a unique vector.
    """

    OPERATIONS = ("mult", "add")

    def __init__(self, vocab_size, output_dim, collisions, operation="mult", embeddings_initializer="uniform",
                 embeddings_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if operation not in self.OPERATIONS:
            raise ValueError(f"operation must be one of {self.OPERATIONS}, got {operation!r}")
        self.vocab_size = int(vocab_size)
        self.output_dim = int(output_dim)
        self.collisions = int(collisions)
        self.operation = operation
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        # A remainder of ones ("mult") or zeros ("add") starts every id at its quotient row, i.e. like a
        # plain table initialized with ``embeddings_initializer``.
        remainder_init = "ones" if operation == "mult" else "zeros"
        self.quotient = keras.layers.Embedding(-(-self.vocab_size // self.collisions), self.output_dim,
                                               embeddings_initializer=self.embeddings_initializer,
                                               embeddings_regularizer=self.embeddings_regularizer, name="quotient")
        self.remainder = keras.layers.Embedding(self.collisions, self.output_dim, embeddings_initializer=remainder_init,
                                                embeddings_regularizer=self.embeddings_regularizer, name="remainder")

    def call(self, ids):
        quotient = self.quotient(ids // self.collisions)
        remainder = self.remainder(ids % self.collisions)
        return quotient * remainder if self.operation == "mult" else quotient + remainder

    @property
    def rows(self) -> int:
        return self.quotient.input_dim + self.remainder.input_dim

    def get_config(self):
        config = constructor_config(self, super().get_config())
        config["embeddings_initializer"] = keras.initializers.serialize(self.embeddings_initializer)
        config["embeddings_regularizer"] = keras.regularizers.serialize(self.embeddings_regularizer)
        return config


def embedding_table(feature, output_dim: int, name: str, **options):
    """The table of one id feature: a ``CompositionalEmbedding`` when it sets ``qr_collisions``,
    else a plain ``Embedding``. ``options`` are the initializer and regularizer.
    """
    if feature.qr_collisions:
        return CompositionalEmbedding(feature.vocab_size, output_dim, feature.qr_collisions, name=name, **options)
    return keras.layers.Embedding(feature.vocab_size, output_dim, name=name, **options)


def embedding_tables(spec: FeatureSpec, output_dim: int, prefix: str, **options) -> dict:
    """One table per id feature of ``spec``, in spec order; a sharing feature maps to its owner's
    table object.
    """
    id_features = spec.of_kind(CATEGORICAL) + spec.of_kind(SEQUENCE)
    owned = {f.name: embedding_table(f, output_dim, f"{prefix}_{f.name}", **options)
             for f in id_features if f.shares is None}
    return {f.name: owned[f.shares or f.name] for f in id_features}


def _masked_mean(vectors, ids):
    """Mean of ``vectors [batch, len, d]`` over the positions whose id is not padding (0)."""
    mask = tf.cast(tf.not_equal(ids, 0), vectors.dtype)[..., tf.newaxis]
    total = tf.reduce_sum(vectors * mask, axis=1)
    return total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="zoo")
class FeatureEmbedding(keras.layers.Layer):
    """Embeds every feature of a ``FeatureSpec`` as one field vector.

    Categorical ids look up their own table (or the table of the feature they ``share``; tables are
    compositional where the spec sets ``qr_collisions``); a sequence's embeddings are averaged over its
    non-padding positions (``mask = ids != 0``); ``lookup`` gives them unpooled. Numeric features are returned as a dense
    ``[batch, n_numeric]`` block, or, with ``numeric_as_fields`` (the FM view of a real-valued
    feature), as fields ``x_i * v_i`` with a learned vector ``v_i`` per feature.

    Returns ``(fields [batch, n_fields, embedding_dim], dense [batch, n_numeric])``. With
    ``numeric_as_fields`` the dense block is empty.

    ``embeddings_initializer`` is a Keras initializer's name or config (e.g. ``{"class_name":
    "RandomNormal", "config": {"stddev": 1e-4}}``, DeepCTR's start); each table gets its own instance.
    """

    def __init__(self, features, embedding_dim=8, numeric_as_fields=False, l2=0.0, embeddings_initializer="uniform",
                 **kwargs):
        super().__init__(**kwargs)
        self.features = FeatureSpec.coerce(features)
        self.embedding_dim = int(embedding_dim)
        self.numeric_as_fields = bool(numeric_as_fields)
        self.l2 = float(l2)
        # A name or a config, not an instance: Keras builds one initializer per table from it, and one
        # unseeded instance shared by tables would give every table of a shape the same values.
        initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings_initializer = {"class_name": type(initializer).__name__, "config": initializer.get_config()}
        regularizer = keras.regularizers.l2(self.l2) if self.l2 else None
        for f in self.features.of_kind(CATEGORICAL) + self.features.of_kind(SEQUENCE):
            if f.embedding_dim not in (None, self.embedding_dim):
                raise ValueError(
                    f"feature {f.name!r} asks for embedding_dim {f.embedding_dim}, but this model stacks "
                    f"fields and needs one size for all ({self.embedding_dim})"
                )
        self._tables = embedding_tables(self.features, self.embedding_dim, "embedding",
                                        embeddings_regularizer=regularizer,
                                        embeddings_initializer=self.embeddings_initializer)
        self._numeric = [f.name for f in self.features.of_kind(NUMERIC)]

    def build(self, input_shape):
        if self.numeric_as_fields and self._numeric:
            self.numeric_vectors = self.add_weight(
                name="numeric_vectors", shape=(len(self._numeric), self.embedding_dim),
                initializer="glorot_uniform", trainable=True,
            )
        super().build(input_shape)

    def lookup(self, name, ids):
        """The unpooled vectors ``[..., embedding_dim]`` of ``ids`` in feature ``name``'s table."""
        return self._tables[name](ids)

    @property
    def num_fields(self) -> int:
        return len(self._tables) + (len(self._numeric) if self.numeric_as_fields else 0)

    def call(self, inputs):
        fields = []
        for name, table in self._tables.items():
            ids = inputs[name]
            vectors = table(ids)
            fields.append(_masked_mean(vectors, ids) if ids.shape.rank == 2 else vectors)
        dense = _numeric_block(inputs, self._numeric)
        if self.numeric_as_fields and self._numeric:
            fields.extend(tf.unstack(dense[:, :, tf.newaxis] * self.numeric_vectors[tf.newaxis], axis=1))
            dense = dense[:, :0]
        return tf.stack(fields, axis=1), dense

    def get_config(self):
        return constructor_config(self, super().get_config())


def _numeric_block(inputs, names):
    if not names:
        any_input = next(iter(inputs.values()))
        return tf.zeros([tf.shape(any_input)[0], 0], tf.float32)
    return tf.stack([tf.cast(inputs[n], tf.float32) for n in names], axis=1)


@keras.saving.register_keras_serializable(package="zoo")
class LinearTerms(keras.layers.Layer):
    """A generalized linear model over all features: ``b + sum_i w_i x_i``.

    Categorical features contribute their one-hot weight, sequences the sum of their non-padding
    ids' weights (multi-hot), numeric features ``w * x``. ``crosses`` adds Wide & Deep's
    cross-product transformations: each listed pair of categorical features is hashed into
    ``cross_buckets`` bins with its own weights; ``crosses=None`` crosses every pair.
    Output ``[batch, 1]`` (a logit).
    """

    def __init__(self, features, crosses=(), cross_buckets=10_000, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.features = FeatureSpec.coerce(features)
        categorical = [f.name for f in self.features.of_kind(CATEGORICAL)]
        if crosses is None:
            crosses = list(itertools.combinations(categorical, 2))
        self.crosses = tuple(tuple(pair) for pair in crosses)
        for pair in self.crosses:
            unknown = [n for n in pair if n not in categorical]
            if len(pair) != 2 or unknown:
                raise ValueError(f"cross {list(pair)} must name two categorical features; categorical: {categorical}")
        self.cross_buckets = int(cross_buckets)
        self.l2 = float(l2)
        regularizer = keras.regularizers.l2(self.l2) if self.l2 else None
        self._tables = embedding_tables(self.features, 1, "linear", embeddings_initializer="zeros",
                                        embeddings_regularizer=regularizer)
        self._hashers = [keras.layers.HashedCrossing(self.cross_buckets) for _ in self.crosses]
        self._cross_weights = [
            keras.layers.Embedding(self.cross_buckets, 1, embeddings_initializer="zeros",
                                   embeddings_regularizer=regularizer, name=f"cross_{a}_x_{b}")
            for a, b in self.crosses
        ]
        self._numeric = [f.name for f in self.features.of_kind(NUMERIC)]
        self._numeric_weights = keras.layers.Dense(1, use_bias=False, kernel_regularizer=regularizer) if self._numeric else None
        if not self.features.features:
            raise ValueError("LinearTerms needs at least one feature")

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(1,), initializer="zeros", trainable=True)
        super().build(input_shape)

    def call(self, inputs):
        terms = []
        for name, table in self._tables.items():
            ids = inputs[name]
            weights = table(ids)
            if ids.shape.rank == 2:  # sequence: multi-hot sum over real ids
                weights = tf.reduce_sum(weights * tf.cast(tf.not_equal(ids, 0), weights.dtype)[..., tf.newaxis], axis=1)
            terms.append(weights)
        for (a, b), hasher, table in zip(self.crosses, self._hashers, self._cross_weights):
            terms.append(table(hasher((inputs[a], inputs[b]))))
        if self._numeric_weights is not None:
            terms.append(self._numeric_weights(_numeric_block(inputs, self._numeric)))
        return tf.add_n(terms) + self.bias

    def get_config(self):
        return constructor_config(self, super().get_config())
