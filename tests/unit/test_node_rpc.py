"""The daemons' RPC client: the environment is read once per endpoint, the unused middleware is gone."""

from __future__ import annotations

import pytest

from opml.node.rpc import UNUSED_MIDDLEWARE, EnvironmentOnceSession, node_web3


def test_the_environment_is_read_once_per_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    session = EnvironmentOnceSession()
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    first = session.merge_environment_settings("http://rpc.invalid:8545", {}, None, None, None)
    assert first["proxies"].get("http") == "http://proxy.invalid:3128"
    monkeypatch.setenv("HTTP_PROXY", "http://other.invalid:1")
    assert session.merge_environment_settings("http://rpc.invalid:8545", {}, None, None, None) == first
    other = session.merge_environment_settings("http://rpc2.invalid:8545", {}, None, None, None)
    assert other["proxies"].get("http") == "http://other.invalid:1"  # another endpoint: read now


def test_the_node_client_has_no_ens_or_validation_middleware() -> None:
    names = [name for _, name in node_web3("http://127.0.0.1:1").middleware_onion.middleware]
    assert names and not set(UNUSED_MIDDLEWARE) & set(names)
