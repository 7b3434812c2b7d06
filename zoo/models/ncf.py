"""Neural Collaborative Filtering: GMF, the MLP tower, and their fusion NeuMF.

NCF models only the user-item pair: it embeds two categorical features (``user_feature`` and
``item_feature``) and ignores every other feature of the spec. Each branch owns its embedding
tables, initialized N(0, 0.01) as in the authors' code.
"""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import CATEGORICAL, FeatureSpec
from zoo.layers import MLP, embedding_table, feature_inputs
from zoo.models.base import ZooModel, probability_head
from zoo.registry import Paper, register_model

_PAPER = Paper("Neural Collaborative Filtering", "1708.05031")
_INPUTS = {"categorical": "required"}


def _user_and_item(features, user_feature, item_feature):
    """The two categorical features NCF embeds; ``None`` picks the spec's first / second categorical."""
    categorical = {f.name: f for f in features.of_kind(CATEGORICAL)}
    names = list(categorical)
    if len(names) < 2:
        raise ValueError(f"NCF needs two categorical features (user and item); the spec has {names or 'none'}")
    user = names[0] if user_feature is None else user_feature
    item = names[1] if item_feature is None else item_feature
    for role, name in (("user_feature", user), ("item_feature", item)):
        if name not in categorical:
            raise ValueError(f"{role} {name!r} is not a categorical feature of the spec; categorical: {names}")
    if user == item:
        raise ValueError(f"user_feature and item_feature are both {user!r}; NCF needs two different features")
    return categorical[user], categorical[item]


def _embed(inputs, feature, dim, branch, l2):
    return embedding_table(
        feature, dim, f"{branch}_embedding_{feature.name}",
        embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
        embeddings_regularizer=keras.regularizers.l2(l2) if l2 else None,
    )(inputs[feature.name])


def _gmf_vector(inputs, user, item, dim, l2):
    """GMF's ``phi = p_u * q_i`` (element-wise): a matrix factorization before its output weights."""
    return keras.layers.Multiply(name="gmf")([_embed(inputs, user, dim, "gmf", l2), _embed(inputs, item, dim, "gmf", l2)])


def _mlp_vector(inputs, user, item, dim, hidden_units, activation, l2):
    """The MLP branch: ``phi = MLP([p_u; q_i])``, a tower that learns the user-item interaction."""
    pair = keras.layers.Concatenate(name="mlp_pair")([_embed(inputs, user, dim, "mlp", l2), _embed(inputs, item, dim, "mlp", l2)])
    return MLP(hidden_units, activation=activation, l2=l2, name="mlp")(pair)


def _ncf_output(vector):
    """``y = sigmoid(h^T phi)``: the final linear layer and the ranking head."""
    return probability_head(keras.layers.Dense(1, name="logit")(vector))


