"""One kept-alive HTTP/1.1 connection that POSTs a body and reads the answer: the little of HTTP a JSON-RPC node
speaks (a status line, headers, a body sized by Content-Length, sent chunked, or ended by the server closing).
`http.client` costs ten times the CPU per exchange (it parses headers with the e-mail parser), and a node makes
thousands of exchanges a minute.

    connection = PostConnection("127.0.0.1", 8545, timeout=30)
    status, reason, body = connection.post("/", b'{"jsonrpc": "2.0", ...}', {"Content-Type": "application/json"})

Errors are the socket's (`OSError`, `TimeoutError`) or `StaleConnection` (the server had closed the connection
before answering: nothing was read) and `BadResponse` (an answer that is no HTTP); after any of them the
connection is closed and unusable.
"""

from __future__ import annotations

import socket


class StaleConnection(ConnectionError):
    """The server closed the connection without answering (it was idle too long, or restarted)."""


class BadResponse(ConnectionError):
    """The answer is not HTTP/1.x as this client reads it."""


MAX_LINE = 65_536


class PostConnection:
    """A TCP connection to `host:port` that POSTs one request at a time (not thread-safe)."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = f"{host}:{port}"
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = self._sock.makefile("rb")
        self.closed = False

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """(status, reason, body) of one POST. The connection stays open unless the answer says it closes."""
        try:
            return self._exchange(path, body, headers)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.closed = True
        self._reader.close()
        self._sock.close()

    def _exchange(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in ("host",
                                                                                                "content-length")]
        try:
            self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise StaleConnection(str(exc)) from exc
        try:
            status_line = self._reader.readline(MAX_LINE)
        except ConnectionResetError as exc:
            raise StaleConnection(str(exc)) from exc
        if not status_line:
            raise StaleConnection("closed before an answer")
        version, _, rest = status_line.decode("latin-1").rstrip("\r\n").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise BadResponse(f"not an HTTP status line: {status_line[:80]!r}")
        fields = self._headers()
        answer = self._body(fields)
        if fields.get("connection", "").lower() == "close" or version == "HTTP/1.0" and \
                fields.get("connection", "").lower() != "keep-alive":
            self.close()
        return int(code), reason, answer

    def _headers(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        while True:
            line = self._reader.readline(MAX_LINE)
            if line in (b"\r\n", b"\n"):
                return fields
            if not line:
                raise BadResponse("closed inside the headers")
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                raise BadResponse(f"not a header line: {line[:80]!r}")
            fields[name.strip().lower()] = value.strip()

    def _body(self, fields: dict[str, str]) -> bytes:
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return self._chunked()
        if "content-length" in fields:
            return self._exactly(int(fields["content-length"]))
        body = self._reader.read()  # no length: the body ends where the server closes
        self.close()
        return body

    def _chunked(self) -> bytes:
        parts = []
        while True:
            size_line = self._reader.readline(MAX_LINE)
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BadResponse(f"not a chunk size: {size_line[:80]!r}") from None
            if size == 0:
                self._headers()  # trailers, up to the blank line
                return b"".join(parts)
            parts.append(self._exactly(size))
            self._exactly(2)  # the CRLF after the chunk

    def _exactly(self, count: int) -> bytes:
        data = self._reader.read(count)
        if len(data) != count:
            raise BadResponse(f"closed after {len(data)} of {count} bytes")
        return data
