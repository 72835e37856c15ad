"""The daemons' JSON-RPC client: web3 over one HTTP session that reads the environment (proxies, CA bundle) once
per endpoint, without the middleware a node does not use.

A node makes thousands of calls a minute under load; per call, `requests` re-read every proxy variable of the
environment and web3's ENS and validation middleware re-walked the arguments (the ENS one resolves names, which
no node argument is; the validation one re-checks the chain id, which the node checks at start and after every
chain change, and every transaction it signs carries). eth_chainId is asked once; nothing else is cached: web3's
default cacheable set holds transaction and block lookups, whose answers a reorganization or a revert changes.
"""

from __future__ import annotations

from typing import Any

import requests
from web3 import Web3
from web3.types import RPCEndpoint

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


def node_web3(rpc_url: str, timeout: float = 30) -> Web3:
    """The Web3 client a daemon talks to its chain with."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, session=EnvironmentOnceSession(),
                                cache_allowed_requests=True, cacheable_requests={RPCEndpoint("eth_chainId")}))
    for name in UNUSED_MIDDLEWARE:
        w3.middleware_onion.remove(name)
    return w3
