"""Process set-up that must happen before TensorFlow is imported.

tensorflow-recommenders, tensorflow-transform and TFMA need Keras 2 (tf-keras). TensorFlow
2.16 picks Keras 2 for ``tf.keras`` only when ``TF_USE_LEGACY_KERAS=1`` is set before its
first import, so every package of ours imports this module first.
"""
import os
import sys


class KerasVersionError(ImportError):
    """TensorFlow was imported with Keras 3 before zoo could select Keras 2."""


def ensure_legacy_keras() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide CUDA/oneDNN start-up chatter
    if "tensorflow" not in sys.modules:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        return
    tf = sys.modules["tensorflow"]
    keras_module = getattr(getattr(tf, "keras", None), "__name__", "")
    if os.environ.get("TF_USE_LEGACY_KERAS") not in ("1", "true", "True") or not keras_module.startswith("tf_keras"):
        raise KerasVersionError(
            "zoo needs Keras 2 (tf-keras), but TensorFlow was already imported with Keras 3. "
            "Import zoo (or pipelines/serving) before tensorflow, or set TF_USE_LEGACY_KERAS=1 "
            "in the environment before starting Python."
        )


ensure_legacy_keras()
