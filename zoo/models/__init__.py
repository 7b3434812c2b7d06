"""Model families; importing this package registers every variant."""
from zoo.models import dcn, deepfm, wide_deep  # noqa: F401
