"""TF Serving's REST API over HTTP: routes, request bodies and JSON replies.

``RestApi`` maps (method, path, body) to a ``Reply`` and knows nothing of sockets, so it can be
tested and reused on its own; ``RestServer`` is the stdlib HTTP server that feeds it, with a body
size limit, metrics, a JSON access log line per request and draining on shutdown. Every error
reaches the client as ``{"error": message}`` with the status of its ``ServingError``.
"""
from __future__ import annotations

import dataclasses
import http
import json
import logging
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from serving import codec, inference
from serving.errors import InvalidArgument, MethodNotAllowed, NotFound, PayloadTooLarge, ServingError, Unavailable
from serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from serving.metrics import Metrics
from serving.model_manager import ModelManager, ServableVersion

# /v1/models/NAME[/versions/N | /labels/L][/metadata | :predict | :classify | :regress]
_MODEL_PATH = re.compile(
    r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d{1,18})|/labels/(?P<label>[^/:]+))?"
    r"(?P<resource>/metadata|:[a-z]+)?",
    re.IGNORECASE,
)
_GET_RESOURCES = ("", "/metadata")
_POST_VERBS = (":predict", ":classify", ":regress")
METRICS_PATH = "/monitoring/prometheus/metrics"
HEALTH_PATH = "/v1/health"
DEFAULT_MAX_BODY_BYTES = 64 << 20

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("serving.access")


@dataclasses.dataclass
class Reply:
    """An HTTP reply, and which model, version and API it concerned (for metrics and the access log)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    model: str = ""
    version: str = ""
    api: str = ""


class RestApi:
    """Answers REST requests from the models held by a ``ModelManager``."""

    def __init__(self, manager: ModelManager, metrics: Metrics | None = None):
        self._manager = manager
        self.metrics = metrics or Metrics()

    def respond(self, method: str, path: str, body: bytes) -> Reply:
        """The reply to a request, errors included; never raises for a client's mistake."""
        reply = Reply(http.HTTPStatus.OK, b"")
        try:
            if path == METRICS_PATH:
                _require_method(method, "GET", path)
                reply.api, reply.content_type = "metrics", METRICS_CONTENT_TYPE
                reply.body = self.metrics.render(self._available()).encode("utf-8")
                return reply
            result = self.handle(method, path, body, reply)
        except ServingError as error:
            reply.status, result = error.http_status, {"error": error.message}
        reply.body = json.dumps(result).encode("utf-8")  # NaN/Infinity tokens allowed, as in TF Serving
        return reply

    def handle(self, method: str, path: str, body: bytes, reply: Reply | None = None) -> dict[str, Any]:
        """The JSON reply for a request; raises ``ServingError`` for anything a client got wrong."""
        reply = reply or Reply(http.HTTPStatus.OK, b"")
        if path == HEALTH_PATH:
            _require_method(method, "GET", path)
            reply.api = "health"
            return self._health()
        match = _MODEL_PATH.fullmatch(path)
        if not match:
            raise NotFound(f"Malformed request: {method} {path}")
        name, label = match["name"], match["label"]
        version = int(match["version"]) if match["version"] else None
        resource = (match["resource"] or "").lower()
        model = self._manager.get_model(name)
        reply.model = name  # only names of served models become metric labels
        if resource in _GET_RESOURCES:
            _require_method(method, "GET", path)
            if resource == "/metadata":
                reply.api = "metadata"
                servable = model.get(version, label)
                reply.version = str(servable.version)
                return codec.encode_model_metadata(servable.name, servable.version, servable.signature_defs)
            reply.api = "status"
            if label is not None:
                version = model.get(label=label).version
            return codec.encode_model_status(model.status(version))
        if resource in _POST_VERBS:
            _require_method(method, "POST", path)
            reply.api = resource[1:]
            servable = model.get(version, label)
            reply.version = str(servable.version)
            return self._run_verb(resource, servable, body)
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

    def _available(self) -> dict[str, list[int]]:
        return {name: sorted(model.versions) for name, model in self._manager.models.items()}

    def _health(self) -> dict[str, Any]:
        available = self._available()
        missing = sorted(name for name, versions in available.items() if not versions)
        if missing:
            raise Unavailable(f"no AVAILABLE version of {missing}")
        models = {name: [str(v) for v in versions] for name, versions in available.items()}
        return {"status": "SERVING", "models": models}


