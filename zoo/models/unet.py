"""U-Net and UNet++: encoder-decoder segmentation with skip pathways, on a plain or a zoo backbone encoder."""
from __future__ import annotations

import functools

from zoo.backend import keras, tf
from zoo.layers.vision import IMAGE_INPUTS, VisionModel, conv, image_input, reduction_features
from zoo.registry import Paper, create, register_model


def _conv_block(x, filters, batch_norm, name):
    """Two 3x3 convolutions with ReLU (U-Net's unit), each followed by batch norm when asked."""
    for k in (1, 2):
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"{name}_{k}_bn")(conv(x, filters, 3, f"{name}_{k}"))
        else:
            x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_{k}_conv")(x)
        x = keras.layers.Activation("relu", name=f"{name}_{k}_relu")(x)
    return x


def _encoder(image, depth, filters, batch_norm, encoder, encoder_hparams, input_shape):
    """``X^{i,0}`` for ``i = 0..depth`` (stride doubling each level) and the stride of ``X^{0,0}``.

    Without ``encoder`` it is U-Net's contracting path (conv block, 2x2 max pool, ...); with one,
    it is that registered backbone cut at its tapped feature maps (``reduction_<level>``).
    """
    if encoder is None:
        features = [_conv_block(image, filters[0], batch_norm, "x_0_0")]
        for i in range(1, depth + 1):
            pooled = keras.layers.MaxPooling2D(2, name=f"down_{i}")(features[-1])
            features.append(_conv_block(pooled, filters[i], batch_norm, f"x_{i}_0"))
        return features, 1
    backbone = create(encoder, input_shape=input_shape, num_classes=1, **(encoder_hparams or {}))
    taps = reduction_features(backbone)
    first = min(taps)
    levels = range(first, first + depth + 1)
    if any(level not in taps for level in levels):
        raise ValueError(f"encoder {encoder!r} has feature maps at strides {[2 ** t for t in sorted(taps)]}; "
                         f"depth {depth} needs {depth + 1} consecutive ones")
    # Only the layers up to the taps: the backbone's classifier is left out (it would get no gradient).
    trunk = keras.Model(backbone.input, [taps[level] for level in levels], name="encoder")
    return list(trunk(image)), 2 ** first


def _decoder(features, filters, batch_norm, nested):
    """The top-row nodes ``X^{0,j}``, ``j = 1..depth``, that the model's heads read.

    ``X^{i,j} = H([X^{i,0}, ..., X^{i,j-1}, Up(X^{i+1,j-1})])`` with ``H`` a conv block and ``Up`` a
    2x2 transposed convolution. ``nested`` (UNet++) computes every node with ``i + j <= depth``
    (the dense skip pathways); U-Net computes only ``i + j = depth``, whose row ``i`` has just
    ``X^{i,0}`` as skip input, so only ``X^{0,depth}`` exists in the top row.
    """
    depth = len(features) - 1
    nodes = {(i, 0): x for i, x in enumerate(features)}
    for j in range(1, depth + 1):
        for i in range(depth - j + 1) if nested else (depth - j,):
            up = keras.layers.Conv2DTranspose(filters[i], 2, strides=2, name=f"up_{i}_{j}")(nodes[(i + 1, j - 1)])
            skips = [nodes[(i, k)] for k in range(j) if (i, k) in nodes]
            merged = keras.layers.Concatenate(name=f"skip_{i}_{j}")([*skips, up])
            nodes[(i, j)] = _conv_block(merged, filters[i], batch_norm, f"x_{i}_{j}")
    return [nodes[(0, j)] for j in range(1, depth + 1) if (0, j) in nodes]


def _head(x, num_classes, upscale, name):
    """1x1 convolution to class logits, bilinear upsampling to the input size, sigmoid (1 class) or softmax."""
    x = keras.layers.Conv2D(num_classes, 1, name=f"{name}_logits")(x)
    if upscale > 1:
        x = keras.layers.UpSampling2D(upscale, interpolation="bilinear", name=f"{name}_upsample")(x)
    return keras.layers.Activation("sigmoid" if num_classes == 1 else "softmax", name=name)(x)


class _EncoderDecoder(VisionModel):
    """The graph shared by U-Net (``nested=False``) and UNet++; subclasses fix the choices."""

    def __init__(self, depth, base_filters, batch_norm, encoder, encoder_hparams, input_shape, num_classes,
                 nested, deep_supervision, **kwargs):
        filters = [base_filters * 2 ** i for i in range(depth + 1)]
        image = image_input(input_shape)
        features, upscale = _encoder(image, depth, filters, batch_norm, encoder, encoder_hparams, input_shape)
        top = _decoder(features, filters, batch_norm, nested)
        if deep_supervision:
            heads = [_head(x, num_classes, upscale, f"head_{j}") for j, x in enumerate(top, start=1)]
            outputs = keras.layers.Average(name="probabilities")(heads)  # the paper's "accurate mode"
        else:
            outputs = _head(top[-1], num_classes, upscale, "probabilities")
        super().__init__(inputs=image, outputs=outputs, **kwargs)
        self.depth = depth
        self.base_filters = base_filters
        self.batch_norm = batch_norm
        self.encoder = encoder
        self.encoder_hparams = dict(encoder_hparams) if encoder_hparams else None
        self.num_classes = num_classes
        self.deep_supervision = deep_supervision

    def get_config(self):
        config = super().get_config()
        # Keras wraps a dict attribute for tracking; the config needs plain JSON values.
        config["encoder_hparams"] = _plain(self.encoder_hparams)
        return config


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


