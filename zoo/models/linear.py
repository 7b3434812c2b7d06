"""Logistic regression: the linear baseline every ranking model should beat."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers import LinearTerms, feature_inputs
from zoo.models.base import TABULAR_INPUTS, ZooModel, probability_head
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class LogisticRegression(ZooModel):
    """Logistic regression over one-hot features: the classical CTR baseline, as in Simple and Scalable
    Response Prediction for Display Advertising (Chapelle, Manavoglu and Rosales, ACM TIST 2014).

    ``P(y=1|x) = sigmoid(b + sum_i w_i x_i)``: one weight per categorical id (one-hot), the sum of
    the non-padding ids' weights for a sequence (multi-hot), and ``w * x`` for a numeric feature.
    It learns no interactions, so it measures what the feature crosses of the other models add.

    Args:
      features: the ``FeatureSpec`` (or its config).
      l2: L2 penalty on the weights.
    """

    def __init__(self, features, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        outputs = probability_head(LinearTerms(features, l2=l2, name="linear")(inputs))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.l2 = l2


@register_model(
    family="linear", task="ranking", model_class=LogisticRegression,
    inputs=TABULAR_INPUTS,
    paper=Paper("Simple and Scalable Response Prediction for Display Advertising",
                venue="Chapelle, Manavoglu and Rosales, ACM TIST 2014"),
    defaults=dict(l2=0.0),
)
def logistic_regression(features, **hparams):
    return LogisticRegression(features, **hparams)