def _require_method(method: str, expected: str, path: str) -> None:
    if method != expected:
        raise MethodNotAllowed(f"{path} only answers {expected}, not {method}")


class RestServer(ThreadingHTTPServer):
    """A threaded HTTP server whose handlers answer through ``api``; one thread per connection.

    ``drain`` stops accepting connections and waits for the requests being answered; a request that
    arrives on a kept-alive connection meanwhile gets 503 and the connection is closed.
    """

    daemon_threads = True
    request_queue_size = 128  # the listen backlog: bursts of new connections wait instead of being refused

    def __init__(self, address: tuple[str, int], api: RestApi, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES):
        super().__init__(address, _RequestHandler)
        self.api = api
        self.max_body_bytes = max_body_bytes
        self.draining = False
        self._in_flight = 0
        self._idle = threading.Condition()
        self._serving = threading.Event()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._serving.set()
        super().serve_forever(poll_interval)

    def begin_request(self) -> bool:
        with self._idle:
            if self.draining:
                return False
            self._in_flight += 1
            return True

    def end_request(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def drain(self, timeout: float = 30.0) -> bool:
        """Stops accepting, waits up to ``timeout`` s for in-flight requests; True when all finished."""
        with self._idle:
            self.draining = True
        if self._serving.is_set():
            self.shutdown()
        with self._idle:
            finished = self._idle.wait_for(lambda: self._in_flight == 0, timeout)
        self.server_close()
        return finished


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can reuse connections
    server_version = "zoo-serving"
    timeout = 60  # seconds an idle or stalled connection may hold a thread
    # Headers and body go out in two writes; with Nagle's algorithm the body waits for the client's
    # delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802  (BaseHTTPRequestHandler's naming)
        self._respond()

    def do_POST(self) -> None:  # noqa: N802
        self._respond()

    def _respond(self) -> None:
        started = time.perf_counter()
        if not self.server.begin_request():
            self.close_connection = True
            self._send(Reply(http.HTTPStatus.SERVICE_UNAVAILABLE, b'{"error": "the server is shutting down"}'))
            return
        body_length = 0
        try:
            try:
                body = self._read_body()
                body_length = len(body)
                path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
                reply = self.server.api.respond(self.command, path, body)
            except ServingError as error:
                reply = Reply(error.http_status, json.dumps({"error": error.message}).encode())
            except Exception as error:  # a bug, not the client's fault: log it, keep serving
                logger.exception("%s %s failed", self.command, self.path)
                reply = Reply(http.HTTPStatus.INTERNAL_SERVER_ERROR,
                              json.dumps({"error": f"internal error: {error}"}).encode())
            self._send(reply)
        finally:
            self.server.end_request()
        self._record(reply, time.perf_counter() - started, body_length)

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
        if length > self.server.max_body_bytes:
            self.close_connection = True  # the body is not read, so the connection cannot be reused
            raise PayloadTooLarge(f"request body of {length} bytes exceeds the limit of {self.server.max_body_bytes}")
        try:
            return self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            raise InvalidArgument(f"timed out reading the {length}-byte request body") from None

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)

    def _record(self, reply: Reply, seconds: float, body_length: int) -> None:
        if reply.model:  # requests for unknown paths have no model to count them under
            self.server.api.metrics.observe_request(reply.model, reply.version, reply.api, "rest",
                                                    str(int(reply.status)), seconds, reply.status >= 400)
        if access_logger.isEnabledFor(logging.INFO):
            access_logger.info(json.dumps({
                "protocol": "rest", "client": self.client_address[0], "method": self.command, "path": self.path,
                "model": reply.model, "version": reply.version, "api": reply.api, "status": int(reply.status),
                "request_bytes": body_length, "response_bytes": len(reply.body),
                "latency_ms": round(seconds * 1000, 3),
            }))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's signature)
        logger.debug("%s %s", self.address_string(), format % args)
