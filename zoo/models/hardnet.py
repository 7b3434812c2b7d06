"""HarDNet: dense blocks thinned to harmonic (power-of-two) connections to cut memory traffic."""
from __future__ import annotations

from zoo.backend import keras
from zoo.layers.vision import IMAGE_INPUTS, VisionModel, classification_head, conv_bn_act, image_input, tap
from zoo.registry import Paper, register_model


def harmonic_links(layer):
    """The earlier outputs layer ``layer`` (1-based; 0 is the block input) reads: ``layer - 2**n``
    for every ``n`` with ``2**n`` dividing ``layer``."""
    links, step = [], 1
    while step <= layer and layer % step == 0:
        links.append(layer - step)
        step *= 2
    return links


def harmonic_channels(layer, growth_rate, multiplier):
    """Output channels of layer ``layer``: ``k * m**(n - 1)`` for its ``n`` links, rounded to an even
    number, so layers read by many later layers (the hubs) are wider."""
    channels = growth_rate * multiplier ** (len(harmonic_links(layer)) - 1)
    return int(int(channels + 1) / 2) * 2


def _harmonic_block(x, layers, growth_rate, multiplier, name):
    """A harmonic dense block: layer ``l`` is a 3x3 conv-BN-ReLU6 on the concatenation of the
    outputs ``harmonic_links(l)``; the block outputs the odd layers and the last one."""
    outputs = [x]
    for layer in range(1, layers + 1):
        sources = [outputs[i] for i in harmonic_links(layer)]
        inputs = sources[0] if len(sources) == 1 else keras.layers.Concatenate(name=f"{name}_in{layer}")(sources)
        outputs.append(conv_bn_act(inputs, harmonic_channels(layer, growth_rate, multiplier), 3,
                                   f"{name}_layer{layer}", activation="relu6"))
    kept = [outputs[i] for i in range(1, layers + 1) if i % 2 == 1 or i == layers]
    return keras.layers.Concatenate(name=f"{name}_out")(kept)


@keras.saving.register_keras_serializable(package="zoo")
class HarDNet(VisionModel):
    """HarDNet: A Low Memory Traffic Network (Chao et al., 2019, arXiv:1909.00948).

    Stem: Conv 3x3/2 (32) and Conv 3x3 (64), then MaxPool 3x3/2. Then harmonic dense blocks
    (see ``_harmonic_block``), each followed by a 1x1 conv-BN-ReLU6 transition to
    ``transition_channels[i]`` and, where ``downsample[i]``, a 2x2 max pool. All units use
    ReLU6 as in the authors' code. The classifier has dropout before it.

    Args:
      growth_rates, block_layers, transition_channels, downsample: one entry per block (``k``,
        the number of layers, the transition width, whether a max pool follows).
      multiplier: ``m``, the hub-width multiplier (1.7).
      dropout: before the classifier (0.1 for HarDNet-68).
      input_shape, num_classes: the image shape and the softmax classes.
    """

    def __init__(self, growth_rates=(14, 16, 20, 40, 160), block_layers=(8, 16, 16, 16, 4),
                 transition_channels=(128, 256, 320, 640, 1024), downsample=(True, False, True, True, False),
                 multiplier=1.7, dropout=0.1, input_shape=(None, None, 3), num_classes=1000, **kwargs):
        image = image_input(input_shape)
        x = conv_bn_act(image, 32, 3, "stem1", strides=2, activation="relu6")
        x = tap(conv_bn_act(x, 64, 3, "stem2", activation="relu6"), stride=2)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
        stride = 4
        for b, (growth, layers, channels) in enumerate(zip(growth_rates, block_layers, transition_channels)):
            x = _harmonic_block(x, layers, growth, multiplier, f"block{b + 1}")
            x = conv_bn_act(x, channels, 1, f"transition{b + 1}", activation="relu6")
            if downsample[b] or b == len(growth_rates) - 1:
                x = tap(x, stride)
            if downsample[b]:
                x = keras.layers.MaxPooling2D(2, name=f"transition{b + 1}_pool")(x)
                stride *= 2
        outputs = classification_head(x, num_classes, dropout=dropout)
        super().__init__(inputs=image, outputs=outputs, **kwargs)
        self.growth_rates = tuple(growth_rates)
        self.block_layers = tuple(block_layers)
        self.transition_channels = tuple(transition_channels)
        self.downsample = tuple(downsample)
        self.multiplier = multiplier
        self.dropout = dropout
        self.num_classes = num_classes


@register_model(family="hardnet", task="image_classification", model_class=HarDNet, inputs=IMAGE_INPUTS,
                paper=Paper("HarDNet: A Low Memory Traffic Network", "1909.00948"),
                defaults=dict(growth_rates=(14, 16, 20, 40, 160), block_layers=(8, 16, 16, 16, 4),
                              transition_channels=(128, 256, 320, 640, 1024),
                              downsample=(True, False, True, True, False), multiplier=1.7, dropout=0.1,
                              input_shape=(None, None, 3), num_classes=1000))
def hardnet68(**hparams):
    return HarDNet(**hparams)
