"""Shared pytest fixtures. Each area keeps its fixtures in its own module, re-exported here."""

import pytest

from fixtures_chain import anvil, contracts_built, isolated_chain, mips, w3  # noqa: F401
from fixtures_game import toy_stack, toy_stack3  # noqa: F401
from fixtures_node import net  # noqa: F401


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "net(kind=NodeNet, **settings): the node network the `net` fixture starts")
