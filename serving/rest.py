"""TF Serving's REST API over HTTP: routes, request bodies and JSON replies.

``RestApi`` maps (method, path, body) to a JSON reply and knows nothing of sockets, so it can be
tested and reused on its own; ``RestServer`` is the stdlib HTTP server that feeds it. Every error
reaches the client as ``{"error": message}`` with the status of its ``ServingError``.
"""
import http
import json
import logging
import re
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from serving import codec, inference
from serving.errors import InvalidArgument, MethodNotAllowed, NotFound, ServingError
from serving.model_manager import ModelManager, ServableVersion

# /v1/models/NAME[/versions/N][/metadata | :predict | :classify | :regress]
_MODEL_PATH = re.compile(
    r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<resource>/metadata|:[a-z]+)?",
    re.IGNORECASE,
)
_GET_RESOURCES = ("", "/metadata")
_POST_VERBS = (":predict", ":classify", ":regress")

logger = logging.getLogger(__name__)


class RestApi:
    """Answers REST requests from the models held by a ``ModelManager``."""

    def __init__(self, manager: ModelManager):
        self._manager = manager

    def handle(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        """The JSON reply for a request; raises ``ServingError`` for anything a client got wrong."""
        match = _MODEL_PATH.fullmatch(path)
        if not match:
            raise NotFound(f"Malformed request: {method} {path}")
        name = match["name"]
        version = int(match["version"]) if match["version"] else None
        resource = (match["resource"] or "").lower()
        if resource in _GET_RESOURCES:
            _require_method(method, "GET", path)
            if resource == "/metadata":
                return self._metadata(self._manager.get(name, version))
            return self._status(name, version)
        if resource in _POST_VERBS:
            _require_method(method, "POST", path)
            return self._run_verb(resource, self._manager.get(name, version), body)
        raise NotFound(f"Malformed request: {method} {path}")

    @staticmethod
    def _run_verb(verb: str, servable: ServableVersion, body: bytes) -> dict[str, Any]:
        request = codec.parse_request_body(body)
        signature = servable.signature(codec.signature_name(request))
        if verb == ":predict":
            arrays, request_format = codec.decode_predict_request(request, signature.inputs)
            return codec.encode_predict_response(signature.run(arrays), request_format)
        examples = codec.decode_examples(request)
        if verb == ":classify":
            return codec.encode_classify_response(*inference.classify(signature, examples))
        return codec.encode_regress_response(inference.regress(signature, examples))

    def _status(self, name: str, version: int | None) -> dict[str, Any]:
        model = self._manager.get_model(name)
        versions = list(model.versions) if version is None else [model.get(version).version]
        return codec.encode_model_status(versions)

    @staticmethod
    def _metadata(servable: ServableVersion) -> dict[str, Any]:
        return codec.encode_model_metadata(servable.name, servable.version, servable.signature_defs)


def _require_method(method: str, expected: str, path: str) -> None:
    if method != expected:
        raise MethodNotAllowed(f"{path} only answers {expected}, not {method}")


class RestServer(ThreadingHTTPServer):
    """A threaded HTTP server whose handlers answer through ``api``; one thread per connection."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: RestApi):
        super().__init__(address, _RequestHandler)
        self.api = api


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can reuse connections
    server_version = "zoo-serving"
    timeout = 60  # seconds an idle or stalled connection may hold a thread

    def do_GET(self) -> None:  # noqa: N802  (BaseHTTPRequestHandler's naming)
        self._respond()

    def do_POST(self) -> None:  # noqa: N802
        self._respond()

    def _respond(self) -> None:
        try:
            body = self._read_body()
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            status, reply = http.HTTPStatus.OK, self.server.api.handle(self.command, path, body)
        except ServingError as error:
            status, reply = error.http_status, {"error": error.message}
        except Exception as error:  # a bug, not the client's fault: log it, keep serving
            logger.exception("%s %s failed", self.command, self.path)
            status, reply = http.HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {error}"}
        self._send_json(status, reply)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # the unread chunks would be parsed as the next request
            raise InvalidArgument("chunked request bodies are not supported; send a Content-Length")
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if length < 0:
                raise ValueError(length)
        except ValueError:
            self.close_connection = True
            raise InvalidArgument("invalid Content-Length header") from None
        try:
            return self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            raise InvalidArgument(f"timed out reading the {length}-byte request body") from None

    def _send_json(self, status: int, reply: dict[str, Any]) -> None:
        payload = json.dumps(reply).encode("utf-8")  # NaN/Infinity tokens allowed, as in TF Serving
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's signature)
        logger.debug("%s %s", self.address_string(), format % args)