@keras.saving.register_keras_serializable(package="zoo")
class GMF(ZooModel):
    """Generalized Matrix Factorization, from Neural Collaborative Filtering (He et al., 2017,
    arXiv:1708.05031).

    ``y = sigmoid(h^T (p_u * q_i))`` with user and item embeddings ``p_u``, ``q_i``; with ``h = 1``
    and no sigmoid it is plain matrix factorization. Uses only ``user_feature`` and
    ``item_feature``; every other feature is ignored.

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: the predictive factors (authors' default: 8).
      user_feature, item_feature: categorical feature names; ``None`` = the spec's first and
        second categorical features.
      l2: L2 penalty on the embeddings.
    """

    def __init__(self, features, embedding_dim=8, user_feature=None, item_feature=None, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        user, item = _user_and_item(features, user_feature, item_feature)
        inputs = feature_inputs(features)
        outputs = _ncf_output(_gmf_vector(inputs, user, item, embedding_dim, l2))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.user_feature = user_feature
        self.item_feature = item_feature
        self.l2 = l2


@keras.saving.register_keras_serializable(package="zoo")
class NCFMLP(ZooModel):
    """The MLP instance of Neural Collaborative Filtering (He et al., 2017, arXiv:1708.05031).

    ``y = sigmoid(h^T MLP([p_u; q_i]))``: a tower of ReLU layers, each half as wide as the one
    before, learns the user-item interaction instead of a fixed inner product. Uses only
    ``user_feature`` and ``item_feature``; every other feature is ignored.

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: size of the user and of the item embedding (authors' default: 32, so the
        tower's input is 64 wide).
      hidden_units, activation: the tower (authors' default: 32-16-8, ReLU; the last layer's width
        is the predictive factors).
      user_feature, item_feature: categorical feature names; ``None`` = the spec's first and
        second categorical features.
      l2: L2 penalty on the embeddings and the tower.
    """

    def __init__(self, features, embedding_dim=32, hidden_units=(32, 16, 8), activation="relu",
                 user_feature=None, item_feature=None, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        user, item = _user_and_item(features, user_feature, item_feature)
        inputs = feature_inputs(features)
        outputs = _ncf_output(_mlp_vector(inputs, user, item, embedding_dim, hidden_units, activation, l2))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.user_feature = user_feature
        self.item_feature = item_feature
        self.l2 = l2


@keras.saving.register_keras_serializable(package="zoo")
class NeuMF(ZooModel):
    """Neural Matrix Factorization, the fusion of GMF and MLP in Neural Collaborative Filtering
    (He et al., 2017, arXiv:1708.05031).

    ``y = sigmoid(h^T [p^G_u * q^G_i ; MLP([p^M_u; q^M_i])])``: the two branches have separate
    embeddings (they may need different sizes) and meet only in the final linear layer. Trained
    from scratch: the paper's optional pre-training of both branches is a training recipe, not
    part of the model. Uses only ``user_feature`` and ``item_feature``; every other feature is
    ignored.

    Args:
      features: the ``FeatureSpec`` (or its config).
      gmf_embedding_dim: the GMF branch's factors (authors' default: 8).
      mlp_embedding_dim: the MLP branch's user and item embedding size (authors' default: 32).
      hidden_units, activation: the MLP tower (authors' default: 32-16-8, ReLU).
      user_feature, item_feature: categorical feature names; ``None`` = the spec's first and
        second categorical features.
      l2: L2 penalty on the embeddings and the tower.
    """

    def __init__(self, features, gmf_embedding_dim=8, mlp_embedding_dim=32, hidden_units=(32, 16, 8),
                 activation="relu", user_feature=None, item_feature=None, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        user, item = _user_and_item(features, user_feature, item_feature)
        inputs = feature_inputs(features)
        gmf = _gmf_vector(inputs, user, item, gmf_embedding_dim, l2)
        mlp = _mlp_vector(inputs, user, item, mlp_embedding_dim, hidden_units, activation, l2)
        outputs = _ncf_output(keras.layers.Concatenate(name="gmf_and_mlp")([gmf, mlp]))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.gmf_embedding_dim = gmf_embedding_dim
        self.mlp_embedding_dim = mlp_embedding_dim
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.user_feature = user_feature
        self.item_feature = item_feature
        self.l2 = l2


@register_model(family="ncf", task="ranking", model_class=GMF, inputs=_INPUTS, paper=_PAPER,
                defaults=dict(embedding_dim=8))
def gmf(features, **hparams):
    return GMF(features, **hparams)


@register_model(family="ncf", task="ranking", model_class=NCFMLP, inputs=_INPUTS, paper=_PAPER,
                defaults=dict(embedding_dim=32, hidden_units=(32, 16, 8)))
def ncf_mlp(features, **hparams):
    return NCFMLP(features, **hparams)


@register_model(family="ncf", task="ranking", model_class=NeuMF, inputs=_INPUTS, paper=_PAPER,
                defaults=dict(gmf_embedding_dim=8, mlp_embedding_dim=32, hidden_units=(32, 16, 8)))
def neumf(features, **hparams):
    return NeuMF(features, **hparams)
