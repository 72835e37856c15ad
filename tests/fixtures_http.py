"""A local HTTP server in a thread, for tests of the code that talks HTTP (model file fetching, the RPC transport)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def local_http_server(handler: Callable[..., Any]) -> Iterator[str]:
    """Serve `handler` (a request handler class or factory) on a free loopback port; yields the base URL and
    stops the server on exit."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
