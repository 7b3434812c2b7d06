"""Errors that carry the status a client should see.

Every failure a request can cause is raised as one of these so the transport layer (REST today,
gRPC later) can map it to its own status code without knowing where it was raised.
"""


class ServingError(Exception):
    """Base class: a request failed; ``message`` is returned to the client verbatim."""

    http_status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(ServingError):
    """The request is malformed or does not fit the model's signature."""

    http_status = 400


class NotFound(ServingError):
    """The model, version or API path does not exist."""

    http_status = 404


class MethodNotAllowed(ServingError):
    """The path exists but not for this HTTP method (e.g. GET on ``:predict``)."""

    http_status = 405


class ModelLoadError(Exception):
    """A model could not be discovered or loaded at start-up."""
