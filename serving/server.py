"""Entry point: ``python -m serving.server --model_name NAME --model_base_path DIR --rest_api_port PORT``.

The flag names are ``tensorflow_model_server``'s, so scripts written for TF Serving can switch to
this server (and back) unchanged. ``start_server`` runs the same server in a background thread
for tests and notebooks.
"""
import argparse
import dataclasses
import logging
import signal
import sys
import threading

from serving.errors import ModelLoadError
from serving.model_manager import ModelManager
from serving.rest import RestApi, RestServer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_REST_API_PORT = 8501  # TF Serving's conventional REST port

logger = logging.getLogger(__name__)


def build_arg_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Adds the server's flags to ``parser`` (e.g. a ``zoo serve`` subcommand) or to a new parser."""
    if parser is None:
        parser = argparse.ArgumentParser(
            prog="python -m serving.server", description="Serve a SavedModel over TF Serving's REST API."
        )
    parser.add_argument("--model_name", default="default", help="name clients use in /v1/models/NAME")
    parser.add_argument(
        "--model_base_path", required=True, help="directory holding <version>/saved_model.pb subdirectories"
    )
    parser.add_argument(
        "--rest_api_port", type=int, default=DEFAULT_REST_API_PORT, help="HTTP port; 0 picks a free one"
    )
    parser.add_argument("--rest_api_host", default=DEFAULT_HOST, help="address to bind (default: loopback only)")
    return parser


@dataclasses.dataclass
class ServerHandle:
    """A running server: where it listens, which version it serves by default, and how to stop it."""

    model_name: str
    version: int
    http_server: RestServer
    thread: threading.Thread

    @property
    def host(self) -> str:
        return self.http_server.server_address[0]

    @property
    def port(self) -> int:
        return self.http_server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stops accepting requests, closes the socket and waits for the serving thread."""
        self.http_server.shutdown()
        self.http_server.server_close()
        self.thread.join()

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_server(
    model_name: str, model_base_path: str, port: int = 0, host: str = DEFAULT_HOST
) -> ServerHandle:
    """Loads every version under ``model_base_path`` and serves them in a background thread.

    Raises ``ModelLoadError`` when no version can be loaded and ``OSError`` when the address is taken.
    """
    manager = ModelManager()
    model = manager.load_model(model_name, model_base_path)
    http_server = RestServer((host, port), RestApi(manager))
    thread = threading.Thread(target=http_server.serve_forever, name=f"rest-{model_name}", daemon=True)
    thread.start()
    return ServerHandle(model_name, model.latest.version, http_server, thread)


def serve(args: argparse.Namespace) -> int:
    """Serves until SIGTERM or SIGINT; returns the process exit status."""
    try:
        handle = start_server(args.model_name, args.model_base_path, args.rest_api_port, args.rest_api_host)
    except (ModelLoadError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stop_requested = threading.Event()
    previous_handlers = {
        signum: signal.signal(signum, lambda *_: stop_requested.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        print(f"serving {handle.model_name} version {handle.version} at {handle.url}", flush=True)
        stop_requested.wait()
        logger.info("shutting down")
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
