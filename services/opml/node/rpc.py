"""The daemons' JSON-RPC client: web3 over keep-alive HTTP connections (one per thread, `http_post`), without the
middleware a node does not use.

A node makes thousands of calls a minute under load. Per call, `requests` cost about six times the CPU of the
call itself (it re-reads every proxy variable of the environment, builds a prepared request, a response object
and its headers), so a plain `http://` endpoint that no proxy applies to is posted to on a connection each thread
keeps open (`http_post.PostConnection`); an endpoint behind a proxy, or `https://`, goes through `requests` as
before (with the environment read once per endpoint). Failures are raised as the `requests` exceptions web3's provider
retries and the node's callers catch (`ConnectionError`, `Timeout`, `HTTPError`).

web3's ENS and validation middleware re-walked the arguments of every call (the ENS one resolves names, which no
node argument is; the validation one re-checks the chain id, which the node checks at start and after every chain
change, and every transaction it signs carries). eth_chainId is asked once; nothing else is cached: web3's
default cacheable set holds transaction and block lookups, whose answers a reorganization or a revert changes.
"""

from __future__ import annotations

import threading
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import requests
from web3 import Web3
from web3._utils.http_session_manager import HTTPSessionManager
from web3.types import RPCEndpoint

from .http_post import PostConnection, StaleConnection

UNUSED_MIDDLEWARE = ("ens_name_to_address", "validation")


class EnvironmentOnceSession(requests.Session):
    """A requests session whose environment settings for a request (proxies, CA bundle: read from environment
    variables on each call by `requests`) are worked out once per distinct set of arguments."""

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple, dict[str, Any]] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        key = (url, tuple(sorted((proxies or {}).items())), stream, verify, cert)
        if key not in self._settings:
            self._settings[key] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        return dict(self._settings[key])


def direct_http(url: str) -> bool:
    """Whether `url` is plain `http://` with no proxy of the environment applying to it."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    proxies = urllib.request.getproxies()
    return "http" not in proxies or bool(urllib.request.proxy_bypass(parts.hostname))


class KeepAlivePoster(HTTPSessionManager):
    """web3's HTTP session manager, posting to a direct `http://` endpoint over one kept-alive connection per
    thread. A connection the server closed while idle is opened again and the request sent once
    more (nothing was answered on it); any other failure drops the connection and raises as `requests` would."""

    def __init__(self, session: requests.Session) -> None:
        super().__init__(explicit_session=session)
        self._local = threading.local()
        self._direct: dict[str, bool] = {}
        self.connections_opened = 0  # for tests and diagnostics

    def make_post_request(self, endpoint_uri: Any, data: bytes | dict[str, Any], **kwargs: Any) -> bytes:
        url = str(endpoint_uri)
        if url not in self._direct:
            self._direct[url] = direct_http(url)
        if not self._direct[url] or not isinstance(data, bytes):
            return super().make_post_request(endpoint_uri, data, **kwargs)
        headers = kwargs.get("headers") or {"Content-Type": "application/json"}
        timeout = kwargs.get("timeout") or 30
        try:
            status, reason, body = self._exchange(url, data, headers, timeout)
        except TimeoutError as exc:
            self._drop()
            raise requests.exceptions.Timeout(f"{url}: no reply in {timeout} s") from exc
        except OSError as exc:
            self._drop()
            raise requests.exceptions.ConnectionError(f"{url}: {exc!r}") from exc
        if status >= 400:
            raise requests.exceptions.HTTPError(f"{status} {reason} for url: {url}")
        return body

    def _exchange(self, url: str, data: bytes, headers: dict[str, str], timeout: float) -> tuple[int, str, bytes]:
        """(status, reason, body) of one POST on this thread's connection, opened again once if it was stale."""
        path = urlsplit(url).path or "/"
        connection, reused = self._connection(url, timeout)
        try:
            return connection.post(path, data, headers)
        except StaleConnection:
            if not reused:
                raise
            connection, _ = self._connection(url, timeout)
            return connection.post(path, data, headers)

    def _connection(self, url: str, timeout: float) -> tuple[PostConnection, bool]:
        """This thread's connection to `url` and whether it was used before."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and not connection.closed and self._local.url == url:
            return connection, True
        self._drop()
        parts = urlsplit(url)
        connection = PostConnection(parts.hostname or "", parts.port or 80, timeout)
        self._local.connection, self._local.url = connection, url
        self.connections_opened += 1
        return connection, False

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
        self._local.connection = None


def node_web3(rpc_url: str, timeout: float = 30) -> Web3:
    """The Web3 client a daemon talks to its chain with."""
    provider = Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, cache_allowed_requests=True,
                                 cacheable_requests={RPCEndpoint("eth_chainId")})
    provider._request_session_manager = KeepAlivePoster(EnvironmentOnceSession())  # web3 has no public hook
    w3 = Web3(provider)
    for name in UNUSED_MIDDLEWARE:
        w3.middleware_onion.remove(name)
    return w3
