"""Reusable layers; every one is registered for Keras serialization under package "zoo"."""
from zoo.layers.embedding import FeatureEmbedding, LinearTerms, feature_inputs
from zoo.layers.interaction import FactorizationMachine
from zoo.layers.mlp import MLP

__all__ = ["FeatureEmbedding", "LinearTerms", "FactorizationMachine", "MLP", "feature_inputs"]
