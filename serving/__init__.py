"""A TensorFlow-Serving-compatible model server for SavedModels in TF Serving's directory layout.

REST (``rest``) and gRPC (``grpc_api``) mirror ``tensorflow_model_server`` so existing clients work
unchanged; ``model_manager`` loads, warms up, swaps and retires versions, ``batching`` merges
concurrent requests, ``metrics`` exposes Prometheus metrics. See ``serving.server`` for the entry point.
"""
from zoo import _env  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
