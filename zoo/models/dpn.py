"""Dual Path Networks: a residual path (feature re-use) and a densely connected path (new features) in one block."""
from __future__ import annotations

from zoo.backend import keras
from zoo.layers.vision import (IMAGE_INPUTS, VisionModel, bn_act, bn_act_conv, classification_head, conv,
                               conv_bn_act, image_input, tap)
from zoo.registry import Paper, register_model


def _dual_path_block(residual, dense, bottleneck, width, increment, groups, strides, project, name):
    """One dual path block on the paths ``(residual, dense)`` (``dense`` is None for a stage's first block).

    The block sees ``x = [residual, dense]`` and computes ``h = 1x1(grouped 3x3(1x1(x)))``
    (pre-activation BN-ReLU-Conv units); ``h``'s first ``width`` channels are added to the residual
    path and its last ``increment`` channels are appended to the dense path. The first block of a
    stage (``project``) first re-projects ``x`` into a fresh residual path (``width`` channels) and a
    dense path (``2 * increment`` channels) with the stage's stride. Output channels of a 1x1
    convolution are independent, so each split of the reference code is two convolutions here.
    """
    x = residual if dense is None else keras.layers.Concatenate(name=f"{name}_in")([residual, dense])
    if project:
        pre = bn_act(x, f"{name}_proj")
        residual = conv(pre, width, 1, f"{name}_proj_residual", strides=strides)
        dense = conv(pre, 2 * increment, 1, f"{name}_proj_dense", strides=strides)
    h = bn_act_conv(x, bottleneck, 1, f"{name}_a")
    h = bn_act_conv(h, bottleneck, 3, f"{name}_b", strides=strides, groups=groups)
    pre = bn_act(h, f"{name}_c")
    residual = keras.layers.Add(name=f"{name}_residual")([residual, conv(pre, width, 1, f"{name}_c_residual")])
    dense = keras.layers.Concatenate(name=f"{name}_dense")([dense, conv(pre, increment, 1, f"{name}_c_dense")])
    return residual, dense


@keras.saving.register_keras_serializable(package="zoo")
class DPN(VisionModel):
    """Dual Path Networks (Chen et al., 2017, arXiv:1707.01629).

    A stem (Conv-BN-ReLU with stride 2, 7x7 or 3x3 for the small DPN-68, then MaxPool 3x3/2) and
    four stages of dual path blocks (see ``_dual_path_block``). Stage ``i`` has residual width
    ``width_i = 64 * width_factor * 2**i``, bottleneck ``k_R * width_i / (64 * width_factor)``
    channels, grouped 3x3 convolutions with ``groups`` groups (cardinality ``G``), and each block
    adds ``increments[i]`` channels to the dense path; stages 2-4 start with stride 2. The two
    paths are concatenated, batch-normalized and pooled for the classifier.

    Args:
      init_features, stem_kernel: the stem convolution.
      bottleneck_base: ``k_R``.
      groups: ``G``.
      stage_blocks: blocks per stage (``k_sec``).
      increments: dense-path growth per block in each stage (``inc_sec``).
      width_factor: 1 for DPN-68 ("small"), 4 otherwise.
      input_shape, num_classes: the image shape and the softmax classes.
    """

    def __init__(self, init_features=64, stem_kernel=7, bottleneck_base=96, groups=32, stage_blocks=(3, 4, 20, 3),
                 increments=(16, 32, 24, 128), width_factor=4, input_shape=(None, None, 3), num_classes=1000,
                 **kwargs):
        image = image_input(input_shape)
        x = tap(conv_bn_act(image, init_features, stem_kernel, "stem", strides=2), stride=2)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
        for s, (blocks, increment) in enumerate(zip(stage_blocks, increments)):
            width = 64 * width_factor * 2 ** s
            bottleneck = bottleneck_base * width // (64 * width_factor)
            # A stage's first block re-projects its input, so it may take the joined paths as one map.
            residual, dense = x, None
            for b in range(blocks):
                residual, dense = _dual_path_block(
                    residual, dense, bottleneck, width, increment, groups, strides=2 if s and not b else 1,
                    project=not b, name=f"stage{s + 1}_block{b + 1}")
            x = keras.layers.Concatenate(name=f"stage{s + 1}_out")([residual, dense])
            if s < len(stage_blocks) - 1:
                x = tap(x, stride=4 * 2 ** s)
        x = tap(bn_act(x, "final"), stride=4 * 2 ** (len(stage_blocks) - 1))
        outputs = classification_head(x, num_classes)
        super().__init__(inputs=image, outputs=outputs, **kwargs)
        self.init_features = init_features
        self.stem_kernel = stem_kernel
        self.bottleneck_base = bottleneck_base
        self.groups = groups
        self.stage_blocks = tuple(stage_blocks)
        self.increments = tuple(increments)
        self.width_factor = width_factor
        self.num_classes = num_classes


def _register(defaults):
    return register_model(family="dpn", task="image_classification", model_class=DPN, inputs=IMAGE_INPUTS,
                          paper=Paper("Dual Path Networks", "1707.01629"),
                          defaults={**defaults, "input_shape": (None, None, 3), "num_classes": 1000})


@_register(dict(init_features=10, stem_kernel=3, bottleneck_base=128, groups=32, stage_blocks=(3, 4, 12, 3),
                increments=(16, 32, 32, 64), width_factor=1))
def dpn68(**hparams):
    return DPN(**hparams)


@_register(dict(init_features=64, stem_kernel=7, bottleneck_base=96, groups=32, stage_blocks=(3, 4, 20, 3),
                increments=(16, 32, 24, 128), width_factor=4))
def dpn92(**hparams):
    return DPN(**hparams)
