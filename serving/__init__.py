"""A TensorFlow-Serving-compatible model server for SavedModels in TF Serving's directory layout.

The REST API mirrors ``tensorflow_model_server`` so existing clients work unchanged; see
``serving.server`` for the entry point.
"""
from zoo import _env  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
