"""Building blocks shared by the vision families: the model base class, conv units, feature taps, the head.

These are functions of plain Keras layers, so a model's graph stays a readable chain of standard
layers; the one exception is ``GroupedConv2D`` (registered, so models still load without custom
objects), which computes grouped convolutions fast on the CPU.
"""
from __future__ import annotations

import math

from zoo.backend import keras
from zoo.config import ConfiguredModel
from zoo.layers.grouped_conv import GroupedConv2D

BN_EPSILON = 1.001e-5  # tf.keras.applications' value, so DenseNet matches it layer for layer
IMAGE_INPUTS = {"image": "required"}  # the card's inputs of every image model
PROBABILITIES = "probabilities"  # the classification head's output


class VisionModel(ConfiguredModel):
    """A zoo model on images: ``input_shape`` (without batch) and ``num_classes`` are hyper-parameters.

    Keras already exposes ``input_shape`` as a read-only property (with the batch axis), so it is
    not stored as an attribute; the config reads it back from the model's input instead.
    """

    def get_config(self):
        config = super().get_config()
        config["input_shape"] = list(self.input_shape[1:])
        return config


def image_input(input_shape):
    """The image input, float32 ``[batch, height, width, channels]`` (values in [0, 1] or standardized)."""
    return keras.Input(shape=tuple(input_shape), name="image")


def bn(x, name):
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)


def bn_act(x, name, activation="relu"):
    """Pre-activation unit (DenseNet, DPN): batch norm, then the non-linearity."""
    return keras.layers.Activation(activation, name=f"{name}_{activation}")(bn(x, name))


def conv(x, filters, kernel_size, name, strides=1, groups=1):
    """A bias-free convolution (a batch norm always follows or precedes it) with "same" padding,
    so every model accepts any input size divisible by its total stride."""
    layer = GroupedConv2D if groups > 1 else keras.layers.Conv2D
    return layer(filters, kernel_size, strides=strides, padding="same", groups=groups, use_bias=False,
                 name=f"{name}_conv")(x)


def conv_bn_act(x, filters, kernel_size, name, strides=1, groups=1, activation="relu"):
    """Post-activation unit (ResNet, VoVNet, HarDNet): convolution, batch norm, non-linearity."""
    return bn_act(conv(x, filters, kernel_size, name, strides=strides, groups=groups), name, activation)


def bn_act_conv(x, filters, kernel_size, name, strides=1, groups=1):
    """Pre-activation unit: batch norm, ReLU, convolution."""
    return conv(bn_act(x, name), filters, kernel_size, name, strides=strides, groups=groups)


def tap(x, stride):
    """Marks ``x`` as the backbone's last feature map at ``stride``: an identity layer named
    ``reduction_<log2 stride>``, which encoder-decoder models (U-Net) pick their skips from."""
    return keras.layers.Identity(name=f"reduction_{int(math.log2(stride))}")(x)


def classification_head(x, num_classes, dropout=0.0):
    """Global average pooling, optional dropout, and a softmax classifier named "probabilities"."""
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return keras.layers.Dense(num_classes, activation="softmax", name=PROBABILITIES)(x)


def reduction_features(model):
    """The backbone's tapped feature maps, finest first: ``{level: tensor}`` with stride ``2**level``."""
    levels = sorted(int(layer.name.split("_")[1]) for layer in model.layers if layer.name.startswith("reduction_"))
    return {level: model.get_layer(f"reduction_{level}").output for level in levels}

