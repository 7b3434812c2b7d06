"""Entry point: ``python -m serving.server`` (also ``zoo serve``) with ``tensorflow_model_server``'s flags.

    --port                            gRPC port (default 8500; 0 picks a free one)
    --rest_api_port                   REST port (default 8501; 0 picks a free one)
    --model_name / --model_base_path  one model, its latest version
    --model_config_file               a models.config (several models, version policies, labels)
    --enable_batching / --batching_parameters_file
    --file_system_poll_wait_seconds   how often base paths are polled for new and retired versions

so command lines carry over to TF Serving and back. Additions of this server: ``--rest_api_host`` and
``--grpc_host`` (default 127.0.0.1, loopback only) and ``--max_request_bytes``. ``start_server``
runs the same server in background threads for tests, benchmarks and notebooks.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
from typing import Sequence

import grpc

from serving.config import BatchingParameters, ModelSpec, read_batching_parameters, read_models_config
from serving.errors import ModelLoadError
from serving.grpc_api import start_grpc_server
from serving.metrics import Metrics
from serving.model_manager import ModelManager
from serving.rest import DEFAULT_MAX_BODY_BYTES, RestApi, RestServer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_GRPC_PORT = 8500  # TF Serving's conventional ports
DEFAULT_REST_API_PORT = 8501
DRAIN_SECONDS = 30.0

logger = logging.getLogger(__name__)


def build_arg_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Adds the server's flags to ``parser`` (e.g. a ``zoo serve`` subcommand) or to a new parser."""
    if parser is None:
        parser = argparse.ArgumentParser(
            prog="python -m serving.server", description="Serve SavedModels over TF Serving's REST and gRPC APIs."
        )
    parser.add_argument("--port", type=int, default=DEFAULT_GRPC_PORT, help="gRPC port; 0 picks a free one")
    parser.add_argument("--rest_api_port", type=int, default=DEFAULT_REST_API_PORT,
                        help="HTTP port; 0 picks a free one")
    parser.add_argument("--model_name", default="default", help="name clients use in /v1/models/NAME")
    parser.add_argument("--model_base_path", help="directory holding <version>/saved_model.pb subdirectories")
    parser.add_argument("--model_config_file", help="a text-format ModelServerConfig (see `zoo export-config`)")
    parser.add_argument("--enable_batching", action="store_true", help="batch concurrent requests server-side")
    parser.add_argument("--batching_parameters_file", help="a text-format BatchingParameters file")
    parser.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                        help="seconds between polls for new versions; 0 polls once at start-up")
    parser.add_argument("--rest_api_host", default=DEFAULT_HOST, help="address to bind (default: loopback only)")
    parser.add_argument("--grpc_host", default=DEFAULT_HOST, help="gRPC address to bind (default: loopback only)")
    parser.add_argument("--max_request_bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                        help="largest REST body or gRPC message accepted")
    return parser


def model_specs(args: argparse.Namespace) -> list[ModelSpec]:
    """The models the flags ask for: a config file, or one name and base path (exactly one of them)."""
    if bool(args.model_config_file) == bool(args.model_base_path):
        raise ModelLoadError("give exactly one of --model_config_file and --model_base_path")
    if args.model_config_file:
        return read_models_config(args.model_config_file)
    return [ModelSpec(args.model_name, args.model_base_path)]


@dataclasses.dataclass
class ServerHandle:
    """A running server: where it listens, what it serves, and how to stop it."""

    manager: ModelManager
    http_server: RestServer
    grpc_server: grpc.Server | None
    grpc_port: int
    threads: list[threading.Thread]

    @property
    def host(self) -> str:
        return self.http_server.server_address[0]

    @property
    def port(self) -> int:
        return self.http_server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def model_name(self) -> str:
        return next(iter(self.manager.models))

    @property
    def version(self) -> int:
        """The latest version of the first model (what a request without a version gets)."""
        return self.manager.get(self.model_name).version

    def stop(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Stops accepting requests, lets in-flight ones finish (up to ``drain_seconds``), then unloads."""
        if not self.http_server.drain(drain_seconds):
            logger.warning("requests still running after %.0f s; stopping anyway", drain_seconds)
        if self.grpc_server is not None:
            self.grpc_server.stop(drain_seconds).wait()
        self.manager.stop()
        for thread in self.threads:
            thread.join()

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_server(
    model_name: str | None = None, model_base_path: str | None = None, port: int = 0, host: str = DEFAULT_HOST,
    *, specs: Sequence[ModelSpec] | None = None, grpc_port: int | None = 0, batching: BatchingParameters | None = None,
    poll_seconds: float = 0.0, max_request_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> ServerHandle:
    """Loads the models (``specs``, or ``model_name`` at ``model_base_path``) and serves them.

    REST listens on ``port``, gRPC on ``grpc_port`` (None: no gRPC); 0 picks a free port. Raises
    ``ModelLoadError`` when a model has no version that loads and ``OSError`` when an address is taken.
    """
    specs = list(specs) if specs is not None else [ModelSpec(model_name, model_base_path)]
    metrics = Metrics()
    manager = ModelManager(specs, batching, on_batch=metrics.observe_batch)
    manager.load()
    http_server = RestServer((host, port), RestApi(manager, metrics), max_request_bytes)
    grpc_server, bound_grpc_port = None, 0
    if grpc_port is not None:
        try:
            grpc_server, bound_grpc_port = start_grpc_server(manager, metrics, f"{host}:{grpc_port}", max_request_bytes)
        except (OSError, RuntimeError) as error:  # grpc raises RuntimeError when the port is taken
            http_server.server_close()
            manager.stop()
            raise OSError(f"cannot serve gRPC on {host}:{grpc_port}: {error}") from error
    thread = threading.Thread(target=http_server.serve_forever, name="rest", daemon=True)
    thread.start()
    manager.start_polling(poll_seconds)
    return ServerHandle(manager, http_server, grpc_server, bound_grpc_port, [thread])


def serve(args: argparse.Namespace) -> int:
    """Serves until SIGTERM or SIGINT, then drains in-flight requests; returns the process exit status."""
    if args.rest_api_host != args.grpc_host:
        print("error: --rest_api_host and --grpc_host must be the same address", file=sys.stderr)
        return 1
    try:
        batching = read_batching_parameters(args.batching_parameters_file) if args.enable_batching else None
        handle = start_server(
            specs=model_specs(args), port=args.rest_api_port, host=args.rest_api_host, grpc_port=args.port,
            batching=batching, poll_seconds=args.file_system_poll_wait_seconds,
            max_request_bytes=args.max_request_bytes,
        )
    except (ModelLoadError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stop_requested = threading.Event()
    previous_handlers = {
        signum: signal.signal(signum, lambda *_: stop_requested.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        for name, model in handle.manager.models.items():
            print(f"serving {name} version {model.get().version} at {handle.url}", flush=True)
        print(f"gRPC at {handle.grpc_target}", flush=True)
        stop_requested.wait()
        logger.info("shutting down: draining in-flight requests")
    finally:
        handle.stop()
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(build_arg_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
