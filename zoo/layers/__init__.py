"""Reusable layers; every one is registered for Keras serialization under package "zoo"."""
from zoo.layers.attention import InteractingLayer
from zoo.layers.bilinear import BilinearInteraction
from zoo.layers.cin import CIN
from zoo.layers.cross import CrossMix, CrossV1
from zoo.layers.dot_interaction import DotInteraction
from zoo.layers.efficient_dense import RecomputedBottleneckInput
from zoo.layers.embedding import (
    CompositionalEmbedding, FeatureEmbedding, LinearTerms, embedding_table, embedding_tables, feature_inputs,
)
from zoo.layers.feature_generation import ConvFeatureGeneration
from zoo.layers.finalmlp import FeatureGating, InteractionAggregation
from zoo.layers.gated_cross import GatedCross
from zoo.layers.grouped_conv import GroupedConv2D
from zoo.layers.interaction import FactorizationMachine
from zoo.layers.mlp import MLP
from zoo.layers.moe import ExpertMLPs, MoE
from zoo.layers.multitask import GatedMixture
from zoo.layers.self_mask_cross import SelfMaskCross
from zoo.layers.senet import SENetLayer
from zoo.layers.sequence import (
    AUGRUCell, DenseStack, Dice, FeedForward, FrequencyFilter, InterestEvolution, InterestExtractor,
    LocalActivationUnit, MiniBatchAwareL2, NextItemEncoder, SimHashAttention, TemporalTargetAttention,
    TransformerBlock,
)

__all__ = [
    "BilinearInteraction", "CIN", "CompositionalEmbedding", "ConvFeatureGeneration", "CrossMix", "CrossV1", "DotInteraction", "FactorizationMachine",
    "FeatureEmbedding", "FeatureGating", "GatedCross", "GroupedConv2D", "InteractingLayer", "InteractionAggregation", "LinearTerms",
    "MLP", "RecomputedBottleneckInput", "SENetLayer", "SelfMaskCross",
    "ExpertMLPs", "GatedMixture", "MoE",
    "AUGRUCell", "DenseStack", "Dice", "FeedForward", "FrequencyFilter", "InterestEvolution", "InterestExtractor",
    "LocalActivationUnit", "MiniBatchAwareL2", "NextItemEncoder", "SimHashAttention", "TemporalTargetAttention",
    "TransformerBlock", "embedding_table", "embedding_tables", "feature_inputs",
]
