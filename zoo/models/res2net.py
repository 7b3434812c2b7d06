"""Res2Net: ResNet bottlenecks whose 3x3 stage is a hierarchy of residual-like connections across scales."""
from __future__ import annotations

from zoo.backend import keras
from zoo.layers.vision import IMAGE_INPUTS, VisionModel, bn, classification_head, conv, conv_bn_act, image_input, tap
from zoo.registry import Paper, register_model

EXPANSION = 4  # a bottleneck's output has 4x its planes, as in ResNet-50


def _res2net_bottleneck(x, planes, width, scale, strides, first, name):
    """One Res2Net bottleneck (paper's Fig. 2b).

    The 1x1 convolution's ``width * scale`` output channels are split into ``scale`` groups
    ``x_1..x_s``; ``y_1 = x_1``, ``y_2 = K_2(x_2)``, ``y_i = K_i(x_i + y_{i-1})`` with ``K_i`` a
    3x3 conv-BN-ReLU, then ``[y_1..y_s]`` goes through the 1x1 expansion. Splitting the output
    channels of a 1x1 convolution (and of its per-channel batch norm) is the same as ``scale``
    separate 1x1 units, which is how it is built here (no slicing layer needed). The first block
    of a stage (``first``) changes resolution or width: there ``K_i`` takes ``x_i`` alone (with the
    stage's stride) and ``y_1`` is a 3x3 average pool of ``x_1``, as in the authors' code.
    """
    splits = [conv_bn_act(x, width, 1, f"{name}_split{i + 1}") for i in range(scale)]
    if first:
        ys = [keras.layers.AveragePooling2D(3, strides=strides, padding="same", name=f"{name}_pool")(splits[0])]
    else:
        ys = [splits[0]]
    for i in range(1, scale):
        branch = splits[i] if first or i == 1 else keras.layers.Add(name=f"{name}_add{i + 1}")([splits[i], ys[-1]])
        ys.append(conv_bn_act(branch, width, 3, f"{name}_k{i + 1}", strides=strides if first else 1))
    y = keras.layers.Concatenate(name=f"{name}_concat")(ys)
    y = bn(conv(y, planes * EXPANSION, 1, f"{name}_expand"), f"{name}_expand")
    shortcut = x
    if strides != 1 or x.shape[-1] != planes * EXPANSION:
        shortcut = bn(conv(x, planes * EXPANSION, 1, f"{name}_shortcut", strides=strides), f"{name}_shortcut")
    return keras.layers.Activation("relu", name=f"{name}_out")(keras.layers.Add(name=f"{name}_residual")([y, shortcut]))


@keras.saving.register_keras_serializable(package="zoo")
class Res2Net(VisionModel):
    """Res2Net: A New Multi-scale Backbone Architecture (Gao et al., 2019, arXiv:1904.01169).

    ResNet-50's layout (stem Conv 7x7/2 + MaxPool, stages of ``stage_blocks`` bottlenecks with 64, 128,
    256, 512 planes) with each bottleneck's 3x3 convolution replaced by the hierarchical
    multi-scale unit (see ``_res2net_bottleneck``): ``scale`` groups of ``width`` channels with
    ``width = floor(planes * base_width / 64)`` (Res2Net-50 "26w x 4s").

    Args:
      stage_blocks: bottlenecks per stage.
      base_width: ``w`` of the paper for 64 planes.
      scale: ``s`` of the paper (groups per bottleneck).
      input_shape, num_classes: the image shape and the softmax classes.
    """

    def __init__(self, stage_blocks=(3, 4, 6, 3), base_width=26, scale=4, input_shape=(None, None, 3), num_classes=1000,
                 **kwargs):
        image = image_input(input_shape)
        x = tap(conv_bn_act(image, 64, 7, "stem", strides=2), stride=2)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
        for s, blocks in enumerate(stage_blocks):
            planes = 64 * 2 ** s
            width = planes * base_width // 64
            for b in range(blocks):
                x = _res2net_bottleneck(x, planes, width, scale, strides=2 if s and not b else 1, first=not b,
                                        name=f"stage{s + 1}_block{b + 1}")
            x = tap(x, stride=4 * 2 ** s)
        outputs = classification_head(x, num_classes)
        super().__init__(inputs=image, outputs=outputs, **kwargs)
        self.stage_blocks = tuple(stage_blocks)
        self.base_width = base_width
        self.scale = scale
        self.num_classes = num_classes


@register_model(family="res2net", task="image_classification", model_class=Res2Net, inputs=IMAGE_INPUTS,
                paper=Paper("Res2Net: A New Multi-scale Backbone Architecture", "1904.01169"),
                defaults=dict(stage_blocks=(3, 4, 6, 3), base_width=26, scale=4, input_shape=(None, None, 3),
                              num_classes=1000))
def res2net50(**hparams):
    return Res2Net(**hparams)
