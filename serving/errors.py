"""Errors that carry the status a client should see.

Every failure a request can cause is raised as one of these so each transport (REST, gRPC) maps it
to its own status code without knowing where it was raised. ``grpc_code`` is a ``grpc.StatusCode``
name, the same code TF Serving returns for that failure.
"""


class ServingError(Exception):
    """Base class: a request failed; ``message`` is returned to the client verbatim."""

    http_status = 500
    grpc_code = "INTERNAL"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(ServingError):
    """The request is malformed or does not fit the model's signature."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


class NotFound(ServingError):
    """The model, version, label or API path does not exist."""

    http_status = 404
    grpc_code = "NOT_FOUND"


class MethodNotAllowed(ServingError):
    """The path exists but not for this HTTP method (e.g. GET on ``:predict``)."""

    http_status = 405
    grpc_code = "UNIMPLEMENTED"


class PayloadTooLarge(ServingError):
    """The request body exceeds the server's limit."""

    http_status = 413
    grpc_code = "RESOURCE_EXHAUSTED"


class Unavailable(ServingError):
    """The server cannot take the request now (batch queue full, shutting down); retrying may work."""

    http_status = 503
    grpc_code = "UNAVAILABLE"


class ModelLoadError(Exception):
    """A model or version could not be discovered, loaded or warmed up."""
