"""zoo: Keras recommender, CTR, retrieval and vision models behind one registry.

    import zoo
    model = zoo.create("deepfm", features=spec, embedding_dim=16)
    zoo.list_models("dcn*")
    zoo.get_card("wide_deep")

Importing zoo selects Keras 2 (``TF_USE_LEGACY_KERAS=1``) before TensorFlow loads.
"""
from zoo import _env  # noqa: F401  (first: must precede any TensorFlow import)
from zoo.features import CategoricalFeature, FeatureSpec, NumericFeature, SequenceFeature
from zoo.registry import ModelCard, Paper, UnknownModelError, create, get_card, list_models, register_model

__version__ = "0.1.0"
__all__ = [
    "CategoricalFeature", "FeatureSpec", "ModelCard", "NumericFeature", "Paper", "SequenceFeature",
    "UnknownModelError", "create", "get_card", "list_models", "register_model",
]
