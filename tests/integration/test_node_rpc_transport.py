"""The daemons' keep-alive transport against a real HTTP server: one connection per thread kept open, a connection
the server dropped while idle opened again without the caller noticing, and failures raised as the `requests`
exceptions that web3 retries and the node treats as transient. (The calls that fail use a method web3 does not
retry, so each fails at once.)"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from fixtures_http import local_http_server

from opml.node.rpc import KeepAlivePoster, node_web3


class StubNode(http.server.BaseHTTPRequestHandler):
    """Answers every JSON-RPC call with block number 0x2a; `mode` says how it misbehaves."""

    protocol_version = "HTTP/1.1"  # keep-alive unless told otherwise
    # "drop_after_reply": closes the connection after each reply without saying so; "chunked": sends the body in
    # chunks; "until_close": sends it without a length and closes; "says_close": answers `Connection: close`
    mode = "normal"
    connections = 0
    calls = 0

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def do_POST(self) -> None:  # noqa: N802 — the http.server naming
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls += 1
        if self.mode == "error_500":
            self.send_error(500)
            return
        if self.mode == "slow":
            threading.Event().wait(1.0)
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x2a"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (body[:7], body[7:]):
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Trailer: 1\r\n\r\n")
            return
        if self.mode != "until_close":
            self.send_header("Content-Length", str(len(body)))
        if self.mode == "says_close":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        if self.mode in ("drop_after_reply", "until_close", "says_close"):
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def stub_node(mode: str = "normal") -> Iterator[tuple[str, type[StubNode]]]:
    handler = type("Handler", (StubNode,), {"mode": mode, "connections": 0, "calls": 0})
    with local_http_server(handler) as url:
        yield url, handler


def _poster(w3) -> KeepAlivePoster:  # type: ignore[no-untyped-def]
    return w3.provider._request_session_manager


def test_calls_from_one_thread_share_one_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    with stub_node() as (url, handler):
        w3 = node_web3(url)
        assert [w3.eth.block_number for _ in range(20)] == [42] * 20
        assert handler.calls == 20 and handler.connections == 1 and _poster(w3).connections_opened == 1
        other = threading.Thread(target=lambda: w3.eth.block_number)
        other.start()
        other.join()
        assert handler.connections == 2  # a thread has its own connection: no lock around a call


def test_a_connection_dropped_while_idle_is_opened_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    with stub_node("drop_after_reply") as (url, handler):
        w3 = node_web3(url)
        assert [w3.eth.block_number for _ in range(5)] == [42] * 5
        assert handler.calls == 5 and handler.connections == 5  # every call after the first found it closed


@pytest.mark.parametrize(("mode", "connections"), [("chunked", 1), ("until_close", 3), ("says_close", 3)])
def test_every_way_of_ending_a_body_is_read(mode: str, connections: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    with stub_node(mode) as (url, handler):
        w3 = node_web3(url)
        assert [w3.eth.block_number for _ in range(3)] == [42] * 3
        assert handler.connections == connections == _poster(w3).connections_opened


def test_failures_are_raised_as_requests_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    with stub_node("error_500") as (url, _):
        with pytest.raises(requests.exceptions.HTTPError, match="500"):
            node_web3(url).provider.make_request("web3_clientVersion", [])
    with stub_node("slow") as (url, _):
        with pytest.raises(requests.exceptions.Timeout):
            node_web3(url, timeout=0.2).provider.make_request("web3_clientVersion", [])
    with stub_node() as (url, _):
        pass  # the server is gone: nothing listens on its port any more
    with pytest.raises(requests.exceptions.ConnectionError):
        node_web3(url).provider.make_request("web3_clientVersion", [])


def test_an_endpoint_behind_a_proxy_goes_through_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    with stub_node() as (url, handler):
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")  # nothing listens there
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.delenv("no_proxy", raising=False)
        w3 = node_web3(url)
        with pytest.raises(requests.exceptions.ConnectionError, match="(?i)proxy"):
            w3.provider.make_request("web3_clientVersion", [])
        assert handler.calls == 0 and _poster(w3).connections_opened == 0
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert node_web3(url).eth.block_number == 42  # bypassed: direct again
