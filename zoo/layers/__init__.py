"""Reusable layers; every one is registered for Keras serialization under package "zoo"."""
from zoo.layers.attention import InteractingLayer
from zoo.layers.bilinear import BilinearInteraction
from zoo.layers.cin import CIN
from zoo.layers.cross import CrossV1
from zoo.layers.dot_interaction import DotInteraction
from zoo.layers.embedding import FeatureEmbedding, LinearTerms, feature_inputs
from zoo.layers.feature_generation import ConvFeatureGeneration
from zoo.layers.finalmlp import FeatureGating, InteractionAggregation
from zoo.layers.gated_cross import GatedCross
from zoo.layers.interaction import FactorizationMachine
from zoo.layers.mlp import MLP
from zoo.layers.self_mask_cross import SelfMaskCross
from zoo.layers.senet import SENetLayer

__all__ = [
    "BilinearInteraction", "CIN", "ConvFeatureGeneration", "CrossV1", "DotInteraction", "FactorizationMachine",
    "FeatureEmbedding", "FeatureGating", "GatedCross", "InteractingLayer", "InteractionAggregation", "LinearTerms",
    "MLP", "SENetLayer", "SelfMaskCross", "feature_inputs",
]
