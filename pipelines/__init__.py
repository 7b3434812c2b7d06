"""TFX pipelines that train zoo models from raw data and push servable SavedModels."""
from zoo import _env  # noqa: F401  (first: must precede any TensorFlow import)