@keras.saving.register_keras_serializable(package="zoo")
class UNet(_EncoderDecoder):
    """U-Net: Convolutional Networks for Biomedical Image Segmentation (Ronneberger et al., 2015,
    arXiv:1505.04597).

    A contracting path of conv blocks (two 3x3 conv-ReLU) and 2x2 max pools doubling the filters
    at each of ``depth`` levels, and an expanding path of 2x2 up-convolutions, concatenation with
    the same level's encoder map, and conv blocks; a 1x1 convolution gives per-pixel classes.
    Departures from the paper, for arbitrary input sizes and short training: "same" padding (the
    output has the input's size, no overlap-tile cropping) and batch norm after each convolution
    (``batch_norm=False`` restores the paper's plain units).

    Args:
      depth: number of poolings (4 in the paper); height and width must be multiples of ``2**depth``.
      base_filters: filters of the first level (64 in the paper).
      batch_norm: see above.
      encoder: None for the paper's encoder, or the name of a registered image-classification
        backbone (e.g. "densenet121") whose feature maps at ``depth + 1`` consecutive strides
        replace it; then the input must be a multiple of that backbone's total stride.
      encoder_hparams: overrides for that backbone's hyper-parameters.
      input_shape, num_classes: the image shape and the classes (1: a sigmoid foreground map).
    """

    def __init__(self, depth=4, base_filters=64, batch_norm=True, encoder=None, encoder_hparams=None,
                 input_shape=(None, None, 1), num_classes=1, **kwargs):
        super().__init__(depth, base_filters, batch_norm, encoder, encoder_hparams, input_shape, num_classes,
                         nested=False, deep_supervision=False, **kwargs)


@keras.saving.register_keras_serializable(package="zoo")
class UNetPlusPlus(_EncoderDecoder):
    """UNet++: A Nested U-Net Architecture for Medical Image Segmentation (Zhou et al., 2018,
    arXiv:1807.10165).

    U-Net's encoder with nested, dense skip pathways: node ``X^{i,j}`` is a conv block on the
    concatenation of every earlier node of its row and the up-sampled node below,
    ``X^{i,j} = H([X^{i,0..j-1}, Up(X^{i+1,j-1})])``, which bridges the semantic gap between encoder
    and decoder maps. With ``deep_supervision`` each top node ``X^{0,j}`` has its own 1x1 head; the
    training loss is the average of the heads' losses (``train_step``), the output is the average
    of their probabilities (the paper's accurate mode), and ``pruned(level)`` is the sub-network
    ending at head ``level``, cheaper at inference. Same "same"-padding and batch-norm choices as
    ``UNet``.

    Args:
      depth, base_filters, batch_norm, encoder, encoder_hparams, input_shape, num_classes: as ``UNet``
        (the paper uses 32 base filters).
      deep_supervision: see above.
    """

    def __init__(self, depth=4, base_filters=32, batch_norm=True, encoder=None, encoder_hparams=None,
                 deep_supervision=True, input_shape=(None, None, 1), num_classes=1, **kwargs):
        super().__init__(depth, base_filters, batch_norm, encoder, encoder_hparams, input_shape, num_classes,
                         nested=True, deep_supervision=deep_supervision, **kwargs)

    def pruned(self, level):
        """UNet++ L^level: the sub-network from the input to head ``level`` (1..depth), sharing
        this model's weights; the nodes it does not need are not computed."""
        if not self.deep_supervision:
            raise ValueError("pruning needs the per-level heads of a model trained with deep_supervision=True")
        if not 1 <= level <= self.depth:
            raise ValueError(f"level must be in 1..{self.depth}, got {level}")
        return keras.Model(self.inputs, self.get_layer(f"head_{level}").output, name=f"{self.name}_L{level}")

    @functools.cached_property
    def _heads(self):
        # Stored outside Keras' attribute tracking (cached_property writes __dict__): it only
        # re-wires this model's own layers, which must not be saved twice.
        return keras.Model(self.inputs, [self.get_layer(f"head_{j}").output for j in range(1, self.depth + 1)])

    def train_step(self, data):
        """Deep supervision: the compiled loss on every head, averaged; metrics on the averaged output."""
        if not self.deep_supervision:
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            heads = self._heads(x, training=True)
            loss = tf.add_n([self.compute_loss(x, y, head, sample_weight) for head in heads]) / len(heads)
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        return self.compute_metrics(x, y, tf.add_n(heads) / len(heads), sample_weight)


def _register(model_class, paper, defaults):
    return register_model(family="unet", task="segmentation", model_class=model_class, paper=paper,
                          defaults={**defaults, "input_shape": (None, None, 1), "num_classes": 1},
                          inputs=IMAGE_INPUTS)


@_register(UNet, Paper("U-Net: Convolutional Networks for Biomedical Image Segmentation", "1505.04597"),
           dict(depth=4, base_filters=64, batch_norm=True, encoder=None))
def unet(**hparams):
    return UNet(**hparams)


@_register(UNetPlusPlus, Paper("UNet++: A Nested U-Net Architecture for Medical Image Segmentation", "1807.10165"),
           dict(depth=4, base_filters=32, batch_norm=True, encoder=None, deep_supervision=True))
def unet_plus_plus(**hparams):
    return UNetPlusPlus(**hparams)
