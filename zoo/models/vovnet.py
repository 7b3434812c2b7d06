"""VoVNet: One-Shot Aggregation, each layer's output concatenated once at the end of its module."""
from __future__ import annotations

from zoo.backend import keras
from zoo.layers.vision import IMAGE_INPUTS, VisionModel, classification_head, conv_bn_act, image_input, tap
from zoo.registry import Paper, register_model


def _osa_module(x, stage_channels, concat_channels, layers, name):
    """One-Shot Aggregation: ``layers`` successive 3x3 conv-BN-ReLU (``stage_channels`` each); the
    module input and every layer's output are concatenated once and fused by a 1x1 conv-BN-ReLU."""
    outputs = [x]
    for i in range(layers):
        outputs.append(conv_bn_act(outputs[-1], stage_channels, 3, f"{name}_layer{i + 1}"))
    return conv_bn_act(keras.layers.Concatenate(name=f"{name}_concat")(outputs), concat_channels, 1, f"{name}_fuse")


@keras.saving.register_keras_serializable(package="zoo")
class VoVNet(VisionModel):
    """An Energy and GPU-Computation Efficient Backbone Network for Real-Time Object Detection
    (Lee et al., 2019, arXiv:1904.09730): VoVNet.

    Stem: three 3x3 conv-BN-ReLU (64/2, 64, 128/2). Then stages of OSA modules (see
    ``_osa_module``); every stage but the first starts with a 3x3/2 max pool. VoVNet-39 has
    stage widths 128, 160, 192, 224, outputs 256, 512, 768, 1024, modules 1, 1, 2, 2 and 5
    layers per module.

    Args:
      stage_channels, concat_channels, stage_modules: one entry per stage.
      module_layers: convolutions per OSA module.
      input_shape, num_classes: the image shape and the softmax classes.
    """

    def __init__(self, stage_channels=(128, 160, 192, 224), concat_channels=(256, 512, 768, 1024),
                 stage_modules=(1, 1, 2, 2), module_layers=5, input_shape=(None, None, 3), num_classes=1000,
                 **kwargs):
        image = image_input(input_shape)
        x = conv_bn_act(image, 64, 3, "stem1", strides=2)
        x = tap(conv_bn_act(x, 64, 3, "stem2"), stride=2)
        x = conv_bn_act(x, 128, 3, "stem3", strides=2)
        for s, (width, out, modules) in enumerate(zip(stage_channels, concat_channels, stage_modules)):
            if s:
                x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"stage{s + 1}_pool")(x)
            for m in range(modules):
                x = _osa_module(x, width, out, module_layers, f"stage{s + 1}_osa{m + 1}")
            x = tap(x, stride=4 * 2 ** s)
        outputs = classification_head(x, num_classes)
        super().__init__(inputs=image, outputs=outputs, **kwargs)
        self.stage_channels = tuple(stage_channels)
        self.concat_channels = tuple(concat_channels)
        self.stage_modules = tuple(stage_modules)
        self.module_layers = module_layers
        self.num_classes = num_classes


@register_model(family="vovnet", task="image_classification", model_class=VoVNet, inputs=IMAGE_INPUTS,
                paper=Paper("An Energy and GPU-Computation Efficient Backbone Network for Real-Time Object "
                            "Detection", "1904.09730"),
                defaults=dict(stage_channels=(128, 160, 192, 224), concat_channels=(256, 512, 768, 1024),
                              stage_modules=(1, 1, 2, 2), module_layers=5, input_shape=(None, None, 3),
                              num_classes=1000))
def vovnet39(**hparams):
    return VoVNet(**hparams)
