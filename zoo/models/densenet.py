"""DenseNet-BC: every layer of a dense block sees the concatenated maps of all layers before it."""
from __future__ import annotations

from zoo.backend import keras
from zoo.layers.efficient_dense import RecomputedBottleneckInput
from zoo.layers.vision import (BN_EPSILON, IMAGE_INPUTS, VisionModel, bn_act, bn_act_conv, classification_head,
                               conv, image_input, tap)
from zoo.registry import Paper, register_model

STEMS = ("imagenet", "cifar")


@keras.saving.register_keras_serializable(package="zoo")
class DenseNet(VisionModel):
    """Densely Connected Convolutional Networks (Huang et al., 2017, arXiv:1608.06993), the BC form.

    Layer ``l`` of a dense block computes ``x_l = H_l([x_0, x_1, ..., x_{l-1}])`` on the
    concatenation of all earlier maps; ``H_l`` is the bottleneck BN-ReLU-Conv(1x1, 4k)-BN-ReLU-
    Conv(3x3, k) with growth rate ``k``. Between blocks a transition BN-ReLU-Conv(1x1)-AvgPool(2)
    compresses the ``m`` channels to ``floor(theta * m)`` (``theta = compression``).

    The "imagenet" stem is Conv(7x7, stride 2)-BN-ReLU-MaxPool(3x3, stride 2); the "cifar" stem
    (DenseNet-BC for 32x32 inputs) is a single 3x3 convolution with ``2k`` channels. Convolutions
    use "same" padding, so any input size divisible by the total stride (32, or 4 for "cifar")
    is accepted; the ImageNet variants have exactly the parameters of ``tf.keras.applications``.

    Args:
      block_config: the number of layers in each dense block.
      growth_rate: ``k``.
      init_features: the stem's channels (64 for ImageNet, ``2k`` for CIFAR).
      bottleneck_width: the 1x1 convolution gives ``bottleneck_width * k`` channels (4 in the paper).
      compression: ``theta`` of the transitions (0.5 for DenseNet-BC).
      stem: "imagenet" or "cifar".
      dropout: dropout after each 3x3 convolution (the paper uses 0.2 on CIFAR without augmentation).
      memory_efficient: recompute each layer's concatenation, batch norm and ReLU in the backward pass
        instead of storing them (``RecomputedBottleneckInput``; Pleiss et al., arXiv:1707.06990), so
        training memory grows linearly, not quadratically, with a block's depth; the same function and
        parameters, one more pass of those cheap operations per step.
      input_shape: ``(height, width, channels)``; height and width may be None.
      num_classes: the softmax classes.
    """

    def __init__(self, block_config=(6, 12, 24, 16), growth_rate=32, init_features=64, bottleneck_width=4,
                 compression=0.5, stem="imagenet", dropout=0.0, input_shape=(None, None, 3), num_classes=1000,
                 memory_efficient=False, **kwargs):
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        image = image_input(input_shape)
        if stem == "imagenet":
            x = tap(bn_act(conv(image, init_features, 7, "stem", strides=2), "stem"), stride=2)
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
            stride = 4
        else:
            x, stride = conv(image, init_features, 3, "stem"), 1
        for b, layers in enumerate(block_config):
            maps = [x]  # memory_efficient: the block's maps, concatenated inside each layer and at the end
            for i in range(layers):
                name = f"block{b + 1}_layer{i + 1}"
                if memory_efficient:
                    y = RecomputedBottleneckInput(bottleneck_width * growth_rate, BN_EPSILON, name=f"{name}_a")(maps)
                else:
                    y = bn_act_conv(x, bottleneck_width * growth_rate, 1, f"{name}_a")
                y = bn_act_conv(y, growth_rate, 3, f"{name}_b")
                if dropout:
                    y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
                if memory_efficient:
                    maps.append(y)
                else:
                    x = keras.layers.Concatenate(name=f"{name}_concat")([x, y])
            if memory_efficient:
                x = keras.layers.Concatenate(name=f"block{b + 1}_concat")(maps)
            if b < len(block_config) - 1:
                x = tap(x, stride)
                x = bn_act_conv(x, int(x.shape[-1] * compression), 1, f"transition{b + 1}")
                x = keras.layers.AveragePooling2D(2, name=f"transition{b + 1}_pool")(x)
                stride *= 2
        x = tap(bn_act(x, "final"), stride)
        outputs = classification_head(x, num_classes)
        super().__init__(inputs=image, outputs=outputs, **kwargs)
        self.block_config = tuple(block_config)
        self.growth_rate = growth_rate
        self.init_features = init_features
        self.bottleneck_width = bottleneck_width
        self.compression = compression
        self.stem = stem
        self.dropout = dropout
        self.num_classes = num_classes
        self.memory_efficient = memory_efficient


_PAPER = Paper("Densely Connected Convolutional Networks", "1608.06993")


def _imagenet(block_config):
    return dict(block_config=block_config, growth_rate=32, init_features=64, stem="imagenet",
                input_shape=(None, None, 3), num_classes=1000)


def _register(defaults):
    return register_model(family="densenet", task="image_classification", paper=_PAPER, model_class=DenseNet,
                          defaults=defaults, inputs=IMAGE_INPUTS)


@_register(_imagenet((6, 12, 24, 16)))
def densenet121(**hparams):
    return DenseNet(**hparams)


@_register(_imagenet((6, 12, 32, 32)))
def densenet169(**hparams):
    return DenseNet(**hparams)


@_register(_imagenet((6, 12, 48, 32)))
def densenet201(**hparams):
    return DenseNet(**hparams)


@_register(_imagenet((6, 12, 64, 48)))
def densenet264(**hparams):
    return DenseNet(**hparams)


@_register(dict(block_config=(16, 16, 16), growth_rate=12, init_features=24, stem="cifar",
                input_shape=(32, 32, 3), num_classes=10))
def densenet_bc_100(**hparams):
    """DenseNet-BC (L=100, k=12) for 32x32 images: 3 blocks of 16 bottleneck layers."""
    return DenseNet(**hparams)
